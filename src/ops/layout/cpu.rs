//! Strided copies on the CPU.

use super::{LayoutKernel, NarrowDims};
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::Storage;
use crate::tensor::shape::strides;
use crate::Result;
use rayon::prelude::*;

/// y = x.permute(perm) made contiguous; `shape` is x's shape.
pub fn permute(x: &[f32], shape: &[usize], perm: &[usize], y: &mut [f32]) {
    let in_strides = strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    // stride in x of each output dimension
    let src: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let last = out_shape.last().copied().unwrap_or(1).max(1);
    let last_stride = src.last().copied().unwrap_or(1);
    let rows = y.len() / last;
    let work = |(r, row): (usize, &mut [f32])| {
        // decompose the row index into output coordinates (all but the last)
        let mut rem = r;
        let mut base = 0usize;
        for d in (0..out_shape.len().saturating_sub(1)).rev() {
            let c = rem % out_shape[d];
            rem /= out_shape[d];
            base += c * src[d];
        }
        for (j, v) in row.iter_mut().enumerate() {
            *v = x[base + j * last_stride];
        }
    };
    if y.len() >= 1 << 16 {
        y.par_chunks_mut(last).enumerate().for_each(work);
    } else {
        y.chunks_mut(last).enumerate().for_each(work);
    }
    debug_assert_eq!(rows * last, y.len());
}

/// y[o, l, i] = x[o, start + l, i].
pub fn narrow(x: &[f32], outer: usize, axis: usize, inner: usize, start: usize, len: usize, y: &mut [f32]) {
    for o in 0..outer {
        let src = &x[(o * axis + start) * inner..(o * axis + start + len) * inner];
        y[o * len * inner..(o + 1) * len * inner].copy_from_slice(src);
    }
}

/// y = zeros [outer, axis, inner]; y[o, start + l, i] = g[o, l, i].
pub fn unnarrow(g: &[f32], outer: usize, axis: usize, inner: usize, start: usize, len: usize, y: &mut [f32]) {
    y.fill(0.0);
    for o in 0..outer {
        y[(o * axis + start) * inner..(o * axis + start + len) * inner]
            .copy_from_slice(&g[o * len * inner..(o + 1) * len * inner]);
    }
}

/// Concatenate parts [outer, lens[p], inner] along the middle axis.
pub fn concat(parts: &[&[f32]], outer: usize, lens: &[usize], inner: usize, y: &mut [f32]) {
    let total: usize = lens.iter().sum();
    for o in 0..outer {
        let mut off = 0;
        for (p, &l) in parts.iter().zip(lens) {
            y[(o * total + off) * inner..(o * total + off + l) * inner]
                .copy_from_slice(&p[o * l * inner..(o + 1) * l * inner]);
            off += l;
        }
    }
}

impl LayoutKernel for CpuBackend {
    fn permute(&self, x: &Storage, shape: &[usize], perm: &[usize]) -> Result<Storage> {
        let mut y = buf(x.len());
        permute(host(x)?, shape, perm, &mut y);
        Ok(out(y))
    }

    fn narrow(&self, x: &Storage, d: &NarrowDims) -> Result<Storage> {
        let NarrowDims { outer, axis, inner, start, len } = *d;
        let mut y = buf(outer * len * inner);
        narrow(host(x)?, outer, axis, inner, start, len, &mut y);
        Ok(out(y))
    }

    fn unnarrow(&self, g: &Storage, d: &NarrowDims) -> Result<Storage> {
        let NarrowDims { outer, axis, inner, start, len } = *d;
        let mut y = buf(outer * axis * inner);
        unnarrow(host(g)?, outer, axis, inner, start, len, &mut y);
        Ok(out(y))
    }

    fn concat(&self, parts: &[&Storage], outer: usize, lens: &[usize], inner: usize) -> Result<Storage> {
        let mut y = buf(outer * lens.iter().sum::<usize>() * inner);
        let slices = parts.iter().map(|p| host(p)).collect::<Result<Vec<_>>>()?;
        concat(&slices, outer, lens, inner, &mut y);
        Ok(out(y))
    }
}
