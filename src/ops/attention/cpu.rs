//! Fast CPU attention, f32: per head, blocks of query rows, each block a few `sgemm` products over the keys
//! it can see with the row softmax between them (see the module doc for the plan and its reasons).

use super::{reference, AttentionDims};
use super::{AttentionKernel, AttentionOut, Qkv};
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::{Pair, Storage, Triple};
use crate::ops::fastmath;
use crate::ops::matmul::cpu::{sgemm, sgemm_serial_rows};
use crate::Result;
use rayon::prelude::*;

/// Query rows per block: big enough for gemm to reach full speed, small enough that the
/// `BLOCK_Q × tk` score scratch stays in L2 for tk up to a few thousand.
const BLOCK_Q: usize = 64;
/// Below this many rows per block gemm loses too much to re-reading K and V: run the heads one after
/// another and let gemm thread each (bigger) product instead.
const MIN_PARALLEL_BLOCK_Q: usize = 16;

/// Query blocks of at most this many rows use plain loops instead of gemm: for a single row (streaming
/// inference, `tq = 1`) gemm's packing costs several times the product itself (measured 1×1024×32 q·Kᵀ:
/// 84 µs through gemm, 10 µs as dot products).
const SMALL_ROWS: usize = 2;

/// y += alpha·x.
fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o += alpha * v;
    }
}

/// C[m,n] (row stride `ldc`) = A[m,w]·B[n,w]ᵀ, rows of A and B contiguous.
#[allow(clippy::too_many_arguments)]
fn abt(m: usize, n: usize, w: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize) {
    if m > SMALL_ROWS {
        return sgemm(m, n, w, a, w, false, b, w, true, c, ldc, false);
    }
    for r in 0..m {
        let a_r = &a[r * w..(r + 1) * w];
        for (j, o) in c[r * ldc..r * ldc + n].iter_mut().enumerate() {
            *o = fastmath::dot(a_r, &b[j * w..(j + 1) * w]);
        }
    }
}

/// C[m,n] = A[m,w]·B[w,n].
fn ab(m: usize, n: usize, w: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m > SMALL_ROWS {
        return sgemm(m, n, w, a, w, false, b, n, false, c, n, false);
    }
    for r in 0..m {
        let c_r = &mut c[r * n..(r + 1) * n];
        c_r.fill(0.0);
        for j in 0..w {
            axpy(c_r, a[r * w + j], &b[j * n..(j + 1) * n]);
        }
    }
}

/// C[n,w] += A[m,n]ᵀ·B[m,w].
fn atb_acc(m: usize, n: usize, w: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m > SMALL_ROWS {
        return sgemm(n, w, m, a, n, true, b, w, false, c, w, true);
    }
    for r in 0..m {
        for j in 0..n {
            axpy(&mut c[j * w..(j + 1) * w], a[r * n + j], &b[r * w..(r + 1) * w]);
        }
    }
}

/// How the work is spread over the cores for one call.
struct Plan {
    /// Heads in parallel (each block product single-threaded) or heads in turn (gemm threads the products
    /// and the row work is split over rows).
    heads_parallel: bool,
    /// Query rows per block.
    block: usize,
}

impl Plan {
    fn new(d: &AttentionDims) -> Self {
        let serial_rows = sgemm_serial_rows(d.tk, d.d.max(d.dv));
        if d.bh > 1 && serial_rows >= MIN_PARALLEL_BLOCK_Q.min(d.tq) {
            Plan { heads_parallel: true, block: serial_rows.clamp(1, BLOCK_Q) }
        } else {
            Plan { heads_parallel: false, block: BLOCK_Q }
        }
    }
    /// Query-row blocks `(first row, rows)` of one head.
    fn blocks(&self, tq: usize) -> impl Iterator<Item = (usize, usize)> {
        let block = self.block;
        (0..tq).step_by(block).map(move |i0| (i0, block.min(tq - i0)))
    }
}

/// True when a size is zero: the reference handles those trivially (empty loops, zero fills).
fn degenerate(d: &AttentionDims) -> bool {
    d.bh == 0 || d.tq == 0 || d.tk == 0 || d.d == 0 || d.dv == 0
}

