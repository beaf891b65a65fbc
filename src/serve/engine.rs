//! Raw bars in, predictions out: incremental features → the checkpoint's feature list and scaler → predictor.
//!
//! What the checkpoint says about its inputs (metadata written by the training pipeline):
//! - `tickgrad.features`: JSON array of the feature column names, in model-input order;
//! - `tickgrad.scaler`: [`Scaler::to_json`]; its `names` must be that list (or, without `tickgrad.features`, are it);
//! - `tickgrad.regime`: optional fitted [`RegimeThresholds`] JSON for the `regime` column;
//! - `tickgrad.window`: optional training window, the default for `--window`.
//! - `tickgrad.drift`: optional [`DriftReference`] of the training rows, the monitor's PSI reference; its features
//!   must be the model-input list.
//!
//! A checkpoint without a feature list and scaler is served with every `model_feature_names` column, unscaled,
//! and a warning says so: its answers are only meaningful if it was trained that way. Warm-up NaN become 0 after
//! scaling (`Scaler::transform_fill0`'s rule, the training centre).

use super::predictor::{Prediction, StreamPredictor};
use crate::data::incremental::{Bar, BarReject, FeatureStream};
use crate::data::{model_feature_names, DriftReference, FeatureConfig, FeatureFrame, RegimeThresholds, Scaler};
use crate::device::Device;
use crate::models::checkpoint::{self, Checkpoint};
use crate::models::Model;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub const FEATURES_KEY: &str = "tickgrad.features";
pub const SCALER_KEY: &str = "tickgrad.scaler";
pub const REGIME_KEY: &str = "tickgrad.regime";
pub const WINDOW_KEY: &str = "tickgrad.window";
pub const DRIFT_KEY: &str = "tickgrad.drift";

/// Which feature columns a model reads, and how they are scaled.
#[derive(Debug, Clone)]
pub struct ModelInputs {
    pub names: Vec<String>,
    /// Index of each name in the feature stream's row.
    pub columns: Vec<usize>,
    pub scaler: Option<Scaler>,
}

