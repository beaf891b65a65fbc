//! Fast CPU LSTM (f32): one gemm for every step's input projection, then per step one recurrent product (a
//! packed-panel matrix-vector kernel for small batches, sgemm for big ones) plus the fused gate math; backward
//! keeps dgates for all steps and finishes with three big gemms. The module doc of `lstm` has the formulas,
//! the measurements and the reasons.

use super::{LstmArgs, LstmGrads, LstmKernel, LstmSaved};
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::Storage;
use crate::Result;
use std::borrow::Cow;

use rayon::prelude::*;

use super::matvec::{matvec_rows, vecmat_rows, Panels};
use super::LstmDims;
use crate::ops::fastmath::{sigmoid, tanh};
use crate::ops::matmul::cpu::sgemm;

/// Per-step products with fewer batch rows than this use the hand-written matrix-vector kernels, one row at a
/// time; gemm's own m = 1 path is ~8× slower, and at 2–8 rows its packed path (which repacks the weight on
/// every call) still lost to one kernel per row.
const PANEL_MAX_ROWS: usize = 16;
/// Per-step gate math over at least this many units (batch × H) runs on rayon, one batch row per task.
const PAR_GATE_MIN: usize = 1 << 13;

/// Gate math of one batch row: `pre` [4H] (pre-activations in, post-activation i, f, g, o out), c' and h'.
/// Plain loops over contiguous slices, so the fast activations vectorise.
pub(crate) fn gate_math_row(pre: &mut [f32], c_prev: &[f32], h_out: &mut [f32], c_out: &mut [f32]) {
    let nh = c_prev.len();
    let (ifg, o) = pre.split_at_mut(3 * nh);
    let (i_f, g) = ifg.split_at_mut(2 * nh);
    // Separate plain loops: a chained iterator would not vectorise.
    for v in i_f.iter_mut() {
        *v = sigmoid(*v);
    }
    for v in o.iter_mut() {
        *v = sigmoid(*v);
    }
    for v in g.iter_mut() {
        *v = tanh(*v);
    }
    let (i, f) = i_f.split_at(nh);
    let (o, c_out, h_out) = (&o[..nh], &mut c_out[..nh], &mut h_out[..nh]);
    for j in 0..nh {
        let c_new = f[j] * c_prev[j] + i[j] * g[j];
        c_out[j] = c_new;
        h_out[j] = o[j] * tanh(c_new);
    }
}

/// Gate derivatives of one batch row: from the saved `gates` [4H], c, c' and the gradient `dh` reaching h',
/// writes `dpre` [4H]; `dc` holds the gradient reaching c' on entry and that of c on exit.
fn gate_grads_row(gates: &[f32], c_prev: &[f32], c_new: &[f32], dh: &[f32], dc: &mut [f32], dpre: &mut [f32]) {
    let nh = c_prev.len();
    let (i, rest) = gates.split_at(nh);
    let (f, rest) = rest.split_at(nh);
    let (g, o) = rest.split_at(nh);
    let (di_f, dg_o) = dpre.split_at_mut(2 * nh);
    let (di, df) = di_f.split_at_mut(nh);
    let (dg, d_o) = dg_o.split_at_mut(nh);
    for j in 0..nh {
        let tanh_c = tanh(c_new[j]);
        let dc_total = dc[j] + dh[j] * o[j] * (1.0 - tanh_c * tanh_c);
        di[j] = dc_total * g[j] * i[j] * (1.0 - i[j]);
        df[j] = dc_total * c_prev[j] * f[j] * (1.0 - f[j]);
        dg[j] = dc_total * i[j] * (1.0 - g[j] * g[j]);
        d_o[j] = dh[j] * tanh_c * o[j] * (1.0 - o[j]);
        dc[j] = dc_total * f[j];
    }
}

