//! Launches `kernels/conv1d.cu`: the shared-memory tiled forward whenever its halo fits, else the direct one.

use super::Conv1dDims;
use super::Conv1dKernel;
use crate::backend::cuda::{grid_1d, grid_dim, int, CudaBackend};
use crate::backend::For;
use crate::backend::{Pair, Storage};
use crate::{Error, Result};
use cudarc::driver::{LaunchConfig, PushKernelArg};

const TT: usize = 128;
const CO: usize = 8;
const SMEM_LIMIT: usize = 48 * 1024;

/// Input channels per shared-memory chunk of the tiled forward (≤ 16), or None when even one does not fit.
fn tiled_chunk(d: &Conv1dDims) -> Option<usize> {
    let span = TT + (d.kernel - 1) * d.dilation;
    (1..=d.c_in.clamp(1, 16)).rev().find(|&ic| (ic * span + CO * ic * d.kernel) * 4 <= SMEM_LIMIT)
}

struct Sizes([i32; 8]);

fn sizes(d: &Conv1dDims) -> Result<Sizes> {
    if d.kernel == 0 {
        return Err(Error::Invalid("conv1d: kernel size 0".into()));
    }
    int(d.x_len().max(d.y_len()).max(d.w_len()), "conv1d size")?;
    Ok(Sizes([
        int(d.batch, "batch")?,
        int(d.c_in, "c_in")?,
        int(d.c_out, "c_out")?,
        int(d.t_in, "t_in")?,
        int(d.t_out(), "t_out")?,
        int(d.kernel, "kernel")?,
        int(d.dilation, "dilation")?,
        int(d.pad_left, "pad_left")?,
    ]))
}

impl Conv1dKernel for CudaBackend {
    fn conv1d(&self, d: &Conv1dDims, x: &Storage, w: &Storage, b: Option<&Storage>) -> Result<Storage> {
        let (xs, ws) = (self.input(x, d.x_len(), "x")?, self.input(w, d.w_len(), "w")?);
        let bs = match b {
            Some(b) => Some(self.input(b, d.c_out, "bias")?),
            None => None,
        };
        let n = d.y_len();
        let mut y = self.alloc(n, For("conv1d", d))?;
        if n == 0 {
            return Ok(self.wrap(y, 0));
        }
        let s = sizes(d)?.0;
        let has_bias = bs.is_some() as i32;
        // Without a bias the kernel never reads it; any valid buffer stands in.
        let bias = bs.map(|b| b.slice()).unwrap_or(ws.slice());
        match tiled_chunk(d) {
            Some(ic) => {
                let span = TT + (d.kernel - 1) * d.dilation;
                let smem = ((ic * span + CO * ic * d.kernel) * 4) as u32;
                if d.batch > 65535 || d.c_out.div_ceil(CO) > 65535 {
                    return Err(Error::Invalid(format!(
                        "cuda conv1d: batch {} or c_out {} exceeds the grid",
                        d.batch, d.c_out
                    )));
                }
                let cfg = LaunchConfig {
                    grid_dim: (grid_dim(d.t_out().div_ceil(TT))?, d.c_out.div_ceil(CO) as u32, d.batch as u32),
                    block_dim: (TT as u32, 1, 1),
                    shared_mem_bytes: smem,
                };
                let ic32 = ic as i32;
                let mut l = self.kernel("conv1d_forward_tiled")?;
                l.arg(xs.slice()).arg(ws.slice()).arg(bias).arg(&mut *y);
                l.arg(&s[1])
                    .arg(&s[2])
                    .arg(&s[3])
                    .arg(&s[4])
                    .arg(&s[5])
                    .arg(&s[6])
                    .arg(&s[7])
                    .arg(&has_bias)
                    .arg(&ic32);
                // SAFETY: conv1d_forward_tiled(const float* x, w, bias, float* y, int c_in, c_out, t_in, t_out, K, dil,
                // pad, has_bias, ic); 128 threads, shared memory ic·(128 + halo) + 8·ic·K floats as carved; every read
                // is guarded by the channel and time bounds; lengths checked above.
                unsafe { self.launch(l, cfg, "conv1d_forward_tiled")? };
            }
            None => {
                let mut l = self.kernel("conv1d_forward_direct")?;
                l.arg(xs.slice()).arg(ws.slice()).arg(bias).arg(&mut *y);
                for v in &s {
                    l.arg(v);
                }
                l.arg(&has_bias);
                // SAFETY: conv1d_forward_direct(const float* x, w, bias, float* y, int batch, c_in, c_out, t_in, t_out, K,
                // dil, pad, has_bias); lengths checked above.
                unsafe { self.launch(l, grid_1d(n), "conv1d_forward_direct")? };
            }
        }
        Ok(self.wrap(y, n))
    }

    fn conv1d_backward_input(&self, d: &Conv1dDims, w: &Storage, dy: &Storage) -> Result<Storage> {
        let (ws, gs) = (self.input(w, d.w_len(), "w")?, self.input(dy, d.y_len(), "dy")?);
        let n = d.x_len();
        let mut dx = self.alloc(n, For("conv1d", d))?;
        if n == 0 {
            return Ok(self.wrap(dx, 0));
        }
        let s = sizes(d)?.0;
        let mut l = self.kernel("conv1d_backward_input")?;
        l.arg(ws.slice()).arg(gs.slice()).arg(&mut *dx);
        for v in &s {
            l.arg(v);
        }
        // SAFETY: conv1d_backward_input(const float* w, const float* dy, float* dx, int batch, c_in, c_out, t_in,
        // t_out, K, dil, pad); reads of dy are guarded by 0 ≤ t < t_out; lengths checked above.
        unsafe { self.launch(l, grid_1d(n), "conv1d_backward_input")? };
        Ok(self.wrap(dx, n))
    }

    fn conv1d_backward_weight(&self, d: &Conv1dDims, x: &Storage, dy: &Storage) -> Result<Pair> {
        let (xs, gs) = (self.input(x, d.x_len(), "x")?, self.input(dy, d.y_len(), "dy")?);
        let (mut dw, mut db) = (self.alloc(d.w_len(), For("conv1d", d))?, self.alloc(d.c_out, For("conv1d", d))?);
        if d.w_len() > 0 {
            let s = sizes(d)?.0;
            let cfg =
                LaunchConfig { grid_dim: (grid_dim(d.w_len())?, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
            let mut l = self.kernel("conv1d_backward_weight")?;
            l.arg(xs.slice()).arg(gs.slice()).arg(&mut *dw);
            for v in &s {
                l.arg(v);
            }
            // SAFETY: conv1d_backward_weight(const float* x, const float* dy, float* dw, int batch, c_in, c_out, t_in,
            // t_out, K, dil, pad); one 256-thread block per weight; time reads clipped to the tap's valid range.
            unsafe { self.launch(l, cfg, "conv1d_backward_weight")? };
        }
        if d.c_out > 0 {
            let (b32, c32, t32) = (int(d.batch, "batch")?, int(d.c_out, "c_out")?, int(d.t_out(), "t_out")?);
            let cfg =
                LaunchConfig { grid_dim: (grid_dim(d.c_out)?, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
            let mut l = self.kernel("conv1d_backward_bias")?;
            l.arg(gs.slice()).arg(&mut *db).arg(&b32).arg(&c32).arg(&t32);
            // SAFETY: conv1d_backward_bias(const float* dy, float* db, int batch, int c_out, int t_out).
            unsafe { self.launch(l, cfg, "conv1d_backward_bias")? };
        }
        Ok((self.wrap(dw, d.w_len()), self.wrap(db, d.c_out)))
    }
}
