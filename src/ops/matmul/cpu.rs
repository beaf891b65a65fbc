//! Fast CPU matmul: the `gemm` crate's packed, vectorised kernels (~100 GFLOP/s on 2 cores here) behind a
//! BLAS-shaped, bounds-checked entry point that every CPU kernel family uses for its dense products.

use super::MatmulDims;
use super::MatmulKernel;
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::{Pair, Storage};
use crate::Result;
use gemm::Parallelism;
use rayon::prelude::*;

/// Products smaller than this many multiply-adds run single-threaded: thread hand-off costs more than it saves.
const PARALLEL_MIN_FLOPS: usize = 1 << 18;

/// C[m,n] (row stride `ldc`) = op(A)·op(B) (+ C when `accumulate`).
///
/// A is row-major [m,k] with row stride `lda` (or [k,m] when `trans_a`), B is [k,n] with row stride `ldb`
/// (or [n,k] when `trans_b`). Transposes are free: they only swap the strides handed to gemm.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    trans_a: bool,
    b: &[f32],
    ldb: usize,
    trans_b: bool,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let (a_rows, a_cols) = if trans_a { (k, m) } else { (m, k) };
    let (b_rows, b_cols) = if trans_b { (n, k) } else { (k, n) };
    assert!(a_cols <= lda || a_rows == 0, "sgemm: lda {lda} < {a_cols}");
    assert!(b_cols <= ldb || b_rows == 0, "sgemm: ldb {ldb} < {b_cols}");
    assert!(n <= ldc, "sgemm: ldc {ldc} < {n}");
    assert!(a_rows == 0 || a.len() >= (a_rows - 1) * lda + a_cols, "sgemm: A too short");
    assert!(b_rows == 0 || b.len() >= (b_rows - 1) * ldb + b_cols, "sgemm: B too short");
    assert!(c.len() >= (m - 1) * ldc + n, "sgemm: C too short");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].fill(0.0);
            }
        }
        return;
    }
    let (a_rs, a_cs) = if trans_a { (1, lda as isize) } else { (lda as isize, 1) };
    let (b_rs, b_cs) = if trans_b { (1, ldb as isize) } else { (ldb as isize, 1) };
    let par = if m * n * k >= PARALLEL_MIN_FLOPS {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above guarantee every element gemm reads (A: a_rows×a_cols at stride lda, B likewise)
    // and writes (C: m×n at stride ldc) lies inside the slices; C does not alias A or B (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
}

/// The most rows `m` for which `sgemm(m, n, k, ..)` stays single-threaded. Kernels that run many products
/// inside their own rayon loop size their blocks with it, so gemm never spawns threads from a worker.
pub fn sgemm_serial_rows(n: usize, k: usize) -> usize {
    match n.saturating_mul(k) {
        0 => usize::MAX,
        nk => (PARALLEL_MIN_FLOPS - 1) / nk,
    }
}

/// Runs `f(b, out_b)` over the `chunk`-sized pieces of `out`: in parallel when each product of `flops`
/// multiply-adds is too small for gemm to thread but the batch as a whole is worth threading.
fn for_each_batch(out: &mut [f32], chunk: usize, flops: usize, f: impl Fn(usize, &mut [f32]) + Send + Sync) {
    if chunk == 0 {
        return;
    }
    let batch = out.len() / chunk;
    if batch > 1 && flops < PARALLEL_MIN_FLOPS && batch.saturating_mul(flops) >= PARALLEL_MIN_FLOPS {
        out.par_chunks_mut(chunk).enumerate().for_each(|(b, o)| f(b, o));
    } else {
        out.chunks_mut(chunk).enumerate().for_each(|(b, o)| f(b, o));
    }
}

/// Fast batched matmul, same contract as `reference::matmul_forward`.
pub fn matmul_forward(d: &MatmulDims, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert_eq!(a.len(), d.a_len(), "matmul: a length");
    assert_eq!(b.len(), d.b_len(), "matmul: b length");
    assert_eq!(c.len(), d.c_len(), "matmul: c length");
    let (m, k, n) = (d.m, d.k, d.n);
    let (lda, ldb) = (d.lda(), d.ldb());
    if d.batch_b == 1 && !d.trans_a {
        // A's batches stack into one [batch·m, k] matrix against the shared B: one big product.
        sgemm(d.batch() * m, n, k, a, lda, false, b, ldb, d.trans_b, c, n, false);
        return;
    }
    for_each_batch(c, m * n, m * n * k, |bi, c_b| {
        let (a_b, b_b) = (&a[d.a_offset(bi)..], &b[d.b_offset(bi)..]);
        sgemm(m, n, k, a_b, lda, d.trans_a, b_b, ldb, d.trans_b, c_b, n, false);
    });
}

