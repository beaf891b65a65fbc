//! Fused optimizer updates and global-norm clipping that stay on the parameter's device.
//!
//! PyTorch's single-tensor `torch.optim` rules, step for step, so a trajectory matches `torch.optim` to float
//! rounding (the tests pin N steps against a PyTorch fixture):
//! ```text
//! clipping (clip_grad_norm_):  total = Σ_tensors Σ g²          (squared_norm, over the whole group)
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
//! of every new parameter per step, plus a synchronisation for the clip decision; and one launch per tensor costs a
//! launch (and on wgpu a submit) per tensor, which for a model of many small tensors is most of the step. Here
//! every call takes a *tensor group* (all parameters of one model) and a step is a fixed number of launches,
//! multi-tensor style: the squared norm in two (per-block partial sums, then one block adding them in a fixed
//! order: deterministic, no atomics), the clip factor in one, the update in one. Nothing is read back.
//! - CUDA (`cuda.rs`): PyTorch's `multi_tensor_apply`: the tensors' addresses and lengths travel as one kernel
//!   argument by value, up to 48 tensors a launch (the 4 KiB kernel-parameter limit); a group of more tensors
//!   takes one launch per 48. Nothing is uploaded, so the caching allocator may place buffers anywhere.
//! - WGSL (`wgpu.rs`): a dispatch cannot bind a run-time number of buffers, so a group is packed into slabs (one
//!   buffer per role, each tensor at an aligned offset); parameters and moments come back as views of the output
//!   slabs and need no packing the next step, gradients are copied in with one device → device copy per tensor
//!   in the same submit. A slab is bounded by the adapter's largest storage binding; a bigger group takes
//!   several.
//! - CPU (`cpu.rs`): the whole group's chunks are one parallel loop.
//!
//! The updates are functional (new p, m, v buffers): with the device's caching allocator the old buffers are
//! reused the next step, so a warm step asks the driver for no memory.
//!
//! Memory traffic per element: Adam reads p, g, m, v and writes p, m, v (28 bytes); SGD 20 bytes; the squared
//! norm reads g once (on wgpu the gradient copy adds 8 bytes). All memory bound. Variants: `reference` (plain
//! loops, generic over `Real`, the spec), `cpu` (the same loops in f32 with the squared sum in f64 per tensor),
//! `cuda` / `wgpu` (one thread per element for the updates, grid-stride).

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

/// One parameter tensor of an Adam group update: its buffers, all of one length.
#[derive(Clone, Copy)]
pub struct AdamSlot<'a> {
    pub p: &'a Storage,
    pub g: &'a Storage,
    pub m: &'a Storage,
    pub v: &'a Storage,
}

/// One parameter tensor of an SGD group update: the parameter, its gradient and its momentum buffer.
#[derive(Clone, Copy)]
pub struct SgdSlot<'a> {
    pub p: &'a Storage,
    pub g: &'a Storage,
    pub buf: &'a Storage,
}

/// The optimizer family: the global squared norm, the clip factor and the updates of a whole tensor group (all
/// parameters of one model), each a fixed number of launches whatever the number of tensors, all on the device.
pub trait OptimKernel {
    /// Σ_tensors Σ g² as one value: the group's global squared norm, without a read back.
    fn squared_norm(&self, gs: &[&Storage]) -> Result<Storage>;
    /// min(1, max_norm/(√total + 1e-6)) as one value: `clip_grad_norm_`'s factor. `total` holds one value.
    fn clip_factor(&self, total: &Storage, max_norm: f32) -> Result<Storage>;
    /// One Adam/AdamW update of every tensor of the group, each gradient scaled by `scale` (one value): the new
    /// (p, m, v) of each, in order.
    fn adam_group(&self, ts: &[AdamSlot<'_>], scale: &Storage, s: &AdamStep) -> Result<Vec<Triple>>;
    /// One SGD update of every tensor of the group: the new (p, momentum buffer) of each. With μ = 0 the buffers
    /// come back unchanged in value.
    fn sgd_group(&self, ts: &[SgdSlot<'_>], scale: &Storage, s: &SgdStep) -> Result<Vec<Pair>>;
}

/// The element count of each tensor of an Adam group, after checking that g, m and v have p's length and
/// `scale` holds one value.
pub fn adam_lens(ts: &[AdamSlot<'_>], scale: &Storage) -> Result<Vec<usize>> {
    group_lens("adam update", scale, ts.iter().map(|t| (t.p, [("g", t.g), ("m", t.m), ("v", t.v)])))
}

/// The element count of each tensor of an SGD group, after the same checks as [`adam_lens`].
pub fn sgd_lens(ts: &[SgdSlot<'_>], scale: &Storage) -> Result<Vec<usize>> {
    group_lens("sgd update", scale, ts.iter().map(|t| (t.p, [("g", t.g), ("momentum buffer", t.buf)])))
}

/// p's length for each tensor of a group, after checking that `scale` holds one value and every other buffer of
/// the tensor (named as the error names it) has p's length.
fn group_lens<'a, const N: usize>(
    op: &str,
    scale: &Storage,
    ts: impl Iterator<Item = (&'a Storage, [(&'static str, &'a Storage); N])>,
) -> Result<Vec<usize>> {
    expect_len(&format!("{op}: scale"), scale.len(), 1)?;
    ts.enumerate()
        .map(|(i, (p, others))| {
            let n = p.len();
            for (name, s) in others {
                expect_len(&format!("{op}: tensor {i} of the group: {name}"), s.len(), n)?;
            }
            Ok(n)
        })
        .collect()
}
