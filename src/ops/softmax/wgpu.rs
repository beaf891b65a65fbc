//! Launchers for `shaders/softmax.wgsl`: softmax / log-softmax over the last axis, forward and backward.

use super::SoftmaxDims;
use super::SoftmaxKernel;
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader};
use crate::backend::Storage;
use crate::{Error, Result};

static SHADER: Shader = Shader::named("softmax");

fn check(what: &str, got: usize, d: &SoftmaxDims) -> Result<()> {
    if got != d.len() {
        return Err(Error::shape(what, d.len(), got));
    }
    Ok(())
}

impl SoftmaxKernel for Gpu {
    fn softmax(&self, d: &SoftmaxDims, x: &Storage, log: bool) -> Result<Storage> {
        let gpu = self.handle()?;
        let xb = gpu.buf(x)?;
        check("softmax input", xb.len(), d)?;
        let y = gpu.alloc(d.len())?;
        let params = Params::new().u(d.rows).u(d.cols).flag(log);
        let rows = if d.cols == 0 { 0 } else { d.rows };
        gpu.run(&[Launch::new(&SHADER, "softmax_fwd", params, vec![Arg::R(xb), Arg::W(&y)], grid(rows, 1))])?;
        Ok(store(y))
    }

    fn softmax_backward(&self, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage> {
        let gpu = self.handle()?;
        let (yb, dyb) = (gpu.buf(y)?, gpu.buf(dy)?);
        check("softmax backward y", yb.len(), d)?;
        check("softmax backward dy", dyb.len(), d)?;
        let dx = gpu.alloc(d.len())?;
        let params = Params::new().u(d.rows).u(d.cols).flag(log);
        let rows = if d.cols == 0 { 0 } else { d.rows };
        let args = vec![Arg::R(yb), Arg::R(dyb), Arg::W(&dx)];
        gpu.run(&[Launch::new(&SHADER, "softmax_bwd", params, args, grid(rows, 1))])?;
        Ok(store(dx))
    }
}
