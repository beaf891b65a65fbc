use super::{cpu, erf, reference, BinaryOp, BroadcastDims, Unary};
use crate::ops::testing::{
    assert_close, close, cpu_backend, devices, gradcheck, poisoned, range32, same, tol, up, Rng,
};

/// Inputs inside each op's domain: positive for log/sqrt, wide for GELU so every erfc branch runs.
fn input64(rng: &mut Rng, op: Unary, n: usize) -> Vec<f64> {
    match op {
        Unary::Log | Unary::Sqrt => (0..n).map(|_| rng.uniform(0.1, 2.0)).collect(),
        Unary::Gelu => (0..n).map(|_| rng.uniform(-7.0, 7.0)).collect(),
        _ => rng.vec64(n),
    }
}

fn input32(rng: &mut Rng, op: Unary, n: usize) -> Vec<f32> {
    input64(rng, op, n).iter().map(|&v| v as f32).collect()
}

/// Values from Python's `math.erf` / `math.erfc` (libm), one per Cody range and both signs.
#[test]
fn erf_matches_libm_to_f64_accuracy() {
    let cases: [(f64, f64, f64); 14] = [
        (1e-10, 1.1283791670955126e-10, 0.999999999887162),
        (0.1, 0.1124629160182849, 0.8875370839817152),
        (0.3, 0.3286267594591274, 0.6713732405408726),
        (0.46875, 0.49261347321793797, 0.507386526782062),
        (0.47, 0.4937450508860821, 0.5062549491139179),
        (0.9, 0.7969082124228322, 0.20309178757716786),
        (1.5, 0.9661051464753108, 0.033894853524689274),
        (3.0, 0.9999779095030014, 2.2090496998585438e-05),
        (3.99, 0.9999999832607886, 1.6739211364520814e-08),
        (4.5, 0.9999999998033839, 1.9661604415428873e-10),
        (6.0, 1.0, 2.1519736712498916e-17),
        (10.0, 1.0, 2.088487583762545e-45),
        (-0.2, -0.22270258921047847, 1.2227025892104786),
        (-1.3, -0.9340079449406524, 1.9340079449406524),
    ];
    for (x, want_erf, want_erfc) in cases {
        let (e, c) = (erf::erf(x), erf::erfc(x));
        assert!(
            (e - want_erf).abs() <= 2e-16 * want_erf.abs().max(1e-300) * 4.0,
            "erf({x}) = {e:e}, want {want_erf:e}"
        );
        assert!((c - want_erfc).abs() <= 1e-15 * want_erfc, "erfc({x}) = {c:e}, want {want_erfc:e}");
    }
    assert_eq!(erf::erf(0.0), 0.0);
    assert_eq!(erf::erfc(30.0), 0.0);
    assert_eq!(erf::erfc(-30.0), 2.0);
    assert!(erf::erf(f64::NAN).is_nan());
}

/// The single-exp (Φ, φ) used by the f32 kernels agrees with the precise pair far below f32 resolution.
#[test]
fn fast_normal_cdf_pdf_matches_precise() {
    let mut x = -40.0;
    while x <= 40.0 {
        let (cdf, pdf) = erf::normal_cdf_pdf_for_f32(x);
        let (want_cdf, want_pdf) = (erf::normal_cdf(x), erf::normal_pdf(x));
        assert!((cdf - want_cdf).abs() <= 1e-12 * want_cdf, "Φ({x}): {cdf:e} vs {want_cdf:e}");
        assert!((pdf - want_pdf).abs() <= 1e-12 * want_pdf, "φ({x}): {pdf:e} vs {want_pdf:e}");
        x += 0.0137;
    }
}

