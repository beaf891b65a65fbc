use super::{cpu, reference, ReduceDims};
use crate::ops::elementwise::BroadcastDims;
use crate::ops::testing::{
    assert_close, close, cpu_backend, devices, gradcheck, is_wgpu, poisoned, same, tol, up, Rng,
};

fn rd(outer: usize, axis: usize, inner: usize) -> ReduceDims {
    ReduceDims { outer, axis, inner }
}

/// Size-1 dims, odd sizes, column blocks that do not divide inner, and big shapes for each parallel path:
/// many rows, one long row, few outer with wide inner, a tall single plane, many small planes.
fn cases() -> Vec<ReduceDims> {
    vec![
        rd(1, 1, 1),
        rd(3, 7, 1),
        rd(5, 1, 9),
        rd(4, 33, 17),
        rd(2, 5, 1000),
        rd(1, 100_003, 1),
        rd(40_000, 3, 1),
        rd(3, 40, 700),
        rd(1, 3, 40_001),
        rd(1, 200, 300), // fewer planes than threads: the axis is split across threads
        rd(9_000, 4, 3),
    ]
}

#[test]
fn dims_of_shape() {
    assert_eq!(ReduceDims::of(&[2, 3, 4, 5], 1), rd(2, 3, 20));
    assert_eq!(ReduceDims::of(&[7], 0), rd(1, 7, 1));
    assert_eq!(ReduceDims::of(&[2, 3], 1).out_len(), 2);
}

#[test]
fn forward_cpu_matches_reference() {
    let mut rng = Rng::new(31);
    for d in cases() {
        let x = rng.vec32(d.in_len());
        let n = d.out_len();
        let (mut want, mut got) = (poisoned(n), poisoned(n));
        reference::sum_forward(&d, &x, &mut want);
        cpu::sum_forward(&d, &x, &mut got);
        assert_close(&format!("sum {d:?}"), &got, &want, 1e-5);
        let (mut want, mut got) = (poisoned(n), poisoned(n));
        reference::mean_forward(&d, &x, &mut want);
        cpu::mean_forward(&d, &x, &mut got);
        assert_close(&format!("mean {d:?}"), &got, &want, 1e-5);
        let (mut want, mut got) = (poisoned(n), poisoned(n));
        let (mut want_i, mut got_i) = (vec![u32::MAX; n], vec![u32::MAX; n]);
        reference::max_forward(&d, &x, &mut want, &mut want_i);
        cpu::max_forward(&d, &x, &mut got, &mut got_i);
        assert_eq!(got, want, "max {d:?}");
        assert_eq!(got_i, want_i, "argmax {d:?}");
    }
}

#[test]
fn backward_cpu_matches_reference() {
    let mut rng = Rng::new(32);
    for d in cases() {
        let x = rng.vec32(d.in_len());
        let dy = rng.vec32(d.out_len());
        let len = d.in_len();
        let (mut want, mut got) = (poisoned(len), poisoned(len));
        reference::sum_backward(&d, &dy, &mut want);
        cpu::sum_backward(&d, &dy, &mut got);
        assert_eq!(got, want, "sum backward {d:?}");
        let (mut want, mut got) = (poisoned(len), poisoned(len));
        reference::mean_backward(&d, &dy, &mut want);
        cpu::mean_backward(&d, &dy, &mut got);
        assert_eq!(got, want, "mean backward {d:?}");
        let mut y = poisoned(d.out_len());
        let mut idx = vec![0u32; d.out_len()];
        reference::max_forward(&d, &x, &mut y, &mut idx);
        let (mut want, mut got) = (poisoned(len), poisoned(len));
        reference::max_backward(&d, &idx, &dy, &mut want);
        cpu::max_backward(&d, &idx, &dy, &mut got);
        assert_eq!(got, want, "max backward {d:?}");
    }
}

#[test]
fn gradcheck_reference() {
    let mut rng = Rng::new(33);
    for d in [rd(2, 3, 4), rd(1, 5, 1), rd(3, 1, 2), rd(2, 4, 1)] {
        let x = rng.vec64(d.in_len());
        let dy = rng.vec64(d.out_len());
        let mut dx = vec![f64::NAN; d.in_len()];
        reference::sum_backward(&d, &dy, &mut dx);
        gradcheck(&format!("sum {d:?}"), std::slice::from_ref(&x), &dy, &[dx], |xs| {
            let mut y = vec![0.0; d.out_len()];
            reference::sum_forward(&d, &xs[0], &mut y);
            y
        });
        let mut dx = vec![f64::NAN; d.in_len()];
        reference::mean_backward(&d, &dy, &mut dx);
        gradcheck(&format!("mean {d:?}"), std::slice::from_ref(&x), &dy, &[dx], |xs| {
            let mut y = vec![0.0; d.out_len()];
            reference::mean_forward(&d, &xs[0], &mut y);
            y
        });
        let (mut y, mut idx) = (vec![f64::NAN; d.out_len()], vec![0u32; d.out_len()]);
        reference::max_forward(&d, &x, &mut y, &mut idx);
        let mut dx = vec![f64::NAN; d.in_len()];
        reference::max_backward(&d, &idx, &dy, &mut dx);
        gradcheck(&format!("max {d:?}"), &[x], &dy, &[dx], |xs| {
            let (mut y, mut idx) = (vec![0.0; d.out_len()], vec![0u32; d.out_len()]);
            reference::max_forward(&d, &xs[0], &mut y, &mut idx);
            y
        });
    }
}

