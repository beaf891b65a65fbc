//! The fused ensemble combiner and its gradient, against the CPU kernel; classes must agree exactly.

use crate::common::{both, close, gpu, host, Rng};
use tickgrad::backend::wgpu::Gpu;
use tickgrad::backend::Storage;
use tickgrad::ops::ensemble::{cpu, wgpu as ens, EnsembleDims};

/// Probability rows: softmax of uniform logits scaled by 3, so members disagree often.
fn random_probs(d: &EnsembleDims, rng: &mut Rng) -> Vec<f32> {
    rng.vec(d.p_len())
        .chunks(d.classes)
        .flat_map(|row| {
            let e: Vec<f32> = row.iter().map(|v| (3.0 * v).exp()).collect();
            let s: f32 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect()
}

fn dev(v: &[f32]) -> Storage {
    gpu().upload(v.to_vec()).unwrap()
}

#[test]
fn forward_and_backward_match_cpu() {
    let g = Gpu::get(0).unwrap();
    let mut rng = Rng::new(110);
    for (batch, members, classes) in [(1, 1, 3), (7, 3, 3), (300, 5, 3), (20, 4, 7)] {
        let d = EnsembleDims { batch, members, classes, hold_class: classes - 1 };
        let p = random_probs(&d, &mut rng);
        let w: Vec<f32> = rng.range(members, 0.1, 1.0);
        for (thr, agree) in [(0.0, 0.0), (0.5, 0.5), (0.75, 0.7)] {
            let (mut comb, mut conf, mut class) =
                (vec![f32::NAN; d.combined_len()], vec![f32::NAN; batch], vec![99; batch]);
            cpu::ensemble_forward(&d, &p, &w, thr, agree, &mut comb, &mut conf, &mut class);
            let (cg, fg, kg) = ens::ensemble_forward(g, &d, &dev(&p), &dev(&w), thr, agree).unwrap();
            let what = format!("{d:?} thr {thr} agree {agree}");
            close(&format!("ensemble combined {what}"), &cg, &both(&comb).0, 1e-6);
            close(&format!("ensemble confidence {what}"), &fg, &both(&conf).0, 1e-6);
            let classes_gpu: Vec<u32> = host(&kg).iter().map(|&c| c as u32).collect();
            assert_eq!(classes_gpu, class, "ensemble classes {what}");
        }
        let (dcomb, dconf) = (rng.vec(d.combined_len()), rng.vec(batch));
        let mut dp = vec![f32::NAN; d.p_len()];
        cpu::ensemble_backward(&d, &p, &w, &dcomb, &dconf, &mut dp);
        let got = ens::ensemble_backward(g, &d, &dev(&p), &dev(&w), &dev(&dcomb), &dev(&dconf)).unwrap();
        close(&format!("ensemble dp {d:?}"), &got, &both(&dp).0, 1e-5);
    }
}

#[test]
fn too_many_classes_is_an_error() {
    let d = EnsembleDims { batch: 1, members: 1, classes: 17, hold_class: 0 };
    let g = Gpu::get(0).unwrap();
    assert!(ens::ensemble_forward(g, &d, &dev(&[0.1; 17]), &dev(&[1.0]), 0.0, 0.0).is_err());
}
