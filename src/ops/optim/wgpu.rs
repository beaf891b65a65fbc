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

/// The inputs of one `adam`/`sgd` update of a group: N state roles per tensor (parameters first, then the
/// moments or the momentum buffer), the gradients and the one-value gradient scale. Both optimizers share the
/// slab set-up, the dispatch per part and the views of the result; only the entry point and its parameters differ.
struct Group<'a, const N: usize> {
    gpu: &'static Gpu,
    lens: Vec<usize>,
    scale: &'a WgpuBuffer,
    state: [Vec<&'a WgpuBuffer>; N],
    grads: Vec<&'a WgpuBuffer>,
    /// The gradients as storage: `grad_slabs` recognises the ones `squared_norm` gathered by them.
    ids: Vec<&'a Storage>,
}

impl<'a, const N: usize> Group<'a, N> {
    /// Checks and resolves every input (the scale, then each state role named as in its errors, then "g").
    fn new(
        gpu: &'static Gpu,
        lens: Vec<usize>,
        scale: &'a Storage,
        state: [(&str, Vec<&'a Storage>); N],
        ids: Vec<&'a Storage>,
    ) -> Result<Self> {
        let scale = gpu.input(scale, 1, "scale")?;
        let mut bufs = Vec::with_capacity(N);
        for (what, ss) in &state {
            bufs.push(inputs(gpu, ss.iter().copied().zip(lens.iter().copied()), what)?);
        }
        let grads = inputs(gpu, ids.iter().copied().zip(lens.iter().copied()), "g")?;
        let state = bufs.try_into().map_err(|_| Error::Device("optimizer: state roles lost".into()))?;
        Ok(Group { gpu, lens, scale, state, grads, ids })
    }

    /// One `entry` dispatch per part, reading (state 0, gradient, state 1.., scale) and writing N fresh slabs
    /// with `params(part length)`; the new state of each tensor comes back as views of those slabs.
    fn update(
        &self,
        entry: &'static str,
        what: &'static str,
        params: impl Fn(usize) -> Params,
    ) -> Result<Vec<[Storage; N]>> {
        let gpu = self.gpu;
        let parts = layout(gpu, &self.lens)?;
        let gk = grad_slabs(gpu, &self.grads, &self.ids, &parts)?;
        let mut packed = Vec::with_capacity(parts.len());
        let mut outs = Vec::with_capacity(parts.len());
        for part in &parts {
            let r = part.tensors.clone();
            packed.push(
                self.state.iter().map(|bufs| pack(gpu, &bufs[r.clone()], part, what)).collect::<Result<Vec<_>>>()?,
            );
            let new =
                || -> Result<Arc<WgpuBuffer>> { Ok(Arc::new(gpu.alloc(part.len, For(what, &part.tensors.len()))?)) };
            outs.push((0..N).map(|_| new()).collect::<Result<Vec<_>>>()?);
        }
        let mut preps = Vec::new();
        let mut launches = Vec::new();
        for (((part, ks), gk), news) in parts.iter().zip(&packed).zip(&gk).zip(&outs) {
            for k in ks.iter().chain([gk]) {
                k.preps(part, &mut preps);
            }
            let mut args = vec![Arg::R(ks[0].slab()), Arg::R(gk.slab())];
            args.extend(ks[1..].iter().map(|k| Arg::R(k.slab())));
            args.push(Arg::R(self.scale));
            args.extend(news.iter().map(|b| Arg::W(b)));
            launches.push(Launch::new(&SHADER, entry, params(part.len), args, grid(part.len, 256)));
        }
        gpu.run_after(&preps, &launches)?;
        let mut out = Vec::with_capacity(self.lens.len());
        for (part, news) in parts.iter().zip(&outs) {
            let roles = news.iter().map(|b| views(b, part, &self.lens)).collect::<Result<Vec<_>>>()?;
            out.extend((0..part.tensors.len()).map(|i| std::array::from_fn(|r| roles[r][i].clone())));
        }
        Ok(out)
    }
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
        let state = [
            ("p", ts.iter().map(|t| t.p).collect()),
            ("m", ts.iter().map(|t| t.m).collect()),
            ("v", ts.iter().map(|t| t.v).collect()),
        ];
        let group = Group::new(gpu, lens, scale, state, ts.iter().map(|t| t.g).collect())?;
        let params = |n| Params::new().u(n).f(s.decay).f(s.l2).f(s.w1).f(s.beta2).f(s.w2).f(s.bc2_sqrt);
        let new = group.update("adam", "optim adam slab of tensors", |n| params(n).f(s.neg_step).f(s.eps))?;
        Ok(new.into_iter().map(|[p, m, v]| (p, m, v)).collect())
    }

    fn sgd_group(&self, ts: &[SgdSlot<'_>], scale: &Storage, s: &SgdStep) -> Result<Vec<Pair>> {
        let gpu = self.handle()?;
        let lens = sgd_lens(ts, scale)?;
        let state = [("p", ts.iter().map(|t| t.p).collect()), ("momentum buffer", ts.iter().map(|t| t.buf).collect())];
        let group = Group::new(gpu, lens, scale, state, ts.iter().map(|t| t.g).collect())?;
        let params = |n| Params::new().u(n).f(s.neg_lr).f(s.momentum).f(s.l2).flag(s.first);
        let new = group.update("sgd", "optim sgd slab of tensors", params)?;
        Ok(new.into_iter().map(|[p, b]| (p, b)).collect())
    }
}
