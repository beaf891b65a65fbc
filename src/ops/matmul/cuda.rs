//! Launches `kernels/matmul.cu`. Every product (forward, both backward products, the LSTM's projections) is the
//! one strided `gemm_*` kernel; this file turns `MatmulDims` into its strides. Half-precision inference
//! operands live in [`HalfStorage`] (converted once on the device, f32 accumulation and output).

use super::MatmulDims;
use super::MatmulKernel;
use crate::backend::cuda::pool::Pooled;
use crate::backend::cuda::{grid_1d, CudaBackend};
use crate::backend::For;
use crate::backend::{Pair, Storage};
use crate::{Error, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use std::sync::Arc;

/// One strided product C[z] = Σ_s X[z, s]·Y[z, s] (see the kernel file for the index formulas).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// Output matrices (grid.z).
    pub z: usize,
    /// Products summed into each output matrix.
    pub kbatch: usize,
    pub xs_i: usize,
    pub xs_p: usize,
    pub ys_p: usize,
    pub ys_j: usize,
    pub cs_i: usize,
    pub cs_j: usize,
    pub x_bz: usize,
    pub y_bz: usize,
    pub c_bz: usize,
    pub x_bs: usize,
    pub y_bs: usize,
}

/// One past the largest offset `base_z·(z−1) + base_s·(kb−1) + s1·(a−1) + s2·(b−1)` a walk can reach; 0 when
/// nothing is read.
fn extent(parts: &[(usize, usize)]) -> usize {
    if parts.iter().any(|&(_, count)| count == 0) {
        return 0;
    }
    parts.iter().map(|&(stride, count)| stride * (count - 1)).sum::<usize>() + 1
}

impl Gemm {
    fn arg(&self) -> [i64; 15] {
        [
            self.m,
            self.n,
            self.k,
            self.kbatch,
            self.xs_i,
            self.xs_p,
            self.ys_p,
            self.ys_j,
            self.cs_i,
            self.cs_j,
            self.x_bz,
            self.y_bz,
            self.c_bz,
            self.x_bs,
            self.y_bs,
        ]
        .map(|v| v as i64)
    }
    fn x_extent(&self) -> usize {
        extent(&[(self.x_bz, self.z), (self.x_bs, self.kbatch), (self.xs_i, self.m), (self.xs_p, self.k)])
    }
    fn y_extent(&self) -> usize {
        extent(&[(self.y_bz, self.z), (self.y_bs, self.kbatch), (self.ys_p, self.k), (self.ys_j, self.n)])
    }
    fn c_extent(&self) -> usize {
        extent(&[(self.c_bz, self.z), (self.cs_i, self.m), (self.cs_j, self.n)])
    }
    fn cfg(&self) -> Result<LaunchConfig> {
        let (gx, gy) = (self.n.div_ceil(64), self.m.div_ceil(64));
        if gy > 65535 || self.z > 65535 || gx > i32::MAX as usize {
            return Err(Error::Invalid(format!(
                "cuda gemm: {}×{}×{} (batch {}) exceeds the grid",
                self.m, self.n, self.k, self.z
            )));
        }
        Ok(LaunchConfig {
            grid_dim: (gx as u32, gy as u32, self.z as u32),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        })
    }
}

/// A gemm kernel of kernels/matmul.cu and the block size its tile loops and `__launch_bounds__` assume (256 for
/// the SIMT tiles, 128 for WMMA's four warps).
#[derive(Clone, Copy)]
pub(crate) struct GemmKernel {
    pub name: &'static str,
    pub threads: u32,
}

/// The f32 SIMT gemm, which every f32 product uses.
pub(crate) const GEMM_F32: GemmKernel = GemmKernel { name: "gemm_f32", threads: 256 };

/// Queue `kernel` after checking that every offset the strides can produce lies inside the buffers (`x_len`,
/// `y_len`, `c_len` values).
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch_gemm<T>(
    be: &CudaBackend,
    kernel: GemmKernel,
    x: &CudaSlice<T>,
    x_len: usize,
    y: &CudaSlice<T>,
    y_len: usize,
    c: &mut CudaSlice<f32>,
    c_len: usize,
    g: &Gemm,
) -> Result<()> {
    if g.m == 0 || g.n == 0 || g.z == 0 {
        return Ok(());
    }
    let fits =
        g.x_extent() <= x_len.min(x.len()) && g.y_extent() <= y_len.min(y.len()) && g.c_extent() <= c_len.min(c.len());
    if !fits {
        return Err(Error::Invalid(format!(
            "cuda gemm: strides {g:?} reach outside buffers of {x_len}, {y_len}, {c_len}"
        )));
    }
    let arg = g.arg();
    let mut cfg = g.cfg()?;
    cfg.block_dim = (kernel.threads, 1, 1);
    let mut l = be.kernel(kernel.name)?;
    l.arg(x).arg(y).arg(c).arg(&arg);
    // SAFETY: gemm_*(const T* X, const T* Y, float* C, Gemm g) with Gemm = 15 long longs in `Gemm::arg` order; the
    // extents checked above bound every X, Y and C offset the kernel forms (it guards i < m, j < n, p < k); the
    // block size is the one the kernel's __launch_bounds__ and tile loops assume.
    unsafe { be.launch(l, cfg, kernel.name) }
}

