//! Reference LayerNorm and BatchNorm1d: plain loops over named indices, generic over `Real`.

use super::{BatchNormDims, LayerNormDims};
use crate::ops::Real;

/// y = (x − μ)·rstd·γ + β per row; writes the row `mean` and `rstd` for the backward.
pub fn layer_norm_forward<T: Real>(
    d: &LayerNormDims,
    x: &[T],
    gamma: &[T],
    beta: &[T],
    y: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
) {
    assert_eq!(x.len(), d.len(), "layer_norm: x length");
    assert_eq!(y.len(), d.len(), "layer_norm: y length");
    assert_eq!(gamma.len(), d.cols, "layer_norm: gamma length");
    assert_eq!(beta.len(), d.cols, "layer_norm: beta length");
    assert_eq!(mean.len(), d.rows, "layer_norm: mean length");
    assert_eq!(rstd.len(), d.rows, "layer_norm: rstd length");
    let count = T::c(d.cols as f64);
    for r in 0..d.rows {
        let row = &x[r * d.cols..(r + 1) * d.cols];
        let mut sum = T::zero();
        for &v in row {
            sum = sum + v;
        }
        let mu = sum / count;
        let mut sq = T::zero();
        for &v in row {
            sq = sq + (v - mu) * (v - mu);
        }
        let rs = T::one() / (sq / count + T::c(d.eps)).sqrt();
        for c in 0..d.cols {
            y[r * d.cols + c] = (row[c] - mu) * rs * gamma[c] + beta[c];
        }
        mean[r] = mu;
        rstd[r] = rs;
    }
}

/// dx, dγ, dβ of LayerNorm from the saved row `mean` and `rstd`.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward<T: Real>(
    d: &LayerNormDims,
    x: &[T],
    gamma: &[T],
    mean: &[T],
    rstd: &[T],
    dy: &[T],
    dx: &mut [T],
    dgamma: &mut [T],
    dbeta: &mut [T],
) {
    assert_eq!(x.len(), d.len(), "layer_norm: x length");
    assert_eq!(dy.len(), d.len(), "layer_norm: dy length");
    assert_eq!(dx.len(), d.len(), "layer_norm: dx length");
    assert_eq!(gamma.len(), d.cols, "layer_norm: gamma length");
    assert_eq!(dgamma.len(), d.cols, "layer_norm: dgamma length");
    assert_eq!(dbeta.len(), d.cols, "layer_norm: dbeta length");
    assert_eq!(mean.len(), d.rows, "layer_norm: mean length");
    assert_eq!(rstd.len(), d.rows, "layer_norm: rstd length");
    let count = T::c(d.cols as f64);
    dgamma.fill(T::zero());
    dbeta.fill(T::zero());
    for r in 0..d.rows {
        let base = r * d.cols;
        let xhat = |c: usize| (x[base + c] - mean[r]) * rstd[r];
        let mut sum_g = T::zero();
        let mut sum_g_xhat = T::zero();
        for c in 0..d.cols {
            let g = dy[base + c] * gamma[c];
            sum_g = sum_g + g;
            sum_g_xhat = sum_g_xhat + g * xhat(c);
            dgamma[c] = dgamma[c] + dy[base + c] * xhat(c);
            dbeta[c] = dbeta[c] + dy[base + c];
        }
        for c in 0..d.cols {
            let g = dy[base + c] * gamma[c];
            dx[base + c] = rstd[r] * (g - sum_g / count - xhat(c) * sum_g_xhat / count);
        }
    }
}

fn check_channels<T>(d: &BatchNormDims, what: &str, v: &[T]) {
    assert_eq!(v.len(), d.c, "batch_norm: {what} length");
}

/// Training-mode BatchNorm1d: normalise each channel with its batch mean and biased variance; writes the
/// channel `mean` and `rstd` for the backward and for `batch_norm_update_running`.
pub fn batch_norm_forward_train<T: Real>(
    d: &BatchNormDims,
    x: &[T],
    gamma: &[T],
    beta: &[T],
    y: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
) {
    assert_eq!(x.len(), d.len(), "batch_norm: x length");
    assert_eq!(y.len(), d.len(), "batch_norm: y length");
    for (what, v) in [("gamma", gamma), ("beta", beta)] {
        check_channels(d, what, v);
    }
    check_channels(d, "mean", mean);
    check_channels(d, "rstd", rstd);
    let count = T::c(d.count() as f64);
    for ch in 0..d.c {
        let mut sum = T::zero();
        for i in 0..d.n {
            for t in 0..d.l {
                sum = sum + x[d.index(i, ch, t)];
            }
        }
        let mu = sum / count;
        let mut sq = T::zero();
        for i in 0..d.n {
            for t in 0..d.l {
                let v = x[d.index(i, ch, t)] - mu;
                sq = sq + v * v;
            }
        }
        let rs = T::one() / (sq / count + T::c(d.eps)).sqrt();
        for i in 0..d.n {
            for t in 0..d.l {
                let at = d.index(i, ch, t);
                y[at] = (x[at] - mu) * rs * gamma[ch] + beta[ch];
            }
        }
        mean[ch] = mu;
        rstd[ch] = rs;
    }
}

