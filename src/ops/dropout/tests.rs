use super::{cpu, keep, mix, reference, DropoutDims};
use crate::ops::testing::{gradcheck, poisoned, Rng};

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