/// The recurrent weight in the form the per-step products read fastest, prepared once per sequence.
enum StepWeight<'a> {
    /// Batches below `PANEL_MAX_ROWS`: packed panels for the matrix-vector kernel (borrowed when the caller
    /// packed them, [`pack_recurrent`]).
    Panels(Cow<'a, Panels>),
    /// op(W) as a row-major [k, n] matrix for sgemm (which reads a unit-column-stride B ~2× faster than a
    /// transposed one at these shapes).
    Dense { b: Cow<'a, [f32]>, k: usize, n: usize },
}

impl<'a> StepWeight<'a> {
    /// For h·w_hhᵀ (forward): op(W) = w_hhᵀ, [H, 4H].
    fn forward(batch: usize, w_hh: &[f32], nh: usize) -> StepWeight<'static> {
        let (k, n) = (nh, 4 * nh);
        if batch < PANEL_MAX_ROWS {
            return StepWeight::Panels(Cow::Owned(Panels::pack(k, n, w_hh, 1, nh)));
        }
        // Transposed in 32×32 tiles, so that neither side strides through memory a float at a time.
        let mut t = vec![0.0f32; k * n];
        for j0 in (0..n).step_by(32) {
            for k0 in (0..k).step_by(32) {
                for j in j0..(j0 + 32).min(n) {
                    for kk in k0..(k0 + 32).min(k) {
                        t[kk * n + j] = w_hh[j * k + kk];
                    }
                }
            }
        }
        StepWeight::Dense { b: Cow::Owned(t), k, n }
    }

    /// For dgates·w_hh (backward): op(W) = w_hh, [4H, H].
    fn backward(batch: usize, w_hh: &'a [f32], nh: usize) -> StepWeight<'a> {
        let (k, n) = (4 * nh, nh);
        if batch < PANEL_MAX_ROWS {
            return StepWeight::Panels(Cow::Owned(Panels::pack(k, n, w_hh, nh, 1)));
        }
        StepWeight::Dense { b: Cow::Borrowed(w_hh), k, n }
    }

    /// C[m, n] (row stride ldc) (+)= A[m, k] (row stride lda)·op(W).
    fn product(&self, m: usize, a: &[f32], lda: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
        match self {
            StepWeight::Panels(p) => p.matmul(m, a, lda, c, ldc, accumulate),
            StepWeight::Dense { b, k, n } => sgemm(m, *n, *k, a, lda, false, b, *n, false, c, ldc, accumulate),
        }
    }
}

/// One step; see `reference::lstm_cell_forward`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_cell_forward(
    d: &LstmDims,
    x_t: &[f32],
    h: &[f32],
    c: &[f32],
    w_ih: &[f32],
    w_hh: &[f32],
    b_ih: &[f32],
    b_hh: &[f32],
    h_out: &mut [f32],
    c_out: &mut [f32],
    gates: &mut [f32],
) {
    let (nb, ni, nh, g4) = (d.batch, d.input, d.hidden, d.gates());
    assert_eq!(x_t.len(), d.step_x_len(), "lstm cell: x_t");
    assert_eq!(h.len(), d.state_len(), "lstm cell: h");
    assert_eq!(c.len(), d.state_len(), "lstm cell: c");
    assert_eq!(w_ih.len(), d.w_ih_len(), "lstm cell: w_ih");
    assert_eq!(w_hh.len(), d.w_hh_len(), "lstm cell: w_hh");
    assert_eq!(b_ih.len(), g4, "lstm cell: b_ih");
    assert_eq!(b_hh.len(), g4, "lstm cell: b_hh");
    assert_eq!(h_out.len(), d.state_len(), "lstm cell: h_out");
    assert_eq!(c_out.len(), d.state_len(), "lstm cell: c_out");
    assert_eq!(gates.len(), d.step_gates_len(), "lstm cell: gates");
    if nb == 0 || nh == 0 {
        return;
    }
    for row in gates.chunks_mut(g4) {
        for ((p, &bi), &bh) in row.iter_mut().zip(b_ih).zip(b_hh) {
            *p = bi + bh;
        }
    }
    if nb < PANEL_MAX_ROWS {
        for b in 0..nb {
            let pre = &mut gates[b * g4..(b + 1) * g4];
            matvec_rows(w_ih, &x_t[b * ni..(b + 1) * ni], pre);
            matvec_rows(w_hh, &h[b * nh..(b + 1) * nh], pre);
        }
    } else {
        sgemm(nb, g4, ni, x_t, ni, false, w_ih, ni, true, gates, g4, true);
        sgemm(nb, g4, nh, h, nh, false, w_hh, nh, true, gates, g4, true);
    }
    for (((pre, c_prev), h_o), c_o) in
        gates.chunks_mut(g4).zip(c.chunks(nh)).zip(h_out.chunks_mut(nh)).zip(c_out.chunks_mut(nh))
    {
        gate_math_row(pre, c_prev, h_o, c_o);
    }
}

