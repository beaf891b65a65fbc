//! Kernel launches: shader modules and compute pipelines compiled once per entry point and cached, kernel
//! parameters packed into one uniform buffer per batch of launches, bind groups, and one submit per batch.
//!
//! Binding convention shared by every shader in `shaders/`: `@group(0) @binding(0)` is the kernel's parameter
//! struct (a uniform), `@binding(1..)` are its storage buffers in the order the launcher passes them. Each entry
//! point declares its own bindings, so entry points in one file may use different parameter structs.

use super::buffer::{Kind, WgpuBuffer};
use super::context::Gpu;
use crate::backend::kernel_sources::{WGSL_COMMON, WGSL_SOURCES};
use crate::backend::memory::For;
use crate::{Error, Result};
use std::borrow::Cow;
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};

/// One WGSL file, embedded in the binary.
pub struct Shader {
    /// Path from the crate root, used in error messages (`shaders/matmul.wgsl`).
    pub name: &'static str,
    pub source: &'static str,
}

impl Shader {
    /// `shaders/<family>.wgsl`, from the table build.rs writes (`backend::kernel_sources`). Evaluated at compile
    /// time in `static SHADER: Shader = Shader::named("softmax");`, so a family with no file fails the build.
    pub const fn named(family: &str) -> Shader {
        let mut i = 0;
        while i < WGSL_SOURCES.len() {
            let (path, source) = WGSL_SOURCES[i];
            if names_family(path.as_bytes(), family.as_bytes()) {
                return Shader { name: path, source };
            }
            i += 1;
        }
        panic!("no shaders/<family>.wgsl for this family")
    }

    /// What the device compiles: the file, a newline, then `shaders/common.wgsl` (the shared helpers). Appended
    /// rather than prepended (WGSL declarations may come in any order), so a compiler message's line number is
    /// the line in the shader's own file; a line past its end is in common.wgsl. build.rs validates the same text
    /// (`with_common` in build/shader_check.rs).
    pub fn full_source(&self) -> String {
        format!("{}\n{}", self.source, WGSL_COMMON)
    }
}

/// Whether `path` is `shaders/<family>.wgsl`.
const fn names_family(path: &[u8], family: &[u8]) -> bool {
    let (dir, ext) = (b"shaders/", b".wgsl");
    if path.len() != dir.len() + family.len() + ext.len() {
        return false;
    }
    let mut i = 0;
    while i < path.len() {
        let want = if i < dir.len() {
            dir[i]
        } else if i < dir.len() + family.len() {
            family[i - dir.len()]
        } else {
            ext[i - dir.len() - family.len()]
        };
        if path[i] != want {
            return false;
        }
        i += 1;
    }
    true
}

/// Kernel parameters in declaration order of the shader's uniform struct. Scalars take one 4-byte word;
/// `dims` writes an `array<vec4<u32>, N>` and first pads to 16 bytes, exactly as WGSL lays out such a field,
/// so a struct whose arrays come first needs no manual padding.
#[derive(Clone, Debug, Default)]
pub struct Params {
    words: Vec<u32>,
    overflow: Option<String>,
}

impl Params {
    pub fn new() -> Self {
        Params::default()
    }
    /// A `u32` field; values above u32::MAX are reported when the launch runs.
    pub fn u(mut self, v: usize) -> Self {
        match u32::try_from(v) {
            Ok(w) => self.words.push(w),
            Err(_) => {
                self.overflow.get_or_insert_with(|| format!("size {v} does not fit a u32 kernel parameter"));
                self.words.push(0);
            }
        }
        self
    }
    /// An `i32` field.
    pub fn i(mut self, v: isize) -> Self {
        match i32::try_from(v) {
            Ok(w) => self.words.push(w as u32),
            Err(_) => {
                self.overflow.get_or_insert_with(|| format!("offset {v} does not fit an i32 kernel parameter"));
                self.words.push(0);
            }
        }
        self
    }
    /// An `f32` field.
    pub fn f(mut self, v: f32) -> Self {
        self.words.push(v.to_bits());
        self
    }
    /// A `u32` field holding 0 or 1.
    pub fn flag(self, v: bool) -> Self {
        self.u(v as usize)
    }
    /// An `array<vec4<u32>, n4>` field: `v` padded with `fill` to `4·n4` entries.
    pub fn dims(mut self, v: &[usize], n4: usize, fill: usize) -> Self {
        while !self.words.len().is_multiple_of(4) {
            self.words.push(0);
        }
        if v.len() > 4 * n4 {
            self.overflow.get_or_insert_with(|| format!("{} dimensions, kernels take at most {}", v.len(), 4 * n4));
        }
        for k in 0..4 * n4 {
            self = self.u(v.get(k).copied().unwrap_or(fill));
        }
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut w = self.words.clone();
        while w.is_empty() || !w.len().is_multiple_of(4) {
            w.push(0);
        }
        bytemuck::cast_slice(&w).to_vec()
    }
}

