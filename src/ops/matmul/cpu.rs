//! Fast CPU matmul: the `gemm` crate's packed, vectorised kernels (~100 GFLOP/s on 2 cores here) behind a
//! BLAS-shaped, bounds-checked entry point that every CPU kernel family uses for its dense products.

use gemm::Parallelism;

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
