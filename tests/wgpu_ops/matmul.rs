//! Batched matmul with every transpose and broadcast combination, forward and backward (relative 1e-4).

use crate::common::{both, close, cpu, gpu, Rng};
use tickgrad::ops::matmul::MatmulDims;

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
fn forward_and_backward_match_cpu() {
    let mut rng = Rng::new(40);
    for d in all_dims(&[(1, 1, 1), (5, 7, 3), (4, 1, 6), (33, 17, 65), (70, 40, 90)]) {
        let ((ac, ag), (bc, bg)) = (both(&rng.vec(d.a_len())), both(&rng.vec(d.b_len())));
        let c = cpu().matmul(&d, &ac, &bc).unwrap();
        close(&format!("matmul {d:?}"), &gpu().matmul(&d, &ag, &bg).unwrap(), &c, 1e-4);
        let (dc, dg) = both(&rng.vec(d.c_len()));
        let (da_c, db_c) = cpu().matmul_backward(&d, &ac, &bc, &dc).unwrap();
        let (da_g, db_g) = gpu().matmul_backward(&d, &ag, &bg, &dg).unwrap();
        close(&format!("matmul da {d:?}"), &da_g, &da_c, 1e-4);
        close(&format!("matmul db {d:?}"), &db_g, &db_c, 1e-4);
    }
}

#[test]
fn larger_product_spans_several_tiles() {
    let mut rng = Rng::new(41);
    let d = MatmulDims { batch_a: 2, batch_b: 1, m: 130, k: 200, n: 129, trans_a: false, trans_b: true };
    let ((ac, ag), (bc, bg)) = (both(&rng.vec(d.a_len())), both(&rng.vec(d.b_len())));
    close("matmul 130x200x129", &gpu().matmul(&d, &ag, &bg).unwrap(), &cpu().matmul(&d, &ac, &bc).unwrap(), 1e-4);
}

#[test]
fn empty_inner_dimension_gives_zeros() {
    let d = MatmulDims { batch_a: 2, batch_b: 1, m: 3, k: 0, n: 4, trans_a: false, trans_b: false };
    let ((_, ag), (_, bg)) = (both(&[]), both(&[]));
    let c = crate::common::host(&gpu().matmul(&d, &ag, &bg).unwrap());
    assert_eq!(c, vec![0.0; 24]);
}
