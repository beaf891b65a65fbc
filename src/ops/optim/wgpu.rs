//! Launcher for `shaders/optim.wgsl`: a group's tensors packed into slabs, so one dispatch covers them all.
//!
//! WGSL cannot index a run-time number of buffers (WebGPU guarantees 8 storage bindings per stage; binding
//! arrays are a native-only extension), so a dispatch cannot take one binding per tensor as the CUDA list does.
//! Instead a group lives in one buffer per role — a *slab* — with tensor i at element `at[i]` (each start rounded
//! up to the adapter's storage-offset alignment), and the updates are the elementwise `adam`/`sgd` entry points
//! run over the whole slab (the zero padding between tensors stays zero through the update).
//! - Parameters and moments come back as views into fresh output slabs ([`WgpuBuffer::view`]), so the next
//!   step finds its inputs already packed (the same slab at the same offsets) and copies nothing.
//! - Gradients come from the backward as separate buffers: each step copies them into a cleared slab,
//!   one device → device copy command per tensor, recorded in the same command buffer and submit as the
//!   dispatches (counted as `copies`, not launches). `squared_norm` keeps that slab for the update that follows
//!   with the same gradients, so a clipped step gathers once.
//! - A slab is one storage binding, so a group larger than the adapter's `max_storage_buffer_binding_size`
//!   is cut into several slabs (parts), each its own dispatches.
//!
//! Per step and part: the squared norm is `squares_partial` (fixed workgroups striding the slab) and one
//! `squares_total` over every part's partials (a two-pass deterministic reduction, no atomics), then
//! `clip_factor`, then one `adam` (or `sgd`) dispatch.

use super::{adam_lens, sgd_lens, AdamSlot, AdamStep, OptimKernel, SgdSlot, SgdStep};
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Prep, Shader, WgpuBuffer};
use crate::backend::{For, Pair, Storage, Triple};
use crate::{Error, Result};
use std::ops::Range;
use std::sync::{Arc, Mutex};

static SHADER: Shader = Shader::named("optim");

/// Workgroup size of the squared-norm entry points (`wg_sum` reduces 64 values).
const WG: usize = 64;
/// At most this many partial sums per part.
const MAX_PARTIALS: usize = 256;

/// One slab's share of a group: tensors `tensors`, tensor `tensors.start + i` at element `at[i]`, `len` values.
struct Part {
    tensors: Range<usize>,
    at: Vec<usize>,
    len: usize,
}

/// The slabs of a group of tensors of lengths `lens`: consecutive tensors, each start aligned for a view, each
/// slab within one storage binding.
fn layout(gpu: &Gpu, lens: &[usize]) -> Result<Vec<Part>> {
    let (align, max) = (gpu.view_align(), gpu.max_binding_len());
    let mut parts: Vec<Part> = Vec::new();
    for (i, &n) in lens.iter().enumerate() {
        let slot = n.max(1).next_multiple_of(align);
        if slot > max {
            return Err(Error::Device(format!(
                "{}: optimizer: tensor {i} of the group holds {n} values, more than one storage binding ({max})",
                gpu.name()
            )));
        }
        match parts.last_mut() {
            Some(p) if p.len + slot <= max => {
                p.at.push(p.len);
                p.tensors.end = i + 1;
                p.len += slot;
            }
            _ => parts.push(Part { tensors: i..i + 1, at: vec![0], len: slot }),
        }
    }
    Ok(parts)
}

/// A part's buffers of one role (parameters, a moment, gradients) as one slab.
enum Packed<'a> {
    /// Already packed: every buffer is a view of this slab at the part's offsets (the previous step's output).
    Slab(Arc<WgpuBuffer>),
    /// Copied into a fresh slab (cleared first, so the padding is zero).
    Gather(Arc<WgpuBuffer>, Vec<&'a WgpuBuffer>),
}

