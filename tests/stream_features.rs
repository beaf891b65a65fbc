//! Incremental features equal the batch `features` output: every column, every row, on both bundled files and on
//! synthetic bars with flat stretches and zero volume (the branches where rounding decides a ratio). A value
//! passes when it has the same bits, both are NaN, or it is within 1e-9 relative; the recursive TA-Lib columns
//! must be bitwise. Also: the `Engine` (features → scaler → predictor) answers what `predict` gives on windows
//! of the batch-scaled feature matrix, and a swap to a checkpoint with another scaler keeps that true.

use std::collections::BTreeMap;
use std::path::PathBuf;
use tickgrad::data::incremental::{Bar, FeatureStream};
use tickgrad::data::{compute_features, load_csv, model_feature_names, Bars, FeatureConfig, Scaler, ScalerKind};
use tickgrad::device::Device;
use tickgrad::models::checkpoint::{self, Checkpoint};
use tickgrad::models::{Model, ModelConfig};
use tickgrad::serve::engine::{FEATURES_KEY, SCALER_KEY};
use tickgrad::serve::Engine;
use tickgrad::tensor::Tensor;

fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(file)
}

/// Columns the stream computes with TA-Lib's own recursive arithmetic: these must match bit for bit.
const BITWISE: [&str; 16] = [
    "rsi_14",
    "macd_12_26_9",
    "macd_signal_12_26_9",
    "macd_hist_12_26_9",
    "bb_middle_20_2",
    "atr_14",
    "obv",
    "stoch_slowk_14_3_3",
    "stoch_slowd_14_3_3",
    "vwap_cum",
    "ret_1",
    "ret_60",
    "log_volume",
    "volume_profile_24_0",
    "volume_profile_24_2",
    "atr_rel_14",
];

fn stream_all(bars: &Bars, cfg: &FeatureConfig) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut s = FeatureStream::for_bars(cfg, bars).unwrap();
    let names = s.names().to_vec();
    let mut cols = vec![Vec::with_capacity(bars.len()); names.len()];
    for i in 0..bars.len() {
        let row = s.push(&Bar::from_bars(bars, i)).unwrap();
        for (c, &v) in cols.iter_mut().zip(row) {
            c.push(v);
        }
    }
    (names, cols)
}

/// Compare every column; returns the number of columns that matched bit for bit on every row.
fn compare(bars: &Bars, what: &str) -> usize {
    let cfg = FeatureConfig::default();
    let batch = compute_features(bars, &cfg).unwrap();
    let (names, cols) = stream_all(bars, &cfg);
    assert_eq!(names, batch.names, "{what}: same columns in the same order");
    let mut bitwise_cols = 0;
    for (j, name) in names.iter().enumerate() {
        let (got, want) = (&cols[j], &batch.columns[j]);
        let mut all_bits = true;
        let mut worst = 0.0f64;
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            if a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) {
                continue;
            }
            all_bits = false;
            let rel = (a - b).abs() / a.abs().max(b.abs());
            assert!(rel <= 1e-9, "{what}: `{name}` row {i}: stream {a} vs batch {b} (rel {rel:.2e})");
            worst = worst.max(rel);
        }
        if BITWISE.contains(&name.as_str()) {
            assert!(all_bits, "{what}: `{name}` must match bit for bit (worst rel {worst:.2e})");
        }
        if all_bits {
            bitwise_cols += 1;
        } else {
            eprintln!("{what}: `{name}` within {worst:.2e} relative");
        }
    }
    eprintln!("{what}: {bitwise_cols} of {} columns bit for bit", names.len());
    bitwise_cols
}

#[test]
fn btc_every_column_matches_the_batch_features() {
    let bars = load_csv(data_path("btcusdt_perp_1h_2020.csv")).unwrap().0;
    assert!(bars.column("trades").is_some() && bars.column("taker_buy_base_volume").is_some());
    let bitwise = compare(&bars, "btc");
    assert!(bitwise >= BITWISE.len());
}

#[test]
fn spy_every_column_matches_the_batch_features() {
    let bars = load_csv(data_path("spy_1d_2008_2021.csv")).unwrap().0;
    compare(&bars, "spy");
}

