//! Launches `kernels/dropout.cu`. The threshold and scale come from `DropoutDims`, so the device compares and
//! multiplies with exactly the CPU's numbers and draws the same mask bit for bit.

use super::DropoutDims;
use super::DropoutKernel;
use crate::backend::cuda::{grid_1d, CudaBackend};
use crate::backend::For;
use crate::backend::Storage;
use crate::Result;
use cudarc::driver::PushKernelArg;

/// y = x·mask/(1 − p); the backward is the same call on dy with the same seed.
pub fn mask_scale(be: &CudaBackend, x: &Storage, p: f32, seed: u64) -> Result<Storage> {
    let d = DropoutDims::checked(0, p)?;
    let n = x.len();
    let xs = be.input(x, n, "x")?;
    let mut y = be.alloc(n, For("dropout, values", &n))?;
    let (n64, t, scale) = (n as i64, d.threshold(), d.scale());
    let mut l = be.kernel("dropout_mask_scale")?;
    l.arg(xs.slice()).arg(&mut *y).arg(&n64).arg(&seed).arg(&t).arg(&scale);
    // SAFETY: dropout_mask_scale(const float* x, float* y, long long n, unsigned long long seed,
    // unsigned int threshold, float scale); x and y hold n values.
    unsafe { be.launch(l, grid_1d(n), "dropout_mask_scale")? };
    Ok(be.wrap(y, n))
}

/// The keep mask alone (1.0 kept, 0.0 dropped), for comparing with `dropout::keep` bit for bit.
pub fn mask(be: &CudaBackend, n: usize, p: f32, seed: u64) -> Result<Storage> {
    let d = DropoutDims::checked(0, p)?;
    let mut m = be.alloc(n, For("dropout, values", &n))?;
    let (n64, t) = (n as i64, d.threshold());
    let mut l = be.kernel("dropout_mask")?;
    l.arg(&mut *m).arg(&n64).arg(&seed).arg(&t);
    // SAFETY: dropout_mask(float* mask, long long n, unsigned long long seed, unsigned int threshold); mask holds n.
    unsafe { be.launch(l, grid_1d(n), "dropout_mask")? };
    Ok(be.wrap(m, n))
}

impl DropoutKernel for CudaBackend {
    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage> {
        mask_scale(self, x, p, seed)
    }
}
