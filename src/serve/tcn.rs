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
//! Each dilated causal conv is the conv1d family's streaming variant ([`ConvStep`]); this module adds the
//! residual, the ReLUs and the head. Nothing here allocates after `new`.

use crate::models::Tcn;
use crate::nn::{CausalConv1d, TemporalBlock};
use crate::ops::conv1d::step::{dense, ConvStep};
use crate::{Error, Result};

/// A conv's streaming state for its weights.
fn conv_step(conv: &CausalConv1d) -> ConvStep {
    let [c_out, c_in, k] = *conv.weight.shape() else { unreachable!("conv weights are rank 3") };
    ConvStep::new(c_out, c_in, k, conv.dilation)
}

/// Push the newest input column through `conv`'s state; the newest output column is in `state.out()`.
fn step_conv(state: &mut ConvStep, conv: &CausalConv1d, x: &[f32]) -> Result<()> {
    state.step(x, conv.weight.cpu_slice()?, conv.bias.cpu_slice()?);
    Ok(())
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
        BlockStep { conv1: conv_step(&b.conv1), conv2: conv_step(&b.conv2), res: vec![0.0; c_out] }
    }

    /// relu(relu(conv2(relu(conv1(x)))) + residual(x)), newest column only, into `self.conv2.out()`.
    fn step(&mut self, b: &TemporalBlock, x: &[f32]) -> Result<()> {
        step_conv(&mut self.conv1, &b.conv1, x)?;
        relu(self.conv1.out_mut());
        step_conv(&mut self.conv2, &b.conv2, self.conv1.out())?;
        relu(self.conv2.out_mut());
        match &b.downsample {
            Some(ds) => dense(x, ds.weight.cpu_slice()?, ds.bias.cpu_slice()?, &mut self.res),
            None => self.res.copy_from_slice(x),
        }
        for (y, &r) in self.conv2.out_mut().iter_mut().zip(&self.res) {
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
            b.conv1.clear();
            b.conv2.clear();
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
        if x.len() != first.conv1.c_in() {
            return Err(Error::shape("TcnStream::step input row", [first.conv1.c_in()], [x.len()]));
        }
        first.step(&tcn.blocks[0], x)?;
        let mut prev = first;
        for (state, block) in rest.iter_mut().zip(&tcn.blocks[1..]) {
            state.step(block, prev.conv2.out())?;
            prev = state;
        }
        let bias = match &tcn.head.bias {
            Some(b) => b.cpu_slice()?,
            None => &[],
        };
        dense(prev.conv2.out(), tcn.head.weight.cpu_slice()?, bias, &mut self.out);
        Ok(&self.out)
    }
}