/// x·Φ(x) from Python: `x * 0.5 * math.erfc(-x / math.sqrt(2))`; PyTorch's exact GELU agrees to f32 rounding.
#[test]
fn gelu_known_values() {
    let cases: [(f64, f64); 6] = [
        (1.0, 0.8413447460685429),
        (-3.0, -0.004049694094890287),
        (0.5, 0.34573123063700656),
        (-0.2, -0.0841480581121794),
        (2.5, 2.4844758366855597),
        (-7.5, -2.3931687546831897e-13),
    ];
    for (x, want) in cases {
        let got = reference::unary_value(Unary::Gelu, x);
        // x/√2 rounds differently from Python's, and erfc's condition number near x = −3 is ~9: allow 1e-14.
        assert!((got - want).abs() <= 1e-14 * want.abs(), "gelu({x}) = {got:e}, want {want:e}");
        let mut y32 = [f32::NAN];
        cpu::unary_forward(Unary::Gelu, &[x as f32], &mut y32);
        assert!((y32[0] as f64 - want).abs() <= 2e-7 * want.abs(), "cpu gelu({x}) = {}, want {want:e}", y32[0]);
    }
}

#[test]
fn unary_cpu_matches_reference() {
    let mut rng = Rng::new(21);
    for op in Unary::ALL {
        for n in [1, 7, 1000, 70_001] {
            let x = input32(&mut rng, op, n);
            let mut want = poisoned(n);
            reference::unary_forward(op, &x, &mut want);
            let mut got = poisoned(n);
            cpu::unary_forward(op, &x, &mut got);
            assert_close(&format!("{op:?} forward n={n}"), &got, &want, 1e-6);

            let dy = rng.vec32(n);
            let mut want_dx = poisoned(n);
            reference::unary_backward(op, &x, &want, &dy, &mut want_dx);
            // Pass only what the op says it reads: the rest may be left unsaved.
            let xs: &[f32] = if op.backward_needs_input() { &x } else { &[] };
            let ys: &[f32] = if op.backward_needs_output() { &want } else { &[] };
            let mut got_dx = poisoned(n);
            cpu::unary_backward(op, xs, ys, &dy, &mut got_dx);
            assert_close(&format!("{op:?} backward n={n}"), &got_dx, &want_dx, 1e-6);
        }
    }
}

#[test]
fn unary_gradcheck_reference() {
    let mut rng = Rng::new(22);
    // Sign's gradient is zero everywhere (checked exactly in `sign_is_exact_keeps_zero_and_nan_on_every_device`);
    // a finite difference has nothing to compare with it.
    for op in Unary::ALL.into_iter().filter(|&op| op != Unary::Sign) {
        let x = input64(&mut rng, op, 60);
        let dy = rng.vec64(60);
        let mut y = vec![f64::NAN; 60];
        reference::unary_forward(op, &x, &mut y);
        let mut dx = vec![f64::NAN; 60];
        reference::unary_backward(op, &x, &y, &dy, &mut dx);
        gradcheck(&format!("{op:?}"), &[x], &dy, &[dx], |xs| {
            let mut y = vec![0.0; xs[0].len()];
            reference::unary_forward(op, &xs[0], &mut y);
            y
        });
    }
}

#[test]
fn relu_and_abs_gradient_at_zero_is_zero() {
    for op in [Unary::Relu, Unary::Abs] {
        let mut dx = [f32::NAN; 1];
        cpu::unary_backward(op, &[0.0], &[0.0], &[1.0], &mut dx);
        assert_eq!(dx[0], 0.0, "{op:?}'(0)");
    }
}

/// Sign is exact: ±1 off zero, ±0 kept (with its sign bit), NaN kept, and a zero gradient, bit for bit on every
/// device (FGSM's perturbation relies on it).
#[test]
fn sign_is_exact_keeps_zero_and_nan_on_every_device() {
    let x = [2.5f32, -1e-30, 0.0, -0.0, f32::NAN, f32::INFINITY, -f32::INFINITY, 3e-38, -7.0];
    let want = [1.0f32, -1.0, 0.0, -0.0, f32::NAN, 1.0, -1.0, 1.0, -1.0];
    let mut r = poisoned(x.len());
    reference::unary_forward(Unary::Sign, &x, &mut r);
    for be in devices("sign_is_exact_keeps_zero_and_nan_on_every_device") {
        let y = be.unary(Unary::Sign, &up(be, &x)).unwrap();
        same("sign forward", &y, &up(be, &want));
        same("sign reference", &up(be, &r), &up(be, &want));
        let dy = [1.0f32; 9];
        let dx = be.unary_backward(Unary::Sign, &up(be, &x), &y, &up(be, &dy)).unwrap();
        same("sign backward", &dx, &up(be, &[0.0; 9]));
    }
}

