//! Attention: fast CPU vs reference (output, lse, weights, all three gradients) over causal and full masks
//! with tq ≠ tk (including fully masked rows and single-query streaming), the reference against an explicit
//! matmul → masked softmax → matmul composition, and finite-difference checks of dq, dk, dv in f64.

use super::{cpu, reference, AttentionDims, AttentionOut, Qkv};
use crate::ops::matmul::{reference as mm, MatmulDims};
use crate::ops::softmax::{reference as sm, SoftmaxDims};
use crate::ops::testing::{assert_close, close, cpu_backend, devices, gradcheck, host, poisoned, tol, up, Rng};

/// (bh, tq, tk, d, dv): one element; tq < tk; tq > tk (early causal rows see nothing); streaming (tq = 1)
/// short and long; two queries; a full query block plus a two-row one; one big head (rows split over threads); heads too big
/// for single-threaded products (heads in turn); many mid-size heads (odd block size).
const SHAPES: [(usize, usize, usize, usize, usize); 11] = [
    (1, 1, 1, 1, 1),
    (3, 5, 7, 4, 6),
    (2, 7, 5, 3, 2),
    (4, 1, 9, 8, 8),
    (3, 2, 6, 5, 4),
    (2, 1, 1024, 16, 16),
    (5, 33, 33, 16, 16),
    (2, 66, 130, 8, 5),
    (1, 200, 200, 32, 32),
    (2, 130, 1024, 64, 64),
    (8, 64, 256, 32, 32),
];

fn all_dims() -> Vec<AttentionDims> {
    let mut out = Vec::new();
    for &(bh, tq, tk, d, dv) in &SHAPES {
        for causal in [false, true] {
            out.push(AttentionDims::new(bh, tq, tk, d, dv, causal));
        }
    }
    // A scale other than 1/√d.
    out.push(AttentionDims { scale: 0.7, ..AttentionDims::new(3, 6, 4, 5, 3, true) });
    out
}

/// Like `assert_close`, but −∞ (a query with no visible key) must appear at the same places in both.
fn assert_lse_close(what: &str, got: &[f32], want: &[f32]) {
    let masked = |v: &[f32]| v.iter().map(|&x| x == f32::NEG_INFINITY).collect::<Vec<_>>();
    assert_eq!(masked(got), masked(want), "{what}: masked rows differ");
    let finite = |v: &[f32]| v.iter().map(|&x| if x == f32::NEG_INFINITY { 0.0 } else { x }).collect::<Vec<_>>();
    assert_close(what, &finite(got), &finite(want), 1e-5);
}

struct Case {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    do_: Vec<f32>,
}

fn case(rng: &mut Rng, d: &AttentionDims) -> Case {
    // Scores of a few units, so the softmax is neither flat nor one-hot.
    let q = rng.vec32(d.q_len()).iter().map(|x| 2.0 * x).collect();
    Case { q, k: rng.vec32(d.k_len()), v: rng.vec32(d.v_len()), do_: rng.vec32(d.o_len()) }
}

fn forward_ref(d: &AttentionDims, c: &Case) -> (Vec<f32>, Vec<f32>) {
    let (mut o, mut lse) = (poisoned(d.o_len()), poisoned(d.lse_len()));
    reference::attention_forward(d, &c.q, &c.k, &c.v, &mut o, &mut lse);
    (o, lse)
}

#[test]
fn forward_and_weights_cpu_match_reference() {
    let mut rng = Rng::new(41);
    for d in all_dims() {
        let c = case(&mut rng, &d);
        let (o0, lse0) = forward_ref(&d, &c);
        let (mut o1, mut lse1) = (poisoned(d.o_len()), poisoned(d.lse_len()));
        cpu::attention_forward(&d, &c.q, &c.k, &c.v, &mut o1, &mut lse1);
        assert_close(&format!("attention o {d:?}"), &o1, &o0, 1e-5);
        assert_lse_close(&format!("attention lse {d:?}"), &lse1, &lse0);
        if d.weights_len() > 1 << 20 {
            continue;
        }
        let mut w0 = poisoned(d.weights_len());
        reference::attention_weights(&d, &c.q, &c.k, &lse0, &mut w0);
        let mut w1 = poisoned(d.weights_len());
        cpu::attention_weights(&d, &c.q, &c.k, &lse0, &mut w1);
        assert_close(&format!("attention weights {d:?}"), &w1, &w0, 1e-5);
        for (row, w_row) in w1.chunks(d.tk).enumerate() {
            let sum: f32 = w_row.iter().sum();
            let want = if d.visible_keys(row % d.tq) == 0 { 0.0 } else { 1.0 };
            assert!((sum - want).abs() < 1e-4, "{d:?}: weights row {row} sums to {sum}");
        }
    }
}

