//! Layer normalisation over the last dimension and 1-d batch normalisation over (batch, length) per channel.
//!
//! **LayerNorm**, x `[rows, cols]`, gamma/beta `[cols]`: per row `μ = mean(x)`, `σ² = mean((x − μ)²)` (biased),
//! `rstd = 1/√(σ² + eps)`, `x̂ = (x − μ)·rstd`, `y = x̂·γ + β`. Forward also writes `mean` and `rstd` `[rows]`,
//! which the backward needs (with x and γ): with `g = dy·γ`,
//! `dx = rstd·(g − mean(g) − x̂·mean(g·x̂))`, `dγ = Σ_rows dy·x̂`, `dβ = Σ_rows dy`.
//! A layer without affine parameters passes γ = 1, β = 0 and ignores dγ, dβ.
//!
//! **BatchNorm1d**, x `[n, c, l]` (`l = 1` for a 2-d `[n, c]` input), gamma/beta and the statistics `[c]`;
//! each channel is normalised over its `N = n·l` values.
//! - train forward: batch mean and BIASED variance normalise (as PyTorch), writing `mean` and `rstd` for
//!   the backward; `batch_norm_update_running` then moves the running statistics with the UNBIASED batch
//!   variance `σ²·N/(N−1)`: `running = (1 − momentum)·running + momentum·batch` (PyTorch's default momentum
//!   is 0.1; its `momentum=None` cumulative average is `momentum = 1/num_batches_tracked`). PyTorch refuses
//!   training with `N = 1`; the tensor op must too (the helper asserts).
//! - train backward (the statistics depend on x): `dx = γ·rstd/N·(N·dy − Σdy − x̂·Σ(dy·x̂))`,
//!   `dγ = Σ dy·x̂`, `dβ = Σ dy`, sums over (n, l) per channel.
//! - eval forward uses `running_mean`/`running_var` and is affine in x: `dx = dy·γ/√(running_var + eps)`,
//!   with dγ, dβ as above using the running-statistics x̂.
//!
//! `eps` is an f64 (PyTorch's Python float) and is rounded to f32 in the f32 kernels.
//!
//! Memory traffic: LayerNorm forward reads x twice per row from cache and once from DRAM, writes y once;
//! BatchNorm train forward reads x three times (mean, variance, normalise: two-pass variance for accuracy)
//! and writes y once; the backwards read x and dy twice and write dx once.
//!
//! Variants: `reference.rs` (plain loops, `Real`, the oracle), `cpu.rs` (f32; LayerNorm parallel over tasks of
//! rows, dγ/dβ from per-task partial sums combined in a fixed order so results are deterministic; BatchNorm
//! per-channel sums from per-task partials over samples, which reads x in storage order whatever `l` is).

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod op;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::{Storage, Triple};
use crate::Result;

/// LayerNorm over the last dimension of a `[rows, cols]` matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNormDims {
    pub rows: usize,
    pub cols: usize,
    pub eps: f64,
}

impl LayerNormDims {
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// BatchNorm1d over x `[n, c, l]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormDims {
    pub n: usize,
    pub c: usize,
    pub l: usize,
    pub eps: f64,
}

impl BatchNormDims {
    /// Training needs more than one value per channel (the unbiased running variance divides by count − 1): the
    /// one check every device runs before a training forward.
    pub fn check_train(&self) -> Result<()> {
        if self.count() < 2 {
            return Err(crate::Error::Invalid(format!(
                "batch norm training needs more than one value per channel, found {} (n = {}, l = {})",
                self.count(),
                self.n,
                self.l
            )));
        }
        Ok(())
    }
    pub fn len(&self) -> usize {
        self.n * self.c * self.l
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Values per channel, `N = n·l`.
    pub fn count(&self) -> usize {
        self.n * self.l
    }
    /// Flat index of x[i, ch, t].
    pub fn index(&self, i: usize, ch: usize, t: usize) -> usize {
        (i * self.c + ch) * self.l + t
    }
}

/// What a layer-norm backward reads: the forward's input and scale, and the per-row statistics it saved.
#[derive(Clone, Copy, Debug)]
pub struct LayerNormSaved<'a> {
    pub x: &'a Storage,
    pub g: &'a Storage,
    pub mean: &'a Storage,
    pub rstd: &'a Storage,
}

/// The per-channel tensors of a batch norm, [c] each: scale, shift, running mean and running variance.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormParams<'a> {
    pub g: &'a Storage,
    pub b: &'a Storage,
    pub rm: &'a Storage,
    pub rv: &'a Storage,
}

/// What a batch-norm backward reads: the forward's input and scale, and the statistics it normalised with — the
/// batch mean and rstd in training (`train`), the running mean and variance in eval.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormSaved<'a> {
    pub train: bool,
    pub x: &'a Storage,
    pub g: &'a Storage,
    pub a: &'a Storage,
    pub b: &'a Storage,
}

/// Layer norm and batch norm (training and eval), forward and backward.
pub trait NormKernel {
    /// (y, mean, rstd).
    fn layer_norm(&self, d: &LayerNormDims, x: &Storage, g: &Storage, b: &Storage) -> Result<Triple>;
    /// (dx, dgamma, dbeta).
    fn layer_norm_backward(&self, d: &LayerNormDims, s: &LayerNormSaved, dy: &Storage) -> Result<Triple>;
    /// Training-mode batch norm with momentum `mom`: (y, batch mean, batch rstd, updated running mean, updated
    /// running var).
    fn batch_norm_train(&self, d: &BatchNormDims, x: &Storage, p: &BatchNormParams, mom: f32) -> Result<[Storage; 5]>;
    fn batch_norm_eval(&self, d: &BatchNormDims, x: &Storage, p: &BatchNormParams) -> Result<Storage>;
    /// (dx, dgamma, dbeta).
    fn batch_norm_backward(&self, d: &BatchNormDims, s: &BatchNormSaved, dy: &Storage) -> Result<Triple>;
}