/// Runs `f(r, a_r, b_r)` over the `lda`-element rows of `a` and the matching `ldb`-element rows of `b`
/// (one lse entry, or a row of the same length), in parallel when `par`.
fn rows<A: Send, B: Send>(
    par: bool,
    a: &mut [A],
    lda: usize,
    b: &mut [B],
    ldb: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync + Send,
) {
    if par {
        a.par_chunks_mut(lda).zip(b.par_chunks_mut(ldb)).enumerate().with_min_len(4).for_each(|(r, (x, y))| f(r, x, y));
    } else {
        a.chunks_mut(lda).zip(b.chunks_mut(ldb)).enumerate().for_each(|(r, (x, y))| f(r, x, y));
    }
}

/// Scores of query row `i` (raw q·k, first `nk` keys) → softmax weights in place; returns the lse.
fn softmax_row(d: &AttentionDims, i: usize, s: &mut [f32]) -> f32 {
    let nv = d.visible_keys(i);
    let (vis, hidden) = s.split_at_mut(nv);
    hidden.fill(0.0);
    if nv == 0 {
        return f32::NEG_INFINITY;
    }
    let scale = d.scale as f32;
    vis.iter_mut().for_each(|x| *x *= scale);
    let m = fastmath::max(vis);
    vis.iter_mut().for_each(|x| *x = fastmath::exp(*x - m));
    let sum = fastmath::sum(vis);
    let inv = 1.0 / sum;
    vis.iter_mut().for_each(|x| *x *= inv);
    m + sum.ln()
}

/// One head's forward. `s` is the block score scratch (at least `block × tk`).
#[allow(clippy::too_many_arguments)]
fn forward_head(
    d: &AttentionDims,
    plan: &Plan,
    q_h: &[f32],
    k_h: &[f32],
    v_h: &[f32],
    o_h: &mut [f32],
    lse_h: &mut [f32],
    s: &mut [f32],
) {
    let (dd, dv) = (d.d, d.dv);
    for (i0, nr) in plan.blocks(d.tq) {
        // Visible keys only grow with the row, so the block's last row bounds the whole block.
        let nk = d.visible_keys(i0 + nr - 1);
        let o_b = &mut o_h[i0 * dv..(i0 + nr) * dv];
        let lse_b = &mut lse_h[i0..i0 + nr];
        if nk == 0 {
            o_b.fill(0.0);
            lse_b.fill(f32::NEG_INFINITY);
            continue;
        }
        let s_b = &mut s[..nr * nk];
        abt(nr, nk, dd, &q_h[i0 * dd..], k_h, s_b, nk);
        rows(!plan.heads_parallel, s_b, nk, lse_b, 1, |r, s_row, l| l[0] = softmax_row(d, i0 + r, s_row));
        ab(nr, dv, nk, s_b, v_h, o_b);
    }
}

/// Fast attention forward, same contract as `reference::attention_forward`.
pub fn attention_forward(d: &AttentionDims, q: &[f32], k: &[f32], v: &[f32], o: &mut [f32], lse: &mut [f32]) {
    assert_eq!(q.len(), d.q_len(), "attention: q length");
    assert_eq!(k.len(), d.k_len(), "attention: k length");
    assert_eq!(v.len(), d.v_len(), "attention: v length");
    assert_eq!(o.len(), d.o_len(), "attention: o length");
    assert_eq!(lse.len(), d.lse_len(), "attention: lse length");
    if degenerate(d) {
        return reference::attention_forward(d, q, k, v, o, lse);
    }
    let plan = Plan::new(d);
    let (tq, tk) = (d.tq, d.tk);
    let head = |h: usize, o_h: &mut [f32], lse_h: &mut [f32], s: &mut [f32]| {
        let (q_h, k_h, v_h) = (&q[h * tq * d.d..], &k[h * tk * d.d..], &v[h * tk * d.dv..]);
        forward_head(d, &plan, q_h, k_h, v_h, o_h, lse_h, s);
    };
    let scratch = plan.block.min(tq) * tk;
    if plan.heads_parallel {
        o.par_chunks_mut(tq * d.dv)
            .zip(lse.par_chunks_mut(tq))
            .enumerate()
            .for_each_init(|| vec![0.0f32; scratch], |s, (h, (o_h, lse_h))| head(h, o_h, lse_h, s));
    } else {
        let mut s = vec![0.0f32; scratch];
        for (h, (o_h, lse_h)) in o.chunks_mut(tq * d.dv).zip(lse.chunks_mut(tq)).enumerate() {
            head(h, o_h, lse_h, &mut s);
        }
    }
}

