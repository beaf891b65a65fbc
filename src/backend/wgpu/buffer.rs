//! Device buffers: a pool that recycles freed buffers by size class, the f32 buffer type held by
//! `Storage::Wgpu`, and the two explicit transfers (upload = `queue.write_buffer`, download = copy into a
//! mappable staging buffer, then map). Only `download` waits for the device. The pool is the device's caching
//! allocator (`backend::memory`): it counts what it creates, and refuses requests beyond the device's budget.
//!
//! Reuse is safe without fences: every kernel goes through the one queue, so a freed buffer handed out again
//! is only written by commands submitted after the last command that read it.

use super::context::Gpu;
use crate::backend::memory::{self, For, Grant, PoolControl};
use crate::{Error, Result};
use std::fmt;
use std::sync::Arc;

pub use crate::backend::memory::size_class;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum Kind {
    /// Kernel inputs and outputs.
    Storage,
    /// Kernel parameters.
    Uniform,
    /// Readback staging.
    Staging,
}

impl Kind {
    fn usage(self) -> wgpu::BufferUsages {
        use wgpu::BufferUsages as U;
        match self {
            Kind::Storage => U::STORAGE | U::COPY_SRC | U::COPY_DST,
            Kind::Uniform => U::UNIFORM | U::COPY_DST,
            Kind::Staging => U::MAP_READ | U::COPY_DST,
        }
    }
}

/// The caching allocator of one device: free buffers by (kind, size class) and the budget's accounting.
pub(super) type Pool = memory::Pool<Kind, wgpu::Buffer>;

impl Gpu {
    /// A buffer of at least `bytes` of `kind`, from the pool when one of the size class is free, else created by
    /// the driver (counted). Beyond the device's budget it is an error naming `what`.
    pub(super) fn take(&self, kind: Kind, bytes: u64, what: For) -> Result<wgpu::Buffer> {
        let class = size_class(bytes);
        if class > self.limits.max_buffer_size {
            return Err(Error::Device(format!(
                "{}: {what}: a buffer of {bytes} bytes exceeds the adapter's max_buffer_size {}",
                self.name(),
                self.limits.max_buffer_size
            )));
        }
        let over = |in_use, budget| memory::over_budget(&self.name(), what, bytes, in_use, budget);
        if let Grant::Reused(b) = self.pool.take(kind, class, over)? {
            return Ok(b);
        }
        let create = || {
            self.scoped(&format!("create_buffer for {what}"), || {
                Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: class,
                    usage: kind.usage(),
                    mapped_at_creation: false,
                }))
            })
        };
        // A driver that is out of memory may succeed once the cached blocks are released.
        let created = create().or_else(|_| {
            self.pool.trim();
            create()
        });
        match created {
            Ok(b) => {
                self.counters.alloc();
                Ok(b)
            }
            Err(e) => {
                self.pool.not_created(class);
                Err(e)
            }
        }
    }

    /// Elements between the starts of two views of one buffer: the adapter's storage-binding offset alignment.
    pub fn view_align(&self) -> usize {
        (self.limits.min_storage_buffer_offset_alignment as usize / 4).max(1)
    }

    /// The most f32 one storage binding may span (the adapter's `max_storage_buffer_binding_size`).
    pub fn max_binding_len(&self) -> usize {
        (self.limits.max_storage_buffer_binding_size / 4) as usize
    }

    /// Return a buffer to the pool (or free it when the pool is full).
    pub(super) fn give(&self, kind: Kind, buf: wgpu::Buffer) {
        self.pool.give(kind, buf.size(), buf);
    }

    /// An uninitialised f32 buffer of `len` elements for a kernel to write. In debug builds (and with
    /// `TICKGRAD_WGPU_POISON=1`) it is filled with NaN first, so a kernel that skips an element fails its test
    /// instead of passing on a recycled buffer's old contents.
    pub fn alloc(&'static self, len: usize, what: For) -> Result<WgpuBuffer> {
        let bytes = (len as u64)
            .checked_mul(4)
            .ok_or_else(|| Error::Device(format!("{}: {what}: {len} f32 overflow a buffer size", self.name())))?;
        let buf = self.take(Kind::Storage, bytes, what)?;
        if poison() && len > 0 {
            let nan: Vec<f32> = vec![f32::NAN; len];
            self.queue.write_buffer(&buf, 0, bytemuck::cast_slice(&nan));
        }
        Ok(WgpuBuffer { gpu: self, buf: Some(buf), slab: None, offset: 0, len })
    }

    /// One fresh buffer per length, in order (a kernel's outputs): a failed allocation fails them all.
    pub fn alloc_all<const N: usize>(&'static self, lens: [usize; N], what: For) -> Result<[WgpuBuffer; N]> {
        let mut bufs = Vec::with_capacity(N);
        for n in lens {
            bufs.push(self.alloc(n, what)?);
        }
        bufs.try_into().map_err(|_| Error::Device(format!("{}: {what}: an output went missing", self.name())))
    }

    /// Explicit host → device copy (queued; it lands before the next submitted kernel).
    pub fn buffer_from(&'static self, data: &[f32]) -> Result<WgpuBuffer> {
        let bytes = (data.len() as u64) * 4;
        let buf = self.take(Kind::Storage, bytes, For("upload of f32 values", &data.len()))?;
        if !data.is_empty() {
            self.queue.write_buffer(&buf, 0, bytemuck::cast_slice(data));
            self.counters.htod(bytes);
        }
        Ok(WgpuBuffer { gpu: self, buf: Some(buf), slab: None, offset: 0, len: data.len() })
    }

    /// Explicit device → host copy: the one place that waits for the device.
    pub fn read_buffer(&self, x: &WgpuBuffer) -> Result<Vec<f32>> {
        if x.len == 0 {
            return Ok(Vec::new());
        }
        let bytes = x.len as u64 * 4;
        let staging = self.take(Kind::Staging, bytes, For("download staging of f32 values", &x.len))?;
        self.scoped("download", || {
            let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            enc.copy_buffer_to_buffer(x.raw(), x.offset, &staging, 0, bytes);
            self.queue.submit([enc.finish()]);
            Ok(())
        })?;
        let (tx, rx) = std::sync::mpsc::channel();
        staging.slice(..bytes).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.sync()?;
        rx.recv()
            .map_err(|_| Error::Device(format!("{}: readback callback never ran", self.name())))?
            .map_err(|e| Error::Device(format!("{}: map_async failed: {e}", self.name())))?;
        let out = {
            let view = staging
                .slice(..bytes)
                .get_mapped_range()
                .map_err(|e| Error::Device(format!("{}: get_mapped_range failed: {e}", self.name())))?;
            bytemuck::pod_collect_to_vec::<u8, f32>(&view)
        };
        staging.unmap();
        self.give(Kind::Staging, staging);
        self.counters.dtoh(bytes);
        Ok(out)
    }
}

