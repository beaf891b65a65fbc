//! Unary maps, scale_shift and broadcasting binary ops, forward and backward (relative 1e-5; 1e-4 for the
//! broadcast gradients, which are reductions).

use crate::common::{both, close, cpu, gpu, Rng};
use tickgrad::ops::elementwise::{BinaryOp, BroadcastDims, Unary};

fn input(rng: &mut Rng, op: Unary, n: usize) -> Vec<f32> {
    match op {
        Unary::Log | Unary::Sqrt => rng.range(n, 0.1, 2.0),
        // wide enough for every erfc branch of GELU and the exp branch of tanh
        Unary::Gelu | Unary::Tanh | Unary::Sigmoid => rng.range(n, -7.0, 7.0),
        _ => rng.vec(n),
    }
}

#[test]
fn unary_forward_and_backward_match_cpu() {
    let mut rng = Rng::new(20);
    for op in Unary::ALL {
        for n in [1, 257, 5000] {
            let x = input(&mut rng, op, n);
            let (xc, xg) = both(&x);
            let yc = cpu().unary(op, &xc).unwrap();
            let yg = gpu().unary(op, &xg).unwrap();
            close(&format!("{op:?} forward n={n}"), &yg, &yc, 1e-5);
            let (dc, dg) = both(&rng.vec(n));
            let want = cpu().unary_backward(op, &xc, &yc, &dc).unwrap();
            let got = gpu().unary_backward(op, &xg, &yg, &dg).unwrap();
            close(&format!("{op:?} backward n={n}"), &got, &want, 1e-5);
        }
    }
}

#[test]
fn gelu_small_arguments_keep_relative_accuracy() {
    // Near 0 GELU is ~x/2: a poor erf would show up as a large relative error on tiny values.
    let x: Vec<f32> = (1..200).map(|i| (i as f32 - 100.0) * 1e-3).collect();
    let (xc, xg) = both(&x);
    close("gelu near 0", &gpu().unary(Unary::Gelu, &xg).unwrap(), &cpu().unary(Unary::Gelu, &xc).unwrap(), 1e-6);
    close("tanh near 0", &gpu().unary(Unary::Tanh, &xg).unwrap(), &cpu().unary(Unary::Tanh, &xc).unwrap(), 1e-6);
}

#[test]
fn scale_shift_matches_cpu() {
    let mut rng = Rng::new(21);
    let (xc, xg) = both(&rng.vec(1000));
    close(
        "scale_shift",
        &gpu().scale_shift(&xg, -1.7, 0.3).unwrap(),
        &cpu().scale_shift(&xc, -1.7, 0.3).unwrap(),
        1e-6,
    );
}

const SHAPES: [(&[usize], &[usize]); 9] = [
    (&[5], &[5]),
    (&[3, 4], &[3, 4]),
    (&[3, 4], &[4]),
    (&[3, 4], &[3, 1]),
    (&[1], &[6, 7]),
    (&[2, 1, 5], &[1, 3, 1]),
    (&[4, 3, 2, 5], &[3, 1, 5]),
    (&[70, 33], &[33]),
    (&[2, 3, 1, 2, 1, 3, 2], &[1, 3, 4, 1, 2, 1, 2]),
];

#[test]
fn binary_forward_and_backward_match_cpu() {
    let mut rng = Rng::new(22);
    for op in BinaryOp::ALL {
        for (sa, sb) in SHAPES {
            let d = BroadcastDims::new(sa, sb).unwrap();
            let a = rng.vec(d.a_len());
            // keep divisors away from 0
            let b = if op == BinaryOp::Div { rng.range(d.b_len(), 0.5, 2.0) } else { rng.vec(d.b_len()) };
            let ((ac, ag), (bc, bg)) = (both(&a), both(&b));
            let what = format!("{op:?} {sa:?} ∘ {sb:?}");
            let yc = cpu().binary(&d, op, &ac, &bc).unwrap();
            let yg = gpu().binary(&d, op, &ag, &bg).unwrap();
            close(&format!("{what} forward"), &yg, &yc, 1e-6);
            let (dc, dg) = both(&rng.vec(d.out_len()));
            let (da_c, db_c) = cpu().binary_backward(&d, op, &ac, &bc, &dc).unwrap();
            let (da_g, db_g) = gpu().binary_backward(&d, op, &ag, &bg, &dg).unwrap();
            close(&format!("{what} da"), &da_g, &da_c, 1e-5);
            close(&format!("{what} db"), &db_g, &db_c, 1e-5);
        }
    }
}

#[test]
fn max_min_ties_split_the_gradient() {
    let d = BroadcastDims::new(&[4], &[4]).unwrap();
    let a = [1.0, 2.0, 3.0, -1.0];
    let b = [1.0, 5.0, 3.0, -2.0];
    let ((ac, ag), (bc, bg), (gc, gg)) = (both(&a), both(&b), both(&[1.0, 1.0, 1.0, 1.0]));
    for op in [BinaryOp::Max, BinaryOp::Min] {
        let (da_c, db_c) = cpu().binary_backward(&d, op, &ac, &bc, &gc).unwrap();
        let (da_g, db_g) = gpu().binary_backward(&d, op, &ag, &bg, &gg).unwrap();
        crate::common::same(&format!("{op:?} ties da"), &da_g, &da_c);
        crate::common::same(&format!("{op:?} ties db"), &db_g, &db_c);
    }
}
