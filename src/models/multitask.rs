//! MultiTask: causal conv stem with batch norm, residual conv blocks, mean pool over time, four MLP heads and the
//! learned uncertainty weights `log_vars` (Kendall et al. 2018).

use super::config::MultiTaskConfig;
use crate::device::Device;
use crate::nn::{join, CausalConvBn, Ctx, Kind, Linear, Module, ResBlock1d, Visitor};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::Result;

/// Linear → ReLU → Linear, named `0` and `2` as in `nn.Sequential`.
pub struct Head {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Head {
    fn new(inp: usize, hidden: usize, out: usize, rng: &mut Rng, device: Device) -> Result<Head> {
        Ok(Head {
            fc1: Linear::new(inp, hidden, true, rng, device)?,
            fc2: Linear::new(hidden, out, true, rng, device)?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.fc1.forward(x)?.relu()?)
    }
}

impl Module for Head {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        self.fc1.visit(&join(prefix, "0"), f)?;
        self.fc2.visit(&join(prefix, "2"), f)
    }
}

pub struct MultiTask {
    pub cfg: MultiTaskConfig,
    pub stem: CausalConvBn,
    pub blocks: Vec<ResBlock1d>,
    pub price_head: Head,
    pub direction_head: Head,
    pub volatility_head: Head,
    pub volume_head: Head,
    pub log_vars: Tensor,
}

impl MultiTask {
    pub fn new(cfg: &MultiTaskConfig, rng: &mut Rng, device: Device) -> Result<MultiTask> {
        let c = cfg.channels;
        Ok(MultiTask {
            cfg: cfg.clone(),
            stem: CausalConvBn::new(cfg.n_features, c, cfg.kernel_size, rng, device)?,
            blocks: (0..cfg.n_blocks)
                .map(|_| ResBlock1d::new(c, cfg.kernel_size, rng, device))
                .collect::<Result<_>>()?,
            price_head: Head::new(c, cfg.head_hidden, 1, rng, device)?,
            direction_head: Head::new(c, cfg.head_hidden, 3, rng, device)?,
            volatility_head: Head::new(c, cfg.head_hidden, 1, rng, device)?,
            volume_head: Head::new(c, cfg.head_hidden, 1, rng, device)?,
            log_vars: Tensor::zeros(&[4], device)?,
        })
    }

    /// x [B, T, F] → [B, 6] = [price, direction logits ×3, volatility, volume].
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let f = self.body(x, ctx)?.mean(2)?;
        let heads = [
            self.price_head.forward(&f)?,
            self.direction_head.forward(&f)?,
            self.volatility_head.forward(&f)?,
            self.volume_head.forward(&f)?,
        ];
        Tensor::cat(&[&heads[0], &heads[1], &heads[2], &heads[3]], 1)
    }

    /// The stem and residual blocks' output [B, channels, T], before the mean over time.
    pub fn body(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let mut h = self.stem.forward(&x.transpose(1, 2)?, ctx)?.relu()?;
        for b in &self.blocks {
            h = b.forward(&h, ctx)?;
        }
        Ok(h)
    }
}

impl Module for MultiTask {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        self.stem.visit(&join(prefix, "stem"), f)?;
        for (i, b) in self.blocks.iter_mut().enumerate() {
            b.visit(&join(prefix, &format!("blocks.{i}")), f)?;
        }
        self.price_head.visit(&join(prefix, "price_head"), f)?;
        self.direction_head.visit(&join(prefix, "direction_head"), f)?;
        self.volatility_head.visit(&join(prefix, "volatility_head"), f)?;
        self.volume_head.visit(&join(prefix, "volume_head"), f)?;
        f(&join(prefix, "log_vars"), Kind::Param, &mut self.log_vars)
    }
}
