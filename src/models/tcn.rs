//! Tcn: temporal blocks with dilation 2^i, head on the last time step.

use super::config::TcnConfig;
use crate::device::Device;
use crate::nn::{join, Ctx, Linear, Module, TemporalBlock, Visitor};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::Result;

pub struct Tcn {
    pub cfg: TcnConfig,
    pub blocks: Vec<TemporalBlock>,
    pub head: Linear,
}

impl Tcn {
    pub fn new(cfg: &TcnConfig, rng: &mut Rng, device: Device) -> Result<Tcn> {
        let mut chans = vec![cfg.n_features];
        chans.extend(&cfg.channels);
        let blocks = (0..cfg.channels.len())
            .map(|i| TemporalBlock::new(chans[i], chans[i + 1], cfg.kernel_size, 1 << i, cfg.dropout, rng, device))
            .collect::<Result<_>>()?;
        Ok(Tcn {
            cfg: cfg.clone(),
            blocks,
            head: Linear::new(*chans.last().expect("non-empty"), cfg.n_outputs, true, rng, device)?,
        })
    }

    /// Receptive field 1 + 2·(k−1)·(2^blocks − 1): the window from which streaming is exact.
    pub fn receptive_field(&self) -> usize {
        1 + 2 * (self.cfg.kernel_size - 1) * ((1usize << self.cfg.channels.len()) - 1)
    }

    /// x [B, T, F] → [B, n_outputs] read at the last step.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let h = self.body(x, ctx)?;
        let [bsz, c, t] = *h.shape() else { unreachable!("blocks keep rank 3") };
        self.head.forward(&h.narrow(2, t - 1, 1)?.reshape(&[bsz, c])?)
    }

    /// The temporal blocks' output [B, channels, T], every step (the head reads only the last).
    pub fn body(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let mut h = x.transpose(1, 2)?;
        for b in &self.blocks {
            h = b.forward(&h, ctx)?;
        }
        Ok(h)
    }
}

impl Module for Tcn {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        for (i, b) in self.blocks.iter_mut().enumerate() {
            b.visit(&join(prefix, &format!("blocks.{i}")), f)?;
        }
        self.head.visit(&join(prefix, "head"), f)
    }
}
