//! Permutation feature importance (Breiman 2001): how much a validation score drops when one feature's values are
//! shuffled across windows, which keeps the feature's distribution but breaks its link to the target. A feature
//! column is moved whole: window n gets window π(n)'s entire time series of that feature, so the within-window
//! dynamics stay realistic. Seeded; `repeats` shuffles per feature give a mean drop and its spread.

use crate::autodiff;
use crate::models::Model;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Importance of each feature: the score's mean drop and the standard deviation of the drop over repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Importance {
    /// Score on the unshuffled windows.
    pub baseline: f64,
    /// Per feature: baseline − mean score with that feature shuffled (higher = more important).
    pub drop: Vec<f64>,
    pub std: Vec<f64>,
}

/// Predictions [N, k] for windows x [N, W, F], `batch` windows per forward.
pub fn predict_all(model: &Model, x: &[f32], shape: [usize; 3], batch: usize) -> Result<Vec<f32>> {
    let [n, w, f] = shape;
    if x.len() != n * w * f {
        return Err(Error::shape("windows", shape, x.len()));
    }
    let _g = autodiff::no_grad();
    let per = w * f;
    let mut out = Vec::with_capacity(n * model.config().output_width());
    for start in (0..n).step_by(batch.max(1)) {
        let m = batch.max(1).min(n - start);
        let t = Tensor::from_vec(x[start * per..(start + m) * per].to_vec(), &[m, w, f], model.device())?;
        out.extend(model.predict(&t)?.to_vec()?);
    }
    Ok(out)
}

/// Permutation importance of every feature of windows x [N, W, F]. `score(preds [N, k])` is higher-is-better
/// (accuracy, or a negative loss).
pub fn permutation_importance(
    model: &Model,
    x: &[f32],
    shape: [usize; 3],
    score: &dyn Fn(&[f32]) -> Result<f64>,
    repeats: usize,
    seed: u64,
) -> Result<Importance> {
    let [n, w, f] = shape;
    if n < 2 || repeats == 0 {
        return Err(Error::config("permutation importance", "needs at least 2 windows and 1 repeat"));
    }
    const BATCH: usize = 64;
    let baseline = score(&predict_all(model, x, shape, BATCH)?)?;
    let mut rng = Rng::new(seed);
    let mut shuffled = x.to_vec();
    let mut perm: Vec<usize> = (0..n).collect();
    let (mut drop, mut std) = (Vec::with_capacity(f), Vec::with_capacity(f));
    for j in 0..f {
        let mut drops = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            rng.shuffle(&mut perm);
            for (dst, &src) in perm.iter().enumerate() {
                for t in 0..w {
                    shuffled[(dst * w + t) * f + j] = x[(src * w + t) * f + j];
                }
            }
            drops.push(baseline - score(&predict_all(model, &shuffled, shape, BATCH)?)?);
        }
        for dst in 0..n {
            for t in 0..w {
                shuffled[(dst * w + t) * f + j] = x[(dst * w + t) * f + j];
            }
        }
        let mean = drops.iter().sum::<f64>() / repeats as f64;
        let var = drops.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / repeats as f64;
        drop.push(mean);
        std.push(var.sqrt());
    }
    Ok(Importance { baseline, drop, std })
}

/// Accuracy of the argmax over output columns `cols` against class labels (one per window).
pub fn accuracy(preds: &[f32], k: usize, cols: std::ops::Range<usize>, labels: &[usize]) -> Result<f64> {
    if preds.len() != labels.len() * k || cols.end > k || cols.is_empty() {
        return Err(Error::shape("accuracy predictions", [labels.len(), k], preds.len()));
    }
    let hits = preds
        .chunks(k)
        .zip(labels)
        .filter(|(row, &y)| {
            let r = &row[cols.clone()];
            let arg = (0..r.len()).fold(0, |best, i| if r[i] > r[best] { i } else { best });
            arg == y
        })
        .count();
    Ok(hits as f64 / labels.len() as f64)
}

/// Negative mean squared error of output column `col` against targets (higher is better).
pub fn neg_mse(preds: &[f32], k: usize, col: usize, targets: &[f64]) -> Result<f64> {
    if preds.len() != targets.len() * k || col >= k {
        return Err(Error::shape("mse predictions", [targets.len(), k], preds.len()));
    }
    let se: f64 = preds.chunks(k).zip(targets).map(|(r, &y)| (r[col] as f64 - y).powi(2)).sum();
    Ok(-se / targets.len() as f64)
}
