//! CPU kernel benches at the sizes the seed models use (and the sizes `benches/torch_kernels.py` times in PyTorch).
//! `cargo bench --bench kernels`; throughput is reported in FLOP so criterion prints GFLOP/s-like element rates.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use tickgrad::ops::attention::{cpu as attn, AttentionDims};
use tickgrad::ops::conv1d::{cpu as conv, Conv1dDims};
use tickgrad::ops::lstm::{cpu as lstm, LstmDims};
use tickgrad::ops::matmul::cpu::sgemm;
use tickgrad::rng::Rng;

fn rand(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.uniform(-1.0, 1.0) as f32).collect()
}

fn matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu/matmul");
    for n in [256usize, 512] {
        let a = rand(n * n, 1);
        let b = rand(n * n, 2);
        let mut out = vec![0.0f32; n * n];
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bch, &n| {
            bch.iter(|| sgemm(n, n, n, black_box(&a), n, false, black_box(&b), n, false, &mut out, n, false))
        });
    }
    g.finish();
}

fn attention(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu/attention");
    for (name, bh, t, causal) in
        [("b1_h8_t60_d64", 8, 60, false), ("b1_h8_t60_d64_causal", 8, 60, true), ("b8_h8_t128_d64", 64, 128, false)]
    {
        let d = AttentionDims { bh, tq: t, tk: t, d: 64, dv: 64, causal, scale: 0.125 };
        let (q, k, v) = (rand(bh * t * 64, 1), rand(bh * t * 64, 2), rand(bh * t * 64, 3));
        let (mut o, mut lse) = (vec![0.0; bh * t * 64], vec![0.0; bh * t]);
        g.throughput(Throughput::Elements((4 * bh * t * t * 64) as u64));
        g.bench_function(name, |b| b.iter(|| attn::attention_forward(&d, black_box(&q), &k, &v, &mut o, &mut lse)));
    }
    g.finish();
}

fn conv1d(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu/conv1d");
    for batch in [1usize, 16] {
        let d = Conv1dDims::causal(batch, 64, 64, 256, 3, 4);
        let x = rand(batch * 64 * 256, 1);
        let w = rand(64 * 64 * 3, 2);
        let bias = rand(64, 3);
        let mut y = vec![0.0; batch * 64 * 256];
        g.throughput(Throughput::Elements((2 * batch * 64 * 64 * 3 * 256) as u64));
        g.bench_function(format!("b{batch}_c64_t256_k3_d4"), |b| {
            b.iter(|| conv::conv1d_forward(&d, black_box(&x), &w, Some(&bias), &mut y))
        });
    }
    g.finish();
}

fn lstm_seq(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu/lstm_seq");
    let (h, t) = (256usize, 120usize);
    for input in [10usize, 512] {
        let d = LstmDims { batch: 1, t, input, hidden: h, reverse: false };
        let x = rand(t * input, 1);
        let (w_ih, w_hh, b_ih, b_hh) = (rand(4 * h * input, 2), rand(4 * h * h, 3), rand(4 * h, 4), rand(4 * h, 5));
        let (h0, c0) = (vec![0.0; h], vec![0.0; h]);
        let (mut hs, mut cs, mut gates) = (vec![0.0; t * h], vec![0.0; t * h], vec![0.0; 4 * t * h]);
        g.throughput(Throughput::Elements((2 * t * 4 * h * (h + input)) as u64));
        g.bench_function(format!("b1_t120_in{input}_h256"), |b| {
            b.iter(|| {
                lstm::lstm_seq_forward(
                    &d,
                    black_box(&x),
                    &h0,
                    &c0,
                    &w_ih,
                    &w_hh,
                    &b_ih,
                    &b_hh,
                    &mut hs,
                    &mut cs,
                    &mut gates,
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, matmul, attention, conv1d, lstm_seq);
criterion_main!(benches);