fn check_batches(d: &MatmulDims) -> Result<usize> {
    let (a, b) = (d.batch_a, d.batch_b);
    if a != b && a != 1 && b != 1 {
        return Err(Error::shape("matmul batch", format!("{a} or 1"), b));
    }
    Ok(a.max(b))
}

/// Strides of C[b] = op(A[b])·op(B[b]).
fn forward_gemm(d: &MatmulDims, batch: usize) -> Gemm {
    let (m, n, k) = (d.m, d.n, d.k);
    Gemm {
        m,
        n,
        k,
        z: batch,
        kbatch: 1,
        xs_i: if d.trans_a { 1 } else { k },
        xs_p: if d.trans_a { m } else { 1 },
        ys_p: if d.trans_b { 1 } else { n },
        ys_j: if d.trans_b { k } else { 1 },
        cs_i: n,
        cs_j: 1,
        x_bz: if d.batch_a == 1 { 0 } else { m * k },
        y_bz: if d.batch_b == 1 { 0 } else { k * n },
        c_bz: m * n,
        ..Default::default()
    }
}

/// Operand precision of the half-precision inference kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalfKind {
    F16,
    Bf16,
}

/// A device buffer of f16 or bf16 values (stored as their 16-bit patterns), for inference operands such as
/// weights converted once at load time.
#[derive(Clone)]
pub struct HalfStorage {
    buf: Arc<Pooled<u16>>,
    len: usize,
    kind: HalfKind,
}

impl HalfStorage {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn kind(&self) -> HalfKind {
        self.kind
    }
}

/// Round an f32 device buffer to f16 or bf16 (nearest even), on the device.
pub fn to_half(be: &CudaBackend, x: &Storage, kind: HalfKind) -> Result<HalfStorage> {
    let n = x.len();
    let xs = be.input(x, n, "x")?;
    let mut y = be.alloc_u16(n, For("matmul to_half, values", &n))?;
    let name = match kind {
        HalfKind::F16 => "f32_to_f16",
        HalfKind::Bf16 => "f32_to_bf16",
    };
    let n64 = n as i64;
    let mut l = be.kernel(name)?;
    l.arg(xs.slice()).arg(&mut *y).arg(&n64);
    // SAFETY: f32_to_f16 / f32_to_bf16(const float* x, 16-bit* y, long long n); x and y hold n values.
    unsafe { be.launch(l, grid_1d(n), name)? };
    Ok(HalfStorage { buf: Arc::new(y), len: n, kind })
}

/// Whether the device has tensor cores for `kind` (WMMA f16 from sm_70, bf16 from sm_80).
pub fn has_tensor_cores(be: &CudaBackend, kind: HalfKind) -> bool {
    be.arch().0 >= if kind == HalfKind::F16 { 70 } else { 80 }
}

/// C = op(A)·op(B) with half-precision operands, f32 accumulation and f32 output (inference only: no backward), on
/// tensor cores when the device has them.
pub fn matmul_half(be: &CudaBackend, d: &MatmulDims, a: &HalfStorage, b: &HalfStorage) -> Result<Storage> {
    matmul_half_with(be, d, a, b, has_tensor_cores(be, a.kind))
}

/// `matmul_half` with the kernel chosen by the caller: WMMA tensor cores or the SIMT tiles (for tests and benches
/// that compare the two; asking for tensor cores the device lacks is an error).
pub fn matmul_half_with(
    be: &CudaBackend,
    d: &MatmulDims,
    a: &HalfStorage,
    b: &HalfStorage,
    tensor_cores: bool,
) -> Result<Storage> {
    if tensor_cores && !has_tensor_cores(be, a.kind) {
        return Err(Error::Device(format!("{:?} tensor cores need a newer GPU than {}", a.kind, be.arch().sm())));
    }
    let batch = check_batches(d)?;
    if a.kind != b.kind {
        return Err(Error::Invalid(format!("matmul_half: operands are {:?} and {:?}", a.kind, b.kind)));
    }
    if a.len != d.a_len() || b.len != d.b_len() {
        return Err(Error::shape("matmul_half operands", (d.a_len(), d.b_len()), (a.len, b.len)));
    }
    let c_len = batch * d.m * d.n;
    let g = forward_gemm(d, batch);
    let mut c = if d.k == 0 { be.zeros(c_len, For("matmul", d))? } else { be.alloc(c_len, For("matmul", d))? };
    let name = match (a.kind, tensor_cores) {
        (HalfKind::F16, false) => "gemm_f16",
        (HalfKind::Bf16, false) => "gemm_bf16",
        (HalfKind::F16, true) => "gemm_wmma_f16",
        (HalfKind::Bf16, true) => "gemm_wmma_bf16",
    };
    let threads = if tensor_cores { 128 } else { 256 };
    launch_gemm(be, GemmKernel { name, threads }, &a.buf, a.len, &b.buf, b.len, &mut c, c_len, &g)?;
    Ok(be.wrap(c, c_len))
}

