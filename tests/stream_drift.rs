//! Feature drift against the training data: a checkpoint carries the decile bins of its scaled training rows
//! (`tickgrad.drift`), the key survives save and load, the serving monitor measures PSI against it (small on the
//! training period's bars, large once the inputs shift), a checkpoint without the key still serves with the
//! stream-start fallback and one warning, and a malformed key is an error naming the file and the key.

mod pipeline_support;

use pipeline_support::{bars, dataset, scratch, tiny, SLICE_ROWS};
use std::collections::BTreeMap;
use tickgrad::data::incremental::Bar;
use tickgrad::data::DriftReference;
use tickgrad::device::Device;
use tickgrad::models::{checkpoint, Model};
use tickgrad::pipeline::{Dataset, ModelMeta, TargetScale};
use tickgrad::serve::Engine;
use tickgrad::trade::monitor::{Monitor, MonitorConfig};
use tickgrad::trade::{Trader, TraderConfig};
use tickgrad::train::Objective;

/// A tiny TCN with the full metadata `tickgrad train` writes, drift reference included, saved to `path`.
fn save_with_meta(ds: &Dataset, path: &std::path::Path) -> ModelMeta {
    let mut model = Model::new(&tiny("tcn", ds.n_features()), 1, Device::Cpu).unwrap();
    let meta = ModelMeta {
        prep: ds.prep.clone(),
        window: 16,
        objective: Objective::Direction,
        target_scale: TargetScale::fit(ds).unwrap(),
        residual_std: None,
        train_info: None,
        drift: Some(DriftReference::fit(&ds.frame, &ds.prep.scaler, ds.fit_rows.clone()).unwrap()),
    };
    checkpoint::save(path, &mut model, &meta.to_map().unwrap()).unwrap();
    meta
}

