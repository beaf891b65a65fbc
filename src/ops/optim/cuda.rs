//! Launches `kernels/optim.cu`. A group goes to the device as lists of up to [`GROUP_MAX`] tensors, each list one
//! kernel argument passed by value (device addresses and lengths, PyTorch's `multi_tensor_apply`): no upload, no
//! table in device memory to keep in step with the caching allocator. The kernel-parameter limit (4 KiB) is what
//! bounds a list, so a group of more tensors takes one launch per list. The scalars come from
//! `AdamStep`/`SgdStep` (rounded once on the host) and the clip factor stays in device memory: an update never
//! reads anything back.

use super::{adam_lens, sgd_lens, AdamSlot, AdamStep, OptimKernel, SgdSlot, SgdStep};
use crate::backend::cuda::{grid_1d, CudaBackend};
use crate::backend::{For, Pair, Storage, Triple};
use crate::Result;
use cudarc::driver::{DeviceRepr, LaunchConfig, PushKernelArg};

/// Tensors per launch: `OPTIM_GROUP_MAX` of kernels/optim.cu. The Adam list (8 words per tensor) stays under
/// the 4 KiB every CUDA device accepts as kernel parameters.
pub const GROUP_MAX: usize = 48;

/// Threads of the squared-norm blocks (a multiple of 32, as block_sum needs).
const THREADS: u32 = 256;
/// At most this many partial sums per list: enough blocks to fill a GPU, few for the final pass.
const MAX_PARTIALS: usize = 256;

/// `SquaresList` of kernels/optim.cu.
#[repr(C)]
struct SquaresList {
    g: [u64; GROUP_MAX],
    n: [i64; GROUP_MAX],
    count: i32,
}

/// `AdamList` of kernels/optim.cu.
#[repr(C)]
struct AdamList {
    p: [u64; GROUP_MAX],
    g: [u64; GROUP_MAX],
    m: [u64; GROUP_MAX],
    v: [u64; GROUP_MAX],
    p_out: [u64; GROUP_MAX],
    m_out: [u64; GROUP_MAX],
    v_out: [u64; GROUP_MAX],
    n: [i64; GROUP_MAX],
    count: i32,
}

/// `SgdList` of kernels/optim.cu.
#[repr(C)]
struct SgdList {
    p: [u64; GROUP_MAX],
    g: [u64; GROUP_MAX],
    buf: [u64; GROUP_MAX],
    p_out: [u64; GROUP_MAX],
    buf_out: [u64; GROUP_MAX],
    n: [i64; GROUP_MAX],
    count: i32,
}

// SAFETY: plain #[repr(C)] structs of integers, laid out as the C structs of kernels/optim.cu (8-byte fields,
// then an int, padded to 8 bytes by both compilers); the driver copies them into the kernel's parameter space.
unsafe impl DeviceRepr for SquaresList {}
// SAFETY: as SquaresList.
unsafe impl DeviceRepr for AdamList {}
// SAFETY: as SquaresList.
unsafe impl DeviceRepr for SgdList {}

const _: () = assert!(std::mem::size_of::<AdamList>() <= 4096 - 64, "AdamList must fit the kernel parameters");

/// The squared-norm blocks per list for a group of `total` elements: one per 16 elements a thread would sum.
fn partial_blocks(total: usize) -> usize {
    total.div_ceil(THREADS as usize * 16).clamp(1, MAX_PARTIALS)
}

/// A list's grid: one thread per element of its longest tensor (grid-stride beyond 65 536 blocks).
fn list_grid(lens: &[usize]) -> LaunchConfig {
    grid_1d(lens.iter().copied().max().unwrap_or(0))
}

