//! MultiHeadAttention (PyTorch's packed in-projection) and the additive attention pooling of LstmAttention.

use super::{join, Kind, Linear, Module, Visitor};
use crate::device::Device;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Self-attention with `heads` heads over x [B, T, E]; names match `nn.MultiheadAttention`
/// (`in_proj_weight` [3E, E], `in_proj_bias` [3E], `out_proj.{weight,bias}`).
pub struct MultiHeadAttention {
    pub in_proj_weight: Tensor,
    pub in_proj_bias: Tensor,
    pub out_proj: Linear,
    pub heads: usize,
}

impl MultiHeadAttention {
    pub fn new(embed: usize, heads: usize, rng: &mut Rng, device: Device) -> Result<MultiHeadAttention> {
        if heads == 0 || !embed.is_multiple_of(heads) {
            return Err(Error::config("nhead", format!("d_model {embed} must be divisible by nhead {heads}")));
        }
        // xavier_uniform on the packed projection, zero biases (PyTorch's _reset_parameters)
        let bound = (6.0 / (embed + 3 * embed) as f64).sqrt();
        let in_proj_weight = Tensor::from_vec(rng.uniform_vec(3 * embed * embed, bound), &[3 * embed, embed], device)?;
        let in_proj_bias = Tensor::zeros(&[3 * embed], device)?;
        let mut out_proj = Linear::new(embed, embed, true, rng, device)?;
        out_proj.bias = Some(Tensor::zeros(&[embed], device)?);
        Ok(MultiHeadAttention { in_proj_weight, in_proj_bias, out_proj, heads })
    }

    /// Self-attention over x [B, T, E]: output [B, T, E] and, when asked, the weights averaged over heads [B, T, T].
    pub fn forward(&self, x: &Tensor, causal: bool, want_weights: bool) -> Result<(Tensor, Option<Tensor>)> {
        let [b, t, e] = *x.shape() else {
            return Err(Error::shape("attention input", "[B, T, E]", x.shape()));
        };
        let (h, dh) = (self.heads, e / self.heads);
        // one packed projection for q, k and v, split by a single permute
        let qkv = x.linear(&self.in_proj_weight, Some(&self.in_proj_bias))?; // [B, T, 3E]
        let qkv = qkv.reshape(&[b, t, 3, h, dh])?.permute(&[2, 0, 3, 1, 4])?; // [3, B, H, T, Dh]
        let q = qkv.narrow(0, 0, 1)?.reshape(&[b, h, t, dh])?;
        let k = qkv.narrow(0, 1, 1)?.reshape(&[b, h, t, dh])?;
        let v = qkv.narrow(0, 2, 1)?.reshape(&[b, h, t, dh])?;
        self.attend(&q, &k, &v, causal, want_weights)
    }

    /// Attention of `query` [B, Tq, E] over `kv` [B, Tk, E] (keys and values from the same tensor).
    pub fn forward_cross(
        &self,
        query: &Tensor,
        kv: &Tensor,
        causal: bool,
        want_weights: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let [b, tq, e] = *query.shape() else {
            return Err(Error::shape("attention query", "[B, T, E]", query.shape()));
        };
        if kv.rank() != 3 || kv.shape()[0] != b || kv.shape()[2] != e {
            return Err(Error::shape("attention key/value", format!("[{b}, T, {e}]"), kv.shape()));
        }
        let tk = kv.shape()[1];
        let (h, dh) = (self.heads, e / self.heads);
        let proj = |x: &Tensor, i: usize, t: usize| -> Result<Tensor> {
            let w = self.in_proj_weight.narrow(0, i * e, e)?;
            let bias = self.in_proj_bias.narrow(0, i * e, e)?;
            x.linear(&w, Some(&bias))?.reshape(&[b, t, h, dh])?.permute(&[0, 2, 1, 3])
        };
        let q = proj(query, 0, tq)?;
        let k = proj(kv, 1, tk)?;
        let v = proj(kv, 2, tk)?;
        self.attend(&q, &k, &v, causal, want_weights)
    }

    /// Fused attention over [B, H, T, Dh] heads, merge heads, output projection.
    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        causal: bool,
        want_weights: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let [b, h, tq, dh] = *q.shape() else { unreachable!("heads are rank 4") };
        let (o, w) = if want_weights {
            let (o, w) = Tensor::attention_with_weights(q, k, v, causal, None)?;
            (o, Some(w.mean(1)?))
        } else {
            (Tensor::attention(q, k, v, causal, None)?, None)
        };
        let o = o.permute(&[0, 2, 1, 3])?.reshape(&[b, tq, h * dh])?;
        Ok((self.out_proj.forward(&o)?, w))
    }
}

impl Module for MultiHeadAttention {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        f(&join(prefix, "in_proj_weight"), Kind::Param, &mut self.in_proj_weight)?;
        f(&join(prefix, "in_proj_bias"), Kind::Param, &mut self.in_proj_bias)?;
        self.out_proj.visit(&join(prefix, "out_proj"), f)
    }
}

/// e_t = score(tanh(proj(h_t))); a = softmax over t; context = Σ_t a_t h_t.
pub struct AdditiveAttention {
    pub proj: Linear,
    pub score: Linear,
}

impl AdditiveAttention {
    pub fn new(dim: usize, rng: &mut Rng, device: Device) -> Result<AdditiveAttention> {
        Ok(AdditiveAttention {
            proj: Linear::new(dim, dim, true, rng, device)?,
            score: Linear::new(dim, 1, false, rng, device)?,
        })
    }

    /// h [B, T, D] → (context [B, D], weights [B, T]).
    pub fn forward(&self, h: &Tensor) -> Result<(Tensor, Tensor)> {
        let [b, t, d] = *h.shape() else {
            return Err(Error::shape("additive attention input", "[B, T, D]", h.shape()));
        };
        let e = self.score.forward(&self.proj.forward(h)?.tanh()?)?.reshape(&[b, t])?;
        let a = e.softmax()?;
        let ctx = a.reshape(&[b, 1, t])?.matmul(h)?.reshape(&[b, d])?;
        Ok((ctx, a))
    }
}

impl Module for AdditiveAttention {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        self.proj.visit(&join(prefix, "proj"), f)?;
        self.score.visit(&join(prefix, "score"), f)
    }
}
