//! Every op of the backend contract on `Device::Cuda(0)` against the CPU backend (which src/ops/*/tests.rs check
//! against the plain-loop references and finite differences). Without a CUDA device each test prints why it is
//! skipped and passes; on a GPU machine (or the CPU emulation of tools/cuda-sim) they run for real. Device
//! buffers are NaN-poisoned when allocated in debug/test builds, so an unwritten element fails the comparison.
#![cfg(feature = "cuda")]

mod cuda_common;

use cuda_common::{close, cpu, cuda, down, up, Rng};
use tickgrad::ops::elementwise::{BinaryOp, BroadcastDims, Unary};
use tickgrad::ops::layout::NarrowDims;
use tickgrad::ops::matmul::cuda::{has_tensor_cores, matmul_half, matmul_half_with, to_half, HalfKind};
use tickgrad::ops::matmul::MatmulDims;
use tickgrad::ops::norm::{BatchNormDims, BatchNormParams, BatchNormStats, LayerNormDims};
use tickgrad::ops::reduce::ReduceDims;
use tickgrad::ops::softmax::SoftmaxDims;

#[test]
fn layout_permute_narrow_unnarrow_concat() {
    let Some(g) = cuda("layout") else { return };
    let c = cpu();
    let mut rng = Rng::new(1);
    let shape = [3, 5, 4, 6];
    let x = rng.vec(shape.iter().product());
    for perm in [[0, 1, 2, 3], [0, 2, 1, 3], [3, 2, 1, 0], [1, 3, 0, 2]] {
        let (xg, xc) = (up(g, &x), up(c, &x));
        close(
            &format!("permute {perm:?}"),
            g,
            &g.permute(&xg, &shape, &perm).unwrap(),
            c,
            &c.permute(&xc, &shape, &perm).unwrap(),
            0.0,
        );
    }
    let (xg, xc) = (up(g, &x), up(c, &x));
    let (outer, axis, inner) = (15, 4, 6);
    close(
        "narrow",
        g,
        &g.narrow(&xg, &NarrowDims { outer, axis, inner, start: 1, len: 2 }).unwrap(),
        c,
        &c.narrow(&xc, &NarrowDims { outer, axis, inner, start: 1, len: 2 }).unwrap(),
        0.0,
    );
    let part = rng.vec(outer * 2 * inner);
    close(
        "unnarrow",
        g,
        &g.unnarrow(&up(g, &part), &NarrowDims { outer, axis, inner, start: 2, len: 2 }).unwrap(),
        c,
        &c.unnarrow(&up(c, &part), &NarrowDims { outer, axis, inner, start: 2, len: 2 }).unwrap(),
        0.0,
    );
    let (a, b) = (rng.vec(7 * 3 * 5), rng.vec(7 * 2 * 5));
    let gparts = [up(g, &a), up(g, &b)];
    let cparts = [up(c, &a), up(c, &b)];
    close(
        "concat",
        g,
        &g.concat(&[&gparts[0], &gparts[1]], 7, &[3, 2], 5).unwrap(),
        c,
        &c.concat(&[&cparts[0], &cparts[1]], 7, &[3, 2], 5).unwrap(),
        0.0,
    );
}

#[test]
fn matmul_forward_and_backward_every_layout() {
    let Some(g) = cuda("matmul") else { return };
    let c = cpu();
    let mut rng = Rng::new(2);
    for (batch_a, batch_b) in [(1, 1), (3, 3), (1, 3), (3, 1)] {
        for (m, k, n) in [(1, 1, 1), (5, 7, 3), (70, 40, 90)] {
            for trans_a in [false, true] {
                for trans_b in [false, true] {
                    let d = MatmulDims { batch_a, batch_b, m, k, n, trans_a, trans_b };
                    let (a, b) = (rng.vec(d.a_len()), rng.vec(d.b_len()));
                    let dc = rng.vec(batch_a.max(batch_b) * m * n);
                    let (ag, bg, ac, bc) = (up(g, &a), up(g, &b), up(c, &a), up(c, &b));
                    close(
                        &format!("matmul {d:?}"),
                        g,
                        &g.matmul(&d, &ag, &bg).unwrap(),
                        c,
                        &c.matmul(&d, &ac, &bc).unwrap(),
                        1e-5,
                    );
                    let (dag, dbg) = g.matmul_backward(&d, &ag, &bg, &up(g, &dc)).unwrap();
                    let (dac, dbc) = c.matmul_backward(&d, &ac, &bc, &up(c, &dc)).unwrap();
                    close(&format!("matmul da {d:?}"), g, &dag, c, &dac, 1e-5);
                    close(&format!("matmul db {d:?}"), g, &dbg, c, &dbc, 1e-5);
                }
            }
        }
    }
}

