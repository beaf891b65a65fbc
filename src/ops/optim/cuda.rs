//! Launches `kernels/optim.cu`. A group goes to the device as lists of up to [`GROUP_MAX`] tensors, each list one
//! kernel argument passed by value (device addresses and lengths, PyTorch's `multi_tensor_apply`): no upload, no
//! table in device memory to keep in step with the caching allocator. The kernel-parameter limit (4 KiB) is what
//! bounds a list, so a group of more tensors takes one launch per list. The scalars come from
//! `AdamStep`/`SgdStep` (rounded once on the host) and the clip factor stays in device memory: an update never
//! reads anything back.

use super::{adam_lens, sgd_lens, AdamSlot, AdamStep, OptimKernel, SgdSlot, SgdStep};
use crate::backend::cuda::{grid_1d, CudaBackend};
use crate::backend::{For, Pair, Storage, Triple};
use crate::{Error, Result};
use cudarc::driver::{DeviceRepr, LaunchConfig, PushKernelArg};

/// Tensors per launch: `OPTIM_GROUP_MAX` of kernels/optim.cu. The Adam list (8 words per tensor) stays under
/// the 4 KiB every CUDA device accepts as kernel parameters.
pub const GROUP_MAX: usize = 48;

/// Threads of the squared-norm blocks (a multiple of 32, as block_sum needs).
const THREADS: u32 = 256;
/// At most this many partial sums per list: enough blocks to fill a GPU, few for the final pass.
const MAX_PARTIALS: usize = 256;

/// A list of up to [`GROUP_MAX`] tensors as a kernel of kernels/optim.cu takes it by value: the device addresses
/// of I inputs and O outputs per tensor, the lengths and the count, unused slots 0. `TensorList<4, 3>` is the C
/// `AdamList` (p, g, m, v → p', m', v'), `TensorList<3, 2>` `SgdList` (p, g, buf → p', buf') and
/// `TensorList<1, 0>` `SquaresList` (g): the same fields in the same order, an array of I or O arrays being laid
/// out as that many consecutive arrays.
#[repr(C)]
struct TensorList<const I: usize, const O: usize> {
    ins: [[u64; GROUP_MAX]; I],
    outs: [[u64; GROUP_MAX]; O],
    n: [i64; GROUP_MAX],
    count: i32,
}

// SAFETY: a plain #[repr(C)] struct of integers, laid out as the C structs of kernels/optim.cu (8-byte fields,
// then an int, padded to 8 bytes by both compilers); the driver copies it into the kernel's parameter space.
unsafe impl<const I: usize, const O: usize> DeviceRepr for TensorList<I, O> {}

const _: () = assert!(std::mem::size_of::<TensorList<4, 3>>() <= 4096 - 64, "AdamList must fit the kernel parameters");

/// The squared-norm blocks per list for a group of `total` elements: one per 16 elements a thread would sum.
fn partial_blocks(total: usize) -> usize {
    total.div_ceil(THREADS as usize * 16).clamp(1, MAX_PARTIALS)
}

/// A list's grid: one thread per element of its longest tensor (grid-stride beyond 65 536 blocks).
fn list_grid(lens: &[usize]) -> LaunchConfig {
    grid_1d(lens.iter().copied().max().unwrap_or(0))
}

/// The list of one launch: tensor i of `inputs` with its I inputs (storage and the name its errors use), each
/// read as `lens[i]` values, and O outputs of `lens[i]` values allocated for it. The outputs come back with the
/// list (wrapped as storage, tensor by tensor) so they outlive the launch; the inputs stay borrowed by the caller.
fn tensor_list<const I: usize, const O: usize>(
    be: &CudaBackend,
    inputs: &[[(&Storage, &str); I]],
    lens: &[usize],
    what: &'static str,
) -> Result<(TensorList<I, O>, Vec<[Storage; O]>)> {
    let z = [0u64; GROUP_MAX];
    let mut list = TensorList { ins: [z; I], outs: [z; O], n: [0; GROUP_MAX], count: inputs.len() as i32 };
    let mut new = Vec::with_capacity(inputs.len());
    for (i, (ins, &n)) in inputs.iter().zip(lens).enumerate() {
        let outs = (0..O).map(|_| be.alloc(n, For(what, &n))).collect::<Result<Vec<_>>>()?;
        for (r, (st, name)) in ins.iter().enumerate() {
            list.ins[r][i] = be.address(be.input(st, n, name)?.slice());
        }
        for (r, o) in outs.iter().enumerate() {
            list.outs[r][i] = be.address(&**o);
        }
        list.n[i] = n as i64;
        let outs: Vec<Storage> = outs.into_iter().map(|o| be.wrap(o, n)).collect();
        new.push(outs.try_into().map_err(|_| Error::Device("optimizer: an output list lost its length".into()))?);
    }
    Ok((list, new))
}

impl OptimKernel for CudaBackend {
    fn squared_norm(&self, gs: &[&Storage]) -> Result<Storage> {
        let lists = gs.len().div_ceil(GROUP_MAX).max(1);
        let blocks = partial_blocks(gs.iter().map(|g| g.len()).sum());
        let mut partials = self.alloc(lists * blocks, For("optim squared norm partials of tensors", &gs.len()))?;
        let cfg = LaunchConfig { grid_dim: (blocks as u32, 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 };
        for k in 0..lists {
            let chunk = &gs[(k * GROUP_MAX).min(gs.len())..((k + 1) * GROUP_MAX).min(gs.len())];
            let names: Vec<String> = (0..chunk.len()).map(|i| format!("gradient {}", k * GROUP_MAX + i)).collect();
            let inputs: Vec<_> = chunk.iter().zip(&names).map(|(g, name)| [(*g, name.as_str())]).collect();
            let lens: Vec<usize> = chunk.iter().map(|g| g.len()).collect();
            let (list, _) = tensor_list::<1, 0>(self, &inputs, &lens, "optim squared norm")?;
            let at = (k * blocks) as i64;
            let mut l = self.kernel("optim_squares_partial")?;
            l.arg(&list).arg(&mut *partials).arg(&at);
            // SAFETY: optim_squares_partial(SquaresList l, float* partials, long long at); each listed gradient
            // holds n[i] values and stays alive past the launch (borrowed by `gs`, `input` checked the lengths); partials holds lists·blocks
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
            let inputs: Vec<_> = chunk.iter().map(|t| [(t.p, "p"), (t.g, "g"), (t.m, "m"), (t.v, "v")]).collect();
            let (list, new) = tensor_list::<4, 3>(self, &inputs, lens, "optim adam update of")?;
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
            out.extend(new.into_iter().map(|[p, m, v]| (p, m, v)));
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
            let inputs: Vec<_> = chunk.iter().map(|t| [(t.p, "p"), (t.g, "g"), (t.buf, "momentum buffer")]).collect();
            let (list, new) = tensor_list::<3, 2>(self, &inputs, lens, "optim sgd update of")?;
            let mut l = self.kernel("optim_sgd_multi")?;
            l.arg(&list).arg(c.slice()).arg(&s.neg_lr).arg(&s.momentum).arg(&s.l2).arg(&first);
            // SAFETY: optim_sgd_multi(SgdList l, const float* scale, float neg_lr, momentum, l2, int first); every
            // listed input holds n[i] values and is borrowed past the launch; every output was allocated with n[i]
            // values and is kept in `new`; scale holds one value.
            unsafe { self.launch(l, list_grid(lens), "optim_sgd_multi")? };
            out.extend(new.into_iter().map(|[p, b]| (p, b)));
        }
        Ok(out)
    }
}