#[test]
fn scale_shift_matches_reference_and_gradchecks() {
    let mut rng = Rng::new(23);
    for n in [1, 33, 100_000] {
        let x = rng.vec32(n);
        let (mut want, mut got) = (poisoned(n), poisoned(n));
        reference::scale_shift(&x, -1.7f32, 0.3, &mut want);
        cpu::scale_shift(&x, -1.7, 0.3, &mut got);
        assert_close("scale_shift", &got, &want, 1e-6);
        let dy = rng.vec32(n);
        let (mut want_dx, mut got_dx) = (poisoned(n), poisoned(n));
        reference::scale_shift_backward(-1.7f32, &dy, &mut want_dx);
        cpu::scale_shift_backward(-1.7, &dy, &mut got_dx);
        assert_close("scale_shift backward", &got_dx, &want_dx, 1e-6);
    }
    let x = rng.vec64(20);
    let dy = rng.vec64(20);
    let mut dx = vec![f64::NAN; 20];
    reference::scale_shift_backward(2.5, &dy, &mut dx);
    gradcheck("scale_shift", &[x], &dy, &[dx], |xs| {
        let mut y = vec![0.0; xs[0].len()];
        reference::scale_shift(&xs[0], 2.5, -0.5, &mut y);
        y
    });
}

#[test]
fn broadcast_dims_follow_numpy() {
    let d = BroadcastDims::new(&[2, 3, 4], &[4]).unwrap();
    assert_eq!((d.out_shape.clone(), d.b_shape.clone()), (vec![2, 3, 4], vec![1, 1, 4]));
    assert_eq!(d.b_strides(), vec![0, 0, 1]);
    let d = BroadcastDims::new(&[2, 1, 4], &[1, 3, 1]).unwrap();
    assert_eq!(d.out_shape, vec![2, 3, 4]);
    assert_eq!(d.a_strides(), vec![4, 0, 1]);
    assert_eq!(BroadcastDims::new(&[], &[2, 3]).unwrap().a_shape, vec![1, 1]);
    assert_eq!(BroadcastDims::new(&[0], &[1]).unwrap().out_shape, vec![0]);
    assert!(BroadcastDims::new(&[3], &[4]).is_none());
    assert!(BroadcastDims::new(&[2, 3], &[3, 3]).is_none());
    assert!(BroadcastDims::new(&[0], &[2]).is_none());
}

/// (a_shape, b_shape): same shape, trailing row vector on either side, outer-product style, scalars, rank
/// mismatch, and big shapes that take the parallel path.
fn shape_pairs() -> Vec<(Vec<usize>, Vec<usize>)> {
    vec![
        (vec![2, 3, 4], vec![4]),
        (vec![2, 1, 4], vec![1, 3, 1]),
        (vec![4], vec![2, 3, 4]),
        (vec![5, 7], vec![5, 7]),
        (vec![], vec![3, 2]),
        (vec![1], vec![1]),
        (vec![3, 1], vec![1, 4]),
        (vec![2, 3, 1, 5], vec![3, 4, 1]),
        (vec![7, 1], vec![7, 3]),
        (vec![300, 257], vec![257]),
        (vec![257, 300], vec![257, 1]),
        (vec![2, 300, 130], vec![2, 1, 130]),
        (vec![70_001], vec![70_001]),
    ]
}

/// Values of b kept away from 0 so Div is well conditioned; magnitudes in [0.5, 1.5).
fn away_from_zero(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.uniform(0.5, 1.5) * if rng.uniform(0.0, 1.0) < 0.5 { -1.0 } else { 1.0 }).collect()
}

fn to32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