/// Backward of one step; see `reference::lstm_cell_backward`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_cell_backward(
    d: &LstmDims,
    x_t: &[f32],
    h: &[f32],
    c: &[f32],
    w_ih: &[f32],
    w_hh: &[f32],
    gates: &[f32],
    c_out: &[f32],
    dh_out: &[f32],
    dc_out: &[f32],
    dx: &mut [f32],
    dh: &mut [f32],
    dc: &mut [f32],
    dw_ih: &mut [f32],
    dw_hh: &mut [f32],
    db: &mut [f32],
) {
    let (nb, ni, nh, g4) = (d.batch, d.input, d.hidden, d.gates());
    assert_eq!(x_t.len(), d.step_x_len(), "lstm cell backward: x_t");
    for s in [h, c, c_out, dh_out, dc_out] {
        assert_eq!(s.len(), d.state_len(), "lstm cell backward: state-shaped input");
    }
    assert_eq!(w_ih.len(), d.w_ih_len(), "lstm cell backward: w_ih");
    assert_eq!(w_hh.len(), d.w_hh_len(), "lstm cell backward: w_hh");
    assert_eq!(gates.len(), d.step_gates_len(), "lstm cell backward: gates");
    assert_eq!(dx.len(), d.step_x_len(), "lstm cell backward: dx");
    assert_eq!(dh.len(), d.state_len(), "lstm cell backward: dh");
    assert_eq!(dc.len(), d.state_len(), "lstm cell backward: dc");
    assert_eq!(dw_ih.len(), d.w_ih_len(), "lstm cell backward: dw_ih");
    assert_eq!(dw_hh.len(), d.w_hh_len(), "lstm cell backward: dw_hh");
    assert_eq!(db.len(), g4, "lstm cell backward: db");
    let mut dpre = vec![0.0f32; nb * g4];
    dc.copy_from_slice(dc_out);
    if nh > 0 {
        for ((((g_row, c_prev), c_new), dh_row), (dc_row, dp_row)) in gates
            .chunks(g4)
            .zip(c.chunks(nh))
            .zip(c_out.chunks(nh))
            .zip(dh_out.chunks(nh))
            .zip(dc.chunks_mut(nh).zip(dpre.chunks_mut(g4)))
        {
            gate_grads_row(g_row, c_prev, c_new, dh_row, dc_row, dp_row);
        }
    }
    if nb < PANEL_MAX_ROWS && nh > 0 {
        for b in 0..nb {
            let dp_b = &dpre[b * g4..(b + 1) * g4];
            if ni > 0 {
                vecmat_rows(w_ih, dp_b, &mut dx[b * ni..(b + 1) * ni]);
            }
            vecmat_rows(w_hh, dp_b, &mut dh[b * nh..(b + 1) * nh]);
        }
    } else {
        sgemm(nb, ni, g4, &dpre, g4, false, w_ih, ni, false, dx, ni, false);
        sgemm(nb, nh, g4, &dpre, g4, false, w_hh, nh, false, dh, nh, false);
    }
    sgemm(g4, ni, nb, &dpre, g4, true, x_t, ni, false, dw_ih, ni, false);
    sgemm(g4, nh, nb, &dpre, g4, true, h, nh, false, dw_hh, nh, false);
    column_sums(&dpre, g4, db);
}

/// db[r] = Σ over rows of m[row, r] for a row-major [rows, n] matrix.
fn column_sums(m: &[f32], n: usize, db: &mut [f32]) {
    db.fill(0.0);
    if n == 0 {
        return;
    }
    for row in m.chunks(n) {
        for (a, &v) in db.iter_mut().zip(row) {
            *a += v;
        }
    }
}

/// The whole sequence; see `reference::lstm_seq_forward`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_seq_forward(
    d: &LstmDims,
    x: &[f32],
    h0: &[f32],
    c0: &[f32],
    w_ih: &[f32],
    w_hh: &[f32],
    b_ih: &[f32],
    b_hh: &[f32],
    hs: &mut [f32],
    cs: &mut [f32],
    gates: &mut [f32],
) {
    assert_eq!(w_hh.len(), d.w_hh_len(), "lstm seq: w_hh");
    let w_step = StepWeight::forward(d.batch, w_hh, d.hidden);
    seq_forward(d, x, h0, c0, w_ih, &w_step, b_ih, b_hh, hs, cs, gates);
}

