//! The pipeline side of `tickgrad meta-train`: the tasks (market regimes or calendar months of the training
//! part) and a checkpoint of the same form as `train`'s, so `finetune`, `backtest` and `stream` take it as is.
//!
//! Only training samples become task windows; validation picks the kept weights; the test part is never read.

use super::dataset::Dataset;
use super::member::TrainedModel;
use super::meta::ModelMeta;
use super::predict::{predict_model, residual_rms};
use super::targets::TargetScale;
use crate::data::DriftReference;
use crate::eval::fmt_utc;
use crate::models::{checkpoint, Model};
use crate::train::meta::{meta_train, MetaConfig, Task};
use crate::train::{Event, Objective, TrainConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

/// Checkpoint metadata key of the meta-training settings and tasks (JSON).
pub const META_TRAIN_KEY: &str = "tickgrad.meta_train";

/// Tasks with fewer windows than this are left out (a month cut by the split's edge, a rare regime).
pub const MIN_TASK_WINDOWS: usize = 8;

/// What a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSplit {
    /// The regime of the window's last bar (trending, ranging, volatile; thresholds fitted on training rows).
    Regime,
    /// The UTC calendar month of the window's last bar.
    Month,
}

impl TaskSplit {
    pub fn parse(s: &str) -> Result<TaskSplit> {
        match s {
            "regime" => Ok(TaskSplit::Regime),
            "month" => Ok(TaskSplit::Month),
            other => Err(Error::config("tasks", format!("expected regime or month, found {other:?}"))),
        }
    }
}

/// The tasks of the samples `samples` (window indices relative to `samples.start`, i.e. into the examples of
/// those samples), in name order, and the names of the tasks left out for having under [`MIN_TASK_WINDOWS`].
pub fn make_tasks(ds: &Dataset, by: TaskSplit, samples: Range<usize>) -> Result<(Vec<Task>, Vec<String>)> {
    let regime = match by {
        TaskSplit::Regime => Some(
            ds.frame
                .column("regime")
                .ok_or_else(|| Error::Invalid("regime tasks: the feature frame has no `regime` column".into()))?,
        ),
        TaskSplit::Month => None,
    };
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for s in samples.clone() {
        let row = ds.row(s);
        let key = match regime {
            Some(col) => match col[row] {
                r if r == crate::data::regime::TRENDING => "trending".to_string(),
                r if r == crate::data::regime::RANGING => "ranging".to_string(),
                r if r == crate::data::regime::VOLATILE => "volatile".to_string(),
                _ => continue,
            },
            None => fmt_utc(ds.bars.timestamp[row])[..7].to_string(),
        };
        groups.entry(key).or_default().push(s - samples.start);
    }
    let (mut tasks, mut dropped) = (Vec::new(), Vec::new());
    for (name, windows) in groups {
        if windows.len() < MIN_TASK_WINDOWS {
            dropped.push(format!("{name} ({} windows)", windows.len()));
        } else {
            tasks.push(Task { name, windows });
        }
    }
    Ok((tasks, dropped))
}

/// Meta-train `model` on the dataset's training part split into tasks `by`, keep the weights with the lowest
/// validation loss, measure a regression model's residual spread on validation, and with `out` write the
/// checkpoint (plus [`META_TRAIN_KEY`]) atomically.
#[allow(clippy::too_many_arguments)]
pub fn meta_train_model(
    ds: &Dataset,
    mut model: Model,
    window: usize,
    tc: &TrainConfig,
    mc: &MetaConfig,
    by: TaskSplit,
    out: Option<&Path>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainedModel> {
    let nf = model.config().n_features();
    if nf != ds.n_features() {
        return Err(Error::shape("config n_features (feature columns)", [ds.n_features()], [nf]));
    }
    let objective = Objective::for_config(&model.config());
    let scale = TargetScale::fit(ds)?;
    let train_ex = scale.examples(ds, ds.split.train.clone())?;
    let val_ex = scale.examples(ds, ds.split.val.clone())?;
    let (tasks, dropped) = make_tasks(ds, by, ds.split.train.clone())?;
    if !dropped.is_empty() {
        on_event(Event::Note(&format!("left out tasks under {MIN_TASK_WINDOWS} windows: {}", dropped.join(", "))));
    }
    let sizes: Vec<String> = tasks.iter().map(|t| format!("{} ({})", t.name, t.windows.len())).collect();
    on_event(Event::Note(&format!("{} tasks: {}", tasks.len(), sizes.join(", "))));
    let sampler = ds.sampler(window)?;
    let outcome = meta_train(&mut model, objective, &sampler, &train_ex, &tasks, &val_ex, mc, tc, on_event)?;
    let mut meta = ModelMeta {
        prep: ds.prep.clone(),
        window,
        objective,
        target_scale: scale,
        residual_std: None,
        train_info: Some(outcome),
        drift: Some(DriftReference::fit(&ds.frame, &ds.prep.scaler, ds.fit_rows.clone())?),
    };
    if objective != Objective::Direction {
        let p = predict_model(&model, &meta, ds, ds.split.val.clone(), tc.device)?;
        let forecast = p.ret.ok_or_else(|| Error::Invalid("regression model made no return forecast".into()))?;
        meta.residual_std = Some(residual_rms(&forecast, &ds.returns(ds.split.val.clone()))?);
    }
    if let Some(path) = out {
        let mut map = meta.to_map()?;
        let info = serde_json::json!({
            "config": mc,
            "tasks": by,
            "task_windows": tasks.iter().map(|t| (t.name.clone(), t.windows.len())).collect::<Vec<_>>(),
        });
        map.insert(META_TRAIN_KEY.into(), info.to_string());
        checkpoint::save(path, &mut model, &map)?;
    }
    Ok(TrainedModel { model, meta, already_trained: false })
}