/// A storage-buffer argument: read-only, or written by the kernel.
pub enum Arg<'a> {
    R(&'a WgpuBuffer),
    W(&'a WgpuBuffer),
}

impl<'a> Arg<'a> {
    /// The arguments of a kernel that reads `reads` and writes `writes`, bound in that order (inputs first, then
    /// outputs, as the shaders here declare them): one line at the call site instead of one per buffer.
    pub fn list(reads: &[&'a WgpuBuffer], writes: &[&'a WgpuBuffer]) -> Vec<Arg<'a>> {
        reads.iter().map(|&b| Arg::R(b)).chain(writes.iter().map(|&b| Arg::W(b))).collect()
    }

    fn buffer(&self) -> &WgpuBuffer {
        match self {
            Arg::R(b) | Arg::W(b) => b,
        }
    }
    fn read_only(&self) -> bool {
        matches!(self, Arg::R(_))
    }
}

/// One dispatch of `entry` in `shader` over `groups` workgroups.
pub struct Launch<'a> {
    pub shader: &'static Shader,
    pub entry: &'static str,
    pub params: Params,
    pub args: Vec<Arg<'a>>,
    pub groups: [u32; 3],
}

impl<'a> Launch<'a> {
    pub fn new(
        shader: &'static Shader,
        entry: &'static str,
        params: Params,
        args: Vec<Arg<'a>>,
        groups: [u32; 3],
    ) -> Self {
        Launch { shader, entry, params, args, groups }
    }
}

/// A transfer recorded ahead of a batch of launches (`Gpu::run_after`), in the same command buffer.
pub enum Prep<'a> {
    /// Zero every value of the buffer (of a view: its range).
    Clear(&'a WgpuBuffer),
    /// Copy every value of `src` into `dst` from element `at`.
    Copy { src: &'a WgpuBuffer, dst: &'a WgpuBuffer, at: usize },
}

/// Workgroups for `items` independent work items of `per_group` each, spread over x and y because a dimension
/// holds at most 65 535 groups. Shaders recover the linear group index as `wid.x + wid.y·nwg.x` and return
/// early past the end.
pub fn grid(items: usize, per_group: usize) -> [u32; 3] {
    let g = items.div_ceil(per_group.max(1));
    if g == 0 {
        return [0, 0, 0];
    }
    let x = g.min(65_535);
    let y = g.div_ceil(x);
    [x as u32, y.min(u32::MAX as usize) as u32, 1]
}

struct Pipe {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    read_only: Vec<bool>,
}

#[derive(Default)]
pub(super) struct PipelineCache {
    modules: Mutex<HashMap<&'static str, Arc<wgpu::ShaderModule>>>,
    pipes: Mutex<HashMap<(&'static str, &'static str), Arc<Pipe>>>,
}

fn poisoned<T>(_: T) -> Error {
    Error::Device("wgpu: pipeline cache lock poisoned".into())
}

