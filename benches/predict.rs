//! Batch-1 latency of each model at its seed config and window (docs/MODELS.md), the number to compare with
//! `python benches/torch_latency.py` on the same machine, two ways:
//! - `cpu/predict_b1`: `Model::predict`, the autograd-graph path (batches, GPUs, training use it);
//! - `cpu/plan_b1`: the batch-1 plan (`serve::plan`) on a pool of rayon's thread count, what `tickgrad predict`
//!   and `tickgrad bench` run for one window on the CPU.
//!
//! Weights are random: latency does not depend on them.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tickgrad::device::Device;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::rng::Rng;
use tickgrad::serve::plan::Plan;
use tickgrad::tensor::Tensor;

const SEEDS: [(&str, usize); 4] = [("transformer", 32), ("lstm_attention", 10), ("tcn", 10), ("multitask", 10)];

fn window(kind: &str, nf: usize) -> (Model, Vec<f32>, usize) {
    let cfg = ModelConfig::seed(kind, nf).expect("seed config");
    let model = Model::new(&cfg, 0, Device::Cpu).expect("model");
    let w = cfg.default_window();
    let mut r = Rng::new(1);
    (model, (0..w * nf).map(|_| r.normal() as f32).collect(), w)
}

fn predict(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu/predict_b1");
    g.sample_size(20);
    for (kind, nf) in SEEDS {
        let (model, x, w) = window(kind, nf);
        let x = Tensor::from_vec(x, &[1, w, nf], Device::Cpu).expect("x");
        g.bench_function(kind, |b| b.iter(|| model.predict(black_box(&x)).expect("predict")));
    }
    g.finish();
}

fn plan(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu/plan_b1");
    g.sample_size(20);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(rayon::current_num_threads()).build().expect("pool");
    for (kind, nf) in SEEDS {
        let (model, x, w) = window(kind, nf);
        let mut plan = Plan::new(&model, w).expect("plan");
        let mut y = vec![0.0f32; model.config().output_width()];
        g.bench_function(kind, |b| b.iter(|| plan.run_on(Some(&pool), black_box(&x), &mut y)));
    }
    g.finish();
}

criterion_group!(benches, predict, plan);
criterion_main!(benches);