impl Packed<'_> {
    fn slab(&self) -> &Arc<WgpuBuffer> {
        match self {
            Packed::Slab(s) | Packed::Gather(s, _) => s,
        }
    }
    /// The clear and copies that fill a gathered slab (none for one already packed).
    fn preps<'p>(&'p self, part: &Part, out: &mut Vec<Prep<'p>>) {
        if let Packed::Gather(slab, bufs) = self {
            out.push(Prep::Clear(slab));
            out.extend(bufs.iter().zip(&part.at).map(|(&src, &at)| Prep::Copy { src, dst: slab, at }));
        }
    }
}

fn pack<'a>(gpu: &'static Gpu, bufs: &[&'a WgpuBuffer], part: &Part, what: &'static str) -> Result<Packed<'a>> {
    if let Some((slab, _)) = bufs.first().and_then(|b| b.view_of()) {
        let same = bufs.iter().zip(&part.at).all(|(b, &at)| {
            b.view_of().is_some_and(|(s, start)| Arc::ptr_eq(s, slab) && start == at) && slab.len() == part.len
        });
        if same {
            return Ok(Packed::Slab(slab.clone()));
        }
    }
    let slab = Arc::new(gpu.alloc(part.len, For(what, &bufs.len()))?);
    Ok(Packed::Gather(slab, bufs.to_vec()))
}

/// The gradient slabs `squared_norm` packed, kept for the update of the same gradients (recognised by their
/// buffers, which the entry holds, so an address cannot be reused while it waits).
struct Gathered {
    grads: Vec<Arc<WgpuBuffer>>,
    slabs: Vec<Arc<WgpuBuffer>>,
}

static GATHERED: Mutex<Option<Gathered>> = Mutex::new(None);

fn arcs(gs: &[&Storage]) -> Option<Vec<Arc<WgpuBuffer>>> {
    gs.iter()
        .map(|s| match s {
            Storage::Wgpu(b) => Some(b.clone()),
            #[allow(unreachable_patterns)]
            _ => None,
        })
        .collect()
}

/// The gradient slab of each part: the ones `squared_norm` left for these gradients, else packed now (the
/// copies go into `preps` of the caller's batch).
fn grad_slabs<'a>(
    gpu: &'static Gpu,
    gs: &[&'a WgpuBuffer],
    ids: &[&Storage],
    parts: &[Part],
) -> Result<Vec<Packed<'a>>> {
    let kept = GATHERED.lock().map_err(|_| Error::Device("optimizer: gradient slab lock poisoned".into()))?.take();
    if let (Some(k), Some(now)) = (kept, arcs(ids)) {
        let same = k.grads.len() == now.len() && k.grads.iter().zip(&now).all(|(a, b)| Arc::ptr_eq(a, b));
        if same && k.slabs.len() == parts.len() {
            return Ok(k.slabs.into_iter().map(Packed::Slab).collect());
        }
    }
    parts.iter().map(|p| pack(gpu, &gs[p.tensors.clone()], p, "optim gradient slab of tensors")).collect()
}

fn inputs<'a>(gpu: &Gpu, ss: impl Iterator<Item = (&'a Storage, usize)>, what: &str) -> Result<Vec<&'a WgpuBuffer>> {
    ss.enumerate().map(|(i, (s, n))| gpu.input(s, n, &format!("{what} of tensor {i}"))).collect()
}

/// Views of `slab` at the part's offsets, one per tensor, as storage.
fn views(slab: &Arc<WgpuBuffer>, part: &Part, lens: &[usize]) -> Result<Vec<Storage>> {
    part.at.iter().zip(&lens[part.tensors.clone()]).map(|(&at, &n)| Ok(store(WgpuBuffer::view(slab, at, n)?))).collect()
}