/// Fast attention weights, same contract as `reference::attention_weights`: one QKᵀ product per block
/// straight into the output, then `exp(scale·s − lse)` per row.
pub fn attention_weights(d: &AttentionDims, q: &[f32], k: &[f32], lse: &[f32], w: &mut [f32]) {
    assert_eq!(q.len(), d.q_len(), "attention: q length");
    assert_eq!(k.len(), d.k_len(), "attention: k length");
    assert_eq!(lse.len(), d.lse_len(), "attention: lse length");
    assert_eq!(w.len(), d.weights_len(), "attention: weights length");
    if degenerate(d) {
        return reference::attention_weights(d, q, k, lse, w);
    }
    let plan = Plan::new(d);
    let (tq, tk, dd) = (d.tq, d.tk, d.d);
    let scale = d.scale as f32;
    let head = |h: usize, w_h: &mut [f32]| {
        let (q_h, k_h, lse_h) = (&q[h * tq * dd..], &k[h * tk * dd..], &lse[h * tq..]);
        for (i0, nr) in plan.blocks(tq) {
            let nk = d.visible_keys(i0 + nr - 1);
            let w_b = &mut w_h[i0 * tk..(i0 + nr) * tk];
            if nk > 0 {
                abt(nr, nk, dd, &q_h[i0 * dd..], k_h, w_b, tk);
            }
            let row = |r: usize, w_row: &mut [f32]| {
                let i = i0 + r;
                let nv = d.visible_keys(i);
                let (vis, hidden) = w_row.split_at_mut(nv);
                let l = lse_h[i];
                vis.iter_mut().for_each(|x| *x = fastmath::exp(*x * scale - l));
                hidden.fill(0.0);
            };
            if plan.heads_parallel {
                w_b.chunks_mut(tk).enumerate().for_each(|(r, w_row)| row(r, w_row));
            } else {
                w_b.par_chunks_mut(tk).enumerate().with_min_len(4).for_each(|(r, w_row)| row(r, w_row));
            }
        }
    };
    if plan.heads_parallel {
        w.par_chunks_mut(tq * tk).enumerate().for_each(|(h, w_h)| head(h, w_h));
    } else {
        w.chunks_mut(tq * tk).enumerate().for_each(|(h, w_h)| head(h, w_h));
    }
}

/// Read-only per-head views for the backward.
struct HeadIn<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    o: &'a [f32],
    lse: &'a [f32],
    do_: &'a [f32],
}

/// One head's backward; `s` and `dp` are block scratch (at least `block × tk` each).
#[allow(clippy::too_many_arguments)]
fn backward_head(
    d: &AttentionDims,
    plan: &Plan,
    x: &HeadIn,
    dq_h: &mut [f32],
    dk_h: &mut [f32],
    dv_h: &mut [f32],
    s: &mut [f32],
    dp: &mut [f32],
) {
    let (dd, dv) = (d.d, d.dv);
    let scale = d.scale as f32;
    dk_h.fill(0.0);
    dv_h.fill(0.0);
    for (i0, nr) in plan.blocks(d.tq) {
        let nk = d.visible_keys(i0 + nr - 1);
        let dq_b = &mut dq_h[i0 * dd..(i0 + nr) * dd];
        if nk == 0 {
            dq_b.fill(0.0);
            continue;
        }
        let (q_b, do_b, o_b) = (&x.q[i0 * dd..], &x.do_[i0 * dv..], &x.o[i0 * dv..]);
        let (s_b, dp_b) = (&mut s[..nr * nk], &mut dp[..nr * nk]);
        // S = Q Kᵀ and dP = dO Vᵀ over the visible keys.
        abt(nr, nk, dd, q_b, x.k, s_b, nk);
        abt(nr, nk, dv, do_b, x.v, dp_b, nk);
        // P = exp(scale·S − lse) and dS = scale·P∘(dP − D), row by row.
        rows(!plan.heads_parallel, s_b, nk, dp_b, nk, |r, p_row, ds_row| {
            let i = i0 + r;
            let nv = d.visible_keys(i);
            let big_d = fastmath::dot(&do_b[r * dv..(r + 1) * dv], &o_b[r * dv..(r + 1) * dv]);
            let l = x.lse[i];
            for (p, ds) in p_row[..nv].iter_mut().zip(&mut ds_row[..nv]) {
                *p = fastmath::exp(*p * scale - l);
                *ds = scale * *p * (*ds - big_d);
            }
            p_row[nv..].fill(0.0);
            ds_row[nv..].fill(0.0);
        });
        // dV += Pᵀ dO, dQ = dS K, dK += dSᵀ Q (only the first nk keys receive anything).
        atb_acc(nr, nk, dv, s_b, do_b, &mut dv_h[..nk * dv]);
        ab(nr, dd, nk, dp_b, x.k, dq_b);
        atb_acc(nr, nk, dd, dp_b, q_b, &mut dk_h[..nk * dd]);
    }
}

