//! Fast CPU conv1d (f32): one gemm per tap over the tap's valid time window, parallel over batch. See mod.rs for
//! the formulas and why each variant exists.
//!
//! A tap's window is a column range of x_b [c_in, t_in] (row stride t_in) and of y_b [c_out, t_out] (row stride
//! t_out), so gemm reads and writes it in place: the implicit zero padding is the part of the time axis the
//! window leaves out.
//!
//! Threads: with batch > 1, batch rows run in parallel and each tap's window is cut into pieces small enough
//! that gemm stays single-threaded (no gemm threads spawned from a rayon worker); with batch == 1 the windows
//! go to gemm whole and gemm threads them itself. Measured best-of-3 on the shared 2-core box (under load) at
//! 2·B·C²·T·K = 201 MFLOP (B32 C64 T256 K3 and B2 C128 T1024 K3): 60–90 GFLOP/s for all three kernels, against
//! ~100 GFLOP/s for one big sgemm. The same with whole windows (gemm threading inside workers) was no faster;
//! a sequential batch loop with gemm threading each medium product was 1.5–2.5× slower.

use super::Conv1dKernel;
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::{Pair, Storage};
use crate::Result;
use std::ops::Range;

use rayon::prelude::*;

use super::Conv1dDims;
use crate::ops::matmul::cpu::sgemm;

/// Most partials of the weight gradient (see `conv1d_backward_weight`): a constant so that training does not
/// depend on the thread count; 2, the split the 2-core machines always made (see `reduce::cpu::PARTS`).
const WEIGHT_GRAD_CHUNKS: usize = 2;

/// Mirrors `matmul::cpu`'s threshold: gemm threads a product of at least this many multiply-adds by itself.
const GEMM_THREADS_AT: usize = 1 << 18;

fn check(d: &Conv1dDims) {
    assert!(d.kernel >= 1, "conv1d: kernel must be at least 1");
    assert!(d.dilation >= 1, "conv1d: dilation must be at least 1");
}

/// w [c_out, c_in, kernel] → [kernel, c_out, c_in], so each tap's matrix W_k has contiguous rows for gemm.
fn repack_taps(d: &Conv1dDims, w: &[f32]) -> Vec<f32> {
    let mut wk = vec![0.0f32; w.len()];
    for o in 0..d.c_out {
        for i in 0..d.c_in {
            let src = &w[(o * d.c_in + i) * d.kernel..(o * d.c_in + i + 1) * d.kernel];
            for (k, &v) in src.iter().enumerate() {
                wk[(k * d.c_out + o) * d.c_in + i] = v;
            }
        }
    }
    wk
}

/// Whether batch rows run in parallel (and gemms must then stay single-threaded).
fn batch_parallel(d: &Conv1dDims) -> bool {
    d.batch > 1
}

/// Output-time pieces of tap k's valid window, each at most `cols` long.
fn windows(d: &Conv1dDims, k: usize, cols: usize) -> impl Iterator<Item = Range<usize>> {
    let r = d.tap_range(k);
    let end = r.end;
    r.step_by(cols).map(move |t0| t0..t0.saturating_add(cols).min(end))
}

/// Longest time window per gemm: under a parallel batch loop, short enough (c_out·c_in·cols multiply-adds below
/// gemm's threading threshold) that gemm runs on the calling worker alone.
fn max_cols(d: &Conv1dDims, parallel: bool) -> usize {
    if parallel {
        ((GEMM_THREADS_AT - 1) / (d.c_out * d.c_in).max(1)).max(1)
    } else {
        usize::MAX
    }
}

/// The input time tap k reads for output time t (t inside the tap's valid window).
fn input_time(d: &Conv1dDims, k: usize, t: usize) -> usize {
    (t as isize + d.shift(k)) as usize
}

/// Runs `f(b, out_b)` over the batch rows of `out`, each `stride` long, in parallel when `parallel`.
fn for_each_batch(out: &mut [f32], stride: usize, parallel: bool, f: impl Fn(usize, &mut [f32]) + Sync) {
    if parallel {
        out.par_chunks_mut(stride).enumerate().for_each(|(b, o)| f(b, o));
    } else {
        out.chunks_mut(stride).enumerate().for_each(|(b, o)| f(b, o));
    }
}

