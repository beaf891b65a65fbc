//! Reference optimizer updates: one loop each, generic over `Real`, in the order of operations of PyTorch's
//! single-tensor `torch.optim` code (module docs of `ops::optim`). A group update is the per-tensor update applied
//! to each tensor of the group: the multi-tensor kernels change how the work is launched, not what it computes.

use super::{AdamStep, SgdStep};
use crate::ops::Real;

/// Σ_tensors Σ g²: a group's global squared norm.
pub fn squared_norm<T: Real>(gs: &[&[T]]) -> T {
    gs.iter().flat_map(|g| g.iter()).fold(T::zero(), |s, &x| s + x * x)
}

/// min(1, max_norm/(√total + 1e-6)).
pub fn clip_factor<T: Real>(total: T, max_norm: T) -> T {
    (max_norm / (total.sqrt() + T::c(1e-6))).min(T::one())
}

/// One Adam/AdamW update in place of (p, m, v), the gradient first scaled by `scale`.
pub fn adam_update<T: Real>(s: &AdamStep, scale: T, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
    assert!(g.len() == p.len() && m.len() == p.len() && v.len() == p.len(), "adam: lengths");
    let c = |x: f32| T::c(x as f64);
    for i in 0..p.len() {
        let gi = g[i] * scale + c(s.l2) * p[i];
        let pi = p[i] * c(s.decay);
        m[i] = m[i] + c(s.w1) * (gi - m[i]);
        v[i] = v[i] * c(s.beta2) + c(s.w2) * gi * gi;
        let denom = v[i].sqrt() / c(s.bc2_sqrt) + c(s.eps);
        p[i] = pi + c(s.neg_step) * m[i] / denom;
    }
}

/// One SGD update in place of (p, buf).
pub fn sgd_update<T: Real>(s: &SgdStep, scale: T, p: &mut [T], g: &[T], buf: &mut [T]) {
    assert!(g.len() == p.len() && buf.len() == p.len(), "sgd: lengths");
    let c = |x: f32| T::c(x as f64);
    for i in 0..p.len() {
        let gi = g[i] * scale + c(s.l2) * p[i];
        let step = if s.momentum == 0.0 {
            gi
        } else {
            buf[i] = if s.first { gi } else { buf[i] * c(s.momentum) + gi };
            buf[i]
        };
        p[i] = p[i] + c(s.neg_lr) * step;
    }
}