impl OptimKernel for CudaBackend {
    fn squared_norm(&self, gs: &[&Storage]) -> Result<Storage> {
        let lists = gs.len().div_ceil(GROUP_MAX).max(1);
        let blocks = partial_blocks(gs.iter().map(|g| g.len()).sum());
        let mut partials = self.alloc(lists * blocks, For("optim squared norm partials of tensors", &gs.len()))?;
        let cfg = LaunchConfig { grid_dim: (blocks as u32, 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 };
        for k in 0..lists {
            let chunk = &gs[(k * GROUP_MAX).min(gs.len())..((k + 1) * GROUP_MAX).min(gs.len())];
            let mut list = SquaresList { g: [0; GROUP_MAX], n: [0; GROUP_MAX], count: chunk.len() as i32 };
            for (i, g) in chunk.iter().enumerate() {
                let gs = self.input(g, g.len(), &format!("gradient {}", k * GROUP_MAX + i))?;
                (list.g[i], list.n[i]) = (self.address(gs.slice()), g.len() as i64);
            }
            let at = (k * blocks) as i64;
            let mut l = self.kernel("optim_squares_partial")?;
            l.arg(&list).arg(&mut *partials).arg(&at);
            // SAFETY: optim_squares_partial(SquaresList l, float* partials, long long at); each listed gradient
            // holds n[i] values and stays alive past the launch (borrowed by `gs`); partials holds lists·blocks
            // values and the launch writes [at, at + blocks).
            unsafe { self.launch(l, cfg, "optim_squares_partial")? };
        }
        let mut out = self.alloc(1, For("optim squared norm of tensors", &gs.len()))?;
        let n = (lists * blocks) as i64;
        let mut l = self.kernel("optim_squares_total")?;
        l.arg(&*partials).arg(&n).arg(&mut *out);
        let one = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: optim_squares_total(const float* partials, long long n, float* out); partials holds n values, out
        // one; one block of THREADS threads (a multiple of 32).
        unsafe { self.launch(l, one, "optim_squares_total")? };
        Ok(self.wrap(out, 1))
    }

    fn clip_factor(&self, total: &Storage, max_norm: f32) -> Result<Storage> {
        let ts = self.input(total, 1, "total")?;
        let mut out = self.alloc(1, For("optim clip_factor", &max_norm))?;
        let mut l = self.kernel("optim_clip_factor")?;
        l.arg(ts.slice()).arg(&mut *out).arg(&max_norm);
        // SAFETY: optim_clip_factor(const float* total, float* out, float max_norm); both hold one value.
        unsafe { self.launch(l, LaunchConfig::for_num_elems(1), "optim_clip_factor")? };
        Ok(self.wrap(out, 1))
    }

    fn adam_group(&self, ts: &[AdamSlot<'_>], scale: &Storage, s: &AdamStep) -> Result<Vec<Triple>> {
        let lens = adam_lens(ts, scale)?;
        let c = self.input(scale, 1, "scale")?;
        let mut out = Vec::with_capacity(ts.len());
        for (k, chunk) in ts.chunks(GROUP_MAX).enumerate() {
            let lens = &lens[k * GROUP_MAX..k * GROUP_MAX + chunk.len()];
            let z = [0u64; GROUP_MAX];
            let mut list =
                AdamList { p: z, g: z, m: z, v: z, p_out: z, m_out: z, v_out: z, n: [0; GROUP_MAX], count: 0 };
            let mut new = Vec::with_capacity(chunk.len());
            for (i, (t, &n)) in chunk.iter().zip(lens).enumerate() {
                let what = For("optim adam update of", &n);
                let (p2, m2, v2) = (self.alloc(n, what)?, self.alloc(n, what)?, self.alloc(n, what)?);
                let addr =
                    |st: &Storage, name: &str| -> Result<u64> { Ok(self.address(self.input(st, n, name)?.slice())) };
                (list.p[i], list.g[i], list.m[i], list.v[i]) =
                    (addr(t.p, "p")?, addr(t.g, "g")?, addr(t.m, "m")?, addr(t.v, "v")?);
                (list.p_out[i], list.m_out[i], list.v_out[i]) =
                    (self.address(&*p2), self.address(&*m2), self.address(&*v2));
                list.n[i] = n as i64;
                new.push((p2, m2, v2, n));
            }
            list.count = chunk.len() as i32;
            let mut l = self.kernel("optim_adam_multi")?;
            l.arg(&list).arg(c.slice());
            l.arg(&s.decay)
                .arg(&s.l2)
                .arg(&s.w1)
                .arg(&s.beta2)
                .arg(&s.w2)
                .arg(&s.bc2_sqrt)
                .arg(&s.neg_step)
                .arg(&s.eps);
            // SAFETY: optim_adam_multi(AdamList l, const float* scale, float decay, l2, w1, beta2, w2, bc2_sqrt,
            // neg_step, eps); every listed input holds n[i] values (checked by `input`) and is borrowed past the
            // launch; every output was allocated with n[i] values and is kept in `new`; scale holds one value.
            unsafe { self.launch(l, list_grid(lens), "optim_adam_multi")? };
            out.extend(new.into_iter().map(|(p, m, v, n)| (self.wrap(p, n), self.wrap(m, n), self.wrap(v, n))));
        }
        Ok(out)
    }

    fn sgd_group(&self, ts: &[SgdSlot<'_>], scale: &Storage, s: &SgdStep) -> Result<Vec<Pair>> {
        let lens = sgd_lens(ts, scale)?;
        let c = self.input(scale, 1, "scale")?;
        let first = s.first as i32;
        let mut out = Vec::with_capacity(ts.len());
        for (k, chunk) in ts.chunks(GROUP_MAX).enumerate() {
            let lens = &lens[k * GROUP_MAX..k * GROUP_MAX + chunk.len()];
            let z = [0u64; GROUP_MAX];
            let mut list = SgdList { p: z, g: z, buf: z, p_out: z, buf_out: z, n: [0; GROUP_MAX], count: 0 };
            let mut new = Vec::with_capacity(chunk.len());
            for (i, (t, &n)) in chunk.iter().zip(lens).enumerate() {
                let what = For("optim sgd update of", &n);
                let (p2, b2) = (self.alloc(n, what)?, self.alloc(n, what)?);
                let addr =
                    |st: &Storage, name: &str| -> Result<u64> { Ok(self.address(self.input(st, n, name)?.slice())) };
                (list.p[i], list.g[i], list.buf[i]) =
                    (addr(t.p, "p")?, addr(t.g, "g")?, addr(t.buf, "momentum buffer")?);
                (list.p_out[i], list.buf_out[i], list.n[i]) = (self.address(&*p2), self.address(&*b2), n as i64);
                new.push((p2, b2, n));
            }
            list.count = chunk.len() as i32;
            let mut l = self.kernel("optim_sgd_multi")?;
            l.arg(&list).arg(c.slice()).arg(&s.neg_lr).arg(&s.momentum).arg(&s.l2).arg(&first);
            // SAFETY: optim_sgd_multi(SgdList l, const float* scale, float neg_lr, momentum, l2, int first); every
            // listed input holds n[i] values and is borrowed past the launch; every output was allocated with n[i]
            // values and is kept in `new`; scale holds one value.
            unsafe { self.launch(l, list_grid(lens), "optim_sgd_multi")? };
            out.extend(new.into_iter().map(|(p, b, n)| (self.wrap(p, n), self.wrap(b, n))));
        }
        Ok(out)
    }
}
