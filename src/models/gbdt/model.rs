//! The boosting loop, prediction and (de)serialisation of [`Gbdt`].

use super::binning::Binner;
use super::tree::{Grower, Node, Tree};
use super::{FeatureMatrix, GbdtConfig, Objective};
use crate::io::atomic::write_atomic;
use crate::rng::Rng;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A fitted model. Everything prediction needs is in here (thresholds are raw feature values), so the JSON
/// form is self-contained. Deserialising, by any serde route, checks the structure, so a damaged or
/// hand-edited model is an error at load time and never an out-of-range index at prediction time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "GbdtFields")]
pub struct Gbdt {
    config: GbdtConfig,
    n_features: usize,
    /// Starting raw score per output: log class priors for softmax, the target mean for regression.
    #[serde(with = "super::exact::vec_f64_str")]
    base_score: Vec<f64>,
    /// One entry per kept round, each with one tree per output.
    rounds: Vec<Vec<Tree>>,
    /// Validation loss after each round trained (mean log loss or mean squared error).
    valid_loss: Vec<f64>,
}

/// The unchecked wire form of [`Gbdt`].
#[derive(Deserialize)]
struct GbdtFields {
    config: GbdtConfig,
    n_features: usize,
    #[serde(with = "super::exact::vec_f64_str")]
    base_score: Vec<f64>,
    rounds: Vec<Vec<Tree>>,
    #[serde(default)]
    valid_loss: Vec<f64>,
}

impl TryFrom<GbdtFields> for Gbdt {
    type Error = String;

    fn try_from(m: GbdtFields) -> std::result::Result<Self, String> {
        m.config.validate().map_err(|e| e.to_string())?;
        let k = m.config.n_outputs();
        if m.n_features == 0 {
            return Err("n_features is 0".into());
        }
        if m.base_score.len() != k || m.base_score.iter().any(|v| !v.is_finite()) {
            return Err(format!("base_score must hold {k} finite values, got {:?}", m.base_score));
        }
        for (r, trees) in m.rounds.iter().enumerate() {
            if trees.len() != k {
                return Err(format!("round {r} has {} trees, expected {k}", trees.len()));
            }
            for (c, t) in trees.iter().enumerate() {
                t.check(m.n_features).map_err(|e| format!("round {r} tree {c}: {e}"))?;
            }
        }
        let GbdtFields { config, n_features, base_score, rounds, valid_loss } = m;
        Ok(Gbdt { config, n_features, base_score, rounds, valid_loss })
    }
}

fn check_targets(y: &[f64], n: usize, cfg: &GbdtConfig, what: &str) -> Result<()> {
    if y.len() != n {
        return Err(Error::shape(format!("{what} targets (one per row)"), [n], [y.len()]));
    }
    for (i, &v) in y.iter().enumerate() {
        let ok = match cfg.objective {
            Objective::Softmax => v >= 0.0 && v.fract() == 0.0 && (v as usize) < cfg.n_classes,
            Objective::SquaredError => v.is_finite(),
        };
        if !ok {
            let expect = match cfg.objective {
                Objective::Softmax => format!("a class index 0..{}", cfg.n_classes),
                Objective::SquaredError => "a finite number".to_string(),
            };
            return Err(Error::Invalid(format!("{what} target[{i}] = {v} is not {expect}")));
        }
    }
    Ok(())
}

fn softmax_in_place(z: &mut [f64]) {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    z.iter_mut().for_each(|v| *v /= s);
}

/// Mean loss of raw scores `raw` ([n, k] row-major) against `y`.
fn loss(objective: Objective, raw: &[f64], y: &[f64], k: usize) -> f64 {
    let n = y.len() as f64;
    match objective {
        Objective::SquaredError => raw.iter().zip(y).map(|(p, t)| (p - t) * (p - t)).sum::<f64>() / n,
        Objective::Softmax => {
            let mut total = 0.0;
            for (row, &t) in raw.chunks(k).zip(y) {
                let mut p = row.to_vec();
                softmax_in_place(&mut p);
                total -= p[t as usize].max(1e-15).ln();
            }
            total / n
        }
    }
}

