//! The CUDA backend: one context, one stream and one set of compiled modules per device, over `cudarc` with the
//! CUDA libraries loaded at run time (the crate builds and runs without CUDA anywhere).
//!
//! Life of a device: the first `ops::backend(Device::Cuda(n))` (or [`warm_up`]) checks that libcuda and libnvrtc
//! load (cudarc panics on a missing library, so this comes first), creates the context, compiles every file of
//! `kernels/` with NVRTC for the device's architecture and loads the modules: the explicit warm-up. After it no
//! request compiles anything. A failure at any step is an `Error::Device` saying what is missing.
//!
//! Memory: all work of a device goes to one stream, in order, so no event tracking is needed (it is switched off,
//! saving two events per buffer). Buffers come from tickgrad's caching allocator (`pool`): a free buffer of the
//! size class when one is cached, else the driver (`cuMemAllocAsync` where the driver has stream-ordered pools,
//! whose default pool is also told to keep freed memory, else `cuMemAlloc`). After the first steps of a loop every
//! allocation is a reuse, and the driver-call counters show it. `download` copies to the host and synchronises.

pub mod compile;
pub mod pool;
pub mod sources;

use crate::backend::memory::{self, Counters, For, Grant, PoolControl};
use crate::backend::{DeviceOps, Storage};
use crate::device::Device;
use crate::{Error, Result};
use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchArgs, LaunchConfig};
use pool::{Pool, PoolElem, Pooled};
use rayon::prelude::*;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use compile::Arch;

/// A device buffer of f32. `len` may be 0; the allocation then holds one element, since the driver refuses
/// zero-byte allocations.
#[derive(Clone)]
pub struct CudaStorage {
    pub(crate) buf: Arc<Pooled<f32>>,
    pub(crate) len: usize,
    pub(crate) ordinal: usize,
}

impl fmt::Debug for CudaStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CudaStorage(cuda:{}, {} f32)", self.ordinal, self.len)
    }
}

impl CudaStorage {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }
    pub(crate) fn slice(&self) -> &CudaSlice<f32> {
        &self.buf
    }
}

/// One device: context, stream, compiled kernels.
pub struct CudaBackend {
    ordinal: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    functions: HashMap<&'static str, CudaFunction>,
    name: String,
    arch: Arch,
    /// Shared memory one block may opt in to (bytes); kernels that keep more than 48 KiB on chip check it.
    smem_optin: usize,
    warm_up_time: Duration,
    pool: Arc<Pool>,
    counters: Counters,
}

/// What `tickgrad info` prints about a ready device.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    pub ordinal: usize,
    pub name: String,
    pub arch: String,
    pub total_mem: usize,
    pub kernels: usize,
    pub warm_up: Duration,
}

static DEVICES: Mutex<Vec<(usize, &'static CudaBackend)>> = Mutex::new(Vec::new());

/// Whether libcuda (the driver library) can be loaded in this process.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen libcuda by its usual names and reports whether one loaded; no driver call.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

fn require_driver(ordinal: usize) -> Result<()> {
    if driver_present() {
        Ok(())
    } else {
        Err(Error::Device(format!(
            "cuda:{ordinal} is not available: libcuda (the NVIDIA driver library, libcuda.so.1) was not found on \
             this machine"
        )))
    }
}

fn driver_err(ordinal: usize, what: &str, e: impl fmt::Debug) -> Error {
    Error::Device(format!("cuda:{ordinal}: {what}: {e:?}"))
}

/// Number of CUDA devices the driver reports; an error when the driver is missing or has no device.
pub fn device_count() -> Result<usize> {
    require_driver(0)?;
    let n = CudaContext::device_count().map_err(|e| driver_err(0, "cuDeviceGetCount", e))?;
    Ok(n.max(0) as usize)
}

/// Why CUDA work cannot run on this machine at all: libcuda cannot be loaded, or the driver reports no device.
/// None when a device is there, so that any later failure (NVRTC, PTX load, launch) is a real error. This is
/// the only reason a CUDA test may skip.
pub fn absent() -> Option<String> {
    if !driver_present() {
        return Some("libcuda (the NVIDIA driver library, libcuda.so.1) is not on this machine".into());
    }
    match CudaContext::device_count() {
        Ok(n) if n <= 0 => Some("libcuda loads but reports no CUDA device".into()),
        Err(e) if format!("{e:?}").contains("NO_DEVICE") => {
            Some(format!("libcuda loads but reports no CUDA device ({e:?})"))
        }
        _ => None,
    }
}

/// The backend of device `ordinal`, created and warmed up (every kernel compiled and loaded) on first use.
pub fn backend(ordinal: usize) -> Result<&'static CudaBackend> {
    let mut devices = DEVICES.lock().map_err(|_| Error::Device("cuda: device registry poisoned".into()))?;
    if let Some((_, be)) = devices.iter().find(|(o, _)| *o == ordinal) {
        return Ok(*be);
    }
    let be: &'static CudaBackend = Box::leak(Box::new(CudaBackend::new(ordinal)?));
    devices.push((ordinal, be));
    Ok(be)
}