/// `attention_backward`'s f32 signature (reference and fast kernel alike).
type BackwardFn =
    fn(&AttentionDims, &[f32], &[f32], &[f32], &[f32], &[f32], &[f32], &mut [f32], &mut [f32], &mut [f32]);

#[test]
fn backward_cpu_matches_reference() {
    let mut rng = Rng::new(42);
    for d in all_dims() {
        let c = case(&mut rng, &d);
        let (o, lse) = forward_ref(&d, &c);
        let grads = |f: BackwardFn| {
            let (mut dq, mut dk, mut dv) = (poisoned(d.q_len()), poisoned(d.k_len()), poisoned(d.v_len()));
            f(&d, &c.q, &c.k, &c.v, &o, &lse, &c.do_, &mut dq, &mut dk, &mut dv);
            [dq, dk, dv]
        };
        let want = grads(reference::attention_backward);
        let got = grads(cpu::attention_backward);
        for (name, (g, w)) in ["dq", "dk", "dv"].iter().zip(got.iter().zip(&want)) {
            assert_close(&format!("attention {name} {d:?}"), g, w, 1e-4);
        }
    }
}

#[test]
fn reference_matches_explicit_masked_softmax() {
    // o = softmax(scale·QKᵀ + mask)·V with the mask written out, via the matmul and softmax references.
    let mut rng = Rng::new(43);
    for (tq, tk, causal) in [(4, 6, false), (4, 6, true), (5, 5, true), (1, 7, true)] {
        let d = AttentionDims::new(2, tq, tk, 3, 2, causal);
        let c = case(&mut rng, &d);
        let (o, lse) = forward_ref(&d, &c);
        let qk = MatmulDims { batch_a: 2, batch_b: 2, m: tq, k: 3, n: tk, trans_a: false, trans_b: true };
        let mut s = poisoned(qk.c_len());
        mm::matmul_forward(&qk, &c.q, &c.k, &mut s);
        for (r, row) in s.chunks_mut(tk).enumerate() {
            let i = r % tq;
            for (j, x) in row.iter_mut().enumerate() {
                let visible = !causal || j + tq <= i + tk;
                *x = if visible { *x * d.scale as f32 } else { f32::NEG_INFINITY };
            }
        }
        let mut p = poisoned(s.len());
        sm::softmax_forward(&SoftmaxDims { rows: 2 * tq, cols: tk }, &s, &mut p);
        let pv = MatmulDims { batch_a: 2, batch_b: 2, m: tq, k: tk, n: 2, trans_a: false, trans_b: false };
        let mut want = poisoned(pv.c_len());
        mm::matmul_forward(&pv, &p, &c.v, &mut want);
        assert_close(&format!("attention vs composition {d:?}"), &o, &want, 1e-6);
        for (r, row) in s.chunks(tk).enumerate() {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let want_lse = m + row.iter().map(|x| (x - m).exp()).sum::<f32>().ln();
            assert!((lse[r] - want_lse).abs() < 1e-5, "{d:?}: lse row {r}");
        }
    }
}

