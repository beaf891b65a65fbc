//! O(1)-per-bar TCN inference: each dilated causal conv keeps a ring of its last `(k−1)·d + 1` input columns and
//! computes only its newest output column; residual, ReLU and the head run on that column alone.
//!
//! Why this equals `predict` on the trailing window W (when W ≥ the receptive field RF): the window forward pads
//! every conv's input with zeros left of the window, while the stream has real history there (or, on its first
//! bars, zeros from the rings' initial state). The newest output depends on a layer's column p only when
//! p ≥ now − (RF above that layer − 1), and that column reads inputs back to now − (RF − 1) ≥ now − (W − 1), i.e.
//! inside the window. So no padded value reaches the output, on either side. For W < RF the padding does reach it
//! and the predictor recomputes the window instead (see `predictor.rs`).
//!
//! Each step is `y = W·g + b` with g the conv's `kernel` tapped columns gathered into [c_in·kernel] (the layout of
//! a row of w [c_out, c_in, kernel]), as `ops::conv1d::cpu::conv1d_step` does; this module gathers straight from
//! the ring into a preallocated buffer instead of calling `conv1d_step`, which wants the history copied into a
//! contiguous [c_in, rf] block (for the last block of the seed config, 257 columns per conv per bar) and allocates
//! its gather buffer on every call. Nothing here allocates after `new`.

use crate::models::Tcn;
use crate::nn::{CausalConv1d, TemporalBlock};
use crate::ops::matmul::cpu::sgemm;
use crate::{Error, Result};

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

/// One dilated causal conv's history and scratch.
#[derive(Debug, Clone)]
struct ConvStep {
    ring: ColumnRing,
    gather: Vec<f32>,
    out: Vec<f32>,
    kernel: usize,
    dilation: usize,
}

impl ConvStep {
    fn new(conv: &CausalConv1d) -> ConvStep {
        let [c_out, c_in, k] = *conv.weight.shape() else { unreachable!("conv weights are rank 3") };
        ConvStep {
            ring: ColumnRing::new(c_in, (k - 1) * conv.dilation + 1),
            gather: vec![0.0; c_in * k],
            out: vec![0.0; c_out],
            kernel: k,
            dilation: conv.dilation,
        }
    }

    /// Push the newest input column and compute the newest output column into `self.out`.
    fn step(&mut self, conv: &CausalConv1d, x: &[f32]) -> Result<()> {
        self.ring.push(x);
        let k = self.kernel;
        for tap in 0..k {
            let col = self.ring.ago((k - 1 - tap) * self.dilation);
            for (i, &v) in col.iter().enumerate() {
                self.gather[i * k + tap] = v;
            }
        }
        dense(&self.gather, conv.weight.cpu_slice()?, conv.bias.cpu_slice()?, &mut self.out);
        Ok(())
    }
}

/// out = W·x + b for W [out, in] row-major: one gemm row, the product `conv1d_step` makes.
fn dense(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    let (n, k) = (out.len(), x.len());
    sgemm(1, n, k, x, k, false, w, k, true, out, n, false);
    for (o, &bias) in out.iter_mut().zip(b) {
        *o += bias;
    }
}

#[derive(Debug, Clone)]
struct BlockStep {
    conv1: ConvStep,
    conv2: ConvStep,
    res: Vec<f32>,
}

impl BlockStep {
    fn new(b: &TemporalBlock) -> BlockStep {
        let c_out = b.conv1.weight.shape()[0];
        BlockStep { conv1: ConvStep::new(&b.conv1), conv2: ConvStep::new(&b.conv2), res: vec![0.0; c_out] }
    }

    /// relu(relu(conv2(relu(conv1(x)))) + residual(x)), newest column only, into `self.conv2.out`.
    fn step(&mut self, b: &TemporalBlock, x: &[f32]) -> Result<()> {
        self.conv1.step(&b.conv1, x)?;
        relu(&mut self.conv1.out);
        self.conv2.step(&b.conv2, &self.conv1.out)?;
        relu(&mut self.conv2.out);
        match &b.downsample {
            Some(ds) => dense(x, ds.weight.cpu_slice()?, ds.bias.cpu_slice()?, &mut self.res),
            None => self.res.copy_from_slice(x),
        }
        for (y, &r) in self.conv2.out.iter_mut().zip(&self.res) {
            *y = (*y + r).max(0.0);
        }
        Ok(())
    }
}

fn relu(v: &mut [f32]) {
    for x in v {
        *x = x.max(0.0);
    }
}

/// The streaming state of one [`Tcn`]: rings for every conv and the head's output.
#[derive(Debug, Clone)]
pub struct TcnStream {
    blocks: Vec<BlockStep>,
    out: Vec<f32>,
}

impl TcnStream {
    /// Fresh (all-zero) state for `tcn`. Its weights must be on the CPU.
    pub fn new(tcn: &Tcn) -> Result<TcnStream> {
        if tcn.head.weight.cpu_slice().is_err() {
            return Err(Error::Device("the O(1) TCN step runs on CPU weights only".into()));
        }
        Ok(TcnStream {
            blocks: tcn.blocks.iter().map(BlockStep::new).collect(),
            out: vec![0.0; tcn.head.out_features()],
        })
    }

    /// Back to the state before any bar.
    pub fn reset(&mut self) {
        for b in &mut self.blocks {
            b.conv1.ring.clear();
            b.conv2.ring.clear();
        }
    }

    /// Feed one input row [n_features] (the model's input, already scaled); returns the head's output for the
    /// newest bar. It equals `predict` on the last W rows once W ≥ the receptive field rows have been fed.
    pub fn step(&mut self, tcn: &Tcn, x: &[f32]) -> Result<&[f32]> {
        if tcn.blocks.len() != self.blocks.len() {
            return Err(Error::Invalid("TcnStream::step: state built for another model".into()));
        }
        let Some((first, rest)) = self.blocks.split_first_mut() else {
            return Err(Error::Invalid("TcnStream::step: model without blocks".into()));
        };
        if x.len() != first.conv1.ring.width {
            return Err(Error::shape("TcnStream::step input row", [first.conv1.ring.width], [x.len()]));
        }
        first.step(&tcn.blocks[0], x)?;
        let mut prev = first;
        for (state, block) in rest.iter_mut().zip(&tcn.blocks[1..]) {
            state.step(block, &prev.conv2.out)?;
            prev = state;
        }
        let bias = match &tcn.head.bias {
            Some(b) => b.cpu_slice()?,
            None => &[],
        };
        dense(&prev.conv2.out, tcn.head.weight.cpu_slice()?, bias, &mut self.out);
        Ok(&self.out)
    }
}