/// w_hh packed for the small-batch forward recurrence. Packing streams all of w_hh (~0.15 ms at H = 256, a
/// tenth of a batch-1 window forward); inference with fixed weights packs once and reuses it on every call.
pub struct PackedRecurrent {
    hidden: usize,
    panels: Panels,
}

/// Pack w_hh [4H, H] for [`lstm_seq_forward_packed`].
pub fn pack_recurrent(d: &LstmDims, w_hh: &[f32]) -> PackedRecurrent {
    assert_eq!(w_hh.len(), d.w_hh_len(), "lstm pack: w_hh");
    PackedRecurrent { hidden: d.hidden, panels: Panels::pack(d.hidden, d.gates(), w_hh, 1, d.hidden) }
}

/// [`lstm_seq_forward`] with w_hh packed beforehand by [`pack_recurrent`] (the same numbers; meant for batches
/// below 16, where the packed kernel is the one `lstm_seq_forward` would use).
#[allow(clippy::too_many_arguments)]
pub fn lstm_seq_forward_packed(
    d: &LstmDims,
    x: &[f32],
    h0: &[f32],
    c0: &[f32],
    w_ih: &[f32],
    w_hh: &PackedRecurrent,
    b_ih: &[f32],
    b_hh: &[f32],
    hs: &mut [f32],
    cs: &mut [f32],
    gates: &mut [f32],
) {
    assert_eq!(w_hh.hidden, d.hidden, "lstm seq: packed w_hh is for another hidden size");
    let w_step = StepWeight::Panels(Cow::Borrowed(&w_hh.panels));
    seq_forward(d, x, h0, c0, w_ih, &w_step, b_ih, b_hh, hs, cs, gates);
}

#[allow(clippy::too_many_arguments)]
fn seq_forward(
    d: &LstmDims,
    x: &[f32],
    h0: &[f32],
    c0: &[f32],
    w_ih: &[f32],
    w_step: &StepWeight,
    b_ih: &[f32],
    b_hh: &[f32],
    hs: &mut [f32],
    cs: &mut [f32],
    gates: &mut [f32],
) {
    let (nb, nt, ni, nh, g4) = (d.batch, d.t, d.input, d.hidden, d.gates());
    assert_eq!(x.len(), d.x_len(), "lstm seq: x");
    assert_eq!(h0.len(), d.state_len(), "lstm seq: h0");
    assert_eq!(c0.len(), d.state_len(), "lstm seq: c0");
    assert_eq!(w_ih.len(), d.w_ih_len(), "lstm seq: w_ih");
    assert_eq!(b_ih.len(), g4, "lstm seq: b_ih");
    assert_eq!(b_hh.len(), g4, "lstm seq: b_hh");
    assert_eq!(hs.len(), d.seq_len(), "lstm seq: hs");
    assert_eq!(cs.len(), d.seq_len(), "lstm seq: cs");
    assert_eq!(gates.len(), d.seq_gates_len(), "lstm seq: gates");
    if nb == 0 || nt == 0 || nh == 0 {
        return;
    }
    // Every step's input projection and both biases at once: gates = b_ih + b_hh + x·w_ihᵀ over B·T rows.
    for row in gates.chunks_mut(g4) {
        for ((p, &bi), &bh) in row.iter_mut().zip(b_ih).zip(b_hh) {
            *p = bi + bh;
        }
    }
    sgemm(nb * nt, g4, ni, x, ni, false, w_ih, ni, true, gates, g4, true);

    // The running state, contiguous [B, H] so the recurrent product reads it with a plain stride.
    let mut h = h0.to_vec();
    let mut c = c0.to_vec();
    for step in 0..nt {
        let t = d.time_at(step);
        // Rows (b, t) of gates sit T·4H apart.
        w_step.product(nb, &h, nh, &mut gates[t * g4..], nt * g4, true);
        let row = |g_b: &mut [f32], h_b: &mut [f32], c_b: &mut [f32], hs_b: &mut [f32], cs_b: &mut [f32]| {
            let hs_bt = &mut hs_b[t * nh..(t + 1) * nh];
            let cs_bt = &mut cs_b[t * nh..(t + 1) * nh];
            gate_math_row(&mut g_b[t * g4..(t + 1) * g4], c_b, hs_bt, cs_bt);
            h_b.copy_from_slice(hs_bt);
            c_b.copy_from_slice(cs_bt);
        };
        if nb * nh >= PAR_GATE_MIN {
            gates
                .par_chunks_mut(nt * g4)
                .zip(h.par_chunks_mut(nh))
                .zip(c.par_chunks_mut(nh))
                .zip(hs.par_chunks_mut(nt * nh).zip(cs.par_chunks_mut(nt * nh)))
                .for_each(|(((g_b, h_b), c_b), (hs_b, cs_b))| row(g_b, h_b, c_b, hs_b, cs_b));
        } else {
            for (((g_b, h_b), c_b), (hs_b, cs_b)) in gates
                .chunks_mut(nt * g4)
                .zip(h.chunks_mut(nh))
                .zip(c.chunks_mut(nh))
                .zip(hs.chunks_mut(nt * nh).zip(cs.chunks_mut(nt * nh)))
            {
                row(g_b, h_b, c_b, hs_b, cs_b);
            }
        }
    }
}

