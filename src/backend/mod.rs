//! Device plumbing: host and device buffers (`Storage`), contexts, pools, compilation and launch helpers for each
//! device. Kernels are not here: each family in `src/ops/<family>/` implements its kernel trait for the device
//! types defined here, and `ops::Backend` lists the families. Nothing in this module imports `src/ops`.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod kernel_sources;
pub mod memory;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::device::Device;
use crate::{Error, Result};
use std::sync::Arc;

use memory::{Counters, PoolControl};
pub use memory::{DriverCounters, For, MemoryStats};

/// A device buffer of f32.
#[derive(Clone, Debug)]
pub enum Storage {
    Cpu(Arc<Vec<f32>>),
    #[cfg(feature = "wgpu")]
    Wgpu(Arc<wgpu::WgpuBuffer>),
    #[cfg(feature = "cuda")]
    Cuda(cuda::CudaStorage),
}

impl Storage {
    pub fn cpu(v: Vec<f32>) -> Storage {
        Storage::Cpu(Arc::new(v))
    }
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            #[cfg(feature = "wgpu")]
            Storage::Wgpu(b) => Device::Wgpu(b.gpu().index),
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => Device::Cuda(c.ordinal()),
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(v) => v.len(),
            #[cfg(feature = "wgpu")]
            Storage::Wgpu(b) => b.len(),
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => c.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn as_cpu(&self) -> Result<&[f32]> {
        match self {
            Storage::Cpu(v) => Ok(v),
            #[cfg(feature = "wgpu")]
            Storage::Wgpu(b) => Err(Error::Device(format!(
                "tensor lives on wgpu:{}; copy it to the host with to_vec() or to_device(Device::Cpu)",
                b.gpu().index
            ))),
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => Err(Error::Device(format!(
                "a tensor on cuda:{} has no host slice; copy it with to_vec() or to_device(Device::Cpu)",
                c.ordinal()
            ))),
        }
    }
}

/// The length check every device runs on a kernel argument before reading it, so a wrong length is the same
/// `Error::Shape` wording on the CPU, CUDA and wgpu (`what` names the argument, e.g. "kernel input x").
pub fn expect_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::shape(what, want, got))
    }
}

/// Two output buffers of one kernel call (e.g. the gradients of a binary op's operands).
pub type Pair = (Storage, Storage);
/// Three output buffers of one kernel call (e.g. dq, dk, dv; or y, mean, rstd).
pub type Triple = (Storage, Storage, Storage);

/// What every device provides besides kernels: where it is, and copies in and out of it.
pub trait DeviceOps: Send + Sync {
    fn device(&self) -> Device;
    fn upload(&self, data: Vec<f32>) -> Result<Storage>;
    fn download(&self, s: &Storage) -> Result<Vec<f32>>;
}

/// Ok when `device` can run kernels in this process (a GPU device is created and warmed up on first use).
/// The device a command was asked for, checked to be available. `auto` picks the best present: a CUDA device,
/// else a wgpu adapter that is a real GPU (never a software one such as lavapipe), else the CPU; the choice and
/// its reason go to stderr, so a log says where the work ran.
pub fn select(spec: &str) -> Result<Device> {
    if spec != "auto" {
        let device = Device::parse(spec)?;
        ensure_available(device)?;
        return Ok(device);
    }
    let (device, why) = auto_device();
    eprintln!("device: {device} (auto: {why})");
    Ok(device)
}

