//! Fused scaled dot-product attention with an optional causal mask.
//!
//! Shapes (row-major, `bh` = batch·heads): q `[bh, tq, d]`, k `[bh, tk, d]`, v `[bh, tk, dv]`,
//! o `[bh, tq, dv]`, lse `[bh, tq]`, weights `[bh, tq, tk]`.
//!
//! Forward, per head and query row i: `s_ij = scale·q_i·k_j` over the visible keys j,
//! `lse_i = log Σ_j exp(s_ij)`, `p_ij = exp(s_ij − lse_i)`, `o_i = Σ_j p_ij·v_j`. The mask is causal and
//! aligned to the END of the keys (the queries are the last `tq` positions of a `tk`-long sequence, as when
//! decoding with a cache): query i sees keys `j ≤ i + (tk − tq)`; with `tq = tk` that is the usual lower
//! triangle, with `tq = 1` it is every key. A query that sees no key (causal with `tk < tq`, early rows)
//! gets `o_i = 0`, `lse_i = −∞`, zero weights, and contributes nothing to any gradient. `scale` is an f64
//! (rounded to f32 in the f32 kernels); `AttentionDims::new` sets PyTorch's default `1/√d`.
//!
//! The forward keeps only `lse` (one number per query) for the backward, never the `tq×tk` weights;
//! `attention_weights` rebuilds them from q, k and lse when asked (attention maps for interpretability).
//!
//! Backward (FlashAttention-2): recompute `p_ij = exp(s_ij − lse_i)`, then with `D_i = Σ_c do_ic·o_ic`:
//! `dv_j = Σ_i p_ij·do_i`, `dp_ij = do_i·v_j`, `ds_ij = p_ij·(dp_ij − D_i)`,
//! `dq_i = scale·Σ_j ds_ij·k_j`, `dk_j = scale·Σ_i ds_ij·q_i`. lse is a saved statistic, not a
//! differentiable output: the backward takes no gradient for it.
//!
//! Cost: forward `2·bh·tq·tk·(d + dv)` flops, backward about twice that plus the recomputation (halved
//! under a causal mask, whose masked tiles are skipped). Traffic: q, k, v, o read or written once per head
//! (plus lse); the score tile lives in a per-thread scratch of at most `BLOCK_Q × tk` floats, in cache.
//!
//! Variants:
//! - `reference.rs`: loops per head and query row, generic over `Real`; the oracle.
//! - `cpu.rs`: per head, blocks of `BLOCK_Q` query rows; each block is three or four `sgemm` products
//!   (S = QKᵀ, O = PV; backward dV += PᵀdO, dP = dO·Vᵀ, dQ = dS·K, dK += dSᵀQ) over only the keys the block
//!   can see, with the softmax between them done row by row. Heads run in parallel when each head is too
//!   small for gemm to thread on its own (many heads, short windows, single-query streaming); otherwise
//!   heads run one after another, gemm threads each product and the row work is split over rows.
//!   Blocks of one or two rows (streaming, `tq = 1`) use dot-product and axpy loops instead of gemm, whose
//!   packing costs several times such a product. The row softmax uses `ops::fastmath` (vectorised exp).
//!   The whole visible key range fits in a block's scratch on CPU, so no online softmax is needed there;
//!   the GPU kernels tile the keys with an online softmax instead.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod op;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::{Pair, Storage, Triple};
use crate::Result;

/// Shape and mask of one attention call. See the module doc for the layouts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionDims {
    /// Independent heads (batch × heads).
    pub bh: usize,
    /// Query positions per head.
    pub tq: usize,
    /// Key / value positions per head.
    pub tk: usize,
    /// Query and key width.
    pub d: usize,
    /// Value (and output) width.
    pub dv: usize,
    /// Query i sees keys `j ≤ i + (tk − tq)` only.
    pub causal: bool,
    /// Multiplies the dot products before the softmax.
    pub scale: f64,
}

impl AttentionDims {
    /// Dims with PyTorch's default scale `1/√d`.
    pub fn new(bh: usize, tq: usize, tk: usize, d: usize, dv: usize, causal: bool) -> Self {
        let scale = if d == 0 { 1.0 } else { 1.0 / (d as f64).sqrt() };
        AttentionDims { bh, tq, tk, d, dv, causal, scale }
    }
    pub fn q_len(&self) -> usize {
        self.bh * self.tq * self.d
    }
    pub fn k_len(&self) -> usize {
        self.bh * self.tk * self.d
    }
    pub fn v_len(&self) -> usize {
        self.bh * self.tk * self.dv
    }
    pub fn o_len(&self) -> usize {
        self.bh * self.tq * self.dv
    }
    pub fn lse_len(&self) -> usize {
        self.bh * self.tq
    }
    pub fn weights_len(&self) -> usize {
        self.bh * self.tq * self.tk
    }
    /// How many keys (a prefix `0..n`) query row `i` sees.
    pub fn visible_keys(&self, i: usize) -> usize {
        if !self.causal {
            self.tk
        } else if i + self.tk >= self.tq {
            (i + self.tk + 1 - self.tq).min(self.tk)
        } else {
            0
        }
    }
}

/// The three inputs of attention, [bh, tq, d], [bh, tk, d] and [bh, tk, dv].
#[derive(Clone, Copy, Debug)]
pub struct Qkv<'a> {
    pub q: &'a Storage,
    pub k: &'a Storage,
    pub v: &'a Storage,
}

/// What the attention forward returned and its backward reads: the output and the per-row log-sum-exp.
#[derive(Clone, Copy, Debug)]
pub struct AttentionOut<'a> {
    pub o: &'a Storage,
    pub lse: &'a Storage,
}

/// Fused scaled-dot-product attention: forward (o, lse), the weights for explanations, backward.
pub trait AttentionKernel {
    /// (o, lse).
    fn attention(&self, d: &AttentionDims, x: &Qkv) -> Result<Pair>;
    /// The softmax weights [bh, tq, tk], recomputed from the saved log-sum-exp.
    fn attention_weights(&self, d: &AttentionDims, q: &Storage, k: &Storage, lse: &Storage) -> Result<Storage>;
    /// (dq, dk, dv).
    fn attention_backward(&self, d: &AttentionDims, x: &Qkv, fwd: &AttentionOut, dout: &Storage) -> Result<Triple>;
}
