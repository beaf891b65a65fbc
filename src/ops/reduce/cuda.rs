//! Launches `kernels/reduce.cu`: contiguous rows (inner = 1) get a block per row, other shapes a thread per output.

use super::ReduceDims;
use super::ReduceKernel;
use crate::backend::cuda::{grid_1d, int, CudaBackend};
use crate::backend::For;
use crate::backend::{Pair, Storage};
use crate::{Error, Result};
use cudarc::driver::{LaunchConfig, PushKernelArg};

fn row_blocks(rows: usize) -> Result<LaunchConfig> {
    Ok(LaunchConfig {
        grid_dim: (crate::backend::cuda::grid_dim(rows)?, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    })
}

impl ReduceKernel for CudaBackend {
    fn sum(&self, d: &ReduceDims, x: &Storage, mean: bool) -> Result<Storage> {
        let xs = self.input(x, d.in_len(), "x")?;
        let n = d.out_len();
        let mut y = self.alloc(n, For("reduce", d))?;
        if n == 0 {
            return Ok(self.wrap(y, 0));
        }
        let (outer, axis, inner, m) =
            (int(d.outer, "outer")?, int(d.axis, "axis")?, int(d.inner, "inner")?, mean as i32);
        if d.inner == 1 {
            let mut l = self.kernel("sum_rows")?;
            l.arg(xs.slice()).arg(&mut *y).arg(&outer).arg(&axis).arg(&m);
            // SAFETY: sum_rows(const float* x, float* y, int rows, int axis, int mean); x holds rows·axis, y rows values;
            // 256 threads per block as the kernel's reduction expects.
            unsafe { self.launch(l, row_blocks(d.outer)?, "sum_rows")? };
        } else {
            let mut l = self.kernel("sum_cols")?;
            l.arg(xs.slice()).arg(&mut *y).arg(&outer).arg(&axis).arg(&inner).arg(&m);
            // SAFETY: sum_cols(const float* x, float* y, int outer, int axis, int inner, int mean); sizes as checked.
            unsafe { self.launch(l, grid_1d(n), "sum_cols")? };
        }
        Ok(self.wrap(y, n))
    }

    fn sum_backward(&self, d: &ReduceDims, dy: &Storage, mean: bool) -> Result<Storage> {
        let gs = self.input(dy, d.out_len(), "dy")?;
        let n = d.in_len();
        let mut dx = self.alloc(n, For("reduce", d))?;
        let (outer, axis, inner, m) =
            (int(d.outer, "outer")?, int(d.axis, "axis")?, int(d.inner, "inner")?, mean as i32);
        let mut l = self.kernel("sum_backward")?;
        l.arg(gs.slice()).arg(&mut *dx).arg(&outer).arg(&axis).arg(&inner).arg(&m);
        // SAFETY: sum_backward(const float* dy, float* dx, int outer, int axis, int inner, int mean); dy holds
        // outer·inner, dx outer·axis·inner values.
        unsafe { self.launch(l, grid_1d(n), "sum_backward")? };
        Ok(self.wrap(dx, n))
    }

    fn max(&self, d: &ReduceDims, x: &Storage) -> Result<Pair> {
        let xs = self.input(x, d.in_len(), "x")?;
        let n = d.out_len();
        if d.axis == 0 && n > 0 {
            return Err(Error::Invalid("max over an empty axis has no value".into()));
        }
        if d.axis >= 1 << 24 {
            return Err(Error::Invalid(format!("max: axis of {} is too long for f32 indices", d.axis)));
        }
        let (mut y, mut idx) = (self.alloc(n, For("reduce", d))?, self.alloc(n, For("reduce", d))?);
        if n == 0 {
            return Ok((self.wrap(y, 0), self.wrap(idx, 0)));
        }
        let (outer, axis, inner) = (int(d.outer, "outer")?, int(d.axis, "axis")?, int(d.inner, "inner")?);
        if d.inner == 1 {
            let mut l = self.kernel("max_rows")?;
            l.arg(xs.slice()).arg(&mut *y).arg(&mut *idx).arg(&outer).arg(&axis);
            // SAFETY: max_rows(const float* x, float* y, float* idx, int rows, int axis); 256 threads per block (the
            // kernel's shared arrays), x holds rows·axis (axis ≥ 1), y and idx rows values.
            unsafe { self.launch(l, row_blocks(d.outer)?, "max_rows")? };
        } else {
            let mut l = self.kernel("max_cols")?;
            l.arg(xs.slice()).arg(&mut *y).arg(&mut *idx).arg(&outer).arg(&axis).arg(&inner);
            // SAFETY: max_cols(const float* x, float* y, float* idx, int outer, int axis, int inner); sizes as checked.
            unsafe { self.launch(l, grid_1d(n), "max_cols")? };
        }
        Ok((self.wrap(y, n), self.wrap(idx, n)))
    }

    fn max_backward(&self, d: &ReduceDims, idx: &Storage, dy: &Storage) -> Result<Storage> {
        let is = self.input(idx, d.out_len(), "idx")?;
        let gs = self.input(dy, d.out_len(), "dy")?;
        let n = d.in_len();
        let mut dx = self.alloc(n, For("reduce", d))?;
        let (outer, axis, inner) = (int(d.outer, "outer")?, int(d.axis, "axis")?, int(d.inner, "inner")?);
        let mut l = self.kernel("max_backward")?;
        l.arg(is.slice()).arg(gs.slice()).arg(&mut *dx).arg(&outer).arg(&axis).arg(&inner);
        // SAFETY: max_backward(const float* idx, const float* dy, float* dx, int outer, int axis, int inner).
        unsafe { self.launch(l, grid_1d(n), "max_backward")? };
        Ok(self.wrap(dx, n))
    }
}
