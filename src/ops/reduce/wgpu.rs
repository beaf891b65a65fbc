//! Launchers for `shaders/reduce.wgsl`: sum / mean / max over the middle axis of [outer, axis, inner].

use super::ReduceDims;
use super::ReduceKernel;
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader, WgpuBuffer};
use crate::backend::For;
use crate::backend::{expect_len, Pair, Storage};
use crate::{Error, Result};

static SHADER: Shader = Shader::named("reduce");

/// Whether to give each output a 64-thread workgroup (`*_rows`) rather than one thread (`*_cols`): worth it
/// for long axes when there are too few outputs (or too little inner contiguity) to fill the device.
fn use_rows(d: &ReduceDims) -> bool {
    d.axis >= 64 && (d.inner == 1 || d.outer * d.inner < 4096)
}

fn params(d: &ReduceDims, scale: f32) -> Params {
    Params::new().u(d.outer).u(d.axis).u(d.inner).f(scale)
}

fn scale(d: &ReduceDims, mean: bool) -> f32 {
    if mean {
        // The CPU kernel divides by the axis length; multiplying by its f32 reciprocal differs by ≤ 1 ulp.
        1.0 / d.axis as f32
    } else {
        1.0
    }
}

/// The launch of y = scale·Σ_axis x (either geometry), for other families' launchers (the LSTM's bias gradient).
pub(crate) fn sum_launch<'a>(d: &ReduceDims, x: &'a WgpuBuffer, y: &'a WgpuBuffer, scale: f32) -> Launch<'a> {
    let args = vec![Arg::R(x), Arg::W(y)];
    if use_rows(d) {
        Launch::new(&SHADER, "sum_rows", params(d, scale), args, grid(d.out_len(), 1))
    } else {
        Launch::new(&SHADER, "sum_cols", params(d, scale), args, grid(d.out_len(), 256))
    }
}

/// The shape of both directions: the input (with the length it must have and its name in the error), a fresh
/// output of n values, one dispatch reading the one and writing the other.
fn one_output<'s>(
    gpu: &Gpu,
    d: &ReduceDims,
    (x, x_len, what): (&'s Storage, usize, &str),
    n: usize,
    launch: impl for<'b> FnOnce(&'b WgpuBuffer, &'b WgpuBuffer) -> Launch<'b>,
) -> Result<Storage> {
    let gpu = gpu.handle()?;
    let xb = gpu.buf(x)?;
    expect_len(what, xb.len(), x_len)?;
    let y = gpu.alloc(n, For("reduce", d))?;
    gpu.run(&[launch(xb, &y)])?;
    Ok(store(y))
}

impl ReduceKernel for Gpu {
    fn sum(&self, d: &ReduceDims, x: &Storage, mean: bool) -> Result<Storage> {
        let sc = scale(d, mean);
        one_output(self, d, (x, d.in_len(), "reduce input"), d.out_len(), |x, y| sum_launch(d, x, y, sc))
    }

    fn sum_backward(&self, d: &ReduceDims, dy: &Storage, mean: bool) -> Result<Storage> {
        let (n, p) = (d.in_len(), params(d, scale(d, mean)));
        one_output(self, d, (dy, d.out_len(), "reduce backward dy"), n, |dy, dx| {
            Launch::new(&SHADER, "sum_bwd", p, vec![Arg::R(dy), Arg::W(dx)], grid(n, 256))
        })
    }

    /// (max values, argmax as f32).
    fn max(&self, d: &ReduceDims, x: &Storage) -> Result<Pair> {
        let gpu = self.handle()?;
        let xb = gpu.buf(x)?;
        expect_len("max input", xb.len(), d.in_len())?;
        if d.axis == 0 && d.out_len() > 0 {
            return Err(Error::Invalid("max over an empty axis".into()));
        }
        let n = d.out_len();
        let (y, idx) = (gpu.alloc(n, For("reduce", d))?, gpu.alloc(n, For("reduce", d))?);
        let args = vec![Arg::R(xb), Arg::W(&y), Arg::W(&idx)];
        let launch = if use_rows(d) {
            Launch::new(&SHADER, "max_rows", params(d, 1.0), args, grid(n, 1))
        } else {
            Launch::new(&SHADER, "max_cols", params(d, 1.0), args, grid(n, 256))
        };
        gpu.run(&[launch])?;
        Ok((store(y), store(idx)))
    }

    fn max_backward(&self, d: &ReduceDims, idx: &Storage, dy: &Storage) -> Result<Storage> {
        let gpu = self.handle()?;
        let (ib, dyb) = (gpu.buf(idx)?, gpu.buf(dy)?);
        expect_len("max backward idx", ib.len(), d.out_len())?;
        expect_len("max backward dy", dyb.len(), d.out_len())?;
        let n = d.in_len();
        let dx = gpu.alloc(n, For("reduce", d))?;
        let args = vec![Arg::R(ib), Arg::R(dyb), Arg::W(&dx)];
        gpu.run(&[Launch::new(&SHADER, "max_bwd", params(d, 1.0), args, grid(n, 256))])?;
        Ok(store(dx))
    }
}
