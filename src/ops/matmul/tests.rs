//! Batched matmul: fast CPU vs reference (forward and backward, every transpose and broadcast), and a
//! finite-difference check of the reference backward in f64.

use super::{cpu, reference, MatmulDims};
use crate::ops::testing::{assert_close, close, cpu_backend, devices, gradcheck, host, poisoned, to64, tol, up, Rng};

const BATCHES: [(usize, usize); 5] = [(1, 1), (3, 3), (1, 3), (3, 1), (1, 5)];

fn all_dims(shapes: &[(usize, usize, usize)]) -> Vec<MatmulDims> {
    let mut out = Vec::new();
    for &(batch_a, batch_b) in &BATCHES {
        for &(m, k, n) in shapes {
            for trans_a in [false, true] {
                for trans_b in [false, true] {
                    out.push(MatmulDims { batch_a, batch_b, m, k, n, trans_a, trans_b });
                }
            }
        }
    }
    out
}

#[test]
fn forward_cpu_matches_reference() {
    let mut rng = Rng::new(11);
    for d in all_dims(&[(1, 1, 1), (5, 7, 3), (1, 9, 4), (33, 17, 65), (70, 40, 90)]) {
        let a = rng.vec32(d.a_len());
        let b = rng.vec32(d.b_len());
        let mut want = poisoned(d.c_len());
        reference::matmul_forward(&d, &a, &b, &mut want);
        let mut got = poisoned(d.c_len());
        cpu::matmul_forward(&d, &a, &b, &mut got);
        assert_close(&format!("matmul forward {d:?}"), &got, &want, 1e-5);
    }
}

#[test]
fn backward_cpu_matches_reference() {
    let mut rng = Rng::new(12);
    for d in all_dims(&[(1, 1, 1), (5, 7, 3), (4, 1, 6), (33, 17, 65), (70, 40, 90)]) {
        let a = rng.vec32(d.a_len());
        let b = rng.vec32(d.b_len());
        let dc = rng.vec32(d.c_len());
        let (mut da_want, mut db_want) = (poisoned(d.a_len()), poisoned(d.b_len()));
        reference::matmul_backward(&d, &a, &b, &dc, &mut da_want, &mut db_want);
        let (mut da, mut db) = (poisoned(d.a_len()), poisoned(d.b_len()));
        cpu::matmul_backward(&d, &a, &b, &dc, &mut da, &mut db);
        assert_close(&format!("matmul da {d:?}"), &da, &da_want, 1e-5);
        assert_close(&format!("matmul db {d:?}"), &db, &db_want, 1e-5);
    }
}

#[test]
fn many_small_batches_run_in_parallel_and_match() {
    // 64 products of 16x16x16: below gemm's threading threshold each, above it together.
    let mut rng = Rng::new(13);
    for (batch_a, batch_b, trans_a) in [(64, 64, false), (64, 1, true), (1, 64, false)] {
        let d = MatmulDims { batch_a, batch_b, m: 16, k: 16, n: 16, trans_a, trans_b: true };
        let a = rng.vec32(d.a_len());
        let b = rng.vec32(d.b_len());
        let dc = rng.vec32(d.c_len());
        let (mut want, mut got) = (poisoned(d.c_len()), poisoned(d.c_len()));
        reference::matmul_forward(&d, &a, &b, &mut want);
        cpu::matmul_forward(&d, &a, &b, &mut got);
        assert_close("matmul forward, many batches", &got, &want, 1e-5);
        let (mut da_want, mut db_want) = (poisoned(d.a_len()), poisoned(d.b_len()));
        reference::matmul_backward(&d, &a, &b, &dc, &mut da_want, &mut db_want);
        let (mut da, mut db) = (poisoned(d.a_len()), poisoned(d.b_len()));
        cpu::matmul_backward(&d, &a, &b, &dc, &mut da, &mut db);
        assert_close("matmul da, many batches", &da, &da_want, 1e-5);
        assert_close("matmul db, many batches", &db, &db_want, 1e-5);
    }
}

#[test]
fn empty_inner_dimension_gives_zeros() {
    let d = MatmulDims { batch_a: 2, batch_b: 1, m: 3, k: 0, n: 4, trans_a: false, trans_b: false };
    let mut c = poisoned(d.c_len());
    cpu::matmul_forward(&d, &[], &[], &mut c);
    assert!(c.iter().all(|&x| x == 0.0));
    let d = MatmulDims { n: 0, k: 2, ..d };
    let mut rng = Rng::new(14);
    let (a, b) = (rng.vec32(d.a_len()), rng.vec32(d.b_len()));
    let mut da = poisoned(d.a_len());
    cpu::matmul_backward(&d, &a, &b, &[], &mut da, &mut []);
    assert!(da.iter().all(|&x| x == 0.0));
}