/// Backpropagation through time; see `reference::lstm_seq_backward`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_seq_backward(
    d: &LstmDims,
    x: &[f32],
    h0: &[f32],
    c0: &[f32],
    w_ih: &[f32],
    w_hh: &[f32],
    hs: &[f32],
    cs: &[f32],
    gates: &[f32],
    dhs: &[f32],
    dh_n: Option<&[f32]>,
    dc_n: Option<&[f32]>,
    dx: &mut [f32],
    dh0: &mut [f32],
    dc0: &mut [f32],
    dw_ih: &mut [f32],
    dw_hh: &mut [f32],
    db: &mut [f32],
) {
    let (nb, nt, ni, nh, g4) = (d.batch, d.t, d.input, d.hidden, d.gates());
    assert_eq!(x.len(), d.x_len(), "lstm seq backward: x");
    assert_eq!(h0.len(), d.state_len(), "lstm seq backward: h0");
    assert_eq!(c0.len(), d.state_len(), "lstm seq backward: c0");
    assert_eq!(w_ih.len(), d.w_ih_len(), "lstm seq backward: w_ih");
    assert_eq!(w_hh.len(), d.w_hh_len(), "lstm seq backward: w_hh");
    for s in [hs, cs, dhs] {
        assert_eq!(s.len(), d.seq_len(), "lstm seq backward: [B, T, H] input");
    }
    assert_eq!(gates.len(), d.seq_gates_len(), "lstm seq backward: gates");
    assert_eq!(dx.len(), d.x_len(), "lstm seq backward: dx");
    assert_eq!(dh0.len(), d.state_len(), "lstm seq backward: dh0");
    assert_eq!(dc0.len(), d.state_len(), "lstm seq backward: dc0");
    assert_eq!(dw_ih.len(), d.w_ih_len(), "lstm seq backward: dw_ih");
    assert_eq!(dw_hh.len(), d.w_hh_len(), "lstm seq backward: dw_hh");
    assert_eq!(db.len(), g4, "lstm seq backward: db");
    // The carried gradients live in dh0/dc0 and end there.
    match dh_n {
        Some(v) => dh0.copy_from_slice(v),
        None => dh0.fill(0.0),
    }
    match dc_n {
        Some(v) => dc0.copy_from_slice(v),
        None => dc0.fill(0.0),
    }
    let mut dgates = vec![0.0f32; nb * nt * g4];
    if nh > 0 {
        let w_step = StepWeight::backward(nb, w_hh, nh);
        for step in (0..nt).rev() {
            let t = d.time_at(step);
            let tp = (step > 0).then(|| d.time_at(step - 1));
            let row = |b: usize, dg_b: &mut [f32], dh_b: &mut [f32], dc_b: &mut [f32]| {
                let bt = b * nt + t;
                let c_prev = match tp {
                    Some(tp) => &cs[(b * nt + tp) * nh..(b * nt + tp + 1) * nh],
                    None => &c0[b * nh..(b + 1) * nh],
                };
                for (a, &v) in dh_b.iter_mut().zip(&dhs[bt * nh..(bt + 1) * nh]) {
                    *a += v;
                }
                let g_bt = &gates[bt * g4..(bt + 1) * g4];
                let c_bt = &cs[bt * nh..(bt + 1) * nh];
                gate_grads_row(g_bt, c_prev, c_bt, dh_b, dc_b, &mut dg_b[t * g4..(t + 1) * g4]);
            };
            if nb * nh >= PAR_GATE_MIN {
                dgates
                    .par_chunks_mut(nt * g4)
                    .zip(dh0.par_chunks_mut(nh))
                    .zip(dc0.par_chunks_mut(nh))
                    .enumerate()
                    .for_each(|(b, ((dg_b, dh_b), dc_b))| row(b, dg_b, dh_b, dc_b));
            } else {
                for (b, ((dg_b, dh_b), dc_b)) in
                    dgates.chunks_mut(nt * g4).zip(dh0.chunks_mut(nh)).zip(dc0.chunks_mut(nh)).enumerate()
                {
                    row(b, dg_b, dh_b, dc_b);
                }
            }
            // The gradient carried to the previous step's h: dgates_t·w_hh.
            w_step.product(nb, &dgates[t * g4..], nt * g4, dh0, nh, false);
        }
    }
    let rows = nb * nt;
    sgemm(rows, ni, g4, &dgates, g4, false, w_ih, ni, false, dx, ni, false);
    sgemm(g4, ni, rows, &dgates, g4, true, x, ni, false, dw_ih, ni, false);
    // The state each step started from, in time order: h0 or the previously processed step's output.
    let mut h_prev = vec![0.0f32; nb * nt * nh];
    if nh > 0 {
        for (b, hp_b) in h_prev.chunks_mut(nt * nh).enumerate() {
            for step in 0..nt {
                let t = d.time_at(step);
                let src = if step == 0 {
                    &h0[b * nh..(b + 1) * nh]
                } else {
                    let tp = d.time_at(step - 1);
                    &hs[(b * nt + tp) * nh..(b * nt + tp + 1) * nh]
                };
                hp_b[t * nh..(t + 1) * nh].copy_from_slice(src);
            }
        }
    }
    sgemm(g4, nh, rows, &dgates, g4, true, &h_prev, nh, false, dw_hh, nh, false);
    column_sums(&dgates, g4, db);
}