/// Row `i` of the dataset's model inputs, scaled as the model sees them, NaN where missing, plus `shift`.
fn scaled_row(ds: &Dataset, i: usize, shift: f64) -> Vec<f64> {
    let s = &ds.prep.scaler;
    s.names
        .iter()
        .enumerate()
        .map(|(j, n)| ((ds.frame.column(n).unwrap()[i] - s.center[j]) / s.scale[j]) as f32 as f64 + shift)
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn drift_reference_round_trips_and_scores_training_and_shifted_rows() {
    let ds = dataset(16, 1);
    let dir = scratch("drift-roundtrip");
    let path = dir.join("tcn.safetensors");
    let meta = save_with_meta(&ds, &path);
    let ck = checkpoint::load(&path, Device::Cpu).unwrap();
    assert!(ck.metadata.contains_key("tickgrad.drift"));
    let back = ModelMeta::from_map(&ck.metadata, "tcn.safetensors").unwrap();
    assert_eq!(back, meta, "every key, the drift reference included, survives save and load");
    let reference = back.drift.unwrap();
    assert_eq!(reference.names(), ds.prep.features);
    assert_eq!(reference.rows, ds.fit_rows.len());
    assert!(reference.features.iter().all(|f| f.edges.len() <= 9 && f.expected.len() == f.edges.len() + 1));
    assert!(reference.features.iter().filter(|f| f.edges.len() == 9).count() > ds.n_features() / 2);

    // The last 400 training rows, then the same rows shifted by one training σ.
    let cfg = MonitorConfig { window: 400, ..MonitorConfig::default() };
    let fit = ds.fit_rows.clone();
    let mut m = Monitor::with_reference(cfg.clone(), &reference);
    for i in fit.end - 400..fit.end {
        m.on_bar(100.0, 0.0, &scaled_row(&ds, i, 0.0));
    }
    let in_sample = m.psi();
    let mut m = Monitor::with_reference(cfg, &reference);
    for i in fit.end - 400..fit.end {
        m.on_bar(100.0, 0.0, &scaled_row(&ds, i, 1.0));
    }
    let shifted = m.psi();
    assert!(median(in_sample.clone()) < 0.1, "training-period rows: {in_sample:?}");
    assert!(shifted.iter().all(|&p| p > 0.5), "rows shifted by 1σ: {shifted:?}");
    let _ = std::fs::remove_dir_all(dir);
}

fn trader_config() -> TraderConfig {
    TraderConfig {
        gate: Default::default(),
        risk: Default::default(),
        monitor: MonitorConfig { window: 400, psi_reference: 300, ..MonitorConfig::default() },
        fee_bps: 0.0,
        cash: 10_000.0,
        size: 1.0,
        horizon: 1,
    }
}

/// Serve the first `n` bars of the slice with the checkpoint at `path`; the trader and its warnings.
fn serve(path: &std::path::Path, n: usize) -> (Trader, Vec<String>) {
    let b = bars(SLICE_ROWS);
    let (trades, taker) = (b.column("trades").is_some(), b.column("taker_buy_base_volume").is_some());
    let (engine, mut warnings) = Engine::load(path, Device::Cpu, trades, taker, None).unwrap();
    let (mut t, w) = Trader::new(vec![engine], trader_config(), None).unwrap();
    warnings.extend(w);
    for i in 0..n {
        t.on_bar(&Bar::from_bars(&b, i)).unwrap();
    }
    (t, warnings)
}

#[test]
fn the_serving_monitor_uses_the_stored_reference_and_falls_back_without_it() {
    let ds = dataset(16, 1);
    let dir = scratch("drift-serve");
    let path = dir.join("tcn.safetensors");
    let meta = save_with_meta(&ds, &path);
    let (t, warnings) = serve(&path, ds.fit_rows.end);
    assert!(t.monitor().has_training_reference());
    assert!(!warnings.iter().any(|w| w.contains("tickgrad.drift")), "{warnings:?}");
    // The engine's scaled inputs over the training period land in the stored training bins.
    let psi = t.monitor().psi();
    assert_eq!(psi.len(), ds.n_features());
    assert!(psi.iter().all(|p| p.is_finite()), "{psi:?}");
    assert!(median(psi.clone()) < 0.1, "training-period bars through the engine: {psi:?}");
    // ... and exactly where the training matrix's values of the same bars land: no train/serve skew in scaling.
    let mut direct = Monitor::with_reference(trader_config().monitor, meta.drift.as_ref().unwrap());
    for i in ds.fit_rows.end - 400..ds.fit_rows.end {
        direct.on_bar(100.0, 0.0, &scaled_row(&ds, i, 0.0));
    }
    assert_eq!(psi, direct.psi());
    let text = t.monitor().prometheus();
    assert!(text.contains("against the training rows.") && text.contains("tickgrad_feature_psi{feature=\"ret_1\"} 0."));

    // The same checkpoint without the key (as written before it existed): it loads, serves, warns once.
    let old = dir.join("old.safetensors");
    let mut map = meta.to_map().unwrap();
    map.remove("tickgrad.drift");
    let mut model = checkpoint::load(&path, Device::Cpu).unwrap().model;
    checkpoint::save(&old, &mut model, &map).unwrap();
    assert_eq!(ModelMeta::from_map(&checkpoint::load(&old, Device::Cpu).unwrap().metadata, "old").unwrap().drift, None);
    let (t, warnings) = serve(&old, 200);
    assert!(!t.monitor().has_training_reference());
    assert_eq!(warnings.iter().filter(|w| w.contains("has no `tickgrad.drift`")).count(), 1, "{warnings:?}");
    assert!(t.monitor().prometheus().contains("against the first 300 bars of the stream."));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_malformed_drift_key_names_the_file_and_the_key() {
    let ds = dataset(16, 1);
    let dir = scratch("drift-bad");
    let meta = save_with_meta(&ds, &dir.join("good.safetensors"));
    let mut model = checkpoint::load(dir.join("good.safetensors"), Device::Cpu).unwrap().model;
    let mut wrong_names = meta.drift.clone().unwrap();
    wrong_names.features.swap(0, 1);
    for (file, value, want) in [
        ("truncated.safetensors", r#"{"rows": 10, "features": [{"name""#.to_string(), "not a drift reference"),
        ("order.safetensors", wrong_names.to_json().unwrap(), "differ from the model inputs"),
    ] {
        let path = dir.join(file);
        let mut map: BTreeMap<String, String> = meta.to_map().unwrap();
        map.insert("tickgrad.drift".into(), value);
        checkpoint::save(&path, &mut model, &map).unwrap();
        let ck = checkpoint::load(&path, Device::Cpu).unwrap();
        let e = ModelMeta::from_map(&ck.metadata, &path.display().to_string()).unwrap_err().to_string();
        assert!(e.contains(file) && e.contains("tickgrad.drift") && e.contains(want), "{e}");
        let e = Engine::load(&path, Device::Cpu, true, true, None).err().expect("refused").to_string();
        assert!(e.contains(file) && e.contains("tickgrad.drift") && e.contains(want), "{e}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
