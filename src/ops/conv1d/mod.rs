//! Dilated, causal-capable 1-D convolution (PyTorch `Conv1d` with `padding=(pad_left, 0)` semantics), computed
//! directly: no im2col buffer and no materialised padded input.
//!
//! ```text
//! y[b, o, t] = bias[o] + Σ_i Σ_k w[o, i, k] · x[b, i, t + k·dilation − pad_left]      (x = 0 outside [0, t_in))
//! ```
//!
//! Shapes (row-major, contiguous): x [batch, c_in, t_in], w [c_out, c_in, kernel] (PyTorch layout), bias [c_out],
//! y [batch, c_out, t_out] with `t_out = t_in + pad_left − (kernel−1)·dilation` (0 when that is negative). Causal
//! convolution is `pad_left = (kernel−1)·dilation`, which gives `t_out = t_in` and makes y[t] depend only on
//! x[..=t]. The zeros left of the input are implicit: every kernel clips each tap's time range instead.
//!
//! Backward (with s = t + k·dilation − pad_left):
//! ```text
//! dx[b, i, s]  = Σ_o Σ_k w[o, i, k] · dy[b, o, t]
//! dw[o, i, k]  = Σ_b Σ_t dy[b, o, t] · x[b, i, s]
//! dbias[o]     = Σ_b Σ_t dy[b, o, t]
//! ```
//! The input and weight gradients are separate functions (and separate kernels on GPUs): a frozen layer or the
//! first layer of a network needs only one of them. Nothing from the forward output is needed: backward reads
//! x, w and dy only.
//!
//! Memory traffic and variants:
//! - `reference`: the formula as loops, f32/f64; the oracle.
//! - `cpu::conv1d_forward`: for each tap k, `y_b[:, t] += W_k · x_b[:, t + shift_k]` over the tap's valid time
//!   range is one gemm of W_k [c_out, c_in] by a column window of x_b (row stride t_in, no copy). W_k is a strided
//!   slice of w, which gemm cannot read row-contiguously, so w is repacked once per call into [kernel, c_out, c_in]
//!   (c_out·c_in·kernel floats, tiny next to activations). Each x and y element is touched `kernel` times, from
//!   cache for typical TCN sizes; parallel over batch.
//! - `cpu::conv1d_backward_input`: the same tap loop with W_kᵀ, scattering into shifted windows of dx.
//! - `cpu::conv1d_backward_weight`: dW_k = Σ_b dy_b window · x_b windowᵀ, one gemm per tap and batch row with
//!   k = time; batches are split into one chunk per thread with private partial sums, reduced at the end.
//! - `conv1d_step`: streaming inference. The newest output column needs only the last `receptive_field()` input
//!   columns, which the caller keeps (oldest first) in `hist` [batch, c_in, receptive_field]. It equals the last
//!   column of the full forward for any `pad_left`. The fast version gathers the `kernel` needed columns into
//!   [batch, c_in·kernel] — exactly the layout of a w row — and does one gemm against w, so no repack is needed.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod op;
pub mod reference;
pub mod step;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::{Pair, Storage};
use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv1dDims {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub t_in: usize,
    pub kernel: usize,
    pub dilation: usize,
    /// Implicit zeros left of the input; there is no right padding.
    pub pad_left: usize,
}

impl Conv1dDims {
    /// Causal convolution: `pad_left = (kernel−1)·dilation`, so `t_out == t_in`.
    pub fn causal(batch: usize, c_in: usize, c_out: usize, t_in: usize, kernel: usize, dilation: usize) -> Self {
        let pad_left = kernel.saturating_sub(1) * dilation;
        Conv1dDims { batch, c_in, c_out, t_in, kernel, dilation, pad_left }
    }

    /// Number of input time steps one output column sees: `(kernel−1)·dilation + 1`.
    pub fn receptive_field(&self) -> usize {
        self.kernel.saturating_sub(1) * self.dilation + 1
    }

    /// `t_in + pad_left − (kernel−1)·dilation`, or 0 when the padded input is shorter than the receptive field.
    pub fn t_out(&self) -> usize {
        (self.t_in + self.pad_left).saturating_sub(self.receptive_field() - 1)
    }

    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.t_in
    }

    pub fn w_len(&self) -> usize {
        self.c_out * self.c_in * self.kernel
    }

    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.t_out()
    }

    /// Length of the `hist` buffer `conv1d_step` reads: [batch, c_in, receptive_field].
    pub fn hist_len(&self) -> usize {
        self.batch * self.c_in * self.receptive_field()
    }

    /// Length of the `conv1d_step` output: [batch, c_out].
    pub fn step_len(&self) -> usize {
        self.batch * self.c_out
    }

    /// Offset added to an output time index to get the input index read by tap k: `k·dilation − pad_left`.
    pub fn shift(&self, k: usize) -> isize {
        (k * self.dilation) as isize - self.pad_left as isize
    }

    /// The output times `t` for which tap k reads inside the input (`0 ≤ t + shift(k) < t_in`), as a range.
    pub fn tap_range(&self, k: usize) -> std::ops::Range<usize> {
        let s = self.shift(k);
        let t_out = self.t_out() as isize;
        let lo = (-s).clamp(0, t_out);
        let hi = (self.t_in as isize - s).clamp(lo, t_out);
        lo as usize..hi as usize
    }
}

/// Dilated causal conv1d: forward, input gradient, weight and bias gradients.
pub trait Conv1dKernel {
    fn conv1d(&self, d: &Conv1dDims, x: &Storage, w: &Storage, b: Option<&Storage>) -> Result<Storage>;
    fn conv1d_backward_input(&self, d: &Conv1dDims, w: &Storage, dy: &Storage) -> Result<Storage>;
    /// (dw, db).
    fn conv1d_backward_weight(&self, d: &Conv1dDims, x: &Storage, dy: &Storage) -> Result<Pair>;
}
