//! Launches `kernels/ensemble.cu`: the combiner in one launch over the batch. The member weights are a small
//! host slice (from `cpu::rolling_weights`), uploaded per call; the classes come back to the host, since the
//! next step (risk limits, execution) runs there.

use super::EnsembleDims;
use crate::backend::cuda::{grid_1d, int, CudaBackend};
use crate::backend::For;
use crate::backend::Storage;
use crate::{Error, Result};
use cudarc::driver::PushKernelArg;

fn check(d: &EnsembleDims, weights: &[f32]) -> Result<f32> {
    if weights.len() != d.members {
        return Err(Error::shape("ensemble weights", d.members, weights.len()));
    }
    if d.classes == 0 || d.hold_class >= d.classes {
        return Err(Error::Invalid(format!("ensemble: hold_class {} of {} classes", d.hold_class, d.classes)));
    }
    // Summed in the CPU kernel's order, so the confidence divides by the same f32.
    let total: f32 = weights.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return Err(Error::Invalid(format!("ensemble: member weights must have a positive sum, found {total}")));
    }
    Ok(total)
}

/// (combined [batch, classes], confidence [batch], class [batch]) from p [batch, members, classes].
pub fn ensemble_forward(
    be: &CudaBackend,
    d: &EnsembleDims,
    p: &Storage,
    weights: &[f32],
    conf_threshold: f32,
    agreement: f32,
) -> Result<(Storage, Storage, Vec<u32>)> {
    let total = check(d, weights)?;
    let ps = be.input(p, d.p_len(), "p")?;
    let w = be.upload_slice(weights)?;
    let ws = be.view(&w)?;
    let (mut comb, mut conf) =
        (be.alloc(d.combined_len(), For("ensemble", d))?, be.alloc(d.batch, For("ensemble", d))?);
    let mut cls = be.zeros_u32(d.batch, For("ensemble", d))?;
    let (b32, m32, c32, h32) = (
        int(d.batch, "batch")?,
        int(d.members, "members")?,
        int(d.classes, "classes")?,
        int(d.hold_class, "hold_class")?,
    );
    int(d.p_len(), "ensemble size")?;
    let mut l = be.kernel("ensemble_forward")?;
    l.arg(ps.slice()).arg(ws.slice()).arg(&mut *comb).arg(&mut *conf).arg(&mut *cls);
    l.arg(&b32).arg(&m32).arg(&c32).arg(&h32).arg(&total).arg(&conf_threshold).arg(&agreement);
    // SAFETY: ensemble_forward(const float* p, const float* weights, float* combined, float* confidence,
    // unsigned int* cls, int batch, nm, nc, hold_class, float total_w, conf_threshold, agreement); p holds
    // batch·nm·nc, weights nm, combined batch·nc, confidence and cls batch values.
    unsafe { be.launch(l, grid_1d(d.batch), "ensemble_forward")? };
    let class = be.download_u32(&cls, d.batch)?;
    Ok((be.wrap(comb, d.combined_len()), be.wrap(conf, d.batch), class))
}

/// dp [batch, members, classes] from dcombined [batch, classes] and dconfidence [batch].
pub fn ensemble_backward(
    be: &CudaBackend,
    d: &EnsembleDims,
    p: &Storage,
    weights: &[f32],
    dcombined: &Storage,
    dconfidence: &Storage,
) -> Result<Storage> {
    let total = check(d, weights)?;
    let ps = be.input(p, d.p_len(), "p")?;
    let gcs = be.input(dcombined, d.combined_len(), "dcombined")?;
    let gfs = be.input(dconfidence, d.batch, "dconfidence")?;
    let w = be.upload_slice(weights)?;
    let ws = be.view(&w)?;
    let mut dp = be.alloc(d.p_len(), For("ensemble", d))?;
    let mut scratch = be.alloc(d.combined_len(), For("ensemble", d))?;
    let (b32, m32, c32) = (int(d.batch, "batch")?, int(d.members, "members")?, int(d.classes, "classes")?);
    int(d.p_len(), "ensemble size")?;
    let mut l = be.kernel("ensemble_backward")?;
    l.arg(ps.slice()).arg(ws.slice()).arg(gcs.slice()).arg(gfs.slice()).arg(&mut *dp).arg(&mut *scratch);
    l.arg(&b32).arg(&m32).arg(&c32).arg(&total);
    // SAFETY: ensemble_backward(const float* p, weights, dcombined, dconfidence, float* dp, float* scratch, int
    // batch, nm, nc, float total_w); scratch holds batch·nc values, the rest as in the forward.
    unsafe { be.launch(l, grid_1d(d.batch), "ensemble_backward")? };
    Ok(be.wrap(dp, d.p_len()))
}
