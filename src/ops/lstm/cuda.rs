//! Launches `kernels/lstm.cu` (and the gemm of `kernels/matmul.cu` for the projections over all steps).
//!
//! Forward: one gemm writes x·w_ihᵀ for every step into `gates`; then the recurrence runs either as ONE launch
//! with w_hh held in shared memory (when 16·H² bytes plus state fit the device's opt-in limit) or as one cell
//! launch per step. Backward mirrors it, then dx, dw_ih, dw_hh are single gemms over all B·T rows and db one
//! column sum.

use super::LstmDims;
use super::LstmKernel;
use super::{LstmArgs, LstmGrads, LstmSaved};
use crate::backend::cuda::pool::Pooled;
use crate::backend::cuda::{grid_1d, grid_dim, int, CudaBackend};
use crate::backend::For;
use crate::backend::Storage;
use crate::ops::matmul::cuda::{launch_gemm, Gemm, GEMM_F32};
use crate::{Error, Result};
use cudarc::driver::sys::CUfunction_attribute;
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

/// Shared-memory bytes of the fused kernels: w_hh [4H, H], two [H] state vectors and one [4H] vector.
fn fused_smem(h: usize) -> usize {
    (4 * h * h + 2 * h + 4 * h) * 4
}

/// Whether the whole-sequence kernels apply, after raising the kernel's shared-memory limit when needed.
fn use_fused(be: &CudaBackend, name: &str, d: &LstmDims) -> Result<Option<u32>> {
    let bytes = fused_smem(d.hidden);
    if bytes > be.smem_optin() || std::env::var_os("TICKGRAD_LSTM_PER_STEP").is_some() {
        return Ok(None);
    }
    if bytes > 48 * 1024 {
        be.func(name)?
            .set_attribute(CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes as i32)
            .map_err(|e| be.err("raising the shared-memory limit", e))?;
    }
    Ok(Some(bytes as u32))
}

struct Sizes {
    b: i32,
    t: i32,
    h: i32,
    reverse: i32,
}

fn sizes(d: &LstmDims) -> Result<Sizes> {
    int(d.seq_gates_len().max(d.x_len()).max(d.w_hh_len()).max(d.w_ih_len()), "lstm size")?;
    Ok(Sizes { b: int(d.batch, "batch")?, t: int(d.t, "t")?, h: int(d.hidden, "hidden")?, reverse: d.reverse as i32 })
}

/// C [m, n] = Σ over rows: the row-major products of this file, as strides.
fn gemm(m: usize, n: usize, k: usize, xs: (usize, usize), ys: (usize, usize)) -> Gemm {
    Gemm {
        m,
        n,
        k,
        z: 1,
        kbatch: 1,
        xs_i: xs.0,
        xs_p: xs.1,
        ys_p: ys.0,
        ys_j: ys.1,
        cs_i: n,
        cs_j: 1,
        ..Default::default()
    }
}

/// Σ over rows of a [rows, cols] buffer, with reduce.cu's column kernel.
fn column_sum(be: &CudaBackend, x: &CudaSlice<f32>, rows: usize, cols: usize) -> Result<Pooled<f32>> {
    let mut y = be.alloc(cols, For("lstm bias gradient, rows × cols", &(rows, cols)))?;
    let (outer, axis, inner, mean) = (1i32, int(rows, "rows")?, int(cols, "cols")?, 0i32);
    let mut l = be.kernel("sum_cols")?;
    l.arg(x).arg(&mut *y).arg(&outer).arg(&axis).arg(&inner).arg(&mean);
    // SAFETY: sum_cols(const float* x, float* y, int outer, int axis, int inner, int mean); x holds rows·cols and
    // y cols values.
    unsafe { be.launch(l, grid_1d(cols), "sum_cols")? };
    Ok(y)
}