fn poison() -> bool {
    static POISON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *POISON.get_or_init(|| cfg!(debug_assertions) || std::env::var("TICKGRAD_WGPU_POISON").is_ok_and(|v| v == "1"))
}

/// `len` f32 values in device memory: a buffer of its own, returned to its device's pool when dropped, or a view
/// of `len` values inside another buffer (a slab), which it keeps alive. Views exist for the multi-tensor
/// optimizer (`ops::optim::wgpu`): a group's parameters live in one slab so one dispatch updates them all.
pub struct WgpuBuffer {
    gpu: &'static Gpu,
    buf: Option<wgpu::Buffer>,
    /// The buffer a view lies in (`buf` is then `None`).
    slab: Option<Arc<WgpuBuffer>>,
    /// Bytes from the start of the underlying buffer: 0 for an own buffer; for a view a multiple of the adapter's
    /// `min_storage_buffer_offset_alignment`, as a binding at that offset requires.
    offset: u64,
    len: usize,
}

impl WgpuBuffer {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn gpu(&self) -> &'static Gpu {
        self.gpu
    }
    pub(super) fn raw(&self) -> &wgpu::Buffer {
        match &self.slab {
            Some(s) => s.raw(),
            // Only `Drop` takes the buffer out.
            None => self.buf.as_ref().expect("WgpuBuffer used after drop"),
        }
    }
    /// Bytes from the start of `raw()` where the values begin.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }
    /// The slab this buffer is a view of, and the view's first element in it; `None` for an own buffer.
    pub fn view_of(&self) -> Option<(&Arc<WgpuBuffer>, usize)> {
        self.slab.as_ref().map(|s| (s, ((self.offset - s.offset) / 4) as usize))
    }
    /// A view of `len` values of `slab` from element `at`. `at` must give a byte offset that is a multiple of the
    /// adapter's `min_storage_buffer_offset_alignment` (`Gpu::view_align`), and the view must lie in the slab.
    pub fn view(slab: &Arc<WgpuBuffer>, at: usize, len: usize) -> Result<WgpuBuffer> {
        let gpu = slab.gpu;
        let offset = slab.offset + at as u64 * 4;
        if at.checked_add(len).is_none_or(|end| end > slab.len) || !offset.is_multiple_of(gpu.view_align() as u64 * 4) {
            return Err(Error::Device(format!(
                "{}: a view of {len} f32 at element {at} of a {}-value buffer (views start at multiples of {})",
                gpu.name(),
                slab.len,
                gpu.view_align()
            )));
        }
        Ok(WgpuBuffer { gpu, buf: None, slab: Some(slab.clone()), offset, len })
    }
    /// The binding size: the used bytes (at least 4, as wgpu refuses empty bindings).
    pub(super) fn binding_size(&self) -> u64 {
        (self.len as u64 * 4).max(4)
    }
}

impl Drop for WgpuBuffer {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            self.gpu.give(Kind::Storage, b);
        }
    }
}

impl fmt::Debug for WgpuBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WgpuBuffer(wgpu:{}, {} f32)", self.gpu.index, self.len)
    }
}
