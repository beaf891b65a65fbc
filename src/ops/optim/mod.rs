//! Fused optimizer updates and global-norm clipping that stay on the parameter's device.
//!
//! PyTorch's single-tensor `torch.optim` rules, step for step, so a trajectory matches `torch.optim` to float
//! rounding (the tests pin N steps against a PyTorch fixture):
//! ```text
//! clipping (clip_grad_norm_):  total = Σ_tensors Σ g²          (sum_squares, chained over the gradients)
//!                              c     = min(1, max_norm/(√total + 1e-6))   (clip_factor; one value, on the device)
//!                              g     = g·c                     (every update reads c from device memory)
//! Adam  (L2):   g = g + wd·p                                   AdamW: p = p·(1 − lr·wd)
//!               m = m + (1 − β1)·(g − m)                        (torch's lerp form, weight < 0.5)
//!               v = v·β2 + ((1 − β2)·g)·g                       (addcmul)
//!               p = p + (−lr/(1 − β1^t))·m / (√v/√(1 − β2^t) + ε)   (addcdiv)
//! SGD:          g = g + wd·p
//!               b = g on the first step, else b·μ + g           (momentum buffer; skipped when μ = 0)
//!               p = p + (−lr)·b
//! ```
//! The scalars (1 − lr·wd, 1 − β1, the bias corrections) are computed on the host in f64 and rounded to f32
//! once, as PyTorch's Python floats are (`AdamStep::new`), so every device multiplies by the same numbers.
//!
//! Why these kernels exist: updating on host copies costs a download of every parameter and gradient and an upload
//! of every new parameter per step, plus a synchronisation for the clip decision. Here a step is, per tensor, one
//! `sum_squares` launch and one update launch, plus one `clip_factor` launch per step; nothing is read back.
//! The updates are functional (new p, m, v buffers): with the device's caching allocator the old buffers are
//! reused the next step, so a warm step asks the driver for no memory.
//!
//! Memory traffic per element: Adam reads p, g, m, v and writes p, m, v (28 bytes); SGD 20 bytes; `sum_squares`
//! reads g once. All memory bound. Variants: `reference` (plain loops, generic over `Real`, the spec), `cpu` (the
//! same loops in f32 with the squared sum in f64), `cuda` / `wgpu` (one thread per element for the updates; one
//! block striding the tensor for the squared sum, so the sum is deterministic: no atomics).

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::{expect_len, Pair, Storage, Triple};
use crate::{Error, Result};

/// The hyperparameters of Adam/AdamW, in f64 like PyTorch's Python floats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW (decay applied to the weights) instead of Adam's L2 term added to the gradient.
    pub decoupled: bool,
}

impl AdamConfig {
    pub fn check(&self) -> Result<()> {
        let ok = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v < hi;
        if !(ok(self.lr, 0.0, f64::INFINITY) && ok(self.eps, 0.0, f64::INFINITY)) {
            return Err(Error::config("adam", format!("lr and eps must be finite and >= 0, found {self:?}")));
        }
        if !(ok(self.beta1, 0.0, 1.0) && ok(self.beta2, 0.0, 1.0)) {
            return Err(Error::config("adam", format!("betas must be in [0, 1), found {self:?}")));
        }
        if !ok(self.weight_decay, 0.0, f64::INFINITY) {
            return Err(Error::config("adam", format!("weight decay must be finite and >= 0, found {self:?}")));
        }
        Ok(())
    }
}

/// One Adam step's f32 scalars, rounded once from the f64 formulas (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// 1 − lr·wd for AdamW, 1 for Adam.
    pub decay: f32,
    /// wd for Adam's L2 term, 0 for AdamW.
    pub l2: f32,
    /// 1 − β1 (the lerp weight).
    pub w1: f32,
    pub beta2: f32,
    /// 1 − β2.
    pub w2: f32,
    /// √(1 − β2^t).
    pub bc2_sqrt: f32,
    /// −lr/(1 − β1^t).
    pub neg_step: f32,
    pub eps: f32,
}

