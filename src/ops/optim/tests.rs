//! The optimizer family against its f64 reference and across devices. Updates have no backward (they are not
//! differentiated through), so there is no gradient check; PyTorch parity over several steps is in
//! `tests/optim_parity.rs`.

use super::{cpu, reference, AdamArgs, AdamConfig, AdamStep, SgdStep};
use crate::ops::testing::{assert_close, close, cpu_backend, devices, host, to64, tol, up, Rng};

fn adamw(decoupled: bool) -> AdamConfig {
    AdamConfig { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.05, decoupled }
}

/// The first Adam step moves each weight by lr·g/(|g| + ε): m̂ = g and √v̂ = |g| (no decay here).
#[test]
fn first_adam_step_moves_by_lr_times_the_sign() {
    let c = AdamConfig { weight_decay: 0.0, ..adamw(true) };
    let mut rng = Rng::new(1);
    let (p0, g) = (rng.vec32(257), rng.vec32(257));
    let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; 257], vec![0.0; 257]);
    cpu::adam_update(&AdamStep::new(&c, 1).unwrap(), 1.0, &mut p, &g, &mut m, &mut v);
    for i in 0..257 {
        let want = p0[i] as f64 - 1e-2 * g[i] as f64 / (g[i].abs() as f64 + 1e-8);
        assert!((p[i] as f64 - want).abs() < 1e-6, "element {i}: {} vs {want}", p[i]);
    }
}

/// The f32 CPU kernels against the f64 reference over several steps, with clipping, both weight-decay forms and
/// SGD with and without momentum.
#[test]
fn cpu_matches_reference_over_steps() {
    let mut rng = Rng::new(2);
    let n = 70_001; // more than one parallel chunk
    for decoupled in [true, false] {
        let c = adamw(decoupled);
        let (mut p, mut m, mut v) = (rng.vec32(n), vec![0.0f32; n], vec![0.0f32; n]);
        let (mut p64, mut m64, mut v64) = (to64(&p), vec![0.0f64; n], vec![0.0f64; n]);
        for t in 1..=5 {
            let g = rng.vec32(n);
            let s = AdamStep::new(&c, t).unwrap();
            cpu::adam_update(&s, 0.7, &mut p, &g, &mut m, &mut v);
            reference::adam_update(&s, 0.7, &mut p64, &to64(&g), &mut m64, &mut v64);
        }
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        assert_close(&format!("adam p decoupled={decoupled}"), &p, &f(&p64), 1e-6);
        assert_close(&format!("adam m decoupled={decoupled}"), &m, &f(&m64), 1e-6);
        assert_close(&format!("adam v decoupled={decoupled}"), &v, &f(&v64), 1e-6);
    }
    for momentum in [0.0, 0.9] {
        let (mut p, mut b) = (rng.vec32(n), vec![0.0f32; n]);
        let (mut p64, mut b64) = (to64(&p), vec![0.0f64; n]);
        for t in 0..4 {
            let g = rng.vec32(n);
            let s = SgdStep::new(0.05, momentum, 1e-3, t == 0).unwrap();
            cpu::sgd_update(&s, 0.5, &mut p, &g, &mut b);
            reference::sgd_update(&s, 0.5, &mut p64, &to64(&g), &mut b64);
        }
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        assert_close(&format!("sgd p momentum={momentum}"), &p, &f(&p64), 1e-6);
    }
    let g = rng.vec32(n);
    let want = reference::sum_squares(&to64(&g), 0.25);
    assert!((cpu::sum_squares(&g, 0.25) as f64 - want).abs() <= 1e-6 * want);
}

#[test]
fn clip_factor_is_torchs() {
    assert_eq!(reference::clip_factor(4.0f64, 1.0), 1.0 / (2.0 + 1e-6));
    assert_eq!(reference::clip_factor(0.25f64, 1.0), 1.0, "below the limit: no scaling");
    assert_eq!(reference::clip_factor(0.0f64, 1.0), 1.0, "a zero gradient is not divided by zero");
}

