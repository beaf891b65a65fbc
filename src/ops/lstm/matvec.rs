//! The LSTM's recurrent products at small batch, hand-written because gemm's m = 1 path is ~8× slower:
//! packed panels for whole sequences (w_hh repacked once per call, 32 outputs per panel so that the
//! accumulators stay in registers while the weights stream contiguously) and unpacked row kernels for a single
//! step (where a repack would cost ten times the product). Plain loops that LLVM vectorises (SSE2 on baseline
//! x86-64: ~16 µs for a [1, 256]×[256, 1024] step, about what L3 delivers for the 1 MB weight).

use rayon::prelude::*;

/// Outputs per packed panel: 32 accumulators are 8 SSE registers, enough independent add chains to hide the
/// add latency while leaving registers for the weights.
const PANEL: usize = 32;
/// Per-step products of several rows run one row per rayon task from this many multiply-adds per row.
const PAR_ROW_MIN_MACS: usize = 1 << 15;

/// Σ_kk x[kk]·panel[kk][0..32] for one packed panel. Its own function (never inlined) so that the 32
/// accumulators live in registers: once the caller slices the result with a run-time length, LLVM keeps an
/// inlined accumulator array in memory and every add waits on a store (measured 1.7× slower).
#[inline(never)]
fn panel_dot(panel: &[f32], x: &[f32]) -> [f32; PANEL] {
    let mut acc = [0.0f32; PANEL];
    for (row, &xv) in panel.chunks_exact(PANEL).zip(x) {
        for l in 0..PANEL {
            acc[l] += xv * row[l];
        }
    }
    acc
}

/// op(W) [k, n] repacked as ⌈n/32⌉ panels of [k][32] (the last zero-padded), so that one panel's 32
/// accumulators stay in registers while its weights stream from memory contiguously. Element (kk, j) of
/// op(W) is `w[kk·rs + j·cs]`.
#[derive(Clone)]
pub(super) struct Panels {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl Panels {
    pub(super) fn pack(k: usize, n: usize, w: &[f32], rs: usize, cs: usize) -> Panels {
        let mut data = vec![0.0f32; n.div_ceil(PANEL) * k * PANEL];
        for (p, panel) in data.chunks_mut(k * PANEL).enumerate() {
            for l in 0..PANEL.min(n - p * PANEL) {
                let j = p * PANEL + l;
                for kk in 0..k {
                    panel[kk * PANEL + l] = w[kk * rs + j * cs];
                }
            }
        }
        Panels { k, n, data }
    }

    /// out[0..n] (+)= x[0..k]·op(W), single-threaded.
    fn matvec(&self, x: &[f32], out: &mut [f32], accumulate: bool) {
        let k = self.k;
        for (panel, o) in self.data.chunks_exact(k * PANEL).zip(out[..self.n].chunks_mut(PANEL)) {
            let acc = panel_dot(panel, &x[..k]);
            if accumulate {
                o.iter_mut().zip(&acc).for_each(|(o, a)| *o += a);
            } else {
                o.copy_from_slice(&acc[..o.len()]);
            }
        }
    }

    /// C[m, n] (row stride ldc) (+)= A[m, k] (row stride lda)·op(W): one matrix-vector product per row, the
    /// rows in parallel when each is big enough to pay for the hand-off. A single row is not split over
    /// threads: a per-step hand-off between 2 threads made a batch-1 direction 1.6× slower than one thread
    /// here, and a bidirectional layer gets its parallelism from running its two directions at once.
    pub(super) fn matmul(&self, m: usize, a: &[f32], lda: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
        let k = self.k;
        let row = |(b, c_row): (usize, &mut [f32])| self.matvec(&a[b * lda..b * lda + k], c_row, accumulate);
        if m > 1 && rayon::current_num_threads() > 1 && self.n * k >= PAR_ROW_MIN_MACS {
            c.par_chunks_mut(ldc).take(m).enumerate().for_each(row);
        } else {
            c.chunks_mut(ldc).take(m).enumerate().for_each(row);
        }
    }
}

/// Four dot products Σ_k x[k]·r_i[k] with 8-lane partial sums (its own function for the same register reason
/// as `panel_dot`).
#[inline(never)]
fn dot4(r: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let k8 = x.len() / 8 * 8;
    let mut acc = [[0.0f32; 8]; 4];
    fn chunks(v: &[f32], k8: usize) -> std::slice::ChunksExact<'_, f32> {
        v[..k8].chunks_exact(8)
    }
    let rows = chunks(r[0], k8).zip(chunks(r[1], k8)).zip(chunks(r[2], k8)).zip(chunks(r[3], k8));
    for (xc, (((a, b), c), d)) in chunks(x, k8).zip(rows) {
        for l in 0..8 {
            acc[0][l] += xc[l] * a[l];
            acc[1][l] += xc[l] * b[l];
            acc[2][l] += xc[l] * c[l];
            acc[3][l] += xc[l] * d[l];
        }
    }
    let mut out = [0.0f32; 4];
    for i in 0..4 {
        let tail: f32 = x[k8..].iter().zip(&r[i][k8..]).map(|(a, b)| a * b).sum();
        out[i] = acc[i].iter().sum::<f32>() + tail;
    }
    out
}

/// out[j] += Σ_k x[k]·w[j, k] for w row-major [n, k] (PyTorch's layout), without packing: the single-step
/// product, where a repack would cost ten times the product itself.
pub(super) fn matvec_rows(w: &[f32], x: &[f32], out: &mut [f32]) {
    let k = x.len();
    let n4 = out.len() / 4 * 4;
    for (j, o) in out[..n4].chunks_exact_mut(4).enumerate() {
        let row = |i: usize| &w[(4 * j + i) * k..(4 * j + i + 1) * k];
        let dots = dot4([row(0), row(1), row(2), row(3)], x);
        o.iter_mut().zip(dots).for_each(|(o, v)| *o += v);
    }
    for (j, o) in out.iter_mut().enumerate().skip(n4) {
        *o += w[j * k..(j + 1) * k].iter().zip(x).map(|(a, b)| a * b).sum::<f32>();
    }
}

/// out[k'] = Σ_j x[j]·w[j, k'] for w row-major [rows, k] and out [k]: rows four at a time into the
/// L1-resident output, the single-step backward product without packing.
pub(super) fn vecmat_rows(w: &[f32], x: &[f32], out: &mut [f32]) {
    let k = out.len();
    out.fill(0.0);
    let rows4 = x.len() / 4;
    for (r4, x4) in w.chunks_exact(4 * k).zip(x.chunks_exact(4)) {
        let (r0, rest) = r4.split_at(k);
        let (r1, rest) = rest.split_at(k);
        let (r2, r3) = rest.split_at(k);
        let (x0, x1, x2, x3) = (x4[0], x4[1], x4[2], x4[3]);
        for ((((o, a), b), c), d) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            *o += x0 * a + x1 * b + x2 * c + x3 * d;
        }
    }
    for (r, &xv) in w.chunks_exact(k).zip(x).skip(4 * rows4) {
        out.iter_mut().zip(r).for_each(|(o, a)| *o += xv * a);
    }
}
