//! Launchers for `shaders/matmul.wgsl`. The forward and both gradients are launches of the one tiled kernel:
//! each gradient is written straight into its operand's storage layout by choosing which side is transposed,
//! and a broadcast operand's gradient sums the batch inside the kernel (see the shader's header).

use super::MatmulDims;
use super::MatmulKernel;
use crate::backend::wgpu::{store, Arg, Gpu, Launch, Params, Shader, WgpuBuffer};
use crate::backend::For;
use crate::backend::{Pair, Storage};
use crate::{Error, Result};

static SHADER: Shader = Shader::named("matmul");

/// Output tile edge of the kernel (BM = BN).
const TILE: usize = 64;

/// One side of a product: its buffer, whether the kernel reads it transposed, and its per-batch stride
/// (0 when it broadcasts over the batch).
struct Side<'a> {
    buf: &'a WgpuBuffer,
    trans: bool,
    stride: usize,
}

/// C[z] = op(X[z])·op(Y[z]) for z < batch, C [batch, m, n]; or, with `sum_batch`, C = Σ_z op(X[z])·op(Y[z])
/// as one [m, n] matrix.
#[allow(clippy::too_many_arguments)]
fn product<'a>(
    x: Side<'a>,
    y: Side<'a>,
    c: &'a WgpuBuffer,
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    sum_batch: bool,
) -> Launch<'a> {
    let (z, inner) = if sum_batch { (1, batch) } else { (batch, 1) };
    let (xz, yz, xr, yr) = if sum_batch { (0, 0, x.stride, y.stride) } else { (x.stride, y.stride, 0, 0) };
    let params = Params::new().u(m).u(n).u(k).flag(x.trans).flag(y.trans).u(xz).u(yz).u(xr).u(yr).u(inner);
    let groups = [n.div_ceil(TILE) as u32, m.div_ceil(TILE) as u32, z.min(u32::MAX as usize) as u32];
    Launch::new(&SHADER, "matmul", params, vec![Arg::R(x.buf), Arg::R(y.buf), Arg::W(c)], groups)
}

/// One unbatched C [m, n] = op(A)·op(B) launch, for other families' launchers (the LSTM's projections).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm<'a>(
    a: &'a WgpuBuffer,
    trans_a: bool,
    b: &'a WgpuBuffer,
    trans_b: bool,
    c: &'a WgpuBuffer,
    m: usize,
    n: usize,
    k: usize,
) -> Launch<'a> {
    product(
        Side { buf: a, trans: trans_a, stride: 0 },
        Side { buf: b, trans: trans_b, stride: 0 },
        c,
        m,
        n,
        k,
        1,
        false,
    )
}

fn check(d: &MatmulDims, a: &WgpuBuffer, b: &WgpuBuffer) -> Result<usize> {
    if !(d.batch_a == d.batch_b || d.batch_a == 1 || d.batch_b == 1) {
        return Err(Error::shape("matmul batches", d.batch_a, d.batch_b));
    }
    if a.len() != d.a_len() {
        return Err(Error::shape("matmul a", d.a_len(), a.len()));
    }
    if b.len() != d.b_len() {
        return Err(Error::shape("matmul b", d.b_len(), b.len()));
    }
    Ok(d.batch())
}

fn stride(batch_of_operand: usize, size: usize) -> usize {
    if batch_of_operand == 1 {
        0
    } else {
        size
    }
}

impl MatmulKernel for Gpu {
    fn matmul(&self, d: &MatmulDims, a: &Storage, b: &Storage) -> Result<Storage> {
        let gpu = self.handle()?;
        let (ab, bb) = (gpu.buf(a)?, gpu.buf(b)?);
        let batch = check(d, ab, bb)?;
        let c = gpu.alloc(d.c_len(), For("matmul", d))?;
        let x = Side { buf: ab, trans: d.trans_a, stride: stride(d.batch_a, d.m * d.k) };
        let y = Side { buf: bb, trans: d.trans_b, stride: stride(d.batch_b, d.k * d.n) };
        gpu.run(&[product(x, y, &c, d.m, d.n, d.k, batch, false)])?;
        Ok(store(c))
    }

    /// (dA, dB) in A's and B's storage layouts; a broadcast operand receives the sum over the batch.
    fn matmul_backward(&self, d: &MatmulDims, a: &Storage, b: &Storage, dc: &Storage) -> Result<Pair> {
        let gpu = self.handle()?;
        let (ab, bb, dcb) = (gpu.buf(a)?, gpu.buf(b)?, gpu.buf(dc)?);
        let batch = check(d, ab, bb)?;
        if dcb.len() != d.c_len() {
            return Err(Error::shape("matmul dc", d.c_len(), dcb.len()));
        }
        let (m, n, k) = (d.m, d.n, d.k);
        let (sa, sb, sc) = (stride(d.batch_a, m * k), stride(d.batch_b, k * n), m * n);
        let (da, db) = (gpu.alloc(d.a_len(), For("matmul", d))?, gpu.alloc(d.b_len(), For("matmul", d))?);
        let sum_a = d.batch_a == 1 && batch > 1;
        let sum_b = d.batch_b == 1 && batch > 1;
        let dc_side = |trans| Side { buf: dcb, trans, stride: sc };
        // dop(A) = dC·op(B)ᵀ [m, k]; stored transposed (A is [k, m]) it is op(B)·dCᵀ.
        let la = if d.trans_a {
            product(Side { buf: bb, trans: d.trans_b, stride: sb }, dc_side(true), &da, k, m, n, batch, sum_a)
        } else {
            product(dc_side(false), Side { buf: bb, trans: !d.trans_b, stride: sb }, &da, m, k, n, batch, sum_a)
        };
        // dop(B) = op(A)ᵀ·dC [k, n]; stored transposed (B is [n, k]) it is dCᵀ·op(A).
        let lb = if d.trans_b {
            product(dc_side(true), Side { buf: ab, trans: d.trans_a, stride: sa }, &db, n, k, m, batch, sum_b)
        } else {
            product(Side { buf: ab, trans: !d.trans_a, stride: sa }, dc_side(false), &db, k, n, m, batch, sum_b)
        };
        gpu.run(&[la, lb])?;
        Ok((store(da), store(db)))
    }
}
