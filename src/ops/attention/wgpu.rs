//! Launchers for `shaders/attention.wgsl`: the fused forward (one launch), the weights map, and the backward
//! (delta, then dq and dk/dv, in one submit).

use super::AttentionDims;
use super::{AttentionKernel, AttentionOut, Qkv};
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader};
use crate::backend::For;
use crate::backend::{expect_len, Pair, Storage, Triple};
use crate::{Error, Result};

static SHADER: Shader = Shader::named("attention");

/// Rows per workgroup and the widest head the kernels hold in per-thread arrays (`ROWS`, `MAXD` in the shader).
const ROWS: usize = 64;
const MAXD: usize = 128;

fn check(d: &AttentionDims, named: &[(&str, usize, usize)]) -> Result<Params> {
    if d.d > MAXD || d.dv > MAXD {
        return Err(Error::Invalid(format!(
            "wgpu attention: head widths d = {}, dv = {} exceed the kernel's {MAXD}",
            d.d, d.dv
        )));
    }
    for &(what, got, want) in named {
        expect_len(&format!("attention {what}"), got, want)?;
    }
    Ok(Params::new().u(d.bh).u(d.tq).u(d.tk).u(d.d).u(d.dv).flag(d.causal).f(d.scale as f32))
}

/// Workgroups for one thread per row of `rows` per head.
fn heads_grid(d: &AttentionDims, rows: usize) -> [u32; 3] {
    let x = rows.div_ceil(ROWS);
    if x == 0 || d.bh == 0 {
        return [0, 0, 0];
    }
    [x as u32, d.bh.min(u32::MAX as usize) as u32, 1]
}

impl AttentionKernel for Gpu {
    /// (o, lse).
    fn attention(&self, d: &AttentionDims, x: &Qkv) -> Result<Pair> {
        let Qkv { q, k, v } = *x;
        let gpu = self.handle()?;
        let (qb, kb, vb) = (gpu.buf(q)?, gpu.buf(k)?, gpu.buf(v)?);
        let p = check(d, &[("q", qb.len(), d.q_len()), ("k", kb.len(), d.k_len()), ("v", vb.len(), d.v_len())])?;
        let (o, lse) = (gpu.alloc(d.o_len(), For("attention", d))?, gpu.alloc(d.lse_len(), For("attention", d))?);
        let args = Arg::list(&[qb, kb, vb], &[&o, &lse]);
        gpu.run(&[Launch::new(&SHADER, "attn_fwd", p, args, heads_grid(d, d.tq))])?;
        Ok((store(o), store(lse)))
    }

    /// The softmax weights [bh, tq, tk], rebuilt from q, k and the saved lse.
    fn attention_weights(&self, d: &AttentionDims, q: &Storage, k: &Storage, lse: &Storage) -> Result<Storage> {
        let gpu = self.handle()?;
        let (qb, kb, lb) = (gpu.buf(q)?, gpu.buf(k)?, gpu.buf(lse)?);
        let p = check(d, &[("q", qb.len(), d.q_len()), ("k", kb.len(), d.k_len()), ("lse", lb.len(), d.lse_len())])?;
        let w = gpu.alloc(d.weights_len(), For("attention", d))?;
        let args = Arg::list(&[qb, kb, lb], &[&w]);
        gpu.run(&[Launch::new(&SHADER, "attn_weights", p, args, grid(d.weights_len(), 256))])?;
        Ok(store(w))
    }

    /// (dq, dk, dv).
    fn attention_backward(&self, d: &AttentionDims, x: &Qkv, fwd: &AttentionOut, dout: &Storage) -> Result<Triple> {
        let AttentionOut { o, lse } = *fwd;
        let Qkv { q, k, v } = *x;
        let gpu = self.handle()?;
        let (qb, kb, vb) = (gpu.buf(q)?, gpu.buf(k)?, gpu.buf(v)?);
        let (ob, lb, gb) = (gpu.buf(o)?, gpu.buf(lse)?, gpu.buf(dout)?);
        let p = check(
            d,
            &[
                ("q", qb.len(), d.q_len()),
                ("k", kb.len(), d.k_len()),
                ("v", vb.len(), d.v_len()),
                ("o", ob.len(), d.o_len()),
                ("lse", lb.len(), d.lse_len()),
                ("dout", gb.len(), d.o_len()),
            ],
        )?;
        let delta = gpu.alloc(d.lse_len(), For("attention", d))?;
        let (dq, dk, dv) = (
            gpu.alloc(d.q_len(), For("attention", d))?,
            gpu.alloc(d.k_len(), For("attention", d))?,
            gpu.alloc(d.v_len(), For("attention", d))?,
        );
        gpu.run(&[
            Launch::new(&SHADER, "attn_bwd_delta", p.clone(), Arg::list(&[ob, gb], &[&delta]), grid(d.lse_len(), 256)),
            Launch::new(
                &SHADER,
                "attn_bwd_dq",
                p.clone(),
                Arg::list(&[qb, kb, vb, gb, lb, &delta], &[&dq]),
                heads_grid(d, d.tq),
            ),
            Launch::new(
                &SHADER,
                "attn_bwd_dkdv",
                p,
                Arg::list(&[qb, kb, vb, gb, lb, &delta], &[&dk, &dv]),
                heads_grid(d, d.tk),
            ),
        ])?;
        Ok((store(dq), store(dk), store(dv)))
    }
}
