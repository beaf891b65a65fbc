//! Launchers for `shaders/norm.wgsl`: LayerNorm and BatchNorm1d, forward (train and eval) and backward. Each op
//! is one submit; the per-row / per-channel statistics and the elementwise pass are separate launches in it.

use super::{BatchNormDims, LayerNormDims};
use super::{BatchNormParams, BatchNormSaved, LayerNormSaved, NormKernel};
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader, WgpuBuffer};
use crate::backend::For;
use crate::backend::{expect_len, Storage, Triple};
use crate::Result;

static SHADER: Shader = Shader::named("norm");

fn ln_params(d: &LayerNormDims) -> Params {
    Params::new().u(d.rows).u(d.cols).f(d.eps as f32)
}

fn bn_params(d: &BatchNormDims, momentum: f32, eval: bool) -> Params {
    let n = d.count();
    let bessel = if n > 1 { (n as f64 / (n - 1) as f64) as f32 } else { f32::INFINITY };
    Params::new().u(d.n).u(d.c).u(d.l).f(d.eps as f32).f(momentum).f(bessel).flag(eval)
}

fn check_channels(d: &BatchNormDims, named: &[(&str, usize)]) -> Result<()> {
    for &(what, len) in named {
        expect_len(&format!("batch_norm {what}"), len, d.c)?;
    }
    Ok(())
}

/// The buffers of a batch-norm forward (x, gamma, beta, running mean, running var), checked against `d`.
fn bn_inputs<'a>(gpu: &Gpu, d: &BatchNormDims, x: &'a Storage, p: &BatchNormParams<'a>) -> Result<[&'a WgpuBuffer; 5]> {
    let BatchNormParams { g, b, rm, rv } = *p;
    let (xb, gb, bb, rmb, rvb) = (gpu.buf(x)?, gpu.buf(g)?, gpu.buf(b)?, gpu.buf(rm)?, gpu.buf(rv)?);
    expect_len("batch_norm x", xb.len(), d.len())?;
    check_channels(
        d,
        &[("gamma", gb.len()), ("beta", bb.len()), ("running_mean", rmb.len()), ("running_var", rvb.len())],
    )?;
    Ok([xb, gb, bb, rmb, rvb])
}

impl NormKernel for Gpu {
    /// (y, mean, rstd).
    fn layer_norm(&self, d: &LayerNormDims, x: &Storage, g: &Storage, b: &Storage) -> Result<Triple> {
        let gpu = self.handle()?;
        let [xb, gb, bb] = gpu.checked([
            (x, d.len(), "layer_norm x"),
            (g, d.cols, "layer_norm gamma"),
            (b, d.cols, "layer_norm beta"),
        ])?;
        let [y, mean, rstd] = gpu.alloc_all([d.len(), d.rows, d.rows], For("norm", d))?;
        let args = vec![Arg::R(xb), Arg::R(gb), Arg::R(bb), Arg::W(&y), Arg::W(&mean), Arg::W(&rstd)];
        gpu.run(&[Launch::new(&SHADER, "ln_fwd", ln_params(d), args, grid(d.rows, 1))])?;
        Ok((store(y), store(mean), store(rstd)))
    }

    /// (dx, dgamma, dbeta).
    fn layer_norm_backward(&self, d: &LayerNormDims, s: &LayerNormSaved, dy: &Storage) -> Result<Triple> {
        let LayerNormSaved { x, g, mean, rstd } = *s;
        let gpu = self.handle()?;
        let [xb, dyb, gb, mb, rb] = gpu.checked([
            (x, d.len(), "layer_norm x"),
            (dy, d.len(), "layer_norm dy"),
            (g, d.cols, "layer_norm gamma"),
            (mean, d.rows, "layer_norm mean"),
            (rstd, d.rows, "layer_norm rstd"),
        ])?;
        let [dx, dg, db] = gpu.alloc_all([d.len(), d.cols, d.cols], For("norm", d))?;
        let dx_args = vec![Arg::R(xb), Arg::R(gb), Arg::R(mb), Arg::R(rb), Arg::R(dyb), Arg::W(&dx)];
        let dgb_args = vec![Arg::R(xb), Arg::R(mb), Arg::R(rb), Arg::R(dyb), Arg::W(&dg), Arg::W(&db)];
        gpu.run(&[
            Launch::new(&SHADER, "ln_bwd_dx", ln_params(d), dx_args, grid(d.rows, 1)),
            Launch::new(&SHADER, "ln_bwd_dgb", ln_params(d), dgb_args, grid(d.cols, 1)),
        ])?;
        Ok((store(dx), store(dg), store(db)))
    }

