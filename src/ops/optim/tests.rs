//! The optimizer family against its f64 reference and across devices. Updates have no backward (they are not
//! differentiated through), so there is no gradient check; PyTorch parity over several steps is in
//! `tests/optim_parity.rs`.

use super::{cpu, reference, AdamConfig, AdamSlot, AdamStep, SgdSlot, SgdStep};
use crate::ops::testing::{assert_close, devices, host, to64, tol, up, Rng};

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
    cpu::adam_group(&AdamStep::new(&c, 1).unwrap(), 1.0, &mut [(&mut p[..], &g[..], &mut m[..], &mut v[..])]);
    for i in 0..257 {
        let want = p0[i] as f64 - 1e-2 * g[i] as f64 / (g[i].abs() as f64 + 1e-8);
        assert!((p[i] as f64 - want).abs() < 1e-6, "element {i}: {} vs {want}", p[i]);
    }
}

/// Tensor lengths of a test group: 1, lengths around the CUDA block (256) and the WGSL workgroup, a tensor longer
/// than one block's stride, and enough small tensors that a group takes more than one CUDA list
/// (`cuda::GROUP_MAX` = 48) — 60 tensors in all.
fn group_lens(rng: &mut Rng) -> Vec<usize> {
    let mut lens = vec![1, 3, 31, 33, 255, 256, 257, 1000, 4099];
    while lens.len() < 60 {
        lens.push(1 + (rng.uniform(0.0, 97.0) as usize));
    }
    lens
}

fn vecs(rng: &mut Rng, lens: &[usize]) -> Vec<Vec<f32>> {
    lens.iter().map(|&n| rng.vec32(n)).collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// The f32 CPU group kernels against the f64 reference over several steps, with clipping, both weight-decay forms
/// and SGD with and without momentum, on a group whose largest tensor spans several parallel chunks.
#[test]
fn cpu_matches_reference_over_steps() {
    let mut rng = Rng::new(2);
    let lens = [70_001, 1, 300, 32_768];
    for decoupled in [true, false] {
        let c = adamw(decoupled);
        let mut p = vecs(&mut rng, &lens);
        let (mut m, mut v): (Vec<_>, Vec<_>) = lens.iter().map(|&n| (vec![0.0f32; n], vec![0.0f32; n])).unzip();
        let mut p64: Vec<Vec<f64>> = p.iter().map(|x| to64(x)).collect();
        let (mut m64, mut v64): (Vec<_>, Vec<_>) = lens.iter().map(|&n| (vec![0.0f64; n], vec![0.0f64; n])).unzip();
        for t in 1..=5 {
            let g = vecs(&mut rng, &lens);
            let s = AdamStep::new(&c, t).unwrap();
            let mut views: Vec<_> = p
                .iter_mut()
                .zip(&g)
                .zip(m.iter_mut().zip(v.iter_mut()))
                .map(|((p, g), (m, v))| (p.as_mut_slice(), g.as_slice(), m.as_mut_slice(), v.as_mut_slice()))
                .collect();
            cpu::adam_group(&s, 0.7, &mut views);
            for i in 0..lens.len() {
                reference::adam_update(&s, 0.7, &mut p64[i], &to64(&g[i]), &mut m64[i], &mut v64[i]);
            }
        }
        for i in 0..lens.len() {
            let what = format!("adam tensor {i} (n={}) decoupled={decoupled}", lens[i]);
            assert_close(&format!("{what} p"), &p[i], &f32s(&p64[i]), 1e-6);
            assert_close(&format!("{what} m"), &m[i], &f32s(&m64[i]), 1e-6);
            assert_close(&format!("{what} v"), &v[i], &f32s(&v64[i]), 1e-6);
        }
    }
    for momentum in [0.0, 0.9] {
        let mut p = vecs(&mut rng, &lens);
        let mut b: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0.0f32; n]).collect();
        let mut p64: Vec<Vec<f64>> = p.iter().map(|x| to64(x)).collect();
        let mut b64: Vec<Vec<f64>> = lens.iter().map(|&n| vec![0.0f64; n]).collect();
        for t in 0..4 {
            let g = vecs(&mut rng, &lens);
            let s = SgdStep::new(0.05, momentum, 1e-3, t == 0).unwrap();
            let mut views: Vec<_> = p
                .iter_mut()
                .zip(&g)
                .zip(b.iter_mut())
                .map(|((p, g), b)| (p.as_mut_slice(), g.as_slice(), b.as_mut_slice()))
                .collect();
            cpu::sgd_group(&s, 0.5, &mut views);
            for i in 0..lens.len() {
                reference::sgd_update(&s, 0.5, &mut p64[i], &to64(&g[i]), &mut b64[i]);
            }
        }
        for i in 0..lens.len() {
            assert_close(&format!("sgd tensor {i} p momentum={momentum}"), &p[i], &f32s(&p64[i]), 1e-6);
        }
    }
    let g = vecs(&mut rng, &lens);
    let g64: Vec<Vec<f64>> = g.iter().map(|x| to64(x)).collect();
    let want = reference::squared_norm(&g64.iter().map(|x| x.as_slice()).collect::<Vec<_>>());
    let got = cpu::squared_norm(&g.iter().map(|x| x.as_slice()).collect::<Vec<_>>());
    assert!((got as f64 - want).abs() <= 1e-6 * want, "squared norm {got} vs {want}");
    assert_eq!(cpu::squared_norm(&[]), 0.0, "an empty group");
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
        let fine = AdamSlot { p: &one, g: &one, m: &one, v: &one };
        let bad = AdamSlot { p: &p, g: &short, m: &p, v: &p };
        let e = be.adam_group(&[fine, bad], &one, &s).expect_err("short gradient").to_string();
        assert!(e.contains("tensor 1") && e.contains('g') && e.contains('8') && e.contains('7'), "{e}");
        let ok = AdamSlot { p: &p, g: &p, m: &p, v: &p };
        assert!(be.adam_group(&[ok], &p, &s).is_err(), "an 8-value scale on {}", be.device());
        let sg = SgdStep::new(0.1, 0.9, 0.0, false).unwrap();
        let bad = SgdSlot { p: &p, g: &p, buf: &short };
        assert!(be.sgd_group(&[bad], &one, &sg).is_err(), "short momentum buffer on {}", be.device());
        assert!(be.clip_factor(&p, 1.0).is_err(), "an 8-value total on {}", be.device());
    }
}