/// Explicit warm-up: create device `ordinal` and compile every kernel now, off any request path.
pub fn warm_up(ordinal: usize) -> Result<DeviceInfo> {
    backend(ordinal)?.info()
}

/// Ok when `Device::Cuda(ordinal)` can run kernels (this warms the device up).
pub fn ensure_available(ordinal: usize) -> Result<()> {
    backend(ordinal).map(|_| ())
}

impl CudaBackend {
    fn new(ordinal: usize) -> Result<CudaBackend> {
        require_driver(ordinal)?;
        compile::require_nvrtc()?;
        let budget = memory::budget_from_env()?;
        let start = Instant::now();
        let ctx =
            CudaContext::new(ordinal).map_err(|e| Error::Device(format!("cuda:{ordinal} is not available: {e:?}")))?;
        // SAFETY: every allocation, copy and launch of this context goes to the one stream below, so stream order
        // is all the synchronisation there is to track; buffers never cross to another stream.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
        keep_pool_memory(&ctx, ordinal)?;
        let (major, minor) = ctx.compute_capability().map_err(|e| driver_err(ordinal, "compute capability", e))?;
        let arch = Arch((major * 10 + minor) as u32);
        let name = ctx.name().map_err(|e| driver_err(ordinal, "device name", e))?;
        let smem_optin = ctx
            .attribute(cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
            .map_err(|e| driver_err(ordinal, "shared memory limit", e))?
            .max(48 * 1024) as usize;
        // NVRTC programs are independent: compile the files in parallel, then load them in order.
        let compiled: Vec<compile::Compiled> =
            sources::FILES.par_iter().map(|file| compile::compile(file, &arch)).collect::<Result<_>>()?;
        let mut functions = HashMap::new();
        for (file, compiled) in sources::FILES.iter().zip(compiled) {
            let module = ctx
                .load_module(cudarc::nvrtc::Ptx::from_src(compiled.ptx))
                .map_err(|e| driver_err(ordinal, &format!("loading the PTX of {}", file.path()), e))?;
            for entry in file.entry_points() {
                let f = module
                    .load_function(entry)
                    .map_err(|e| driver_err(ordinal, &format!("kernel {entry} of {}", file.path()), e))?;
                functions.insert(entry, f);
            }
        }
        Ok(CudaBackend {
            ordinal,
            ctx,
            stream,
            functions,
            name,
            arch,
            smem_optin,
            warm_up_time: start.elapsed(),
            pool: Arc::new(Pool::new(budget)),
            counters: Counters::default(),
        })
    }

    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    pub fn info(&self) -> Result<DeviceInfo> {
        let total_mem = self.ctx.total_mem().map_err(|e| self.err("total memory", e))?;
        Ok(DeviceInfo {
            ordinal: self.ordinal,
            name: self.name.clone(),
            arch: self.arch.sm(),
            total_mem,
            kernels: self.functions.len(),
            warm_up: self.warm_up_time,
        })
    }

    pub(crate) fn err(&self, what: &str, e: impl fmt::Debug) -> Error {
        driver_err(self.ordinal, what, e)
    }

    /// The device's architecture (what the kernels were compiled for).
    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    pub(crate) fn smem_optin(&self) -> usize {
        self.smem_optin
    }

    /// A compiled kernel by its entry-point name.
    pub(crate) fn func(&self, name: &str) -> Result<&CudaFunction> {
        self.functions.get(name).ok_or_else(|| self.err("kernel lookup", format!("no kernel named {name}")))
    }

    /// An argument list for kernel `name`, to push arguments onto and hand to [`CudaBackend::launch`].
    pub(crate) fn kernel(&self, name: &str) -> Result<LaunchArgs<'_>> {
        Ok(self.stream.launch_builder(self.func(name)?))
    }

    /// Queue a kernel on this device's stream.
    ///
    /// # Safety
    /// The pushed arguments must match the kernel's C signature in `kernels/*.cu` (count, order, types), and every
    /// buffer must hold at least the elements the kernel indexes for the given sizes and launch geometry.
    pub(crate) unsafe fn launch(&self, mut args: LaunchArgs<'_>, cfg: LaunchConfig, what: &str) -> Result<()> {
        self.counters.launches(1);
        // SAFETY: the caller guarantees the argument list matches the kernel and the buffers are large enough.
        unsafe { args.launch(cfg) }.map(|_| ()).map_err(|e| self.err(what, e))
    }