    /// (y, batch mean, batch rstd, updated running mean, updated running var).
    fn batch_norm_train(&self, d: &BatchNormDims, x: &Storage, p: &BatchNormParams, mom: f32) -> Result<[Storage; 5]> {
        let gpu = self.handle()?;
        let [xb, gb, bb, rmb, rvb] = bn_inputs(gpu, d, x, p)?;
        d.check_train()?;
        let (y, mean, rstd) =
            (gpu.alloc(d.len(), For("norm", d))?, gpu.alloc(d.c, For("norm", d))?, gpu.alloc(d.c, For("norm", d))?);
        let (rm_out, rv_out) = (gpu.alloc(d.c, For("norm", d))?, gpu.alloc(d.c, For("norm", d))?);
        let p = bn_params(d, mom, false);
        let stats_args =
            vec![Arg::R(xb), Arg::R(rmb), Arg::R(rvb), Arg::W(&mean), Arg::W(&rstd), Arg::W(&rm_out), Arg::W(&rv_out)];
        let apply_args = vec![Arg::R(xb), Arg::R(gb), Arg::R(bb), Arg::R(&mean), Arg::R(&rstd), Arg::W(&y)];
        gpu.run(&[
            Launch::new(&SHADER, "bn_stats", p.clone(), stats_args, grid(d.c, 1)),
            Launch::new(&SHADER, "bn_apply", p, apply_args, grid(d.len(), 256)),
        ])?;
        Ok([store(y), store(mean), store(rstd), store(rm_out), store(rv_out)])
    }

    fn batch_norm_eval(&self, d: &BatchNormDims, x: &Storage, p: &BatchNormParams) -> Result<Storage> {
        let gpu = self.handle()?;
        let [xb, gb, bb, rmb, rvb] = bn_inputs(gpu, d, x, p)?;
        let y = gpu.alloc(d.len(), For("norm", d))?;
        let args = vec![Arg::R(xb), Arg::R(gb), Arg::R(bb), Arg::R(rmb), Arg::R(rvb), Arg::W(&y)];
        gpu.run(&[Launch::new(&SHADER, "bn_apply", bn_params(d, 0.0, true), args, grid(d.len(), 256))])?;
        Ok(store(y))
    }

    /// (dx, dgamma, dbeta); `stat_a`, `stat_b` are (batch mean, rstd) in training, (running mean, var) in eval.
    fn batch_norm_backward(&self, d: &BatchNormDims, s: &BatchNormSaved, dy: &Storage) -> Result<Triple> {
        let BatchNormSaved { train, x, g, a: stat_a, b: stat_b } = *s;
        let gpu = self.handle()?;
        let (xb, gb, sab, sbb, dyb) = (gpu.buf(x)?, gpu.buf(g)?, gpu.buf(stat_a)?, gpu.buf(stat_b)?, gpu.buf(dy)?);
        expect_len("batch_norm x", xb.len(), d.len())?;
        expect_len("batch_norm dy", dyb.len(), d.len())?;
        check_channels(d, &[("gamma", gb.len()), ("statistic a", sab.len()), ("statistic b", sbb.len())])?;
        let (dx, dg, db) =
            (gpu.alloc(d.len(), For("norm", d))?, gpu.alloc(d.c, For("norm", d))?, gpu.alloc(d.c, For("norm", d))?);
        let p = bn_params(d, 0.0, !train);
        let sums_args = vec![Arg::R(xb), Arg::R(sab), Arg::R(sbb), Arg::R(dyb), Arg::W(&dg), Arg::W(&db)];
        let dx_args =
            vec![Arg::R(xb), Arg::R(gb), Arg::R(sab), Arg::R(sbb), Arg::R(dyb), Arg::R(&dg), Arg::R(&db), Arg::W(&dx)];
        gpu.run(&[
            Launch::new(&SHADER, "bn_bwd_sums", p.clone(), sums_args, grid(d.c, 1)),
            Launch::new(&SHADER, "bn_bwd_dx", p, dx_args, grid(d.len(), 256)),
        ])?;
        Ok((store(dx), store(dg), store(db)))
    }
}
