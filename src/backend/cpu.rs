//! The CPU device: host memory. Its kernels live with their families (`src/ops/<family>/cpu.rs`); this file holds
//! only what they share to reach host buffers.

use super::{DeviceOps, Storage};
use crate::device::Device;
use crate::{Error, Result};

/// The CPU device. A unit type: host memory needs no context.
pub struct CpuBackend;

/// The host slice behind `x`. A buffer on another device is an error naming it (never an empty slice), so a
/// kernel never runs on data it cannot see.
pub fn host(x: &Storage) -> Result<&[f32]> {
    x.as_cpu().map_err(|e| match e {
        Error::Device(m) => Error::Device(format!("cpu kernel argument: {m}")),
        other => other,
    })
}

/// A fresh output buffer of `n` zeros.
pub fn buf(n: usize) -> Vec<f32> {
    vec![0.0; n]
}

/// Wrap a kernel's output as storage.
pub fn out(v: Vec<f32>) -> Storage {
    Storage::cpu(v)
}

impl DeviceOps for CpuBackend {
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn upload(&self, data: Vec<f32>) -> Result<Storage> {
        Ok(Storage::cpu(data))
    }
    fn download(&self, x: &Storage) -> Result<Vec<f32>> {
        Ok(host(x)?.to_vec())
    }
}
