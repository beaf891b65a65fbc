//! CPU optimizer updates: the reference loops in f32 over parallel chunks (elementwise, so the chunking cannot
//! change a result), and the squared sum accumulated in f64 per chunk.

use super::{reference, sgd_len, AdamArgs, AdamStep, OptimKernel, SgdStep};
use crate::backend::cpu::{host, out, CpuBackend};
use crate::backend::{expect_len, Pair, Storage, Triple};
use crate::Result;
use rayon::prelude::*;

/// Below this many elements one thread is faster than handing chunks out.
const CHUNK: usize = 1 << 15;

/// The single value of a one-element buffer.
fn scalar(what: &str, s: &Storage) -> Result<f32> {
    let v = host(s)?;
    expect_len(what, v.len(), 1)?;
    Ok(v[0])
}

/// acc + Σ g² with f64 partial sums.
pub fn sum_squares(g: &[f32], acc: f32) -> f32 {
    let part = |c: &[f32]| c.iter().map(|&x| x as f64 * x as f64).sum::<f64>();
    let total: f64 = if g.len() > CHUNK { g.par_chunks(CHUNK).map(part).sum() } else { part(g) };
    (acc as f64 + total) as f32
}

/// Adam/AdamW in place, chunk by chunk.
pub fn adam_update(s: &AdamStep, scale: f32, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m), v)| reference::adam_update(s, scale, p, g, m, v));
}

/// SGD in place, chunk by chunk.
pub fn sgd_update(s: &SgdStep, scale: f32, p: &mut [f32], g: &[f32], buf: &mut [f32]) {
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(buf.par_chunks_mut(CHUNK))
        .for_each(|((p, g), b)| reference::sgd_update(s, scale, p, g, b));
}

impl OptimKernel for CpuBackend {
    fn sum_squares(&self, g: &Storage, acc: &Storage) -> Result<Storage> {
        let acc = scalar("sum_squares: acc", acc)?;
        Ok(out(vec![sum_squares(host(g)?, acc)]))
    }

    fn clip_factor(&self, total: &Storage, max_norm: f32) -> Result<Storage> {
        Ok(out(vec![reference::clip_factor(scalar("clip_factor: total", total)?, max_norm)]))
    }

    fn adam_update(&self, a: &AdamArgs<'_>, s: &AdamStep) -> Result<Triple> {
        a.checked_len()?;
        let (mut p, mut m, mut v) = (host(a.p)?.to_vec(), host(a.m)?.to_vec(), host(a.v)?.to_vec());
        adam_update(s, scalar("adam_update: scale", a.scale)?, &mut p, host(a.g)?, &mut m, &mut v);
        Ok((out(p), out(m), out(v)))
    }

    fn sgd_update(&self, p: &Storage, g: &Storage, buf: &Storage, scale: &Storage, s: &SgdStep) -> Result<Pair> {
        sgd_len(p, g, buf, scale)?;
        let (mut p, mut b) = (host(p)?.to_vec(), host(buf)?.to_vec());
        sgd_update(s, scalar("sgd_update: scale", scale)?, &mut p, host(g)?, &mut b);
        Ok((out(p), out(b)))
    }
}
