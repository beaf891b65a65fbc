//! CUDA kernel benches at the sizes of benches/kernels.rs (CPU) and benches/torch_kernels.py (PyTorch), so the three
//! compare directly. `cargo bench --features cuda --bench cuda_kernels`. Each timed iteration queues the kernel(s)
//! and synchronises the stream, so the time is the device's, launch overhead included. Without a CUDA device the
//! bench prints why and exits 0.

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use tickgrad::backend::cuda::{self, CudaBackend};
use tickgrad::backend::Storage;
use tickgrad::ops::attention::{AttentionDims, Qkv};
use tickgrad::ops::conv1d::Conv1dDims;
use tickgrad::ops::lstm::{LstmArgs, LstmDims};
use tickgrad::ops::matmul::cuda::{has_tensor_cores, matmul_half_with, to_half, HalfKind};
use tickgrad::ops::matmul::MatmulDims;
use tickgrad::ops::prelude::*;
use tickgrad::rng::Rng;

fn device() -> &'static CudaBackend {
    cuda::backend(0).expect("checked in main")
}

fn rand(be: &CudaBackend, n: usize, seed: u64) -> Storage {
    let mut r = Rng::new(seed);
    be.upload((0..n).map(|_| r.uniform(-1.0, 1.0) as f32).collect()).expect("upload")
}

fn sync(be: &CudaBackend) {
    be.synchronize().expect("synchronize");
}

fn matmul(c: &mut Criterion) {
    let be = device();
    let mut g = c.benchmark_group("cuda/matmul");
    for n in [256usize, 512] {
        let d = MatmulDims { batch_a: 1, batch_b: 1, m: n, k: n, n, trans_a: false, trans_b: false };
        let (a, b) = (rand(be, n * n, 1), rand(be, n * n, 2));
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_with_input(BenchmarkId::new("f32", n), &n, |bch, _| {
            bch.iter(|| {
                black_box(be.matmul(&d, &a, &b).unwrap());
                sync(be);
            })
        });
        for kind in [HalfKind::F16, HalfKind::Bf16] {
            let (ha, hb) = (to_half(be, &a, kind).unwrap(), to_half(be, &b, kind).unwrap());
            for tc in [false, true] {
                if tc && !has_tensor_cores(be, kind) {
                    continue;
                }
                let name = format!("{}_{}", format!("{kind:?}").to_lowercase(), if tc { "wmma" } else { "simt" });
                g.bench_with_input(BenchmarkId::new(name, n), &n, |bch, _| {
                    bch.iter(|| {
                        black_box(matmul_half_with(be, &d, &ha, &hb, tc).unwrap());
                        sync(be);
                    })
                });
            }
        }
    }
    g.finish();
}

fn attention(c: &mut Criterion) {
    let be = device();
    let mut g = c.benchmark_group("cuda/attention");
    for (name, bh, t, causal) in
        [("b1_h8_t60_d64", 8, 60, false), ("b1_h8_t60_d64_causal", 8, 60, true), ("b8_h8_t128_d64", 64, 128, false)]
    {
        let d = AttentionDims { bh, tq: t, tk: t, d: 64, dv: 64, causal, scale: 0.125 };
        let (q, k, v) = (rand(be, bh * t * 64, 1), rand(be, bh * t * 64, 2), rand(be, bh * t * 64, 3));
        g.throughput(Throughput::Elements((4 * bh * t * t * 64) as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(be.attention(&d, &Qkv { q: &q, k: &k, v: &v }).unwrap());
                sync(be);
            })
        });
    }
    g.finish();
}

fn conv1d(c: &mut Criterion) {
    let be = device();
    let mut g = c.benchmark_group("cuda/conv1d");
    for batch in [1usize, 16] {
        let d = Conv1dDims::causal(batch, 64, 64, 256, 3, 4);
        let (x, w, bias) = (rand(be, batch * 64 * 256, 1), rand(be, 64 * 64 * 3, 2), rand(be, 64, 3));
        g.throughput(Throughput::Elements((2 * batch * 64 * 64 * 3 * 256) as u64));
        g.bench_function(format!("b{batch}_c64_t256_k3_d4"), |b| {
            b.iter(|| {
                black_box(be.conv1d(&d, &x, &w, Some(&bias)).unwrap());
                sync(be);
            })
        });
    }
    g.finish();
}

fn lstm_seq(c: &mut Criterion) {
    let be = device();
    let mut g = c.benchmark_group("cuda/lstm_seq");
    let t = 120usize;
    // H = 256 is the seed size (per-step kernels: w_hh is 1 MiB); H = 64 fits on chip (whole-sequence kernel).
    for (input, h) in [(10usize, 256usize), (512, 256), (10, 64)] {
        let d = LstmDims { batch: 1, t, input, hidden: h, reverse: false };
        let x = rand(be, t * input, 1);
        let (w_ih, w_hh, b_ih, b_hh) =
            (rand(be, 4 * h * input, 2), rand(be, 4 * h * h, 3), rand(be, 4 * h, 4), rand(be, 4 * h, 5));
        let (h0, c0) = (be.upload(vec![0.0; h]).unwrap(), be.upload(vec![0.0; h]).unwrap());
        g.throughput(Throughput::Elements((2 * t * 4 * h * (h + input)) as u64));
        g.bench_function(format!("b1_t120_in{input}_h{h}"), |b| {
            b.iter(|| {
                let a = LstmArgs { x: &x, h0: &h0, c0: &c0, w_ih: &w_ih, w_hh: &w_hh, b_ih: &b_ih, b_hh: &b_hh };
                black_box(be.lstm_seq(&d, &a).unwrap());
                sync(be);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, matmul, attention, conv1d, lstm_seq);

fn main() {
    if let Err(e) = cuda::warm_up(0) {
        println!("cuda_kernels: SKIPPED, no CUDA device: {e}");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
