//! wgpu kernel benches at the sizes (and under the names) of `benches/kernels.rs`, so `cpu/matmul/256` and
//! `wgpu/matmul/256` compare directly. Each iteration launches the kernel and waits for the device
//! (`Gpu::sync`, a blocking poll), so the time is the kernel's, not the time to queue it; inputs are uploaded
//! once outside the loop and outputs go back to the buffer pool.
//!
//! `cargo bench --features wgpu --bench wgpu_kernels` (`TICKGRAD_WGPU_ADAPTER=N` picks `wgpu:N`). On lavapipe
//! (Mesa's software Vulkan, the CI device) the numbers are a smoke test, not a GPU measurement.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use tickgrad::backend::wgpu::Gpu;
use tickgrad::backend::Storage;
use tickgrad::ops::attention::{AttentionDims, Qkv};
use tickgrad::ops::conv1d::Conv1dDims;
use tickgrad::ops::lstm::{LstmArgs, LstmDims};
use tickgrad::ops::matmul::MatmulDims;
use tickgrad::ops::prelude::*;
use tickgrad::rng::Rng;

fn gpu() -> Option<&'static Gpu> {
    let n = std::env::var("TICKGRAD_WGPU_ADAPTER").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    match Gpu::get(n) {
        Ok(g) => {
            eprintln!("wgpu benches on {}", g.name());
            Some(g)
        }
        Err(e) => {
            eprintln!("skipping wgpu benches: {e}");
            None
        }
    }
}

fn rand(g: &Gpu, n: usize, seed: u64) -> Storage {
    let mut r = Rng::new(seed);
    g.upload((0..n).map(|_| r.uniform(-1.0, 1.0) as f32).collect()).expect("upload")
}

fn matmul(c: &mut Criterion) {
    let Some(gpu) = gpu() else { return };
    let mut g = c.benchmark_group("wgpu/matmul");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for n in [256usize, 512] {
        let d = MatmulDims { batch_a: 1, batch_b: 1, m: n, k: n, n, trans_a: false, trans_b: false };
        let (a, b) = (rand(gpu, n * n, 1), rand(gpu, n * n, 2));
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bch, _| {
            bch.iter(|| {
                let c = gpu.matmul(&d, black_box(&a), &b).expect("matmul");
                gpu.sync().expect("sync");
                c
            })
        });
    }
    g.finish();
}

fn attention(c: &mut Criterion) {
    let Some(gpu) = gpu() else { return };
    let mut g = c.benchmark_group("wgpu/attention");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (name, bh, t, causal) in
        [("b1_h8_t60_d64", 8, 60, false), ("b1_h8_t60_d64_causal", 8, 60, true), ("b8_h8_t128_d64", 64, 128, false)]
    {
        let d = AttentionDims { bh, tq: t, tk: t, d: 64, dv: 64, causal, scale: 0.125 };
        let (q, k, v) = (rand(gpu, bh * t * 64, 1), rand(gpu, bh * t * 64, 2), rand(gpu, bh * t * 64, 3));
        g.throughput(Throughput::Elements((4 * bh * t * t * 64) as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let out = gpu.attention(&d, &Qkv { q: black_box(&q), k: &k, v: &v }).expect("attention");
                gpu.sync().expect("sync");
                out
            })
        });
    }
    g.finish();
}

fn conv1d(c: &mut Criterion) {
    let Some(gpu) = gpu() else { return };
    let mut g = c.benchmark_group("wgpu/conv1d");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for batch in [1usize, 16] {
        let d = Conv1dDims::causal(batch, 64, 64, 256, 3, 4);
        let (x, w, bias) = (rand(gpu, batch * 64 * 256, 1), rand(gpu, 64 * 64 * 3, 2), rand(gpu, 64, 3));
        g.throughput(Throughput::Elements((2 * batch * 64 * 64 * 3 * 256) as u64));
        g.bench_function(format!("b{batch}_c64_t256_k3_d4"), |b| {
            b.iter(|| {
                let y = gpu.conv1d(&d, black_box(&x), &w, Some(&bias)).expect("conv1d");
                gpu.sync().expect("sync");
                y
            })
        });
    }
    g.finish();
}

fn lstm_seq(c: &mut Criterion) {
    let Some(gpu) = gpu() else { return };
    let mut g = c.benchmark_group("wgpu/lstm_seq");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let (h, t) = (256usize, 120usize);
    for input in [10usize, 512] {
        let d = LstmDims { batch: 1, t, input, hidden: h, reverse: false };
        let x = rand(gpu, t * input, 1);
        let (w_ih, w_hh) = (rand(gpu, 4 * h * input, 2), rand(gpu, 4 * h * h, 3));
        let (b_ih, b_hh) = (rand(gpu, 4 * h, 4), rand(gpu, 4 * h, 5));
        let (h0, c0) = (gpu.upload(vec![0.0; h]).expect("upload"), gpu.upload(vec![0.0; h]).expect("upload"));
        g.throughput(Throughput::Elements((2 * t * 4 * h * (h + input)) as u64));
        g.bench_function(format!("b1_t120_in{input}_h256"), |b| {
            b.iter(|| {
                let a =
                    LstmArgs { x: black_box(&x), h0: &h0, c0: &c0, w_ih: &w_ih, w_hh: &w_hh, b_ih: &b_ih, b_hh: &b_hh };
                let s = gpu.lstm_seq(&d, &a).expect("lstm");
                gpu.sync().expect("sync");
                s
            })
        });
    }
    g.finish();
}

criterion_group!(benches, matmul, attention, conv1d, lstm_seq);
criterion_main!(benches);
