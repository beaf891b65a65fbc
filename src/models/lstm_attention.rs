//! LstmAttention: stacked (bi)LSTM, additive attention over time, dropout, linear head.

use super::config::LstmAttentionConfig;
use crate::device::Device;
use crate::nn::{join, AdditiveAttention, Ctx, Dropout, Linear, Lstm, Module, Visitor};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::Result;

pub struct LstmAttention {
    pub cfg: LstmAttentionConfig,
    pub lstm: Lstm,
    pub attention: AdditiveAttention,
    pub output: Linear,
    dropout: Dropout,
}

impl LstmAttention {
    pub fn new(cfg: &LstmAttentionConfig, rng: &mut Rng, device: Device) -> Result<LstmAttention> {
        let dim = cfg.hidden_size * if cfg.bidirectional { 2 } else { 1 };
        Ok(LstmAttention {
            cfg: cfg.clone(),
            lstm: Lstm::new(
                cfg.n_features,
                cfg.hidden_size,
                cfg.num_layers,
                cfg.bidirectional,
                cfg.dropout,
                rng,
                device,
            )?,
            attention: AdditiveAttention::new(dim, rng, device)?,
            output: Linear::new(dim, cfg.n_outputs, true, rng, device)?,
            dropout: Dropout { p: cfg.dropout },
        })
    }

    /// x [B, T, F] → (output [B, n_outputs], attention weights [B, T]).
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<(Tensor, Tensor)> {
        let h = self.lstm.forward(x, ctx)?;
        let (context, attn) = self.attention.forward(&h)?;
        Ok((self.output.forward(&self.dropout.forward(&context, ctx)?)?, attn))
    }
}

impl Module for LstmAttention {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        self.lstm.visit(&join(prefix, "lstm"), f)?;
        self.attention.visit(&join(prefix, "attention"), f)?;
        self.output.visit(&join(prefix, "output"), f)
    }
}