#[test]
fn max_ties_take_the_first_and_nan_propagates() {
    let d = rd(1, 4, 2);
    let x = [1.0f32, 5.0, 3.0, f32::NAN, 3.0, 2.0, 0.0, 7.0];
    for f in [reference::max_forward::<f32> as fn(&ReduceDims, &[f32], &mut [f32], &mut [u32]), cpu::max_forward] {
        let (mut y, mut idx) = ([0.0f32; 2], [9u32; 2]);
        f(&d, &x, &mut y, &mut idx);
        assert_eq!(y[0], 3.0);
        assert_eq!(idx[0], 1, "first of the tied maxima");
        assert!(y[1].is_nan());
        assert_eq!(idx[1], 1, "the NaN");
    }
}

#[test]
fn empty_axis() {
    let d = rd(2, 0, 3);
    let (mut s, mut m) = (poisoned(6), vec![0.0f32; 6]);
    cpu::sum_forward(&d, &[], &mut s);
    cpu::mean_forward(&d, &[], &mut m);
    assert!(s.iter().all(|&v| v == 0.0));
    assert!(m.iter().all(|v| v.is_nan()), "mean of nothing is NaN, as in PyTorch");
}

#[test]
fn sum_all_matches_reference() {
    let mut rng = Rng::new(34);
    for n in [0, 1, 1000, 200_001] {
        let x = rng.vec32(n);
        let want = reference::sum_all(&x);
        let got = cpu::sum_all(&x);
        if n == 0 {
            assert_eq!(got, 0.0);
        } else {
            assert_close(&format!("sum_all n={n}"), &[got], &[want], 1e-5);
        }
    }
}

/// (from, to): trailing vector, kept middle, kept outer, identity, scalar, size-1 dims in from, a big one,
/// an empty one, and several alternating groups.
fn to_shape_cases() -> Vec<(Vec<usize>, Vec<usize>)> {
    vec![
        (vec![2, 3, 4], vec![4]),
        (vec![2, 3, 4], vec![2, 1, 4]),
        (vec![2, 3, 4], vec![1, 3, 1]),
        (vec![2, 3, 4], vec![2, 3, 4]),
        (vec![2, 3, 4], vec![]),
        (vec![2, 3, 4], vec![1]),
        (vec![5, 1, 7], vec![7]),
        (vec![3, 40, 700], vec![40, 1]),
        (vec![0, 3], vec![3]),
        (vec![4, 5, 6, 7], vec![4, 1, 6, 1]),
        (vec![4, 5, 6, 7], vec![5, 1, 7]),
    ]
}

#[test]
fn sum_to_shape_cpu_matches_reference() {
    let mut rng = Rng::new(35);
    for (from, to) in to_shape_cases() {
        let x = rng.vec32(from.iter().product());
        let n: usize = to.iter().product();
        let (mut want, mut got) = (poisoned(n), poisoned(n));
        reference::sum_to_shape(&from, &to, &x, &mut want);
        cpu::sum_to_shape(&from, &to, &x, &mut got);
        if x.is_empty() {
            assert!(got.iter().all(|&v| v == 0.0), "sum_to_shape {from:?} -> {to:?} of nothing");
        } else {
            assert_close(&format!("sum_to_shape {from:?} -> {to:?}"), &got, &want, 1e-5);
        }
    }
}

/// The gradient of sum_to_shape is dy broadcast back up to `from`.
#[test]
fn sum_to_shape_gradcheck_reference() {
    let mut rng = Rng::new(36);
    for (from, to) in [(vec![2, 3, 4], vec![1, 3, 1]), (vec![3, 4], vec![4]), (vec![2, 1, 3], vec![])] {
        let x = rng.vec64(from.iter().product());
        let dy = rng.vec64(to.iter().product());
        let d = BroadcastDims::new(&from, &to).unwrap();
        let strides = d.b_strides();
        let dx: Vec<f64> = (0..x.len())
            .map(|j| {
                let (mut rest, mut t) = (j, 0);
                for k in (0..from.len()).rev() {
                    t += (rest % from[k]) * strides[k];
                    rest /= from[k];
                }
                dy[t]
            })
            .collect();
        gradcheck(&format!("sum_to_shape {from:?} -> {to:?}"), &[x], &dy, &[dx], |xs| {
            let mut y = vec![0.0; dy.len()];
            reference::sum_to_shape(&from, &to, &xs[0], &mut y);
            y
        });
    }
}