/// The best device present and why it was chosen (see `select`).
// Each backend's reason is pushed under its own cfg, so a build without GPU features pushes right after creating.
#[allow(clippy::vec_init_then_push)]
pub fn auto_device() -> (Device, String) {
    #[allow(unused_mut)]
    let mut passed = Vec::new();
    #[cfg(feature = "cuda")]
    match cuda::absent() {
        None => match cuda::warm_up(0) {
            Ok(info) => return (Device::Cuda(0), format!("{} ({})", info.name, info.arch)),
            Err(e) => passed.push(format!("cuda:0 failed to start: {e}")),
        },
        Some(why) => passed.push(why),
    }
    #[cfg(not(feature = "cuda"))]
    passed.push("no CUDA backend in this build".to_string());
    #[cfg(feature = "wgpu")]
    match wgpu::context::hardware_adapter() {
        Some((i, name)) => match ensure_available(Device::Wgpu(i)) {
            Ok(()) => return (Device::Wgpu(i), name),
            Err(e) => passed.push(format!("wgpu:{i} failed to start: {e}")),
        },
        None => passed.push("no hardware wgpu adapter (software adapters are not chosen automatically)".into()),
    }
    #[cfg(not(feature = "wgpu"))]
    passed.push("no wgpu backend in this build".to_string());
    (Device::Cpu, passed.join("; "))
}

pub fn ensure_available(device: Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        #[cfg(feature = "cuda")]
        Device::Cuda(n) => cuda::ensure_available(n),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(n) => Err(Error::Device(format!(
            "cuda:{n} is not available: this build has no CUDA backend (build with --features cuda)"
        ))),
        #[cfg(feature = "wgpu")]
        Device::Wgpu(n) => wgpu::Gpu::get(n).map(|_| ()),
        #[cfg(not(feature = "wgpu"))]
        Device::Wgpu(n) => Err(Error::Device(format!(
            "wgpu:{n} is not available: this build has no wgpu backend (build with --features wgpu)"
        ))),
    }
}

/// The driver-call counters and the caching allocator of a GPU `device`; None for the CPU, which has neither.
fn gpu_memory(device: Device) -> Result<Option<(&'static Counters, &'static dyn PoolControl)>> {
    match device {
        Device::Cpu => Ok(None),
        #[cfg(feature = "cuda")]
        Device::Cuda(n) => Ok(Some(cuda::backend(n)?.memory())),
        #[cfg(feature = "wgpu")]
        Device::Wgpu(n) => Ok(Some(wgpu::Gpu::get(n)?.memory())),
        #[allow(unreachable_patterns)]
        other => ensure_available(other).map(|_| None),
    }
}

/// What `device`'s backend has asked of its driver so far (all zero on the CPU, which has no driver). Take two
/// snapshots and [`DriverCounters::since`] to count the calls of one piece of work.
pub fn counters(device: Device) -> Result<DriverCounters> {
    Ok(gpu_memory(device)?.map_or_else(DriverCounters::default, |(c, _)| c.snapshot()))
}

/// The bytes `device`'s allocator holds: in use, cached for reuse, the peak, and the budget.
pub fn memory_stats(device: Device) -> Result<MemoryStats> {
    Ok(gpu_memory(device)?.map_or_else(MemoryStats::default, |(_, pool)| pool.stats()))
}

/// Set (or with None clear) the byte budget of `device`'s memory; it replaces `TICKGRAD_GPU_MEMORY_BUDGET`. Cached
/// free blocks that no longer fit are released. The CPU has no device memory to budget: asking is an error.
pub fn set_memory_budget(device: Device, budget: Option<u64>) -> Result<()> {
    let Some((_, pool)) = gpu_memory(device)? else {
        return Err(Error::Invalid("cpu: host memory has no device memory budget".into()));
    };
    pool.set_budget(budget);
    Ok(())
}

/// Release `device`'s cached free blocks to the driver (memory in use is untouched).
pub fn trim_memory(device: Device) -> Result<()> {
    if let Some((_, pool)) = gpu_memory(device)? {
        pool.trim();
    }
    Ok(())
}

/// Start `device`'s peak of bytes in use ([`MemoryStats::peak`]) again from the bytes in use now, to measure the
/// peak of one piece of work.
pub fn reset_memory_peak(device: Device) -> Result<()> {
    if let Some((_, pool)) = gpu_memory(device)? {
        pool.reset_peak();
    }
    Ok(())
}