impl ModelInputs {
    /// Resolve the checkpoint's inputs against the stream's columns; warnings (missing metadata) are returned for
    /// the caller to print.
    pub fn from_metadata(
        meta: &BTreeMap<String, String>,
        available: &[String],
        n_features: usize,
    ) -> Result<(ModelInputs, Vec<String>)> {
        let mut warnings = Vec::new();
        let listed: Option<Vec<String>> = meta
            .get(FEATURES_KEY)
            .map(|t| {
                serde_json::from_str(t).map_err(|e| {
                    Error::parse(format!("checkpoint metadata {FEATURES_KEY}"), format!("expected a JSON array: {e}"))
                })
            })
            .transpose()?;
        let scaler = meta.get(SCALER_KEY).map(|t| Scaler::from_json(t)).transpose()?;
        let names = match (listed, &scaler) {
            (Some(l), Some(s)) if l != s.names => {
                return Err(Error::parse(
                    format!("checkpoint metadata {SCALER_KEY}"),
                    format!("scaler columns {:?} differ from {FEATURES_KEY} {:?}", s.names, l),
                ))
            }
            (Some(l), _) => l,
            (None, Some(s)) => s.names.clone(),
            (None, None) => {
                let frame = FeatureFrame { names: available.to_vec(), ..FeatureFrame::default() };
                warnings.push(format!(
                    "checkpoint has no `{FEATURES_KEY}` or `{SCALER_KEY}` metadata: feeding every model feature \
                     column unscaled"
                ));
                model_feature_names(&frame)
            }
        };
        if scaler.is_none() && !warnings.iter().any(|w| w.contains(SCALER_KEY)) {
            warnings.push(format!("checkpoint has no `{SCALER_KEY}` metadata: feeding features unscaled"));
        }
        if names.len() != n_features {
            return Err(Error::Invalid(format!(
                "model inputs: the model takes {n_features} features, the feature list has {}: {}",
                names.len(),
                names.join(", ")
            )));
        }
        let columns = names
            .iter()
            .map(|n| {
                available.iter().position(|a| a == n).ok_or_else(|| {
                    Error::Invalid(format!(
                        "the checkpoint reads feature `{n}`, which these bars cannot give (columns: {available:?})"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((ModelInputs { names, columns, scaler }, warnings))
    }

    /// The model-input value `j` of a full feature row as the model sees it, but NaN where it is missing (the
    /// model gets 0 there): the monitor's view, which skips missing values.
    pub fn scaled_or_nan(&self, row: &[f64], j: usize) -> f64 {
        let x = row[self.columns[j]];
        match (&self.scaler, x.is_finite()) {
            (_, false) => f64::NAN,
            (Some(s), true) => ((x - s.center[j]) / s.scale[j]) as f32 as f64,
            (None, true) => x as f32 as f64,
        }
    }

    /// Pick and scale one feature row into `out` [names.len()]; NaN → 0.
    pub fn transform(&self, row: &[f64], out: &mut [f32]) {
        for (j, (&c, o)) in self.columns.iter().zip(out.iter_mut()).enumerate() {
            let x = row[c];
            *o = match (&self.scaler, x.is_finite()) {
                (_, false) => 0.0,
                (Some(s), true) => ((x - s.center[j]) / s.scale[j]) as f32,
                (None, true) => x as f32,
            };
        }
    }
}

/// The feature config a checkpoint was trained with: the defaults plus fitted regime thresholds when stored.
pub fn feature_config(meta: &BTreeMap<String, String>) -> Result<FeatureConfig> {
    let mut cfg = FeatureConfig::default();
    if let Some(t) = meta.get(REGIME_KEY) {
        cfg.regime = serde_json::from_str::<RegimeThresholds>(t)
            .map_err(|e| Error::parse(format!("checkpoint metadata {REGIME_KEY}"), e.to_string()))?;
    }
    Ok(cfg)
}

/// The training rows' input distribution stored in the checkpoint, if any, checked against the model inputs.
pub fn drift_reference(meta: &BTreeMap<String, String>, inputs: &[String]) -> Result<Option<DriftReference>> {
    let Some(text) = meta.get(DRIFT_KEY) else { return Ok(None) };
    let at = format!("checkpoint metadata {DRIFT_KEY}");
    let d = DriftReference::from_json(text, &at)?;
    d.check_names(inputs, &at)?;
    Ok(Some(d))
}

/// The training window stored in the checkpoint, if any.
pub fn stored_window(meta: &BTreeMap<String, String>) -> Result<Option<usize>> {
    meta.get(WINDOW_KEY)
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .map_err(|e| Error::parse(format!("checkpoint metadata {WINDOW_KEY}"), e.to_string()))
        })
        .transpose()
}

/// Bars → features → model inputs → predictor. Keeps the last W full feature rows (unscaled), so a swap to a
/// checkpoint with another scaler or column list re-makes the predictor's history exactly.
pub struct Engine {
    features: FeatureStream,
    inputs: ModelInputs,
    drift: Option<DriftReference>,
    predictor: StreamPredictor,
    raw: Vec<f64>,
    raw_head: usize,
    raw_filled: usize,
    scaled: Vec<f32>,
}

impl Engine {
    /// `window` overrides the checkpoint's stored window and the model's default.
    pub fn new(
        ck: Checkpoint,
        has_trades: bool,
        has_taker: bool,
        window: Option<usize>,
    ) -> Result<(Engine, Vec<String>)> {
        Engine::with_model(Arc::new(ck.model), &ck.metadata, has_trades, has_taker, window)
    }

    /// [`Engine::new`] over weights already loaded and shared: many engines (one per symbol) hold one `model`,
    /// each with its own feature state, warm-up and predictor buffers, so N symbols cost one checkpoint load.
    pub fn with_model(
        model: Arc<Model>,
        metadata: &BTreeMap<String, String>,
        has_trades: bool,
        has_taker: bool,
        window: Option<usize>,
    ) -> Result<(Engine, Vec<String>)> {
        let cfg = feature_config(metadata)?;
        let features = FeatureStream::new(&cfg, has_trades, has_taker)?;
        let n_features = model.config().n_features();
        let (inputs, warnings) = ModelInputs::from_metadata(metadata, features.names(), n_features)?;
        let drift = drift_reference(metadata, &inputs.names)?;
        let w = match window {
            Some(w) => w,
            None => stored_window(metadata)?.unwrap_or_else(|| model.config().default_window()),
        };
        let predictor = StreamPredictor::new(model, w)?;
        let width = features.names().len();
        Ok((
            Engine {
                raw: vec![f64::NAN; w * width],
                raw_head: 0,
                raw_filled: 0,
                scaled: vec![0.0; n_features],
                features,
                inputs,
                drift,
                predictor,
            },
            warnings,
        ))
    }

    /// [`Engine::new`] on the checkpoint file `path`; errors in its metadata name the file.
    pub fn load(
        path: &Path,
        device: Device,
        has_trades: bool,
        has_taker: bool,
        window: Option<usize>,
    ) -> Result<(Engine, Vec<String>)> {
        let ck = checkpoint::load(path, device)?;
        Engine::new(ck, has_trades, has_taker, window).map_err(|e| in_file(e, path))
    }

    /// See [`StreamPredictor::set_threads`].
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        self.predictor.set_threads(threads)
    }

    pub fn predictor(&self) -> &StreamPredictor {
        &self.predictor
    }

    pub fn inputs(&self) -> &ModelInputs {
        &self.inputs
    }

    /// The training rows' input distribution, when the checkpoint stores it.
    pub fn drift(&self) -> Option<&DriftReference> {
        self.drift.as_ref()
    }

    pub fn feature_names(&self) -> &[String] {
        self.features.names()
    }

    /// The unscaled values of the model-input columns on the last pushed bar (NaN before the first).
    pub fn last_inputs_raw(&self) -> impl Iterator<Item = f64> + '_ {
        let width = self.features.names().len();
        let w = self.predictor.window();
        let slot = (self.raw_head + w - 1) % w;
        let row = &self.raw[slot * width..(slot + 1) * width];
        self.inputs.columns.iter().map(move |&c| row[c])
    }

    /// The unscaled value of feature column `name` (any column of the stream, e.g. `regime`) on the last pushed
    /// bar; `None` for an unknown name, NaN before the first bar.
    pub fn last_feature(&self, name: &str) -> Option<f64> {
        let c = self.features.names().iter().position(|n| n == name)?;
        let width = self.features.names().len();
        let w = self.predictor.window();
        let slot = (self.raw_head + w - 1) % w;
        Some(self.raw[slot * width + c])
    }

    /// The model-input values of the last pushed bar as the model sees them (scaled), NaN where missing (and
    /// before the first bar).
    pub fn last_inputs_scaled(&self) -> impl Iterator<Item = f64> + '_ {
        let width = self.features.names().len();
        let w = self.predictor.window();
        let slot = (self.raw_head + w - 1) % w;
        let row = &self.raw[slot * width..(slot + 1) * width];
        (0..self.inputs.columns.len()).map(move |j| self.inputs.scaled_or_nan(row, j))
    }

    /// Push one raw bar.
    /// Whether `bar` may be pushed next (see `FeatureStream::validate`); changes nothing.
    pub fn validate(&self, bar: &Bar) -> std::result::Result<(), (BarReject, String)> {
        self.features.validate(bar)
    }

    /// The timestamp of the last bar pushed.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.features.last_timestamp()
    }