/// Fast batched matmul backward, same contract as `reference::matmul_backward` (gradients overwritten,
/// a broadcast operand's gradient summed over the batch).
pub fn matmul_backward(d: &MatmulDims, a: &[f32], b: &[f32], dc: &[f32], da: &mut [f32], db: &mut [f32]) {
    assert_eq!(a.len(), d.a_len(), "matmul: a length");
    assert_eq!(b.len(), d.b_len(), "matmul: b length");
    assert_eq!(dc.len(), d.c_len(), "matmul: dc length");
    assert_eq!(da.len(), d.a_len(), "matmul: da length");
    assert_eq!(db.len(), d.b_len(), "matmul: db length");
    let (m, k, n) = (d.m, d.k, d.n);
    let (lda, ldb) = (d.lda(), d.ldb());
    let batch = d.batch();
    let flops = m * n * k;
    // dop(A)[b] = dC[b] · op(B[b])ᵀ, stored as A is (transposed back when trans_a).
    let da_one = |bi: usize, da_b: &mut [f32], acc: bool| {
        let (b_b, dc_b) = (&b[d.b_offset(bi)..], &dc[bi * m * n..]);
        if d.trans_a {
            sgemm(k, m, n, b_b, ldb, d.trans_b, dc_b, n, true, da_b, m, acc);
        } else {
            sgemm(m, k, n, dc_b, n, false, b_b, ldb, !d.trans_b, da_b, k, acc);
        }
    };
    if d.batch_a == batch {
        if d.batch_b == 1 && !d.trans_a {
            sgemm(batch * m, k, n, dc, n, false, b, ldb, !d.trans_b, da, k, false);
        } else {
            for_each_batch(da, m * k, flops, |bi, da_b| da_one(bi, da_b, false));
        }
    } else {
        da.fill(0.0);
        (0..batch).for_each(|bi| da_one(bi, da, true));
    }
    // dop(B)[b] = op(A[b])ᵀ · dC[b], stored as B is (transposed back when trans_b).
    let db_one = |bi: usize, db_b: &mut [f32], acc: bool| {
        let (a_b, dc_b) = (&a[d.a_offset(bi)..], &dc[bi * m * n..]);
        if d.trans_b {
            sgemm(n, k, m, dc_b, n, true, a_b, lda, d.trans_a, db_b, k, acc);
        } else {
            sgemm(k, n, m, a_b, lda, !d.trans_a, dc_b, n, false, db_b, n, acc);
        }
    };
    if d.batch_b == batch {
        for_each_batch(db, k * n, flops, |bi, db_b| db_one(bi, db_b, false));
    } else if !d.trans_a {
        // Shared B: contract over the stacked [batch·m] rows of A and dC in one product.
        if d.trans_b {
            sgemm(n, k, batch * m, dc, n, true, a, k, false, db, k, false);
        } else {
            sgemm(k, n, batch * m, a, k, true, dc, n, false, db, n, false);
        }
    } else {
        db.fill(0.0);
        (0..batch).for_each(|bi| db_one(bi, db, true));
    }
}

impl MatmulKernel for CpuBackend {
    fn matmul(&self, d: &MatmulDims, a: &Storage, b: &Storage) -> Result<Storage> {
        let mut c = buf(d.batch_a.max(d.batch_b) * d.m * d.n);
        matmul_forward(d, host(a)?, host(b)?, &mut c);
        Ok(out(c))
    }

    fn matmul_backward(&self, d: &MatmulDims, a: &Storage, b: &Storage, dc: &Storage) -> Result<Pair> {
        let mut da = buf(a.len());
        let mut db = buf(b.len());
        matmul_backward(d, host(a)?, host(b)?, host(dc)?, &mut da, &mut db);
        Ok((out(da), out(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, poisoned, Rng};

    fn naive(m: usize, n: usize, k: usize, a: &[f32], ta: bool, b: &[f32], tb: bool) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    let av = if ta { a[p * m + i] } else { a[i * k + p] };
                    let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                    s += av as f64 * bv as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn sgemm_all_transposes_match_naive() {
        let mut rng = Rng::new(1);
        for &(m, n, k) in &[(1, 1, 1), (3, 5, 7), (64, 33, 129), (70, 90, 40)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = rng.vec32(m * k);
                    let b = rng.vec32(k * n);
                    let mut c = poisoned(m * n);
                    let lda = if ta { m } else { k };
                    let ldb = if tb { k } else { n };
                    sgemm(m, n, k, &a, lda, ta, &b, ldb, tb, &mut c, n, false);
                    assert_close("sgemm", &c, &naive(m, n, k, &a, ta, &b, tb), 1e-5);
                    let mut c2 = c.clone();
                    sgemm(m, n, k, &a, lda, ta, &b, ldb, tb, &mut c2, n, true);
                    let twice: Vec<f32> = c.iter().map(|x| 2.0 * x).collect();
                    assert_close("sgemm accumulate", &c2, &twice, 1e-5);
                }
            }
        }
    }
}