/// y [batch, c_out, t_out] = conv(x [batch, c_in, t_in], w [c_out, c_in, kernel]) + bias [c_out].
pub fn conv1d_forward(d: &Conv1dDims, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    check(d);
    assert_eq!(x.len(), d.x_len(), "conv1d: x length");
    assert_eq!(w.len(), d.w_len(), "conv1d: w length");
    assert_eq!(y.len(), d.y_len(), "conv1d: y length");
    if let Some(b) = bias {
        assert_eq!(b.len(), d.c_out, "conv1d: bias length");
    }
    if y.is_empty() {
        return;
    }
    let wk = repack_taps(d, w);
    let (t_out, tap) = (d.t_out(), d.c_out * d.c_in);
    let x_stride = d.c_in * d.t_in;
    let parallel = batch_parallel(d);
    let cols = max_cols(d, parallel);
    for_each_batch(y, d.c_out * t_out, parallel, |b, yb| {
        let xb = &x[b * x_stride..(b + 1) * x_stride];
        for (o, row) in yb.chunks_mut(t_out).enumerate() {
            row.fill(bias.map_or(0.0, |bias| bias[o]));
        }
        for k in 0..d.kernel {
            let w_k = &wk[k * tap..(k + 1) * tap];
            for r in windows(d, k, cols) {
                let s0 = input_time(d, k, r.start);
                sgemm(
                    d.c_out,
                    r.len(),
                    d.c_in,
                    w_k,
                    d.c_in,
                    false,
                    &xb[s0..],
                    d.t_in,
                    false,
                    &mut yb[r.start..],
                    t_out,
                    true,
                );
            }
        }
    });
}

/// dx [batch, c_in, t_in] from w and dy [batch, c_out, t_out]: the tap loop with W_kᵀ into shifted dx windows.
pub fn conv1d_backward_input(d: &Conv1dDims, w: &[f32], dy: &[f32], dx: &mut [f32]) {
    check(d);
    assert_eq!(w.len(), d.w_len(), "conv1d: w length");
    assert_eq!(dy.len(), d.y_len(), "conv1d: dy length");
    assert_eq!(dx.len(), d.x_len(), "conv1d: dx length");
    if dx.is_empty() {
        return;
    }
    let wk = repack_taps(d, w);
    let (t_out, tap) = (d.t_out(), d.c_out * d.c_in);
    let y_stride = d.c_out * t_out;
    let parallel = batch_parallel(d);
    let cols = max_cols(d, parallel);
    for_each_batch(dx, d.c_in * d.t_in, parallel, |b, dxb| {
        dxb.fill(0.0);
        let dyb = &dy[b * y_stride..(b + 1) * y_stride];
        for k in 0..d.kernel {
            let w_k = &wk[k * tap..(k + 1) * tap];
            for r in windows(d, k, cols) {
                let s0 = input_time(d, k, r.start);
                sgemm(
                    d.c_in,
                    r.len(),
                    d.c_out,
                    w_k,
                    d.c_in,
                    true,
                    &dyb[r.start..],
                    t_out,
                    false,
                    &mut dxb[s0..],
                    d.t_in,
                    true,
                );
            }
        }
    });
}