#[test]
fn matmul_half_precision_inference_within_rounding() {
    let Some(g) = cuda("matmul_half") else { return };
    let c = cpu();
    let be = tickgrad::backend::cuda::backend(0).unwrap();
    let mut rng = Rng::new(3);
    for (kind, tol) in [(HalfKind::F16, 2e-3), (HalfKind::Bf16, 1.5e-2)] {
        for trans_b in [false, true] {
            let d = MatmulDims { batch_a: 2, batch_b: 1, m: 33, k: 72, n: 70, trans_a: false, trans_b };
            let (a, b) = (rng.vec(d.a_len()), rng.vec(d.b_len()));
            let (ha, hb) = (to_half(be, &up(g, &a), kind).unwrap(), to_half(be, &up(g, &b), kind).unwrap());
            let want = c.matmul(&d, &up(c, &a), &up(c, &b)).unwrap();
            let got = matmul_half(be, &d, &ha, &hb).unwrap();
            close(&format!("matmul {kind:?} {d:?}"), g, &got, c, &want, tol);
            let simt = matmul_half_with(be, &d, &ha, &hb, false).unwrap();
            close(&format!("matmul {kind:?} SIMT {d:?}"), g, &simt, c, &want, tol);
            if has_tensor_cores(be, kind) {
                let wmma = matmul_half_with(be, &d, &ha, &hb, true).unwrap();
                close(&format!("matmul {kind:?} tensor cores {d:?}"), g, &wmma, c, &want, tol);
            }
        }
    }
}

#[test]
fn layer_norm_forward_backward() {
    let Some(g) = cuda("layer_norm") else { return };
    let c = cpu();
    let mut rng = Rng::new(4);
    for (rows, cols) in [(1, 7), (37, 64), (5, 300)] {
        let d = LayerNormDims { rows, cols, eps: 1e-5 };
        let (x, ga, be_, dy) = (rng.vec(rows * cols), rng.vec(cols), rng.vec(cols), rng.vec(rows * cols));
        let (yg, mg, rg) = g.layer_norm(&d, &up(g, &x), &up(g, &ga), &up(g, &be_)).unwrap();
        let (yc, mc, rc) = c.layer_norm(&d, &up(c, &x), &up(c, &ga), &up(c, &be_)).unwrap();
        close("layer_norm y", g, &yg, c, &yc, 1e-5);
        close("layer_norm mean", g, &mg, c, &mc, 1e-5);
        close("layer_norm rstd", g, &rg, c, &rc, 1e-5);
        let bg = g.layer_norm_backward(&d, &up(g, &x), &up(g, &ga), &mg, &rg, &up(g, &dy)).unwrap();
        let bc = c.layer_norm_backward(&d, &up(c, &x), &up(c, &ga), &mc, &rc, &up(c, &dy)).unwrap();
        close("layer_norm dx", g, &bg.0, c, &bc.0, 1e-5);
        close("layer_norm dgamma", g, &bg.1, c, &bc.1, 1e-5);
        close("layer_norm dbeta", g, &bg.2, c, &bc.2, 1e-5);
    }
}