impl Gpu {
    fn module(&self, shader: &'static Shader) -> Result<Arc<wgpu::ShaderModule>> {
        let mut modules = self.pipelines.modules.lock().map_err(poisoned)?;
        if let Some(m) = modules.get(shader.name) {
            return Ok(m.clone());
        }
        let m = self.scoped(&format!("compiling {}", shader.name), || {
            Ok(self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(shader.name),
                source: wgpu::ShaderSource::Wgsl(Cow::Owned(shader.full_source())),
            }))
        })?;
        let m = Arc::new(m);
        modules.insert(shader.name, m.clone());
        Ok(m)
    }

    /// The pipeline of `l.entry`, compiled on first use with a layout made from its arguments' access modes.
    fn pipeline(&self, l: &Launch) -> Result<Arc<Pipe>> {
        let read_only: Vec<bool> = l.args.iter().map(Arg::read_only).collect();
        let key = (l.shader.name, l.entry);
        if let Some(p) = self.pipelines.pipes.lock().map_err(poisoned)?.get(&key) {
            if p.read_only != read_only {
                return Err(Error::Device(format!(
                    "{}:{}: launched with argument access {read_only:?}, compiled with {:?}",
                    l.shader.name, l.entry, p.read_only
                )));
            }
            return Ok(p.clone());
        }
        let module = self.module(l.shader)?;
        let what = format!("creating pipeline {}:{}", l.shader.name, l.entry);
        let pipe = self.scoped(&what, || {
            let mut entries = vec![wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }];
            for (i, &ro) in read_only.iter().enumerate() {
                entries.push(wgpu::BindGroupLayoutEntry {
                    binding: i as u32 + 1,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: ro },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                });
            }
            let layout = self
                .device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: None, entries: &entries });
            let pl = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: None,
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(l.entry),
                layout: Some(&pl),
                module: &module,
                entry_point: Some(l.entry),
                compilation_options: Default::default(),
                cache: None,
            });
            Ok(Pipe { pipeline, layout, read_only: read_only.clone() })
        })?;
        let pipe = Arc::new(pipe);
        self.pipelines.pipes.lock().map_err(poisoned)?.insert(key, pipe.clone());
        Ok(pipe)
    }

    /// Records `launches` in order into one compute pass and submits it. Later launches see earlier ones'
    /// writes (WebGPU orders dispatches in a pass). Returns without waiting for the device.
    pub fn run(&self, launches: &[Launch]) -> Result<()> {
        self.run_after(&[], launches)
    }

    /// `run`, with `preps` (clears and device → device copies, counted as `copies`) recorded first in the same
    /// command buffer: the launches see their results, and the whole batch is one submit.
    pub fn run_after(&self, preps: &[Prep], launches: &[Launch]) -> Result<()> {
        let launches: Vec<&Launch> = launches.iter().filter(|l| l.groups.iter().all(|&g| g > 0)).collect();
        if launches.is_empty() && preps.is_empty() {
            return Ok(());
        }
        for p in preps {
            let (Prep::Clear(b) | Prep::Copy { dst: b, .. }) = p;
            if let Prep::Copy { src, dst, at } = p {
                if at + src.len() > dst.len() {
                    return Err(Error::Device(format!(
                        "copy of {} f32 to element {at} of a {}-value buffer",
                        src.len(),
                        dst.len()
                    )));
                }
            }
            if b.gpu().index != self.index {
                return Err(Error::Device(format!("copy on wgpu:{}, run on wgpu:{}", b.gpu().index, self.index)));
            }
        }
        let max_groups = self.limits.max_compute_workgroups_per_dimension;
        let align = (self.limits.min_uniform_buffer_offset_alignment as usize).max(16);
        let mut bytes: Vec<u8> = Vec::new();
        let mut offsets = Vec::with_capacity(launches.len());
        let mut pipes = Vec::with_capacity(launches.len());
        for l in &launches {
            let at = |m: String| Error::Device(format!("{}:{}: {m}", l.shader.name, l.entry));
            if let Some(m) = &l.params.overflow {
                return Err(at(m.clone()));
            }
            if l.groups.iter().any(|&g| g > max_groups) {
                return Err(at(format!("grid {:?} exceeds the adapter's {max_groups} groups per dimension", l.groups)));
            }
            for a in &l.args {
                if a.buffer().gpu().index != self.index {
                    return Err(at(format!(
                        "argument on wgpu:{}, launched on wgpu:{}",
                        a.buffer().gpu().index,
                        self.index
                    )));
                }
            }
            bytes.resize(bytes.len().next_multiple_of(align), 0);
            offsets.push(bytes.len() as u64);
            bytes.extend(l.params.bytes());
            pipes.push(self.pipeline(l)?);
        }
        let first = launches.first().map_or("copies", |l| l.entry);
        let what = For("kernel parameters of the launches from", &first);
        let ubuf = self.take(Kind::Uniform, bytes.len().max(16) as u64, what)?;
        self.queue.write_buffer(&ubuf, 0, &bytes);
        let names: Vec<&str> = launches.iter().map(|l| l.entry).collect();
        self.scoped(&format!("running {}", names.join(", ")), || {
            let mut groups = Vec::with_capacity(launches.len());
            for ((l, pipe), &off) in launches.iter().zip(&pipes).zip(&offsets) {
                let size = NonZeroU64::new(l.params.bytes().len() as u64);
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: &ubuf, offset: off, size }),
                }];
                for (i, a) in l.args.iter().enumerate() {
                    let b = a.buffer();
                    entries.push(wgpu::BindGroupEntry {
                        binding: i as u32 + 1,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: b.raw(),
                            offset: b.offset(),
                            size: NonZeroU64::new(b.binding_size()),
                        }),
                    });
                }
                groups.push(self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &pipe.layout,
                    entries: &entries,
                }));
            }
            let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            let mut copies = 0;
            for p in preps {
                match p {
                    Prep::Clear(b) if b.is_empty() => {}
                    Prep::Clear(b) => enc.clear_buffer(b.raw(), b.offset(), Some(b.len() as u64 * 4)),
                    Prep::Copy { src, .. } if src.is_empty() => {}
                    Prep::Copy { src, dst, at } => {
                        let to = dst.offset() + *at as u64 * 4;
                        enc.copy_buffer_to_buffer(src.raw(), src.offset(), dst.raw(), to, src.len() as u64 * 4);
                        copies += 1;
                    }
                }
            }
            if !launches.is_empty() {
                let mut pass =
                    enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
                for ((l, pipe), bg) in launches.iter().zip(&pipes).zip(&groups) {
                    pass.set_pipeline(&pipe.pipeline);
                    pass.set_bind_group(0, bg, &[]);
                    pass.dispatch_workgroups(l.groups[0], l.groups[1], l.groups[2]);
                }
            }
            self.queue.submit([enc.finish()]);
            self.counters.launches(launches.len() as u64);
            self.counters.copies(copies);
            Ok(())
        })?;
        self.give(Kind::Uniform, ubuf);
        // Let wgpu retire finished submissions (frees their tracking) without waiting for the device.
        let _ = self.device.poll(wgpu::PollType::Poll);
        Ok(())
    }
}
