//! `tickgrad stream --reload-checkpoint`: a checkpoint written over the served file between two bars (atomically,
//! by `checkpoint::save`) answers from the next bar on, equal to its own `predict` on the trailing window, with
//! no bar skipped or repeated; a corrupt or incompatible replacement is refused in one line and the running model
//! keeps serving; the CLI flag reports what it did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tickgrad::data::incremental::Bar;
use tickgrad::data::{compute_features, load_csv, model_feature_names, Bars, FeatureConfig, Scaler, ScalerKind};
use tickgrad::device::Device;
use tickgrad::io::npy::write_npy;
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::rng::Rng;
use tickgrad::serve::engine::{FEATURES_KEY, SCALER_KEY};
use tickgrad::serve::reload::{swap_predictor, RowContract};
use tickgrad::serve::{CheckpointWatch, Engine, StreamPredictor};
use tickgrad::tensor::Tensor;

const NF: usize = 5;
const TCN: &str = r#"{"kind":"tcn","n_features":5,"channels":[6,6],"kernel_size":3,"n_outputs":3}"#;
const LSTM: &str = r#"{"kind":"lstm_attention","n_features":5,"hidden_size":4,"num_layers":1,"n_outputs":3}"#;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickgrad-reload-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn model(json: &str, seed: u64) -> Model {
    Model::new(&ModelConfig::from_json(json, "test config").unwrap(), seed, Device::Cpu).unwrap()
}

/// Write `m` over `path` the way training does: a temporary file renamed over the old one.
fn save(path: &Path, m: &mut Model, meta: &BTreeMap<String, String>) {
    checkpoint::save(path, m, meta).unwrap();
}

fn series(t: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..t * NF).map(|_| rng.normal() as f32).collect()
}

/// `predict` of `m` on rows `end + 1 − w ..= end` of a row-major [_, nf] matrix.
fn window_predict(m: &Model, xs: &[f32], nf: usize, end: usize, w: usize) -> Vec<f32> {
    let x = Tensor::from_vec(xs[(end + 1 - w) * nf..(end + 1) * nf].to_vec(), &[1, w, nf], Device::Cpu).unwrap();
    m.predict(&x).unwrap().to_vec().unwrap()
}

#[track_caller]
fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: width");
    for (g, e) in got.iter().zip(want) {
        assert!((g - e).abs() <= tol * e.abs().max(1e-2), "{what}: stream {g} vs predict {e}");
    }
}

