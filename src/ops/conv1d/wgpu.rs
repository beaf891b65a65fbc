//! Launchers for `shaders/conv1d.wgsl`: direct dilated convolution, its input gradient, and its weight and
//! bias gradients (one submit, two launches).

use super::Conv1dDims;
use super::Conv1dKernel;
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader};
use crate::backend::For;
use crate::backend::{expect_len, Pair, Storage};
use crate::{Error, Result};

static SHADER: Shader = Shader::named("conv1d");

fn params(d: &Conv1dDims, has_bias: bool) -> Result<Params> {
    if d.kernel == 0 || d.dilation == 0 {
        return Err(Error::Invalid(format!("conv1d: kernel {} and dilation {} must be ≥ 1", d.kernel, d.dilation)));
    }
    Ok(Params::new()
        .u(d.batch)
        .u(d.c_in)
        .u(d.c_out)
        .u(d.t_in)
        .u(d.t_out())
        .u(d.kernel)
        .u(d.dilation)
        .u(d.pad_left)
        .flag(has_bias))
}

impl Conv1dKernel for Gpu {
    /// y [batch, c_out, t_out] = conv(x, w) + bias.
    fn conv1d(&self, d: &Conv1dDims, x: &Storage, w: &Storage, b: Option<&Storage>) -> Result<Storage> {
        let gpu = self.handle()?;
        let (xb, wb) = (gpu.buf(x)?, gpu.buf(w)?);
        expect_len("conv1d x", xb.len(), d.x_len())?;
        expect_len("conv1d w", wb.len(), d.w_len())?;
        // Without a bias the kernel never reads binding 3; w stands in for it.
        let bb = match b {
            Some(b) => {
                let bb = gpu.buf(b)?;
                expect_len("conv1d bias", bb.len(), d.c_out)?;
                bb
            }
            None => wb,
        };
        let y = gpu.alloc(d.y_len(), For("conv1d", d))?;
        let args = vec![Arg::R(xb), Arg::R(wb), Arg::R(bb), Arg::W(&y)];
        gpu.run(&[Launch::new(&SHADER, "conv_fwd", params(d, b.is_some())?, args, grid(d.y_len(), 256))])?;
        Ok(store(y))
    }

    /// dx [batch, c_in, t_in].
    fn conv1d_backward_input(&self, d: &Conv1dDims, w: &Storage, dy: &Storage) -> Result<Storage> {
        let gpu = self.handle()?;
        let [wb, dyb] = gpu.checked([(w, d.w_len(), "conv1d w"), (dy, d.y_len(), "conv1d dy")])?;
        let dx = gpu.alloc(d.x_len(), For("conv1d", d))?;
        let args = vec![Arg::R(wb), Arg::R(dyb), Arg::W(&dx)];
        gpu.run(&[Launch::new(&SHADER, "conv_bwd_x", params(d, false)?, args, grid(d.x_len(), 256))])?;
        Ok(store(dx))
    }

    /// (dw [c_out, c_in, kernel], dbias [c_out]).
    fn conv1d_backward_weight(&self, d: &Conv1dDims, x: &Storage, dy: &Storage) -> Result<Pair> {
        let gpu = self.handle()?;
        let [xb, dyb] = gpu.checked([(x, d.x_len(), "conv1d x"), (dy, d.y_len(), "conv1d dy")])?;
        let (dw, db) = (gpu.alloc(d.w_len(), For("conv1d", d))?, gpu.alloc(d.c_out, For("conv1d", d))?);
        let p = params(d, false)?;
        gpu.run(&[
            Launch::new(
                &SHADER,
                "conv_bwd_w",
                p.clone(),
                vec![Arg::R(xb), Arg::R(dyb), Arg::W(&dw)],
                grid(d.w_len(), 1),
            ),
            Launch::new(&SHADER, "conv_bwd_b", p, vec![Arg::R(dyb), Arg::W(&db)], grid(d.c_out, 1)),
        ])?;
        Ok((store(dw), store(db)))
    }
}