/// Flat prices, zero volume and repeated volumes: the `var == 0`, `den == 0` and `path == 0` branches.
#[test]
fn flat_stretches_and_zero_volume_match() {
    let n = 600;
    let mut close = Vec::with_capacity(n);
    let mut volume = Vec::with_capacity(n);
    for i in 0..n {
        let phase = (i / 150) % 4;
        close.push(match phase {
            0 => 100.0 + (i as f64 * 0.37).sin() * 3.0,
            1 => 101.3, // flat prices
            2 => 100.0 + i as f64 * 0.01,
            _ => 0.1, // flat at a value whose window mean rounds
        });
        volume.push(match i % 97 {
            0..=40 => 0.0, // zero-volume stretches
            41..=70 => 12.5,
            _ => 3.0 + (i as f64).cos(),
        });
    }
    let bars = Bars {
        timestamp: (0..n as i64).map(|i| i * 60_000).collect(),
        open: close.clone(),
        high: close.iter().map(|c| c * 1.001).collect(),
        low: close.iter().map(|c| c * 0.999).collect(),
        close,
        extra: [("trades".to_string(), volume.iter().map(|v| (v * 10.0f64).floor()).collect())].into(),
        volume,
    };
    compare(&bars, "synthetic flat");
}

#[test]
fn bad_bars_are_errors() {
    let bars = load_csv(data_path("spy_1d_2008_2021.csv")).unwrap().0;
    let mut s = FeatureStream::for_bars(&FeatureConfig::default(), &bars).unwrap();
    let good = Bar::from_bars(&bars, 0);
    s.push(&good).unwrap();
    assert!(s.push(&good).is_err(), "same timestamp twice");
    let mut b = Bar::from_bars(&bars, 1);
    b.close = f64::NAN;
    assert!(s.push(&b).is_err());
    let mut b = Bar::from_bars(&bars, 1);
    b.trades = Some(5.0);
    assert!(s.push(&b).is_err(), "a column the stream was built without");
    s.push(&Bar::from_bars(&bars, 1)).unwrap();
    assert_eq!(s.bars(), 2);
}

/// Checkpoint bytes of `json` with a z-score scaler fitted on rows `fit` of the batch features.
fn checkpoint_with_scaler(json: &str, seed: u64, bars: &Bars, fit: std::ops::Range<usize>) -> (Vec<u8>, Scaler) {
    let frame = compute_features(bars, &FeatureConfig::default()).unwrap();
    let names = model_feature_names(&frame);
    let scaler = Scaler::fit(&frame, &names, fit, ScalerKind::ZScore).unwrap();
    let cfg = ModelConfig::from_json(&json.replace("NF", &names.len().to_string()), "test").unwrap();
    let mut model = Model::new(&cfg, seed, Device::Cpu).unwrap();
    let mut meta = BTreeMap::new();
    meta.insert(FEATURES_KEY.to_string(), serde_json::to_string(&names).unwrap());
    meta.insert(SCALER_KEY.to_string(), scaler.to_json().unwrap());
    (checkpoint::to_bytes(&mut model, &meta).unwrap(), scaler)
}

fn load(bytes: &[u8]) -> Checkpoint {
    checkpoint::load_bytes(bytes, "in-memory", Device::Cpu).unwrap()
}

#[test]
fn engine_answers_predict_on_the_batch_scaled_windows_across_a_swap() {
    let bars = load_csv(data_path("btcusdt_perp_1h_2020.csv")).unwrap().0.slice(0..400).unwrap();
    let tcn = r#"{"kind":"tcn","n_features":NF,"channels":[8,8,8],"kernel_size":3}"#;
    let (bytes_a, scaler_a) = checkpoint_with_scaler(tcn, 1, &bars, 0..250);
    let (bytes_b, scaler_b) = checkpoint_with_scaler(tcn, 2, &bars, 100..300);
    assert_ne!(scaler_a, scaler_b);
    let (model_a, model_b) = (load(&bytes_a).model, load(&bytes_b).model);
    let w = 29;
    let (mut engine, warnings) = Engine::new(load(&bytes_a), true, true, Some(w)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(engine.predictor().is_incremental());
    let frame = compute_features(&bars, &FeatureConfig::default()).unwrap();
    let (xa, xb) = (scaler_a.transform_fill0(&frame).unwrap(), scaler_b.transform_fill0(&frame).unwrap());
    let nf = scaler_a.names.len();
    let swap_at = 200;
    for i in 0..bars.len() {
        if i == swap_at {
            engine.swap(load(&bytes_b)).unwrap();
        }
        let (m, x) = if i < swap_at { (&model_a, &xa) } else { (&model_b, &xb) };
        let ans = engine.push(&Bar::from_bars(&bars, i)).unwrap();
        let Some(ans) = ans else {
            assert!(i + 1 < w);
            continue;
        };
        let win = Tensor::from_vec(x[(i + 1 - w) * nf..(i + 1) * nf].to_vec(), &[1, w, nf], Device::Cpu).unwrap();
        let want = m.predict(&win).unwrap().to_vec().unwrap();
        for (g, e) in ans.values.iter().zip(&want) {
            assert!((g - e).abs() <= 1e-4 * e.abs().max(1e-2), "bar {i}: engine {g} vs predict {e}");
        }
    }
}