/// Moves the running statistics toward this batch's, as PyTorch does after a training forward:
/// `running_mean ← (1−m)·running_mean + m·mean`, `running_var ← (1−m)·running_var + m·σ²·N/(N−1)`, where the
/// biased batch variance is recovered from the saved `rstd` as `1/rstd² − eps` (clamped at 0).
pub fn batch_norm_update_running<T: Real>(
    d: &BatchNormDims,
    mean: &[T],
    rstd: &[T],
    running_mean: &mut [T],
    running_var: &mut [T],
    momentum: f64,
) {
    for (what, v) in [("mean", mean), ("rstd", rstd)] {
        check_channels(d, what, v);
    }
    check_channels(d, "running_mean", running_mean);
    check_channels(d, "running_var", running_var);
    let count = d.count();
    assert!(count > 1, "batch_norm: the unbiased variance needs more than one value per channel");
    let m = T::c(momentum);
    let bessel = T::c(count as f64 / (count - 1) as f64);
    for ch in 0..d.c {
        let biased = (T::one() / (rstd[ch] * rstd[ch]) - T::c(d.eps)).max(T::zero());
        running_mean[ch] = (T::one() - m) * running_mean[ch] + m * mean[ch];
        running_var[ch] = (T::one() - m) * running_var[ch] + m * biased * bessel;
    }
}

/// Evaluation-mode BatchNorm1d: y = (x − running_mean)/√(running_var + eps)·γ + β.
pub fn batch_norm_forward_eval<T: Real>(
    d: &BatchNormDims,
    x: &[T],
    gamma: &[T],
    beta: &[T],
    running_mean: &[T],
    running_var: &[T],
    y: &mut [T],
) {
    assert_eq!(x.len(), d.len(), "batch_norm: x length");
    assert_eq!(y.len(), d.len(), "batch_norm: y length");
    for (what, v) in [("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)] {
        check_channels(d, what, v);
    }
    for i in 0..d.n {
        for ch in 0..d.c {
            let rs = T::one() / (running_var[ch] + T::c(d.eps)).sqrt();
            for t in 0..d.l {
                let at = d.index(i, ch, t);
                y[at] = (x[at] - running_mean[ch]) * rs * gamma[ch] + beta[ch];
            }
        }
    }
}

/// Shared by both backward modes: per channel Σdy and Σdy·x̂, with x̂ = (x − mu)·rs.
fn channel_sums<T: Real>(d: &BatchNormDims, x: &[T], dy: &[T], ch: usize, mu: T, rs: T) -> (T, T) {
    let mut sum_dy = T::zero();
    let mut sum_dy_xhat = T::zero();
    for i in 0..d.n {
        for t in 0..d.l {
            let at = d.index(i, ch, t);
            sum_dy = sum_dy + dy[at];
            sum_dy_xhat = sum_dy_xhat + dy[at] * (x[at] - mu) * rs;
        }
    }
    (sum_dy, sum_dy_xhat)
}

/// Training-mode backward: the batch statistics depend on x, so dx carries their gradient too.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward_train<T: Real>(
    d: &BatchNormDims,
    x: &[T],
    gamma: &[T],
    mean: &[T],
    rstd: &[T],
    dy: &[T],
    dx: &mut [T],
    dgamma: &mut [T],
    dbeta: &mut [T],
) {
    assert_eq!(x.len(), d.len(), "batch_norm: x length");
    assert_eq!(dy.len(), d.len(), "batch_norm: dy length");
    assert_eq!(dx.len(), d.len(), "batch_norm: dx length");
    for (what, v) in [("gamma", gamma), ("mean", mean), ("rstd", rstd)] {
        check_channels(d, what, v);
    }
    check_channels(d, "dgamma", dgamma);
    check_channels(d, "dbeta", dbeta);
    let count = T::c(d.count() as f64);
    for ch in 0..d.c {
        let (sum_dy, sum_dy_xhat) = channel_sums(d, x, dy, ch, mean[ch], rstd[ch]);
        dgamma[ch] = sum_dy_xhat;
        dbeta[ch] = sum_dy;
        let k = gamma[ch] * rstd[ch] / count;
        for i in 0..d.n {
            for t in 0..d.l {
                let at = d.index(i, ch, t);
                let xhat = (x[at] - mean[ch]) * rstd[ch];
                dx[at] = k * (count * dy[at] - sum_dy - xhat * sum_dy_xhat);
            }
        }
    }
}

/// Evaluation-mode backward: y is affine in x, so dx = dy·γ/√(running_var + eps).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward_eval<T: Real>(
    d: &BatchNormDims,
    x: &[T],
    gamma: &[T],
    running_mean: &[T],
    running_var: &[T],
    dy: &[T],
    dx: &mut [T],
    dgamma: &mut [T],
    dbeta: &mut [T],
) {
    assert_eq!(x.len(), d.len(), "batch_norm: x length");
    assert_eq!(dy.len(), d.len(), "batch_norm: dy length");
    assert_eq!(dx.len(), d.len(), "batch_norm: dx length");
    for (what, v) in [("gamma", gamma), ("running_mean", running_mean), ("running_var", running_var)] {
        check_channels(d, what, v);
    }
    check_channels(d, "dgamma", dgamma);
    check_channels(d, "dbeta", dbeta);
    for ch in 0..d.c {
        let rs = T::one() / (running_var[ch] + T::c(d.eps)).sqrt();
        let (sum_dy, sum_dy_xhat) = channel_sums(d, x, dy, ch, running_mean[ch], rs);
        dgamma[ch] = sum_dy_xhat;
        dbeta[ch] = sum_dy;
        for i in 0..d.n {
            for t in 0..d.l {
                let at = d.index(i, ch, t);
                dx[at] = dy[at] * gamma[ch] * rs;
            }
        }
    }
}
