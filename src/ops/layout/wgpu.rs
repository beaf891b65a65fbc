//! Launchers for `shaders/layout.wgsl`: permute, narrow, unnarrow and concat on the wgpu device.

use super::{LayoutKernel, NarrowDims};
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader};
use crate::backend::For;
use crate::backend::Storage;
use crate::tensor::shape::strides;
use crate::Result;

static SHADER: Shader = Shader::named("layout");

/// Parameters of `copy_block`: y[o, dst_off + l, i] = x[o, src_off + l, i] for l < len.
fn block(outer: usize, len: usize, inner: usize, src: (usize, usize), dst: (usize, usize)) -> Params {
    Params::new().u(outer).u(len).u(inner).u(src.0).u(src.1).u(dst.0).u(dst.1).u(outer * len * inner)
}

/// One `entry` dispatch that reads x and writes every element of a fresh y of n values (one thread each).
fn one_pass(gpu: &Gpu, entry: &'static str, x: &Storage, n: usize, what: For, params: Params) -> Result<Storage> {
    let gpu = gpu.handle()?;
    let xb = gpu.buf(x)?;
    let y = gpu.alloc(n, what)?;
    gpu.run(&[Launch::new(&SHADER, entry, params, vec![Arg::R(xb), Arg::W(&y)], grid(n, 256))])?;
    Ok(store(y))
}

impl LayoutKernel for Gpu {
    /// y = x.permute(perm) made contiguous (rank ≤ 8); `shape` is x's shape.
    fn permute(&self, x: &Storage, shape: &[usize], perm: &[usize]) -> Result<Storage> {
        let n = x.len();
        let in_strides = strides(shape);
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let src: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
        let params = Params::new().dims(&out_shape, 2, 1).dims(&src, 2, 0).u(perm.len()).u(n);
        one_pass(self, "permute", x, n, For("layout permute", &(shape, perm)), params)
    }

    /// y [outer, len, inner] = x[:, start..start + len, :].
    fn narrow(&self, x: &Storage, d: &NarrowDims) -> Result<Storage> {
        let NarrowDims { outer, axis, inner, start, len } = *d;
        let params = block(outer, len, inner, (axis, start), (len, 0));
        one_pass(self, "copy_block", x, outer * len * inner, For("layout narrow", d), params)
    }

    /// y = zeros [outer, axis, inner] with g [outer, len, inner] placed at `start`.
    fn unnarrow(&self, g: &Storage, d: &NarrowDims) -> Result<Storage> {
        let NarrowDims { outer, axis, inner, start, len } = *d;
        let n = outer * axis * inner;
        let params = Params::new().u(axis).u(inner).u(start).u(len).u(n);
        one_pass(self, "unnarrow", g, n, For("layout unnarrow", d), params)
    }

    /// Parts [outer, lens[p], inner] joined along the middle axis: one launch per part, one submit.
    fn concat(&self, parts: &[&Storage], outer: usize, lens: &[usize], inner: usize) -> Result<Storage> {
        let gpu = self.handle()?;
        let total: usize = lens.iter().sum();
        let y = gpu.alloc(outer * total * inner, For("layout concat", &(outer, lens, inner)))?;
        let mut launches = Vec::with_capacity(parts.len());
        let mut off = 0;
        for (p, &l) in parts.iter().zip(lens) {
            let pb = gpu.buf(p)?;
            let params = block(outer, l, inner, (l, 0), (total, off));
            launches.push(Launch::new(
                &SHADER,
                "copy_block",
                params,
                vec![Arg::R(pb), Arg::W(&y)],
                grid(outer * l * inner, 256),
            ));
            off += l;
        }
        gpu.run(&launches)?;
        Ok(store(y))
    }
}
