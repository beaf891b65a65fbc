//! Reference attention: loops per head and query row over named indices, generic over `Real`.

use super::AttentionDims;
use crate::ops::Real;

/// s_ij = scale · q_i · k_j for head `h`.
fn score<T: Real>(d: &AttentionDims, q: &[T], k: &[T], h: usize, i: usize, j: usize) -> T {
    let qi = &q[(h * d.tq + i) * d.d..][..d.d];
    let kj = &k[(h * d.tk + j) * d.d..][..d.d];
    let mut s = T::zero();
    for c in 0..d.d {
        s = s + qi[c] * kj[c];
    }
    s * T::c(d.scale)
}

/// o = softmax(scale·q·kᵀ, masked)·v, and lse = log Σ exp of the visible scores of each query row.
pub fn attention_forward<T: Real>(d: &AttentionDims, q: &[T], k: &[T], v: &[T], o: &mut [T], lse: &mut [T]) {
    assert_eq!(q.len(), d.q_len(), "attention: q length");
    assert_eq!(k.len(), d.k_len(), "attention: k length");
    assert_eq!(v.len(), d.v_len(), "attention: v length");
    assert_eq!(o.len(), d.o_len(), "attention: o length");
    assert_eq!(lse.len(), d.lse_len(), "attention: lse length");
    for h in 0..d.bh {
        for i in 0..d.tq {
            let nk = d.visible_keys(i);
            let row = h * d.tq + i;
            let mut m = T::neg_infinity();
            for j in 0..nk {
                m = m.max(score(d, q, k, h, i, j));
            }
            let mut sum = T::zero();
            for j in 0..nk {
                sum = sum + (score(d, q, k, h, i, j) - m).exp();
            }
            // No visible key: empty sum, lse = −∞ and o = 0.
            lse[row] = if nk == 0 { T::neg_infinity() } else { m + sum.ln() };
            for c in 0..d.dv {
                o[row * d.dv + c] = T::zero();
            }
            for j in 0..nk {
                let p = (score(d, q, k, h, i, j) - lse[row]).exp();
                for c in 0..d.dv {
                    o[row * d.dv + c] = o[row * d.dv + c] + p * v[(h * d.tk + j) * d.dv + c];
                }
            }
        }
    }
}

/// The softmax weights p_ij = exp(s_ij − lse_i) (0 where masked), rebuilt from the saved lse.
pub fn attention_weights<T: Real>(d: &AttentionDims, q: &[T], k: &[T], lse: &[T], w: &mut [T]) {
    assert_eq!(q.len(), d.q_len(), "attention: q length");
    assert_eq!(k.len(), d.k_len(), "attention: k length");
    assert_eq!(lse.len(), d.lse_len(), "attention: lse length");
    assert_eq!(w.len(), d.weights_len(), "attention: weights length");
    for h in 0..d.bh {
        for i in 0..d.tq {
            let row = h * d.tq + i;
            let nk = d.visible_keys(i);
            for j in 0..d.tk {
                w[row * d.tk + j] = if j < nk { (score(d, q, k, h, i, j) - lse[row]).exp() } else { T::zero() };
            }
        }
    }
}

/// dq, dk, dv for upstream `do_` (the gradient of o), from the forward's inputs, its output o and its lse.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward<T: Real>(
    d: &AttentionDims,
    q: &[T],
    k: &[T],
    v: &[T],
    o: &[T],
    lse: &[T],
    do_: &[T],
    dq: &mut [T],
    dk: &mut [T],
    dv: &mut [T],
) {
    assert_eq!(q.len(), d.q_len(), "attention: q length");
    assert_eq!(k.len(), d.k_len(), "attention: k length");
    assert_eq!(v.len(), d.v_len(), "attention: v length");
    assert_eq!(o.len(), d.o_len(), "attention: o length");
    assert_eq!(lse.len(), d.lse_len(), "attention: lse length");
    assert_eq!(do_.len(), d.o_len(), "attention: do length");
    assert_eq!(dq.len(), d.q_len(), "attention: dq length");
    assert_eq!(dk.len(), d.k_len(), "attention: dk length");
    assert_eq!(dv.len(), d.v_len(), "attention: dv length");
    dq.fill(T::zero());
    dk.fill(T::zero());
    dv.fill(T::zero());
    let scale = T::c(d.scale);
    for h in 0..d.bh {
        for i in 0..d.tq {
            let row = h * d.tq + i;
            let do_i = &do_[row * d.dv..][..d.dv];
            // D_i = Σ_c do_ic · o_ic  (= Σ_j p_ij · dp_ij)
            let mut big_d = T::zero();
            for c in 0..d.dv {
                big_d = big_d + do_i[c] * o[row * d.dv + c];
            }
            for j in 0..d.visible_keys(i) {
                let p = (score(d, q, k, h, i, j) - lse[row]).exp();
                let key = h * d.tk + j;
                let mut dp = T::zero();
                for c in 0..d.dv {
                    dv[key * d.dv + c] = dv[key * d.dv + c] + p * do_i[c];
                    dp = dp + do_i[c] * v[key * d.dv + c];
                }
                let ds = p * (dp - big_d);
                for c in 0..d.d {
                    dq[row * d.d + c] = dq[row * d.d + c] + scale * ds * k[key * d.d + c];
                    dk[key * d.d + c] = dk[key * d.d + c] + scale * ds * q[row * d.d + c];
                }
            }
        }
    }
}
