//! The wgpu backend: device plumbing only. Kernels are the hand-written WGSL of `shaders/`, dispatched by each
//! family's `src/ops/<family>/wgpu.rs`; this module owns the device per adapter (`context`), the buffer pool and
//! transfers (`buffer`), pipelines and launches (`launch`). It imports nothing from `src/ops`.
//!
//! Nothing here waits for the device except `download` (and `Gpu::sync`): a forward pass only records and
//! submits work, so consecutive ops pipeline on the GPU.

pub mod buffer;
pub mod context;
pub mod launch;

pub use buffer::WgpuBuffer;
pub use context::{adapter_names, Gpu};
pub use launch::{grid, Arg, Launch, Params, Prep, Shader};

use super::{DeviceOps, Storage};
use crate::device::Device;
use crate::{Error, Result};
use std::sync::Arc;

impl Gpu {
    /// The device buffer behind `s`, or an error when `s` lives on another device.
    pub fn buf<'a>(&self, s: &'a Storage) -> Result<&'a WgpuBuffer> {
        match s {
            Storage::Wgpu(b) if b.gpu().index == self.index => Ok(b),
            other => Err(Error::Device(format!(
                "wgpu:{}: kernel argument lives on {}; transfer it with to_device first",
                self.index,
                other.device()
            ))),
        }
    }

    /// The device buffer behind `s`, checked to live on this device and to hold `len` values (`what` names it),
    /// as the CUDA launchers' `input` does.
    pub fn input<'a>(&self, s: &'a Storage, len: usize, what: &str) -> Result<&'a WgpuBuffer> {
        let b = self.buf(s)?;
        super::expect_len(&format!("kernel input {what}"), b.len(), len)?;
        Ok(b)
    }

    /// The device buffers behind `xs`, each checked to hold its length (named as given, the error's whole
    /// prefix): every buffer is looked up (device first) before any length is checked, as the launchers did one by
    /// one.
    pub fn checked<'a, const N: usize>(&self, xs: [(&'a Storage, usize, &str); N]) -> Result<[&'a WgpuBuffer; N]> {
        let mut bufs = Vec::with_capacity(N);
        for (s, _, _) in &xs {
            bufs.push(self.buf(s)?);
        }
        for (b, (_, len, what)) in bufs.iter().zip(&xs) {
            super::expect_len(what, b.len(), *len)?;
        }
        bufs.try_into().map_err(|_| Error::Device("wgpu: a checked input went missing".into()))
    }

    /// The `'static` handle of this context: launchers allocate buffers that keep a reference to their device,
    /// and `Gpu` values only exist as leaked statics (see `Gpu::get`), so re-borrowing as `'static` is sound.
    pub fn handle(&self) -> Result<&'static Gpu> {
        Gpu::get(self.index)
    }
}

/// Wrap a kernel's output buffer as storage.
pub fn store(b: WgpuBuffer) -> Storage {
    Storage::Wgpu(Arc::new(b))
}

impl DeviceOps for Gpu {
    fn device(&self) -> Device {
        Device::Wgpu(self.index)
    }
    fn upload(&self, data: Vec<f32>) -> Result<Storage> {
        Ok(store(self.handle()?.buffer_from(&data)?))
    }
    fn download(&self, s: &Storage) -> Result<Vec<f32>> {
        self.read_buffer(self.buf(s)?)
    }
}
