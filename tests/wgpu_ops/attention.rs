//! Fused attention: forward (o, lse), the weights map and the backward, causal and not, with tq ≠ tk,
//! single-query decoding, queries that see no key, and shapes spanning several key / query tiles.

use crate::common::{both, close, cpu, gpu, host, Rng};
use tickgrad::ops::attention::{AttentionDims, Qkv};

fn cases() -> Vec<AttentionDims> {
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
    v
}

#[test]
fn forward_weights_and_backward_match_cpu() {
    let mut rng = Rng::new(90);
    for d in cases() {
        let what = format!("{d:?}");
        let ((qc, qg), (kc, kg), (vc, vg)) =
            (both(&rng.vec(d.q_len())), both(&rng.vec(d.k_len())), both(&rng.vec(d.v_len())));
        let (oc, lc) = cpu().attention(&d, &Qkv { q: &qc, k: &kc, v: &vc }).unwrap();
        let (og, lg) = gpu().attention(&d, &Qkv { q: &qg, k: &kg, v: &vg }).unwrap();
        close(&format!("attention o {what}"), &og, &oc, 1e-4);
        // lse may be −∞ (no visible key) on both sides; compare the finite entries.
        let (lh, lw) = (host(&lg), host(&lc));
        for (i, (a, b)) in lh.iter().zip(&lw).enumerate() {
            assert!(
                a == b || (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "attention lse[{i}] {what}: wgpu {a} vs cpu {b}"
            );
        }
        let wc = cpu().attention_weights(&d, &qc, &kc, &lc).unwrap();
        close(&format!("attention weights {what}"), &gpu().attention_weights(&d, &qg, &kg, &lg).unwrap(), &wc, 1e-4);
        let (gc, gg) = both(&rng.vec(d.o_len()));
        let (dqc, dkc, dvc) = cpu().attention_backward(&d, &Qkv { q: &qc, k: &kc, v: &vc }, &oc, &lc, &gc).unwrap();
        let (dqg, dkg, dvg) = gpu().attention_backward(&d, &Qkv { q: &qg, k: &kg, v: &vg }, &og, &lg, &gg).unwrap();
        close(&format!("attention dq {what}"), &dqg, &dqc, 1e-4);
        close(&format!("attention dk {what}"), &dkg, &dkc, 1e-4);
        close(&format!("attention dv {what}"), &dvg, &dvc, 1e-4);
    }
}

#[test]
fn heads_wider_than_the_kernel_are_an_error() {
    let d = AttentionDims::new(1, 2, 2, 129, 4, false);
    let ((_, q), (_, k), (_, v)) =
        (both(&vec![0.5; d.q_len()]), both(&vec![0.5; d.k_len()]), both(&vec![0.5; d.v_len()]));
    assert!(gpu().attention(&d, &Qkv { q: &q, k: &k, v: &v }).is_err());
}