#[test]
fn binary_cpu_matches_reference() {
    let mut rng = Rng::new(24);
    for (sa, sb) in shape_pairs() {
        let d = BroadcastDims::new(&sa, &sb).unwrap();
        for op in BinaryOp::ALL {
            let a = rng.vec32(d.a_len());
            let b = to32(&away_from_zero(&mut rng, d.b_len()));
            let what = format!("{op:?} {sa:?} {sb:?}");
            let mut want = poisoned(d.out_len());
            reference::binary_forward(&d, op, &a, &b, &mut want);
            let mut got = poisoned(d.out_len());
            cpu::binary_forward(&d, op, &a, &b, &mut got);
            assert_close(&format!("{what} forward"), &got, &want, 1e-6);

            let dy = rng.vec32(d.out_len());
            let (mut want_da, mut want_db) = (poisoned(d.a_len()), poisoned(d.b_len()));
            reference::binary_backward(&d, op, &a, &b, &dy, Some(&mut want_da), Some(&mut want_db));
            let (ra, rb): (&[f32], &[f32]) = if op.backward_needs_inputs() { (&a, &b) } else { (&[], &[]) };
            let (mut got_da, mut got_db) = (poisoned(d.a_len()), poisoned(d.b_len()));
            cpu::binary_backward(&d, op, ra, rb, &dy, Some(&mut got_da), Some(&mut got_db));
            assert_close(&format!("{what} da"), &got_da, &want_da, 1e-5);
            assert_close(&format!("{what} db"), &got_db, &want_db, 1e-5);
            let mut only_db = poisoned(d.b_len());
            cpu::binary_backward(&d, op, ra, rb, &dy, None, Some(&mut only_db));
            assert_close(&format!("{what} db alone"), &only_db, &want_db, 1e-5);
        }
    }
}

#[test]
fn binary_gradcheck_reference() {
    let mut rng = Rng::new(25);
    let small = [
        (vec![2, 3, 4], vec![4]),
        (vec![2, 1, 4], vec![1, 3, 1]),
        (vec![3], vec![2, 3]),
        (vec![2, 2], vec![2, 2]),
        (vec![], vec![2, 2]),
    ];
    for (sa, sb) in small {
        let d = BroadcastDims::new(&sa, &sb).unwrap();
        for op in BinaryOp::ALL {
            // Max/Min: redraw until each operand wins somewhere, so both gradients are non-zero.
            let inputs = loop {
                let inputs = vec![rng.vec64(d.a_len()), away_from_zero(&mut rng, d.b_len())];
                let mut y = vec![0.0; d.out_len()];
                reference::binary_forward(&d, op, &inputs[0], &inputs[1], &mut y);
                let mut ay = vec![0.0; d.out_len()];
                reference::binary_forward(&d, BinaryOp::Add, &inputs[0], &vec![0.0; d.b_len()], &mut ay);
                let a_wins = y.iter().zip(&ay).filter(|(y, a)| y == a).count();
                if !matches!(op, BinaryOp::Max | BinaryOp::Min) || (a_wins > 0 && a_wins < y.len()) {
                    break inputs;
                }
            };
            let dy = rng.vec64(d.out_len());
            let (mut da, mut db) = (vec![f64::NAN; d.a_len()], vec![f64::NAN; d.b_len()]);
            reference::binary_backward(&d, op, &inputs[0], &inputs[1], &dy, Some(&mut da), Some(&mut db));
            gradcheck(&format!("{op:?} {sa:?} {sb:?}"), &inputs, &dy, &[da, db], |xs| {
                let mut y = vec![0.0; d.out_len()];
                reference::binary_forward(&d, op, &xs[0], &xs[1], &mut y);
                y
            });
        }
    }
}