impl Gbdt {
    /// Fits on `x` with targets `y` (class indices as `f64` for softmax). With `valid` and
    /// `early_stopping_rounds`, training stops once the validation loss has not improved for that many
    /// rounds and the model keeps the rounds up to the best one.
    pub fn fit(
        x: FeatureMatrix<'_>,
        y: &[f64],
        cfg: &GbdtConfig,
        valid: Option<(FeatureMatrix<'_>, &[f64])>,
    ) -> Result<Gbdt> {
        cfg.validate()?;
        let n = x.n_rows();
        if n == 0 {
            return Err(Error::Invalid("gbdt fit needs at least one training row, got none".into()));
        }
        if n > u32::MAX as usize {
            return Err(Error::Invalid(format!("gbdt fit supports up to {} rows, got {n}", u32::MAX)));
        }
        check_targets(y, n, cfg, "training")?;
        if let Some(i) = x.data().iter().position(|v| v.is_infinite()) {
            return Err(Error::Invalid(format!(
                "training feature x[{}, {}] is infinite; use NaN for a missing value",
                i / x.n_features(),
                i % x.n_features()
            )));
        }
        if let Some((vx, vy)) = valid {
            if vx.n_features() != x.n_features() {
                return Err(Error::shape("validation feature columns", [x.n_features()], [vx.n_features()]));
            }
            if vx.n_rows() == 0 {
                return Err(Error::Invalid("validation set has no rows".into()));
            }
            check_targets(vy, vx.n_rows(), cfg, "validation")?;
        }
        let k = cfg.n_outputs();
        let base_score = match cfg.objective {
            Objective::SquaredError => vec![y.iter().sum::<f64>() / n as f64],
            Objective::Softmax => {
                let mut counts = vec![0usize; k];
                y.iter().for_each(|&c| counts[c as usize] += 1);
                counts.iter().map(|&c| ((c as f64 + 1.0) / (n + k) as f64).ln()).collect()
            }
        };
        let binner = Binner::fit(&x, cfg.max_bins);
        let bins = binner.transform(&x);
        let mut model = Gbdt {
            config: cfg.clone(),
            n_features: x.n_features(),
            base_score,
            rounds: Vec::new(),
            valid_loss: Vec::new(),
        };
        let mut raw: Vec<f64> = (0..n).flat_map(|_| model.base_score.iter().copied()).collect();
        let mut valid_raw: Option<Vec<f64>> =
            valid.map(|(vx, _)| (0..vx.n_rows()).flat_map(|_| model.base_score.iter().copied()).collect());
        // SplitMix64 from the seed as its state, so the same seed draws the same row subsamples on every machine.
        let mut rng = Rng::from_state(cfg.seed);
        let (mut grad, mut hess) = (vec![vec![0.0; n]; k], vec![vec![0.0; n]; k]);
        let mut best = (f64::INFINITY, 0usize);
        let mut p = vec![0.0; k];
        for round in 0..cfg.n_estimators {
            for i in 0..n {
                match cfg.objective {
                    Objective::SquaredError => {
                        grad[0][i] = raw[i] - y[i];
                        hess[0][i] = 1.0;
                    }
                    Objective::Softmax => {
                        p.copy_from_slice(&raw[i * k..(i + 1) * k]);
                        softmax_in_place(&mut p);
                        for c in 0..k {
                            let target = if y[i] as usize == c { 1.0 } else { 0.0 };
                            grad[c][i] = p[c] - target;
                            hess[c][i] = (p[c] * (1.0 - p[c])).max(1e-16);
                        }
                    }
                }
            }
            let rows = sample_rows(n, cfg.subsample, &mut rng);
            let trees: Vec<Tree> = (0..k)
                .map(|c| {
                    let mut g = Grower {
                        bins: &bins,
                        n_rows: n,
                        binner: &binner,
                        grad: &grad[c],
                        hess: &hess[c],
                        cfg,
                        nodes: Vec::new(),
                        cover: Vec::new(),
                    };
                    g.grow(rows.clone(), None, 0);
                    Tree { nodes: g.nodes, cover: g.cover }
                })
                .collect();
            add_trees(&mut raw, x, &trees);
            model.rounds.push(trees);
            if let (Some((vx, vy)), Some(vr)) = (valid, valid_raw.as_mut()) {
                add_trees(vr, vx, model.rounds.last().map(Vec::as_slice).unwrap_or(&[]));
                let l = loss(cfg.objective, vr, vy, k);
                model.valid_loss.push(l);
                if l < best.0 {
                    best = (l, round);
                } else if cfg.early_stopping_rounds.is_some_and(|r| round - best.1 >= r) {
                    break;
                }
            }
        }
        if valid.is_some() && cfg.early_stopping_rounds.is_some() {
            model.rounds.truncate(best.1 + 1);
        }
        Ok(model)
    }

    fn check_input<'a>(&self, x: &'a [f64]) -> Result<FeatureMatrix<'a>> {
        if !x.len().is_multiple_of(self.n_features) {
            return Err(Error::shape(
                "prediction input",
                format!("[n, {}] (length a multiple of {})", self.n_features, self.n_features),
                x.len(),
            ));
        }
        FeatureMatrix::new(x, self.n_features)
    }

    /// Raw scores, row-major [n, n_outputs]: logits for softmax, the prediction for regression.
    pub fn predict_raw(&self, x: &[f64]) -> Result<Vec<f64>> {
        let m = self.check_input(x)?;
        let k = self.base_score.len();
        let mut out: Vec<f64> = (0..m.n_rows()).flat_map(|_| self.base_score.iter().copied()).collect();
        for trees in &self.rounds {
            add_trees(&mut out, m, trees);
        }
        debug_assert_eq!(out.len(), m.n_rows() * k);
        Ok(out)
    }

    /// Class probabilities, row-major [n, n_classes]; softmax models only.
    pub fn predict_proba(&self, x: &[f64]) -> Result<Vec<f64>> {
        if self.config.objective != Objective::Softmax {
            return Err(Error::Invalid("predict_proba needs a softmax model; this one is a regressor".into()));
        }
        let mut raw = self.predict_raw(x)?;
        raw.par_chunks_mut(self.base_score.len()).for_each(softmax_in_place);
        Ok(raw)
    }

    /// Most probable class per row; softmax models only.
    pub fn predict_classes(&self, x: &[f64]) -> Result<Vec<usize>> {
        let p = self.predict_proba(x)?;
        let k = self.base_score.len();
        Ok(p.chunks(k).map(|row| (0..k).fold(0, |b, c| if row[c] > row[b] { c } else { b })).collect())
    }

    /// One number per row: the class index (as `f64`) for softmax, the prediction for regression.
    pub fn predict(&self, x: &[f64]) -> Result<Vec<f64>> {
        match self.config.objective {
            Objective::Softmax => Ok(self.predict_classes(x)?.into_iter().map(|c| c as f64).collect()),
            Objective::SquaredError => self.predict_raw(x),
        }
    }

    /// Total split gain (loss reduction) per feature over all kept trees; divide by the sum for shares.
    pub fn feature_importance(&self) -> Vec<f64> {
        let mut imp = vec![0.0; self.n_features];
        for node in self.rounds.iter().flatten().flat_map(|t| &t.nodes) {
            if let Node::Split { feature, gain, .. } = node {
                imp[*feature] += gain;
            }
        }
        imp
    }

    pub fn n_rounds(&self) -> usize {
        self.rounds.len()
    }
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    pub fn config(&self) -> &GbdtConfig {
        &self.config
    }
    /// Starting raw score per output, before any tree.
    pub fn base_score(&self) -> &[f64] {
        &self.base_score
    }
    pub fn rounds(&self) -> &[Vec<Tree>] {
        &self.rounds
    }
    /// Validation loss after each round trained; empty without a validation set.
    pub fn valid_loss(&self) -> &[f64] {
        &self.valid_loss
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Invalid(format!("gbdt to JSON: {e}")))
    }

    /// Parses and checks a model (tree structure, feature indices, finite numbers).
    pub fn from_json(s: &str) -> Result<Gbdt> {
        serde_json::from_str(s).map_err(|e| Error::parse("gbdt json", e.to_string()))
    }

    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path, self.to_json()?.as_bytes())
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Gbdt> {
        let path = path.as_ref();
        let s = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Gbdt::from_json(&s).map_err(|e| match e {
            Error::Parse { message, .. } => Error::parse(path.display().to_string(), message),
            other => other,
        })
    }
}

/// `raw[i * k + c] += trees[c](x[i])`, rows in parallel.
fn add_trees(raw: &mut [f64], x: FeatureMatrix<'_>, trees: &[Tree]) {
    let k = trees.len();
    if k == 0 {
        return;
    }
    raw.par_chunks_mut(k).enumerate().for_each(|(i, out)| {
        let row = x.row(i);
        for (o, t) in out.iter_mut().zip(trees) {
            *o += t.predict_row(row);
        }
    });
}

/// Sorted row indices: all rows, or `round(subsample · n)` (at least 1) drawn without replacement by a
/// partial Fisher–Yates shuffle.
fn sample_rows(n: usize, subsample: f64, rng: &mut Rng) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..n as u32).collect();
    if subsample >= 1.0 {
        return idx;
    }
    let m = ((subsample * n as f64).round() as usize).clamp(1, n);
    for i in 0..m {
        let j = i + rng.below(n - i);
        idx.swap(i, j);
    }
    idx.truncate(m);
    idx.sort_unstable();
    idx
}
