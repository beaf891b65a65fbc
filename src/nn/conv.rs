//! Causal convolutions and the residual blocks built from them (TCN's TemporalBlock, MultiTask's ResBlock1d).

use super::{join, BatchNorm1d, Ctx, Dropout, Kind, Module, Visitor};
use crate::device::Device;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::Result;

/// Conv1d over [B, C, T] with left padding (k−1)·dilation (causal: output t sees inputs ≤ t); `nn.Conv1d` names.
pub struct CausalConv1d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub dilation: usize,
}

impl CausalConv1d {
    pub fn new(c_in: usize, c_out: usize, k: usize, dilation: usize, rng: &mut Rng, device: Device) -> Result<Self> {
        let bound = 1.0 / ((c_in * k).max(1) as f64).sqrt();
        Ok(CausalConv1d {
            weight: Tensor::from_vec(rng.uniform_vec(c_out * c_in * k, bound), &[c_out, c_in, k], device)?,
            bias: Tensor::from_vec(rng.uniform_vec(c_out, bound), &[c_out], device)?,
            dilation,
        })
    }
    pub fn kernel(&self) -> usize {
        self.weight.shape()[2]
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv1d(&self.weight, Some(&self.bias), self.dilation, (self.kernel() - 1) * self.dilation)
    }
}

impl Module for CausalConv1d {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        f(&join(prefix, "weight"), Kind::Param, &mut self.weight)?;
        f(&join(prefix, "bias"), Kind::Param, &mut self.bias)
    }
}

/// Two dilated causal convs with ReLU and dropout after each, residual (1×1 conv when channels change), ReLU.
pub struct TemporalBlock {
    pub conv1: CausalConv1d,
    pub conv2: CausalConv1d,
    pub downsample: Option<CausalConv1d>,
    pub dropout: Dropout,
}

impl TemporalBlock {
    pub fn new(
        c_in: usize,
        c_out: usize,
        k: usize,
        dilation: usize,
        dropout: f32,
        rng: &mut Rng,
        device: Device,
    ) -> Result<Self> {
        Ok(TemporalBlock {
            conv1: CausalConv1d::new(c_in, c_out, k, dilation, rng, device)?,
            conv2: CausalConv1d::new(c_out, c_out, k, dilation, rng, device)?,
            downsample: if c_in != c_out { Some(CausalConv1d::new(c_in, c_out, 1, 1, rng, device)?) } else { None },
            dropout: Dropout { p: dropout },
        })
    }
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let y = self.dropout.forward(&self.conv1.forward(x)?.relu()?, ctx)?;
        let y = self.dropout.forward(&self.conv2.forward(&y)?.relu()?, ctx)?;
        let res = match &self.downsample {
            Some(ds) => ds.forward(x)?,
            None => x.clone(),
        };
        y.add(&res)?.relu()
    }
}

impl Module for TemporalBlock {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        self.conv1.visit(&join(prefix, "conv1"), f)?;
        self.conv2.visit(&join(prefix, "conv2"), f)?;
        if let Some(ds) = &mut self.downsample {
            ds.visit(&join(prefix, "downsample"), f)?;
        }
        Ok(())
    }
}

/// Causal conv (dilation 1) followed by batch norm: the reference's `CausalConvBn` (`conv`, `bn`).
pub struct CausalConvBn {
    pub conv: CausalConv1d,
    pub bn: BatchNorm1d,
}

impl CausalConvBn {
    pub fn new(c_in: usize, c_out: usize, k: usize, rng: &mut Rng, device: Device) -> Result<Self> {
        Ok(CausalConvBn {
            conv: CausalConv1d::new(c_in, c_out, k, 1, rng, device)?,
            bn: BatchNorm1d::new(c_out, device)?,
        })
    }
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        self.bn.forward(&self.conv.forward(x)?, ctx)
    }
}

impl Module for CausalConvBn {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        self.conv.visit(&join(prefix, "conv"), f)?;
        self.bn.visit(&join(prefix, "bn"), f)
    }
}

/// relu(x + conv2(relu(conv1(x)))) with two CausalConvBn.
pub struct ResBlock1d {
    pub conv1: CausalConvBn,
    pub conv2: CausalConvBn,
}

impl ResBlock1d {
    pub fn new(c: usize, k: usize, rng: &mut Rng, device: Device) -> Result<Self> {
        Ok(ResBlock1d {
            conv1: CausalConvBn::new(c, c, k, rng, device)?,
            conv2: CausalConvBn::new(c, c, k, rng, device)?,
        })
    }
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let y = self.conv2.forward(&self.conv1.forward(x, ctx)?.relu()?, ctx)?;
        x.add(&y)?.relu()
    }
}

impl Module for ResBlock1d {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        self.conv1.visit(&join(prefix, "conv1"), f)?;
        self.conv2.visit(&join(prefix, "conv2"), f)
    }
}
