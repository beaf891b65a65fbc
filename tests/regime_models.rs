//! Per-regime models (`run --per-regime`, `pipeline::regime`): regime thresholds fitted on training rows only,
//! each test bar routed to its regime's network in the backtest and in the stream, and the fallback for a regime
//! with too few training windows.

mod pipeline_support;

use pipeline_support::{bars, scratch, train_config, SLICE_ROWS};
use tickgrad::data::incremental::Bar;
use tickgrad::data::SplitFractions;
use tickgrad::device::Device;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::nn::{Kind, Module};
use tickgrad::pipeline::meta::ModelMeta;
use tickgrad::pipeline::regime::{row_regimes, RegimeManifest, FORMAT, REGIMES};
use tickgrad::pipeline::{
    test_calls, train_per_regime, BacktestPredictor, Dataset, DatasetSpec, NetMember, RegimeBundle, RegimeRecipe,
    TargetScale, WalkForwardRecipe,
};
use tickgrad::serve::regime::RegimeEngine;
use tickgrad::tensor::Tensor;
use tickgrad::train::Objective;

fn spec() -> DatasetSpec {
    DatasetSpec { window: 16, horizon: 1, theta: 0.0008, fractions: SplitFractions::default() }
}

/// Changing every bar after the training rows changes neither the fitted thresholds nor the training rows'
/// regimes; it does change the test rows' features (so the check is not vacuous).
#[test]
fn regime_thresholds_come_from_training_rows_only() {
    let b = bars(SLICE_ROWS);
    let ds = Dataset::fit(b.clone(), &spec()).unwrap();
    let mut changed = b.clone();
    let from = ds.fit_rows.end + 1;
    for r in from..changed.len() {
        let (c, mid) = (changed.close[r], (changed.high[r] + changed.low[r]) / 2.0);
        // triple every bar's range around its midpoint: far more volatile test rows
        changed.high[r] = mid + 3.0 * (changed.high[r] - mid);
        changed.low[r] = (mid + 3.0 * (changed.low[r] - mid)).max(1e-6);
        changed.close[r] = mid + 3.0 * (c - mid);
        changed.open[r] = changed.open[r].clamp(changed.low[r], changed.high[r]);
        changed.close[r] = changed.close[r].clamp(changed.low[r], changed.high[r]);
    }
    let ds2 = Dataset::fit(changed, &spec()).unwrap();
    assert_eq!(ds2.fit_rows, ds.fit_rows);
    assert_eq!(ds2.prep.regime, ds.prep.regime, "thresholds moved when only test rows changed");
    let (a, b2) = (row_regimes(&ds).unwrap(), row_regimes(&ds2).unwrap());
    assert_eq!(a[..ds.fit_rows.end], b2[..ds.fit_rows.end]);
    let vol = |d: &Dataset| d.frame.column("rv_ratio_24_120").unwrap()[d.fit_rows.end + 200];
    assert_ne!(vol(&ds), vol(&ds2), "the change did not reach the test rows' features");
}

