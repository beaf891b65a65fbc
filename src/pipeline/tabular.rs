//! The boosted-trees member and baseline: a histogram GBDT (`models::gbdt`) on the tabular features at the last
//! bar of each window, with the same direction labels and the same splits as the networks. It reads the raw
//! (unscaled) model-input columns: trees split on thresholds, so scaling changes nothing, and NaN stays a
//! missing value the trees route on their own.

use super::dataset::Dataset;
use crate::models::gbdt::{FeatureMatrix, Gbdt, GbdtConfig};
use crate::{Error, Result};
use std::ops::Range;

/// Conservative settings for ~10⁴ noisy rows: shallow trees, a slow learning rate, row subsampling, large
/// leaves, and early stopping on the validation set.
pub fn default_config(seed: u64) -> GbdtConfig {
    GbdtConfig {
        n_estimators: 300,
        learning_rate: 0.05,
        max_depth: 3,
        min_samples_leaf: 50,
        subsample: 0.8,
        early_stopping_rounds: Some(30),
        seed,
        ..GbdtConfig::classifier(3)
    }
}

/// Row-major [samples, F] of the model-input columns at each sample's last bar.
pub fn matrix(ds: &Dataset, samples: Range<usize>) -> Result<Vec<f64>> {
    let cols = ds
        .prep
        .features
        .iter()
        .map(|n| ds.frame.column(n).ok_or_else(|| Error::Invalid(format!("feature `{n}` is not in the frame"))))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(samples.len() * cols.len());
    for r in ds.rows(samples) {
        out.extend(cols.iter().map(|c| if c[r].is_finite() { c[r] } else { f64::NAN }));
    }
    Ok(out)
}

fn targets(ds: &Dataset, samples: Range<usize>) -> Result<Vec<f64>> {
    Ok(ds.directions(samples)?.into_iter().map(|c| c as f64).collect())
}

/// Fit on `train` samples, early-stopping on `val` when given (otherwise all `cfg.n_estimators` rounds).
pub fn fit(ds: &Dataset, train: Range<usize>, val: Option<Range<usize>>, cfg: &GbdtConfig) -> Result<Gbdt> {
    let nf = ds.n_features();
    let (x, y) = (matrix(ds, train.clone())?, targets(ds, train)?);
    let valid = match val {
        Some(v) => Some((matrix(ds, v.clone())?, targets(ds, v)?)),
        None => None,
    };
    let valid_ref = match &valid {
        Some((vx, vy)) => Some((FeatureMatrix::new(vx, nf)?, vy.as_slice())),
        None => None,
    };
    let cfg = if valid_ref.is_some() { cfg.clone() } else { GbdtConfig { early_stopping_rounds: None, ..cfg.clone() } };
    Gbdt::fit(FeatureMatrix::new(&x, nf)?, &y, &cfg, valid_ref)
}