#[test]
fn fully_masked_rows_give_zero_output_and_no_gradient() {
    let d = AttentionDims::new(1, 4, 2, 3, 2, true); // rows 0 and 1 see no key
    let mut rng = Rng::new(44);
    let c = case(&mut rng, &d);
    let (mut o, mut lse) = (poisoned(d.o_len()), poisoned(d.lse_len()));
    cpu::attention_forward(&d, &c.q, &c.k, &c.v, &mut o, &mut lse);
    assert!(o[..4].iter().all(|&x| x == 0.0) && lse[..2].iter().all(|&x| x == f32::NEG_INFINITY));
    assert!(o[4..].iter().all(|x| x.is_finite()) && lse[2..].iter().all(|x| x.is_finite()));
    let (mut dq, mut dk, mut dv) = (poisoned(d.q_len()), poisoned(d.k_len()), poisoned(d.v_len()));
    cpu::attention_backward(&d, &c.q, &c.k, &c.v, &o, &lse, &c.do_, &mut dq, &mut dk, &mut dv);
    assert!(dq[..6].iter().all(|&x| x == 0.0), "masked query rows get no gradient");
    assert!(dq.iter().chain(&dk).chain(&dv).all(|x| x.is_finite()));
}

#[test]
fn large_scores_stay_finite() {
    let d = AttentionDims::new(2, 9, 11, 8, 4, false);
    let mut rng = Rng::new(45);
    let mut c = case(&mut rng, &d);
    c.q.iter_mut().for_each(|x| *x *= 200.0); // scores in the hundreds
    let (o0, lse0) = forward_ref(&d, &c);
    let (mut o1, mut lse1) = (poisoned(d.o_len()), poisoned(d.lse_len()));
    cpu::attention_forward(&d, &c.q, &c.k, &c.v, &mut o1, &mut lse1);
    assert_close("attention o, large scores", &o1, &o0, 1e-5);
    assert_close("attention lse, large scores", &lse1, &lse0, 1e-5);
    let (mut dq, mut dk, mut dv) = (poisoned(d.q_len()), poisoned(d.k_len()), poisoned(d.v_len()));
    cpu::attention_backward(&d, &c.q, &c.k, &c.v, &o1, &lse1, &c.do_, &mut dq, &mut dk, &mut dv);
    assert!(dq.iter().chain(&dk).chain(&dv).all(|x| x.is_finite()));
}

#[test]
fn reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(46);
    let mut dims = Vec::new();
    for &(bh, tq, tk, d, dv) in &[(2, 3, 5, 4, 3), (1, 5, 3, 2, 2), (2, 1, 4, 3, 2), (1, 4, 4, 3, 3)] {
        for causal in [false, true] {
            dims.push(AttentionDims::new(bh, tq, tk, d, dv, causal));
        }
    }
    dims.push(AttentionDims { scale: 0.7, ..AttentionDims::new(1, 3, 4, 2, 3, true) });
    for d in dims {
        let q: Vec<f64> = rng.vec64(d.q_len()).iter().map(|x| 2.0 * x).collect();
        let (k, v, do_) = (rng.vec64(d.k_len()), rng.vec64(d.v_len()), rng.vec64(d.o_len()));
        let forward = |xs: &[Vec<f64>]| {
            let (mut o, mut lse) = (vec![0.0; d.o_len()], vec![0.0; d.lse_len()]);
            reference::attention_forward(&d, &xs[0], &xs[1], &xs[2], &mut o, &mut lse);
            (o, lse)
        };
        let inputs = vec![q, k, v];
        let (o, lse) = forward(&inputs);
        let (mut dq, mut dk, mut dv) =
            (vec![f64::NAN; d.q_len()], vec![f64::NAN; d.k_len()], vec![f64::NAN; d.v_len()]);
        reference::attention_backward(
            &d, &inputs[0], &inputs[1], &inputs[2], &o, &lse, &do_, &mut dq, &mut dk, &mut dv,
        );
        gradcheck(&format!("attention {d:?}"), &inputs, &do_, &[dq, dk, dv], |xs| forward(xs).0);
    }
}

