//! Launches `kernels/ensemble.cu`: the combiner in one launch over the batch, its gradient in another. The weights
//! [batch, members] are a device buffer like p; the launcher reads them back once to check each row's sum (a few
//! KB), so a bad sum is the same error as on the CPU rather than a NaN row. The class comes back as f32 indices in
//! device memory, as on every device.

use super::{check_grads, check_weights, EnsembleDims, EnsembleKernel, EnsembleRule, Grads};
use crate::backend::cuda::{grid_1d, int, CudaBackend};
use crate::backend::{For, Storage, Triple};
use crate::Result;
use cudarc::driver::PushKernelArg;

/// The checks of every device (dims, lengths, weight sums), then the launch sizes as i32.
fn checked(be: &CudaBackend, d: &EnsembleDims, p: &Storage, weights: &Storage) -> Result<[i32; 4]> {
    d.check(p, weights)?;
    check_weights(d, &be.download_storage(be.view(weights)?)?)?;
    int(d.p_len(), "ensemble size")?;
    Ok([int(d.batch, "batch")?, int(d.members, "members")?, int(d.classes, "classes")?, int(d.hold_class, "hold")?])
}

impl EnsembleKernel for CudaBackend {
    fn ensemble(&self, d: &EnsembleDims, p: &Storage, weights: &Storage, rule: EnsembleRule) -> Result<Triple> {
        let [b32, m32, c32, h32] = checked(self, d, p, weights)?;
        let (ps, ws) = (self.input(p, d.p_len(), "p")?, self.input(weights, d.weights_len(), "weights")?);
        let (mut comb, mut conf, mut cls) = (
            self.alloc(d.combined_len(), For("ensemble", d))?,
            self.alloc(d.batch, For("ensemble", d))?,
            self.alloc(d.batch, For("ensemble", d))?,
        );
        if d.batch > 0 {
            let mut l = self.kernel("ensemble_forward")?;
            l.arg(ps.slice()).arg(ws.slice()).arg(&mut *comb).arg(&mut *conf).arg(&mut *cls);
            l.arg(&b32).arg(&m32).arg(&c32).arg(&h32).arg(&rule.conf_threshold).arg(&rule.agreement);
            // SAFETY: ensemble_forward(const float* p, const float* weights_all, float* combined, float* confidence,
            // float* cls, int batch, nm, nc, hold_class, float conf_threshold, agreement); p holds batch·nm·nc,
            // weights batch·nm, combined batch·nc, confidence and cls batch values (checked above).
            unsafe { self.launch(l, grid_1d(d.batch), "ensemble_forward")? };
        }
        Ok((self.wrap(comb, d.combined_len()), self.wrap(conf, d.batch), self.wrap(cls, d.batch)))
    }

    fn ensemble_backward(&self, d: &EnsembleDims, p: &Storage, weights: &Storage, dy: Grads) -> Result<Storage> {
        check_grads(d, dy)?;
        let Grads { dcombined, dconfidence } = dy;
        let [b32, m32, c32, _] = checked(self, d, p, weights)?;
        let (ps, ws) = (self.input(p, d.p_len(), "p")?, self.input(weights, d.weights_len(), "weights")?);
        let gcs = self.input(dcombined, d.combined_len(), "dcombined")?;
        let gfs = self.input(dconfidence, d.batch, "dconfidence")?;
        let mut dp = self.alloc(d.p_len(), For("ensemble", d))?;
        if d.batch > 0 && d.members > 0 {
            let mut scratch = self.alloc(d.combined_len(), For("ensemble", d))?;
            let mut l = self.kernel("ensemble_backward")?;
            l.arg(ps.slice()).arg(ws.slice()).arg(gcs.slice()).arg(gfs.slice()).arg(&mut *dp).arg(&mut *scratch);
            l.arg(&b32).arg(&m32).arg(&c32);
            // SAFETY: ensemble_backward(const float* p, weights_all, dcombined, dconfidence, float* dp, float*
            // scratch, int batch, nm, nc); scratch holds batch·nc values, the rest as in the forward (checked above).
            unsafe { self.launch(l, grid_1d(d.batch), "ensemble_backward")? };
        }
        Ok(self.wrap(dp, d.p_len()))
    }
}
