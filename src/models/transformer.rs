//! TransformerPredictor: input projection + sinusoidal positions, post-norm encoder stack, last/mean pooling,
//! linear classifier over [up, down, hold].

use super::config::TransformerConfig;
use crate::device::Device;
use crate::nn::{join, sinusoidal_encoding, Ctx, Dropout, Linear, Module, TransformerEncoderLayer, Visitor};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{Error, Result};

pub struct Transformer {
    pub cfg: TransformerConfig,
    pub input_proj: Linear,
    pe: Tensor,
    pub layers: Vec<TransformerEncoderLayer>,
    pub classifier: Linear,
    dropout: Dropout,
}

impl Transformer {
    pub fn new(cfg: &TransformerConfig, rng: &mut Rng, device: Device) -> Result<Transformer> {
        let d = cfg.d_model;
        let input_proj = Linear::new(cfg.n_features, d, true, rng, device)?;
        let layers = (0..cfg.num_layers)
            .map(|_| TransformerEncoderLayer::new(d, cfg.nhead, cfg.dim_feedforward, cfg.dropout, rng, device))
            .collect::<Result<_>>()?;
        Ok(Transformer {
            cfg: cfg.clone(),
            input_proj,
            pe: Tensor::from_vec(sinusoidal_encoding(cfg.max_len, d), &[cfg.max_len, d], device)?,
            layers,
            classifier: Linear::new(d, cfg.n_classes, true, rng, device)?,
            dropout: Dropout { p: cfg.dropout },
        })
    }

    /// x [B, T, F] → (logits [B, n_classes], per-layer attention weights [B, T, T] averaged over heads when asked).
    pub fn forward(&self, x: &Tensor, ctx: &Ctx, want_weights: bool) -> Result<(Tensor, Vec<Tensor>)> {
        let t = x.dim(1)?;
        let (h, maps) = self.encode(x, ctx, want_weights)?;
        let pooled = if self.cfg.pooling == "last" {
            let [b, _, d] = *h.shape() else { unreachable!("encoder output is rank 3") };
            h.narrow(1, t - 1, 1)?.reshape(&[b, d])?
        } else {
            h.mean(1)?
        };
        Ok((self.classifier.forward(&pooled)?, maps))
    }

    /// The encoder stack's output [B, T, d_model], before pooling: the body that masked pretraining trains.
    pub fn encode(&self, x: &Tensor, ctx: &Ctx, want_weights: bool) -> Result<(Tensor, Vec<Tensor>)> {
        let t = x.dim(1)?;
        if t > self.cfg.max_len {
            return Err(Error::shape("transformer input window", format!("at most max_len = {}", self.cfg.max_len), t));
        }
        let pe = self.pe.narrow(0, 0, t)?;
        let mut h = self.dropout.forward(&self.input_proj.forward(x)?.add(&pe)?, ctx)?;
        let mut maps = Vec::new();
        for layer in &self.layers {
            let (y, w) = layer.forward(&h, self.cfg.causal, ctx, want_weights)?;
            h = y;
            maps.extend(w);
        }
        Ok((h, maps))
    }
}

impl Module for Transformer {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        self.input_proj.visit(&join(prefix, "input_proj"), f)?;
        for (i, l) in self.layers.iter_mut().enumerate() {
            l.visit(&join(prefix, &format!("encoder.layers.{i}")), f)?;
        }
        self.classifier.visit(&join(prefix, "classifier"), f)
    }
}
