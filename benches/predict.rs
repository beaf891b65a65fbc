//! Batch-1 `predict` latency of each model at its seed config and window (MODELS.md), the number to compare with
//! `python benches/torch_latency.py` on the same machine. Weights are random: latency does not depend on them.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tickgrad::device::Device;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::rng::Rng;
use tickgrad::tensor::Tensor;

fn predict(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu/predict_b1");
    g.sample_size(20);
    for (kind, nf) in [("transformer", 32usize), ("lstm_attention", 10), ("tcn", 10), ("multitask", 10)] {
        let cfg = ModelConfig::seed(kind, nf).expect("seed config");
        let model = Model::new(&cfg, 0, Device::Cpu).expect("model");
        let w = cfg.default_window();
        let mut r = Rng::new(1);
        let x =
            Tensor::from_vec((0..w * nf).map(|_| r.normal() as f32).collect(), &[1, w, nf], Device::Cpu).expect("x");
        g.bench_function(kind, |b| b.iter(|| model.predict(black_box(&x)).expect("predict")));
    }
    g.finish();
}

criterion_group!(benches, predict);
criterion_main!(benches);
