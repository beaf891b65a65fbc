//! One network, end to end: config from the command line or a file, training on a [`Dataset`], the residual
//! spread measured on validation, and a checkpoint that carries everything a backtest needs.

use super::bundle::NetMember;
use super::curriculum::with_difficulty;
use super::dataset::Dataset;
use super::meta::ModelMeta;
use super::predict::{predict_model, residual_rms};
use super::resume::{json_identity, Begin, ResumeOptions, StateFile};
use super::targets::TargetScale;
use crate::data::DriftReference;
use crate::models::checkpoint;
use crate::models::config::KINDS;
use crate::models::{Model, ModelConfig};
use crate::train::resume::FINGERPRINT_KEY;
use crate::train::{self, Event, Objective, TrainConfig, TrainOutcome, TrainState};
use crate::{Error, Result};
use std::ops::Range;
use std::path::Path;

/// The config of a model to train. `text` is a config file's JSON (the reference class's constructor
/// arguments; `kind` may be left out when `kind` is given, and must agree when both are), `source` its name for
/// errors. `n_features` is filled from the feature set when the file leaves it out and must match it otherwise.
/// No file: the seed config of docs/MODELS.md.
pub fn resolve_config(kind: Option<&str>, text: Option<&str>, source: &str, n_features: usize) -> Result<ModelConfig> {
    let Some(text) = text else {
        let kind = config_kind(kind, None, source)?;
        return ModelConfig::seed(&kind, n_features).map_err(|e| Error::config("model", e.to_string()));
    };
    let kind = config_kind(kind, Some(text), source)?;
    let mut v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::parse(source, format!("config is not valid JSON: {e}")))?;
    let obj = v.as_object_mut().ok_or_else(|| Error::parse(source, "config must be a JSON object"))?;
    obj.remove("kind");
    match obj.get("n_features") {
        None => {
            obj.insert("n_features".into(), n_features.into());
        }
        Some(found) if found.as_u64() != Some(n_features as u64) => {
            return Err(Error::parse(
                source,
                format!("config field `n_features`: the feature set has {n_features} columns, the config says {found}"),
            ));
        }
        Some(_) => {}
    }
    ModelConfig::from_kind_value(&kind, v, source)
}

/// The model kind from `--model` and/or the config file's `kind` (they must agree), checked against the known
/// kinds; a config that is not a JSON object is an error here already.
pub fn config_kind(kind: Option<&str>, text: Option<&str>, source: &str) -> Result<String> {
    let file_kind = match text {
        None => None,
        Some(text) => {
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| Error::parse(source, format!("config is not valid JSON: {e}")))?;
            let obj = v.as_object().ok_or_else(|| Error::parse(source, "config must be a JSON object"))?;
            match obj.get("kind") {
                None => None,
                Some(serde_json::Value::String(k)) => Some(k.clone()),
                Some(other) => {
                    return Err(Error::parse(source, format!("config field `kind` must be a string, found {other}")))
                }
            }
        }
    };
    let kind = match (kind, file_kind) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::parse(source, format!("config says kind {b:?} but --model says {a:?}")));
        }
        (Some(a), _) => a.to_string(),
        (None, Some(b)) => b,
        (None, None) => {
            return Err(Error::config("model", "no model kind: give --model KIND or a config file with `kind`"))
        }
    };
    if !KINDS.contains(&kind.as_str()) {
        return Err(Error::config("model", format!("unknown model {kind:?}, expected one of {KINDS:?}")));
    }
    Ok(kind)
}

/// A trained network and its metadata (the checkpoint's contents).
pub struct TrainedModel {
    pub model: Model,
    pub meta: ModelMeta,
    /// True when a resumed run found this run's finished checkpoint and trained nothing.
    pub already_trained: bool,
}

impl TrainedModel {
    pub fn outcome(&self) -> Option<&TrainOutcome> {
        self.meta.train_info.as_ref()
    }
}

