//! Launches `kernels/optim.cu`. The scalars come from `AdamStep`/`SgdStep` (rounded once on the host) and the
//! clip factor stays in device memory: an update never reads anything back.

use super::{sgd_len, AdamArgs, AdamStep, OptimKernel, SgdStep};
use crate::backend::cuda::{grid_1d, CudaBackend};
use crate::backend::{For, Pair, Storage, Triple};
use crate::Result;
use cudarc::driver::{LaunchConfig, PushKernelArg};

/// One block: the squared sum strides the whole tensor in one block so its order is fixed (no atomics).
const ONE_BLOCK: LaunchConfig = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (1024, 1, 1), shared_mem_bytes: 0 };

impl OptimKernel for CudaBackend {
    fn sum_squares(&self, g: &Storage, acc: &Storage) -> Result<Storage> {
        let n = g.len();
        let (gs, accs) = (self.input(g, n, "g")?, self.input(acc, 1, "acc")?);
        let mut out = self.alloc(1, For("optim sum_squares of", &n))?;
        let n64 = n as i64;
        let mut l = self.kernel("optim_sum_squares")?;
        l.arg(gs.slice()).arg(accs.slice()).arg(&mut *out).arg(&n64);
        // SAFETY: optim_sum_squares(const float* g, const float* acc, float* out, long long n); g holds n values,
        // acc and out one; one block of 1024 threads (a multiple of 32, as block_sum needs).
        unsafe { self.launch(l, ONE_BLOCK, "optim_sum_squares")? };
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

    fn adam_update(&self, a: &AdamArgs<'_>, s: &AdamStep) -> Result<Triple> {
        let n = a.checked_len()?;
        let (p, g) = (self.input(a.p, n, "p")?, self.input(a.g, n, "g")?);
        let (m, v, c) = (self.input(a.m, n, "m")?, self.input(a.v, n, "v")?, self.input(a.scale, 1, "scale")?);
        let what = For("optim adam update of", &n);
        let (mut p2, mut m2, mut v2) = (self.alloc(n, what)?, self.alloc(n, what)?, self.alloc(n, what)?);
        let n64 = n as i64;
        let mut l = self.kernel("optim_adam")?;
        l.arg(p.slice()).arg(g.slice()).arg(m.slice()).arg(v.slice()).arg(c.slice());
        l.arg(&mut *p2).arg(&mut *m2).arg(&mut *v2).arg(&n64);
        l.arg(&s.decay).arg(&s.l2).arg(&s.w1).arg(&s.beta2).arg(&s.w2).arg(&s.bc2_sqrt).arg(&s.neg_step).arg(&s.eps);
        // SAFETY: optim_adam(const float* p, g, m, v, scale, float* p_out, m_out, v_out, long long n, float decay,
        // l2, w1, beta2, w2, bc2_sqrt, neg_step, eps); p, g, m, v and the outputs hold n values, scale one.
        unsafe { self.launch(l, grid_1d(n), "optim_adam")? };
        Ok((self.wrap(p2, n), self.wrap(m2, n), self.wrap(v2, n)))
    }

    fn sgd_update(&self, p: &Storage, g: &Storage, buf: &Storage, scale: &Storage, s: &SgdStep) -> Result<Pair> {
        let n = sgd_len(p, g, buf, scale)?;
        let (ps, gs, bs) = (self.input(p, n, "p")?, self.input(g, n, "g")?, self.input(buf, n, "momentum buffer")?);
        let cs = self.input(scale, 1, "scale")?;
        let what = For("optim sgd update of", &n);
        let (mut p2, mut b2) = (self.alloc(n, what)?, self.alloc(n, what)?);
        let (n64, first) = (n as i64, s.first as i32);
        let mut l = self.kernel("optim_sgd")?;
        l.arg(ps.slice()).arg(gs.slice()).arg(bs.slice()).arg(cs.slice()).arg(&mut *p2).arg(&mut *b2);
        l.arg(&n64).arg(&s.neg_lr).arg(&s.momentum).arg(&s.l2).arg(&first);
        // SAFETY: optim_sgd(const float* p, g, buf, scale, float* p_out, buf_out, long long n, float neg_lr,
        // momentum, l2, int first); p, g, buf and the outputs hold n values, scale one.
        unsafe { self.launch(l, grid_1d(n), "optim_sgd")? };
        Ok((self.wrap(p2, n), self.wrap(b2, n)))
    }
}
