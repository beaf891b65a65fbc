//! Launcher for `shaders/dropout.wgsl`: the same counter-based mask as the CPU, so masks are bit-identical.
//! Forward and backward are the same masked scaling (of x, or of dy with the forward's seed).

use super::DropoutDims;
use super::DropoutKernel;
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader};
use crate::backend::For;
use crate::backend::Storage;
use crate::Result;

static SHADER: Shader = Shader::named("dropout");

impl DropoutKernel for Gpu {
    /// y = x·mask(seed)/(1 − p).
    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage> {
        let gpu = self.handle()?;
        DropoutDims::checked(0, p)?;
        let xb = gpu.buf(x)?;
        let d = DropoutDims::new(xb.len(), p);
        let y = gpu.alloc(d.len, For("dropout", &d))?;
        let params = Params::new()
            .u(d.len)
            .u((seed & 0xffff_ffff) as usize)
            .u((seed >> 32) as usize)
            .u(d.threshold() as usize)
            .f(d.scale());
        gpu.run(&[Launch::new(&SHADER, "dropout", params, vec![Arg::R(xb), Arg::W(&y)], grid(d.len, 256))])?;
        Ok(store(y))
    }
}
