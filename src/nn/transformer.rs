//! Sinusoidal positions and the post-norm TransformerEncoderLayer (`norm_first=False`, ReLU).

use super::{join, Ctx, Dropout, LayerNorm, Linear, Module, MultiHeadAttention, Visitor};
use crate::device::Device;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::Result;

/// pe[pos, 2i] = sin(pos / 10000^(2i/d)), pe[pos, 2i+1] = cos(…), computed in f64 like the reference; [max_len, d].
pub fn sinusoidal_encoding(max_len: usize, d: usize) -> Vec<f32> {
    let mut pe = vec![0.0f32; max_len * d];
    for pos in 0..max_len {
        for i in (0..d).step_by(2) {
            let div = (i as f64 * (-(10000.0f64).ln() / d as f64)).exp();
            let a = pos as f64 * div;
            pe[pos * d + i] = a.sin() as f32;
            if i + 1 < d {
                pe[pos * d + i + 1] = a.cos() as f32;
            }
        }
    }
    pe
}

pub struct TransformerEncoderLayer {
    pub self_attn: MultiHeadAttention,
    pub linear1: Linear,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub dropout: Dropout,
}

impl TransformerEncoderLayer {
    pub fn new(d: usize, heads: usize, ff: usize, dropout: f32, rng: &mut Rng, device: Device) -> Result<Self> {
        Ok(TransformerEncoderLayer {
            self_attn: MultiHeadAttention::new(d, heads, rng, device)?,
            linear1: Linear::new(d, ff, true, rng, device)?,
            linear2: Linear::new(ff, d, true, rng, device)?,
            norm1: LayerNorm::new(d, 1e-5, device)?,
            norm2: LayerNorm::new(d, 1e-5, device)?,
            dropout: Dropout { p: dropout },
        })
    }

    /// x = norm1(x + drop(sa(x))); x = norm2(x + drop(linear2(drop(relu(linear1(x)))))).
    pub fn forward(&self, x: &Tensor, causal: bool, ctx: &Ctx, want_weights: bool) -> Result<(Tensor, Option<Tensor>)> {
        let (sa, w) = self.self_attn.forward(x, causal, want_weights)?;
        let x = self.norm1.forward(&x.add(&self.dropout.forward(&sa, ctx)?)?)?;
        let ff = self.linear1.forward(&x)?.relu()?;
        let ff = self.linear2.forward(&self.dropout.forward(&ff, ctx)?)?;
        let x = self.norm2.forward(&x.add(&self.dropout.forward(&ff, ctx)?)?)?;
        Ok((x, w))
    }
}

impl Module for TransformerEncoderLayer {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        self.self_attn.visit(&join(prefix, "self_attn"), f)?;
        self.linear1.visit(&join(prefix, "linear1"), f)?;
        self.linear2.visit(&join(prefix, "linear2"), f)?;
        self.norm1.visit(&join(prefix, "norm1"), f)?;
        self.norm2.visit(&join(prefix, "norm2"), f)
    }
}