/// Every device's group kernels against the reference (the squared norm in f64, the updates in f32): three chained Adam/AdamW steps of a 60-tensor group
/// (lengths 1, around the block and workgroup sizes, and many small ones: more than one CUDA list) with the
/// device's own squared norm and clip factor (above and below the limit), and SGD with and without momentum.
/// Outputs are fresh buffers, NaN-poisoned by the GPU backends in debug builds, so a skipped element fails.
#[test]
fn group_updates_match_reference_on_every_device() {
    let mut rng = Rng::new(3);
    for be in devices("optim_group_updates_match_reference_on_every_device") {
        let t = tol(be, 1e-5, 1e-6);
        let lens = group_lens(&mut rng);
        let up_all = |v: &[Vec<f32>]| v.iter().map(|x| up(be, x)).collect::<Vec<_>>();
        // The update checks use the reference in f32: the same operations in the same order, so a device differs
        // only by rounding (e.g. a fused multiply-add), even on elements near zero.
        let as64 = |v: &[Vec<f32>]| v.iter().map(|x| to64(x)).collect::<Vec<_>>();
        for (decoupled, max_norm) in [(true, 1.0f32), (false, 1e3)] {
            let c = adamw(decoupled);
            let p0 = vecs(&mut rng, &lens);
            let zeros: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0.0; n]).collect();
            let (mut p, mut m, mut v) = (up_all(&p0), up_all(&zeros), up_all(&zeros));
            let (mut pr, mut mr, mut vr) = (p0.clone(), zeros.clone(), zeros.clone());
            for step in 1..=3 {
                let g = vecs(&mut rng, &lens);
                let (gd, g64) = (up_all(&g), as64(&g));
                let total = be.squared_norm(&gd.iter().collect::<Vec<_>>()).unwrap();
                let want = reference::squared_norm(&g64.iter().map(|x| x.as_slice()).collect::<Vec<_>>());
                let got = host(&total);
                assert_eq!(got.len(), 1);
                let e = (got[0] as f64 - want).abs() / want;
                assert!(e <= 1e-5, "squared norm on {}: {} vs {want} ({e:.2e})", be.device(), got[0]);
                let again = be.squared_norm(&gd.iter().collect::<Vec<_>>()).unwrap();
                assert_eq!(
                    host(&again)[0].to_bits(),
                    got[0].to_bits(),
                    "squared norm on {}: not deterministic",
                    be.device()
                );
                let scale = be.clip_factor(&total, max_norm).unwrap();
                let c64 = reference::clip_factor(want, max_norm as f64);
                let cf = host(&scale)[0];
                assert!((cf as f64 - c64).abs() <= 1e-5 * c64, "clip factor on {}: {cf} vs {c64}", be.device());
                let s = AdamStep::new(&c, step).unwrap();
                let slots: Vec<AdamSlot> =
                    (0..lens.len()).map(|i| AdamSlot { p: &p[i], g: &gd[i], m: &m[i], v: &v[i] }).collect();
                let new = be.adam_group(&slots, &scale, &s).unwrap();
                assert_eq!(new.len(), lens.len());
                (p, m, v) = (vec![], vec![], vec![]);
                for (pi, mi, vi) in new {
                    p.push(pi);
                    m.push(mi);
                    v.push(vi);
                }
                for i in 0..lens.len() {
                    reference::adam_update(&s, cf, &mut pr[i], &g[i], &mut mr[i], &mut vr[i]);
                }
            }
            for i in 0..lens.len() {
                let what = format!("adam on {} tensor {i} (n={}) decoupled={decoupled}", be.device(), lens[i]);
                assert_close(&format!("{what} p"), &host(&p[i]), &pr[i], t);
                assert_close(&format!("{what} m"), &host(&m[i]), &mr[i], t);
                assert_close(&format!("{what} v"), &host(&v[i]), &vr[i], t);
            }
        }
        for momentum in [0.0, 0.9] {
            let (p0, b0) = (vecs(&mut rng, &lens), vecs(&mut rng, &lens));
            let (mut p, mut b) = (up_all(&p0), up_all(&b0));
            let (mut pr, mut br) = (p0.clone(), b0.clone());
            let half = up(be, &[0.5]);
            for step in 0..3 {
                let g = vecs(&mut rng, &lens);
                let gd = up_all(&g);
                let s = SgdStep::new(0.05, momentum, 1e-3, step == 0).unwrap();
                let slots: Vec<SgdSlot> =
                    (0..lens.len()).map(|i| SgdSlot { p: &p[i], g: &gd[i], buf: &b[i] }).collect();
                let new = be.sgd_group(&slots, &half, &s).unwrap();
                (p, b) = new.into_iter().unzip();
                for i in 0..lens.len() {
                    reference::sgd_update(&s, 0.5, &mut pr[i], &g[i], &mut br[i]);
                }
            }
            for i in 0..lens.len() {
                let what = format!("sgd on {} tensor {i} (n={}) momentum={momentum}", be.device(), lens[i]);
                assert_close(&format!("{what} p"), &host(&p[i]), &pr[i], t);
                assert_close(&format!("{what} buf"), &host(&b[i]), &br[i], t);
                if momentum == 0.0 {
                    assert_eq!(host(&b[i]), b0[i], "without momentum the buffer is passed through");
                }
            }
        }
        let empty = be.squared_norm(&[]).unwrap();
        assert_eq!(host(&empty), vec![0.0], "the squared norm of an empty group on {}", be.device());
        assert!(be.adam_group(&[], &up(be, &[1.0]), &AdamStep::new(&adamw(true), 1).unwrap()).unwrap().is_empty());
    }
}
