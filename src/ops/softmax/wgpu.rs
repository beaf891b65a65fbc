//! Launchers for `shaders/softmax.wgsl`: softmax / log-softmax over the last axis, forward and backward.

use super::SoftmaxDims;
use super::SoftmaxKernel;
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader};
use crate::backend::For;
use crate::backend::Storage;
use crate::Result;

static SHADER: Shader = Shader::named("softmax");

impl SoftmaxKernel for Gpu {
    fn softmax(&self, d: &SoftmaxDims, x: &Storage, log: bool) -> Result<Storage> {
        let gpu = self.handle()?;
        let xb = gpu.input(x, d.len(), "x")?;
        let y = gpu.alloc(d.len(), For("softmax", d))?;
        let params = Params::new().u(d.rows).u(d.cols).flag(log);
        let rows = if d.cols == 0 { 0 } else { d.rows };
        gpu.run(&[Launch::new(&SHADER, "softmax_fwd", params, vec![Arg::R(xb), Arg::W(&y)], grid(rows, 1))])?;
        Ok(store(y))
    }

    fn softmax_backward(&self, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage> {
        let gpu = self.handle()?;
        let (yb, dyb) = (gpu.input(y, d.len(), "y")?, gpu.input(dy, d.len(), "dy")?);
        let dx = gpu.alloc(d.len(), For("softmax", d))?;
        let params = Params::new().u(d.rows).u(d.cols).flag(log);
        let rows = if d.cols == 0 { 0 } else { d.rows };
        let args = vec![Arg::R(yb), Arg::R(dyb), Arg::W(&dx)];
        gpu.run(&[Launch::new(&SHADER, "softmax_bwd", params, args, grid(rows, 1))])?;
        Ok(store(dx))
    }
}
