//! The op set as one trait: every kernel family, one line each. A device type that implements every family's
//! kernel trait (in `src/ops/<family>/{cpu,cuda,wgpu}.rs`) and the device plumbing of `backend::DeviceOps` is a
//! `Backend` (one impl line per device below). Adding a family costs two lines here (its `pub use` and its line
//! in the supertrait) and one in `ops/mod.rs`.

pub use super::attention::AttentionKernel;
pub use super::conv1d::Conv1dKernel;
pub use super::dropout::DropoutKernel;
pub use super::elementwise::ElementwiseKernel;
pub use super::ensemble::EnsembleKernel;
pub use super::layout::LayoutKernel;
pub use super::lstm::LstmKernel;
pub use super::matmul::MatmulKernel;
pub use super::norm::NormKernel;
pub use super::optim::OptimKernel;
pub use super::reduce::ReduceKernel;
pub use super::softmax::SoftmaxKernel;
use crate::backend::{cpu::CpuBackend, DeviceOps};
use crate::device::Device;
use crate::{Error, Result};

/// Every kernel family on one device.
pub trait Backend:
    DeviceOps
    + LayoutKernel
    + MatmulKernel
    + AttentionKernel
    + Conv1dKernel
    + LstmKernel
    + NormKernel
    + SoftmaxKernel
    + ElementwiseKernel
    + ReduceKernel
    + DropoutKernel
    + OptimKernel
    + EnsembleKernel
{
}

impl Backend for CpuBackend {}
#[cfg(feature = "cuda")]
impl Backend for crate::backend::cuda::CudaBackend {}
#[cfg(feature = "wgpu")]
impl Backend for crate::backend::wgpu::Gpu {}

static CPU: CpuBackend = CpuBackend;

/// The backend that runs kernels on `device`, or an error saying why it is not available.
pub fn backend(device: Device) -> Result<&'static dyn Backend> {
    match device {
        Device::Cpu => Ok(&CPU),
        #[cfg(feature = "wgpu")]
        Device::Wgpu(n) => Ok(crate::backend::wgpu::Gpu::get(n)?),
        #[cfg(feature = "cuda")]
        Device::Cuda(n) => Ok(crate::backend::cuda::backend(n)?),
        #[allow(unreachable_patterns)] // with both GPU features every device has a backend above
        other => {
            crate::backend::ensure_available(other)?;
            Err(Error::Device(format!("{other}: backend not built")))
        }
    }
}

/// Brings every kernel trait into scope (their methods are called on a `&dyn Backend`) with `backend`.
pub mod prelude {
    pub use super::*;
    pub use crate::backend::DeviceOps;
}