/// Train `cfg` on the dataset's train split, early-stopping on validation; windows of `window` bars (at most
/// the dataset's). With `out`, the best checkpoint so far is written there (atomically) at every improvement
/// and the final one, with the residual spread, at the end.
pub fn train_model(
    ds: &Dataset,
    cfg: &ModelConfig,
    window: usize,
    tc: &TrainConfig,
    out: Option<&Path>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainedModel> {
    train_model_resumable(ds, cfg, window, tc, out, None, on_event)
}

/// [`train_model`] that, with `out` and `resume`, also keeps a resume state beside the checkpoint after every
/// epoch and starts as `resume` says (see `pipeline::resume`): fresh, from the state, or not at all when the
/// checkpoint is a finished training of this run.
pub fn train_model_resumable(
    ds: &Dataset,
    cfg: &ModelConfig,
    window: usize,
    tc: &TrainConfig,
    out: Option<&Path>,
    resume: Option<&ResumeOptions>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainedModel> {
    train_model_where(ds, cfg, window, tc, out, resume, &|_| true, on_event)
}

/// [`train_model_resumable`] on the training and validation windows whose last bar's row passes `keep` only (a
/// per-regime member, `pipeline::regime`); the target scale and preprocessing stay those of the whole split.
#[allow(clippy::too_many_arguments)]
pub fn train_model_where(
    ds: &Dataset,
    cfg: &ModelConfig,
    window: usize,
    tc: &TrainConfig,
    out: Option<&Path>,
    resume: Option<&ResumeOptions>,
    keep: &dyn Fn(usize) -> bool,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainedModel> {
    if cfg.n_features() != ds.n_features() {
        return Err(Error::shape("config n_features (feature columns)", [ds.n_features()], [cfg.n_features()]));
    }
    let model = Model::new(cfg, tc.seed, tc.device)?;
    fit_fresh(ds, model, window, tc, out, resume, keep, on_event)
}

/// [`train_model_resumable`] from a model built by the caller (`train --init-from` copies a pretrained body
/// into a fresh model first); everything fitted on the data is fitted here as usual.
pub fn train_model_from(
    ds: &Dataset,
    model: Model,
    window: usize,
    tc: &TrainConfig,
    out: Option<&Path>,
    resume: Option<&ResumeOptions>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainedModel> {
    fit_fresh(ds, model, window, tc, out, resume, &|_| true, on_event)
}

/// Fit everything that comes from the data (objective, target scale, drift reference) around `model`, then train
/// it on the windows that pass `keep`.
#[allow(clippy::too_many_arguments)]
fn fit_fresh(
    ds: &Dataset,
    model: Model,
    window: usize,
    tc: &TrainConfig,
    out: Option<&Path>,
    resume: Option<&ResumeOptions>,
    keep: &dyn Fn(usize) -> bool,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainedModel> {
    let cfg = model.config();
    if cfg.n_features() != ds.n_features() {
        return Err(Error::shape("config n_features (feature columns)", [ds.n_features()], [cfg.n_features()]));
    }
    let objective = Objective::for_config(&cfg);
    let scale = TargetScale::fit(ds)?;
    // Difficulty is per window of the whole split, so it is filled before `keep` selects windows.
    let train_ex = scale.examples(ds, ds.split.train.clone())?;
    let train_ex = with_difficulty(ds, train_ex, ds.split.train.clone(), window, tc.curriculum.is_some())?;
    let train_ex = select(train_ex, keep);
    let val_ex = select(scale.examples(ds, ds.split.val.clone())?, keep);
    let meta = ModelMeta {
        prep: ds.prep.clone(),
        window,
        objective,
        target_scale: scale,
        residual_std: None,
        train_info: None,
        drift: Some(training_drift(ds)?),
    };
    fit(ds, model, meta, &train_ex, &val_ex, tc, out, resume, on_event)
}

/// Warm-start `member` on `ds` (built with the member's own preprocessing, so its scaler, features and target
/// scale are kept, not refitted): the same loop as `train_model`, starting from the checkpoint's weights.
pub fn finetune_model(
    ds: &Dataset,
    member: NetMember,
    tc: &TrainConfig,
    out: Option<&Path>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainedModel> {
    let NetMember { model, mut meta, .. } = member;
    if model.config().n_features() != ds.n_features() {
        return Err(Error::shape(
            "checkpoint n_features (feature columns)",
            [ds.n_features()],
            [model.config().n_features()],
        ));
    }
    let train_ex = meta.target_scale.examples(ds, ds.split.train.clone())?;
    let train_ex = with_difficulty(ds, train_ex, ds.split.train.clone(), meta.window, tc.curriculum.is_some())?;
    let val_ex = meta.target_scale.examples(ds, ds.split.val.clone())?;
    meta.residual_std = None;
    meta.train_info = None;
    // The reference follows the rows the weights were last fitted on: a fine-tuned model is judged against the
    // recent training rows, in the scaled space of its kept scaler.
    meta.drift = Some(training_drift(ds)?);
    fit(ds, model, meta, &train_ex, &val_ex, tc, out, None, on_event)
}

/// Warm-start `member` in place on the samples `train` (its own preprocessing kept), early-stopping on `val`,
/// and re-measure a regression member's residual spread on `val`: one walk-forward refit. Nothing is written.
pub fn refit_member(
    ds: &Dataset,
    member: &mut NetMember,
    train: Range<usize>,
    val: Range<usize>,
    tc: &TrainConfig,
) -> Result<TrainOutcome> {
    refit_member_where(ds, member, train, val, tc, &|_| true)
}

/// [`refit_member`] on the windows whose last bar's row passes `keep` (a per-regime member refits on its regime).
pub fn refit_member_where(
    ds: &Dataset,
    member: &mut NetMember,
    train: Range<usize>,
    val: Range<usize>,
    tc: &TrainConfig,
    keep: &dyn Fn(usize) -> bool,
) -> Result<TrainOutcome> {
    let meta = &mut member.meta;
    let train_ex = select(meta.target_scale.examples(ds, train)?, keep);
    let val_ex = select(meta.target_scale.examples(ds, val.clone())?, keep);
    let sampler = ds.sampler(meta.window)?;
    let outcome = train::train(
        &mut member.model,
        meta.objective,
        &sampler,
        &train_ex,
        &val_ex,
        tc,
        &mut |_, _| Ok(()),
        &mut |_| {},
    )?;
    if meta.objective != Objective::Direction {
        let p = predict_model(&member.model, meta, ds, val.clone(), tc.device)?;
        let forecast = p.ret.ok_or_else(|| Error::Invalid("regression member made no return forecast".into()))?;
        meta.residual_std = Some(residual_rms(&forecast, &ds.returns(val))?);
    }
    Ok(outcome)
}

/// The windows of `ex` whose last bar's row passes `keep`.
fn select(ex: train::Examples, keep: &dyn Fn(usize) -> bool) -> train::Examples {
    let mut out = train::Examples::default();
    for (i, &r) in ex.ends.iter().enumerate().filter(|(_, r)| keep(**r)) {
        out.ends.push(r);
        out.class.push(ex.class[i]);
        out.ret.push(ex.ret[i]);
        out.volatility.push(ex.volatility[i]);
        out.volume.push(ex.volume[i]);
        if let Some(&d) = ex.difficulty.get(i) {
            out.difficulty.push(d);
        }
    }
    out
}

/// The input distribution of the dataset's training rows (the rows the scaler was, or would have been, fitted
/// on), stored as the monitor's PSI reference (`tickgrad.drift`).
fn training_drift(ds: &Dataset) -> Result<DriftReference> {
    DriftReference::fit(&ds.frame, &ds.prep.scaler, ds.fit_rows.clone())
}

/// The training loop shared by fresh training and fine-tuning, plus the checkpoint writes and residual spread.
/// With `out` and `resume`, the resume state is kept beside `out` and the final checkpoint carries the run's
/// fingerprint (`pipeline::resume`).
#[allow(clippy::too_many_arguments)]
fn fit(
    ds: &Dataset,
    mut model: Model,
    mut meta: ModelMeta,
    train_ex: &train::Examples,
    val_ex: &train::Examples,
    tc: &TrainConfig,
    out: Option<&Path>,
    resume: Option<&ResumeOptions>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainedModel> {
    let objective = meta.objective;
    let sampler = ds.sampler(meta.window)?;
    let state_file = match (out, resume) {
        (Some(path), Some(opts)) => {
            let mut fp = train::resume::fingerprint(&model, objective, &sampler, train_ex, val_ex, tc)?;
            for (k, v) in &opts.identity {
                fp.insert(k, v.clone());
            }
            fp.insert("window", meta.window.to_string());
            fp.insert("preprocessing", json_identity(&meta.prep, "preprocessing")?);
            fp.insert("target_scale", json_identity(&meta.target_scale, "target scale")?);
            Some((StateFile::new(path, fp), opts))
        }
        _ => None,
    };
    let start = match &state_file {
        Some((sf, opts)) => match sf.begin(opts, &mut model, train_ex.len(), tc, on_event)? {
            Begin::Fresh => None,
            Begin::Resume(state) => Some(state),
            Begin::Finished(ck) => {
                let meta = ModelMeta::from_map(&ck.metadata, &sf.checkpoint.display().to_string())?;
                return Ok(TrainedModel { model: ck.model, meta, already_trained: true });
            }
        },
        None => None,
    };
    let mut on_best = |m: &mut Model, outcome: &TrainOutcome| -> Result<()> {
        if let Some(path) = out {
            let snapshot = ModelMeta { train_info: Some(outcome.clone()), ..meta.clone() };
            checkpoint::save(path, m, &snapshot.to_map()?)?;
        }
        Ok(())
    };
    let mut on_epoch = |state: &TrainState| match &state_file {
        Some((sf, _)) => sf.write(state),
        None => Ok(()),
    };
    let outcome = train::train_resumable(
        &mut model,
        objective,
        &sampler,
        train_ex,
        val_ex,
        tc,
        start,
        &mut on_epoch,
        &mut on_best,
        on_event,
    )?;
    meta.train_info = Some(outcome);
    if objective != Objective::Direction {
        let p = predict_model(&model, &meta, ds, ds.split.val.clone(), tc.device)?;
        let forecast = p.ret.ok_or_else(|| Error::Invalid("regression member made no return forecast".into()))?;
        meta.residual_std = Some(residual_rms(&forecast, &ds.returns(ds.split.val.clone()))?);
    }
    if let Some(path) = out {
        let mut map = meta.to_map()?;
        if let Some((sf, _)) = &state_file {
            map.insert(FINGERPRINT_KEY.into(), sf.fingerprint.to_json()?);
        }
        checkpoint::save(path, &mut model, &map)?;
    }
    if let Some((sf, _)) = &state_file {
        sf.finish()?;
    }
    Ok(TrainedModel { model, meta, already_trained: false })
}