/// dw [c_out, c_in, kernel] and, when asked, dbias [c_out] from x and dy.
///
/// dW_k [c_out, c_in] = Σ_b dy_b window [c_out, n] · x_b windowᵀ [n, c_in]. The batch is cut into up to
/// `WEIGHT_GRAD_CHUNKS` chunks run in parallel; each accumulates into its own [kernel, c_out, c_in] partial, and
/// the partials are summed in order.
pub fn conv1d_backward_weight(d: &Conv1dDims, x: &[f32], dy: &[f32], dw: &mut [f32], dbias: Option<&mut [f32]>) {
    check(d);
    assert_eq!(x.len(), d.x_len(), "conv1d: x length");
    assert_eq!(dy.len(), d.y_len(), "conv1d: dy length");
    assert_eq!(dw.len(), d.w_len(), "conv1d: dw length");
    let (t_out, tap) = (d.t_out(), d.c_out * d.c_in);
    let x_stride = d.c_in * d.t_in;
    let y_stride = d.c_out * t_out;
    // A fixed number of chunks, not one per thread: the chunking fixes the order in which the partials are
    // added, and training must not change in its last bits with the machine's core count (`train --resume`).
    let chunks = d.batch.clamp(1, WEIGHT_GRAD_CHUNKS);
    let per_chunk = d.batch.div_ceil(chunks);
    let cols = max_cols(d, chunks > 1);
    let partial = |c: usize| {
        let mut acc = vec![0.0f32; d.kernel * tap];
        for b in c * per_chunk..((c + 1) * per_chunk).min(d.batch) {
            let xb = &x[b * x_stride..(b + 1) * x_stride];
            let dyb = &dy[b * y_stride..(b + 1) * y_stride];
            for k in 0..d.kernel {
                let acc_k = &mut acc[k * tap..(k + 1) * tap];
                for r in windows(d, k, cols) {
                    let s0 = input_time(d, k, r.start);
                    sgemm(
                        d.c_out,
                        d.c_in,
                        r.len(),
                        &dyb[r.start..],
                        t_out,
                        false,
                        &xb[s0..],
                        d.t_in,
                        true,
                        acc_k,
                        d.c_in,
                        true,
                    );
                }
            }
        }
        acc
    };
    let partials: Vec<Vec<f32>> =
        if chunks > 1 { (0..chunks).into_par_iter().map(partial).collect() } else { vec![partial(0)] };
    let (first, rest) = partials.split_first().expect("at least one chunk");
    for o in 0..d.c_out {
        for i in 0..d.c_in {
            for k in 0..d.kernel {
                let j = (k * d.c_out + o) * d.c_in + i;
                dw[(o * d.c_in + i) * d.kernel + k] = first[j] + rest.iter().map(|p| p[j]).sum::<f32>();
            }
        }
    }
    if let Some(db) = dbias {
        assert_eq!(db.len(), d.c_out, "conv1d: dbias length");
        for (o, dbo) in db.iter_mut().enumerate() {
            let mut acc = 0.0f64;
            for b in 0..d.batch {
                let row = &dy[(b * d.c_out + o) * t_out..(b * d.c_out + o + 1) * t_out];
                acc += row.iter().sum::<f32>() as f64;
            }
            *dbo = acc as f32;
        }
    }
}

/// Newest output column y [batch, c_out] from hist [batch, c_in, receptive_field] (oldest first).
///
/// The columns tap k reads (`k·dilation`) are gathered into g [batch, c_in·kernel], which has the layout of a row
/// of w, so y = g · wᵀ is a single gemm on w as stored.
pub fn conv1d_step(d: &Conv1dDims, hist: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    check(d);
    let rf = d.receptive_field();
    assert_eq!(hist.len(), d.hist_len(), "conv1d_step: hist length");
    assert_eq!(w.len(), d.w_len(), "conv1d_step: w length");
    assert_eq!(y.len(), d.step_len(), "conv1d_step: y length");
    if let Some(b) = bias {
        assert_eq!(b.len(), d.c_out, "conv1d_step: bias length");
    }
    if y.is_empty() {
        return;
    }
    let ck = d.c_in * d.kernel;
    let mut g = vec![0.0f32; d.batch * ck];
    for (row, h) in g.chunks_mut(d.kernel).zip(hist.chunks(rf)) {
        for (k, gv) in row.iter_mut().enumerate() {
            *gv = h[k * d.dilation];
        }
    }
    sgemm(d.batch, d.c_out, ck, &g, ck, false, w, ck, true, y, d.c_out, false);
    if let Some(bias) = bias {
        for row in y.chunks_mut(d.c_out) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    }
}

impl Conv1dKernel for CpuBackend {
    fn conv1d(&self, d: &Conv1dDims, x: &Storage, w: &Storage, b: Option<&Storage>) -> Result<Storage> {
        let mut y = buf(d.batch * d.c_out * d.t_out());
        conv1d_forward(d, host(x)?, host(w)?, b.map(host).transpose()?, &mut y);
        Ok(out(y))
    }

    fn conv1d_backward_input(&self, d: &Conv1dDims, w: &Storage, dy: &Storage) -> Result<Storage> {
        let mut dx = buf(d.batch * d.c_in * d.t_in);
        conv1d_backward_input(d, host(w)?, host(dy)?, &mut dx);
        Ok(out(dx))
    }

    fn conv1d_backward_weight(&self, d: &Conv1dDims, x: &Storage, dy: &Storage) -> Result<Pair> {
        let mut dw = buf(d.c_out * d.c_in * d.kernel);
        let mut db = buf(d.c_out);
        conv1d_backward_weight(d, host(x)?, host(dy)?, &mut dw, Some(&mut db));
        Ok((out(dw), out(db)))
    }
}
