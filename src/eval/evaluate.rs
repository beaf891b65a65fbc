//! One call that turns a model's test-set outputs into a [`Report`] with every baseline scored on the same
//! bars, plus the per-bar series the files and plots need.

use super::baselines::{standard_baselines, Baseline};
use super::classification::{
    check_classes, class_to_position, classification_metrics, ClassificationMetrics, ConfidenceFilter,
};
use super::regression::{regression_metrics, RegressionMetrics};
use super::report::{ClassSummary, Metrics, RegressionSummary, Report};
use super::trading::{backtest_funded, Backtest, HeldPositions, TradingConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The model's outputs on the test bars. Every per-bar slice has one entry per bar of `asset_returns`.
#[derive(Debug, Clone)]
pub struct EvalInputs<'a> {
    /// Open time (Unix ms) of each test bar, written to `returns.csv`.
    pub timestamps: &'a [i64],
    /// Simple return of the asset over each bar (`close[i] / close[i − 1] − 1`).
    pub asset_returns: &'a [f64],
    /// Position the model decides at each bar's close; it is held over the next bar. `None` derives it
    /// from `predictions` (up +1, down −1, hold 0).
    pub signals: Option<&'a [f64]>,
    /// True class at each bar (0 up, 1 down, 2 hold), for the classification scores.
    pub labels: Option<&'a [usize]>,
    /// The model's class call at each bar's close.
    pub predictions: Option<&'a [usize]>,
    /// Row-major [n, 3] class probabilities.
    pub probabilities: Option<&'a [f64]>,
    /// Per-bar confidence and the threshold for the filtered scores and the calibration plot.
    pub confidence: Option<ConfidenceFilter<'a>>,
    /// (true, predicted) next-horizon returns for the regression scores.
    pub regression: Option<(&'a [f64], &'a [f64])>,
    /// Training-split labels, for the majority-class baseline.
    pub train_labels: Option<&'a [usize]>,
    /// Boosted-trees class calls on the same bars, for that baseline.
    pub boosted_trees: Option<&'a [usize]>,
    /// Funding rate paid per unit of position held over each bar (`data::funding_per_bar`); `None` charges no
    /// funding. The model and every baseline pay it alike.
    pub funding: Option<&'a [f64]>,
    /// An ensemble's members by name, each with its own class calls on the same bars: scored like the model
    /// (same costs and trial count) and drawn beside it in `report.html`. Empty for a single network.
    pub members: Vec<(&'a str, &'a [usize])>,
    pub trading: TradingConfig,
}

impl<'a> EvalInputs<'a> {
    /// Only the bars and costs; set the optional fields that apply.
    pub fn new(timestamps: &'a [i64], asset_returns: &'a [f64], trading: TradingConfig) -> Self {
        EvalInputs {
            timestamps,
            asset_returns,
            signals: None,
            labels: None,
            predictions: None,
            probabilities: None,
            confidence: None,
            regression: None,
            train_labels: None,
            boosted_trees: None,
            funding: None,
            members: Vec::new(),
            trading,
        }
    }
}

/// One reliability-diagram bin: bars whose confidence falls in `[lo, hi)` (the last bin includes 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

/// Everything `write_report` needs.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub report: Report,
    pub timestamps: Vec<i64>,
    pub model: Backtest,
    pub baselines: BTreeMap<String, Backtest>,
    /// The ensemble's members' own backtests, in member order (empty for a single network).
    pub members: Vec<(String, Backtest)>,
    pub classification: Option<ClassificationMetrics>,
    pub regression: Option<RegressionMetrics>,
    /// Empty bins are left out.
    pub calibration: Vec<CalibrationBin>,
}

fn check_len<T>(what: &str, v: Option<&[T]>, n: usize) -> Result<()> {
    match v {
        Some(v) if v.len() != n => Err(Error::shape(format!("{what} (one per bar)"), [n], [v.len()])),
        _ => Ok(()),
    }
}

fn coverage(signals: &[f64]) -> f64 {
    signals.iter().filter(|&&s| s != 0.0).count() as f64 / signals.len() as f64
}