impl MatmulKernel for CudaBackend {
    fn matmul(&self, d: &MatmulDims, a: &Storage, b: &Storage) -> Result<Storage> {
        let batch = check_batches(d)?;
        let (as_, bs) = (self.input(a, d.a_len(), "a")?, self.input(b, d.b_len(), "b")?);
        let c_len = batch * d.m * d.n;
        let g = forward_gemm(d, batch);
        let mut c = if d.k == 0 { self.zeros(c_len, For("matmul", d))? } else { self.alloc(c_len, For("matmul", d))? };
        launch_gemm(self, GEMM_F32, as_.slice(), d.a_len(), bs.slice(), d.b_len(), &mut c, c_len, &g)?;
        Ok(self.wrap(c, c_len))
    }

    fn matmul_backward(&self, d: &MatmulDims, a: &Storage, b: &Storage, dc: &Storage) -> Result<Pair> {
        let batch = check_batches(d)?;
        let (m, n, k) = (d.m, d.n, d.k);
        let (as_, bs) = (self.input(a, d.a_len(), "a")?, self.input(b, d.b_len(), "b")?);
        let dcs = self.input(dc, batch * m * n, "dc")?;
        let c_len = batch * m * n;
        // dop(A)[b] = dC[b]·op(B[b])ᵀ: (m × n)·(n × k), written into A's layout.
        let mut ga = Gemm {
            m,
            n: k,
            k: n,
            z: batch,
            kbatch: 1,
            xs_i: n,
            xs_p: 1,
            ys_p: if d.trans_b { k } else { 1 },
            ys_j: if d.trans_b { 1 } else { n },
            cs_i: if d.trans_a { 1 } else { k },
            cs_j: if d.trans_a { m } else { 1 },
            x_bz: m * n,
            y_bz: if d.batch_b == 1 { 0 } else { k * n },
            c_bz: m * k,
            ..Default::default()
        };
        if d.batch_a == 1 && batch > 1 {
            // A broadcast: its gradient is the sum over the batch, folded into the k loop.
            (ga.z, ga.kbatch, ga.x_bs, ga.y_bs, ga.x_bz, ga.y_bz) = (1, batch, ga.x_bz, ga.y_bz, 0, 0);
        }
        // dop(B)[b] = op(A[b])ᵀ·dC[b]: (k × m)·(m × n), written into B's layout.
        let mut gb = Gemm {
            m: k,
            n,
            k: m,
            z: batch,
            kbatch: 1,
            xs_i: if d.trans_a { m } else { 1 },
            xs_p: if d.trans_a { 1 } else { k },
            ys_p: n,
            ys_j: 1,
            cs_i: if d.trans_b { 1 } else { n },
            cs_j: if d.trans_b { k } else { 1 },
            x_bz: if d.batch_a == 1 { 0 } else { m * k },
            y_bz: m * n,
            c_bz: k * n,
            ..Default::default()
        };
        if d.batch_b == 1 && batch > 1 {
            (gb.z, gb.kbatch, gb.x_bs, gb.y_bs, gb.x_bz, gb.y_bz) = (1, batch, gb.x_bz, gb.y_bz, 0, 0);
        }
        let zero_k = |n_out: usize| {
            if m == 0 || n == 0 {
                self.zeros(n_out, For("matmul", d))
            } else {
                self.alloc(n_out, For("matmul", d))
            }
        };
        let mut da = zero_k(d.a_len())?;
        let mut db = zero_k(d.b_len())?;
        launch_gemm(self, GEMM_F32, dcs.slice(), c_len, bs.slice(), d.b_len(), &mut da, d.a_len(), &ga)?;
        launch_gemm(self, GEMM_F32, as_.slice(), d.a_len(), dcs.slice(), c_len, &mut db, d.b_len(), &gb)?;
        Ok((self.wrap(da, d.a_len()), self.wrap(db, d.b_len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_of_every_layout_stay_inside_the_operands() {
        for (batch_a, batch_b) in [(1, 1), (3, 3), (1, 3), (3, 1)] {
            for trans_a in [false, true] {
                for trans_b in [false, true] {
                    let d = MatmulDims { batch_a, batch_b, m: 5, k: 7, n: 3, trans_a, trans_b };
                    let g = forward_gemm(&d, batch_a.max(batch_b));
                    assert!(g.x_extent() <= d.a_len() && g.y_extent() <= d.b_len(), "{d:?}");
                    assert_eq!(g.c_extent(), g.z * 15);
                }
            }
        }
    }
}
