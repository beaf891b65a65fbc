//! Indicators against TA-Lib. The expected values are `data/<dataset>.indicators.csv`, produced by TA-Lib 0.8.1
//! (PyPI `ta-lib` 0.8.2) and, for `vwap_roll_14`, the `ta` package 0.11.0; the exact calls are listed in
//! `data/PROVENANCE.md`. Both bundled datasets are checked column by column: NaN positions must agree exactly and
//! the largest relative error must stay within 1e-9.

use std::path::PathBuf;
use tickgrad::data::{indicators, load_csv, Bars};

const TOL: f64 = 1e-9;

fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(file)
}

/// The oracle file as (column names, columns); `NaN` parses as NaN.
fn read_oracle(file: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(data_path(file)).expect("oracle file");
    let mut lines = text.lines();
    let names: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let mut cols = vec![Vec::new(); names.len()];
    for line in lines {
        for (c, f) in cols.iter_mut().zip(line.split(',')) {
            c.push(f.parse::<f64>().unwrap());
        }
    }
    (names, cols)
}

fn ours(bars: &Bars) -> Vec<(&'static str, Vec<f64>)> {
    let (h, l, c, v) = (&bars.high, &bars.low, &bars.close, &bars.volume);
    let m = indicators::macd(c, 12, 26, 9).unwrap();
    let b = indicators::bbands(c, 20, 2.0, 2.0).unwrap();
    let s = indicators::stoch(h, l, c, 14, 3, 3).unwrap();
    vec![
        ("rsi_14", indicators::rsi(c, 14).unwrap()),
        ("macd_12_26_9", m.macd),
        ("macd_signal_12_26_9", m.signal),
        ("macd_hist_12_26_9", m.hist),
        ("bb_upper_20_2", b.upper),
        ("bb_middle_20_2", b.middle),
        ("bb_lower_20_2", b.lower),
        ("atr_14", indicators::atr(h, l, c, 14).unwrap()),
        ("obv", indicators::obv(c, v).unwrap()),
        ("stoch_slowk_14_3_3", s.slowk),
        ("stoch_slowd_14_3_3", s.slowd),
        ("vwap_cum", indicators::vwap_cum(h, l, c, v).unwrap()),
        ("vwap_roll_14", indicators::vwap_roll(h, l, c, v, 14).unwrap()),
    ]
}

/// |a − b| / max(|a|, |b|), 0 when both are equal (so exact zeros compare as equal).
fn rel_err(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

fn check_dataset(name: &str) {
    let (bars, _) = load_csv(data_path(&format!("{name}.csv"))).unwrap();
    let (names, oracle) = read_oracle(&format!("{name}.indicators.csv"));
    assert_eq!(oracle[0].len(), bars.len(), "{name}: oracle rows");
    let ts: Vec<i64> = oracle[0].iter().map(|&t| t as i64).collect();
    assert_eq!(ts, bars.timestamp, "{name}: oracle timestamps");
    let mut failures = Vec::new();
    for (col, values) in ours(&bars) {
        let j = names.iter().position(|n| n == col).unwrap_or_else(|| panic!("{name}: oracle lacks {col}"));
        let want = &oracle[j];
        let nan_mismatch = values.iter().zip(want).filter(|(a, b)| a.is_nan() != b.is_nan()).count();
        let (mut worst, mut at) = (0.0f64, 0usize);
        for (i, (&a, &b)) in values.iter().zip(want).enumerate() {
            if !a.is_nan() && !b.is_nan() && rel_err(a, b) > worst {
                worst = rel_err(a, b);
                at = i;
            }
        }
        let warmup = want.iter().take_while(|x| x.is_nan()).count();
        println!(
            "{name} {col:<22} warm-up {warmup:>2}  NaN mismatches {nan_mismatch}  max rel err {worst:.3e} (row {at})"
        );
        if nan_mismatch > 0 || worst > TOL {
            failures.push(format!("{col}: {nan_mismatch} NaN mismatches, max rel err {worst:e} at row {at}"));
        }
    }
    assert!(failures.is_empty(), "{name}: {failures:#?}");
}

#[test]
fn indicators_match_talib_on_btcusdt_hourly() {
    check_dataset("btcusdt_perp_1h_2020");
}

#[test]
fn indicators_match_talib_on_spy_daily() {
    check_dataset("spy_1d_2008_2021");
}
