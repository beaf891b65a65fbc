//! LayerNorm and BatchNorm1d.

use super::{join, Ctx, Kind, Module, Visitor};
use crate::device::Device;
use crate::tensor::Tensor;
use crate::Result;
use std::sync::RwLock;

pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f32,
}

impl LayerNorm {
    pub fn new(dim: usize, eps: f32, device: Device) -> Result<LayerNorm> {
        Ok(LayerNorm { weight: Tensor::full(1.0, &[dim], device)?, bias: Tensor::zeros(&[dim], device)?, eps })
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.layer_norm(&self.weight, &self.bias, self.eps)
    }
}

impl Module for LayerNorm {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        f(&join(prefix, "weight"), Kind::Param, &mut self.weight)?;
        f(&join(prefix, "bias"), Kind::Param, &mut self.bias)
    }
}

/// Batch norm over channels of [N, C] or [N, C, L]. Running statistics sit behind a lock so that a training
/// forward (`&self`) can update them while an eval-mode model stays shareable across threads.
pub struct BatchNorm1d {
    pub weight: Tensor,
    pub bias: Tensor,
    running: RwLock<(Tensor, Tensor)>,
    pub eps: f32,
    pub momentum: f32,
}

impl BatchNorm1d {
    pub fn new(c: usize, device: Device) -> Result<BatchNorm1d> {
        Ok(BatchNorm1d {
            weight: Tensor::full(1.0, &[c], device)?,
            bias: Tensor::zeros(&[c], device)?,
            running: RwLock::new((Tensor::zeros(&[c], device)?, Tensor::full(1.0, &[c], device)?)),
            eps: 1e-5,
            momentum: 0.1,
        })
    }
    pub fn running_stats(&self) -> (Tensor, Tensor) {
        self.running.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let (rm, rv) = self.running_stats();
        let (y, updated) = x.batch_norm(&self.weight, &self.bias, &rm, &rv, ctx.train, self.momentum, self.eps)?;
        if let Some(stats) = updated {
            *self.running.write().unwrap_or_else(|e| e.into_inner()) = stats;
        }
        Ok(y)
    }
}

impl Module for BatchNorm1d {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        f(&join(prefix, "weight"), Kind::Param, &mut self.weight)?;
        f(&join(prefix, "bias"), Kind::Param, &mut self.bias)?;
        let running = self.running.get_mut().unwrap_or_else(|e| e.into_inner());
        f(&join(prefix, "running_mean"), Kind::Buffer, &mut running.0)?;
        f(&join(prefix, "running_var"), Kind::Buffer, &mut running.1)
    }
}
