//! Fast CPU ensemble combiner (f32): the reference's arithmetic, in the same order, with batch rows spread over
//! the cores when there are enough of them; the `EnsembleKernel` impl of the CPU backend; plus the host-side
//! helpers that produce the kernel's inputs (`rolling_weights`, `regression_to_probs`).

use rayon::prelude::*;

use super::reference::{argmax, check};
use super::{check_grads, check_weights, EnsembleDims, EnsembleKernel, EnsembleRule, Grads};
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::{Storage, Triple};
use crate::Result;

/// Rows × members × classes at which the batch is split over rayon tasks.
const PAR_MIN_ELEMS: usize = 1 << 15;

/// W = Σ_m w_m of one row (member order); asserts it is positive.
fn row_total(w: &[f32]) -> f32 {
    let total: f32 = w.iter().sum();
    assert!(total > 0.0, "ensemble: member weights must have a positive sum");
    total
}

/// combined[k] = Σ_m w_m c_m p_m[k] / S for one row; returns S = Σ_m w_m c_m.
fn combine_row(p_row: &[f32], weights: &[f32], out: &mut [f32]) -> f32 {
    let nc = out.len();
    out.fill(0.0);
    let mut sum_wc = 0.0f32;
    for (pm, &w) in p_row.chunks_exact(nc).zip(weights) {
        let wc = w * pm[argmax(pm)];
        sum_wc += wc;
        for (o, &v) in out.iter_mut().zip(pm) {
            *o += wc * v;
        }
    }
    for o in out.iter_mut() {
        *o /= sum_wc;
    }
    sum_wc
}

/// See `reference::ensemble_forward` (weights [batch, members]).
#[allow(clippy::too_many_arguments)]
pub fn ensemble_forward(
    d: &EnsembleDims,
    p: &[f32],
    weights: &[f32],
    conf_threshold: f32,
    agreement: f32,
    combined: &mut [f32],
    confidence: &mut [f32],
    class: &mut [u32],
) {
    check(d, p, weights);
    assert_eq!(combined.len(), d.combined_len(), "ensemble: combined length");
    assert_eq!(confidence.len(), d.batch, "ensemble: confidence length");
    assert_eq!(class.len(), d.batch, "ensemble: class length");
    if d.batch == 0 {
        return;
    }
    let (nm, nc) = (d.members, d.classes);
    let row = |(b, ((out, conf), cls)): (usize, ((&mut [f32], &mut f32), &mut u32))| {
        let p_row = &p[b * nm * nc..(b + 1) * nm * nc];
        let w_row = &weights[b * nm..(b + 1) * nm];
        let total_w = row_total(w_row);
        let sum_wc = combine_row(p_row, w_row, out);
        let top = argmax(out);
        let mut agreeing_w = 0.0f32;
        for (pm, &w) in p_row.chunks_exact(nc).zip(w_row) {
            if argmax(pm) == top {
                agreeing_w += w;
            }
        }
        *conf = sum_wc / total_w;
        let passes = *conf >= conf_threshold && agreeing_w / total_w >= agreement;
        *cls = if passes { top as u32 } else { d.hold_class as u32 };
    };
    if d.p_len() >= PAR_MIN_ELEMS {
        combined.par_chunks_mut(nc).zip(confidence.par_iter_mut()).zip(class.par_iter_mut()).enumerate().for_each(row);
    } else {
        combined.chunks_mut(nc).zip(confidence.iter_mut()).zip(class.iter_mut()).enumerate().for_each(row);
    }
}

/// See `reference::ensemble_backward` (weights [batch, members]).
pub fn ensemble_backward(
    d: &EnsembleDims,
    p: &[f32],
    weights: &[f32],
    dcombined: &[f32],
    dconfidence: &[f32],
    dp: &mut [f32],
) {
    check(d, p, weights);
    assert_eq!(dcombined.len(), d.combined_len(), "ensemble backward: dcombined length");
    assert_eq!(dconfidence.len(), d.batch, "ensemble backward: dconfidence length");
    assert_eq!(dp.len(), d.p_len(), "ensemble backward: dp length");
    let (nm, nc) = (d.members, d.classes);
    if d.batch == 0 || nm == 0 {
        return;
    }
    // Per-call scratch: each row's combined probabilities, recomputed here rather than saved from forward.
    let mut combined = vec![0.0f32; d.combined_len()];
    let row = |(b, (dp_row, comb)): (usize, (&mut [f32], &mut [f32]))| {
        let p_row = &p[b * nm * nc..(b + 1) * nm * nc];
        let w_row = &weights[b * nm..(b + 1) * nm];
        let total_w = row_total(w_row);
        let sum_wc = combine_row(p_row, w_row, comb);
        let dcomb = &dcombined[b * nc..(b + 1) * nc];
        for ((pm, dpm), &w) in p_row.chunks_exact(nc).zip(dp_row.chunks_exact_mut(nc)).zip(w_row) {
            let top_m = argmax(pm);
            let wc = w * pm[top_m];
            let mut dot = 0.0f32;
            for k in 0..nc {
                dot += dcomb[k] * (pm[k] - comb[k]);
            }
            let dc = w / sum_wc * dot + dconfidence[b] * w / total_w;
            for (g, &dv) in dpm.iter_mut().zip(dcomb) {
                *g = dv * wc / sum_wc;
            }
            dpm[top_m] += dc;
        }
    };
    if d.p_len() >= PAR_MIN_ELEMS {
        dp.par_chunks_mut(nm * nc).zip(combined.par_chunks_mut(nc)).enumerate().for_each(row);
    } else {
        dp.chunks_mut(nm * nc).zip(combined.chunks_mut(nc)).enumerate().for_each(row);
    }
}

