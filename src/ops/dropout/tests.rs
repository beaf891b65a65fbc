use super::{cpu, keep, mix, reference, DropoutDims};
use crate::ops::testing::{cpu_backend, devices, gradcheck, poisoned, same, up, Rng};

/// The first outputs of Vigna's reference `splitmix64.c` seeded with 1234567: the GPU kernels must reproduce them.
#[test]
fn mix_is_splitmix64() {
    let want =
        [6457827717110365317u64, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821];
    for (i, &w) in want.iter().enumerate() {
        assert_eq!(mix(1234567, i as u64), w, "output {i}");
    }
    // Top 24 bits for seed 42 (Python: `mix(42, i) >> 40`), pinning the keep test's input.
    let top = [12441394u64, 2682851, 4674151, 5774561, 638040, 14566449, 3664231, 13432373];
    for (i, &w) in top.iter().enumerate() {
        assert_eq!(mix(42, i as u64) >> 40, w, "top bits {i}");
    }
    let d = DropoutDims::new(8, 0.25);
    assert_eq!(d.threshold(), 4194304);
    let kept: Vec<bool> = (0..8).map(|i| keep(42, i, d.threshold())).collect();
    assert_eq!(kept, [true, false, true, true, false, true, false, true]);
}

#[test]
fn threshold_is_exact() {
    assert_eq!(DropoutDims::new(1, 0.0).threshold(), 0);
    assert_eq!(DropoutDims::new(1, 0.5).threshold(), 1 << 23);
    assert_eq!(DropoutDims::new(1, 1.0 - f32::EPSILON / 2.0).threshold(), (1 << 24) - 1);
    // 0.1 is not a multiple of 2^-24: the threshold rounds up, so u·2^-24 ≥ p exactly when u ≥ threshold.
    let t = DropoutDims::new(1, 0.1).threshold();
    assert!((t as f64) / 16777216.0 >= 0.1f32 as f64 && ((t - 1) as f64) / 16777216.0 < 0.1f32 as f64);
}

#[test]
fn keeps_about_one_minus_p() {
    for p in [0.1f32, 0.5, 0.9] {
        let d = DropoutDims::new(200_000, p);
        let kept = (0..d.len as u64).filter(|&i| keep(7, i, d.threshold())).count();
        let frac = kept as f64 / d.len as f64;
        assert!((frac - (1.0 - p as f64)).abs() < 0.005, "p={p}: kept {frac}");
    }
}

#[test]
fn cpu_matches_reference_bit_for_bit() {
    let mut rng = Rng::new(41);
    for n in [1, 1000, 100_003] {
        for p in [0.0f32, 0.25, 0.7] {
            let d = DropoutDims::new(n, p);
            let x = rng.vec32(n);
            for seed in [0u64, 99, u64::MAX] {
                let (mut want, mut got) = (poisoned(n), poisoned(n));
                reference::dropout_forward(&d, seed, &x, &mut want);
                cpu::dropout_forward(&d, seed, &x, &mut got);
                assert_eq!(got, want, "forward n={n} p={p} seed={seed}");
                let (mut want_dx, mut got_dx) = (poisoned(n), poisoned(n));
                reference::dropout_backward(&d, seed, &x, &mut want_dx);
                cpu::dropout_backward(&d, seed, &x, &mut got_dx);
                assert_eq!(got_dx, want_dx, "backward n={n} p={p} seed={seed}");
                // Backward recomputes the forward's mask and scale: applied to the same values it gives y.
                assert_eq!(got_dx, got, "backward mask n={n} p={p} seed={seed}");
            }
        }
    }
}

#[test]
fn p_zero_is_identity_and_seeds_differ() {
    let mut rng = Rng::new(42);
    let x = rng.vec32(5000);
    let mut y = poisoned(5000);
    cpu::dropout_forward(&DropoutDims::new(5000, 0.0), 3, &x, &mut y);
    assert_eq!(y, x);
    let d = DropoutDims::new(5000, 0.5);
    let (mut y1, mut y2) = (poisoned(5000), poisoned(5000));
    cpu::dropout_forward(&d, 1, &x, &mut y1);
    cpu::dropout_forward(&d, 2, &x, &mut y2);
    let differ = y1.iter().zip(&y2).filter(|(a, b)| (**a == 0.0) != (**b == 0.0)).count();
    assert!(differ > 2000, "masks for seeds 1 and 2 differ in only {differ} places");
    for (&yv, &xv) in y1.iter().zip(&x) {
        assert!(yv == 0.0 || yv == xv * 2.0, "kept values are scaled by 1/(1-p)");
    }
}

#[test]
#[should_panic(expected = "outside [0, 1)")]
fn p_one_is_rejected() {
    DropoutDims::new(4, 1.0);
}

#[test]
fn gradcheck_reference() {
    let mut rng = Rng::new(43);
    let d = DropoutDims::new(64, 0.3);
    let x = rng.vec64(64);
    let dy = rng.vec64(64);
    let mut dx = vec![f64::NAN; 64];
    reference::dropout_backward(&d, 5, &dy, &mut dx);
    gradcheck("dropout", &[x], &dy, &[dx], |xs| {
        let mut y = vec![0.0; 64];
        reference::dropout_forward(&d, 5, &xs[0], &mut y);
        y
    });
}

/// Every device against the CPU backend, bit for bit: masks and values of the forward and the backward (the
/// GPU kernels emulate the same SplitMix64 counter hash with u32 pairs). The former wgpu suite's cases, then
/// the former CUDA suite's.
#[test]
fn masks_and_values_are_bit_identical_on_every_device() {
    let mut rng = Rng::new(60);
    let cases = [
        (1, 0.5f32, 0u64),
        (1000, 0.1, 1234567),
        (70_001, 0.5, u64::MAX),
        (5000, 0.0, 9),
        (4096, 0.9, 1 << 40),
        (5000, 0.0, 1),
        (5000, 0.1, 1234567),
        (5000, 0.5, u64::MAX),
        (5000, 0.9, 42),
    ];
    for be in devices("masks_and_values_are_bit_identical_on_every_device") {
        let c = cpu_backend();
        for (n, p, seed) in cases {
            let (x, dy) = (rng.vec32(n), rng.vec32(n));
            let want = c.dropout(&up(c, &x), p, seed).unwrap();
            same(&format!("dropout n={n} p={p} seed={seed}"), &be.dropout(&up(be, &x), p, seed).unwrap(), &want);
            let want = c.dropout_backward(&up(c, &dy), p, seed).unwrap();
            let got = be.dropout_backward(&up(be, &dy), p, seed).unwrap();
            same(&format!("dropout backward n={n} p={p} seed={seed}"), &got, &want);
        }
    }
}

/// On every device a probability outside [0, 1) is an error, not a panic or a division by zero.
#[test]
fn invalid_probability_is_an_error_on_every_device() {
    for be in devices("invalid_probability_is_an_error_on_every_device") {
        let x = up(be, &[1.0, 2.0]);
        assert!(be.dropout(&x, 1.0, 0).is_err(), "p = 1 on {}: an error, not a division by zero", be.device());
        assert!(be.dropout(&x, -0.1, 0).is_err(), "p < 0 on {}", be.device());
    }
}
