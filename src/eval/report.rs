//! What `tickgrad eval` / `backtest` hand to a person: `report.json` (model and baselines side by side, the
//! same metric names for all), `returns.csv` (the model's per-bar series, from which every trading number
//! can be recomputed) and `report.html` (plots, self-contained). Values in `returns.csv` use Rust's `{}`
//! formatting of `f64`, which is the shortest string that parses back to the same bits, so a recomputation
//! from the file sees exactly the numbers the metrics were computed from.

use super::classification::ClassificationMetrics;
use super::evaluate::Evaluation;
use super::json::opt_f64_or_null;
use super::regression::RegressionMetrics;
use super::trading::TradingMetrics;
use crate::io::atomic::write_atomic_all;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Classification scores as report columns; all `null` for a strategy without class calls or without
/// labels, so every strategy in a report has the same keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClassSummary {
    #[serde(with = "opt_f64_or_null")]
    pub accuracy: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub balanced_accuracy: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub macro_precision: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub macro_recall: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub macro_f1: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub mcc: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub log_loss: Option<f64>,
    /// Share of bars with a non-hold call (for a strategy given only as positions: a non-zero signal).
    #[serde(with = "opt_f64_or_null")]
    pub coverage: Option<f64>,
    /// Share of bars whose confidence reaches the threshold, and the scores on those bars.
    #[serde(with = "opt_f64_or_null")]
    pub confident_share: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub confident_accuracy: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub confident_balanced_accuracy: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub confident_macro_f1: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub confident_mcc: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub confident_coverage: Option<f64>,
}

impl ClassSummary {
    pub fn from_metrics(m: &ClassificationMetrics) -> Self {
        let c = m.confident.as_ref();
        ClassSummary {
            accuracy: Some(m.all.accuracy),
            balanced_accuracy: Some(m.all.balanced_accuracy),
            macro_precision: Some(m.all.macro_precision),
            macro_recall: Some(m.all.macro_recall),
            macro_f1: Some(m.all.macro_f1),
            mcc: Some(m.all.mcc),
            log_loss: m.all.log_loss,
            coverage: Some(m.all.coverage),
            confident_share: m.confident_share,
            confident_accuracy: c.map(|c| c.accuracy),
            confident_balanced_accuracy: c.map(|c| c.balanced_accuracy),
            confident_macro_f1: c.map(|c| c.macro_f1),
            confident_mcc: c.map(|c| c.mcc),
            confident_coverage: c.map(|c| c.coverage),
        }
    }
}

/// Regression scores as report columns; `null` unless return forecasts were given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegressionSummary {
    #[serde(with = "opt_f64_or_null")]
    pub rmse: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub mae: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub r2: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub directional_accuracy: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub ic_pearson: Option<f64>,
    #[serde(with = "opt_f64_or_null")]
    pub ic_spearman: Option<f64>,
}

impl RegressionSummary {
    pub fn from_metrics(m: &RegressionMetrics) -> Self {
        RegressionSummary {
            rmse: Some(m.rmse),
            mae: Some(m.mae),
            r2: Some(m.r2),
            directional_accuracy: Some(m.directional_accuracy),
            ic_pearson: Some(m.ic_pearson),
            ic_spearman: Some(m.ic_spearman),
        }
    }
}

/// One strategy's row set: one flat JSON object with snake_case keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(flatten)]
    pub trading: TradingMetrics,
    #[serde(flatten)]
    pub classification: ClassSummary,
    #[serde(flatten)]
    pub regression: RegressionSummary,
}

impl Metrics {
    /// Every metric in display order, integers widened to `f64`; `None` where undefined or not applicable.
    pub fn rows(&self) -> Vec<(&'static str, Option<f64>)> {
        let t = &self.trading;
        let f = |v: f64| v.is_finite().then_some(v);
        let c = &self.classification;
        let r = &self.regression;
        vec![
            ("sharpe", f(t.sharpe)),
            ("sortino", f(t.sortino)),
            ("deflated_sharpe", f(t.deflated_sharpe)),
            ("total_return", f(t.total_return)),
            ("cagr", f(t.cagr)),
            ("volatility", f(t.volatility)),
            ("max_drawdown", f(t.max_drawdown)),
            ("win_rate", t.win_rate),
            ("profit_factor", t.profit_factor),
            ("n_trades", Some(t.n_trades as f64)),
            ("turnover", f(t.turnover)),
            ("exposure", f(t.exposure)),
            ("total_costs", f(t.total_costs)),
            ("total_funding", t.total_funding),
            ("n_bars", Some(t.n_bars as f64)),
            ("periods_per_year", Some(t.periods_per_year)),
            ("n_trials", Some(t.n_trials as f64)),
            ("accuracy", c.accuracy),
            ("balanced_accuracy", c.balanced_accuracy),
            ("macro_precision", c.macro_precision),
            ("macro_recall", c.macro_recall),
            ("macro_f1", c.macro_f1),
            ("mcc", c.mcc),
            ("log_loss", c.log_loss),
            ("coverage", c.coverage),
            ("confident_share", c.confident_share),
            ("confident_accuracy", c.confident_accuracy),
            ("confident_balanced_accuracy", c.confident_balanced_accuracy),
            ("confident_macro_f1", c.confident_macro_f1),
            ("confident_mcc", c.confident_mcc),
            ("confident_coverage", c.confident_coverage),
            ("rmse", r.rmse),
            ("mae", r.mae),
            ("r2", r.r2),
            ("directional_accuracy", r.directional_accuracy),
            ("ic_pearson", r.ic_pearson),
            ("ic_spearman", r.ic_spearman),
        ]
    }
}