#[test]
fn scaled_rows_swap_to_a_checkpoint_written_between_two_bars() {
    let dir = scratch("rows");
    let path = dir.join("served.safetensors");
    let (mut a, mut b) = (model(TCN, 1), model(LSTM, 2));
    save(&path, &mut a, &BTreeMap::new());
    let mut watch = CheckpointWatch::new(&path, 1).unwrap();
    let ck = checkpoint::load(&path, Device::Cpu).unwrap();
    let contract = RowContract::of(&ck.metadata, NF).unwrap();
    let (w, t, at) = (16, 60, 37);
    let mut p = StreamPredictor::new(Arc::new(ck.model), w).unwrap();
    assert!(p.is_incremental());
    let xs = series(t, 3);
    let mut answered = Vec::new();
    for (i, row) in xs.chunks(NF).enumerate() {
        if i == at {
            save(&path, &mut b, &BTreeMap::new());
        }
        let line = watch.between_bars(i as u64, Device::Cpu, |ck| swap_predictor(&mut p, &contract, ck));
        match &line {
            Some(l) => {
                assert_eq!(i, at, "only the replacement is a change: {l}");
                assert!(l.contains("swapped in") && l.contains("lstm_attention") && l.contains("bar 37"), "{l}");
            }
            None => assert_ne!(i, at, "the replacement was not seen before bar {at}"),
        }
        let cur = if i < at { &a } else { &b };
        if let Some(ans) = p.push(row).unwrap() {
            assert_close(&format!("bar {i}"), ans.values, &window_predict(cur, &xs, NF, i, w), 1e-5);
            answered.push(ans.bar);
        }
    }
    assert!(!p.is_incremental(), "now the LSTM's window recompute");
    assert_eq!(answered, (w as u64 - 1..t as u64).collect::<Vec<_>>(), "every bar answered once, in order");
    assert_eq!((watch.swaps(), watch.rejected()), (1, 0));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_corrupt_or_incompatible_replacement_is_refused_and_the_old_model_serves() {
    let dir = scratch("refuse");
    let path = dir.join("served.safetensors");
    let mut a = model(TCN, 1);
    save(&path, &mut a, &BTreeMap::new());
    // every 2 bars: a change is seen at the next even bar
    let mut watch = CheckpointWatch::new(&path, 2).unwrap();
    let ck = checkpoint::load(&path, Device::Cpu).unwrap();
    let contract = RowContract::of(&ck.metadata, NF).unwrap();
    let (w, t) = (16, 80);
    let mut p = StreamPredictor::new(Arc::new(ck.model), w).unwrap();
    let xs = series(t, 4);
    let wider = r#"{"kind":"tcn","n_features":6,"channels":[6,6],"kernel_size":3,"n_outputs":3}"#;
    let narrower = r#"{"kind":"tcn","n_features":5,"channels":[6,6],"kernel_size":3,"n_outputs":1}"#;
    let mut lines = Vec::new();
    for (i, row) in xs.chunks(NF).enumerate() {
        match i {
            20 => std::fs::write(&path, b"not a safetensors file").unwrap(),
            30 => save(&path, &mut model(wider, 5), &BTreeMap::new()),
            40 => save(&path, &mut model(narrower, 6), &BTreeMap::new()),
            50 => std::fs::remove_file(&path).unwrap(),
            _ => {}
        }
        if let Some(l) = watch.between_bars(i as u64, Device::Cpu, |ck| swap_predictor(&mut p, &contract, ck)) {
            lines.push((i, l));
        }
        if let Some(ans) = p.push(row).unwrap() {
            assert_close(&format!("bar {i}"), ans.values, &window_predict(&a, &xs, NF, i, w), 1e-5);
            assert_eq!(ans.bar, i as u64);
        }
    }
    let want = [
        (20, "not a valid safetensors file"),
        (30, "n_features"),
        (40, "answer width"),
        (50, "the checkpoint file is gone"),
    ];
    assert_eq!(lines.len(), want.len(), "one line per change, none repeated: {lines:?}");
    for ((i, l), (at, msg)) in lines.iter().zip(want) {
        assert_eq!(*i, at, "{l}");
        assert!(l.starts_with("reload: kept the running model") && l.contains("served.safetensors"), "{l}");
        assert!(l.contains(msg), "{l}");
    }
    assert_eq!((watch.swaps(), watch.rejected()), (0, 4));
    assert!(CheckpointWatch::new(&path, 1).is_err(), "watching a missing file");
    assert!(CheckpointWatch::new(&dir, 0).is_err(), "every 0 bars");
    let _ = std::fs::remove_dir_all(dir);
}

fn btc(rows: usize) -> Bars {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join("btcusdt_perp_1h_2020.csv");
    load_csv(p).unwrap().0.slice(0..rows).unwrap()
}

/// Metadata naming `names` (model inputs) with a z-score scaler fitted on rows `fit` of `bars`' features.
fn meta_with_scaler(bars: &Bars, names: &[String], fit: std::ops::Range<usize>) -> (BTreeMap<String, String>, Scaler) {
    let frame = compute_features(bars, &FeatureConfig::default()).unwrap();
    let scaler = Scaler::fit(&frame, names, fit, ScalerKind::ZScore).unwrap();
    let mut meta = BTreeMap::new();
    meta.insert(FEATURES_KEY.to_string(), serde_json::to_string(names).unwrap());
    meta.insert(SCALER_KEY.to_string(), scaler.to_json().unwrap());
    (meta, scaler)
}

#[test]
fn raw_bars_swap_to_a_retrained_checkpoint_with_its_own_scaler() {
    let bars = btc(330);
    let frame = compute_features(&bars, &FeatureConfig::default()).unwrap();
    let names = model_feature_names(&frame);
    let nf = names.len();
    let tcn = format!(r#"{{"kind":"tcn","n_features":{nf},"channels":[4,4],"kernel_size":3}}"#);
    let (meta_a, scaler_a) = meta_with_scaler(&bars, &names, 0..200);
    let (meta_b, scaler_b) = meta_with_scaler(&bars, &names, 100..300);
    let (mut a, mut b) = (model(&tcn, 1), model(&tcn, 2));
    let dir = scratch("bars");
    let path = dir.join("served.safetensors");
    save(&path, &mut a, &meta_a);
    let mut watch = CheckpointWatch::new(&path, 1).unwrap();
    let (mut engine, warnings) = Engine::load(&path, Device::Cpu, true, true, Some(16)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let (xa, xb) = (scaler_a.transform_fill0(&frame).unwrap(), scaler_b.transform_fill0(&frame).unwrap());
    // A replacement reading the features in another order is refused before the real one arrives.
    let mut reordered = names.clone();
    reordered.swap(0, 1);
    let (meta_r, _) = meta_with_scaler(&bars, &reordered, 0..200);
    let (refuse_at, swap_at) = (150, 250);
    for i in 0..bars.len() {
        if i == refuse_at {
            save(&path, &mut model(&tcn, 3), &meta_r);
        }
        if i == swap_at {
            save(&path, &mut b, &meta_b);
        }
        let line = watch.between_bars(i as u64, Device::Cpu, |ck| engine.swap_same_inputs(ck));
        assert_eq!(line.is_some(), i == refuse_at || i == swap_at, "bar {i}: {line:?}");
        if let Some(l) = line {
            let want = if i == refuse_at { "the new checkpoint reads features" } else { "swapped in" };
            assert!(l.contains(want), "{l}");
        }
        let (m, x) = if i < swap_at { (&a, &xa) } else { (&b, &xb) };
        if let Some(ans) = engine.push(&Bar::from_bars(&bars, i)).unwrap() {
            assert_eq!(ans.bar, i as u64);
            let want = window_predict(m, x, nf, i, 16);
            assert_close(&format!("bar {i}"), ans.values, &want, 1e-4);
        }
    }
    assert_eq!((watch.swaps(), watch.rejected()), (1, 1));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_cli_flag_watches_the_checkpoint() {
    let dir = scratch("cli");
    let ck = dir.join("tcn.safetensors");
    save(&ck, &mut model(TCN, 1), &BTreeMap::new());
    let input = dir.join("series.npy");
    write_npy(&input, &[40, NF], &series(40, 5)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickgrad"))
        .args(["stream", "--checkpoint", ck.to_str().unwrap(), "--input", input.to_str().unwrap()])
        .args(["--window", "16", "--reload-checkpoint", "--reload-every", "3"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("reloads swapped=0 refused=0\n"), "{stdout}");
    assert!(stdout.lines().last().unwrap().starts_with("per_bar_us "), "{stdout}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickgrad"))
        .args(["stream", "--checkpoint", ck.to_str().unwrap(), "--input", input.to_str().unwrap()])
        .args(["--reload-checkpoint", "--reload-every", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("reload-every"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn trading_swaps_member_zero_and_takes_its_training_reference() {
    use tickgrad::data::DriftReference;
    use tickgrad::trade::monitor::MonitorConfig;
    use tickgrad::trade::{Trader, TraderConfig};
    let bars = btc(300);
    let frame = compute_features(&bars, &FeatureConfig::default()).unwrap();
    let names = model_feature_names(&frame);
    let nf = names.len();
    let regression = format!(r#"{{"kind":"tcn","n_features":{nf},"channels":[4,4],"kernel_size":3}}"#);
    let classifier = regression.replace("}", r#","n_outputs":3}"#);
    let (meta, scaler) = meta_with_scaler(&bars, &names, 0..200);
    let ck = |json: &str, seed: u64, meta: &BTreeMap<String, String>| {
        let bytes = checkpoint::to_bytes(&mut model(json, seed), meta).unwrap();
        checkpoint::load_bytes(&bytes, "mem", Device::Cpu).unwrap()
    };
    let engine = Engine::new(ck(&regression, 1, &meta), true, true, Some(16)).unwrap().0;
    let cfg = TraderConfig {
        gate: Default::default(),
        risk: Default::default(),
        monitor: MonitorConfig { window: 100, psi_reference: 50, ..MonitorConfig::default() },
        fee_bps: 0.0,
        cash: 10_000.0,
        size: 1.0,
        horizon: 1,
    };
    let (mut trader, _) = Trader::new(vec![engine], cfg, None).unwrap();
    for i in 0..150 {
        trader.on_bar(&Bar::from_bars(&bars, i)).unwrap();
    }
    assert!(!trader.monitor().has_training_reference());
    let e = trader.swap_member(0, ck(&classifier, 2, &meta)).unwrap_err().to_string();
    assert!(e.contains("member for the gate"), "{e}");
    assert!(trader.swap_member(1, ck(&regression, 2, &meta)).is_err(), "no member 1");
    let mut with_drift = meta.clone();
    let drift = DriftReference::fit(&frame, &scaler, 120..200).unwrap();
    with_drift.insert("tickgrad.drift".into(), drift.to_json().unwrap());
    trader.swap_member(0, ck(&regression, 3, &with_drift)).unwrap();
    assert!(trader.monitor().has_training_reference(), "the new model's training rows are the PSI reference");
    for i in 150..bars.len() {
        let r = trader.on_bar(&Bar::from_bars(&bars, i)).unwrap();
        assert!(r.decision.is_some(), "bar {i}: the swapped-in member answers at once");
    }
    assert!(trader.monitor().psi().iter().all(|p| p.is_finite()));
}
