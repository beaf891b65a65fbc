//! The streaming variant of the conv1d family: one dilated causal convolution fed one input column at a time,
//! computing only its newest output column, over a ring of its last `(kernel−1)·dilation + 1` input columns.
//!
//! Each step is `y = W·g + b` with g the `kernel` tapped columns gathered into [c_in·kernel] (the layout of a row
//! of w [c_out, c_in, kernel]), as [`super::cpu::conv1d_step`] does; [`ConvStep`] gathers straight from its ring
//! into a preallocated buffer instead of calling `conv1d_step`, which wants the history copied into a contiguous
//! [c_in, rf] block (for the last block of the TCN seed config, 257 columns per conv per bar) and allocates its
//! gather buffer on every call. Nothing here allocates after `new`.
//!
//! Before the ring has filled, its unfilled columns are zeros, which is the causal padding of the batch kernel.

use crate::ops::matmul::cpu::sgemm;

/// The last `len` columns of `width` values each, time-major.
#[derive(Debug, Clone)]
struct ColumnRing {
    data: Vec<f32>,
    width: usize,
    len: usize,
    head: usize,
}

impl ColumnRing {
    fn new(width: usize, len: usize) -> ColumnRing {
        ColumnRing { data: vec![0.0; width * len], width, len, head: 0 }
    }

    fn push(&mut self, col: &[f32]) {
        let at = self.head * self.width;
        self.data[at..at + self.width].copy_from_slice(col);
        self.head = (self.head + 1) % self.len;
    }

    /// The column pushed `ago` steps back (0 = newest).
    fn ago(&self, ago: usize) -> &[f32] {
        let i = (self.head + self.len - 1 - ago) % self.len;
        &self.data[i * self.width..(i + 1) * self.width]
    }

    fn clear(&mut self) {
        self.data.fill(0.0);
        self.head = 0;
    }
}

/// One dilated causal conv's history and scratch; the weights are passed to each [`ConvStep::step`].
#[derive(Debug, Clone)]
pub struct ConvStep {
    ring: ColumnRing,
    gather: Vec<f32>,
    out: Vec<f32>,
    kernel: usize,
    dilation: usize,
}

impl ConvStep {
    /// Fresh (all-zero) history for weights w [c_out, c_in, kernel] with `dilation`.
    pub fn new(c_out: usize, c_in: usize, kernel: usize, dilation: usize) -> ConvStep {
        ConvStep {
            ring: ColumnRing::new(c_in, (kernel - 1) * dilation + 1),
            gather: vec![0.0; c_in * kernel],
            out: vec![0.0; c_out],
            kernel,
            dilation,
        }
    }

    /// Input width c_in (one column).
    pub fn c_in(&self) -> usize {
        self.ring.width
    }

    /// Push the newest input column x [c_in] and compute the newest output column into [`ConvStep::out`], for
    /// weights w [c_out, c_in, kernel] (row-major) and bias [c_out].
    pub fn step(&mut self, x: &[f32], w: &[f32], bias: &[f32]) {
        self.ring.push(x);
        let k = self.kernel;
        for tap in 0..k {
            let col = self.ring.ago((k - 1 - tap) * self.dilation);
            for (i, &v) in col.iter().enumerate() {
                self.gather[i * k + tap] = v;
            }
        }
        dense(&self.gather, w, bias, &mut self.out);
    }

    /// The newest output column [c_out].
    pub fn out(&self) -> &[f32] {
        &self.out
    }

    /// The newest output column, for an activation applied in place.
    pub fn out_mut(&mut self) -> &mut [f32] {
        &mut self.out
    }

    /// Back to the state before any column (the output buffer keeps its last values).
    pub fn clear(&mut self) {
        self.ring.clear();
    }
}

/// out = W·x + b for W [out, in] row-major: one gemm row, the product `conv1d_step` makes. A `b` shorter than
/// `out` (empty: no bias) adds to the first `b.len()` outputs only.
pub fn dense(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    let (n, k) = (out.len(), x.len());
    sgemm(1, n, k, x, k, false, w, k, true, out, n, false);
    for (o, &bias) in out.iter_mut().zip(b) {
        *o += bias;
    }
}
