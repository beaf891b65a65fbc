//! Launches `kernels/norm.cu`: LayerNorm one block per row, BatchNorm one block per channel.

use super::{BatchNormDims, LayerNormDims};
use crate::backend::cuda::{grid_1d, grid_dim, int, rows_cfg, CudaBackend};
use crate::backend::Storage;
use crate::{Error, Result};
use cudarc::driver::{LaunchConfig, PushKernelArg};

fn channel_blocks(c: usize) -> Result<LaunchConfig> {
    Ok(LaunchConfig { grid_dim: (grid_dim(c)?, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 })
}

pub fn layer_norm(
    be: &CudaBackend,
    d: &LayerNormDims,
    x: &Storage,
    g: &Storage,
    b: &Storage,
) -> Result<(Storage, Storage, Storage)> {
    let xs = be.input(x, d.len(), "x")?;
    let (gs, bs) = (be.input(g, d.cols, "gamma")?, be.input(b, d.cols, "beta")?);
    let (mut y, mut mean, mut rstd) = (be.alloc(d.len())?, be.alloc(d.rows)?, be.alloc(d.rows)?);
    if !d.is_empty() {
        let (rows, cols, eps) = (int(d.rows, "rows")?, int(d.cols, "cols")?, d.eps as f32);
        let mut l = be.kernel("layer_norm_forward")?;
        l.arg(xs.slice()).arg(gs.slice()).arg(bs.slice()).arg(&mut y).arg(&mut mean).arg(&mut rstd);
        l.arg(&rows).arg(&cols).arg(&eps);
        // SAFETY: layer_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
        // float* rstd, int rows, int cols, float eps); lengths checked above.
        unsafe { be.launch(l, rows_cfg(d.rows, d.cols)?, "layer_norm_forward")? };
    }
    Ok((be.wrap(y, d.len()), be.wrap(mean, d.rows), be.wrap(rstd, d.rows)))
}

#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward(
    be: &CudaBackend,
    d: &LayerNormDims,
    x: &Storage,
    g: &Storage,
    mean: &Storage,
    rstd: &Storage,
    dy: &Storage,
) -> Result<(Storage, Storage, Storage)> {
    let (xs, gs) = (be.input(x, d.len(), "x")?, be.input(g, d.cols, "gamma")?);
    let (ms, rs) = (be.input(mean, d.rows, "mean")?, be.input(rstd, d.rows, "rstd")?);
    let dys = be.input(dy, d.len(), "dy")?;
    let (mut dx, mut dg, mut db) = (be.alloc(d.len())?, be.alloc(d.cols)?, be.alloc(d.cols)?);
    let (rows, cols) = (int(d.rows, "rows")?, int(d.cols, "cols")?);
    if d.rows > 0 && d.cols > 0 {
        let mut l = be.kernel("layer_norm_backward_dx")?;
        l.arg(xs.slice()).arg(gs.slice()).arg(ms.slice()).arg(rs.slice()).arg(dys.slice()).arg(&mut dx);
        l.arg(&rows).arg(&cols);
        // SAFETY: layer_norm_backward_dx(const float* x, const float* gamma, const float* mean, const float* rstd,
        // const float* dy, float* dx, int rows, int cols); lengths checked above.
        unsafe { be.launch(l, rows_cfg(d.rows, d.cols)?, "layer_norm_backward_dx")? };
    }
    if d.cols > 0 {
        let mut l = be.kernel("layer_norm_backward_params")?;
        l.arg(xs.slice()).arg(ms.slice()).arg(rs.slice()).arg(dys.slice()).arg(&mut dg).arg(&mut db);
        l.arg(&rows).arg(&cols);
        let cfg = LaunchConfig {
            grid_dim: (grid_dim(d.cols.div_ceil(128))?, 1, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: layer_norm_backward_params(const float* x, const float* mean, const float* rstd, const float* dy,
        // float* dgamma, float* dbeta, int rows, int cols); one thread per column, guarded by c < cols.
        unsafe { be.launch(l, cfg, "layer_norm_backward_params")? };
    }
    Ok((be.wrap(dx, d.len()), be.wrap(dg, d.cols), be.wrap(db, d.cols)))
}

#[allow(clippy::too_many_arguments)]
pub fn batch_norm_train(
    be: &CudaBackend,
    d: &BatchNormDims,
    x: &Storage,
    g: &Storage,
    b: &Storage,
    rm: &Storage,
    rv: &Storage,
    momentum: f32,
) -> Result<(Storage, Storage, Storage, Storage, Storage)> {
    if d.count() < 2 {
        return Err(Error::Invalid(format!(
            "batch norm training needs more than one value per channel, found {} (n = {}, l = {})",
            d.count(),
            d.n,
            d.l
        )));
    }
    let xs = be.input(x, d.len(), "x")?;
    let (gs, bs) = (be.input(g, d.c, "gamma")?, be.input(b, d.c, "beta")?);
    let (rms, rvs) = (be.input(rm, d.c, "running_mean")?, be.input(rv, d.c, "running_var")?);
    let mut y = be.alloc(d.len())?;
    let (mut mean, mut rstd, mut rm_out, mut rv_out) = (be.alloc(d.c)?, be.alloc(d.c)?, be.alloc(d.c)?, be.alloc(d.c)?);
    let (n, c, l_, eps) = (int(d.n, "n")?, int(d.c, "c")?, int(d.l, "l")?, d.eps as f32);
    int(d.len(), "batch norm size")?;
    let mut l = be.kernel("batch_norm_forward_train")?;
    l.arg(xs.slice()).arg(gs.slice()).arg(bs.slice()).arg(rms.slice()).arg(rvs.slice()).arg(&mut y);
    l.arg(&mut mean).arg(&mut rstd).arg(&mut rm_out).arg(&mut rv_out).arg(&n).arg(&c).arg(&l_).arg(&eps).arg(&momentum);
    // SAFETY: batch_norm_forward_train(const float* x, gamma, beta, rm, rv, float* y, mean, rstd, rm_out, rv_out,
    // int n, int c, int l, float eps, float momentum); one 256-thread block per channel; lengths checked above.
    unsafe { be.launch(l, channel_blocks(d.c)?, "batch_norm_forward_train")? };
    Ok((be.wrap(y, d.len()), be.wrap(mean, d.c), be.wrap(rstd, d.c), be.wrap(rm_out, d.c), be.wrap(rv_out, d.c)))
}

#[allow(clippy::too_many_arguments)]
pub fn batch_norm_eval(
    be: &CudaBackend,
    d: &BatchNormDims,
    x: &Storage,
    g: &Storage,
    b: &Storage,
    rm: &Storage,
    rv: &Storage,
) -> Result<Storage> {
    let xs = be.input(x, d.len(), "x")?;
    let (gs, bs) = (be.input(g, d.c, "gamma")?, be.input(b, d.c, "beta")?);
    let (rms, rvs) = (be.input(rm, d.c, "running_mean")?, be.input(rv, d.c, "running_var")?);
    let mut y = be.alloc(d.len())?;
    let (n, c, l_, eps) = (int(d.n, "n")?, int(d.c, "c")?, int(d.l, "l")?, d.eps as f32);
    let mut l = be.kernel("batch_norm_forward_eval")?;
    l.arg(xs.slice()).arg(gs.slice()).arg(bs.slice()).arg(rms.slice()).arg(rvs.slice()).arg(&mut y);
    l.arg(&n).arg(&c).arg(&l_).arg(&eps);
    // SAFETY: batch_norm_forward_eval(const float* x, gamma, beta, rm, rv, float* y, int n, int c, int l,
    // float eps); lengths checked above.
    unsafe { be.launch(l, grid_1d(d.len()), "batch_norm_forward_eval")? };
    Ok(be.wrap(y, d.len()))
}

#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    be: &CudaBackend,
    d: &BatchNormDims,
    train: bool,
    x: &Storage,
    g: &Storage,
    stat_a: &Storage,
    stat_b: &Storage,
    dy: &Storage,
) -> Result<(Storage, Storage, Storage)> {
    let (xs, gs) = (be.input(x, d.len(), "x")?, be.input(g, d.c, "gamma")?);
    let (sa, sb) = (be.input(stat_a, d.c, "stat_a")?, be.input(stat_b, d.c, "stat_b")?);
    let dys = be.input(dy, d.len(), "dy")?;
    let (mut dx, mut dg, mut db) = (be.alloc(d.len())?, be.alloc(d.c)?, be.alloc(d.c)?);
    let (n, c, l_, eps, tr) = (int(d.n, "n")?, int(d.c, "c")?, int(d.l, "l")?, d.eps as f32, train as i32);
    int(d.len(), "batch norm size")?;
    let mut l = be.kernel("batch_norm_backward")?;
    l.arg(xs.slice()).arg(gs.slice()).arg(sa.slice()).arg(sb.slice()).arg(dys.slice()).arg(&mut dx).arg(&mut dg);
    l.arg(&mut db).arg(&n).arg(&c).arg(&l_).arg(&eps).arg(&tr);
    // SAFETY: batch_norm_backward(const float* x, gamma, stat_a, stat_b, dy, float* dx, dgamma, dbeta, int n,
    // int c, int l, float eps, int train); one 256-thread block per channel; lengths checked above.
    unsafe { be.launch(l, channel_blocks(d.c)?, "batch_norm_backward")? };
    Ok((be.wrap(dx, d.len()), be.wrap(dg, d.c), be.wrap(db, d.c)))
}
