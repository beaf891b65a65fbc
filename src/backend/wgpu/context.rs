//! One lazily created wgpu device per adapter: adapter discovery, device and queue, and the error plumbing that
//! turns wgpu's validation errors into `Error::Device` instead of wgpu's default panic.

use super::buffer::Pool;
use super::launch::PipelineCache;
use crate::backend::memory::{self, Counters, PoolControl};
use crate::{Error, Result};
use std::sync::{Arc, Mutex, OnceLock};

/// A device, its queue and the caches that belong to it. Created once per adapter and never dropped: pipelines
/// and pooled buffers live for the whole process, like a CUDA context.
pub struct Gpu {
    /// The adapter index this context was made for (`Device::Wgpu(index)`).
    pub index: usize,
    pub info: wgpu::AdapterInfo,
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub(super) limits: wgpu::Limits,
    pub(super) pipelines: PipelineCache,
    pub(super) pool: Pool,
    pub(super) counters: Counters,
    /// Errors wgpu raised outside an error scope (there should be none); reported by the next call.
    uncaptured: Arc<Mutex<Option<String>>>,
}

/// wgpu:N picks the N-th adapter in this order: real GPUs first (discrete, integrated, virtual), then
/// software rasterisers (lavapipe's `llvmpipe`), so `wgpu:0` is the best device present.
fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn adapters() -> &'static [wgpu::Adapter] {
    static ADAPTERS: OnceLock<Vec<wgpu::Adapter>> = OnceLock::new();
    ADAPTERS.get_or_init(|| {
        let desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        let backends = desc.backends;
        let instance = wgpu::Instance::new(desc);
        let mut list = pollster::block_on(instance.enumerate_adapters(backends));
        list.sort_by_key(|a| rank(a.get_info().device_type));
        list
    })
}

/// The first adapter (`wgpu:N` index and description) that is a GPU: never a software rasteriser such as Mesa's
/// lavapipe (device type `Cpu`), which is right for tests but slower than the CPU backend for real work.
pub fn hardware_adapter() -> Option<(usize, String)> {
    adapters().iter().enumerate().find_map(|(i, a)| {
        let info = a.get_info();
        let gpu = matches!(
            info.device_type,
            wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu | wgpu::DeviceType::VirtualGpu
        );
        gpu.then(|| (i, describe(&info)))
    })
}

/// Names of the adapters wgpu can see, in `wgpu:N` order (for `tickgrad info` and error messages).
pub fn adapter_names() -> Vec<String> {
    adapters().iter().map(|a| describe(&a.get_info())).collect()
}

pub fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

impl Gpu {
    fn open(index: usize) -> Result<Gpu> {
        let list = adapters();
        let adapter = list.get(index).ok_or_else(|| {
            let seen = if list.is_empty() {
                "no adapter found (this build asks Vulkan, Metal on macOS and DX12 on Windows; on Linux install \
                 a Vulkan driver, or without a GPU Mesa's lavapipe: apt-get install mesa-vulkan-drivers)"
                    .to_string()
            } else {
                format!("adapters present: {}", adapter_names().join("; "))
            };
            Error::Device(format!("wgpu:{index} is not available: {seen}"))
        })?;
        let info = adapter.get_info();
        let budget = memory::budget_from_env()?;
        // Ask for everything the adapter offers (large storage buffers, big workgroups); the kernels check the
        // few limits they depend on and report an error when a shape needs more.
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("tickgrad"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| Error::Device(format!("wgpu:{index} ({}): request_device failed: {e}", info.name)))?;
        let uncaptured = Arc::new(Mutex::new(None));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
        Ok(Gpu {
            index,
            info,
            device,
            queue,
            limits,
            pipelines: PipelineCache::default(),
            pool: Pool::new(budget),
            counters: Counters::default(),
            uncaptured,
        })
    }

    /// The context of adapter `index`, created on first use. A failure is remembered, so asking again is cheap
    /// and gives the same error.
    pub fn get(index: usize) -> Result<&'static Gpu> {
        static GPUS: Mutex<Vec<(usize, std::result::Result<&'static Gpu, Error>)>> = Mutex::new(Vec::new());
        let mut gpus = GPUS.lock().map_err(|_| Error::Device("wgpu: context registry poisoned".into()))?;
        if let Some((_, r)) = gpus.iter().find(|(i, _)| *i == index) {
            return r.clone();
        }
        let r = Gpu::open(index).map(|g| &*Box::leak(Box::new(g)));
        gpus.push((index, r.clone()));
        r
    }

    /// This device's driver-call counters and caching allocator, for `backend::{counters, memory_stats, …}`.
    pub(crate) fn memory(&self) -> (&Counters, &dyn PoolControl) {
        (&self.counters, &self.pool)
    }

    pub fn name(&self) -> String {
        format!("wgpu:{} {}", self.index, describe(&self.info))
    }

    /// An error wgpu reported outside our error scopes since the last check, if any.
    pub(super) fn take_uncaptured(&self) -> Result<()> {
        let msg = self.uncaptured.lock().ok().and_then(|mut s| s.take());
        match msg {
            Some(m) => Err(Error::Device(format!("{}: {m}", self.name()))),
            None => Ok(()),
        }
    }

    /// Runs `f` inside a validation error scope and turns a captured error into `Error::Device` naming `what`.
    pub(super) fn scoped<T>(&self, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let r = f();
        let oom_err = pollster::block_on(oom.pop());
        let val_err = pollster::block_on(scope.pop());
        if let Some(e) = val_err.or(oom_err) {
            return Err(Error::Device(format!("{}: {what}: {e}", self.name())));
        }
        self.take_uncaptured()?;
        r
    }

    /// Blocks until every submitted command has finished (benches time with this).
    pub fn sync(&self) -> Result<()> {
        self.counters.sync();
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Device(format!("{}: poll failed: {e}", self.name())))
    }
}