impl LstmKernel for CudaBackend {
    fn lstm_seq(&self, d: &LstmDims, a: &LstmArgs) -> Result<LstmSaved> {
        let LstmArgs { x, h0, c0, w_ih, w_hh, b_ih, b_hh } = *a;
        let (nb, nt, ni, nh, g4) = (d.batch, d.t, d.input, d.hidden, d.gates());
        let xs = self.input(x, d.x_len(), "x")?;
        let (h0s, c0s) = (self.input(h0, d.state_len(), "h0")?, self.input(c0, d.state_len(), "c0")?);
        let (wis, whs) = (self.input(w_ih, d.w_ih_len(), "w_ih")?, self.input(w_hh, d.w_hh_len(), "w_hh")?);
        let (bis, bhs) = (self.input(b_ih, g4, "b_ih")?, self.input(b_hh, g4, "b_hh")?);
        let mut gates = if ni == 0 {
            self.zeros(d.seq_gates_len(), For("lstm", d))?
        } else {
            self.alloc(d.seq_gates_len(), For("lstm", d))?
        };
        let (mut hs, mut cs) = (self.alloc(d.seq_len(), For("lstm", d))?, self.alloc(d.seq_len(), For("lstm", d))?);
        if nb * nt * nh == 0 {
            return Ok(LstmSaved {
                hs: self.wrap(hs, d.seq_len()),
                cs: self.wrap(cs, d.seq_len()),
                gates: self.wrap(gates, d.seq_gates_len()),
            });
        }
        let s = sizes(d)?;
        // Input projection of every step: gates[bt, r] = Σ_p x[bt, p]·w_ih[r, p].
        let g = gemm(nb * nt, g4, ni, (ni, 1), (1, ni));
        launch_gemm(
            self,
            GEMM_F32,
            xs.slice(),
            d.x_len(),
            wis.slice(),
            d.w_ih_len(),
            &mut gates,
            d.seq_gates_len(),
            &g,
        )?;
        if let Some(smem) = use_fused(self, "lstm_seq_forward_fused", d)? {
            let cfg = LaunchConfig { grid_dim: (grid_dim(nb)?, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: smem };
            let mut l = self.kernel("lstm_seq_forward_fused")?;
            l.arg(&mut *gates).arg(whs.slice()).arg(bis.slice()).arg(bhs.slice()).arg(h0s.slice()).arg(c0s.slice());
            l.arg(&mut *hs).arg(&mut *cs).arg(&s.b).arg(&s.t).arg(&s.h).arg(&s.reverse);
            // SAFETY: lstm_seq_forward_fused(float* gates, const float* w_hh, b_ih, b_hh, h0, c0, float* hs, cs, int B,
            // T, H, reverse); one 256-thread block per batch row, shared memory fused_smem(H) as carved (limit raised
            // above when over 48 KiB); lengths checked above.
            unsafe { self.launch(l, cfg, "lstm_seq_forward_fused")? };
        } else {
            if nb > 65535 {
                return Err(Error::Invalid(format!("cuda lstm: batch {nb} exceeds the per-step grid")));
            }
            let cfg = LaunchConfig {
                grid_dim: (grid_dim(nh.div_ceil(4))?, nb as u32, 1),
                block_dim: (128, 1, 1),
                shared_mem_bytes: 0,
            };
            for step in 0..nt {
                let t = d.time_at(step) as i32;
                let t_prev = if step == 0 { -1 } else { d.time_at(step - 1) as i32 };
                let mut l = self.kernel("lstm_step_forward")?;
                l.arg(&mut *gates).arg(whs.slice()).arg(bis.slice()).arg(bhs.slice()).arg(h0s.slice()).arg(c0s.slice());
                l.arg(&mut *hs).arg(&mut *cs).arg(&s.b).arg(&s.t).arg(&s.h).arg(&t).arg(&t_prev);
                // SAFETY: lstm_step_forward(float* gates, const float* w_hh, b_ih, b_hh, h0, c0, float* hs, cs, int B, T,
                // H, t, t_prev); 4 warps per block, one per hidden unit; 0 ≤ t < T and t_prev is −1 or in range.
                unsafe { self.launch(l, cfg, "lstm_step_forward")? };
            }
        }
        Ok(LstmSaved {
            hs: self.wrap(hs, d.seq_len()),
            cs: self.wrap(cs, d.seq_len()),
            gates: self.wrap(gates, d.seq_gates_len()),
        })
    }

    fn lstm_seq_backward(&self, d: &LstmDims, a: &LstmArgs, saved: &LstmSaved, dhs: &Storage) -> Result<LstmGrads> {
        let LstmArgs { x, h0, c0, w_ih, w_hh, .. } = *a;
        let (nb, nt, ni, nh, g4) = (d.batch, d.t, d.input, d.hidden, d.gates());
        let xs = self.input(x, d.x_len(), "x")?;
        let (h0s, c0s) = (self.input(h0, d.state_len(), "h0")?, self.input(c0, d.state_len(), "c0")?);
        let (wis, whs) = (self.input(w_ih, d.w_ih_len(), "w_ih")?, self.input(w_hh, d.w_hh_len(), "w_hh")?);
        let (hss, css) = (self.input(&saved.hs, d.seq_len(), "hs")?, self.input(&saved.cs, d.seq_len(), "cs")?);
        let gts = self.input(&saved.gates, d.seq_gates_len(), "gates")?;
        let dhss = self.input(dhs, d.seq_len(), "dhs")?;
        let bt = nb * nt;
        if bt * nh == 0 {
            let z = |n: usize| -> Result<Storage> { Ok(self.wrap(self.zeros(n, For("lstm", d))?, n)) };
            return Ok(LstmGrads {
                dx: z(d.x_len())?,
                dh0: z(d.state_len())?,
                dc0: z(d.state_len())?,
                dw_ih: z(d.w_ih_len())?,
                dw_hh: z(d.w_hh_len())?,
                db: z(g4)?,
            });
        }
        let s = sizes(d)?;
        let mut dpre = self.alloc(d.seq_gates_len(), For("lstm", d))?;
        let (dh0, dc0) = if let Some(smem) = use_fused(self, "lstm_seq_backward_fused", d)? {
            let (mut dh0, mut dc0) =
                (self.alloc(d.state_len(), For("lstm", d))?, self.alloc(d.state_len(), For("lstm", d))?);
            let cfg = LaunchConfig { grid_dim: (grid_dim(nb)?, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: smem };
            let mut l = self.kernel("lstm_seq_backward_fused")?;
            l.arg(gts.slice()).arg(css.slice()).arg(c0s.slice()).arg(dhss.slice()).arg(whs.slice()).arg(&mut *dpre);
            l.arg(&mut *dh0).arg(&mut *dc0).arg(&s.b).arg(&s.t).arg(&s.h).arg(&s.reverse);
            // SAFETY: lstm_seq_backward_fused(const float* gates, cs, c0, dhs, w_hh, float* dpre, dh0, dc0, int B, T, H,
            // reverse); one 256-thread block per batch row, shared memory fused_smem(H) as carved.
            unsafe { self.launch(l, cfg, "lstm_seq_backward_fused")? };
            (dh0, dc0)
        } else {
            let (mut dh, mut dc) =
                (self.zeros(d.state_len(), For("lstm", d))?, self.zeros(d.state_len(), For("lstm", d))?);
            for step in (0..nt).rev() {
                let t = d.time_at(step) as i32;
                let t_prev = if step == 0 { -1 } else { d.time_at(step - 1) as i32 };
                let mut l = self.kernel("lstm_step_backward_cell")?;
                l.arg(gts.slice())
                    .arg(css.slice())
                    .arg(c0s.slice())
                    .arg(dhss.slice())
                    .arg(&*dh)
                    .arg(&mut *dc)
                    .arg(&mut *dpre);
                l.arg(&s.b).arg(&s.t).arg(&s.h).arg(&t).arg(&t_prev);
                // SAFETY: lstm_step_backward_cell(const float* gates, cs, c0, dhs, dh_carry, float* dc_carry, float* dpre,
                // int B, T, H, t, t_prev); one thread per (b, j) of the [B, H] carries.
                unsafe { self.launch(l, grid_1d(nb * nh), "lstm_step_backward_cell")? };
                let mut l = self.kernel("lstm_step_backward_dh")?;
                l.arg(&*dpre).arg(whs.slice()).arg(&mut *dh).arg(&s.b).arg(&s.t).arg(&s.h).arg(&t);
                // SAFETY: lstm_step_backward_dh(const float* dpre, const float* w_hh, float* dh_carry, int B, T, H, t).
                unsafe { self.launch(l, grid_1d(nb * nh), "lstm_step_backward_dh")? };
            }
            (dh, dc)
        };
        let mut dx =
            if g4 == 0 { self.zeros(d.x_len(), For("lstm", d))? } else { self.alloc(d.x_len(), For("lstm", d))? };
        let (mut dw_ih, mut dw_hh) =
            (self.alloc(d.w_ih_len(), For("lstm", d))?, self.alloc(d.w_hh_len(), For("lstm", d))?);
        // dx [BT, I] = dpre [BT, 4H]·w_ih [4H, I]
        let g = gemm(bt, ni, g4, (g4, 1), (ni, 1));
        launch_gemm(self, GEMM_F32, &dpre, d.seq_gates_len(), wis.slice(), d.w_ih_len(), &mut dx, d.x_len(), &g)?;
        // dw_ih [4H, I] = dpreᵀ·x
        let g = gemm(g4, ni, bt, (1, g4), (ni, 1));
        launch_gemm(self, GEMM_F32, &dpre, d.seq_gates_len(), xs.slice(), d.x_len(), &mut dw_ih, d.w_ih_len(), &g)?;
        // dw_hh [4H, H] = dpreᵀ·h_prev
        let mut h_prev = self.alloc(d.seq_len(), For("lstm", d))?;
        {
            let mut l = self.kernel("lstm_shift_h")?;
            l.arg(hss.slice()).arg(h0s.slice()).arg(&mut *h_prev).arg(&s.b).arg(&s.t).arg(&s.h).arg(&s.reverse);
            // SAFETY: lstm_shift_h(const float* hs, const float* h0, float* h_prev, int B, T, H, reverse).
            unsafe { self.launch(l, grid_1d(d.seq_len()), "lstm_shift_h")? };
        }
        let g = gemm(g4, nh, bt, (1, g4), (nh, 1));
        launch_gemm(self, GEMM_F32, &dpre, d.seq_gates_len(), &h_prev, d.seq_len(), &mut dw_hh, d.w_hh_len(), &g)?;
        let db = column_sum(self, &dpre, bt, g4)?;
        Ok(LstmGrads {
            dx: self.wrap(dx, d.x_len()),
            dh0: self.wrap(dh0, d.state_len()),
            dc0: self.wrap(dc0, d.state_len()),
            dw_ih: self.wrap(dw_ih, d.w_ih_len()),
            dw_hh: self.wrap(dw_hh, d.w_hh_len()),
            db: self.wrap(db, g4),
        })
    }
}