/// A tiny LSTM whose output is the constant `c` (zero output weights, bias c), with pipeline metadata.
fn constant_member(ds: &Dataset, name: &str, c: f32) -> NetMember {
    let cfg = ModelConfig::from_json(
        &format!(r#"{{"kind":"lstm_attention","n_features":{},"hidden_size":3,"num_layers":1}}"#, ds.n_features()),
        "test",
    )
    .unwrap();
    let mut model = Model::new(&cfg, 1, Device::Cpu).unwrap();
    model
        .visit("", &mut |n, kind, t| {
            if kind == Kind::Param && n.starts_with("output.") {
                let v = if n.ends_with("bias") { c } else { 0.0 };
                *t = Tensor::full(v, t.shape(), Device::Cpu)?;
            }
            Ok(())
        })
        .unwrap();
    let meta = ModelMeta {
        prep: ds.prep.clone(),
        window: 16,
        objective: Objective::Return,
        target_scale: TargetScale::fit(ds).unwrap(),
        residual_std: Some(1e-3),
        train_info: None,
        drift: None,
    };
    NetMember { name: name.into(), model, meta }
}

fn manifest(ds: &Dataset, files: [&str; 3], own: [bool; 3]) -> RegimeManifest {
    RegimeManifest {
        format: FORMAT.into(),
        regimes: (0..3)
            .map(|i| tickgrad::pipeline::regime::RegimeEntry {
                regime: REGIMES[i].into(),
                checkpoint: files[i].into(),
                own_model: own[i],
                train_windows: 0,
                val_windows: 0,
            })
            .collect(),
        fallback: "all_regimes.safetensors".into(),
        prep: ds.prep.clone(),
    }
}

/// Networks answering distinct constants: every test bar's forecast is its regime's constant (the volatile
/// regime routed to the fallback here), so any routing mistake shows.
#[test]
fn backtest_routes_each_bar_to_its_regimes_network() {
    let ds = Dataset::fit(bars(SLICE_ROWS), &spec()).unwrap();
    let consts = [0.5f32, 1.0, 2.0, 4.0]; // fallback, trending, ranging, (unused)
    let models = vec![
        constant_member(&ds, "all_regimes", consts[0]),
        constant_member(&ds, "trending", consts[1]),
        constant_member(&ds, "ranging", consts[2]),
    ];
    let bundle = RegimeBundle {
        manifest: manifest(
            &ds,
            ["trending.safetensors", "ranging.safetensors", "all_regimes.safetensors"],
            [true, true, false],
        ),
        models,
        route: [1, 2, 0],
        fallback: 0,
        dir: std::path::PathBuf::new(),
    };
    let ret_scale = bundle.models[0].meta.target_scale.ret_scale;
    let mut pred = BacktestPredictor::Regimes(bundle);
    let calls = test_calls(&mut pred, &ds, None, Device::Cpu).unwrap();
    let forecast = calls.regression.expect("return forecasts");
    let regimes = row_regimes(&ds).unwrap();
    let mut seen = [0usize; 3];
    for (i, s) in calls.samples.clone().enumerate() {
        let code = regimes[ds.row(s)].expect("test bars have a regime");
        seen[code] += 1;
        let want = [consts[1], consts[2], consts[0]][code] as f64 * ret_scale;
        assert!((forecast[i] - want).abs() <= 1e-6 * want.abs(), "sample {s} regime {code}: {} vs {want}", forecast[i]);
    }
    assert!(seen.iter().all(|&n| n > 0), "every regime should occur among the test bars: {seen:?}");
}

fn recipe(min_train: usize) -> RegimeRecipe {
    RegimeRecipe {
        kind: "lstm_attention".into(),
        args: serde_json::json!({"hidden_size": 4, "num_layers": 1, "bidirectional": false, "dropout": 0.0}),
        window: 16,
        horizon: 1,
        theta: 0.0008,
        fractions: SplitFractions::default(),
        min_train_windows: min_train,
        min_val_windows: 5,
    }
}

/// No regime reaches the (here huge) minimum: no panic, every regime routes to the fallback, the manifest says
/// so, and the backtest's calls are the fallback's.
#[test]
fn a_regime_with_too_few_windows_falls_back_to_the_all_regimes_network() {
    let dir = scratch("regime-fallback");
    let b = train_per_regime(bars(SLICE_ROWS), &recipe(usize::MAX), &train_config(1, 3), &dir, &mut |_, _| {}).unwrap();
    assert_eq!(b.models.len(), 1);
    assert_eq!(b.route, [0, 0, 0]);
    for e in &b.manifest.regimes {
        assert!(!e.own_model && e.checkpoint == "all_regimes.safetensors", "{e:?}");
        assert!(e.train_windows > 0, "{e:?}");
    }
    assert!(!dir.join("trending.safetensors").exists());
    let loaded = BacktestPredictor::load(&dir, Device::Cpu).unwrap();
    assert!(matches!(loaded, BacktestPredictor::Regimes(_)));
    std::fs::remove_dir_all(&dir).ok();
}

/// Trained per-regime networks, reloaded from disk: the stream (bar by bar, incremental features, each bar
/// routed by its incrementally computed regime) answers every test bar as the batch backtest does.
#[test]
fn streamed_answers_equal_the_backtests_per_bar_answers() {
    let dir = scratch("regime-stream");
    let trained = train_per_regime(bars(SLICE_ROWS), &recipe(50), &train_config(1, 3), &dir, &mut |_, _| {}).unwrap();
    assert!(trained.manifest.regimes.iter().any(|e| e.own_model), "{:?}", trained.manifest.regimes);
    drop(trained);
    let mut pred = BacktestPredictor::load(&dir, Device::Cpu).unwrap();
    let BacktestPredictor::Regimes(r) = &pred else { panic!("expected per-regime models") };
    let ret_scale = r.models[0].meta.target_scale.ret_scale;
    let raw = bars(SLICE_ROWS);
    let ds = Dataset::with_preprocessing(raw.clone(), pred.prep().clone(), SplitFractions::default()).unwrap();
    let calls = test_calls(&mut pred, &ds, None, Device::Cpu).unwrap();
    let forecast = calls.regression.expect("return forecasts");
    let has_trades = raw.column("trades").is_some();
    let has_taker = raw.column("taker_buy_base_volume").is_some();
    let (mut engine, _) = RegimeEngine::load(&dir.join("regimes.json"), Device::Cpu, has_trades, has_taker).unwrap();
    let regimes = row_regimes(&ds).unwrap();
    let rows = ds.rows(calls.samples.clone());
    let scale = forecast.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-12);
    let mut compared = 0;
    for i in 0..rows.end {
        let answer = engine.push(&Bar::from_bars(&raw, i)).unwrap();
        if i < rows.start {
            continue;
        }
        let (code, out) = answer.expect("the windows are full by the test bars");
        assert_eq!(code, regimes[i], "row {i}: streamed regime");
        let got = out[0] as f64 * ret_scale;
        let want = forecast[i - rows.start];
        assert!((got - want).abs() <= 1e-4 * scale, "row {i}: stream {got} vs backtest {want}");
        compared += 1;
    }
    assert_eq!(compared, rows.len());
    std::fs::remove_dir_all(&dir).ok();
}