#[test]
fn reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(15);
    for d in all_dims(&[(1, 1, 1), (3, 4, 2)]) {
        let a = rng.vec64(d.a_len());
        let b = rng.vec64(d.b_len());
        let dc = rng.vec64(d.c_len());
        let (mut da, mut db) = (vec![f64::NAN; d.a_len()], vec![f64::NAN; d.b_len()]);
        reference::matmul_backward(&d, &a, &b, &dc, &mut da, &mut db);
        gradcheck(&format!("matmul {d:?}"), &[a, b], &dc, &[da, db], |xs| {
            let mut c = vec![0.0; d.c_len()];
            reference::matmul_forward(&d, &xs[0], &xs[1], &mut c);
            c
        });
    }
}

#[test]
fn reference_f32_agrees_with_f64() {
    let mut rng = Rng::new(16);
    let d = MatmulDims { batch_a: 2, batch_b: 1, m: 5, k: 6, n: 7, trans_a: true, trans_b: false };
    let (a, b) = (rng.vec32(d.a_len()), rng.vec32(d.b_len()));
    let mut c32 = poisoned(d.c_len());
    reference::matmul_forward(&d, &a, &b, &mut c32);
    let mut c64 = vec![f64::NAN; d.c_len()];
    reference::matmul_forward(&d, &to64(&a), &to64(&b), &mut c64);
    let c64: Vec<f32> = c64.iter().map(|&x| x as f32).collect();
    assert_close("matmul f32 vs f64", &c32, &c64, 1e-6);
}

/// Every device against the CPU backend: every transpose and broadcast combination, forward and backward.
#[test]
fn forward_and_backward_match_cpu_on_every_device() {
    let mut rng = Rng::new(40);
    for be in devices("matmul forward_and_backward_match_cpu_on_every_device") {
        let c = cpu_backend();
        let t = tol(be, 1e-4, 1e-5);
        for d in all_dims(&[(1, 1, 1), (5, 7, 3), (4, 1, 6), (33, 17, 65), (70, 40, 90)]) {
            let (a, b, dc) = (rng.vec32(d.a_len()), rng.vec32(d.b_len()), rng.vec32(d.c_len()));
            let ((ac, ag), (bc, bg)) = ((up(c, &a), up(be, &a)), (up(c, &b), up(be, &b)));
            close(&format!("matmul {d:?}"), &be.matmul(&d, &ag, &bg).unwrap(), &c.matmul(&d, &ac, &bc).unwrap(), t);
            let (da_c, db_c) = c.matmul_backward(&d, &ac, &bc, &up(c, &dc)).unwrap();
            let (da_g, db_g) = be.matmul_backward(&d, &ag, &bg, &up(be, &dc)).unwrap();
            close(&format!("matmul da {d:?}"), &da_g, &da_c, t);
            close(&format!("matmul db {d:?}"), &db_g, &db_c, t);
        }
    }
}

#[test]
fn larger_product_spans_several_tiles_on_every_device() {
    let mut rng = Rng::new(41);
    for be in devices("matmul larger_product_spans_several_tiles_on_every_device") {
        let c = cpu_backend();
        let d = MatmulDims { batch_a: 2, batch_b: 1, m: 130, k: 200, n: 129, trans_a: false, trans_b: true };
        let (a, b) = (rng.vec32(d.a_len()), rng.vec32(d.b_len()));
        let want = c.matmul(&d, &up(c, &a), &up(c, &b)).unwrap();
        close("matmul 130x200x129", &be.matmul(&d, &up(be, &a), &up(be, &b)).unwrap(), &want, 1e-4);
    }
}

#[test]
fn empty_inner_dimension_gives_zeros_on_every_device() {
    for be in devices("matmul empty_inner_dimension_gives_zeros_on_every_device") {
        let d = MatmulDims { batch_a: 2, batch_b: 1, m: 3, k: 0, n: 4, trans_a: false, trans_b: false };
        let c = host(&be.matmul(&d, &up(be, &[]), &up(be, &[])).unwrap());
        assert_eq!(c, vec![0.0; 24], "on {}", be.device());
    }
}