/// The device cases: the former wgpu suite's (both masks: one element, tq ≠ tk, one query, queries that see no
/// key, several key / query tiles, the widest head the GPU kernels take) and the former CUDA suite's.
fn device_cases() -> Vec<AttentionDims> {
    let mut v = Vec::new();
    for causal in [false, true] {
        v.push(AttentionDims::new(1, 1, 1, 1, 1, causal));
        v.push(AttentionDims::new(3, 7, 7, 5, 4, causal));
        v.push(AttentionDims::new(2, 1, 9, 8, 8, causal)); // one query (streaming)
        v.push(AttentionDims::new(2, 6, 4, 3, 5, causal)); // tq > tk: early causal rows see nothing
        v.push(AttentionDims::new(2, 70, 70, 16, 16, causal)); // two query blocks, five key tiles
        v.push(AttentionDims::new(1, 33, 100, 32, 24, causal));
        v.push(AttentionDims::new(1, 20, 20, 128, 128, causal)); // the widest head the kernels take
    }
    v.extend([
        AttentionDims::new(2, 7, 7, 8, 8, true),
        AttentionDims::new(3, 40, 40, 16, 8, false),
        AttentionDims::new(2, 40, 40, 16, 16, true),
        AttentionDims::new(2, 1, 37, 8, 4, true),
        AttentionDims::new(1, 9, 5, 4, 4, true), // early query rows see no key
        AttentionDims::new(1, 5, 70, 64, 64, false),
    ]);
    v
}

/// Every device against the CPU backend: forward (o, lse), the weights map and the backward.
#[test]
fn forward_weights_and_backward_match_cpu_on_every_device() {
    let mut rng = Rng::new(90);
    for be in devices("attention forward_weights_and_backward_match_cpu_on_every_device") {
        let c = cpu_backend();
        let t = tol(be, 1e-4, 1e-5);
        for d in device_cases() {
            let what = format!("{d:?}");
            let (q, k, v, dout) =
                (rng.vec32(d.q_len()), rng.vec32(d.k_len()), rng.vec32(d.v_len()), rng.vec32(d.o_len()));
            let (qc, kc, vc) = (up(c, &q), up(c, &k), up(c, &v));
            let (qg, kg, vg) = (up(be, &q), up(be, &k), up(be, &v));
            let (oc, lc) = c.attention(&d, &Qkv { q: &qc, k: &kc, v: &vc }).unwrap();
            let (og, lg) = be.attention(&d, &Qkv { q: &qg, k: &kg, v: &vg }).unwrap();
            close(&format!("attention o {what}"), &og, &oc, t);
            // lse may be −∞ (no visible key) on both sides: equal there, close elsewhere.
            close(&format!("attention lse {what}"), &lg, &lc, 1e-5);
            let (lh, lw) = (host(&lg), host(&lc));
            for (i, (a, b)) in lh.iter().zip(&lw).enumerate() {
                assert!(
                    a == b || (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "attention lse[{i}] {what} on {}: {a} vs cpu {b}",
                    be.device()
                );
            }
            let wc = c.attention_weights(&d, &qc, &kc, &lc).unwrap();
            close(&format!("attention weights {what}"), &be.attention_weights(&d, &qg, &kg, &lg).unwrap(), &wc, t);
            let (dqc, dkc, dvc) = c
                .attention_backward(
                    &d,
                    &Qkv { q: &qc, k: &kc, v: &vc },
                    &AttentionOut { o: &oc, lse: &lc },
                    &up(c, &dout),
                )
                .unwrap();
            let (dqg, dkg, dvg) = be
                .attention_backward(
                    &d,
                    &Qkv { q: &qg, k: &kg, v: &vg },
                    &AttentionOut { o: &og, lse: &lg },
                    &up(be, &dout),
                )
                .unwrap();
            close(&format!("attention dq {what}"), &dqg, &dqc, t);
            close(&format!("attention dk {what}"), &dkg, &dkc, t);
            close(&format!("attention dv {what}"), &dvg, &dvc, t);
        }
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn heads_wider_than_the_wgpu_kernel_are_an_error() {
    let g = crate::ops::backend(crate::device::Device::Wgpu(0)).unwrap();
    let d = AttentionDims::new(1, 2, 2, 129, 4, false);
    let (q, k, v) = (up(g, &vec![0.5; d.q_len()]), up(g, &vec![0.5; d.k_len()]), up(g, &vec![0.5; d.v_len()]));
    assert!(g.attention(&d, &Qkv { q: &q, k: &k, v: &v }).is_err());
}