#[test]
fn batch_norm_train_eval_backward() {
    let Some(g) = cuda("batch_norm") else { return };
    let c = cpu();
    let mut rng = Rng::new(5);
    for (n, ch, l) in [(4, 3, 1), (3, 5, 17)] {
        let d = BatchNormDims { n, c: ch, l, eps: 1e-5 };
        let x = rng.vec(d.len());
        let (ga, be_, rm, dy) = (rng.vec(ch), rng.vec(ch), rng.vec(ch), rng.vec(d.len()));
        let rv = rng.vec_in(ch, 0.5, 2.0);
        let og = g.batch_norm_train(&d, &up(g, &x), &bn_params(g, [&ga, &be_, &rm, &rv]).params(), 0.1).unwrap();
        let oc = c.batch_norm_train(&d, &up(c, &x), &bn_params(c, [&ga, &be_, &rm, &rv]).params(), 0.1).unwrap();
        for (what, a, b) in [
            ("y", &og.0, &oc.0),
            ("mean", &og.1, &oc.1),
            ("rstd", &og.2, &oc.2),
            ("rm", &og.3, &oc.3),
            ("rv", &og.4, &oc.4),
        ] {
            close(&format!("batch_norm train {what}"), g, a, c, b, 1e-5);
        }
        let eg = g.batch_norm_eval(&d, &up(g, &x), &bn_params(g, [&ga, &be_, &rm, &rv]).params()).unwrap();
        let ec = c.batch_norm_eval(&d, &up(c, &x), &bn_params(c, [&ga, &be_, &rm, &rv]).params()).unwrap();
        close("batch_norm eval", g, &eg, c, &ec, 1e-5);
        for train in [true, false] {
            let (sa_g, sb_g, sa_c, sb_c) = if train {
                (og.1.clone(), og.2.clone(), oc.1.clone(), oc.2.clone())
            } else {
                (up(g, &rm), up(g, &rv), up(c, &rm), up(c, &rv))
            };
            let bg = g
                .batch_norm_backward(
                    &d,
                    &BatchNormStats { train, a: &sa_g, b: &sb_g },
                    &up(g, &x),
                    &up(g, &ga),
                    &up(g, &dy),
                )
                .unwrap();
            let bc = c
                .batch_norm_backward(
                    &d,
                    &BatchNormStats { train, a: &sa_c, b: &sb_c },
                    &up(c, &x),
                    &up(c, &ga),
                    &up(c, &dy),
                )
                .unwrap();
            close(&format!("batch_norm dx train={train}"), g, &bg.0, c, &bc.0, 1e-5);
            close(&format!("batch_norm dgamma train={train}"), g, &bg.1, c, &bc.1, 1e-5);
            close(&format!("batch_norm dbeta train={train}"), g, &bg.2, c, &bc.2, 1e-5);
        }
    }
    // One value per channel cannot be trained on: an error, not a panic.
    let d = BatchNormDims { n: 1, c: 2, l: 1, eps: 1e-5 };
    let v = [1.0f32, 2.0];
    assert!(g.batch_norm_train(&d, &up(g, &v), &bn_params(g, [&v, &v, &v, &v]).params(), 0.1).is_err());
}

#[test]
fn softmax_and_log_softmax() {
    let Some(g) = cuda("softmax") else { return };
    let c = cpu();
    let mut rng = Rng::new(6);
    for (rows, cols) in [(1, 1), (9, 5), (4, 700)] {
        let d = SoftmaxDims { rows, cols };
        let x: Vec<f32> = rng.vec(d.len()).iter().map(|v| v * 8.0).collect();
        let dy = rng.vec(d.len());
        for log in [false, true] {
            let yg = g.softmax(&d, &up(g, &x), log).unwrap();
            let yc = c.softmax(&d, &up(c, &x), log).unwrap();
            close(&format!("softmax log={log} {d:?}"), g, &yg, c, &yc, 1e-5);
            let dg = g.softmax_backward(&d, &yg, &up(g, &dy), log).unwrap();
            let dc = c.softmax_backward(&d, &yc, &up(c, &dy), log).unwrap();
            close(&format!("softmax backward log={log} {d:?}"), g, &dg, c, &dc, 1e-5);
        }
    }
}