    /// The device buffer behind `s`, checked to live on this device and to hold `len` values (`what` names it).
    pub(crate) fn input<'a>(&self, s: &'a Storage, len: usize, what: &str) -> Result<&'a CudaStorage> {
        let c = self.view(s)?;
        super::expect_len(&format!("kernel input {what}"), c.len, len)?;
        Ok(c)
    }

    /// The device buffer behind `s`, checked to live on this device.
    pub(crate) fn view<'a>(&self, s: &'a Storage) -> Result<&'a CudaStorage> {
        match s {
            Storage::Cuda(c) if c.ordinal == self.ordinal => Ok(c),
            other => Err(Error::Device(format!(
                "cuda:{}: kernel input lives on {}; transfer explicitly with to_device",
                self.ordinal,
                other.device()
            ))),
        }
    }

    /// A device buffer of at least `n` f32 (at least one) from the caching allocator, for a kernel to write. In
    /// debug builds (tests) it is filled with NaN, so a kernel that forgets to write an element fails the
    /// comparison with the CPU. `what` names the op and its dims in the error of a request beyond the budget.
    pub(crate) fn alloc(&self, n: usize, what: For) -> Result<Pooled<f32>> {
        let buf = self.take::<f32>(n, what)?;
        if cfg!(debug_assertions) {
            self.fill_u32(&buf, 0x7FC0_0000)?;
        }
        Ok(buf)
    }

    /// A device buffer of at least `n` u16 (f16/bf16 bits), for the half-precision inference kernels.
    pub(crate) fn alloc_u16(&self, n: usize, what: For) -> Result<Pooled<u16>> {
        self.take::<u16>(n, what)
    }

    /// A device buffer of `n` zeros (and zeros up to its size class).
    pub(crate) fn zeros(&self, n: usize, what: For) -> Result<Pooled<f32>> {
        let mut buf = self.take::<f32>(n, what)?;
        self.stream.memset_zeros(&mut *buf).map_err(|e| self.err("memset", e))?;
        Ok(buf)
    }

    /// An uninitialised buffer of the size class of `n` elements: a cached one, or one from the driver (counted).
    fn take<T: PoolElem>(&self, n: usize, what: For) -> Result<Pooled<T>> {
        let (class, elems) = pool::class_of::<T>(n);
        let bytes = (n as u64).saturating_mul(std::mem::size_of::<T>() as u64);
        let over = |in_use, budget| memory::over_budget(&format!("cuda:{}", self.ordinal), what, bytes, in_use, budget);
        let slice = match self.pool.take(T::ELEM, class, over)? {
            Grant::Reused(block) => T::from_block(block)
                .ok_or_else(|| self.err("allocator", format!("a cached block of the wrong type for {what}")))?,
            Grant::Fresh => {
                // SAFETY: the buffer is uninitialised; every caller hands it to a kernel (or a memset) that writes
                // every element it later reads (and debug builds poison f32 buffers first).
                let fresh = || unsafe { self.stream.alloc::<T>(elems) };
                // A driver that is out of memory may succeed once the cached blocks are released.
                let created = fresh().or_else(|_| {
                    self.pool.trim();
                    fresh()
                });
                match created {
                    Ok(s) => {
                        self.counters.alloc();
                        s
                    }
                    Err(e) => {
                        self.pool.not_created(class);
                        return Err(self.err(&format!("alloc of {bytes} bytes for {what}"), e));
                    }
                }
            }
        };
        Ok(Pooled::new(slice, class, self.pool.clone()))
    }

    /// The device address of `buf`, for kernels that take a list of buffers by value (the multi-tensor optimizer
    /// of `ops::optim`). The launch that uses it must be queued while `buf` is alive; stream order covers reuse.
    pub(crate) fn address<T>(&self, buf: &CudaSlice<T>) -> u64 {
        // Event tracking is off (`new`), so there is nothing to record when `_sync` drops.
        let (ptr, _sync) = buf.device_ptr(&self.stream);
        ptr
    }

    fn fill_u32(&self, buf: &CudaSlice<f32>, bits: u32) -> Result<()> {
        let (ptr, _sync) = buf.device_ptr(&self.stream);
        // SAFETY: `ptr` addresses `buf.len()` f32 (4-byte) words owned by `buf`, which outlives the call; the memset
        // is ordered on the same stream as every later use.
        unsafe { cudarc::driver::sys::cuMemsetD32Async(ptr, bits, buf.len(), self.stream.cu_stream()) }
            .result()
            .map_err(|e| self.err("memset", e))
    }

    /// Wrap a kernel's output buffer holding `len` values.
    pub(crate) fn wrap(&self, buf: Pooled<f32>, len: usize) -> Storage {
        Storage::Cuda(CudaStorage { buf: Arc::new(buf), len, ordinal: self.ordinal })
    }

    /// Explicit host → device copy into a pooled buffer (counted: its bytes).
    pub(crate) fn upload_slice(&self, data: &[f32]) -> Result<Storage> {
        let n = data.len();
        let mut buf = if data.is_empty() {
            self.zeros(1, pool::upload_label(&n))?
        } else {
            self.take(n, pool::upload_label(&n))?
        };
        if n > 0 {
            let mut view = buf.slice_mut(0..n);
            self.stream.memcpy_htod(data, &mut view).map_err(|e| self.err("copy to device", e))?;
            self.counters.htod(n as u64 * 4);
        }
        Ok(self.wrap(buf, n))
    }

    pub(crate) fn download_storage(&self, s: &CudaStorage) -> Result<Vec<f32>> {
        let mut host = vec![0.0f32; s.len];
        if s.len > 0 {
            let view = s.buf.slice(0..s.len);
            self.stream.memcpy_dtoh(&view, &mut host).map_err(|e| self.err("copy to host", e))?;
            self.counters.dtoh(s.len as u64 * 4);
        }
        self.synchronize()?;
        Ok(host)
    }

    /// Wait for every queued kernel (benchmarks time with this inside the loop).
    pub fn synchronize(&self) -> Result<()> {
        self.counters.sync();
        self.stream.synchronize().map_err(|e| self.err("synchronize", e))
    }

    /// This device's driver-call counters and caching allocator, for `backend::{counters, memory_stats, …}`.
    pub(crate) fn memory(&self) -> (&Counters, &dyn PoolControl) {
        (&self.counters, &*self.pool)
    }
}

