//! Stacked, optionally bidirectional LSTM over the fused sequence kernel, with PyTorch's parameter names
//! (`weight_ih_l{k}[_reverse]`, …) and inter-layer dropout.

use super::{join, Ctx, Dropout, Kind, Module, Visitor};
use crate::device::Device;
use crate::ops::lstm::LstmWeights;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{Error, Result};

struct Direction {
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
}

pub struct Lstm {
    layers: Vec<Vec<Direction>>,
    pub input_size: usize,
    pub hidden: usize,
    pub bidirectional: bool,
    pub dropout: Dropout,
}

impl Lstm {
    pub fn new(
        input: usize,
        hidden: usize,
        layers: usize,
        bidirectional: bool,
        dropout: f32,
        rng: &mut Rng,
        device: Device,
    ) -> Result<Lstm> {
        if layers == 0 || hidden == 0 {
            return Err(Error::config("num_layers/hidden_size", "must be positive"));
        }
        let dirs = if bidirectional { 2 } else { 1 };
        let bound = 1.0 / (hidden as f64).sqrt();
        let mut all = Vec::with_capacity(layers);
        for l in 0..layers {
            let inp = if l == 0 { input } else { hidden * dirs };
            let mut ds = Vec::with_capacity(dirs);
            for _ in 0..dirs {
                ds.push(Direction {
                    w_ih: Tensor::from_vec(rng.uniform_vec(4 * hidden * inp, bound), &[4 * hidden, inp], device)?,
                    w_hh: Tensor::from_vec(rng.uniform_vec(4 * hidden * hidden, bound), &[4 * hidden, hidden], device)?,
                    b_ih: Tensor::from_vec(rng.uniform_vec(4 * hidden, bound), &[4 * hidden], device)?,
                    b_hh: Tensor::from_vec(rng.uniform_vec(4 * hidden, bound), &[4 * hidden], device)?,
                });
            }
            all.push(ds);
        }
        Ok(Lstm { layers: all, input_size: input, hidden, bidirectional, dropout: Dropout { p: dropout } })
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The weights of one layer and direction (`reverse` = the backward direction of a bidirectional layer).
    pub fn weights(&self, layer: usize, reverse: bool) -> Option<LstmWeights<'_>> {
        let w = self.layers.get(layer)?.get(usize::from(reverse))?;
        Some(LstmWeights { w_ih: &w.w_ih, w_hh: &w.w_hh, b_ih: &w.b_ih, b_hh: &w.b_hh })
    }

    /// x [B, T, In] → every top-layer hidden state [B, T, H·dirs] (directions concatenated, forward first).
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let [b, _, inp] = *x.shape() else {
            return Err(Error::shape("lstm input", "[B, T, In]", x.shape()));
        };
        if inp != self.input_size {
            return Err(Error::shape("lstm input features", self.input_size, inp));
        }
        let zeros = Tensor::zeros(&[b, self.hidden], x.device())?;
        let mut h = x.clone();
        for (l, dirs) in self.layers.iter().enumerate() {
            if l > 0 {
                h = self.dropout.forward(&h, ctx)?;
            }
            let outs: Vec<Tensor> = dirs
                .iter()
                .enumerate()
                .map(|(d, w)| {
                    let ws = LstmWeights { w_ih: &w.w_ih, w_hh: &w.w_hh, b_ih: &w.b_ih, b_hh: &w.b_hh };
                    h.lstm_seq(&zeros, &zeros, &ws, d == 1)
                })
                .collect::<Result<_>>()?;
            h = if outs.len() == 1 { outs[0].clone() } else { Tensor::cat(&[&outs[0], &outs[1]], -1)? };
        }
        Ok(h)
    }
}

impl Module for Lstm {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        for (l, dirs) in self.layers.iter_mut().enumerate() {
            for (d, w) in dirs.iter_mut().enumerate() {
                let sfx = if d == 1 { "_reverse" } else { "" };
                f(&join(prefix, &format!("weight_ih_l{l}{sfx}")), Kind::Param, &mut w.w_ih)?;
                f(&join(prefix, &format!("weight_hh_l{l}{sfx}")), Kind::Param, &mut w.w_hh)?;
                f(&join(prefix, &format!("bias_ih_l{l}{sfx}")), Kind::Param, &mut w.b_ih)?;
                f(&join(prefix, &format!("bias_hh_l{l}{sfx}")), Kind::Param, &mut w.b_hh)?;
            }
        }
        Ok(())
    }
}
