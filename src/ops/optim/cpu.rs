//! CPU optimizer updates: the reference loops in f32, the whole group's (tensor, chunk) pieces handed to rayon as
//! one list (elementwise, so the chunking cannot change a result; a group of many small tensors costs one
//! fork-join, not one per tensor), and the squared norm accumulated in f64 per tensor.

use super::{adam_lens, reference, sgd_lens, AdamSlot, AdamStep, OptimKernel, SgdSlot, SgdStep};
use crate::backend::cpu::{host, out, CpuBackend};
use crate::backend::{expect_len, Pair, Storage, Triple};
use crate::{Error, Result};
use rayon::prelude::*;

/// Below this many elements one thread is faster than handing chunks out.
const CHUNK: usize = 1 << 15;

/// The single value of a one-element buffer.
fn scalar(what: &str, s: &Storage) -> Result<f32> {
    let v = host(s)?;
    expect_len(what, v.len(), 1)?;
    Ok(v[0])
}

/// Σ_tensors Σ g²: each tensor's sum in f64, added to the f32 running total tensor by tensor (the rounding of
/// the per-tensor launches this replaced, so a CPU run is bit for bit what it was).
pub fn squared_norm(gs: &[&[f32]]) -> f32 {
    let part = |c: &[f32]| c.iter().map(|&x| x as f64 * x as f64).sum::<f64>();
    let sum = |g: &[f32]| -> f64 {
        if g.len() > CHUNK {
            g.par_chunks(CHUNK).map(part).sum()
        } else {
            part(g)
        }
    };
    gs.iter().fold(0.0f32, |acc, g| (acc as f64 + sum(g)) as f32)
}

/// A group's state on the host for an in-place update: per tensor a copy of each of its N state buffers
/// (parameters first), and its gradient borrowed.
type HostGroup<'a, const N: usize> = (Vec<[Vec<f32>; N]>, Vec<&'a [f32]>);

fn host_group<'a, const N: usize>(
    ts: impl Iterator<Item = ([&'a Storage; N], &'a Storage)>,
) -> Result<HostGroup<'a, N>> {
    let (mut new, mut grads) = (Vec::new(), Vec::new());
    for (state, g) in ts {
        let mut copies = Vec::with_capacity(N);
        for s in state {
            copies.push(host(s)?.to_vec());
        }
        new.push(copies.try_into().map_err(|_| Error::Device("optimizer: a state copy lost its length".into()))?);
        grads.push(host(g)?);
    }
    Ok((new, grads))
}

/// One tensor's host views for an in-place Adam update: (p, g, m, v).
pub type AdamViews<'a> = (&'a mut [f32], &'a [f32], &'a mut [f32], &'a mut [f32]);

/// Adam/AdamW in place over every tensor of a group, as one parallel list of chunks.
pub fn adam_group(s: &AdamStep, scale: f32, ts: &mut [AdamViews<'_>]) {
    let mut pieces = Vec::new();
    for (p, g, m, v) in ts.iter_mut() {
        let chunks = p.chunks_mut(CHUNK).zip(g.chunks(CHUNK)).zip(m.chunks_mut(CHUNK)).zip(v.chunks_mut(CHUNK));
        pieces.extend(chunks.map(|(((p, g), m), v)| (p, g, m, v)));
    }
    pieces.into_par_iter().for_each(|(p, g, m, v)| reference::adam_update(s, scale, p, g, m, v));
}

/// SGD in place over every tensor of a group, as one parallel list of chunks.
pub fn sgd_group(s: &SgdStep, scale: f32, ts: &mut [(&mut [f32], &[f32], &mut [f32])]) {
    let mut pieces = Vec::new();
    for (p, g, b) in ts.iter_mut() {
        pieces.extend(p.chunks_mut(CHUNK).zip(g.chunks(CHUNK)).zip(b.chunks_mut(CHUNK)).map(|((p, g), b)| (p, g, b)));
    }
    pieces.into_par_iter().for_each(|(p, g, b)| reference::sgd_update(s, scale, p, g, b));
}

impl OptimKernel for CpuBackend {
    fn squared_norm(&self, gs: &[&Storage]) -> Result<Storage> {
        let gs = gs.iter().map(|g| host(g)).collect::<Result<Vec<_>>>()?;
        Ok(out(vec![squared_norm(&gs)]))
    }

    fn clip_factor(&self, total: &Storage, max_norm: f32) -> Result<Storage> {
        Ok(out(vec![reference::clip_factor(scalar("clip_factor: total", total)?, max_norm)]))
    }

    fn adam_group(&self, ts: &[AdamSlot<'_>], scale: &Storage, s: &AdamStep) -> Result<Vec<Triple>> {
        adam_lens(ts, scale)?;
        let scale = scalar("adam update: scale", scale)?;
        let (mut new, grads) = host_group(ts.iter().map(|t| ([t.p, t.m, t.v], t.g)))?;
        let mut views: Vec<_> = new
            .iter_mut()
            .zip(&grads)
            .map(|([p, m, v], g)| (p.as_mut_slice(), *g, m.as_mut_slice(), v.as_mut_slice()))
            .collect();
        adam_group(s, scale, &mut views);
        Ok(new.into_iter().map(|[p, m, v]| (out(p), out(m), out(v))).collect())
    }

    fn sgd_group(&self, ts: &[SgdSlot<'_>], scale: &Storage, s: &SgdStep) -> Result<Vec<Pair>> {
        sgd_lens(ts, scale)?;
        let scale = scalar("sgd update: scale", scale)?;
        let (mut new, grads) = host_group(ts.iter().map(|t| ([t.p, t.buf], t.g)))?;
        let mut views: Vec<_> =
            new.iter_mut().zip(&grads).map(|([p, b], g)| (p.as_mut_slice(), *g, b.as_mut_slice())).collect();
        sgd_group(s, scale, &mut views);
        Ok(new.into_iter().map(|[p, b]| (out(p), out(b))).collect())
    }
}
