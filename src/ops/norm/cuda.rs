//! Launches `kernels/norm.cu`: LayerNorm one block per row, BatchNorm one block per channel.

use super::{BatchNormDims, LayerNormDims};
use super::{BatchNormParams, BatchNormSaved, LayerNormSaved, NormKernel};
use crate::backend::cuda::{grid_1d, grid_dim, int, rows_cfg, CudaBackend};
use crate::backend::For;
use crate::backend::{Storage, Triple};
use crate::Result;
use cudarc::driver::{LaunchConfig, PushKernelArg};

fn channel_blocks(c: usize) -> Result<LaunchConfig> {
    Ok(LaunchConfig { grid_dim: (grid_dim(c)?, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 })
}

impl NormKernel for CudaBackend {
    fn layer_norm(&self, d: &LayerNormDims, x: &Storage, g: &Storage, b: &Storage) -> Result<Triple> {
        let xs = self.input(x, d.len(), "x")?;
        let (gs, bs) = (self.input(g, d.cols, "gamma")?, self.input(b, d.cols, "beta")?);
        let (mut y, mut mean, mut rstd) = (
            self.alloc(d.len(), For("norm", d))?,
            self.alloc(d.rows, For("norm", d))?,
            self.alloc(d.rows, For("norm", d))?,
        );
        if !d.is_empty() {
            let (rows, cols, eps) = (int(d.rows, "rows")?, int(d.cols, "cols")?, d.eps as f32);
            let mut l = self.kernel("layer_norm_forward")?;
            l.arg(xs.slice()).arg(gs.slice()).arg(bs.slice()).arg(&mut *y).arg(&mut *mean).arg(&mut *rstd);
            l.arg(&rows).arg(&cols).arg(&eps);
            // SAFETY: layer_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
            // float* rstd, int rows, int cols, float eps); lengths checked above.
            unsafe { self.launch(l, rows_cfg(d.rows, d.cols)?, "layer_norm_forward")? };
        }
        Ok((self.wrap(y, d.len()), self.wrap(mean, d.rows), self.wrap(rstd, d.rows)))
    }

    fn layer_norm_backward(&self, d: &LayerNormDims, s: &LayerNormSaved, dy: &Storage) -> Result<Triple> {
        let LayerNormSaved { x, g, mean, rstd } = *s;
        let (xs, gs) = (self.input(x, d.len(), "x")?, self.input(g, d.cols, "gamma")?);
        let (ms, rs) = (self.input(mean, d.rows, "mean")?, self.input(rstd, d.rows, "rstd")?);
        let dys = self.input(dy, d.len(), "dy")?;
        let (mut dx, mut dg, mut db) = (
            self.alloc(d.len(), For("norm", d))?,
            self.alloc(d.cols, For("norm", d))?,
            self.alloc(d.cols, For("norm", d))?,
        );
        let (rows, cols) = (int(d.rows, "rows")?, int(d.cols, "cols")?);
        if d.rows > 0 && d.cols > 0 {
            let mut l = self.kernel("layer_norm_backward_dx")?;
            l.arg(xs.slice()).arg(gs.slice()).arg(ms.slice()).arg(rs.slice()).arg(dys.slice()).arg(&mut *dx);
            l.arg(&rows).arg(&cols);
            // SAFETY: layer_norm_backward_dx(const float* x, const float* gamma, const float* mean, const float* rstd,
            // const float* dy, float* dx, int rows, int cols); lengths checked above.
            unsafe { self.launch(l, rows_cfg(d.rows, d.cols)?, "layer_norm_backward_dx")? };
        }
        if d.cols > 0 {
            let mut l = self.kernel("layer_norm_backward_params")?;
            l.arg(xs.slice()).arg(ms.slice()).arg(rs.slice()).arg(dys.slice()).arg(&mut *dg).arg(&mut *db);
            l.arg(&rows).arg(&cols);
            let cfg = LaunchConfig {
                grid_dim: (grid_dim(d.cols.div_ceil(128))?, 1, 1),
                block_dim: (128, 1, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: layer_norm_backward_params(const float* x, const float* mean, const float* rstd, const float* dy,
            // float* dgamma, float* dbeta, int rows, int cols); one thread per column, guarded by c < cols.
            unsafe { self.launch(l, cfg, "layer_norm_backward_params")? };
        }
        Ok((self.wrap(dx, d.len()), self.wrap(dg, d.cols), self.wrap(db, d.cols)))
    }

    fn batch_norm_train(&self, d: &BatchNormDims, x: &Storage, p: &BatchNormParams, mom: f32) -> Result<[Storage; 5]> {
        let BatchNormParams { g, b, rm, rv } = *p;
        d.check_train()?;
        let xs = self.input(x, d.len(), "x")?;
        let (gs, bs) = (self.input(g, d.c, "gamma")?, self.input(b, d.c, "beta")?);
        let (rms, rvs) = (self.input(rm, d.c, "running_mean")?, self.input(rv, d.c, "running_var")?);
        let mut y = self.alloc(d.len(), For("norm", d))?;
        let (mut mean, mut rstd, mut rm_out, mut rv_out) = (
            self.alloc(d.c, For("norm", d))?,
            self.alloc(d.c, For("norm", d))?,
            self.alloc(d.c, For("norm", d))?,
            self.alloc(d.c, For("norm", d))?,
        );
        let (n, c, l_, eps) = (int(d.n, "n")?, int(d.c, "c")?, int(d.l, "l")?, d.eps as f32);
        int(d.len(), "batch norm size")?;
        let mut l = self.kernel("batch_norm_forward_train")?;
        l.arg(xs.slice()).arg(gs.slice()).arg(bs.slice()).arg(rms.slice()).arg(rvs.slice()).arg(&mut *y);
        l.arg(&mut *mean)
            .arg(&mut *rstd)
            .arg(&mut *rm_out)
            .arg(&mut *rv_out)
            .arg(&n)
            .arg(&c)
            .arg(&l_)
            .arg(&eps)
            .arg(&mom);
        // SAFETY: batch_norm_forward_train(const float* x, gamma, beta, rm, rv, float* y, mean, rstd, rm_out, rv_out,
        // int n, int c, int l, float eps, float mom); one 256-thread block per channel; lengths checked above.
        unsafe { self.launch(l, channel_blocks(d.c)?, "batch_norm_forward_train")? };
        Ok([
            self.wrap(y, d.len()),
            self.wrap(mean, d.c),
            self.wrap(rstd, d.c),
            self.wrap(rm_out, d.c),
            self.wrap(rv_out, d.c),
        ])
    }

    fn batch_norm_eval(&self, d: &BatchNormDims, x: &Storage, p: &BatchNormParams) -> Result<Storage> {
        let BatchNormParams { g, b, rm, rv } = *p;
        let xs = self.input(x, d.len(), "x")?;
        let (gs, bs) = (self.input(g, d.c, "gamma")?, self.input(b, d.c, "beta")?);
        let (rms, rvs) = (self.input(rm, d.c, "running_mean")?, self.input(rv, d.c, "running_var")?);
        let mut y = self.alloc(d.len(), For("norm", d))?;
        let (n, c, l_, eps) = (int(d.n, "n")?, int(d.c, "c")?, int(d.l, "l")?, d.eps as f32);
        let mut l = self.kernel("batch_norm_forward_eval")?;
        l.arg(xs.slice()).arg(gs.slice()).arg(bs.slice()).arg(rms.slice()).arg(rvs.slice()).arg(&mut *y);
        l.arg(&n).arg(&c).arg(&l_).arg(&eps);
        // SAFETY: batch_norm_forward_eval(const float* x, gamma, beta, rm, rv, float* y, int n, int c, int l,
        // float eps); lengths checked above.
        unsafe { self.launch(l, grid_1d(d.len()), "batch_norm_forward_eval")? };
        Ok(self.wrap(y, d.len()))
    }

    fn batch_norm_backward(&self, d: &BatchNormDims, s: &BatchNormSaved, dy: &Storage) -> Result<Triple> {
        let BatchNormSaved { train, x, g, a: stat_a, b: stat_b } = *s;
        let (xs, gs) = (self.input(x, d.len(), "x")?, self.input(g, d.c, "gamma")?);
        let (sa, sb) = (self.input(stat_a, d.c, "stat_a")?, self.input(stat_b, d.c, "stat_b")?);
        let dys = self.input(dy, d.len(), "dy")?;
        let (mut dx, mut dg, mut db) =
            (self.alloc(d.len(), For("norm", d))?, self.alloc(d.c, For("norm", d))?, self.alloc(d.c, For("norm", d))?);
        let (n, c, l_, eps, tr) = (int(d.n, "n")?, int(d.c, "c")?, int(d.l, "l")?, d.eps as f32, train as i32);
        int(d.len(), "batch norm size")?;
        let mut l = self.kernel("batch_norm_backward")?;
        l.arg(xs.slice()).arg(gs.slice()).arg(sa.slice()).arg(sb.slice()).arg(dys.slice()).arg(&mut *dx).arg(&mut *dg);
        l.arg(&mut *db).arg(&n).arg(&c).arg(&l_).arg(&eps).arg(&tr);
        // SAFETY: batch_norm_backward(const float* x, gamma, stat_a, stat_b, dy, float* dx, dgamma, dbeta, int n,
        // int c, int l, float eps, int train); one 256-thread block per channel; lengths checked above.
        unsafe { self.launch(l, channel_blocks(d.c)?, "batch_norm_backward")? };
        Ok((self.wrap(dx, d.len()), self.wrap(dg, d.c), self.wrap(db, d.c)))
    }
}
