//! Tensor-level fused scaled-dot-product attention and its backward rule (one fused backward kernel: the
//! log-sum-exp saved by the forward replaces the T×T probability matrix).

use super::{AttentionDims, AttentionOut, Qkv};
use crate::ops::prelude::*;
use crate::tensor::Tensor;
use crate::{Error, Result};

fn dims(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, scale: Option<f32>) -> Result<(AttentionDims, Vec<usize>)> {
    let (lead, tq, d) = match q.shape() {
        [lead @ .., tq, d] if !lead.is_empty() => (lead.to_vec(), *tq, *d),
        s => return Err(Error::shape("attention query", "[.., T, D]", s)),
    };
    let bh: usize = lead.iter().product();
    let tk = k.dim(-2)?;
    if k.shape() != [&lead[..], &[tk, d]].concat() {
        return Err(Error::shape("attention key", [&lead[..], &[tk, d]].concat(), k.shape()));
    }
    let dv = v.dim(-1)?;
    if v.shape() != [&lead[..], &[tk, dv]].concat() {
        return Err(Error::shape("attention value", [&lead[..], &[tk, dv]].concat(), v.shape()));
    }
    let scale = scale.map(f64::from).unwrap_or(1.0 / (d as f64).sqrt());
    let mut out = lead;
    out.extend([tq, dv]);
    Ok((AttentionDims { bh, tq, tk, d, dv, causal, scale }, out))
}

impl Tensor {
    /// softmax(q·kᵀ·scale [+ causal mask])·v over [.., T, D] tensors; scale defaults to 1/√D.
    pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, scale: Option<f32>) -> Result<Tensor> {
        Ok(Tensor::attention_impl(q, k, v, causal, scale, false)?.0)
    }

    /// Attention plus its weights [.., Tq, Tk] (not differentiated), for interpretability.
    pub fn attention_with_weights(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        causal: bool,
        scale: Option<f32>,
    ) -> Result<(Tensor, Tensor)> {
        let (o, w) = Tensor::attention_impl(q, k, v, causal, scale, true)?;
        Ok((o, w.expect("weights requested")))
    }

    fn attention_impl(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        causal: bool,
        scale: Option<f32>,
        weights: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        q.expect_same_device(k, "attention")?;
        q.expect_same_device(v, "attention")?;
        let (d, shape) = dims(q, k, v, causal, scale)?;
        let be = backend(q.device())?;
        let (o, lse) = be.attention(&d, &Qkv { q: q.storage(), k: k.storage(), v: v.storage() })?;
        let w = if weights {
            let mut ws = shape[..shape.len() - 2].to_vec();
            ws.extend([d.tq, d.tk]);
            Some(Tensor::from_storage(be.attention_weights(&d, q.storage(), k.storage(), &lse)?, ws))
        } else {
            None
        };
        let (qs, ks, vs, os) = (q.clone(), k.clone(), v.clone(), o.clone());
        let out = Tensor::from_op(o, shape, &[q, k, v], move |g| {
            let be = backend(g.device())?;
            let (dq, dk, dv) = be.attention_backward(
                &d,
                &Qkv { q: qs.storage(), k: ks.storage(), v: vs.storage() },
                &AttentionOut { o: &os, lse: &lse },
                g.storage(),
            )?;
            Ok(vec![
                Some(Tensor::from_storage(dq, qs.shape().to_vec())),
                Some(Tensor::from_storage(dk, ks.shape().to_vec())),
                Some(Tensor::from_storage(dv, vs.shape().to_vec())),
            ])
        });
        Ok((out, w))
    }
}
