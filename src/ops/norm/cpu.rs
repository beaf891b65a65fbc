//! Fast CPU LayerNorm and BatchNorm1d, f32.
//!
//! Work is cut into rayon tasks of whole rows (LayerNorm) or whole samples (BatchNorm) of at least
//! `MIN_TASK` elements, so small inputs run on one thread. Column sums (LayerNorm's dγ, dβ; every BatchNorm
//! statistic) are per-task partials added up in task order afterwards: no atomics, no strided reads, and
//! the same result on every run. BatchNorm statistics accumulate in f64 because a channel can hold
//! `n·l` values in the hundreds of thousands.

use super::{BatchNormDims, LayerNormDims};
use super::{BatchNormParams, BatchNormSaved, LayerNormSaved, NormKernel};
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::{Storage, Triple};
use crate::ops::fastmath;
use crate::Result;
use rayon::prelude::*;

/// Elements per rayon task: below this the hand-off costs more than the work.
const MIN_TASK: usize = 1 << 14;

/// Whole units (rows or samples) of `unit` elements per task.
fn units_per_task(unit: usize) -> usize {
    MIN_TASK.div_ceil(unit.max(1)).max(1)
}

/// Adds equal-length partial sums in order.
fn sum_partials<T: Copy + std::ops::AddAssign + Default>(parts: Vec<Vec<T>>, width: usize) -> Vec<T> {
    let mut total = vec![T::default(); width];
    for p in parts {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// Fast LayerNorm, same contract as `reference::layer_norm_forward`.
pub fn layer_norm_forward(
    d: &LayerNormDims,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    assert_eq!(x.len(), d.len(), "layer_norm: x length");
    assert_eq!(y.len(), d.len(), "layer_norm: y length");
    assert_eq!(gamma.len(), d.cols, "layer_norm: gamma length");
    assert_eq!(beta.len(), d.cols, "layer_norm: beta length");
    assert_eq!(mean.len(), d.rows, "layer_norm: mean length");
    assert_eq!(rstd.len(), d.rows, "layer_norm: rstd length");
    if d.cols == 0 {
        // Empty rows: PyTorch gives NaN statistics (0/0); keep that rather than invent a value.
        mean.fill(f32::NAN);
        rstd.fill(f32::NAN);
        return;
    }
    let rows = units_per_task(d.cols);
    let (cols, eps) = (d.cols, d.eps as f32);
    y.par_chunks_mut(rows * cols)
        .zip(x.par_chunks(rows * cols))
        .zip(mean.par_chunks_mut(rows).zip(rstd.par_chunks_mut(rows)))
        .for_each(|((yt, xt), (mt, rt))| {
            for (r, (yr, xr)) in yt.chunks_mut(cols).zip(xt.chunks(cols)).enumerate() {
                (mt[r], rt[r]) = layer_norm_row(xr, gamma, beta, eps, yr);
            }
        });
}

/// One non-empty row: y = (x − μ)·rstd·γ + β; returns (μ, rstd). The batch-1 plans (`serve::plan`) call it on
/// their own rows, on their own thread.
pub(crate) fn layer_norm_row(xr: &[f32], gamma: &[f32], beta: &[f32], eps: f32, yr: &mut [f32]) -> (f32, f32) {
    let inv_n = 1.0 / xr.len() as f32;
    // y holds x − μ for a moment, so both reductions run over slices and vectorise.
    let mu = fastmath::sum(xr) * inv_n;
    for (o, &v) in yr.iter_mut().zip(xr) {
        *o = v - mu;
    }
    let rs = 1.0 / (fastmath::dot(yr, yr) * inv_n + eps).sqrt();
    for ((o, &g), &b) in yr.iter_mut().zip(gamma).zip(beta) {
        *o = *o * rs * g + b;
    }
    (mu, rs)
}

/// Fast LayerNorm backward, same contract as `reference::layer_norm_backward`.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward(
    d: &LayerNormDims,
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    assert_eq!(x.len(), d.len(), "layer_norm: x length");
    assert_eq!(dy.len(), d.len(), "layer_norm: dy length");
    assert_eq!(dx.len(), d.len(), "layer_norm: dx length");
    assert_eq!(gamma.len(), d.cols, "layer_norm: gamma length");
    assert_eq!(dgamma.len(), d.cols, "layer_norm: dgamma length");
    assert_eq!(dbeta.len(), d.cols, "layer_norm: dbeta length");
    assert_eq!(mean.len(), d.rows, "layer_norm: mean length");
    assert_eq!(rstd.len(), d.rows, "layer_norm: rstd length");
    let cols = d.cols;
    if d.is_empty() {
        dgamma.fill(0.0);
        dbeta.fill(0.0);
        return;
    }
    let rows = units_per_task(cols);
    let inv_n = 1.0 / cols as f32;
    // Each task returns its partial [dγ | dβ].
    let parts: Vec<Vec<f32>> = dx
        .par_chunks_mut(rows * cols)
        .zip(x.par_chunks(rows * cols).zip(dy.par_chunks(rows * cols)))
        .zip(mean.par_chunks(rows).zip(rstd.par_chunks(rows)))
        .map(|((dxt, (xt, dyt)), (mt, rt))| {
            let mut acc = vec![0.0f32; 2 * cols];
            let (dg, db) = acc.split_at_mut(cols);
            for (r, ((dxr, xr), dyr)) in dxt.chunks_mut(cols).zip(xt.chunks(cols)).zip(dyt.chunks(cols)).enumerate() {
                let (mu, rs) = (mt[r], rt[r]);
                let mut sum_g = 0.0f32;
                let mut sum_g_xhat = 0.0f32;
                for c in 0..cols {
                    let xhat = (xr[c] - mu) * rs;
                    let g = dyr[c] * gamma[c];
                    sum_g += g;
                    sum_g_xhat += g * xhat;
                    dg[c] += dyr[c] * xhat;
                    db[c] += dyr[c];
                }
                let (mean_g, mean_g_xhat) = (sum_g * inv_n, sum_g_xhat * inv_n);
                for c in 0..cols {
                    let xhat = (xr[c] - mu) * rs;
                    dxr[c] = rs * (dyr[c] * gamma[c] - mean_g - xhat * mean_g_xhat);
                }
            }
            acc
        })
        .collect();
    let total = sum_partials(parts, 2 * cols);
    dgamma.copy_from_slice(&total[..cols]);
    dbeta.copy_from_slice(&total[cols..]);
}

fn check_channels(d: &BatchNormDims, what: &str, v: &[f32]) {
    assert_eq!(v.len(), d.c, "batch_norm: {what} length");
}

/// Per-channel sums of `width` quantities over (n, l): `f(ch, x_block, other_block, acc)` adds one sample's
/// channel block (`l` values of each input) into `acc[..width]`. Returns `[c, width]`.
fn channel_sums(
    d: &BatchNormDims,
    width: usize,
    a: &[f32],
    b: &[f32],
    f: impl Fn(usize, &[f32], &[f32], &mut [f64]) + Sync + Send,
) -> Vec<f64> {
    let sample = d.c * d.l;
    if sample == 0 {
        return vec![0.0; d.c * width];
    }
    let per = units_per_task(sample) * sample;
    let parts: Vec<Vec<f64>> = a
        .par_chunks(per)
        .zip(b.par_chunks(per))
        .map(|(at, bt)| {
            let mut acc = vec![0.0f64; d.c * width];
            for (sa, sb) in at.chunks(sample).zip(bt.chunks(sample)) {
                for ch in 0..d.c {
                    let blk = ch * d.l..(ch + 1) * d.l;
                    f(ch, &sa[blk.clone()], &sb[blk], &mut acc[ch * width..(ch + 1) * width]);
                }
            }
            acc
        })
        .collect();
    sum_partials(parts, d.c * width)
}

/// Applies `f(ch, in_a, in_b, out)` to every sample's channel block of `l` values, in parallel over samples.
fn per_block(
    d: &BatchNormDims,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    f: impl Fn(usize, &[f32], &[f32], &mut [f32]) + Sync + Send,
) {
    let sample = d.c * d.l;
    if sample == 0 || d.n == 0 {
        return;
    }
    let per = units_per_task(sample) * sample;
    out.par_chunks_mut(per).zip(a.par_chunks(per).zip(b.par_chunks(per))).for_each(|(ot, (at, bt))| {
        for ((so, sa), sb) in ot.chunks_mut(sample).zip(at.chunks(sample)).zip(bt.chunks(sample)) {
            for ch in 0..d.c {
                let blk = ch * d.l..(ch + 1) * d.l;
                f(ch, &sa[blk.clone()], &sb[blk.clone()], &mut so[blk]);
            }
        }
    });
}

/// Fast training-mode BatchNorm1d, same contract as `reference::batch_norm_forward_train`.
pub fn batch_norm_forward_train(
    d: &BatchNormDims,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    assert_eq!(x.len(), d.len(), "batch_norm: x length");
    assert_eq!(y.len(), d.len(), "batch_norm: y length");
    check_channels(d, "gamma", gamma);
    check_channels(d, "beta", beta);
    check_channels(d, "mean", mean);
    check_channels(d, "rstd", rstd);
    let inv_n = 1.0 / d.count() as f64;
    let sums = channel_sums(d, 1, x, x, |_, xb, _, acc| acc[0] += xb.iter().map(|&v| v as f64).sum::<f64>());
    let mu: Vec<f64> = sums.iter().map(|s| s * inv_n).collect();
    let sq = channel_sums(d, 1, x, x, |ch, xb, _, acc| {
        acc[0] += xb.iter().map(|&v| (v as f64 - mu[ch]).powi(2)).sum::<f64>()
    });
    for ch in 0..d.c {
        mean[ch] = mu[ch] as f32;
        rstd[ch] = (1.0 / (sq[ch] * inv_n + d.eps).sqrt()) as f32;
    }
    let (mean, rstd) = (&*mean, &*rstd);
    per_block(d, x, x, y, |ch, xb, _, yb| {
        let (mu, k, b) = (mean[ch], rstd[ch] * gamma[ch], beta[ch]);
        for (o, &v) in yb.iter_mut().zip(xb) {
            *o = (v - mu) * k + b;
        }
    });
}

/// Same contract as `reference::batch_norm_update_running` (a per-channel loop; nothing to speed up).
pub fn batch_norm_update_running(
    d: &BatchNormDims,
    mean: &[f32],
    rstd: &[f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    momentum: f64,
) {
    super::reference::batch_norm_update_running(d, mean, rstd, running_mean, running_var, momentum);
}

/// Fast evaluation-mode BatchNorm1d, same contract as `reference::batch_norm_forward_eval`.
pub fn batch_norm_forward_eval(
    d: &BatchNormDims,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    y: &mut [f32],
) {
    assert_eq!(x.len(), d.len(), "batch_norm: x length");
    assert_eq!(y.len(), d.len(), "batch_norm: y length");
    for (what, v) in [("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)] {
        check_channels(d, what, v);
    }
    let eps = d.eps as f32;
    let scale: Vec<f32> = (0..d.c).map(|ch| gamma[ch] / (running_var[ch] + eps).sqrt()).collect();
    per_block(d, x, x, y, |ch, xb, _, yb| {
        let (mu, k, b) = (running_mean[ch], scale[ch], beta[ch]);
        for (o, &v) in yb.iter_mut().zip(xb) {
            *o = (v - mu) * k + b;
        }
    });
}

/// Fast training-mode BatchNorm1d backward, same contract as `reference::batch_norm_backward_train`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward_train(
    d: &BatchNormDims,
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    assert_eq!(x.len(), d.len(), "batch_norm: x length");
    assert_eq!(dy.len(), d.len(), "batch_norm: dy length");
    assert_eq!(dx.len(), d.len(), "batch_norm: dx length");
    for (what, v) in [("gamma", gamma), ("mean", mean), ("rstd", rstd)] {
        check_channels(d, what, v);
    }
    check_channels(d, "dgamma", dgamma);
    check_channels(d, "dbeta", dbeta);
    let sums = dy_sums(d, x, dy, mean, rstd);
    for ch in 0..d.c {
        dbeta[ch] = sums[2 * ch] as f32;
        dgamma[ch] = sums[2 * ch + 1] as f32;
    }
    let count = d.count() as f32;
    let (dgamma, dbeta) = (&*dgamma, &*dbeta);
    per_block(d, x, dy, dx, |ch, xb, dyb, dxb| {
        let (mu, rs) = (mean[ch], rstd[ch]);
        let k = gamma[ch] * rs / count;
        for ((g, &v), &dyv) in dxb.iter_mut().zip(xb).zip(dyb) {
            *g = k * (count * dyv - dbeta[ch] - (v - mu) * rs * dgamma[ch]);
        }
    });
}

/// Per channel [Σdy, Σdy·x̂] with x̂ = (x − mu)·rs, interleaved as `[c, 2]`.
fn dy_sums(d: &BatchNormDims, x: &[f32], dy: &[f32], mu: &[f32], rs: &[f32]) -> Vec<f64> {
    channel_sums(d, 2, x, dy, |ch, xb, dyb, acc| {
        let (m, r) = (mu[ch], rs[ch]);
        for (&v, &g) in xb.iter().zip(dyb) {
            acc[0] += g as f64;
            acc[1] += (g * (v - m) * r) as f64;
        }
    })
}

/// Fast evaluation-mode BatchNorm1d backward, same contract as `reference::batch_norm_backward_eval`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward_eval(
    d: &BatchNormDims,
    x: &[f32],
    gamma: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    assert_eq!(x.len(), d.len(), "batch_norm: x length");
    assert_eq!(dy.len(), d.len(), "batch_norm: dy length");
    assert_eq!(dx.len(), d.len(), "batch_norm: dx length");
    for (what, v) in [("gamma", gamma), ("running_mean", running_mean), ("running_var", running_var)] {
        check_channels(d, what, v);
    }
    check_channels(d, "dgamma", dgamma);
    check_channels(d, "dbeta", dbeta);
    let eps = d.eps as f32;
    let rs: Vec<f32> = running_var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
    let sums = dy_sums(d, x, dy, running_mean, &rs);
    for ch in 0..d.c {
        dbeta[ch] = sums[2 * ch] as f32;
        dgamma[ch] = sums[2 * ch + 1] as f32;
    }
    per_block(d, dy, dy, dx, |ch, dyb, _, dxb| {
        let k = gamma[ch] * rs[ch];
        for (g, &dyv) in dxb.iter_mut().zip(dyb) {
            *g = dyv * k;
        }
    });
}

impl NormKernel for CpuBackend {
    fn layer_norm(&self, d: &LayerNormDims, x: &Storage, g: &Storage, b: &Storage) -> Result<Triple> {
        let (mut y, mut mean, mut rstd) = (buf(x.len()), buf(d.rows), buf(d.rows));
        layer_norm_forward(d, host(x)?, host(g)?, host(b)?, &mut y, &mut mean, &mut rstd);
        Ok((out(y), out(mean), out(rstd)))
    }

    fn layer_norm_backward(&self, d: &LayerNormDims, s: &LayerNormSaved, dy: &Storage) -> Result<Triple> {
        let LayerNormSaved { x, g, mean, rstd } = *s;
        let (mut dx, mut dg, mut db) = (buf(x.len()), buf(d.cols), buf(d.cols));
        layer_norm_backward(d, host(x)?, host(g)?, host(mean)?, host(rstd)?, host(dy)?, &mut dx, &mut dg, &mut db);
        Ok((out(dx), out(dg), out(db)))
    }

    fn batch_norm_train(&self, d: &BatchNormDims, x: &Storage, p: &BatchNormParams, mom: f32) -> Result<[Storage; 5]> {
        let BatchNormParams { g, b, rm, rv } = *p;
        d.check_train()?;
        let (mut y, mut mean, mut rstd) = (buf(x.len()), buf(d.c), buf(d.c));
        batch_norm_forward_train(d, host(x)?, host(g)?, host(b)?, &mut y, &mut mean, &mut rstd);
        let (mut rm, mut rv) = (host(rm)?.to_vec(), host(rv)?.to_vec());
        batch_norm_update_running(d, &mean, &rstd, &mut rm, &mut rv, mom as f64);
        Ok([out(y), out(mean), out(rstd), out(rm), out(rv)])
    }

    fn batch_norm_eval(&self, d: &BatchNormDims, x: &Storage, p: &BatchNormParams) -> Result<Storage> {
        let BatchNormParams { g, b, rm, rv } = *p;
        let mut y = buf(x.len());
        batch_norm_forward_eval(d, host(x)?, host(g)?, host(b)?, host(rm)?, host(rv)?, &mut y);
        Ok(out(y))
    }

    fn batch_norm_backward(&self, d: &BatchNormDims, s: &BatchNormSaved, dy: &Storage) -> Result<Triple> {
        let BatchNormSaved { train, x, g, a: stat_a, b: stat_b } = *s;
        let (mut dx, mut dg, mut db) = (buf(x.len()), buf(d.c), buf(d.c));
        let backward = if train { batch_norm_backward_train } else { batch_norm_backward_eval };
        backward(d, host(x)?, host(g)?, host(stat_a)?, host(stat_b)?, host(dy)?, &mut dx, &mut dg, &mut db);
        Ok((out(dx), out(dg), out(db)))
    }
}
