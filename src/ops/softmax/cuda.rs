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
        row_kernel(self, "softmax_forward", &[(x, "x")], d, log)
    }

    fn softmax_backward(&self, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage> {
        row_kernel(self, "softmax_backward", &[(y, "y"), (dy, "dy")], d, log)
    }
}

/// Both directions: `kernel` reads `inputs` (rows·cols values each, named as in their errors) and writes one
/// fresh output of rows·cols values, one block per row.
fn row_kernel(
    be: &CudaBackend,
    kernel: &str,
    inputs: &[(&Storage, &str)],
    d: &SoftmaxDims,
    log: bool,
) -> Result<Storage> {
    let ins = inputs.iter().map(|&(s, what)| be.input(s, d.len(), what)).collect::<Result<Vec<_>>>()?;
    let mut out = be.alloc(d.len(), For("softmax", d))?;
    if d.is_empty() {
        return Ok(be.wrap(out, 0));
    }
    let (rows, cols, lg) = (int(d.rows, "rows")?, int(d.cols, "cols")?, log as i32);
    let mut l = be.kernel(kernel)?;
    for i in &ins {
        l.arg(i.slice());
    }
    l.arg(&mut *out).arg(&rows).arg(&cols).arg(&lg);
    // SAFETY: softmax_forward(const float* x, float* y, int rows, int cols, int log_softmax) and
    // softmax_backward(const float* y, const float* dy, float* dx, the same ints), called with one and two inputs
    // (`softmax`, `softmax_backward` above); every input holds rows·cols values (checked by `input`) and so does
    // the output; blockDim is a multiple of 32 as the block reductions need.
    unsafe { be.launch(l, rows_cfg(d.rows, d.cols)?, kernel)? };
    Ok(be.wrap(out, d.len()))
}
