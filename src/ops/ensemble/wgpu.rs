//! Launchers for `shaders/ensemble.wgsl`: the fused combiner (one dispatch) and its gradient with respect to
//! the member probabilities (one dispatch). The combiner is not a `Backend` op (no layer calls it through the
//! autodiff); callers with member probabilities on a wgpu device call these directly.

use super::EnsembleDims;
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader};
use crate::backend::For;
use crate::backend::Storage;
use crate::{Error, Result};

static SHADER: Shader = Shader::named("ensemble");

/// Classes a row may have (the per-thread array in the shader).
const MAX_CLASSES: usize = 16;

fn params(d: &EnsembleDims, conf_threshold: f32, agreement: f32, p_len: usize, w_len: usize) -> Result<Params> {
    if d.classes == 0 || d.classes > MAX_CLASSES || d.hold_class >= d.classes {
        return Err(Error::Invalid(format!(
            "ensemble: {} classes (1..={MAX_CLASSES}) with hold_class {}",
            d.classes, d.hold_class
        )));
    }
    if p_len != d.p_len() {
        return Err(Error::shape("ensemble p", d.p_len(), p_len));
    }
    if w_len != d.members {
        return Err(Error::shape("ensemble weights", d.members, w_len));
    }
    Ok(Params::new().u(d.batch).u(d.members).u(d.classes).u(d.hold_class).f(conf_threshold).f(agreement))
}

/// (combined [batch, classes], confidence [batch], class [batch] as f32) from p [batch, members, classes].
/// The weights must have a positive sum (see `cpu::rolling_weights`).
pub fn ensemble_forward(
    gpu: &'static Gpu,
    d: &EnsembleDims,
    p: &Storage,
    weights: &Storage,
    conf_threshold: f32,
    agreement: f32,
) -> Result<(Storage, Storage, Storage)> {
    let (pb, wb) = (gpu.buf(p)?, gpu.buf(weights)?);
    let params = params(d, conf_threshold, agreement, pb.len(), wb.len())?;
    let (comb, conf, class) = (
        gpu.alloc(d.combined_len(), For("ensemble", d))?,
        gpu.alloc(d.batch, For("ensemble", d))?,
        gpu.alloc(d.batch, For("ensemble", d))?,
    );
    let args = vec![Arg::R(pb), Arg::R(wb), Arg::W(&comb), Arg::W(&conf), Arg::W(&class)];
    gpu.run(&[Launch::new(&SHADER, "ens_fwd", params, args, grid(d.batch, 256))])?;
    Ok((store(comb), store(conf), store(class)))
}

/// dp [batch, members, classes] from the gradients of the combined probabilities and of the confidence.
pub fn ensemble_backward(
    gpu: &'static Gpu,
    d: &EnsembleDims,
    p: &Storage,
    weights: &Storage,
    dcombined: &Storage,
    dconfidence: &Storage,
) -> Result<Storage> {
    let (pb, wb, dcb, dfb) = (gpu.buf(p)?, gpu.buf(weights)?, gpu.buf(dcombined)?, gpu.buf(dconfidence)?);
    let params = params(d, 0.0, 0.0, pb.len(), wb.len())?;
    if dcb.len() != d.combined_len() {
        return Err(Error::shape("ensemble dcombined", d.combined_len(), dcb.len()));
    }
    if dfb.len() != d.batch {
        return Err(Error::shape("ensemble dconfidence", d.batch, dfb.len()));
    }
    let dp = gpu.alloc(d.p_len(), For("ensemble", d))?;
    let args = vec![Arg::R(pb), Arg::R(wb), Arg::R(dcb), Arg::R(dfb), Arg::W(&dp)];
    gpu.run(&[Launch::new(&SHADER, "ens_bwd", params, args, grid(d.batch, 256))])?;
    Ok(store(dp))
}
