//! The horizon table (`tickgrad eval --horizons 1,4,24,168`): the same calls scored against what happened over
//! several horizons, beside the baselines, so a model that only looks good at one horizon shows it.
//!
//! For each horizon `H` every strategy's call at the close of decision row `r` is scored against:
//! - accuracy and balanced accuracy: the direction label of `ln(close[r + H] / close[r])` with the run's hold band
//!   θ (a move smaller than the round-trip cost is `hold` at every horizon);
//! - RMSE: the return forecast against that `H`-bar log return; the model's only if it makes return forecasts,
//!   `always_flat` forecasts 0, `persistence` the last `H`-bar return, the others none;
//! - Sharpe: the strategy acting every `H` bars (the call at row `r₀ + kH` held for the next `H` bars, net of the
//!   run's costs and funding), annualised per bar like the main table; at `H` = 1 it is the main table's Sharpe.
//!
//! Honesty: every horizon is scored on the same rows, those whose label exists at the largest horizon (the last
//! `max H` decision rows drop out), and the majority-class baseline learns each horizon's labels from rows whose
//! `max H`-bar label is realised by the first scored row (a purge by the largest horizon). The calls themselves
//! were made by a model trained for its own horizon with the purge of that horizon; it never saw labels at the
//! other horizons.

use super::baselines::{ALWAYS_FLAT, BUY_AND_HOLD, MAJORITY_CLASS, PERSISTENCE};
use super::classification::{class_to_position, classification_metrics};
use super::trading::{backtest_funded, HeldPositions, TradingConfig};
use crate::data::labels::{direction_of, DOWN, HOLD, UP};
use crate::{Error, Result};
use std::fmt::Write as _;
use std::ops::Range;

/// What the table scores.
#[derive(Debug, Clone)]
pub struct HorizonInputs<'a> {
    /// Every close of the file; rows index into it.
    pub closes: &'a [f64],
    /// Decision rows of the calls, consecutive: call `i` is made at the close of row `rows.start + i`.
    pub rows: Range<usize>,
    /// Class calls (0 up, 1 down, 2 hold) per decision row, by strategy name: the model first, then any fitted
    /// baseline with its own calls (boosted trees).
    pub calls: Vec<(String, &'a [usize])>,
    /// The model's log-return forecast per decision row, if it makes one.
    pub forecast: Option<&'a [f64]>,
    /// Rows whose labels the majority-class baseline may learn from (before the scored rows).
    pub train_rows: Range<usize>,
    pub theta: f64,
    pub trading: TradingConfig,
    /// Funding rate per bar of the file (`data::funding_per_bar`), if charged.
    pub funding: Option<&'a [f64]>,
}

/// One strategy at one horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct HorizonRow {
    pub horizon: usize,
    pub strategy: String,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub rmse: Option<f64>,
    pub sharpe: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HorizonTable {
    /// Decision rows scored at every horizon.
    pub rows: Range<usize>,
    pub table: Vec<HorizonRow>,
}

/// Parse `1,4,24,168`: distinct horizons ≥ 1, kept in the given order.
pub fn parse_horizons(text: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let h = part.trim().parse::<usize>().ok().filter(|&h| h >= 1).ok_or_else(|| {
            Error::config("horizons", format!("expected comma-separated horizons in bars (>= 1), found `{part}`"))
        })?;
        if out.contains(&h) {
            return Err(Error::config("horizons", format!("horizon {h} is given twice")));
        }
        out.push(h);
    }
    Ok(out)
}

fn log_return(c: &[f64], from: usize, to: usize) -> f64 {
    (c[to] / c[from]).ln()
}

