//! Launches `kernels/attention.cu`. The tile size is the largest of 32, 16, 8, 4 rows whose shared memory (Q, K, V
//! tiles, scores and accumulators, rows padded by one float) fits the 48 KiB every device gives a block.

use super::AttentionDims;
use super::{AttentionKernel, AttentionOut, Qkv};
use crate::backend::cuda::{grid_1d, grid_dim, int, CudaBackend};
use crate::backend::For;
use crate::backend::{Pair, Storage, Triple};
use crate::{Error, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

const SMEM_LIMIT: usize = 48 * 1024;

/// Shared-memory floats of each kernel for tiles of `t` rows (BQ = BK = t), matching the kernels' carving.
fn forward_floats(t: usize, d: usize, dv: usize) -> usize {
    let (lq, lv) = (d + 1, dv + 1);
    t * lq + t * lq + t * lv + t * t + t * lv + 3 * t
}
fn dkdv_floats(t: usize, d: usize, dv: usize) -> usize {
    let (lq, lv) = (d + 1, dv + 1);
    2 * t * lq + 2 * t * lv + t * lq + t * lv + 2 * t * t + 2 * t
}
fn dq_floats(t: usize, d: usize, dv: usize) -> usize {
    let (lq, lv) = (d + 1, dv + 1);
    2 * t * lq + t * lv + t * lq + t * lv + t * t + 2 * t
}

/// The tile rows and the dynamic shared-memory bytes for a kernel whose footprint is `floats(t)`.
fn pick_tile(d: &AttentionDims, floats: fn(usize, usize, usize) -> usize) -> Result<(usize, u32)> {
    for t in [32, 16, 8, 4] {
        let bytes = floats(t, d.d, d.dv) * 4;
        if bytes <= SMEM_LIMIT {
            return Ok((t, bytes as u32));
        }
    }
    Err(Error::Invalid(format!(
        "cuda attention: head widths d = {}, dv = {} are too large for shared memory",
        d.d, d.dv
    )))
}

fn tiles_cfg(rows: usize, bh: usize, t: usize, smem: u32) -> Result<LaunchConfig> {
    if bh > 65535 {
        return Err(Error::Invalid(format!("cuda attention: {bh} heads exceed the grid's 65535")));
    }
    Ok(LaunchConfig {
        grid_dim: (grid_dim(rows.div_ceil(t))?, bh as u32, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: smem,
    })
}

struct Sizes {
    bh: i32,
    tq: i32,
    tk: i32,
    d: i32,
    dv: i32,
    causal: i32,
    scale: f32,
}

fn sizes(d: &AttentionDims) -> Result<Sizes> {
    int(d.bh * d.tq * d.tk.max(d.d).max(d.dv), "attention size")?;
    Ok(Sizes {
        bh: int(d.bh, "bh")?,
        tq: int(d.tq, "tq")?,
        tk: int(d.tk, "tk")?,
        d: int(d.d, "d")?,
        dv: int(d.dv, "dv")?,
        causal: d.causal as i32,
        scale: d.scale as f32,
    })
}

impl AttentionKernel for CudaBackend {
    fn attention(&self, d: &AttentionDims, x: &Qkv) -> Result<Pair> {
        let Qkv { q, k, v } = *x;
        let (qs, ks, vs) =
            (self.input(q, d.q_len(), "q")?, self.input(k, d.k_len(), "k")?, self.input(v, d.v_len(), "v")?);
        let (mut o, mut lse) =
            (self.alloc(d.o_len(), For("attention", d))?, self.alloc(d.lse_len(), For("attention", d))?);
        if d.bh > 0 && d.tq > 0 {
            let s = sizes(d)?;
            let (t, smem) = pick_tile(d, forward_floats)?;
            let t32 = t as i32;
            let mut l = self.kernel("attention_forward")?;
            l.arg(qs.slice()).arg(ks.slice()).arg(vs.slice()).arg(&mut *o).arg(&mut *lse);
            l.arg(&s.bh).arg(&s.tq).arg(&s.tk).arg(&s.d).arg(&s.dv).arg(&s.causal).arg(&s.scale).arg(&t32).arg(&t32);
            // SAFETY: attention_forward(const float* q, k, v, float* o, lse, int bh, tq, tk, d, dv, causal, float scale,
            // int bq, int bk); 128 threads (a multiple of bq ≤ 32), dynamic shared memory sized by forward_floats as
            // the kernel carves it; buffers hold the AttentionDims lengths checked above.
            unsafe { self.launch(l, tiles_cfg(d.tq, d.bh, t, smem)?, "attention_forward")? };
        }
        Ok((self.wrap(o, d.o_len()), self.wrap(lse, d.lse_len())))
    }

    fn attention_weights(&self, d: &AttentionDims, q: &Storage, k: &Storage, lse: &Storage) -> Result<Storage> {
        let (qs, ks, ls) =
            (self.input(q, d.q_len(), "q")?, self.input(k, d.k_len(), "k")?, self.input(lse, d.lse_len(), "lse")?);
        let n = d.weights_len();
        let mut w = self.alloc(n, For("attention", d))?;
        if n > 0 {
            let s = sizes(d)?;
            let mut l = self.kernel("attention_weights")?;
            l.arg(qs.slice()).arg(ks.slice()).arg(ls.slice()).arg(&mut *w);
            l.arg(&s.bh).arg(&s.tq).arg(&s.tk).arg(&s.d).arg(&s.causal).arg(&s.scale);
            // SAFETY: attention_weights(const float* q, k, lse, float* w, int bh, tq, tk, d, causal, float scale).
            unsafe { self.launch(l, grid_1d(n), "attention_weights")? };
        }
        Ok(self.wrap(w, n))
    }

    fn attention_backward(&self, d: &AttentionDims, x: &Qkv, fwd: &AttentionOut, dout: &Storage) -> Result<Triple> {
        let AttentionOut { o, lse } = *fwd;
        let Qkv { q, k, v } = *x;
        let (qs, ks, vs) =
            (self.input(q, d.q_len(), "q")?, self.input(k, d.k_len(), "k")?, self.input(v, d.v_len(), "v")?);
        let (os, ls, gs) = (
            self.input(o, d.o_len(), "o")?,
            self.input(lse, d.lse_len(), "lse")?,
            self.input(dout, d.o_len(), "dout")?,
        );
        let (mut dq, mut dk, mut dv) = (
            self.alloc(d.q_len(), For("attention", d))?,
            self.alloc(d.k_len(), For("attention", d))?,
            self.alloc(d.v_len(), For("attention", d))?,
        );
        if d.bh == 0 || (d.tq == 0 && d.tk == 0) {
            return Ok((self.wrap(dq, d.q_len()), self.wrap(dk, d.k_len()), self.wrap(dv, d.v_len())));
        }
        let s = sizes(d)?;
        let rows = d.bh * d.tq;
        let mut delta = self.alloc(rows, For("attention", d))?;
        {
            let (rows64, dv32) = (rows as i64, s.dv);
            let mut l = self.kernel("attention_backward_delta")?;
            l.arg(os.slice()).arg(gs.slice()).arg(&mut *delta).arg(&rows64).arg(&dv32);
            // SAFETY: attention_backward_delta(const float* o, const float* dout, float* delta, long long rows, int dv);
            // o and dout hold rows·dv, delta rows values.
            unsafe { self.launch(l, grid_1d(rows), "attention_backward_delta")? };
        }
        // The two tiled kernels read the same inputs (q, k, v, dout, lse, delta) and the same sizes; they differ in
        // what they write (dk and dv, or dq), their tile budget and the rows they tile (keys, or queries).
        let tiled = |name: &str,
                     floats: fn(usize, usize, usize) -> usize,
                     rows: usize,
                     outs: Vec<&mut CudaSlice<f32>>| {
            let (t, smem) = pick_tile(d, floats)?;
            let t32 = t as i32;
            let mut l = self.kernel(name)?;
            l.arg(qs.slice()).arg(ks.slice()).arg(vs.slice()).arg(gs.slice()).arg(ls.slice()).arg(&*delta);
            for o in outs {
                l.arg(o);
            }
            l.arg(&s.bh).arg(&s.tq).arg(&s.tk).arg(&s.d).arg(&s.dv).arg(&s.causal).arg(&s.scale).arg(&t32).arg(&t32);
            // SAFETY: attention_backward_dkdv(const float* q, k, v, dout, lse, delta, float* dk, float* dv_out, int bh,
            // tq, tk, d, dv, causal, float scale, int bq, int bk) and attention_backward_dq(the same inputs, float* dq,
            // the same sizes): the callers below pass dk, dv to the first and dq to the second, each allocated with
            // its tensor's length; shared memory sized by the kernel's own `floats` as carved.
            unsafe { self.launch(l, tiles_cfg(rows, d.bh, t, smem)?, name) }
        };
        if d.tk > 0 {
            tiled("attention_backward_dkdv", dkdv_floats, d.tk, vec![&mut *dk, &mut *dv])?;
        }
        if d.tq > 0 {
            tiled("attention_backward_dq", dq_floats, d.tq, vec![&mut *dq])?;
        }
        Ok((self.wrap(dq, d.q_len()), self.wrap(dk, d.k_len()), self.wrap(dv, d.v_len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_shrink_to_fit_48k() {
        let small = AttentionDims::new(1, 64, 64, 16, 16, true);
        assert_eq!(pick_tile(&small, forward_floats).unwrap().0, 32);
        let wide = AttentionDims::new(1, 64, 64, 128, 128, false);
        let (t, bytes) = pick_tile(&wide, dkdv_floats).unwrap();
        assert!(t < 32 && bytes as usize <= SMEM_LIMIT);
        assert!(pick_tile(&AttentionDims::new(1, 4, 4, 4096, 4096, false), dkdv_floats).is_err());
    }
}
