//! What a trained checkpoint carries besides its weights, as safetensors metadata (string → string), so one
//! file is enough to backtest or serve the model on raw bars:
//!
//! | key | value |
//! |---|---|
//! | `tickgrad.features` | JSON list of the model-input column names, in matrix order |
//! | `tickgrad.scaler` | the scaler fitted on the training rows (`data::Scaler` JSON) |
//! | `tickgrad.regime` | the fitted regime thresholds |
//! | `tickgrad.window` | the model's input window in bars |
//! | `tickgrad.sample_window` | the window the samples and the split were laid out with (an ensemble's longest) |
//! | `tickgrad.horizon`, `tickgrad.theta` | label horizon in bars and hold band in log-return units |
//! | `tickgrad.target` | `direction`, `return` or `multitask` |
//! | `tickgrad.target_scale` | how regression targets were scaled ([`TargetScale`]) |
//! | `tickgrad.residual_std` | RMS error of the return forecast on the validation windows (regression models) |
//! | `tickgrad.train_info` | the training history (`train::TrainOutcome` JSON: losses per epoch, …) |
//! | `tickgrad.drift` | per input, deciles of the scaled training rows and their shares (`data::DriftReference`) |
//! | `tickgrad.fingerprint` | only in the final checkpoint of `train`/`run`: what a resumed run must match (`pipeline::resume`) |

use super::dataset::Preprocessing;
use super::targets::TargetScale;
use crate::data::{DriftReference, RegimeThresholds, Scaler};
use crate::train::{Objective, TrainOutcome};
use crate::{Error, Result};
use std::collections::BTreeMap;

pub const FEATURES: &str = "tickgrad.features";
pub const SCALER: &str = "tickgrad.scaler";
pub const REGIME: &str = "tickgrad.regime";
pub const WINDOW: &str = "tickgrad.window";
pub const SAMPLE_WINDOW: &str = "tickgrad.sample_window";
pub const HORIZON: &str = "tickgrad.horizon";
pub const THETA: &str = "tickgrad.theta";
pub const TARGET: &str = "tickgrad.target";
pub const TARGET_SCALE: &str = "tickgrad.target_scale";
pub const RESIDUAL_STD: &str = "tickgrad.residual_std";
pub const TRAIN_INFO: &str = "tickgrad.train_info";
/// The stream monitor's PSI reference. Optional: checkpoints written before it existed lack it and still load.
pub const DRIFT: &str = "tickgrad.drift";

#[derive(Debug, Clone, PartialEq)]
pub struct ModelMeta {
    /// How the dataset was built; `prep.window` is the sample layout's window.
    pub prep: Preprocessing,
    /// The model's input window, at most `prep.window`.
    pub window: usize,
    pub objective: Objective,
    pub target_scale: TargetScale,
    pub residual_std: Option<f64>,
    pub train_info: Option<TrainOutcome>,
    /// The training rows' input distribution (`None` for checkpoints that predate the key).
    pub drift: Option<DriftReference>,
}

fn json<T: serde::Serialize>(v: &T, what: &str) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Invalid(format!("serialising {what}: {e}")))
}

impl ModelMeta {
    pub fn to_map(&self) -> Result<BTreeMap<String, String>> {
        let p = &self.prep;
        let mut m = BTreeMap::new();
        m.insert(FEATURES.into(), json(&p.features, FEATURES)?);
        m.insert(SCALER.into(), p.scaler.to_json()?);
        m.insert(REGIME.into(), json(&p.regime, REGIME)?);
        m.insert(WINDOW.into(), self.window.to_string());
        m.insert(SAMPLE_WINDOW.into(), p.window.to_string());
        m.insert(HORIZON.into(), p.horizon.to_string());
        m.insert(THETA.into(), json(&p.theta, THETA)?);
        m.insert(TARGET.into(), self.objective.name().into());
        m.insert(TARGET_SCALE.into(), json(&self.target_scale, TARGET_SCALE)?);
        if let Some(r) = self.residual_std {
            m.insert(RESIDUAL_STD.into(), json(&r, RESIDUAL_STD)?);
        }
        if let Some(t) = &self.train_info {
            m.insert(TRAIN_INFO.into(), json(t, TRAIN_INFO)?);
        }
        if let Some(d) = &self.drift {
            m.insert(DRIFT.into(), d.to_json()?);
        }
        Ok(m)
    }

    /// Read the metadata of a checkpoint; `source` names the file in errors. A checkpoint written by
    /// `tickgrad train` has every key; one converted from PyTorch has none and is refused with a clear message.
    pub fn from_map(m: &BTreeMap<String, String>, source: &str) -> Result<ModelMeta> {
        let get = |key: &str| {
            m.get(key).ok_or_else(|| {
                Error::parse(
                    source,
                    format!("metadata key `{key}` is missing: backtests need a checkpoint written by `tickgrad train`"),
                )
            })
        };
        let parse = |key: &str, e: serde_json::Error| Error::parse(source, format!("metadata `{key}`: {e}"));
        let features: Vec<String> = serde_json::from_str(get(FEATURES)?).map_err(|e| parse(FEATURES, e))?;
        let scaler = Scaler::from_json(get(SCALER)?).map_err(|e| Error::parse(source, format!("{SCALER}: {e}")))?;
        let regime: RegimeThresholds = serde_json::from_str(get(REGIME)?).map_err(|e| parse(REGIME, e))?;
        let number = |key: &str| -> Result<usize> {
            get(key)?.trim().parse().map_err(|e| Error::parse(source, format!("metadata `{key}`: {e}")))
        };
        let (window, horizon) = (number(WINDOW)?, number(HORIZON)?);
        let sample_window = match m.get(SAMPLE_WINDOW) {
            Some(_) => number(SAMPLE_WINDOW)?,
            None => window,
        };
        let theta: f64 = serde_json::from_str(get(THETA)?).map_err(|e| parse(THETA, e))?;
        let objective = match get(TARGET)?.as_str() {
            "direction" => Objective::Direction,
            "return" => Objective::Return,
            "multitask" => Objective::MultiTask,
            other => {
                return Err(Error::parse(
                    source,
                    format!("metadata `{TARGET}`: unknown target {other:?}, expected direction, return or multitask"),
                ))
            }
        };
        let target_scale = serde_json::from_str(get(TARGET_SCALE)?).map_err(|e| parse(TARGET_SCALE, e))?;
        let residual_std = match m.get(RESIDUAL_STD) {
            Some(s) => Some(serde_json::from_str(s).map_err(|e| parse(RESIDUAL_STD, e))?),
            None => None,
        };
        let train_info = match m.get(TRAIN_INFO) {
            Some(s) => Some(serde_json::from_str(s).map_err(|e| parse(TRAIN_INFO, e))?),
            None => None,
        };
        let drift = match m.get(DRIFT) {
            Some(s) => {
                let at = format!("{source}: metadata `{DRIFT}`");
                let d = DriftReference::from_json(s, &at)?;
                d.check_names(&features, &at)?;
                Some(d)
            }
            None => None,
        };
        if window == 0 || horizon == 0 || sample_window < window {
            return Err(Error::parse(
                source,
                format!("metadata: expected 1 <= window <= sample_window and horizon >= 1, found window {window}, sample_window {sample_window}, horizon {horizon}"),
            ));
        }
        let prep = Preprocessing { features, scaler, regime, window: sample_window, horizon, theta };
        Ok(ModelMeta { prep, window, objective, target_scale, residual_std, train_info, drift })
    }
}