impl OptimKernel for Gpu {
    fn squared_norm(&self, gs: &[&Storage]) -> Result<Storage> {
        let gpu = self.handle()?;
        let lens: Vec<usize> = gs.iter().map(|g| g.len()).collect();
        let bufs = inputs(gpu, gs.iter().map(|g| (*g, g.len())), "gradient")?;
        let parts = layout(gpu, &lens)?;
        let packed = grad_slabs(gpu, &bufs, gs, &parts)?;
        let blocks = |p: &Part| p.len.div_ceil(WG * 64).clamp(1, MAX_PARTIALS);
        let n_partials: usize = parts.iter().map(blocks).sum::<usize>().max(1);
        let partials = gpu.alloc(n_partials, For("optim squared norm partials of tensors", &gs.len()))?;
        let out = gpu.alloc(1, For("optim squared norm of tensors", &gs.len()))?;
        let mut preps = Vec::new();
        let mut launches = Vec::new();
        let mut at = 0;
        for (p, k) in parts.iter().zip(&packed) {
            k.preps(p, &mut preps);
            let args = vec![Arg::R(k.slab()), Arg::W(&partials)];
            let b = blocks(p);
            launches.push(Launch::new(
                &SHADER,
                "squares_partial",
                Params::new().u(p.len).u(at),
                args,
                [b as u32, 1, 1],
            ));
            at += b;
        }
        if parts.is_empty() {
            // An empty group: one partial, zero.
            preps.push(Prep::Clear(&partials));
        }
        let total = vec![Arg::R(&partials), Arg::W(&out)];
        launches.push(Launch::new(&SHADER, "squares_total", Params::new().u(n_partials), total, [1, 1, 1]));
        gpu.run_after(&preps, &launches)?;
        drop((launches, preps));
        if let Some(grads) = arcs(gs) {
            let slabs = packed.iter().map(|k| k.slab().clone()).collect();
            *GATHERED.lock().map_err(|_| Error::Device("optimizer: gradient slab lock poisoned".into()))? =
                Some(Gathered { grads, slabs });
        }
        Ok(store(out))
    }

    fn clip_factor(&self, total: &Storage, max_norm: f32) -> Result<Storage> {
        let gpu = self.handle()?;
        let tb = gpu.input(total, 1, "total")?;
        let out = gpu.alloc(1, For("optim clip_factor", &max_norm))?;
        let params = Params::new().f(max_norm);
        gpu.run(&[Launch::new(&SHADER, "clip_factor", params, vec![Arg::R(tb), Arg::W(&out)], [1, 1, 1])])?;
        Ok(store(out))
    }

