//! Launchers for `shaders/ensemble.wgsl`: the fused combiner (one dispatch) and its gradient with respect to
//! the member probabilities (one dispatch). The weights [batch, members] are a device buffer like p; the
//! launcher reads them back once to check each row's sum (a few KB), so a bad sum is the same error as on the CPU.

use super::{check_grads, check_weights, EnsembleDims, EnsembleKernel, EnsembleRule, Grads};
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader};
use crate::backend::{For, Storage, Triple};
use crate::Result;

static SHADER: Shader = Shader::named("ensemble");

/// The checks of every device (dims, lengths, weight sums), then the shader's parameters.
fn params(gpu: &Gpu, d: &EnsembleDims, p: &Storage, weights: &Storage, rule: EnsembleRule) -> Result<Params> {
    d.check(p, weights)?;
    check_weights(d, &gpu.read_buffer(gpu.buf(weights)?)?)?;
    Ok(Params::new().u(d.batch).u(d.members).u(d.classes).u(d.hold_class).f(rule.conf_threshold).f(rule.agreement))
}

impl EnsembleKernel for Gpu {
    fn ensemble(&self, d: &EnsembleDims, p: &Storage, weights: &Storage, rule: EnsembleRule) -> Result<Triple> {
        let gpu = self.handle()?;
        let params = params(gpu, d, p, weights, rule)?;
        let (pb, wb) = (gpu.buf(p)?, gpu.buf(weights)?);
        let (comb, conf, class) = (
            gpu.alloc(d.combined_len(), For("ensemble", d))?,
            gpu.alloc(d.batch, For("ensemble", d))?,
            gpu.alloc(d.batch, For("ensemble", d))?,
        );
        if d.batch > 0 {
            let args = vec![Arg::R(pb), Arg::R(wb), Arg::W(&comb), Arg::W(&conf), Arg::W(&class)];
            gpu.run(&[Launch::new(&SHADER, "ens_fwd", params, args, grid(d.batch, 256))])?;
        }
        Ok((store(comb), store(conf), store(class)))
    }

    fn ensemble_backward(&self, d: &EnsembleDims, p: &Storage, weights: &Storage, dy: Grads) -> Result<Storage> {
        let gpu = self.handle()?;
        check_grads(d, dy)?;
        let Grads { dcombined, dconfidence } = dy;
        let rule = EnsembleRule { conf_threshold: 0.0, agreement: 0.0 };
        let params = params(gpu, d, p, weights, rule)?;
        let (pb, wb, dcb, dfb) = (gpu.buf(p)?, gpu.buf(weights)?, gpu.buf(dcombined)?, gpu.buf(dconfidence)?);
        let dp = gpu.alloc(d.p_len(), For("ensemble", d))?;
        if d.batch > 0 && d.members > 0 {
            let args = vec![Arg::R(pb), Arg::R(wb), Arg::R(dcb), Arg::R(dfb), Arg::W(&dp)];
            gpu.run(&[Launch::new(&SHADER, "ens_bwd", params, args, grid(d.batch, 256))])?;
        }
        Ok(store(dp))
    }
}
