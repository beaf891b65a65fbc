//! Softmax and log-softmax along the last dimension of a `[rows, cols]` matrix.
//!
//! Forward, per row, numerically stable (the row max is subtracted before `exp`, so no overflow for any
//! finite input): `m = max_j x_j`, `s = Σ_j exp(x_j − m)`,
//! - softmax: `y_j = exp(x_j − m) / s`
//! - log-softmax: `y_j = x_j − m − ln s`
//!
//! Backward uses the forward OUTPUT, not the input (it is what both the autodiff and a fused
//! cross-entropy keep):
//! - softmax: `dx_j = y_j · (dy_j − Σ_k dy_k·y_k)`
//! - log-softmax: `dx_j = dy_j − exp(y_j) · Σ_k dy_k`
//!
//! Memory traffic: forward reads x twice (max, then exp-sum and write) and writes y once; backward reads
//! y and dy twice and writes dx once. Rows fit in cache for any realistic `cols`, so it is one pass from DRAM.
//!
//! Variants: `reference.rs` (plain loops, `Real`), `cpu.rs` (f32, rows split into rayon tasks of at least a
//! few thousand elements, so small inputs stay on one thread). `ops::fastmath` holds the vectorisable f32 `exp`
//! and row reductions that `cpu.rs` and the attention kernel share.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod op;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::Storage;
use crate::Result;

/// `rows` independent rows of `cols` elements each, row-major.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxDims {
    pub rows: usize,
    pub cols: usize,
}

impl SoftmaxDims {
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Softmax and log-softmax along the last axis; the backward needs only the output.
pub trait SoftmaxKernel {
    fn softmax(&self, d: &SoftmaxDims, x: &Storage, log: bool) -> Result<Storage>;
    fn softmax_backward(&self, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage>;
}