/// Rows long enough for the vectorised argmax pass, with the maximum, ties, a NaN and signed zeros placed at
/// lane and remainder positions.
#[test]
fn row_argmax_edge_cases_match_reference() {
    let a = 37;
    let mut rng = Rng::new(37);
    let mut x = rng.vec32(6 * a);
    x[3] = 5.0; // row 0: max in the first lane block
    x[a + 35] = 5.0; // row 1: max in the remainder
    x[2 * a + 9] = 4.0;
    x[2 * a + 30] = 4.0; // row 2: tie, first wins
    x[3 * a + 20] = f32::NAN;
    x[3 * a + 2] = 9.0; // row 3: NaN after the max still wins
    x[4 * a] = f32::NAN; // row 4: NaN first
    for v in &mut x[5 * a..6 * a] {
        *v = -v.abs() - 1.0;
    }
    x[5 * a + 11] = -0.0;
    x[5 * a + 12] = 0.0; // row 5: -0 before +0, equal under ==: the first is kept
    let d = rd(6, a, 1);
    let (mut want, mut got) = (vec![0.0f32; 6], vec![0.0f32; 6]);
    let (mut want_i, mut got_i) = (vec![0u32; 6], vec![0u32; 6]);
    reference::max_forward(&d, &x, &mut want, &mut want_i);
    cpu::max_forward(&d, &x, &mut got, &mut got_i);
    assert_eq!(want_i, [3, 35, 9, 20, 0, 11]);
    assert_eq!(got_i, want_i);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.to_bits(), w.to_bits());
    }
}

/// (outer, axis, inner) of the device tests (both kernel geometries): the former wgpu suite's, then the former
/// CUDA suite's.
const DEVICE_DIMS: [(usize, usize, usize); 11] = [
    (1, 1, 1),
    (1, 7, 1),
    (5, 3, 4),
    (1, 1000, 1),
    (3, 300, 1),
    (2, 100, 3),
    (4, 10, 200),
    (1, 5000, 2),
    (6, 700, 1),
    (3, 50, 7),
    (1, 5, 200),
];

/// Every device against the CPU backend: sum and mean (relative 1e-4 on wgpu, 1e-6 elsewhere) and their backward.
#[test]
fn sum_and_mean_match_cpu_on_every_device() {
    let mut rng = Rng::new(30);
    for be in devices("sum_and_mean_match_cpu_on_every_device") {
        let c = cpu_backend();
        for (outer, axis, inner) in DEVICE_DIMS {
            let d = ReduceDims { outer, axis, inner };
            let (x, dy) = (rng.vec32(d.in_len()), rng.vec32(d.out_len()));
            for mean in [false, true] {
                let what = format!("{} {d:?}", if mean { "mean" } else { "sum" });
                let want = c.sum(&d, &up(c, &x), mean).unwrap();
                close(&what, &be.sum(&d, &up(be, &x), mean).unwrap(), &want, tol(be, 1e-4, 1e-6));
                let want = c.sum_backward(&d, &up(c, &dy), mean).unwrap();
                close(&format!("{what} backward"), &be.sum_backward(&d, &up(be, &dy), mean).unwrap(), &want, 1e-6);
            }
        }
    }
}

/// Every device against the CPU backend, bit for bit: max, argmax and the max backward. Coarse values make ties
/// common (the first index wins); a second input has explicit ties and (not on wgpu) a NaN, which wins and
/// propagates.
#[test]
fn max_and_argmax_match_cpu_exactly_on_every_device() {
    let mut rng = Rng::new(31);
    for be in devices("max_and_argmax_match_cpu_exactly_on_every_device") {
        let c = cpu_backend();
        for (outer, axis, inner) in DEVICE_DIMS {
            let d = ReduceDims { outer, axis, inner };
            let coarse: Vec<f32> = rng.vec32(d.in_len()).iter().map(|v| (v * 4.0).round()).collect();
            let mut x = rng.vec32(d.in_len());
            if axis > 2 {
                x[2 * inner] = x[inner].max(x[0]) + 1.0;
                x[3 * inner] = x[2 * inner];
            }
            // WGSL lets an implementation assume there are no NaNs, and the wgpu max kernel does not propagate
            // them (lavapipe returns the largest number); the NaN case runs on the CPU and CUDA only.
            if axis > 4 && outer > 1 && !is_wgpu(be) {
                x[d.axis * d.inner + 4 * inner] = f32::NAN;
            }
            for (kind, x) in [("coarse", coarse), ("ties and NaN", x)] {
                let (yc, ic) = c.max(&d, &up(c, &x)).unwrap();
                let (yg, ig) = be.max(&d, &up(be, &x)).unwrap();
                same(&format!("max {kind} {d:?}"), &yg, &yc);
                same(&format!("argmax {kind} {d:?}"), &ig, &ic);
                let dy = rng.vec32(d.out_len());
                same(
                    &format!("max backward {kind} {d:?}"),
                    &be.max_backward(&d, &ig, &up(be, &dy)).unwrap(),
                    &c.max_backward(&d, &ic, &up(c, &dy)).unwrap(),
                );
            }
        }
    }
}