/// Walking forward, every network is refitted before each block on its own regime's samples and the calls stay
/// routed: the per-bar forecasts differ from the unrefitted ones, and each comes from the bar's regime's network.
#[test]
fn walk_forward_refits_and_routes_per_regime() {
    let dir = scratch("regime-walk");
    train_per_regime(bars(SLICE_ROWS), &recipe(50), &train_config(1, 4), &dir, &mut |_, _| {}).unwrap();
    let mut pred = BacktestPredictor::load(&dir, Device::Cpu).unwrap();
    let ds = Dataset::with_preprocessing(bars(SLICE_ROWS), pred.prep().clone(), SplitFractions::default()).unwrap();
    let still = test_calls(&mut pred, &ds, None, Device::Cpu).unwrap().regression.unwrap();
    let walk = WalkForwardRecipe::new(60, 1, 1e-2, Device::Cpu).unwrap();
    let calls = test_calls(&mut pred, &ds, Some(&walk), Device::Cpu).unwrap();
    assert!(calls.folds.len() >= 2, "{} folds", calls.folds.len());
    let moved = calls.regression.unwrap();
    assert_eq!(moved.len(), still.len());
    assert!(moved.iter().zip(&still).any(|(a, b)| a != b), "walk-forward refits changed nothing");
    std::fs::remove_dir_all(&dir).ok();
}

/// `tickgrad run --per-regime` end to end on a slice of the bundled data: the per-regime directory, the routing
/// it printed, and the report.
#[test]
fn run_per_regime_cli_writes_the_networks_and_the_report() {
    let dir = scratch("regime-cli");
    let csv = pipeline_support::csv_slice(&dir, SLICE_ROWS);
    let out = dir.join("out");
    let (ok, stdout, stderr) = pipeline_support::tickgrad(&[
        "run",
        "--data",
        csv.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--per-regime",
        "--regime-model",
        "lstm_attention",
        "--epochs",
        "1",
        "--device",
        "cpu",
    ]);
    assert!(ok, "run --per-regime failed:\n{stderr}");
    let text = std::fs::read_to_string(out.join("regimes").join("regimes.json")).unwrap();
    let m = RegimeManifest::from_json(&text, "regimes.json").unwrap();
    for e in &m.regimes {
        assert!(stderr.contains(&format!("{}: {} training", e.regime, e.train_windows)), "{stderr}");
        assert!(out.join("regimes").join(&e.checkpoint).exists(), "{e:?}");
    }
    assert!(out.join("report.json").exists() && stdout.contains("per-regime models"), "{stdout}");

    // `stream --checkpoint OUT/regimes` answers each bar with its regime's network, as the library's engine does.
    let regimes = out.join("regimes");
    let y_path = dir.join("stream.npy");
    let (ok, stdout, stderr) = pipeline_support::tickgrad(&[
        "stream",
        "--checkpoint",
        regimes.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--out",
        y_path.to_str().unwrap(),
    ]);
    assert!(ok, "stream of per-regime networks failed:\n{stderr}");
    let (raw, _) = tickgrad::data::load_csv(&csv).unwrap();
    let has_trades = raw.column("trades").is_some();
    let has_taker = raw.column("taker_buy_base_volume").is_some();
    let (mut engine, _) =
        RegimeEngine::load(&regimes.join("regimes.json"), Device::Cpu, has_trades, has_taker).unwrap();
    let mut want = Vec::new();
    let mut routed = [0usize; 4];
    for i in 0..raw.len() {
        if let Some((code, o)) = engine.push(&Bar::from_bars(&raw, i)).unwrap() {
            want.extend_from_slice(o);
            routed[code.unwrap_or(3)] += 1;
        }
    }
    let got = tickgrad::io::npy::read_npy(&y_path).unwrap();
    assert_eq!(got.data, want, "streamed per-regime answers");
    let counts = format!("trending={} ranging={} volatile={}", routed[0], routed[1], routed[2]);
    assert!(stdout.contains("model=per-regime") && stdout.contains(&counts), "{stdout}\nwant {counts}");
    let journal = dir.join("journal.jsonl");
    let (ok, _, stderr) = pipeline_support::tickgrad(&[
        "stream",
        "--checkpoint",
        regimes.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("per-regime networks") && stderr.contains("paper trading"), "{stderr}");
    let (ok, _, stderr) = pipeline_support::tickgrad(&[
        "stream",
        "--checkpoint",
        regimes.to_str().unwrap(),
        "--symbols",
        "A,B",
        "--data",
        &format!("{0},{0}", csv.display()),
    ]);
    assert!(!ok && stderr.contains("per-regime networks stream one symbol"), "{stderr}");
    let (ok, _, stderr) = pipeline_support::tickgrad(&["run", "--regime-model", "tcn"]);
    assert!(!ok && stderr.contains("--per-regime"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