    fn adam_group(&self, ts: &[AdamSlot<'_>], scale: &Storage, s: &AdamStep) -> Result<Vec<Triple>> {
        let gpu = self.handle()?;
        let lens = adam_lens(ts, scale)?;
        let c = gpu.input(scale, 1, "scale")?;
        let ns = || lens.iter().copied();
        let p = inputs(gpu, ts.iter().map(|t| t.p).zip(ns()), "p")?;
        let m = inputs(gpu, ts.iter().map(|t| t.m).zip(ns()), "m")?;
        let v = inputs(gpu, ts.iter().map(|t| t.v).zip(ns()), "v")?;
        let g = inputs(gpu, ts.iter().map(|t| t.g).zip(ns()), "g")?;
        let ids: Vec<&Storage> = ts.iter().map(|t| t.g).collect();
        let parts = layout(gpu, &lens)?;
        let gk = grad_slabs(gpu, &g, &ids, &parts)?;
        let mut packed = Vec::with_capacity(parts.len());
        let mut outs = Vec::with_capacity(parts.len());
        for part in &parts {
            let r = part.tensors.clone();
            let what = "optim adam slab of tensors";
            packed.push([
                pack(gpu, &p[r.clone()], part, what)?,
                pack(gpu, &m[r.clone()], part, what)?,
                pack(gpu, &v[r], part, what)?,
            ]);
            let new =
                || -> Result<Arc<WgpuBuffer>> { Ok(Arc::new(gpu.alloc(part.len, For(what, &part.tensors.len()))?)) };
            outs.push([new()?, new()?, new()?]);
        }
        let mut preps = Vec::new();
        let mut launches = Vec::new();
        for (((part, [pk, mk, vk]), gk), [p2, m2, v2]) in parts.iter().zip(&packed).zip(&gk).zip(&outs) {
            for k in [pk, mk, vk, gk] {
                k.preps(part, &mut preps);
            }
            let params = Params::new().u(part.len).f(s.decay).f(s.l2).f(s.w1).f(s.beta2).f(s.w2).f(s.bc2_sqrt);
            let args = vec![
                Arg::R(pk.slab()),
                Arg::R(gk.slab()),
                Arg::R(mk.slab()),
                Arg::R(vk.slab()),
                Arg::R(c),
                Arg::W(p2),
                Arg::W(m2),
                Arg::W(v2),
            ];
            launches.push(Launch::new(&SHADER, "adam", params.f(s.neg_step).f(s.eps), args, grid(part.len, 256)));
        }
        gpu.run_after(&preps, &launches)?;
        let mut out = Vec::with_capacity(ts.len());
        for (part, [p2, m2, v2]) in parts.iter().zip(&outs) {
            let (pv, mv, vv) = (views(p2, part, &lens)?, views(m2, part, &lens)?, views(v2, part, &lens)?);
            out.extend(pv.into_iter().zip(mv).zip(vv).map(|((p, m), v)| (p, m, v)));
        }
        Ok(out)
    }

    fn sgd_group(&self, ts: &[SgdSlot<'_>], scale: &Storage, s: &SgdStep) -> Result<Vec<Pair>> {
        let gpu = self.handle()?;
        let lens = sgd_lens(ts, scale)?;
        let c = gpu.input(scale, 1, "scale")?;
        let ns = || lens.iter().copied();
        let p = inputs(gpu, ts.iter().map(|t| t.p).zip(ns()), "p")?;
        let b = inputs(gpu, ts.iter().map(|t| t.buf).zip(ns()), "momentum buffer")?;
        let g = inputs(gpu, ts.iter().map(|t| t.g).zip(ns()), "g")?;
        let ids: Vec<&Storage> = ts.iter().map(|t| t.g).collect();
        let parts = layout(gpu, &lens)?;
        let gk = grad_slabs(gpu, &g, &ids, &parts)?;
        let mut packed = Vec::with_capacity(parts.len());
        let mut outs = Vec::with_capacity(parts.len());
        for part in &parts {
            let r = part.tensors.clone();
            let what = "optim sgd slab of tensors";
            packed.push([pack(gpu, &p[r.clone()], part, what)?, pack(gpu, &b[r], part, what)?]);
            let new =
                || -> Result<Arc<WgpuBuffer>> { Ok(Arc::new(gpu.alloc(part.len, For(what, &part.tensors.len()))?)) };
            outs.push([new()?, new()?]);
        }
        let mut preps = Vec::new();
        let mut launches = Vec::new();
        for (((part, [pk, bk]), gk), [p2, b2]) in parts.iter().zip(&packed).zip(&gk).zip(&outs) {
            for k in [pk, bk, gk] {
                k.preps(part, &mut preps);
            }
            let params = Params::new().u(part.len).f(s.neg_lr).f(s.momentum).f(s.l2).flag(s.first);
            let args = vec![Arg::R(pk.slab()), Arg::R(gk.slab()), Arg::R(bk.slab()), Arg::R(c), Arg::W(p2), Arg::W(b2)];
            launches.push(Launch::new(&SHADER, "sgd", params, args, grid(part.len, 256)));
        }
        gpu.run_after(&preps, &launches)?;
        let mut out = Vec::with_capacity(ts.len());
        for (part, [p2, b2]) in parts.iter().zip(&outs) {
            out.extend(views(p2, part, &lens)?.into_iter().zip(views(b2, part, &lens)?));
        }
        Ok(out)
    }
}