impl AdamStep {
    /// The scalars of step `t` (1-based: the first update is t = 1).
    pub fn new(c: &AdamConfig, t: u64) -> Result<AdamStep> {
        c.check()?;
        if t == 0 {
            return Err(Error::Invalid("adam: steps count from 1, found step 0".into()));
        }
        let t = t.min(i32::MAX as u64) as i32;
        let (decay, l2) = if c.decoupled { (1.0 - c.lr * c.weight_decay, 0.0) } else { (1.0, c.weight_decay) };
        Ok(AdamStep {
            decay: decay as f32,
            l2: l2 as f32,
            w1: (1.0 - c.beta1) as f32,
            beta2: c.beta2 as f32,
            w2: (1.0 - c.beta2) as f32,
            bc2_sqrt: (1.0 - c.beta2.powi(t)).sqrt() as f32,
            neg_step: (-c.lr / (1.0 - c.beta1.powi(t))) as f32,
            eps: c.eps as f32,
        })
    }
}

/// One SGD step's f32 scalars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    pub neg_lr: f32,
    pub momentum: f32,
    pub l2: f32,
    /// The first step starts the momentum buffer at the gradient instead of decaying it.
    pub first: bool,
}

impl SgdStep {
    pub fn new(lr: f64, momentum: f64, weight_decay: f64, first: bool) -> Result<SgdStep> {
        let fine = |v: f64| v.is_finite() && v >= 0.0;
        if !(fine(lr) && fine(momentum) && fine(weight_decay)) {
            return Err(Error::config(
                "sgd",
                format!(
                    "lr, momentum and weight decay must be finite and >= 0, found {lr}, {momentum}, {weight_decay}"
                ),
            ));
        }
        Ok(SgdStep { neg_lr: -lr as f32, momentum: momentum as f32, l2: weight_decay as f32, first })
    }
}

/// A parameter tensor's buffers for one Adam update (all of one length).
pub struct AdamArgs<'a> {
    pub p: &'a Storage,
    pub g: &'a Storage,
    pub m: &'a Storage,
    pub v: &'a Storage,
    /// One value: the clip factor from `clip_factor` (a buffer holding 1 when not clipping).
    pub scale: &'a Storage,
}

/// The optimizer family: fused per-tensor updates and the global-norm clip factor, all on the device.
pub trait OptimKernel {
    /// acc + Σ g² as one value. Chained over a model's gradients it gives the global squared norm without a read
    /// back. `acc` holds one value.
    fn sum_squares(&self, g: &Storage, acc: &Storage) -> Result<Storage>;
    /// min(1, max_norm/(√total + 1e-6)) as one value: `clip_grad_norm_`'s factor. `total` holds one value.
    fn clip_factor(&self, total: &Storage, max_norm: f32) -> Result<Storage>;
    /// One Adam/AdamW update: the new (p, m, v).
    fn adam_update(&self, a: &AdamArgs<'_>, s: &AdamStep) -> Result<Triple>;
    /// One SGD update: the new (p, momentum buffer). With μ = 0 the buffer comes back unchanged in value.
    fn sgd_update(&self, p: &Storage, g: &Storage, buf: &Storage, scale: &Storage, s: &SgdStep) -> Result<Pair>;
}

impl AdamArgs<'_> {
    /// The element count, after checking that g, m and v have p's length and `scale` holds one value.
    pub fn checked_len(&self) -> Result<usize> {
        let n = self.p.len();
        for (name, s) in [("g", self.g), ("m", self.m), ("v", self.v)] {
            expect_len(&format!("adam_update: {name}"), s.len(), n)?;
        }
        expect_len("adam_update: scale", self.scale.len(), 1)?;
        Ok(n)
    }
}

/// The element count of an SGD update, after the same checks as `AdamArgs::checked_len`.
pub fn sgd_len(p: &Storage, g: &Storage, buf: &Storage, scale: &Storage) -> Result<usize> {
    let n = p.len();
    expect_len("sgd_update: g", g.len(), n)?;
    expect_len("sgd_update: momentum buffer", buf.len(), n)?;
    expect_len("sgd_update: scale", scale.len(), 1)?;
    Ok(n)
}