impl EnsembleKernel for CpuBackend {
    fn ensemble(&self, d: &EnsembleDims, p: &Storage, weights: &Storage, rule: EnsembleRule) -> Result<Triple> {
        d.check(p, weights)?;
        let (ps, ws) = (host(p)?, host(weights)?);
        check_weights(d, ws)?;
        let (mut comb, mut conf, mut cls) = (buf(d.combined_len()), buf(d.batch), vec![0u32; d.batch]);
        ensemble_forward(d, ps, ws, rule.conf_threshold, rule.agreement, &mut comb, &mut conf, &mut cls);
        Ok((out(comb), out(conf), out(cls.iter().map(|&c| c as f32).collect())))
    }

    fn ensemble_backward(&self, d: &EnsembleDims, p: &Storage, weights: &Storage, dy: Grads) -> Result<Storage> {
        d.check(p, weights)?;
        check_grads(d, dy)?;
        let Grads { dcombined, dconfidence } = dy;
        let (ps, ws) = (host(p)?, host(weights)?);
        check_weights(d, ws)?;
        let mut dp = buf(d.p_len());
        ensemble_backward(d, ps, ws, host(dcombined)?, host(dconfidence)?, &mut dp);
        Ok(out(dp))
    }
}

/// Member weights from rolling performance: softmax over members of (accuracy over each member's last
/// `window` scored predictions) / `temperature`; equal weights while any member has fewer than
/// `max(min_history, 1)` scored predictions (or when `window` is 0). `hit_history[m]` lists member m's scored
/// predictions, oldest first, true where the prediction was right. The weights sum to 1.
///
/// Panics unless `temperature` is positive and finite (a config value, validated where the config is read).
pub fn rolling_weights(hit_history: &[Vec<bool>], window: usize, temperature: f64, min_history: usize) -> Vec<f64> {
    assert!(temperature > 0.0 && temperature.is_finite(), "rolling_weights: temperature {temperature} must be > 0");
    let members = hit_history.len();
    let scored = hit_history.iter().map(Vec::len).min().unwrap_or(0);
    if members == 0 || window == 0 || scored < min_history.max(1) {
        return vec![1.0 / members as f64; members];
    }
    let scores: Vec<f64> = hit_history
        .iter()
        .map(|h| {
            let recent = &h[h.len() - window.min(h.len())..];
            let hits = recent.iter().filter(|&&hit| hit).count();
            hits as f64 / recent.len() as f64 / temperature
        })
        .collect();
    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Class probabilities [up, down, hold] of a regression member: its next-horizon return is taken as
/// r ~ N(pred, spread²) (spread: the member's residual standard deviation), so up = P(r > θ),
/// down = P(r < −θ), hold = the rest. θ is a magnitude (|θ| is used). A spread that is not positive (no
/// residual history yet, or a perfect member) gives the deterministic answer for `pred` itself.
pub fn regression_to_probs(pred: f64, theta: f64, spread: f64) -> [f64; 3] {
    let theta = theta.abs();
    if spread.is_nan() || spread <= 0.0 {
        return if pred > theta {
            [1.0, 0.0, 0.0]
        } else if pred < -theta {
            [0.0, 1.0, 0.0]
        } else {
            [0.0, 0.0, 1.0]
        };
    }
    let up = normal_cdf((pred - theta) / spread);
    let down = normal_cdf((-theta - pred) / spread);
    [up, down, (1.0 - up - down).max(0.0)]
}

/// Φ(z), the standard normal CDF, to ~1e-14 relative (both tails): Φ(z) = erfc(−z/√2)/2.
pub(crate) fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// erfc(x): a power series for |x| < 2.5 and Laplace's continued fraction beyond, both accurate to ~1e-14
/// relative where they are used (the series loses at most ~3 digits to 1 − erf near 2.5).
fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    if x < 2.5 {
        // erf(x) = 2/√π · e^{−x²} · Σ_n (2x²)^n x / (1·3·…·(2n+1)): all terms positive, no cancellation.
        let (mut term, mut sum, mut n) = (x, x, 0.0f64);
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * x * x / (2.0 * n + 1.0);
            sum += term;
        }
        return 1.0 - two_over_sqrt_pi * (-x * x).exp() * sum;
    }
    // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from the tail.
    let mut f = x;
    for n in (1..=60).rev() {
        f = x + (n as f64 / 2.0) / f;
    }
    0.5 * two_over_sqrt_pi * (-x * x).exp() / f
}
