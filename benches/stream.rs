//! Per-bar streaming latency at batch 1 on the CPU, for each seed-config model: the TCN's O(1) ring-buffer step at
//! W = its receptive field (1021 bars for the seed config, where streaming is exact), the TCN recomputing its
//! default 256-bar window (below the receptive field, so it must), and the other models recomputing their default
//! windows. Also the incremental features of one bar. Compare with `benches/torch_stream.py` on the same machine.
//! Weights are random: latency does not depend on them.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use tickgrad::data::incremental::{Bar, FeatureStream};
use tickgrad::data::{load_csv, FeatureConfig};
use tickgrad::device::Device;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::rng::Rng;
use tickgrad::serve::StreamPredictor;

fn per_bar(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu/stream_per_bar_b1");
    g.sample_size(20).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    // (kind, features, window, plan threads): 1 thread allocates nothing per bar; 2 is the whole machine here
    for (kind, nf, w, threads) in [
        ("tcn", 10usize, 1021usize, 1usize),
        ("tcn", 10, 256, 1),
        ("multitask", 10, 120, 1),
        ("lstm_attention", 10, 120, 1),
        ("lstm_attention", 10, 120, 2),
        ("transformer", 32, 60, 1),
        ("transformer", 32, 60, 2),
    ] {
        let cfg = ModelConfig::seed(kind, nf).expect("seed config");
        let model = Arc::new(Model::new(&cfg, 0, Device::Cpu).expect("model"));
        let mut p = StreamPredictor::with_threads(model, w, threads).expect("predictor");
        let t = 4096;
        let mut r = Rng::new(1);
        let rows: Vec<f32> = (0..t * nf).map(|_| r.normal() as f32).collect();
        for row in rows.chunks(nf).take(w) {
            p.push(row).expect("warm-up push");
        }
        let mode = if p.is_incremental() { "step".to_string() } else { format!("recompute_t{threads}") };
        let mut i = w;
        g.bench_function(format!("{kind}_w{w}_{mode}"), |b| {
            b.iter(|| {
                let row = &rows[(i % t) * nf..(i % t + 1) * nf];
                i += 1;
                p.push(black_box(row)).expect("push").map(|a| a.values[0])
            })
        });
    }
    g.finish();
}

fn features(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/btcusdt_perp_1h_2020.csv");
    let bars = load_csv(path).expect("btc bars").0;
    let bar_list: Vec<Bar> = (0..bars.len()).map(|i| Bar::from_bars(&bars, i)).collect();
    let cfg = FeatureConfig::default();
    c.bench_function("cpu/stream_features_per_bar", |b| {
        // one bar per iteration; a fresh stream every pass over the file (timestamps must increase)
        let mut s = FeatureStream::for_bars(&cfg, &bars).expect("stream");
        let mut i = 0;
        b.iter(|| {
            if i == bar_list.len() {
                s = FeatureStream::for_bars(&cfg, &bars).expect("stream");
                i = 0;
            }
            let v = s.push(black_box(&bar_list[i])).expect("push")[0];
            i += 1;
            v
        })
    });
}

criterion_group!(benches, per_bar, features);
criterion_main!(benches);