#[test]
fn max_min_split_the_gradient_on_ties_and_propagate_nan() {
    let d = BroadcastDims::new(&[3], &[3]).unwrap();
    let (a, b, dy) = ([1.0f32, 2.0, 5.0], [1.0f32, 3.0, 4.0], [1.0f32, 1.0, 1.0]);
    for (op, want_da, want_db) in
        [(BinaryOp::Max, [0.5, 0.0, 1.0], [0.5, 1.0, 0.0]), (BinaryOp::Min, [0.5, 1.0, 0.0], [0.5, 0.0, 1.0])]
    {
        let (mut da, mut db) = ([f32::NAN; 3], [f32::NAN; 3]);
        cpu::binary_backward(&d, op, &a, &b, &dy, Some(&mut da), Some(&mut db));
        assert_eq!((da, db), (want_da, want_db), "{op:?} cpu");
        reference::binary_backward(&d, op, &a, &b, &dy, Some(&mut da), Some(&mut db));
        assert_eq!((da, db), (want_da, want_db), "{op:?} reference");
        let mut y = [0.0f32; 3];
        cpu::binary_forward(&d, op, &[f32::NAN, 1.0, 1.0], &[0.0, f32::NAN, 0.0], &mut y);
        assert!(y[0].is_nan() && y[1].is_nan() && !y[2].is_nan(), "{op:?} NaN propagation: {y:?}");
    }
}

/// Device inputs: the former wgpu suite's (`wide`: positive for log/sqrt, wide enough for every erfc branch of
/// GELU and the exp branch of tanh) or the former CUDA suite's (positive for log/sqrt, else within ±3).
fn device_input(rng: &mut Rng, op: Unary, n: usize, wide: bool) -> Vec<f32> {
    match (op, wide) {
        (Unary::Log | Unary::Sqrt, true) => range32(rng, n, 0.1, 2.0),
        (Unary::Gelu | Unary::Tanh | Unary::Sigmoid, true) => range32(rng, n, -7.0, 7.0),
        (_, true) => rng.vec32(n),
        (Unary::Log | Unary::Sqrt, false) => range32(rng, n, 0.1, 3.0),
        (_, false) => rng.vec32(n).iter().map(|v| v * 3.0).collect(),
    }
}

/// Every device against the CPU backend: each unary map forward and backward (relative 1e-5 on wgpu, 2e-6
/// elsewhere).
#[test]
fn unary_forward_and_backward_match_cpu_on_every_device() {
    let mut rng = Rng::new(20);
    for be in devices("unary_forward_and_backward_match_cpu_on_every_device") {
        let c = cpu_backend();
        let t = tol(be, 1e-5, 2e-6);
        for op in Unary::ALL {
            for (n, wide) in [(1, true), (257, true), (5000, true), (1000, false)] {
                let (x, dy) = (device_input(&mut rng, op, n, wide), rng.vec32(n));
                let (xc, xg) = (up(c, &x), up(be, &x));
                let yc = c.unary(op, &xc).unwrap();
                let yg = be.unary(op, &xg).unwrap();
                close(&format!("{op:?} forward n={n}"), &yg, &yc, t);
                let want = c.unary_backward(op, &xc, &yc, &up(c, &dy)).unwrap();
                let got = be.unary_backward(op, &xg, &yg, &up(be, &dy)).unwrap();
                close(&format!("{op:?} backward n={n}"), &got, &want, t);
            }
        }
    }
}

#[test]
fn gelu_and_tanh_small_arguments_keep_relative_accuracy_on_every_device() {
    // Near 0 GELU is ~x/2: a poor erf would show up as a large relative error on tiny values.
    let x: Vec<f32> = (1..200).map(|i| (i as f32 - 100.0) * 1e-3).collect();
    for be in devices("gelu_and_tanh_small_arguments_keep_relative_accuracy_on_every_device") {
        let c = cpu_backend();
        let (xc, xg) = (up(c, &x), up(be, &x));
        for op in [Unary::Gelu, Unary::Tanh] {
            close(&format!("{op:?} near 0"), &be.unary(op, &xg).unwrap(), &c.unary(op, &xc).unwrap(), 1e-6);
        }
    }
}

/// scale_shift: relative 1e-6 on wgpu, exact elsewhere.
#[test]
fn scale_shift_matches_cpu_on_every_device() {
    let mut rng = Rng::new(21);
    for be in devices("scale_shift_matches_cpu_on_every_device") {
        let c = cpu_backend();
        for (n, scale, shift) in [(1000, -1.7f32, 0.3f32), (300, 1.5, -0.25)] {
            let x = rng.vec32(n);
            let want = c.scale_shift(&up(c, &x), scale, shift).unwrap();
            let got = be.scale_shift(&up(be, &x), scale, shift).unwrap();
            close(&format!("scale_shift n={n} {scale}·x+{shift}"), &got, &want, tol(be, 1e-6, 0.0));
        }
    }
}

