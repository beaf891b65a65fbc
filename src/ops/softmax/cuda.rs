//! Launches `kernels/softmax.cu`: one block per row.

use super::SoftmaxDims;
use crate::backend::cuda::{int, rows_cfg, CudaBackend};
use crate::backend::Storage;
use crate::Result;
use cudarc::driver::PushKernelArg;

pub fn softmax(be: &CudaBackend, d: &SoftmaxDims, x: &Storage, log: bool) -> Result<Storage> {
    let xs = be.input(x, d.len(), "x")?;
    let mut y = be.alloc(d.len())?;
    if d.is_empty() {
        return Ok(be.wrap(y, 0));
    }
    let (rows, cols, lg) = (int(d.rows, "rows")?, int(d.cols, "cols")?, log as i32);
    let mut l = be.kernel("softmax_forward")?;
    l.arg(xs.slice()).arg(&mut y).arg(&rows).arg(&cols).arg(&lg);
    // SAFETY: softmax_forward(const float* x, float* y, int rows, int cols, int log_softmax); both hold rows·cols;
    // blockDim is a multiple of 32 as the block reductions need.
    unsafe { be.launch(l, rows_cfg(d.rows, d.cols)?, "softmax_forward")? };
    Ok(be.wrap(y, d.len()))
}

pub fn softmax_backward(be: &CudaBackend, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage> {
    let ys = be.input(y, d.len(), "y")?;
    let gs = be.input(dy, d.len(), "dy")?;
    let mut dx = be.alloc(d.len())?;
    if d.is_empty() {
        return Ok(be.wrap(dx, 0));
    }
    let (rows, cols, lg) = (int(d.rows, "rows")?, int(d.cols, "cols")?, log as i32);
    let mut l = be.kernel("softmax_backward")?;
    l.arg(ys.slice()).arg(gs.slice()).arg(&mut dx).arg(&rows).arg(&cols).arg(&lg);
    // SAFETY: softmax_backward(const float* y, const float* dy, float* dx, int rows, int cols, int log_softmax).
    unsafe { be.launch(l, rows_cfg(d.rows, d.cols)?, "softmax_backward")? };
    Ok(be.wrap(dx, d.len()))
}
