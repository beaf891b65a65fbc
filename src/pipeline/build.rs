//! Training a whole ensemble into a directory: every network on one shared dataset (the longest member window
//! lays out the samples, so all members predict the same bars), the boosted-trees member on the same splits,
//! the confidence threshold from validation, and the manifest written last (atomically), so a directory with an
//! `ensemble.json` always holds a complete ensemble.

use super::bundle::{EnsembleBundle, NetMember};
use super::dataset::{Dataset, DatasetSpec};
use super::ensemble::{combine, threshold_for_coverage, Manifest, MemberEntry, RollingSpec, Rule, FORMAT};
use super::member::{resolve_config, train_model_resumable};
use super::predict::{predict_gbdt, predict_model};
use super::resume::ResumeOptions;
use super::tabular;
use crate::data::{Bars, SplitFractions};
use crate::io::atomic::write_atomic;
use crate::models::gbdt::GbdtConfig;
use crate::train::{Event, TrainConfig};
use crate::{Error, Result};
use std::path::Path;

/// One network of the ensemble: its kind, its constructor arguments (without `n_features`, which comes from
/// the feature set) and its window.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRecipe {
    pub name: String,
    pub kind: String,
    pub args: serde_json::Value,
    pub window: usize,
}

/// How to train an ensemble (a training recipe; "plan" in this crate is the batch-1 forward of `serve::plan`):
/// its networks, the labels and split, the member weighting and the boosted trees.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleRecipe {
    pub members: Vec<MemberRecipe>,
    pub horizon: usize,
    pub theta: f64,
    pub fractions: SplitFractions,
    pub rolling: RollingSpec,
    pub agreement: f64,
    /// Share of validation bars the confidence threshold lets through.
    pub target_coverage: f64,
    pub gbdt: GbdtConfig,
}

impl EnsembleRecipe {
    /// The main job's ensemble: all four model kinds, each cut down to a size that trains in well under a
    /// minute on two CPU cores (the seed configs, e.g. the 6×512 transformer, would take hours), plus the trees.
    pub fn small(horizon: usize, theta: f64, seed: u64) -> EnsembleRecipe {
        let member = |name: &str, args: serde_json::Value, window: usize| MemberRecipe {
            name: name.into(),
            kind: name.into(),
            args,
            window,
        };
        EnsembleRecipe {
            members: vec![
                member(
                    "transformer",
                    serde_json::json!({"d_model": 32, "nhead": 4, "num_layers": 2, "dim_feedforward": 64,
                                       "dropout": 0.1, "max_len": 64, "pooling": "last"}),
                    48,
                ),
                member(
                    "lstm_attention",
                    serde_json::json!({"hidden_size": 32, "num_layers": 1, "bidirectional": false, "dropout": 0.0}),
                    48,
                ),
                member(
                    "tcn",
                    serde_json::json!({"channels": [16, 16, 16, 16, 16], "kernel_size": 3, "dropout": 0.1}),
                    64,
                ),
                member(
                    "multitask",
                    serde_json::json!({"channels": 16, "n_blocks": 2, "kernel_size": 3, "head_hidden": 32}),
                    48,
                ),
            ],
            horizon,
            theta,
            fractions: SplitFractions::default(),
            rolling: RollingSpec::default(),
            agreement: 0.7,
            target_coverage: 0.5,
            gbdt: tabular::default_config(seed),
        }
    }

    fn sample_window(&self) -> usize {
        self.members.iter().map(|m| m.window).max().unwrap_or(1)
    }
}

/// Train every member into `dir` (created if missing) and write `dir/ensemble.json`. `on_event` gets each
/// network's training events with its name.
pub fn train_ensemble(
    bars: Bars,
    recipe: &EnsembleRecipe,
    tc: &TrainConfig,
    dir: &Path,
    on_event: &mut dyn FnMut(&str, Event<'_>),
) -> Result<EnsembleBundle> {
    train_ensemble_resumable(bars, recipe, tc, dir, None, on_event)
}

/// [`train_ensemble`] with a resume state kept beside each network's checkpoint (`pipeline::resume`): with
/// `resume.resume`, networks whose checkpoint is a finished training of this run are not trained again and the
/// one in progress continues from its last completed epoch. The boosted trees (seeded, seconds) and the
/// threshold are always redone.
pub fn train_ensemble_resumable(
    bars: Bars,
    recipe: &EnsembleRecipe,
    tc: &TrainConfig,
    dir: &Path,
    resume: Option<&ResumeOptions>,
    on_event: &mut dyn FnMut(&str, Event<'_>),
) -> Result<EnsembleBundle> {
    if recipe.members.is_empty() {
        return Err(Error::config("members", "an ensemble needs at least one network"));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let spec = DatasetSpec {
        window: recipe.sample_window(),
        horizon: recipe.horizon,
        theta: recipe.theta,
        fractions: recipe.fractions,
    };
    let ds = Dataset::fit(bars, &spec)?;
    let mut members = Vec::new();
    let mut entries = Vec::new();
    for m in &recipe.members {
        let text = m.args.to_string();
        let cfg =
            resolve_config(Some(&m.kind), Some(&text), &format!("ensemble member `{}`", m.name), ds.n_features())?;
        let file = format!("{}.safetensors", m.name);
        let out = dir.join(&file);
        let trained =
            train_model_resumable(&ds, &cfg, m.window, tc, Some(&out), resume, &mut |e| on_event(&m.name, e))?;
        members.push(NetMember { name: m.name.clone(), model: trained.model, meta: trained.meta });
        entries.push(MemberEntry { name: m.name.clone(), checkpoint: file });
    }
    let gbdt = tabular::fit(&ds, ds.split.train.clone(), Some(ds.split.val.clone()), &recipe.gbdt)?;
    gbdt.save(dir.join("gbdt.json"))?;

    // Threshold from validation: weights there start equal and follow the validation hits causally.
    let val = ds.split.val.clone();
    let mut preds = Vec::new();
    for m in &members {
        preds.push(predict_model(&m.model, &m.meta, &ds, val.clone(), tc.device)?);
    }
    preds.push(predict_gbdt(&gbdt, &ds, val.clone())?);
    let mut rule = Rule {
        horizon: recipe.horizon,
        rolling: recipe.rolling.clone(),
        confidence_threshold: 0.0,
        agreement: recipe.agreement,
    };
    let labels = ds.directions(val.clone())?;
    let c = combine(&preds, &labels, val.clone(), val, &rule, tc.device)?;
    rule.confidence_threshold = threshold_for_coverage(&c.confidence, recipe.target_coverage)?;

    let manifest = Manifest {
        format: FORMAT.into(),
        members: entries,
        gbdt: "gbdt.json".into(),
        prep: ds.prep.clone(),
        confidence_threshold: rule.confidence_threshold,
        agreement: recipe.agreement,
        target_coverage: recipe.target_coverage,
        rolling: recipe.rolling.clone(),
    };
    write_atomic(dir.join(super::ensemble::MANIFEST_NAME), manifest.to_json()?.as_bytes())?;
    Ok(EnsembleBundle { manifest, members, gbdt, dir: dir.to_path_buf() })
}
