use super::cpu::{normal_cdf, regression_to_probs, rolling_weights};
use super::{cpu, reference, EnsembleDims, EnsembleRule, Grads};
use crate::ops::prelude::*;
use crate::ops::testing::{
    assert_close, cpu_backend, device_rel_err, devices, gradcheck, host, poisoned, range32, tol, up, Rng,
};
use crate::Error;

/// Forward in f64 through the reference: (combined, confidence, class).
fn forward64(d: &EnsembleDims, p: &[f64], w: &[f64], thr: f64, agree: f64) -> (Vec<f64>, Vec<f64>, Vec<u32>) {
    let (mut comb, mut conf, mut class) =
        (vec![f64::NAN; d.combined_len()], vec![f64::NAN; d.batch], vec![99; d.batch]);
    reference::ensemble_forward(d, p, w, thr, agree, &mut comb, &mut conf, &mut class);
    (comb, conf, class)
}

/// (combined, confidence, class) in f32.
type Forward32 = (Vec<f32>, Vec<f32>, Vec<u32>);

fn forward32(d: &EnsembleDims, p: &[f32], w: &[f32], thr: f32, agree: f32, fast: bool) -> Forward32 {
    let (mut comb, mut conf, mut class) = (poisoned(d.combined_len()), poisoned(d.batch), vec![99; d.batch]);
    if fast {
        cpu::ensemble_forward(d, p, w, thr, agree, &mut comb, &mut conf, &mut class);
    } else {
        reference::ensemble_forward(d, p, w, thr, agree, &mut comb, &mut conf, &mut class);
    }
    (comb, conf, class)
}

