//! Feature table: causality (appending, altering and truncating future bars leaves every earlier row bit for
//! bit unchanged), warm-up lengths, optional columns, the model subset, regime fitting on training rows only,
//! the CSV round trip and the `features` command.

mod common;

use common::{data_path, scratch_file};
use std::path::PathBuf;
use tickgrad::data::{
    apply_regime, compute_features, fit_regime_thresholds, load_csv, model_feature_names, read_features_csv,
    write_features_csv, Bars, FeatureConfig, FeatureFrame,
};

fn scratch(name: &str) -> PathBuf {
    scratch_file("data-features", name)
}

fn btc() -> Bars {
    load_csv(data_path("btcusdt_perp_1h_2020.csv")).unwrap().0
}

fn features(bars: &Bars) -> FeatureFrame {
    compute_features(bars, &FeatureConfig::default()).unwrap()
}

fn same_bits(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Every column of `short` must equal the first rows of the same column of `long`, bit for bit.
#[track_caller]
fn assert_prefix_identical(short: &FeatureFrame, long: &FeatureFrame, rows: usize, what: &str) {
    assert_eq!(short.names, long.names, "{what}: same columns");
    for (j, name) in short.names.iter().enumerate() {
        for i in 0..rows {
            let (a, b) = (short.columns[j][i], long.columns[j][i]);
            assert!(same_bits(a, b), "{what}: `{name}` row {i} changed: {a} vs {b}");
        }
    }
}

/// Bars after the file's end: a made-up continuation (a crash and a volume spike), so that future data is
/// as different from the past as it can be.
fn append_future(bars: &Bars, extra: usize) -> Bars {
    let mut b = bars.clone();
    let last = bars.len() - 1;
    for k in 1..=extra {
        let c = bars.close[last] * (1.0 - 0.01 * k as f64).max(0.2);
        b.timestamp.push(bars.timestamp[last] + k as i64 * 3_600_000);
        b.open.push(c * 1.01);
        b.high.push(c * 1.05);
        b.low.push(c * 0.9);
        b.close.push(c);
        b.volume.push(bars.volume[last] * 50.0);
        for (name, col) in b.extra.iter_mut() {
            let v = bars.extra[name][last];
            col.push(if name == "taker_buy_base_volume" { bars.volume[last] * 49.0 } else { v * 3.0 });
        }
    }
    b
}

#[test]
fn appending_future_bars_changes_no_earlier_row() {
    let bars = btc();
    let base = features(&bars);
    let longer = features(&append_future(&bars, 300));
    assert_eq!(longer.len(), bars.len() + 300);
    assert_prefix_identical(&base, &longer, bars.len(), "append 300 bars");
}

#[test]
fn altering_future_bars_changes_no_earlier_row() {
    let bars = btc();
    let cut = 5000;
    let base = features(&bars);
    let mut altered = bars.clone();
    for i in cut..bars.len() {
        for col in [&mut altered.open, &mut altered.high, &mut altered.low, &mut altered.close] {
            col[i] *= 1.3;
        }
        altered.volume[i] *= 7.0;
        for col in altered.extra.values_mut() {
            col[i] *= 0.5;
        }
    }
    let changed = features(&altered);
    assert_prefix_identical(&changed, &base, cut, "alter rows >= 5000");
    let rsi = base.column("rsi_14").unwrap();
    assert_ne!(rsi[cut + 50].to_bits(), changed.column("rsi_14").unwrap()[cut + 50].to_bits());
}

#[test]
fn truncating_changes_no_remaining_row() {
    let bars = btc();
    let full = features(&bars);
    for keep in [1, 20, 34, 121, 2000, bars.len() - 1] {
        let short = features(&bars.slice(0..keep).unwrap());
        assert_eq!(short.len(), keep);
        assert_prefix_identical(&short, &full, keep, &format!("truncate to {keep}"));
    }
}

#[test]
fn warm_up_rows_are_nan_then_values_follow() {
    let f = features(&btc());
    let expected = [
        ("rsi_14", 14),
        ("macd_hist_12_26_9", 33),
        ("bb_upper_20_2", 19),
        ("atr_14", 14),
        ("obv", 0),
        ("stoch_slowd_14_3_3", 17),
        ("vwap_cum", 0),
        ("vwap_roll_14", 13),
        ("ret_1", 1),
        ("ret_60", 60),
        ("rv_24", 24),
        ("log_volume", 0),
        ("volume_z_24", 23),
        ("trade_intensity", 0),
        ("trade_intensity_z_24", 23),
        ("order_flow_imbalance", 0),
        ("volume_profile_24_0", 23),
        ("volume_profile_24_4", 23),
        ("bb_pos_20_2", 19),
        ("vwap_dev_14", 13),
        ("er_24", 24),
        ("rv_ratio_24_120", 120),
        ("regime", 120),
    ];
    for (name, warm) in expected {
        let col = f.column(name).unwrap_or_else(|| panic!("missing {name}"));
        assert!(col[..warm].iter().all(|x| x.is_nan()), "{name}: rows before {warm} must be NaN");
        assert!(
            col[warm..].iter().all(|x| x.is_finite()),
            "{name}: finite from row {warm} on (BTC has volume on every bar)"
        );
    }
    let profile_sum: f64 = (0..5).map(|j| f.column(&format!("volume_profile_24_{j}")).unwrap()[500]).sum();
    assert!((profile_sum - 1.0).abs() < 1e-12);
    let regimes = f.column("regime").unwrap();
    for code in [0.0, 1.0, 2.0] {
        assert!(regimes.contains(&code), "regime {code} never occurs on a year of BTC");
    }
}

#[test]
fn optional_columns_and_model_subset() {
    let spy =
        compute_features(&load_csv(data_path("spy_1d_2008_2021.csv")).unwrap().0, &FeatureConfig::default()).unwrap();
    for name in ["trade_intensity", "trade_intensity_z_24", "order_flow_imbalance"] {
        assert!(spy.column(name).is_none(), "SPY has no {name} source column");
    }
    let frame = features(&btc());
    let model = model_feature_names(&frame);
    println!("model inputs ({}): {}", model.len(), model.join(", "));
    for name in
        ["order_flow_imbalance", "trade_intensity_z_24", "bb_pos_20_2", "atr_rel_14", "macd_rel_12_26_9", "regime"]
    {
        assert!(model.iter().any(|m| m == name), "{name}");
    }
    for name in ["bb_upper_20_2", "vwap_cum", "obv", "trade_intensity", "atr_14"] {
        assert!(!model.iter().any(|m| m == name), "{name} is a level, not a model input");
    }
    let first = frame.first_valid_row(&model).unwrap().unwrap();
    assert_eq!(first, 120);
    for name in &model {
        assert!(frame.column(name).unwrap()[first..].iter().all(|x| x.is_finite()), "{name}");
    }
    // Non-default periods show up in the names.
    let cfg =
        FeatureConfig { rsi_period: 7, bb_period: 10, bb_dev: 2.5, return_lags: vec![2], ..FeatureConfig::default() };
    let f = compute_features(&btc(), &cfg).unwrap();
    for name in ["rsi_7", "rsi_scaled_7", "bb_upper_10_2.5", "bb_pos_10_2.5", "ret_2"] {
        assert!(f.column(name).is_some(), "{name}");
    }
}

#[test]
fn regime_thresholds_are_fitted_on_training_rows_only() {
    let bars = btc();
    let train = 0..6000;
    let mut frame = features(&bars);
    let th = fit_regime_thresholds(&frame, train.clone(), 0.8, 0.3).unwrap();
    let vol = frame.column("rv_ratio_24_120").unwrap();
    let train_vals: Vec<f64> = vol[train.clone()].iter().copied().filter(|x| x.is_finite()).collect();
    let above = train_vals.iter().filter(|&&v| v > th.volatility).count() as f64 / train_vals.len() as f64;
    assert!((above - 0.2).abs() < 0.01, "{above}");

    let mut altered = bars.clone();
    for i in train.end..bars.len() {
        altered.close[i] *= if i % 2 == 0 { 1.2 } else { 0.8 };
        altered.high[i] = altered.high[i].max(altered.close[i]) * 1.2;
        altered.low[i] = altered.low[i].min(altered.close[i]) * 0.8;
    }
    let th2 = fit_regime_thresholds(&features(&altered), train.clone(), 0.8, 0.3).unwrap();
    assert_eq!(th, th2, "rows after the training range must not move the thresholds");

    apply_regime(&mut frame, &th).unwrap();
    let (er, vr, reg) =
        (frame.column("er_24").unwrap(), frame.column("rv_ratio_24_120").unwrap(), frame.column("regime").unwrap());
    for i in 120..frame.len() {
        let expect = if vr[i] > th.volatility {
            2.0
        } else if er[i] >= th.efficiency {
            0.0
        } else {
            1.0
        };
        assert_eq!(reg[i], expect, "row {i}");
    }
    assert!(fit_regime_thresholds(&frame, 0..100, 0.8, 0.3).is_err(), "all warm-up rows");
    assert!(fit_regime_thresholds(&frame, 0..9000, 0.8, 0.3).is_err(), "range past the end");
    assert!(fit_regime_thresholds(&frame, train, 1.5, 0.3).is_err());
}

#[test]
fn features_csv_round_trips_bit_for_bit() {
    let f = features(&btc().slice(0..400).unwrap());
    let path = scratch("features.csv");
    write_features_csv(&f, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("timestamp,rsi_14,macd_12_26_9,"));
    assert!(text.lines().nth(1).unwrap().contains(",NaN,"));
    let back = read_features_csv(&path).unwrap();
    assert_eq!(back.timestamp, f.timestamp);
    assert_prefix_identical(&back, &f, f.len(), "CSV round trip");
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        // Only this write's temporary: other tests of this binary write their own files into the same folder
        // concurrently, and one caught mid-write is not a leftover.
        .filter(|e| e.file_name().to_string_lossy().starts_with(".features.csv.tmp"))
        .collect();
    assert!(leftovers.is_empty(), "atomic write left {leftovers:?}");
}

#[test]
fn features_command_writes_the_table() {
    let out = scratch("cli-features.csv");
    tickgrad::cli::features::run(&data_path("spy_1d_2008_2021.csv"), &out).unwrap();
    let back = read_features_csv(&out).unwrap();
    assert_eq!(back.len(), 3335);
    assert!(back.column("vwap_roll_14").is_some());
    let err = tickgrad::cli::features::run(&data_path("no-such-file.csv"), &out).unwrap_err();
    assert!(err.to_string().contains("no-such-file.csv"));
}