/// Fast attention backward, same contract as `reference::attention_backward`.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    d: &AttentionDims,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &[f32],
    lse: &[f32],
    do_: &[f32],
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) {
    assert_eq!(q.len(), d.q_len(), "attention: q length");
    assert_eq!(k.len(), d.k_len(), "attention: k length");
    assert_eq!(v.len(), d.v_len(), "attention: v length");
    assert_eq!(o.len(), d.o_len(), "attention: o length");
    assert_eq!(lse.len(), d.lse_len(), "attention: lse length");
    assert_eq!(do_.len(), d.o_len(), "attention: do length");
    assert_eq!(dq.len(), d.q_len(), "attention: dq length");
    assert_eq!(dk.len(), d.k_len(), "attention: dk length");
    assert_eq!(dv.len(), d.v_len(), "attention: dv length");
    if degenerate(d) {
        return reference::attention_backward(d, q, k, v, o, lse, do_, dq, dk, dv);
    }
    let plan = Plan::new(d);
    let (tq, tk, dd, dvw) = (d.tq, d.tk, d.d, d.dv);
    let head = |h: usize, grads: (&mut [f32], &mut [f32], &mut [f32]), scratch: &mut (Vec<f32>, Vec<f32>)| {
        let x = HeadIn {
            q: &q[h * tq * dd..(h + 1) * tq * dd],
            k: &k[h * tk * dd..(h + 1) * tk * dd],
            v: &v[h * tk * dvw..(h + 1) * tk * dvw],
            o: &o[h * tq * dvw..(h + 1) * tq * dvw],
            lse: &lse[h * tq..(h + 1) * tq],
            do_: &do_[h * tq * dvw..(h + 1) * tq * dvw],
        };
        let (dq_h, dk_h, dv_h) = grads;
        backward_head(d, &plan, &x, dq_h, dk_h, dv_h, &mut scratch.0, &mut scratch.1);
    };
    let rows = plan.block.min(tq);
    let scratch = || (vec![0.0f32; rows * tk], vec![0.0f32; rows * tk]);
    if plan.heads_parallel {
        dq.par_chunks_mut(tq * dd)
            .zip(dk.par_chunks_mut(tk * dd))
            .zip(dv.par_chunks_mut(tk * dvw))
            .enumerate()
            .for_each_init(scratch, |sc, (h, ((dq_h, dk_h), dv_h))| head(h, (dq_h, dk_h, dv_h), sc));
    } else {
        let mut sc = scratch();
        let heads = dq.chunks_mut(tq * dd).zip(dk.chunks_mut(tk * dd)).zip(dv.chunks_mut(tk * dvw));
        for (h, ((dq_h, dk_h), dv_h)) in heads.enumerate() {
            head(h, (dq_h, dk_h, dv_h), &mut sc);
        }
    }
}

impl AttentionKernel for CpuBackend {
    fn attention(&self, d: &AttentionDims, x: &Qkv) -> Result<Pair> {
        let Qkv { q, k, v } = *x;
        let mut o = buf(d.bh * d.tq * d.dv);
        let mut lse = buf(d.bh * d.tq);
        attention_forward(d, host(q)?, host(k)?, host(v)?, &mut o, &mut lse);
        Ok((out(o), out(lse)))
    }

    fn attention_weights(&self, d: &AttentionDims, q: &Storage, k: &Storage, lse: &Storage) -> Result<Storage> {
        let mut w = buf(d.bh * d.tq * d.tk);
        attention_weights(d, host(q)?, host(k)?, host(lse)?, &mut w);
        Ok(out(w))
    }

    fn attention_backward(&self, d: &AttentionDims, x: &Qkv, fwd: &AttentionOut, dout: &Storage) -> Result<Triple> {
        let AttentionOut { o, lse } = *fwd;
        let Qkv { q, k, v } = *x;
        let (mut dq, mut dk, mut dv) = (buf(q.len()), buf(k.len()), buf(v.len()));
        attention_backward(
            d,
            host(q)?,
            host(k)?,
            host(v)?,
            host(o)?,
            host(lse)?,
            host(dout)?,
            &mut dq,
            &mut dk,
            &mut dv,
        );
        Ok((out(dq), out(dk), out(dv)))
    }
}