pub fn evaluate(inputs: &EvalInputs<'_>) -> Result<Evaluation> {
    let n = inputs.asset_returns.len();
    if n == 0 {
        return Err(Error::Invalid("evaluation needs at least one test bar, got none".into()));
    }
    check_len("timestamps", Some(inputs.timestamps), n)?;
    check_len("signals", inputs.signals, n)?;
    check_len("labels", inputs.labels, n)?;
    check_len("predictions", inputs.predictions, n)?;
    if let Some(l) = inputs.labels {
        check_classes("labels", l)?;
    }
    if let Some(p) = inputs.predictions {
        check_classes("predictions", p)?;
    }
    let signals: Vec<f64> = match (inputs.signals, inputs.predictions) {
        (Some(s), _) => s.to_vec(),
        (None, Some(p)) => p.iter().map(|&c| class_to_position(c)).collect::<Result<_>>()?,
        (None, None) => return Err(Error::Invalid("evaluation needs the model's signals or predictions".into())),
    };
    let model_bt = backtest_funded(
        &HeldPositions::from_signals(&signals)?,
        inputs.asset_returns,
        inputs.funding,
        &inputs.trading,
    )?;

    let classification = match (inputs.labels, inputs.predictions) {
        (Some(l), Some(p)) => Some(classification_metrics(l, p, inputs.probabilities, inputs.confidence)?),
        _ => None,
    };
    let regression = match inputs.regression {
        Some((t, p)) => {
            check_len("regression targets", Some(t), n)?;
            Some(regression_metrics(t, p)?)
        }
        None => None,
    };
    let mut class_summary = classification.as_ref().map(ClassSummary::from_metrics).unwrap_or_default();
    if class_summary.coverage.is_none() {
        class_summary.coverage = Some(match inputs.predictions {
            Some(p) => p.iter().filter(|&&c| c != super::classification::HOLD).count() as f64 / n as f64,
            None => coverage(&signals),
        });
    }
    let model = Metrics {
        trading: model_bt.metrics.clone(),
        classification: class_summary,
        regression: regression.as_ref().map(RegressionSummary::from_metrics).unwrap_or_default(),
    };

    let mut baseline_metrics = BTreeMap::new();
    let mut baseline_bts = BTreeMap::new();
    for b in standard_baselines(inputs.asset_returns, inputs.train_labels, inputs.boosted_trees)? {
        // A baseline is a fixed rule, not a candidate picked among others: its deflated Sharpe uses one trial.
        let (m, bt) = score_baseline(&b, inputs, 1)?;
        baseline_metrics.insert(b.name.clone(), m);
        baseline_bts.insert(b.name, bt);
    }
    let mut member_metrics = BTreeMap::new();
    let mut member_bts = Vec::with_capacity(inputs.members.len());
    for &(name, calls) in &inputs.members {
        check_len(&format!("member {name}'s calls"), Some(calls), n)?;
        // A member was trained in the same search as the ensemble: the same trial count deflates its Sharpe.
        let (m, bt) =
            score_baseline(&Baseline::from_predictions(name, calls.to_vec())?, inputs, inputs.trading.n_trials)?;
        if member_metrics.insert(name.to_string(), m).is_some() {
            return Err(Error::Invalid(format!("two ensemble members are named `{name}`")));
        }
        member_bts.push((name.to_string(), bt));
    }
    let calibration = match (inputs.labels, inputs.predictions, inputs.confidence) {
        (Some(l), Some(p), Some(c)) => calibration_bins(l, p, c.confidence, 10),
        _ => Vec::new(),
    };
    Ok(Evaluation {
        report: Report { model, baselines: baseline_metrics, members: member_metrics },
        timestamps: inputs.timestamps.to_vec(),
        model: model_bt,
        baselines: baseline_bts,
        members: member_bts,
        classification,
        regression,
        calibration,
    })
}

/// Fixed class calls (a baseline's or a member's) scored on the inputs' bars, deflated over `n_trials`.
fn score_baseline(b: &Baseline, inputs: &EvalInputs<'_>, n_trials: usize) -> Result<(Metrics, Backtest)> {
    let trading = TradingConfig { n_trials, ..inputs.trading.clone() };
    let bt = backtest_funded(&b.held_positions()?, inputs.asset_returns, inputs.funding, &trading)?;
    let mut classification = match inputs.labels {
        Some(l) => ClassSummary::from_metrics(&classification_metrics(l, &b.predictions, None, None)?),
        None => ClassSummary::default(),
    };
    classification.coverage = Some(coverage(&b.signals()));
    let m = Metrics { trading: bt.metrics.clone(), classification, regression: RegressionSummary::default() };
    Ok((m, bt))
}

/// Equal-width confidence bins on [0, 1] with the accuracy of the calls in each: a calibrated model's
/// points lie on the diagonal.
pub fn calibration_bins(
    labels: &[usize],
    predictions: &[usize],
    confidence: &[f64],
    n_bins: usize,
) -> Vec<CalibrationBin> {
    let n_bins = n_bins.max(1);
    let mut sum_conf = vec![0.0; n_bins];
    let mut hits = vec![0usize; n_bins];
    let mut counts = vec![0usize; n_bins];
    for ((&l, &p), &c) in labels.iter().zip(predictions).zip(confidence) {
        if !c.is_finite() {
            continue;
        }
        let b = ((c.clamp(0.0, 1.0) * n_bins as f64) as usize).min(n_bins - 1);
        sum_conf[b] += c;
        counts[b] += 1;
        hits[b] += usize::from(l == p);
    }
    (0..n_bins)
        .filter(|&b| counts[b] > 0)
        .map(|b| CalibrationBin {
            lo: b as f64 / n_bins as f64,
            hi: (b + 1) as f64 / n_bins as f64,
            count: counts[b],
            mean_confidence: sum_conf[b] / counts[b] as f64,
            accuracy: hits[b] as f64 / counts[b] as f64,
        })
        .collect()
}
