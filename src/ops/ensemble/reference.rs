//! Plain-loop ensemble combiner: the oracle for the fast kernels (formulas in the module doc).

// Loops over named indices (m, k) on purpose: they read like the formulas.
#![allow(clippy::needless_range_loop)]

use super::EnsembleDims;
use crate::ops::Real;

/// Index of the first maximum (NaN never wins a comparison, so a row of NaN gives 0).
pub(crate) fn argmax<T: Real>(v: &[T]) -> usize {
    let mut best = 0;
    for (k, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = k;
        }
    }
    best
}

/// The shape checks of both directions (the fast CPU kernels share them).
pub(super) fn check<T: Real>(d: &EnsembleDims, p: &[T], weights: &[T]) {
    assert_eq!(p.len(), d.p_len(), "ensemble: p length");
    assert_eq!(weights.len(), d.weights_len(), "ensemble: weights length");
    assert!(
        d.classes > 0 && d.hold_class < d.classes,
        "ensemble: hold_class {} of {} classes",
        d.hold_class,
        d.classes
    );
}

/// W = Σ_m w_m of one row, in member order; asserts it is positive.
fn row_total<T: Real>(w: &[T]) -> T {
    let mut total = T::zero();
    for m in 0..w.len() {
        total = total + w[m];
    }
    assert!(total > T::zero(), "ensemble: member weights must have a positive sum");
    total
}

/// combined[k] = Σ_m w_m c_m p_m[k] / S for one row (`member(m)` = p_m); returns S = Σ_m w_m c_m.
fn combine_row<'p, T: Real>(member: &impl Fn(usize) -> &'p [T], weights: &[T], out: &mut [T]) -> T {
    out.fill(T::zero());
    let mut sum_wc = T::zero();
    for m in 0..weights.len() {
        let pm = member(m);
        let wc = weights[m] * pm[argmax(pm)];
        sum_wc = sum_wc + wc;
        for k in 0..out.len() {
            out[k] = out[k] + wc * pm[k];
        }
    }
    for v in out.iter_mut() {
        *v = *v / sum_wc;
    }
    sum_wc
}

/// combined [batch, classes], confidence [batch], class [batch] from p [batch, members, classes] and weights
/// [batch, members].
#[allow(clippy::too_many_arguments)]
pub fn ensemble_forward<T: Real>(
    d: &EnsembleDims,
    p: &[T],
    weights: &[T],
    conf_threshold: T,
    agreement: T,
    combined: &mut [T],
    confidence: &mut [T],
    class: &mut [u32],
) {
    check(d, p, weights);
    assert_eq!(combined.len(), d.combined_len(), "ensemble: combined length");
    assert_eq!(confidence.len(), d.batch, "ensemble: confidence length");
    assert_eq!(class.len(), d.batch, "ensemble: class length");
    let (nm, nc) = (d.members, d.classes);
    for b in 0..d.batch {
        let member = |m: usize| &p[(b * nm + m) * nc..(b * nm + m + 1) * nc];
        let weights = &weights[b * nm..(b + 1) * nm];
        let total_w = row_total(weights);
        let out = &mut combined[b * nc..(b + 1) * nc];
        let sum_wc = combine_row(&member, weights, out);
        let conf = sum_wc / total_w;
        let top = argmax(out);
        let mut agreeing_w = T::zero();
        for m in 0..nm {
            if argmax(member(m)) == top {
                agreeing_w = agreeing_w + weights[m];
            }
        }
        let share = agreeing_w / total_w;
        confidence[b] = conf;
        let passes = conf >= conf_threshold && share >= agreement;
        class[b] = if passes { top as u32 } else { d.hold_class as u32 };
    }
}

/// dp [batch, members, classes] from dcombined [batch, classes] and dconfidence [batch] (weights [batch, members]).
pub fn ensemble_backward<T: Real>(
    d: &EnsembleDims,
    p: &[T],
    weights: &[T],
    dcombined: &[T],
    dconfidence: &[T],
    dp: &mut [T],
) {
    check(d, p, weights);
    assert_eq!(dcombined.len(), d.combined_len(), "ensemble backward: dcombined length");
    assert_eq!(dconfidence.len(), d.batch, "ensemble backward: dconfidence length");
    assert_eq!(dp.len(), d.p_len(), "ensemble backward: dp length");
    let (nm, nc) = (d.members, d.classes);
    let mut combined = vec![T::zero(); nc];
    for b in 0..d.batch {
        let member = |m: usize| &p[(b * nm + m) * nc..(b * nm + m + 1) * nc];
        let weights = &weights[b * nm..(b + 1) * nm];
        let total_w = row_total(weights);
        // Recompute S and combined (cheap; saves a buffer between forward and backward).
        let sum_wc = combine_row(&member, weights, &mut combined);
        let dcomb = &dcombined[b * nc..(b + 1) * nc];
        for m in 0..nm {
            let pm = member(m);
            let top_m = argmax(pm);
            let wc = weights[m] * pm[top_m];
            let mut dot = T::zero();
            for k in 0..nc {
                dot = dot + dcomb[k] * (pm[k] - combined[k]);
            }
            let dc = weights[m] / sum_wc * dot + dconfidence[b] * weights[m] / total_w;
            let dpm = &mut dp[(b * nm + m) * nc..(b * nm + m + 1) * nc];
            for k in 0..nc {
                dpm[k] = dcomb[k] * wc / sum_wc;
            }
            dpm[top_m] = dpm[top_m] + dc;
        }
    }
}
