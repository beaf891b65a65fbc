//! A small histogram gradient-boosted trees model: the tabular member of the ensemble and the boosted-trees
//! baseline of every evaluation report. Written here rather than pulled in so its JSON form can live in a
//! checkpoint's metadata and its behaviour (binning, missing values, seeding) is fully ours to document.
//!
//! Features are quantile-binned on the training rows (≤ 255 value bins per feature, NaN in a bin of its
//! own whose direction each split learns); trees grow depth-wise on second-order gradient statistics with
//! L2 regularisation; multiclass softmax fits one tree per class per round.

mod binning;
mod exact;
mod model;
mod tree;
mod tree_shap;

pub use model::Gbdt;
pub use tree::{Node, Tree};
pub use tree_shap::TreeShap;

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// A borrowed row-major [n_rows, n_features] matrix; NaN marks a missing value.
#[derive(Debug, Clone, Copy)]
pub struct FeatureMatrix<'a> {
    data: &'a [f64],
    n_features: usize,
}

impl<'a> FeatureMatrix<'a> {
    pub fn new(data: &'a [f64], n_features: usize) -> Result<Self> {
        if n_features == 0 {
            return Err(Error::shape("feature matrix columns", "at least 1", 0));
        }
        if !data.len().is_multiple_of(n_features) {
            return Err(Error::shape(
                format!("feature matrix of {n_features} columns (length a multiple of {n_features})"),
                format!("[n, {n_features}]"),
                data.len(),
            ));
        }
        Ok(FeatureMatrix { data, n_features })
    }
    pub fn n_rows(&self) -> usize {
        self.data.len() / self.n_features
    }
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    pub fn row(&self, i: usize) -> &'a [f64] {
        &self.data[i * self.n_features..(i + 1) * self.n_features]
    }
    fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.n_features + j]
    }
    pub fn data(&self) -> &'a [f64] {
        self.data
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Class probabilities through a softmax over `n_classes` raw scores; targets are class indices.
    Softmax,
    /// Squared error on real targets.
    SquaredError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GbdtConfig {
    pub objective: Objective,
    /// Used by `softmax` only (3 for up / down / hold).
    pub n_classes: usize,
    /// Boosting rounds; early stopping may keep fewer.
    pub n_estimators: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    /// Fewest training rows a leaf may hold.
    pub min_samples_leaf: usize,
    /// Smallest hessian sum a leaf may hold; keeps leaf values finite when `lambda` is 0.
    pub min_child_weight: f64,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Smallest loss reduction a split must bring.
    pub min_split_gain: f64,
    /// Share of rows drawn (without replacement) for each round.
    pub subsample: f64,
    /// Value bins per feature, 2..=255.
    pub max_bins: usize,
    /// Stop after this many rounds without improving the validation loss and keep the best round; only
    /// with a validation set.
    pub early_stopping_rounds: Option<usize>,
    pub seed: u64,
}

impl Default for GbdtConfig {
    fn default() -> Self {
        GbdtConfig {
            objective: Objective::Softmax,
            n_classes: 3,
            n_estimators: 200,
            learning_rate: 0.1,
            max_depth: 4,
            min_samples_leaf: 20,
            min_child_weight: 1e-3,
            lambda: 1.0,
            min_split_gain: 0.0,
            subsample: 1.0,
            max_bins: 255,
            early_stopping_rounds: Some(20),
            seed: 0,
        }
    }
}

impl GbdtConfig {
    pub fn classifier(n_classes: usize) -> Self {
        GbdtConfig { objective: Objective::Softmax, n_classes, ..Default::default() }
    }
    pub fn regressor() -> Self {
        GbdtConfig { objective: Objective::SquaredError, ..Default::default() }
    }

    /// Raw scores per row: one per class for softmax, one for regression.
    pub fn n_outputs(&self) -> usize {
        match self.objective {
            Objective::Softmax => self.n_classes,
            Objective::SquaredError => 1,
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, m: String| Err(Error::config(f, m));
        if self.objective == Objective::Softmax && !(2..=1024).contains(&self.n_classes) {
            return bad("n_classes", format!("must be 2..=1024 for softmax, got {}", self.n_classes));
        }
        if self.n_estimators == 0 {
            return bad("n_estimators", "must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate", format!("must be > 0, got {}", self.learning_rate));
        }
        if !(1..=32).contains(&self.max_depth) {
            return bad("max_depth", format!("must be 1..=32, got {}", self.max_depth));
        }
        if self.min_samples_leaf == 0 {
            return bad("min_samples_leaf", "must be at least 1".into());
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return bad("lambda", format!("must be ≥ 0, got {}", self.lambda));
        }
        if !(self.min_child_weight.is_finite() && self.min_child_weight >= 0.0) {
            return bad("min_child_weight", format!("must be ≥ 0, got {}", self.min_child_weight));
        }
        if self.lambda + self.min_child_weight <= 0.0 {
            return bad(
                "lambda",
                "lambda and min_child_weight cannot both be 0 (leaf values would divide by 0)".into(),
            );
        }
        if !(self.min_split_gain.is_finite() && self.min_split_gain >= 0.0) {
            return bad("min_split_gain", format!("must be ≥ 0, got {}", self.min_split_gain));
        }
        if !(self.subsample > 0.0 && self.subsample <= 1.0) {
            return bad("subsample", format!("must be in (0, 1], got {}", self.subsample));
        }
        if !(2..=255).contains(&self.max_bins) {
            return bad("max_bins", format!("must be 2..=255, got {}", self.max_bins));
        }
        if self.early_stopping_rounds == Some(0) {
            return bad("early_stopping_rounds", "must be at least 1 when set".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tree_shap_tests;