    /// A bad bar (see `validate`) is an error and changes nothing.
    pub fn push(&mut self, bar: &Bar) -> Result<Option<Prediction<'_>>> {
        let row = self.features.push(bar)?;
        let width = row.len();
        let w = self.predictor.window();
        self.raw[self.raw_head * width..(self.raw_head + 1) * width].copy_from_slice(row);
        self.raw_head = (self.raw_head + 1) % w;
        self.raw_filled = (self.raw_filled + 1).min(w);
        self.inputs.transform(row, &mut self.scaled);
        self.predictor.push(&self.scaled)
    }

    /// Continue on `ck` (the running checkpoint loaded on another device: the CPU after a device failure) from
    /// the bar whose `push` just failed with a device error: the features, scaler and retained rows are kept and
    /// that bar is answered by the new model ([`StreamPredictor::fall_back`]).
    pub fn fall_back(&mut self, ck: Checkpoint) -> Result<Option<Prediction<'_>>> {
        let n_features = ck.model.config().n_features();
        if n_features != self.predictor.features() {
            return Err(Error::shape("the fallback checkpoint's n_features", self.predictor.features(), n_features));
        }
        self.predictor.fall_back(Arc::new(ck.model))
    }

    /// [`Engine::swap`], refused unless `ck` reads the same model inputs (names, in order) and gives answers of
    /// the same width as the running model:
    /// the check of a checkpoint reloaded while serving ([`super::reload`]), where a changed input list means
    /// the file is another model, not a new version of this one. Its scaler may differ.
    pub fn swap_same_inputs(&mut self, ck: Checkpoint) -> Result<Vec<String>> {
        let n_features = ck.model.config().n_features();
        if n_features != self.predictor.features() {
            return Err(Error::shape(
                "the new checkpoint's n_features (model inputs)",
                self.predictor.features(),
                n_features,
            ));
        }
        let (inputs, _) = ModelInputs::from_metadata(&ck.metadata, self.features.names(), n_features)?;
        if inputs.names != self.inputs.names {
            return Err(Error::Invalid(format!(
                "the new checkpoint reads features {:?}, the running one {:?}",
                inputs.names, self.inputs.names
            )));
        }
        super::reload::check_output_width(&ck, self.predictor.output_width())?;
        let mut warnings = super::reload::window_warning(&ck, self.predictor.window())?;
        warnings.extend(self.swap(ck)?);
        Ok(warnings)
    }

    /// Serve `ck` from the next bar on. Its feature config must match (same regime thresholds), since the
    /// feature state is kept; its columns and scaler may differ.
    pub fn swap(&mut self, ck: Checkpoint) -> Result<Vec<String>> {
        let cfg = feature_config(&ck.metadata)?;
        let current = self.features.config();
        if cfg != *current {
            return Err(Error::Invalid(format!(
                "swap: the new checkpoint's feature config {cfg:?} differs from the running one {current:?}"
            )));
        }
        let n_features = ck.model.config().n_features();
        let (inputs, warnings) = ModelInputs::from_metadata(&ck.metadata, self.features.names(), n_features)?;
        let drift = drift_reference(&ck.metadata, &inputs.names)?;
        let width = self.features.names().len();
        let w = self.predictor.window();
        let start = (self.raw_head + w - self.raw_filled) % w;
        let mut history = vec![0.0f32; self.raw_filled * n_features];
        for (i, out) in history.chunks_mut(n_features).enumerate() {
            let slot = (start + i) % w;
            inputs.transform(&self.raw[slot * width..(slot + 1) * width], out);
        }
        let model = Arc::new(ck.model);
        if n_features != self.predictor.features() {
            let mut p = StreamPredictor::new(model, w)?;
            p.swap_with_history(p.model().clone(), &history)?;
            self.predictor = p;
        } else {
            self.predictor.swap_with_history(model, &history)?;
        }
        self.scaled = vec![0.0; n_features];
        self.inputs = inputs;
        self.drift = drift;
        Ok(warnings)
    }
}

/// Prefix a metadata error with the checkpoint file it came from (errors that already name it are kept).
pub fn in_file(e: Error, path: &Path) -> Error {
    let file = path.display().to_string();
    match e {
        Error::Parse { location, message } if !location.starts_with(&file) => {
            Error::Parse { location: format!("{file}: {location}"), message }
        }
        Error::Invalid(m) if !m.starts_with(&file) => Error::Invalid(format!("{file}: {m}")),
        e => e,
    }
}