#[test]
fn unary_ops_and_scale_shift() {
    let Some(g) = cuda("unary") else { return };
    let c = cpu();
    let mut rng = Rng::new(7);
    for op in Unary::ALL {
        let positive = matches!(op, Unary::Log | Unary::Sqrt);
        let x = if positive { rng.vec_in(1000, 0.1, 3.0) } else { rng.vec(1000).iter().map(|v| v * 3.0).collect() };
        let dy = rng.vec(1000);
        let yg = g.unary(op, &up(g, &x)).unwrap();
        let yc = c.unary(op, &up(c, &x)).unwrap();
        close(&format!("{op:?}"), g, &yg, c, &yc, 2e-6);
        let dg = g.unary_backward(op, &up(g, &x), &yg, &up(g, &dy)).unwrap();
        let dc = c.unary_backward(op, &up(c, &x), &yc, &up(c, &dy)).unwrap();
        close(&format!("{op:?} backward"), g, &dg, c, &dc, 2e-6);
    }
    let x = rng.vec(300);
    close(
        "scale_shift",
        g,
        &g.scale_shift(&up(g, &x), 1.5, -0.25).unwrap(),
        c,
        &c.scale_shift(&up(c, &x), 1.5, -0.25).unwrap(),
        0.0,
    );
}

#[test]
fn binary_ops_with_broadcasting() {
    let Some(g) = cuda("binary") else { return };
    let c = cpu();
    let mut rng = Rng::new(8);
    let shapes: [(&[usize], &[usize]); 6] = [
        (&[4, 5, 6], &[4, 5, 6]),
        (&[4, 5, 6], &[6]),
        (&[4, 1, 6], &[1, 5, 1]),
        (&[300, 3], &[3]),
        (&[2, 3, 4], &[2, 1, 4]),
        (&[1], &[7, 2]),
    ];
    for (sa, sb) in shapes {
        let d = BroadcastDims::new(sa, sb).unwrap();
        for op in BinaryOp::ALL {
            let a = rng.vec(d.a_len());
            // Away from zero for Div; a few exact ties with a for Max/Min.
            let mut b: Vec<f32> = rng.vec(d.b_len()).iter().map(|v| if v.abs() < 0.2 { 0.7 } else { *v }).collect();
            if d.a_len() == d.b_len() {
                b[0] = a[0];
            }
            let dy = rng.vec(d.out_len());
            let (ag, bg, ac, bc) = (up(g, &a), up(g, &b), up(c, &a), up(c, &b));
            close(
                &format!("{op:?} {sa:?} {sb:?}"),
                g,
                &g.binary(&d, op, &ag, &bg).unwrap(),
                c,
                &c.binary(&d, op, &ac, &bc).unwrap(),
                1e-6,
            );
            let (dag, dbg) = g.binary_backward(&d, op, &ag, &bg, &up(g, &dy)).unwrap();
            let (dac, dbc) = c.binary_backward(&d, op, &ac, &bc, &up(c, &dy)).unwrap();
            close(&format!("{op:?} da {sa:?} {sb:?}"), g, &dag, c, &dac, 1e-5);
            close(&format!("{op:?} db {sa:?} {sb:?}"), g, &dbg, c, &dbc, 1e-5);
        }
    }
}

#[test]
fn reductions_sum_mean_max() {
    let Some(g) = cuda("reduce") else { return };
    let c = cpu();
    let mut rng = Rng::new(9);
    for (outer, axis, inner) in [(1, 1, 1), (6, 700, 1), (3, 50, 7), (1, 5, 200)] {
        let d = ReduceDims { outer, axis, inner };
        let mut x = rng.vec(d.in_len());
        let dy = rng.vec(d.out_len());
        for mean in [false, true] {
            close(
                &format!("sum mean={mean} {d:?}"),
                g,
                &g.sum(&d, &up(g, &x), mean).unwrap(),
                c,
                &c.sum(&d, &up(c, &x), mean).unwrap(),
                1e-6,
            );
            let sg = g.sum_backward(&d, &up(g, &dy), mean).unwrap();
            close(
                &format!("sum backward mean={mean}"),
                g,
                &sg,
                c,
                &c.sum_backward(&d, &up(c, &dy), mean).unwrap(),
                1e-6,
            );
        }
        // Ties (first index wins) and a NaN (wins and propagates) in the first output.
        if axis > 2 {
            x[2 * inner] = x[inner].max(x[0]) + 1.0;
            x[3 * inner] = x[2 * inner];
        }
        if axis > 4 && outer > 1 {
            x[d.axis * d.inner + 4 * inner] = f32::NAN;
        }
        let (yg, ig) = g.max(&d, &up(g, &x)).unwrap();
        let (yc, ic) = c.max(&d, &up(c, &x)).unwrap();
        // Exact, and NaN only where the planted NaN propagates (`close` counts every NaN as a mismatch).
        let (vg, vc) = (down(g, &yg), down(c, &yc));
        let planted = usize::from(axis > 4 && outer > 1);
        assert_eq!(vc.iter().filter(|v| v.is_nan()).count(), planted, "max {d:?}: NaNs on the CPU");
        assert!(vg.iter().zip(&vc).all(|(a, b)| a == b || (a.is_nan() && b.is_nan())), "max {d:?}: {vg:?} vs {vc:?}");
        assert_eq!(down(g, &ig), down(c, &ic), "max indices {d:?}");
        close(
            &format!("max backward {d:?}"),
            g,
            &g.max_backward(&d, &ig, &up(g, &dy)).unwrap(),
            c,
            &c.max_backward(&d, &ic, &up(c, &dy)).unwrap(),
            0.0,
        );
    }
}