/// Score every strategy at every horizon in `horizons`.
pub fn horizon_table(inputs: &HorizonInputs<'_>, horizons: &[usize]) -> Result<HorizonTable> {
    let c = inputs.closes;
    let h_max = *horizons.iter().max().ok_or_else(|| Error::config("horizons", "expected at least one horizon"))?;
    let n_calls = inputs.rows.len();
    for (name, calls) in &inputs.calls {
        if calls.len() != n_calls {
            return Err(Error::shape(format!("{name} calls (one per decision row)"), [n_calls], [calls.len()]));
        }
    }
    if let Some(f) = inputs.forecast {
        if f.len() != n_calls {
            return Err(Error::shape("forecast (one per decision row)", [n_calls], [f.len()]));
        }
    }
    if inputs.rows.start == 0 || inputs.rows.end > c.len() {
        return Err(Error::Invalid(format!(
            "horizon table: decision rows {:?} must lie within 1..{} (each needs the close before it)",
            inputs.rows,
            c.len()
        )));
    }
    // Rows whose label exists at the largest horizon.
    let last = inputs.rows.end.min(c.len().saturating_sub(h_max));
    if last <= inputs.rows.start {
        return Err(Error::Invalid(format!(
            "horizon table: no scored bar has a {h_max}-bar future ({} decision rows from row {}, {} bars in the \
             file); use shorter horizons or more bars",
            n_calls,
            inputs.rows.start,
            c.len()
        )));
    }
    let rows = inputs.rows.start..last;
    let n = rows.len();
    let first = rows.start;
    let train_end = inputs.train_rows.end.min((first + 1).saturating_sub(h_max));
    let train_rows = inputs.train_rows.start.min(train_end)..train_end;
    let asset_returns: Vec<f64> = rows.clone().map(|r| c[r] / c[r - 1] - 1.0).collect();
    let funding = inputs.funding.map(|f| f[rows.clone()].to_vec());
    let mut table = Vec::new();
    for &h in horizons {
        let realised: Vec<f64> = rows.clone().map(|r| log_return(c, r, r + h)).collect();
        let labels: Vec<usize> =
            realised.iter().map(|&x| direction_of(x, inputs.theta).map(usize::from).unwrap_or(HOLD as usize)).collect();
        let past: Vec<f64> = rows.clone().map(|r| if r >= h { log_return(c, r - h, r) } else { 0.0 }).collect();
        let mut strategies: Vec<(String, Vec<usize>, Option<Vec<f64>>)> = Vec::new();
        for (i, (name, calls)) in inputs.calls.iter().enumerate() {
            let fc = if i == 0 { inputs.forecast.map(|f| f[..n].to_vec()) } else { None };
            strategies.push((name.clone(), calls[..n].to_vec(), fc));
        }
        strategies.push((BUY_AND_HOLD.into(), vec![UP as usize; n], None));
        strategies.push((ALWAYS_FLAT.into(), vec![HOLD as usize; n], Some(vec![0.0; n])));
        let persistence = past.iter().map(|&x| sign_class(x)).collect();
        strategies.push((PERSISTENCE.into(), persistence, Some(past.clone())));
        let train_labels: Vec<usize> = train_rows
            .clone()
            .filter_map(|r| direction_of(log_return(c, r, r + h), inputs.theta).map(usize::from))
            .collect();
        if !train_labels.is_empty() {
            let m = super::baselines::majority_class(&train_labels, n)?;
            strategies.push((MAJORITY_CLASS.into(), m.predictions, None));
        }
        for (name, calls, fc) in strategies {
            let cm = classification_metrics(&labels, &calls, None, None)?;
            let rmse =
                fc.map(|f| (f.iter().zip(&realised).map(|(p, y)| (p - y).powi(2)).sum::<f64>() / n as f64).sqrt());
            let signals = every_h(&calls, h)?;
            let bt = backtest_funded(
                &HeldPositions::from_signals(&signals)?,
                &asset_returns,
                funding.as_deref(),
                &inputs.trading,
            )?;
            table.push(HorizonRow {
                horizon: h,
                strategy: name,
                accuracy: cm.all.accuracy,
                balanced_accuracy: cm.all.balanced_accuracy,
                rmse,
                sharpe: bt.metrics.sharpe,
            });
        }
    }
    Ok(HorizonTable { rows, table })
}

fn sign_class(x: f64) -> usize {
    if x > 0.0 {
        UP as usize
    } else if x < 0.0 {
        DOWN as usize
    } else {
        HOLD as usize
    }
}

/// Positions decided every `h` rows: the call at row `k·h` stands until row `(k + 1)·h`.
fn every_h(calls: &[usize], h: usize) -> Result<Vec<f64>> {
    (0..calls.len()).map(|i| class_to_position(calls[i - i % h])).collect()
}

/// The table as text: one line per horizon and strategy.
pub fn format_horizon_table(t: &HorizonTable) -> String {
    let w = t.table.iter().map(|r| r.strategy.len()).max().unwrap_or(8).max(8);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>7}  {:<w$}  {:>8}  {:>17}  {:>10}  {:>8}",
        "horizon", "strategy", "accuracy", "balanced_accuracy", "rmse", "sharpe"
    );
    for r in &t.table {
        let rmse = r.rmse.map_or("n/a".to_string(), |x| format!("{x:.6}"));
        let sharpe = if r.sharpe.is_finite() { format!("{:.4}", r.sharpe) } else { "n/a".into() };
        let _ = writeln!(
            out,
            "{:>7}  {:<w$}  {:>8.4}  {:>17.4}  {:>10}  {:>8}",
            r.horizon, r.strategy, r.accuracy, r.balanced_accuracy, rmse, sharpe
        );
    }
    out
}

#[cfg(test)]
#[path = "horizons_tests.rs"]
mod tests;