impl DeviceOps for CudaBackend {
    fn device(&self) -> Device {
        Device::Cuda(self.ordinal)
    }
    fn upload(&self, data: Vec<f32>) -> Result<Storage> {
        self.upload_slice(&data)
    }
    fn download(&self, s: &Storage) -> Result<Vec<f32>> {
        self.download_storage(self.view(s)?)
    }
}

/// Keep freed blocks in the device's default stream-ordered pool instead of returning them to the OS.
fn keep_pool_memory(ctx: &Arc<CudaContext>, ordinal: usize) -> Result<()> {
    if !ctx.has_async_alloc() {
        return Ok(());
    }
    // SAFETY: `cu_device` comes from this live context; the pool handle is only used for the attribute call, and
    // the attribute value is a u64 as the driver documents for CU_MEMPOOL_ATTR_RELEASE_THRESHOLD.
    unsafe {
        let pool = cudarc::driver::result::device::get_default_mem_pool(ctx.cu_device())
            .map_err(|e| driver_err(ordinal, "default memory pool", e))?;
        let mut threshold: u64 = u64::MAX;
        cudarc::driver::sys::cuMemPoolSetAttribute(
            pool,
            cudarc::driver::sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut threshold as *mut u64).cast(),
        )
        .result()
        .map_err(|e| driver_err(ordinal, "memory pool release threshold", e))?;
    }
    Ok(())
}

/// A 1-D launch of 256-thread blocks covering `n` elements with a grid-stride loop (grid capped at 65536 blocks).
pub(crate) fn grid_1d(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(256).clamp(1, 1 << 16) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
}

/// One block per row, `threads` a multiple of 32 fitted to the row length (32..=256).
pub(crate) fn rows_cfg(rows: usize, cols: usize) -> Result<LaunchConfig> {
    let threads = cols.next_power_of_two().clamp(32, 256) as u32;
    Ok(LaunchConfig { grid_dim: (grid_dim(rows)?, 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 })
}

/// A grid dimension, checked against the hardware limit of 2^31 − 1.
pub(crate) fn grid_dim(n: usize) -> Result<u32> {
    if n > i32::MAX as usize {
        return Err(Error::Invalid(format!("cuda: {n} blocks exceed the grid limit")));
    }
    Ok(n.max(1) as u32)
}

/// A size passed to a kernel as `int`, checked.
pub(crate) fn int(n: usize, what: &str) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::Invalid(format!("cuda: {what} = {n} does not fit the kernels' 32-bit sizes")))
}