#[test]
fn bad_hyperparameters_and_lengths_are_errors() {
    assert!(AdamStep::new(&adamw(true), 0).is_err(), "step 0");
    assert!(AdamStep::new(&AdamConfig { beta2: 1.0, ..adamw(true) }, 1).is_err(), "beta2 = 1");
    assert!(AdamStep::new(&AdamConfig { lr: f64::NAN, ..adamw(true) }, 1).is_err(), "NaN lr");
    assert!(SgdStep::new(0.1, -0.5, 0.0, true).is_err(), "negative momentum");
    for be in devices("optim_bad_lengths_are_errors") {
        let (p, short, one) = (up(be, &[1.0; 8]), up(be, &[1.0; 7]), up(be, &[1.0]));
        let s = AdamStep::new(&adamw(true), 1).unwrap();
        let a = AdamArgs { p: &p, g: &short, m: &p, v: &p, scale: &one };
        let e = be.adam_update(&a, &s).expect_err("short gradient").to_string();
        assert!(e.contains('g') && e.contains('8') && e.contains('7'), "{e}");
        let a = AdamArgs { p: &p, g: &p, m: &p, v: &p, scale: &p };
        assert!(be.adam_update(&a, &s).is_err(), "an 8-value scale on {}", be.device());
        let sg = SgdStep::new(0.1, 0.9, 0.0, false).unwrap();
        assert!(be.sgd_update(&p, &p, &short, &one, &sg).is_err(), "short momentum buffer on {}", be.device());
        assert!(be.sum_squares(&p, &p).is_err(), "an 8-value accumulator on {}", be.device());
    }
}

/// Every device against the CPU backend: three chained Adam/AdamW steps with a device-computed clip factor
/// (above and below the limit), and SGD with and without momentum. Sizes cover a partial workgroup and a
/// tensor longer than one block's stride.
#[test]
fn updates_match_cpu_on_every_device() {
    let mut rng = Rng::new(3);
    let cpu = cpu_backend();
    for be in devices("optim_updates_match_cpu_on_every_device") {
        let t = tol(be, 1e-5, 1e-6);
        for n in [1usize, 300, 5000] {
            for (decoupled, max_norm) in [(true, 1.0f32), (false, 1e3)] {
                let c = adamw(decoupled);
                let p0 = rng.vec32(n);
                let zeros = vec![0.0f32; n];
                let (mut dev, mut want) = ((up(be, &p0), up(be, &zeros), up(be, &zeros)), {
                    (up(cpu, &p0), up(cpu, &zeros), up(cpu, &zeros))
                });
                for step in 1..=3 {
                    let (g1, g2) = (rng.vec32(n), rng.vec32(n));
                    // the clip factor of two gradients, chained through sum_squares as a training step does
                    let factor = |b: &'static dyn crate::ops::Backend| {
                        let acc = b.sum_squares(&up(b, &g1), &up(b, &[0.0])).unwrap();
                        let acc = b.sum_squares(&up(b, &g2), &acc).unwrap();
                        (acc.clone(), b.clip_factor(&acc, max_norm).unwrap())
                    };
                    let ((tot_d, c_d), (tot_c, c_c)) = (factor(be), factor(cpu));
                    close(&format!("sum_squares n={n}"), &tot_d, &tot_c, tol(be, 1e-5, 1e-5));
                    close(&format!("clip factor n={n}"), &c_d, &c_c, 1e-5);
                    let s = AdamStep::new(&c, step).unwrap();
                    let gd = up(be, &g1);
                    let a = AdamArgs { p: &dev.0, g: &gd, m: &dev.1, v: &dev.2, scale: &c_d };
                    dev = be.adam_update(&a, &s).unwrap();
                    let gc = up(cpu, &g1);
                    let a = AdamArgs { p: &want.0, g: &gc, m: &want.1, v: &want.2, scale: &c_c };
                    want = cpu.adam_update(&a, &s).unwrap();
                }
                let what = format!("adam n={n} decoupled={decoupled} max_norm={max_norm}");
                close(&format!("{what} p"), &dev.0, &want.0, t);
                close(&format!("{what} m"), &dev.1, &want.1, t);
                close(&format!("{what} v"), &dev.2, &want.2, t);
            }
            for momentum in [0.0, 0.9] {
                let (p0, b0, one) = (rng.vec32(n), rng.vec32(n), [0.5f32]);
                let (mut dev, mut want) = ((up(be, &p0), up(be, &b0)), (up(cpu, &p0), up(cpu, &b0)));
                for step in 0..3 {
                    let g = rng.vec32(n);
                    let s = SgdStep::new(0.05, momentum, 1e-3, step == 0).unwrap();
                    dev = be.sgd_update(&dev.0, &up(be, &g), &dev.1, &up(be, &one), &s).unwrap();
                    want = cpu.sgd_update(&want.0, &up(cpu, &g), &want.1, &up(cpu, &one), &s).unwrap();
                }
                close(&format!("sgd n={n} momentum={momentum} p"), &dev.0, &want.0, t);
                close(&format!("sgd n={n} momentum={momentum} buf"), &dev.1, &want.1, t);
                if momentum == 0.0 {
                    assert_eq!(host(&dev.1), b0, "without momentum the buffer is passed through");
                }
            }
        }
    }
}