/// `report.json`: `{"model": {...}, "baselines": {"buy_and_hold": {...}, ...}}`, and for an ensemble
/// `"members": {"tcn": {...}, ...}`, each member's own calls scored alike (absent for a single network, so older
/// reports read back and a single network's report is unchanged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub model: Metrics,
    pub baselines: BTreeMap<String, Metrics>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, Metrics>,
}

impl Report {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Invalid(format!("report to JSON: {e}")))
    }

    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::parse("report.json", e.to_string()))
    }
}

fn format_value(name: &str, v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(x) if matches!(name, "n_trades" | "n_bars" | "n_trials" | "periods_per_year") => {
            format!("{x:.0}")
        }
        Some(x) if x != 0.0 && x.abs() < 1e-3 => format!("{x:.3e}"),
        Some(x) => format!("{x:.4}"),
    }
}

/// Metric name and value pairs of one strategy, in display order.
type Rows = Vec<(&'static str, Option<f64>)>;

/// A fixed-width text table for a terminal: one row per metric, a column for the model and one per
/// baseline (in name order).
pub fn format_table(report: &Report) -> String {
    let mut columns: Vec<(&str, Rows)> = vec![("model", report.model.rows())];
    for (name, m) in &report.baselines {
        columns.push((name.as_str(), m.rows()));
    }
    let names: Vec<&str> = columns[0].1.iter().map(|(n, _)| *n).collect();
    let label_w = names.iter().map(|n| n.len()).max().unwrap_or(0).max("metric".len());
    let cells: Vec<Vec<String>> =
        columns.iter().map(|(_, rows)| rows.iter().map(|(n, v)| format_value(n, *v)).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .zip(&cells)
        .map(|((h, _), c)| c.iter().map(|s| s.chars().count()).max().unwrap_or(0).max(h.chars().count()))
        .collect();
    let mut out = String::new();
    let _ = write!(out, "{:<label_w$}", "metric");
    for ((h, _), w) in columns.iter().zip(&widths) {
        let _ = write!(out, "  {h:>w$}");
    }
    out.push('\n');
    let total = label_w + widths.iter().map(|w| w + 2).sum::<usize>();
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for (i, name) in names.iter().enumerate() {
        let _ = write!(out, "{name:<label_w$}");
        for (c, w) in cells.iter().zip(&widths) {
            let _ = write!(out, "  {:>w$}", c[i]);
        }
        out.push('\n');
    }
    out
}

/// `returns.csv`: `timestamp,position,gross_return,net_return`, one row per test bar, the position being
/// the one held over that bar.
pub fn returns_csv(eval: &Evaluation) -> String {
    let bt = &eval.model;
    let mut out = String::with_capacity(64 * bt.net.len() + 64);
    out.push_str("timestamp,position,gross_return,net_return\n");
    for i in 0..bt.net.len() {
        let _ = writeln!(out, "{},{},{},{}", eval.timestamps[i], bt.positions[i], bt.gross[i], bt.net[i]);
    }
    out
}

/// Writes `report.json`, `returns.csv` and `report.html` into `dir` (created if missing), atomically as a set:
/// a failure (a full disk) leaves the previous three files ([`write_atomic_all`]).
pub fn write_report(dir: impl AsRef<Path>, eval: &Evaluation) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (json, csv, html) = (eval.report.to_json()?, returns_csv(eval), super::html::render(eval));
    let (pj, pc, ph) = (dir.join("report.json"), dir.join("returns.csv"), dir.join("report.html"));
    write_atomic_all(&[(&pj, json.as_bytes()), (&pc, csv.as_bytes()), (&ph, html.as_bytes())])
}
