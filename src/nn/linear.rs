//! Linear and Dropout.

use super::{join, Ctx, Kind, Module, Visitor};
use crate::device::Device;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::Result;

/// y = x·Wᵀ + b over the last dimension; weight [out, in] as in PyTorch.
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    /// PyTorch's default init: U(−1/√in, 1/√in) for weight and bias.
    pub fn new(inp: usize, out: usize, bias: bool, rng: &mut Rng, device: Device) -> Result<Linear> {
        let bound = 1.0 / (inp.max(1) as f64).sqrt();
        let weight = Tensor::from_vec(rng.uniform_vec(out * inp, bound), &[out, inp], device)?;
        let bias = if bias { Some(Tensor::from_vec(rng.uniform_vec(out, bound), &[out], device)?) } else { None };
        Ok(Linear { weight, bias })
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.linear(&self.weight, self.bias.as_ref())
    }
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Module for Linear {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        f(&join(prefix, "weight"), Kind::Param, &mut self.weight)?;
        if let Some(b) = &mut self.bias {
            f(&join(prefix, "bias"), Kind::Param, b)?;
        }
        Ok(())
    }
}

/// Inverted dropout, active only in training.
#[derive(Clone, Copy, Debug)]
pub struct Dropout {
    pub p: f32,
}

impl Dropout {
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        if ctx.train && self.p > 0.0 {
            x.dropout(self.p, ctx.next_seed())
        } else {
            Ok(x.clone())
        }
    }
}
