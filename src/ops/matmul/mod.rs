//! Batched matrix multiply C[b] = op(A[b]) · op(B[b]), op = identity or transpose; a batch of 1 broadcasts.
//!
//! Shapes (row-major, contiguous): A is `[batch_a, m, k]` (`[batch_a, k, m]` when `trans_a`), B is
//! `[batch_b, k, n]` (`[batch_b, n, k]` when `trans_b`), C is `[batch, m, n]` with
//! `batch = max(batch_a, batch_b)`; `batch_a` and `batch_b` are equal or one of them is 1, which then
//! broadcasts (a Linear layer's weight against a batch of sequences is `batch_b = 1`).
//!
//! Backward, with dC given: `dop(A)[b] = dC[b] · op(B[b])ᵀ` and `dop(B)[b] = op(A[b])ᵀ · dC[b]`, transposed
//! back into A's or B's storage. A broadcast operand receives the SUM over the batch of its per-batch
//! gradients (it was used `batch` times). Gradients are overwritten, never accumulated into the caller's
//! buffer.
//!
//! Cost: `2·batch·m·n·k` flops; traffic A + B + C once each in the fast kernel (gemm packs panels into cache).
//!
//! Variants:
//! - `reference.rs`: triple loop per batch, generic over `Real`, the oracle for everything else.
//! - `cpu.rs`: `sgemm` (the `gemm` crate). A broadcast B with a non-transposed A folds the batch into m, so a
//!   Linear over `[batch, t, in]` is one big product (best packing, gemm's own threading); the matching
//!   backward folds the weight gradient into one product over `batch·m` as well. Otherwise one gemm per
//!   batch: in parallel over the batch when each product is too small for gemm to thread itself,
//!   sequentially when each one is big enough to use every core alone.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod op;
pub mod packed;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::{Pair, Storage};
use crate::Result;

/// Shape of one batched product. See the module doc for the layouts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatmulDims {
    pub batch_a: usize,
    pub batch_b: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl MatmulDims {
    /// Output batch: the larger of the two; panics if neither is 1 and they differ (checked one level up).
    pub fn batch(&self) -> usize {
        assert!(
            self.batch_a == self.batch_b || self.batch_a == 1 || self.batch_b == 1,
            "matmul: batches {} and {} do not broadcast",
            self.batch_a,
            self.batch_b
        );
        if self.batch_a == 1 {
            self.batch_b
        } else {
            self.batch_a
        }
    }
    pub fn a_len(&self) -> usize {
        self.batch_a * self.m * self.k
    }
    pub fn b_len(&self) -> usize {
        self.batch_b * self.k * self.n
    }
    pub fn c_len(&self) -> usize {
        self.batch() * self.m * self.n
    }
    /// Row stride of A's storage (k, or m when transposed).
    pub fn lda(&self) -> usize {
        if self.trans_a {
            self.m
        } else {
            self.k
        }
    }
    /// Row stride of B's storage (n, or k when transposed).
    pub fn ldb(&self) -> usize {
        if self.trans_b {
            self.k
        } else {
            self.n
        }
    }
    /// Offset of output batch `b`'s matrix inside A (0 for every b when A broadcasts).
    pub fn a_offset(&self, b: usize) -> usize {
        if self.batch_a == 1 {
            0
        } else {
            b * self.m * self.k
        }
    }
    /// Offset of output batch `b`'s matrix inside B (0 for every b when B broadcasts).
    pub fn b_offset(&self, b: usize) -> usize {
        if self.batch_b == 1 {
            0
        } else {
            b * self.k * self.n
        }
    }
    /// Flat index in A of op(A)[b][i][p].
    pub fn a_index(&self, b: usize, i: usize, p: usize) -> usize {
        self.a_offset(b) + if self.trans_a { p * self.m + i } else { i * self.k + p }
    }
    /// Flat index in B of op(B)[b][p][j].
    pub fn b_index(&self, b: usize, p: usize, j: usize) -> usize {
        self.b_offset(b) + if self.trans_b { j * self.k + p } else { p * self.n + j }
    }
}

/// Batched products and their backward.
pub trait MatmulKernel {
    fn matmul(&self, d: &MatmulDims, a: &Storage, b: &Storage) -> Result<Storage>;
    /// (da, db) from dc.
    fn matmul_backward(&self, d: &MatmulDims, a: &Storage, b: &Storage, dc: &Storage) -> Result<Pair>;
}