/// Broadcast shape pairs of the former wgpu suite, then those of the former CUDA suite.
const DEVICE_SHAPES: [(&[usize], &[usize]); 15] = [
    (&[5], &[5]),
    (&[3, 4], &[3, 4]),
    (&[3, 4], &[4]),
    (&[3, 4], &[3, 1]),
    (&[1], &[6, 7]),
    (&[2, 1, 5], &[1, 3, 1]),
    (&[4, 3, 2, 5], &[3, 1, 5]),
    (&[70, 33], &[33]),
    (&[2, 3, 1, 2, 1, 3, 2], &[1, 3, 4, 1, 2, 1, 2]),
    (&[4, 5, 6], &[4, 5, 6]),
    (&[4, 5, 6], &[6]),
    (&[4, 1, 6], &[1, 5, 1]),
    (&[300, 3], &[3]),
    (&[2, 3, 4], &[2, 1, 4]),
    (&[1], &[7, 2]),
];

/// Every device against the CPU backend: each broadcasting binary op forward (relative 1e-6) and both gradients
/// (1e-5: reductions over the broadcast axes).
#[test]
fn binary_forward_and_backward_match_cpu_on_every_device() {
    let mut rng = Rng::new(22);
    for be in devices("binary_forward_and_backward_match_cpu_on_every_device") {
        let c = cpu_backend();
        for op in BinaryOp::ALL {
            for (sa, sb) in DEVICE_SHAPES {
                let d = BroadcastDims::new(sa, sb).unwrap();
                let a = rng.vec32(d.a_len());
                // Divisors away from 0; a tie with a for max / min.
                let mut b =
                    if op == BinaryOp::Div { range32(&mut rng, d.b_len(), 0.5, 2.0) } else { rng.vec32(d.b_len()) };
                if matches!(op, BinaryOp::Max | BinaryOp::Min) && d.a_len() == d.b_len() {
                    b[0] = a[0];
                }
                let dy = rng.vec32(d.out_len());
                let ((ac, ag), (bc, bg)) = ((up(c, &a), up(be, &a)), (up(c, &b), up(be, &b)));
                let what = format!("{op:?} {sa:?} ∘ {sb:?}");
                let yc = c.binary(&d, op, &ac, &bc).unwrap();
                close(&format!("{what} forward"), &be.binary(&d, op, &ag, &bg).unwrap(), &yc, 1e-6);
                let (da_c, db_c) = c.binary_backward(&d, op, &ac, &bc, &up(c, &dy)).unwrap();
                let (da_g, db_g) = be.binary_backward(&d, op, &ag, &bg, &up(be, &dy)).unwrap();
                close(&format!("{what} da"), &da_g, &da_c, 1e-5);
                close(&format!("{what} db"), &db_g, &db_c, 1e-5);
            }
        }
    }
}

#[test]
fn max_min_ties_split_the_gradient_on_every_device() {
    let d = BroadcastDims::new(&[4], &[4]).unwrap();
    let (a, b, dy) = ([1.0, 2.0, 3.0, -1.0], [1.0, 5.0, 3.0, -2.0], [1.0, 1.0, 1.0, 1.0]);
    for be in devices("max_min_ties_split_the_gradient_on_every_device") {
        let c = cpu_backend();
        for op in [BinaryOp::Max, BinaryOp::Min] {
            let (da_c, db_c) = c.binary_backward(&d, op, &up(c, &a), &up(c, &b), &up(c, &dy)).unwrap();
            let (da_g, db_g) = be.binary_backward(&d, op, &up(be, &a), &up(be, &b), &up(be, &dy)).unwrap();
            same(&format!("{op:?} ties da"), &da_g, &da_c);
            same(&format!("{op:?} ties db"), &db_g, &db_c);
        }
    }
}
