//! Launches `kernels/softmax.cu`: one block per row.

use super::SoftmaxDims;
use super::SoftmaxKernel;
use crate::backend::cuda::{int, rows_cfg, CudaBackend};
use crate::backend::For;
use crate::backend::Storage;
use crate::Result;
use cudarc::driver::PushKernelArg;

impl SoftmaxKernel for CudaBackend {
    fn softmax(&self, d: &SoftmaxDims, x: &Storage, log: bool) -> Result<Storage> {
        let xs = self.input(x, d.len(), "x")?;
        let mut y = self.alloc(d.len(), For("softmax", d))?;
        if d.is_empty() {
            return Ok(self.wrap(y, 0));
        }
        let (rows, cols, lg) = (int(d.rows, "rows")?, int(d.cols, "cols")?, log as i32);
        let mut l = self.kernel("softmax_forward")?;
        l.arg(xs.slice()).arg(&mut *y).arg(&rows).arg(&cols).arg(&lg);
        // SAFETY: softmax_forward(const float* x, float* y, int rows, int cols, int log_softmax); both hold rows·cols;
        // blockDim is a multiple of 32 as the block reductions need.
        unsafe { self.launch(l, rows_cfg(d.rows, d.cols)?, "softmax_forward")? };
        Ok(self.wrap(y, d.len()))
    }

    fn softmax_backward(&self, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage> {
        let ys = self.input(y, d.len(), "y")?;
        let gs = self.input(dy, d.len(), "dy")?;
        let mut dx = self.alloc(d.len(), For("softmax", d))?;
        if d.is_empty() {
            return Ok(self.wrap(dx, 0));
        }
        let (rows, cols, lg) = (int(d.rows, "rows")?, int(d.cols, "cols")?, log as i32);
        let mut l = self.kernel("softmax_backward")?;
        l.arg(ys.slice()).arg(gs.slice()).arg(&mut *dx).arg(&rows).arg(&cols).arg(&lg);
        // SAFETY: softmax_backward(const float* y, const float* dy, float* dx, int rows, int cols, int log_softmax).
        unsafe { self.launch(l, rows_cfg(d.rows, d.cols)?, "softmax_backward")? };
        Ok(self.wrap(dx, d.len()))
    }
}
