//! The transformer's batch-1 forward: input projection + positions, post-norm encoder layers, pooling, head.
//!
//! With `last` pooling only the final row leaves the encoder, so the last layer computes keys and values for
//! every row but attention, feed-forward and norms for the final row only: a sixth of the work less at the seed
//! config, same answer.

use super::packed_linear;
use super::relu;
use crate::models::Transformer;
use crate::nn::{sinusoidal_encoding, LayerNorm};
use crate::ops::fastmath::dot;
use crate::ops::matmul::packed::Packed;
use crate::ops::norm::cpu::layer_norm_row;
use crate::ops::softmax::cpu::softmax_row;
use crate::{Error, Result};

#[derive(Debug)]
struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn new(n: &LayerNorm) -> Result<Norm> {
        Ok(Norm { w: n.weight.cpu_slice()?.to_vec(), b: n.bias.cpu_slice()?.to_vec(), eps: n.eps })
    }
}

#[derive(Debug)]
struct Layer {
    qkv: Packed,
    out: Packed,
    ff1: Packed,
    ff2: Packed,
    norm1: Norm,
    norm2: Norm,
}

#[derive(Debug)]
pub struct TransformerPlan {
    t: usize,
    e: usize,
    heads: usize,
    causal: bool,
    last: bool,
    input: Packed,
    /// Positional encodings of the window's rows [T, E].
    pe: Vec<f32>,
    layers: Vec<Layer>,
    head: Packed,
    h: Vec<f32>,
    qkv: Vec<f32>,
    att: Vec<f32>,
    tmp: Vec<f32>,
    ff: Vec<f32>,
    scores: Vec<f32>,
    probs: Vec<f32>,
    pooled: Vec<f32>,
}

impl TransformerPlan {
    pub fn new(m: &Transformer, t: usize) -> Result<TransformerPlan> {
        let cfg = &m.cfg;
        if t > cfg.max_len {
            return Err(Error::shape("transformer input window", format!("at most max_len = {}", cfg.max_len), t));
        }
        let (e, ff) = (cfg.d_model, cfg.dim_feedforward);
        let layers = m
            .layers
            .iter()
            .map(|l| {
                let a = &l.self_attn;
                Ok(Layer {
                    qkv: Packed::linear(a.in_proj_weight.cpu_slice()?, 3 * e, e, Some(a.in_proj_bias.cpu_slice()?)),
                    out: packed_linear(&a.out_proj)?,
                    ff1: packed_linear(&l.linear1)?,
                    ff2: packed_linear(&l.linear2)?,
                    norm1: Norm::new(&l.norm1)?,
                    norm2: Norm::new(&l.norm2)?,
                })
            })
            .collect::<Result<_>>()?;
        let mut pe = sinusoidal_encoding(cfg.max_len, e);
        pe.truncate(t * e);
        Ok(TransformerPlan {
            t,
            e,
            heads: cfg.nhead,
            causal: cfg.causal,
            last: cfg.pooling == "last",
            input: packed_linear(&m.input_proj)?,
            pe,
            layers,
            head: packed_linear(&m.classifier)?,
            h: vec![0.0; t * e],
            qkv: vec![0.0; t * 3 * e],
            att: vec![0.0; t * e],
            tmp: vec![0.0; t * e],
            ff: vec![0.0; t * ff],
            scores: vec![0.0; t],
            probs: vec![0.0; t],
            pooled: vec![0.0; e],
        })
    }

    pub fn run(&mut self, x: &[f32], out: &mut [f32]) {
        let (t, e) = (self.t, self.e);
        let f = self.input.k();
        self.input.apply(t, x, f, &mut self.h, e, false);
        self.h.iter_mut().zip(&self.pe).for_each(|(h, p)| *h += p);
        let n = self.layers.len();
        for li in 0..n {
            // The rows whose outputs are still needed: all of them, or only the last in a `last`-pooled top layer.
            let first = if self.last && li + 1 == n { t - 1 } else { 0 };
            self.layer(li, first);
        }
        let pooled = &mut self.pooled;
        if self.last {
            pooled.copy_from_slice(&self.h[(t - 1) * e..]);
        } else {
            pooled.fill(0.0);
            for row in self.h.chunks_exact(e) {
                pooled.iter_mut().zip(row).for_each(|(p, v)| *p += v);
            }
            pooled.iter_mut().for_each(|p| *p /= t as f32);
        }
        self.head.apply(1, &self.pooled, e, out, out.len(), false);
    }

    /// One post-norm encoder layer over rows first..T of `h` (keys and values always over every row).
    fn layer(&mut self, li: usize, first: usize) {
        let (t, e, heads) = (self.t, self.e, self.heads);
        let dh = e / heads;
        let scale = 1.0 / (dh as f32).sqrt();
        let l = &self.layers[li];
        let rows = t - first;
        l.qkv.apply(t, &self.h, e, &mut self.qkv, 3 * e, false);
        let qkv = &self.qkv;
        for i in first..t {
            let keys = if self.causal { i + 1 } else { t };
            for hd in 0..heads {
                let q = &qkv[i * 3 * e + hd * dh..][..dh];
                let s = &mut self.scores[..keys];
                for (j, sj) in s.iter_mut().enumerate() {
                    *sj = dot(q, &qkv[j * 3 * e + e + hd * dh..][..dh]) * scale;
                }
                let p = &mut self.probs[..keys];
                softmax_row(s, p);
                let o = &mut self.att[i * e + hd * dh..][..dh];
                o.fill(0.0);
                for (j, &p) in p.iter().enumerate() {
                    let v = &qkv[j * 3 * e + 2 * e + hd * dh..][..dh];
                    o.iter_mut().zip(v).for_each(|(o, v)| *o += p * v);
                }
            }
        }
        let (h, tmp) = (&mut self.h[first * e..], &mut self.tmp[first * e..]);
        l.out.apply(rows, &self.att[first * e..], e, tmp, e, false);
        add_norm(h, tmp, &l.norm1);
        let ffw = l.ff1.n();
        let ff = &mut self.ff[first * ffw..];
        l.ff1.apply(rows, h, e, ff, ffw, false);
        relu(ff);
        l.ff2.apply(rows, ff, ffw, tmp, e, false);
        add_norm(h, tmp, &l.norm2);
    }
}

/// h = norm(h + s), row by row; `s` is scratch and is left holding h + s.
fn add_norm(h: &mut [f32], s: &mut [f32], n: &Norm) {
    let e = n.w.len();
    for (hr, sr) in h.chunks_exact_mut(e).zip(s.chunks_exact_mut(e)) {
        sr.iter_mut().zip(hr.iter()).for_each(|(s, h)| *s += h);
        layer_norm_row(sr, &n.w, &n.b, n.eps, hr);
    }
}
