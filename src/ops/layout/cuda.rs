//! Launches `kernels/layout.cu`: permute, narrow, unnarrow and concat (one copy launch per part).

use super::{LayoutKernel, NarrowDims};
use crate::backend::cuda::{grid_1d, int, CudaBackend};
use crate::backend::For;
use crate::backend::Storage;
use crate::tensor::shape::strides;
use crate::{Error, Result};
use cudarc::driver::PushKernelArg;

const MAX_RANK: usize = 8;

impl LayoutKernel for CudaBackend {
    fn permute(&self, x: &Storage, shape: &[usize], perm: &[usize]) -> Result<Storage> {
        let n: usize = shape.iter().product();
        let xs = self.input(x, n, "x")?;
        if perm.len() != shape.len() || shape.len() > MAX_RANK {
            return Err(Error::Invalid(format!("cuda permute: {perm:?} of shape {shape:?} (rank ≤ {MAX_RANK})")));
        }
        let src = strides(shape);
        let mut arg = [0i32; 1 + 2 * MAX_RANK];
        arg[0] = shape.len() as i32;
        for (k, &p) in perm.iter().enumerate() {
            arg[1 + k] = int(shape[p], "permute dim")?;
            arg[1 + MAX_RANK + k] = int(src[p], "permute stride")?;
        }
        let mut y = self.alloc(n, For("layout permute", &(shape, perm)))?;
        let n64 = n as i64;
        let mut l = self.kernel("permute_copy")?;
        l.arg(xs.slice()).arg(&mut *y).arg(&n64).arg(&arg);
        // SAFETY: permute_copy(const float* x, float* y, long long n, Perm p) with Perm = 17 ints (rank, shape[8],
        // src_stride[8]); the permuted strides of x's own shape address only x's n elements.
        unsafe { self.launch(l, grid_1d(n), "permute_copy")? };
        Ok(self.wrap(y, n))
    }

    fn narrow(&self, x: &Storage, d: &NarrowDims) -> Result<Storage> {
        narrow_copy(self, x, d, false)
    }

    fn unnarrow(&self, g: &Storage, d: &NarrowDims) -> Result<Storage> {
        narrow_copy(self, g, d, true)
    }

    fn concat(&self, parts: &[&Storage], outer: usize, lens: &[usize], inner: usize) -> Result<Storage> {
        if parts.len() != lens.len() {
            return Err(Error::Invalid(format!("cuda concat: {} parts for {} lengths", parts.len(), lens.len())));
        }
        let total: usize = lens.iter().sum();
        let n = outer * total * inner;
        let mut y = self.alloc(n, For("layout concat", &(outer, lens, inner)))?;
        let (o32, i32_, t32) = (int(outer, "outer")?, int(inner, "inner")?, int(total, "total")?);
        let mut off = 0usize;
        for (p, (&part, &len)) in parts.iter().zip(lens).enumerate() {
            let ps = self.input(part, outer * len * inner, &format!("part {p}"))?;
            let (l32, off32) = (int(len, "len")?, int(off, "offset")?);
            let mut l = self.kernel("copy_into")?;
            l.arg(ps.slice()).arg(&mut *y).arg(&o32).arg(&l32).arg(&i32_).arg(&t32).arg(&off32);
            // SAFETY: copy_into(const float* part, float* y, int outer, int len, int inner, int total, int off); off +
            // len ≤ total, part holds outer·len·inner and y outer·total·inner values.
            unsafe { self.launch(l, grid_1d(outer * len * inner), "copy_into")? };
            off += len;
        }
        Ok(self.wrap(y, n))
    }
}

/// narrow_copy (x [outer, axis, inner] → y [outer, len, inner]) or, `back`, unnarrow_copy (its gradient g
/// [outer, len, inner] → [outer, axis, inner], zero outside start..start + len): the same checks and arguments,
/// the lengths swapped.
fn narrow_copy(be: &CudaBackend, x: &Storage, d: &NarrowDims, back: bool) -> Result<Storage> {
    let NarrowDims { outer, axis, inner, start, len } = *d;
    let (narrow, full) = (outer * len * inner, outer * axis * inner);
    let (op, input, n_in, n) = if back { ("unnarrow", "g", narrow, full) } else { ("narrow", "x", full, narrow) };
    let xs = be.input(x, n_in, input)?;
    if start + len > axis {
        return Err(Error::Invalid(format!("cuda {op}: {start}..{} out of 0..{axis}", start + len)));
    }
    let mut y = be.alloc(n, For(if back { "layout unnarrow" } else { "layout narrow" }, d))?;
    let a = [int(outer, "outer")?, int(axis, "axis")?, int(inner, "inner")?, int(start, "start")?, int(len, "len")?];
    let kernel = if back { "unnarrow_copy" } else { "narrow_copy" };
    let mut l = be.kernel(kernel)?;
    l.arg(xs.slice()).arg(&mut *y).arg(&a[0]).arg(&a[1]).arg(&a[2]).arg(&a[3]).arg(&a[4]);
    // SAFETY: narrow_copy(const float* x, float* y, int outer, int axis, int inner, int start, int len) and
    // unnarrow_copy(const float* g, float* y, the same ints); start + len ≤ axis, the input holds n_in values
    // (checked by `input`) and y n, as each kernel reads and writes.
    unsafe { be.launch(l, grid_1d(n), kernel)? };
    Ok(be.wrap(y, n))
}