#[test]
fn dropout_masks_are_bit_identical() {
    let Some(g) = cuda("dropout") else { return };
    let c = cpu();
    let mut rng = Rng::new(10);
    let x = rng.vec(5000);
    for (p, seed) in [(0.0f32, 1u64), (0.1, 1234567), (0.5, u64::MAX), (0.9, 42)] {
        let yg = down(g, &g.dropout(&up(g, &x), p, seed).unwrap());
        let yc = down(c, &c.dropout(&up(c, &x), p, seed).unwrap());
        assert!(yg.iter().zip(&yc).all(|(a, b)| a.to_bits() == b.to_bits()), "dropout p={p} seed={seed}");
        let dg = down(g, &g.dropout_backward(&up(g, &x), p, seed).unwrap());
        let dc = down(c, &c.dropout_backward(&up(c, &x), p, seed).unwrap());
        assert!(dg.iter().zip(&dc).all(|(a, b)| a.to_bits() == b.to_bits()), "dropout backward p={p} seed={seed}");
    }
    assert!(g.dropout(&up(g, &x), 1.0, 1).is_err(), "p = 1 is an error, not a division by zero");
}

#[test]
fn wrong_inputs_are_errors_not_panics() {
    let Some(g) = cuda("errors") else { return };
    let c = cpu();
    let d = MatmulDims { batch_a: 1, batch_b: 1, m: 2, k: 3, n: 4, trans_a: false, trans_b: false };
    let (a, b) = (vec![0.5f32; 6], vec![0.5f32; 12]);
    // A host buffer handed to the CUDA backend names the device it lives on.
    let err = g.matmul(&d, &up(c, &a), &up(g, &b)).unwrap_err().to_string();
    assert!(err.contains("cpu") && err.contains("to_device"), "{err}");
    // A buffer of the wrong length is a shape error naming the input, before any kernel runs.
    let err = g.matmul(&d, &up(g, &a[..5]), &up(g, &b)).unwrap_err().to_string();
    assert!(err.contains("kernel input a") && err.contains('6') && err.contains('5'), "{err}");
    let bad = MatmulDims { batch_a: 2, batch_b: 3, ..d };
    assert!(g.matmul(&bad, &up(g, &[0.5; 12]), &up(g, &[0.5; 36])).is_err(), "batches 2 and 3 do not broadcast");
    // Reducing an empty axis to a maximum has no answer.
    let empty = ReduceDims { outer: 2, axis: 0, inner: 1 };
    assert!(g.max(&empty, &up(g, &[])).is_err());
    // Empty tensors are fine.
    let z = g.unary(Unary::Relu, &up(g, &[])).unwrap();
    assert_eq!(down(g, &z), Vec::<f32>::new());
}

/// The four per-channel tensors of a batch norm, uploaded to one device.
struct BnParams([tickgrad::backend::Storage; 4]);

impl BnParams {
    fn params(&self) -> BatchNormParams<'_> {
        let [g, b, rm, rv] = &self.0;
        BatchNormParams { g, b, rm, rv }
    }
}

fn bn_params(be: &dyn tickgrad::ops::Backend, host: [&[f32]; 4]) -> BnParams {
    BnParams(host.map(|v| up(be, v)))
}