/// Random probability rows (softmax of uniform logits scaled by 3), so members have distinct argmaxes.
fn random_probs(d: &EnsembleDims, rng: &mut Rng) -> Vec<f64> {
    let logits = rng.vec64(d.p_len());
    logits
        .chunks(d.classes)
        .flat_map(|row| {
            let e: Vec<f64> = row.iter().map(|v| (3.0 * v).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect()
}

const UP: u32 = 0;
const HOLD: u32 = 2;

fn dims(batch: usize, members: usize) -> EnsembleDims {
    EnsembleDims { batch, members, classes: 3, hold_class: 2 }
}

/// Two confident members agree on "up" and carry 80 % of the weight: the weighted-mean confidence 0.81
/// passes a 0.75 threshold (the original design's Σ w c / members = 0.27 never could).
#[test]
fn hand_computed_thresholds_and_agreement() {
    let d = dims(1, 3);
    let p = [0.8, 0.1, 0.1, 0.9, 0.05, 0.05, 0.2, 0.7, 0.1];
    let w = [0.5, 0.3, 0.2];
    // w·c = [0.4, 0.27, 0.14], S = 0.81, W = 1.
    let (comb, conf, class) = forward64(&d, &p, &w, 0.75, 0.7);
    let want = [0.591 / 0.81, 0.1515 / 0.81, 0.0675 / 0.81];
    for (g, e) in comb.iter().zip(want) {
        assert!((g - e).abs() < 1e-12, "combined {comb:?} vs {want:?}");
    }
    assert!((conf[0] - 0.81).abs() < 1e-12);
    assert_eq!(class, [UP]);
    // Agreement share 0.8: a 0.85 requirement holds; so does a confidence threshold above 0.81.
    assert_eq!(forward64(&d, &p, &w, 0.75, 0.85).2, [HOLD]);
    assert_eq!(forward64(&d, &p, &w, 0.82, 0.7).2, [HOLD]);
    // Weights need not be normalised: scaling them changes nothing.
    let w3: Vec<f64> = w.iter().map(|v| 3.0 * v).collect();
    let (comb3, conf3, class3) = forward64(&d, &p, &w3, 0.75, 0.7);
    assert!(comb3.iter().zip(&comb).all(|(a, b)| (a - b).abs() < 1e-12) && (conf3[0] - conf[0]).abs() < 1e-12);
    assert_eq!(class3, [UP]);

    // Exactly at both thresholds passes (binary fractions, so the arithmetic is exact).
    let d2 = dims(1, 2);
    let p2 = [0.75, 0.25, 0.0, 0.75, 0.0, 0.25];
    let (comb, conf, class) = forward64(&d2, &p2, &[0.5, 0.5], 0.75, 1.0);
    assert_eq!((comb, conf, class), (vec![0.75, 0.125, 0.125], vec![0.75], vec![UP]));

    // Confident but split members: combined ties (lowest index wins), the agreeing share is 0.5 → hold.
    let p3 = [0.9, 0.05, 0.05, 0.05, 0.9, 0.05];
    let (comb, conf, class) = forward64(&d2, &p3, &[0.5, 0.5], 0.75, 0.7);
    assert_eq!(comb[0], comb[1]);
    assert!((conf[0] - 0.9).abs() < 1e-12);
    assert_eq!(class, [HOLD]);
    // The same split with the second member weighted out: the first member alone decides.
    let (comb, _, class) = forward64(&d2, &p3, &[1.0, 0.0], 0.75, 0.7);
    assert!(comb.iter().zip([0.9, 0.05, 0.05]).all(|(a, b)| (a - b).abs() < 1e-15), "{comb:?}");
    assert_eq!(class, [UP]);
    // A member's own top class counts toward agreement only when it equals the ensemble's.
    let (_, _, class) = forward64(&d2, &p3, &[0.75, 0.25], 0.75, 0.7);
    assert_eq!(class, [UP]);
    // NaN input: the confidence test fails, so the ensemble holds.
    let (_, _, class) = forward64(&d2, &[f64::NAN; 6], &[0.5, 0.5], 0.75, 0.7);
    assert_eq!(class, [HOLD]);
}

#[test]
fn cpu_matches_reference() {
    let mut rng = Rng::new(21);
    // Batch 1, odd sizes, one member, one class, more classes than the stack scratch, the parallel path.
    for &(batch, members, classes) in &[(1, 1, 3), (7, 3, 3), (5, 4, 1), (3, 2, 11), (4000, 5, 3), (1, 6, 7)] {
        let d = EnsembleDims { batch, members, classes, hold_class: classes - 1 };
        let p: Vec<f32> = random_probs(&d, &mut rng).iter().map(|&v| v as f32).collect();
        let w: Vec<f32> = (0..d.weights_len()).map(|_| rng.uniform(0.05, 1.0) as f32).collect();
        for (thr, agree) in [(0.3f32, 0.5f32), (0.6, 0.7), (0.75, 0.7), (0.0, 0.0)] {
            let (c_r, f_r, k_r) = forward32(&d, &p, &w, thr, agree, false);
            let (c, f, k) = forward32(&d, &p, &w, thr, agree, true);
            assert_close(&format!("combined {d:?}"), &c, &c_r, 1e-6);
            assert_close(&format!("confidence {d:?}"), &f, &f_r, 1e-6);
            assert_eq!(k, k_r, "class {d:?} thr {thr} agreement {agree}");
        }
        let dcomb = rng.vec32(d.combined_len());
        let dconf = rng.vec32(batch);
        let (mut dp_r, mut dp) = (poisoned(d.p_len()), poisoned(d.p_len()));
        reference::ensemble_backward(&d, &p, &w, &dcomb, &dconf, &mut dp_r);
        cpu::ensemble_backward(&d, &p, &w, &dcomb, &dconf, &mut dp);
        assert_close(&format!("dp {d:?}"), &dp, &dp_r, 1e-5);
    }
}

#[test]
fn gradcheck_reference() {
    let mut rng = Rng::new(22);
    for &(batch, members, classes) in &[(2, 3, 3), (3, 1, 4), (1, 4, 2)] {
        let d = EnsembleDims { batch, members, classes, hold_class: 0 };
        let p = random_probs(&d, &mut rng);
        let w: Vec<f64> = (0..d.weights_len()).map(|_| rng.uniform(0.1, 1.0)).collect();
        // Output: combined then confidence.
        let f = |xs: &[Vec<f64>]| -> Vec<f64> {
            let (comb, conf, _) = forward64(&d, &xs[0], &w, 0.5, 0.5);
            [comb, conf].concat()
        };
        let dy = rng.vec64(d.combined_len() + batch);
        let mut dp = vec![f64::NAN; d.p_len()];
        reference::ensemble_backward(&d, &p, &w, &dy[..d.combined_len()], &dy[d.combined_len()..], &mut dp);
        gradcheck(&format!("ensemble {d:?}"), &[p], &dy, &[dp], f);
    }
}

#[test]
fn rolling_weights_softmax_of_recent_accuracy() {
    let hits = |pattern: &str| -> Vec<bool> { pattern.chars().map(|c| c == '1').collect() };
    // Member 0: 8 of its last 10 right (its older misses fall outside the window); member 1: 6 of 10.
    let history = vec![hits("0000001111111100"), hits("1111111111110101010111")];
    let w = rolling_weights(&history, 10, 0.1, 5);
    let e2 = 2.0f64.exp();
    assert!((w[0] - e2 / (e2 + 1.0)).abs() < 1e-12 && (w[1] - 1.0 / (e2 + 1.0)).abs() < 1e-12, "{w:?}");
    // Too little history (member 0 has 16 < 20): equal weights.
    assert_eq!(rolling_weights(&history, 10, 0.1, 20), vec![0.5, 0.5]);
    // A window longer than the history uses what there is: 8/16 vs 18/22 → member 1 ahead.
    let w = rolling_weights(&history, 100, 1.0, 1);
    let e0 = (8.0f64 / 16.0 - 18.0 / 22.0).exp();
    assert!((w[0] - e0 / (e0 + 1.0)).abs() < 1e-12, "{w:?}");
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // No history at all, and no members.
    assert_eq!(rolling_weights(&[vec![], vec![], vec![], vec![]], 10, 0.5, 0), vec![0.25; 4]);
    assert!(rolling_weights(&[], 10, 0.5, 0).is_empty());
}

#[test]
fn normal_cdf_matches_python() {
    // 0.5 * math.erfc(-z / math.sqrt(2)), Python 3.11.
    let table = [
        (0.0, 0.5),
        (0.5, 0.6914624612740131),
        (-0.5, 0.3085375387259869),
        (1.0, 0.8413447460685429),
        (-1.0, 0.15865525393145707),
        (1.96, 0.9750021048517795),
        (-1.96, 0.024997895148220435),
        (2.5, 0.9937903346742238),
        (-2.5, 0.006209665325776139),
        (3.0, 0.9986501019683699),
        (-3.0, 0.0013498980316300957),
        (4.2, 0.9999866542509841),
        (-4.2, 1.3345749015906346e-05),
        (6.0, 0.9999999990134123),
        (-6.0, 9.865876450377012e-10),
        (-9.0, 1.1285884059538422e-19),
        (-12.0, 1.776482112077702e-33),
    ];
    for (z, want) in table {
        let got = normal_cdf(z);
        assert!((got - want).abs() <= 1e-13 * want, "Φ({z}) = {got:e}, want {want:e}");
    }
    assert_eq!(normal_cdf(40.0), 1.0);
    assert_eq!(normal_cdf(-40.0), 0.0);
    assert!(normal_cdf(f64::NAN).is_nan());
}

#[test]
fn regression_member_probabilities() {
    // pred 0.001, θ 0.002, spread 0.001: up = Φ(−1), down = Φ(−3).
    let [up, down, hold] = regression_to_probs(0.001, 0.002, 0.001);
    assert!((up - 0.15865525393145707).abs() < 1e-13 && (down - 0.0013498980316300957).abs() < 1e-13);
    assert!((up + down + hold - 1.0).abs() < 1e-15);
    // Symmetric around zero; θ = 0 leaves no room for hold.
    let [u, d, h] = regression_to_probs(0.0, 0.0, 0.01);
    assert_eq!((u, d, h), (0.5, 0.5, 0.0));
    let [u1, d1, _] = regression_to_probs(-0.003, 0.001, 0.002);
    let [u2, d2, _] = regression_to_probs(0.003, 0.001, 0.002);
    assert!((u1 - d2).abs() < 1e-15 && (d1 - u2).abs() < 1e-15);
    // No spread: the prediction itself decides.
    assert_eq!(regression_to_probs(0.003, 0.002, 0.0), [1.0, 0.0, 0.0]);
    assert_eq!(regression_to_probs(-0.003, 0.002, 0.0), [0.0, 1.0, 0.0]);
    assert_eq!(regression_to_probs(0.001, 0.002, 0.0), [0.0, 0.0, 1.0]);
    // A confident regression member passes the ensemble's threshold on its own.
    let p = regression_to_probs(0.01, 0.002, 0.002);
    let d = dims(1, 1);
    let (_, conf, class) = forward64(&d, &p, &[1.0], 0.75, 0.7);
    assert!(conf[0] > 0.99);
    assert_eq!(class, [UP]);
}

/// Per-row weights: a batch combines exactly as its rows one at a time (batch 1, that row's weights), so a
/// backtest's one launch over all bars equals the per-bar calls it replaces.
#[test]
fn batch_rows_use_their_own_weights() {
    let mut rng = Rng::new(23);
    let d = EnsembleDims { batch: 40, members: 4, classes: 3, hold_class: 2 };
    let p: Vec<f32> = random_probs(&d, &mut rng).iter().map(|&v| v as f32).collect();
    // Every row its own weights, a few with one member weighted out.
    let mut w = range32(&mut rng, d.weights_len(), 0.05, 1.0);
    for b in (0..d.batch).step_by(7) {
        w[b * d.members + b % d.members] = 0.0;
    }
    let (comb, conf, class) = forward32(&d, &p, &w, 0.5, 0.6, true);
    let one = EnsembleDims { batch: 1, ..d };
    let (nm, nc) = (d.members, d.classes);
    for b in 0..d.batch {
        let (pr, wr) = (&p[b * nm * nc..(b + 1) * nm * nc], &w[b * nm..(b + 1) * nm]);
        let (c1, f1, k1) = forward32(&one, pr, wr, 0.5, 0.6, true);
        assert_eq!((&comb[b * nc..(b + 1) * nc], conf[b], class[b]), (&c1[..], f1[0], k1[0]), "row {b}");
    }
    // And the weights matter: the same p with the first row's weights everywhere gives other confidences.
    let w0: Vec<f32> = (0..d.batch).flat_map(|_| w[..nm].to_vec()).collect();
    let (_, conf0, _) = forward32(&d, &p, &w0, 0.5, 0.6, true);
    assert!(conf0.iter().zip(&conf).skip(1).any(|(a, b)| a != b), "per-row weights were ignored");
}

/// The combiner on one device through its `EnsembleKernel`, from host data to host data (classes as indices).
fn device_forward(be: &dyn Backend, d: &EnsembleDims, p: &[f32], w: &[f32], thr: f32, agree: f32) -> Forward32 {
    let rule = EnsembleRule { conf_threshold: thr, agreement: agree };
    let (comb, conf, class) = be
        .ensemble(d, &up(be, p), &up(be, w), rule)
        .unwrap_or_else(|e| panic!("ensemble {d:?} on {}: {e}", be.device()));
    let class = host(&class);
    assert!(class.iter().all(|&c| c.fract() == 0.0 && c >= 0.0), "class indices on {}: {class:?}", be.device());
    (host(&comb), host(&conf), class.iter().map(|&c| c as u32).collect())
}

/// The combiner's gradient dp on one device (see `device_forward`).
fn device_backward(be: &dyn Backend, d: &EnsembleDims, p: &[f32], w: &[f32], dcomb: &[f32], dconf: &[f32]) -> Vec<f32> {
    let (p, w, dcomb, dconf) = (up(be, p), up(be, w), up(be, dcomb), up(be, dconf));
    host(
        &be.ensemble_backward(d, &p, &w, Grads { dcombined: &dcomb, dconfidence: &dconf })
            .unwrap_or_else(|e| panic!("ensemble backward {d:?} on {}: {e}", be.device())),
    )
}

/// Dims, probabilities, weights and the (confidence, agreement) thresholds of one device case.
type DeviceCase = (EnsembleDims, Vec<f32>, Vec<f32>, Vec<(f32, f32)>);

/// Every device against the CPU backend (the same trait call): combined probabilities and confidence (relative
/// 1e-6 on wgpu, exact elsewhere), classes exactly, and the gradient dp (1e-5 on wgpu, 1e-6 elsewhere). Cases:
/// random per-row weights with softmax rows (members disagree often), including a batch 0; then fixed weights
/// repeated on every row with normalised uniform rows and an exact tie between classes. The CPU backend's own
/// answer is checked against the plain-slice kernel too.
#[test]
fn forward_and_backward_match_cpu_on_every_device() {
    let mut rng = Rng::new(110);
    let cpu = cpu_backend();
    for be in devices("ensemble forward_and_backward_match_cpu_on_every_device") {
        let device = be.device();
        let mut cases: Vec<DeviceCase> = Vec::new();
        for (batch, members, classes) in [(1, 1, 3), (7, 3, 3), (300, 5, 3), (20, 4, 7), (0, 3, 3)] {
            let d = EnsembleDims { batch, members, classes, hold_class: classes - 1 };
            let p = random_probs(&d, &mut rng).iter().map(|&v| v as f32).collect();
            let w = range32(&mut rng, d.weights_len(), 0.1, 1.0);
            cases.push((d, p, w, vec![(0.0, 0.0), (0.5, 0.5), (0.75, 0.7)]));
        }
        let d = EnsembleDims { batch: 300, members: 4, classes: 3, hold_class: 2 };
        let mut p = range32(&mut rng, d.p_len(), 0.01, 1.0);
        for row in p.chunks_mut(d.classes) {
            let s: f32 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= s);
        }
        p[0] = p[1];
        let w = [0.4, 0.3, 0.2, 0.1].repeat(d.batch);
        cases.push((d, p, w, vec![(0.5, 0.5), (0.45, 0.7), (0.0, 0.0)]));
        for (d, p, w, thresholds) in cases {
            for (thr, agree) in thresholds {
                let what = format!("{d:?} thr {thr} agree {agree} on {device}");
                let (comb, conf, class) = device_forward(be, &d, &p, &w, thr, agree);
                let (comb_c, conf_c, class_c) = device_forward(cpu, &d, &p, &w, thr, agree);
                let fast = forward32(&d, &p, &w, thr, agree, true);
                assert_eq!(bits(&comb_c), bits(&fast.0), "CPU backend vs slice kernel, combined {what}");
                assert_eq!((bits(&conf_c), &class_c), (bits(&fast.1), &fast.2), "CPU backend vs slice kernel {what}");
                let t = tol(be, 1e-6, 0.0);
                let e = device_rel_err(&comb, &comb_c);
                assert!(e <= t, "ensemble combined {what}: relative error {e:.3e} > {t:.1e}");
                let e = device_rel_err(&conf, &conf_c);
                assert!(e <= t, "ensemble confidence {what}: relative error {e:.3e} > {t:.1e}");
                assert_eq!(class, class_c, "ensemble classes {what}");
            }
            let (dcomb, dconf) = (rng.vec32(d.combined_len()), rng.vec32(d.batch));
            let dp = device_backward(be, &d, &p, &w, &dcomb, &dconf);
            let dp_c = device_backward(cpu, &d, &p, &w, &dcomb, &dconf);
            let (e, t) = (device_rel_err(&dp, &dp_c), tol(be, 1e-5, 1e-6));
            assert!(e <= t, "ensemble dp {d:?} on {device}: relative error {e:.3e} > {t:.1e}");
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Bad input is the same error on every device, before any launch: a wrong p or weights length (`Error::Shape`,
/// e.g. the old one-row-of-weights layout), a row whose weights do not sum to a positive number (named by row),
/// more classes than any device holds, a hold class outside the classes, and wrong gradient lengths.
#[test]
fn bad_input_is_the_same_error_on_every_device() {
    let d = EnsembleDims { batch: 3, members: 2, classes: 3, hold_class: 2 };
    let p = vec![1.0 / 3.0; d.p_len()];
    let w = vec![0.5; d.weights_len()];
    let rule = EnsembleRule { conf_threshold: 0.5, agreement: 0.5 };
    for be in devices("ensemble bad_input_is_the_same_error_on_every_device") {
        let on = be.device();
        let fwd = |d: &EnsembleDims, p: &[f32], w: &[f32]| be.ensemble(d, &up(be, p), &up(be, w), rule).err();
        match fwd(&d, &p, &w[..d.members]) {
            Some(Error::Shape { what, .. }) => assert!(what.contains("weights"), "{what} on {on}"),
            other => panic!("one row of weights for 3 rows on {on}: {other:?}"),
        }
        match fwd(&d, &p[1..], &w) {
            Some(Error::Shape { what, .. }) => assert!(what.contains("ensemble: p"), "{what} on {on}"),
            other => panic!("short p on {on}: {other:?}"),
        }
        let mut zero_row = w.clone();
        zero_row[2..4].fill(0.0);
        let e = fwd(&d, &p, &zero_row).map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("row 1: member weights must have a positive sum, found 0"), "zero row on {on}: {e}");
        let mut nan_row = w.clone();
        nan_row[5] = f32::NAN;
        let e = fwd(&d, &p, &nan_row).map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("row 2: member weights must have a positive sum, found NaN"), "NaN row on {on}: {e}");
        let wide = EnsembleDims { batch: 1, members: 1, classes: 17, hold_class: 0 };
        let e = fwd(&wide, &[0.1; 17], &[1.0]).map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("17 classes (1..=16)"), "17 classes on {on}: {e}");
        let bad_hold = EnsembleDims { hold_class: 3, ..d };
        assert!(matches!(fwd(&bad_hold, &p, &w), Some(Error::Invalid(_))), "hold class 3 of 3 on {on}");
        if on != crate::device::Device::Cpu {
            let host_p = crate::backend::Storage::cpu(p.clone());
            let e = be.ensemble(&d, &host_p, &up(be, &w), rule).err();
            assert!(matches!(e, Some(Error::Device(_))), "p on the host given to {on}: {e:?}");
        }
        let (pu, wu) = (up(be, &p), up(be, &w));
        let bwd = |dc: &[f32], df: &[f32]| {
            be.ensemble_backward(&d, &pu, &wu, Grads { dcombined: &up(be, dc), dconfidence: &up(be, df) }).err()
        };
        assert!(matches!(bwd(&[0.0; 8], &[0.0; 3]), Some(Error::Shape { .. })), "short dcombined on {on}");
        assert!(matches!(bwd(&[0.0; 9], &[0.0; 2]), Some(Error::Shape { .. })), "short dconfidence on {on}");
        let zu = up(be, &zero_row);
        let e = be
            .ensemble_backward(&d, &pu, &zu, Grads { dcombined: &up(be, &[0.0; 9]), dconfidence: &up(be, &[0.0; 3]) })
            .err();
        assert!(e.map(|e| e.to_string()).unwrap_or_default().contains("row 1"), "zero row backward on {on}");
    }
}