impl LstmKernel for CpuBackend {
    fn lstm_seq(&self, d: &LstmDims, a: &LstmArgs) -> Result<LstmSaved> {
        let LstmArgs { x, h0, c0, w_ih, w_hh, b_ih, b_hh } = *a;
        let n = d.batch * d.t * d.hidden;
        let (mut hs, mut cs, mut gates) = (buf(n), buf(n), buf(4 * n));
        lstm_seq_forward(
            d,
            host(x)?,
            host(h0)?,
            host(c0)?,
            host(w_ih)?,
            host(w_hh)?,
            host(b_ih)?,
            host(b_hh)?,
            &mut hs,
            &mut cs,
            &mut gates,
        );
        Ok(LstmSaved { hs: out(hs), cs: out(cs), gates: out(gates) })
    }

    fn lstm_seq_backward(&self, d: &LstmDims, a: &LstmArgs, saved: &LstmSaved, dhs: &Storage) -> Result<LstmGrads> {
        let LstmArgs { x, h0, c0, w_ih, w_hh, .. } = *a;
        let (mut dx, mut dh0, mut dc0) = (buf(x.len()), buf(h0.len()), buf(c0.len()));
        let (mut dw_ih, mut dw_hh, mut db) = (buf(w_ih.len()), buf(w_hh.len()), buf(4 * d.hidden));
        lstm_seq_backward(
            d,
            host(x)?,
            host(h0)?,
            host(c0)?,
            host(w_ih)?,
            host(w_hh)?,
            host(&saved.hs)?,
            host(&saved.cs)?,
            host(&saved.gates)?,
            host(dhs)?,
            None,
            None,
            &mut dx,
            &mut dh0,
            &mut dc0,
            &mut dw_ih,
            &mut dw_hh,
            &mut db,
        );
        Ok(LstmGrads { dx: out(dx), dh0: out(dh0), dc0: out(dc0), dw_ih: out(dw_ih), dw_hh: out(dw_hh), db: out(db) })
    }
}
