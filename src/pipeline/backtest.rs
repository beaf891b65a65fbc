//! The backtest driver: a trained predictor's calls on the test samples only (out of sample), turned into
//! positions (up +1, down −1, hold 0, decided at the bar's close and held over the next bar) and scored with
//! `eval::evaluate` beside every baseline on the same bars.
//!
//! Walk-forward (`--walk-forward`): the test samples are cut into blocks of `every` samples; before each block
//! every model is refitted on the samples that end at least `horizon` samples before the block (an expanding
//! window), and predicts that block only:
//! - the boosted trees (the ensemble member, and the `boosted_trees` baseline) from scratch, with as many rounds as
//!   the trained model kept;
//! - each network (with `refit`) warm-started from its weights after the previous block, for a few epochs on the
//!   fold's samples (the last 15% of them, after a purge of `horizon`, for early stopping), its scaler and target
//!   scale kept: the online fine-tuning a live system would run. The networks are updated in place.
//!
//! Predictions are stitched from the blocks, so each test call comes from models fitted strictly before it.
//!
//! [`run_backtest`] is the whole of `tickgrad backtest / eval / run` after loading: dataset from the predictor's
//! stored preprocessing, test calls, and the evaluation at the given [`Costs`].

use super::bundle::{BacktestPredictor, NetMember};
use super::dataset::Dataset;
use super::ensemble::combine;
use super::member::refit_member_where;
use super::predict::{predict_gbdt, predict_model, MemberPredictions};
use super::regime::{route, row_regimes};
use super::tabular;
use super::trials::TrialCount;
use crate::data::{funding_per_bar, walk_forward, Bars, Fold, SplitFractions, TrainWindow, WalkForward, FUNDING_RATE};
use crate::device::Device;
use crate::eval::{
    evaluate, horizon_table, ConfidenceFilter, EvalInputs, Evaluation, HorizonInputs, HorizonTable, TradingConfig,
};
use crate::models::gbdt::{Gbdt, GbdtConfig};
use crate::train::TrainConfig;
use crate::{Error, Result};
use std::ops::Range;

/// A predictor's calls on the test samples.
#[derive(Debug, Clone)]
pub struct TestCalls {
    pub samples: Range<usize>,
    pub classes: Vec<usize>,
    pub probs: Vec<[f64; 3]>,
    /// The predictor's confidence per call (ensemble: the fused op's; a network: its top probability).
    pub confidence: Vec<f64>,
    /// The ensemble's confidence threshold (for the confidence-filtered scores); none for a single network.
    pub threshold: Option<f64>,
    /// Next-horizon log-return forecasts, for a network that makes them.
    pub regression: Option<Vec<f64>>,
    /// The boosted-trees calls on the same samples (the `boosted_trees` baseline); empty when there were no
    /// earlier samples to fit them on.
    pub gbdt_classes: Vec<usize>,
    /// Walk-forward folds on the sample axis (empty without walk-forward).
    pub folds: Vec<Fold>,
    /// Ensemble only: each member's own accuracy on the test samples and its weight at the last test bar.
    pub members: Vec<MemberSummary>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberSummary {
    pub name: String,
    pub test_accuracy: f64,
    pub final_weight: f64,
    /// The member's own class calls on the test samples (scored beside the ensemble in the report).
    pub classes: Vec<usize>,
}

/// How `test_calls` walks forward (a retraining recipe): blocks of `every` test samples; networks refitted before
/// each block with `refit` (None: only the boosted trees are refitted).
#[derive(Debug, Clone)]
pub struct WalkForwardRecipe {
    pub every: usize,
    pub refit: Option<TrainConfig>,
}

/// Default most epochs of each network's warm-start refit per walk-forward block.
pub const REFIT_EPOCHS: usize = 2;
/// Default learning rate of the walk-forward refits (a warm start should move the weights, not replace them).
pub const REFIT_LR: f32 = 1e-4;

impl WalkForwardRecipe {
    /// Blocks of `every` test samples; each network refitted before a block for at most `refit_epochs` epochs
    /// (early stopping, patience 1) at `refit_lr` on `device`, or not at all with `refit_epochs` 0.
    pub fn new(every: usize, refit_epochs: usize, refit_lr: f32, device: Device) -> Result<WalkForwardRecipe> {
        if every == 0 {
            return Err(Error::config("retrain-every", "expected a block of at least 1 bar, found 0"));
        }
        let refit = if refit_epochs == 0 {
            None
        } else {
            let tc = TrainConfig { epochs: refit_epochs, lr: refit_lr, patience: 1, device, ..TrainConfig::default() };
            tc.validate()?;
            Some(tc)
        };
        Ok(WalkForwardRecipe { every, refit })
    }
}

/// Trading costs per side, in basis points: what the backtest charges and, as a round trip, the hold band θ of
/// the direction labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    /// Exchange fee per side.
    pub fee_bps: f64,
    /// Half the bid-ask spread per side.
    pub half_spread_bps: f64,
}

impl Costs {
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [("fee-bps", self.fee_bps), ("half-spread-bps", self.half_spread_bps)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(field, format!("expected a finite cost >= 0 bps, found {v}")));
            }
        }
        Ok(())
    }

    /// θ = the round-trip cost in log-return units, ln(1 + 2·(fee + half-spread)/1e4): a smaller move cannot pay
    /// for the trade.
    pub fn round_trip_theta(&self) -> Result<f64> {
        self.validate()?;
        Ok((1.0 + 2.0 * (self.fee_bps + self.half_spread_bps) / 1e4).ln())
    }

    /// The evaluation's trading config for the bars of `ds`: these costs, a year of [`periods_per_year`] bars.
    pub fn trading_config(&self, ds: &Dataset) -> Result<TradingConfig> {
        self.validate()?;
        Ok(TradingConfig {
            periods_per_year: periods_per_year(&ds.bars),
            ..TradingConfig::hourly_24_7(self.fee_bps, self.half_spread_bps)
        })
    }
}

/// Which samples a backtest scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ScoreRange {
    /// The test part of the file's chronological split (70/15/15): out of sample on the file the model trained on.
    #[default]
    Test,
    /// Every sample of the file: for a held-out file the checkpoint never saw.
    All,
    /// The samples whose decision bar opens in `[from, to]` (Unix ms UTC; either end open).
    Dates { from: Option<i64>, to: Option<i64> },
}

/// What a backtest scores and what it must account for beyond the predictor itself.
#[derive(Debug, Clone, Default)]
pub struct Scoring {
    pub range: ScoreRange,
    /// Configurations tried outside this run (`--trials`), added to the predictor's own count ([`TrialCount`]).
    pub extra_trials: usize,
    /// Horizons of the horizon table (`eval --horizons`); empty for none.
    pub horizons: Vec<usize>,
}

/// Re-cut `ds.split` so that `test` is the scored range and the samples before it (purged by the horizon) play
/// the parts the split's train and validation play for a backtest: the history the ensemble's rolling weights
/// start from, the majority-class and boosted-trees baselines' training data, and the walk-forward's first fold.
/// Returns whether the scored range starts before this file's own held-out part (then, on the training file, part
/// of it is in sample).
pub fn rescope(ds: &mut Dataset, range: ScoreRange) -> Result<bool> {
    let default_test = ds.split.test.clone();
    let scored = match range {
        ScoreRange::Test => return Ok(false),
        ScoreRange::All => 0..ds.n_samples,
        ScoreRange::Dates { from, to } => samples_between(ds, from, to)?,
    };
    let h = ds.prep.horizon;
    let n_val = ds.split.val.len();
    let history_end = scored.start.saturating_sub(h);
    let val = history_end.saturating_sub(n_val)..history_end;
    let train = 0..val.start.saturating_sub(h);
    ds.split = crate::data::Split { train, val, test: scored.clone() };
    Ok(scored.start < default_test.start)
}

/// The samples whose decision bar (the window's last bar) opens within `[from, to]`, with errors that name the
/// file's own span when the range is empty or outside it.
fn samples_between(ds: &Dataset, from: Option<i64>, to: Option<i64>) -> Result<Range<usize>> {
    let ts = |s: usize| ds.bars.timestamp[ds.row(s)];
    let span = || {
        format!(
            "the file's scorable bars run from {} to {} UTC",
            crate::eval::fmt_utc(ts(0)),
            crate::eval::fmt_utc(ts(ds.n_samples - 1))
        )
    };
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(Error::config(
                "from",
                format!(
                    "expected --from before --to, found {} after {}",
                    crate::eval::fmt_utc(f),
                    crate::eval::fmt_utc(t)
                ),
            ));
        }
    }
    let start = from.map_or(0, |f| (0..ds.n_samples).find(|&s| ts(s) >= f).unwrap_or(ds.n_samples));
    let end = to.map_or(ds.n_samples, |t| (0..ds.n_samples).rev().find(|&s| ts(s) <= t).map_or(0, |s| s + 1));
    if start >= end {
        let f = from.map_or("the start".to_string(), |f| format!("{} UTC", crate::eval::fmt_utc(f)));
        let t = to.map_or("the end".to_string(), |t| format!("{} UTC", crate::eval::fmt_utc(t)));
        return Err(Error::Invalid(format!("no bar to score between {f} and {t}: {}", span())));
    }
    Ok(start..end)
}

/// What a backtest produced, for the commands to print or write.
pub struct BacktestOutcome {
    /// The predictor, in words (`BacktestPredictor::describe`).
    pub description: String,
    pub eval: Evaluation,
    pub test_bars: usize,
    pub first_test_ts: i64,
    pub last_test_ts: i64,
    /// Walk-forward folds (0 without walk-forward).
    pub folds: usize,
    pub members: Vec<MemberSummary>,
    /// The trial count behind the deflated Sharpe ratio.
    pub trials: TrialCount,
    /// Whether funding was charged (the bars had a `funding_rate` column).
    pub funding: bool,
    /// The scored bars start before the file's held-out test part (in sample if the checkpoint trained on it).
    pub before_test_part: bool,
    /// The calls scored at each of `Scoring::horizons` (`eval::horizons`).
    pub horizon_table: Option<HorizonTable>,
}

/// Backtest an already loaded predictor on `bars`: the dataset rebuilt with the predictor's stored preprocessing,
/// its out-of-sample calls on the test samples (walking forward with `walk`, which updates its networks in place
/// when it refits them), scored at `costs` beside every baseline.
pub fn run_backtest(
    pred: &mut BacktestPredictor,
    bars: Bars,
    costs: &Costs,
    walk: Option<&WalkForwardRecipe>,
    scoring: &Scoring,
    device: Device,
) -> Result<BacktestOutcome> {
    let mut ds = Dataset::with_preprocessing(bars, pred.prep().clone(), SplitFractions::default())?;
    let before_test_part = rescope(&mut ds, scoring.range)?;
    let trials = TrialCount::of(pred, scoring.extra_trials);
    let trading = TradingConfig { n_trials: trials.total(), ..costs.trading_config(&ds)? };
    let calls = test_calls(pred, &ds, walk, device)?;
    let eval = evaluate_calls(&ds, &calls, &trading)?;
    let horizon_table = if scoring.horizons.is_empty() {
        None
    } else {
        Some(horizon_scores(&ds, &calls, &trading, &scoring.horizons)?)
    };
    let rows = ds.rows(calls.samples.clone());
    Ok(BacktestOutcome {
        description: pred.describe(),
        eval,
        test_bars: rows.len(),
        first_test_ts: ds.bars.timestamp[rows.start],
        last_test_ts: ds.bars.timestamp[rows.end - 1],
        folds: calls.folds.len(),
        members: calls.members,
        trials,
        funding: ds.bars.column(FUNDING_RATE).is_some(),
        before_test_part,
        horizon_table,
    })
}

/// The horizon table of `calls`: the model's and the boosted trees' calls at every horizon, beside the baselines.
pub fn horizon_scores(
    ds: &Dataset,
    calls: &TestCalls,
    trading: &TradingConfig,
    horizons: &[usize],
) -> Result<HorizonTable> {
    let mut named = vec![("model".to_string(), calls.classes.as_slice())];
    if !calls.gbdt_classes.is_empty() {
        named.push((crate::eval::baselines::BOOSTED_TREES.to_string(), calls.gbdt_classes.as_slice()));
    }
    let funding = funding_per_bar(&ds.bars)?;
    let inputs = HorizonInputs {
        closes: &ds.bars.close,
        rows: ds.rows(calls.samples.clone()),
        calls: named,
        forecast: calls.regression.as_deref(),
        train_rows: ds.rows(ds.split.train.clone()),
        theta: ds.prep.theta,
        trading: trading.clone(),
        funding: funding.as_deref(),
    };
    horizon_table(&inputs, horizons)
}

/// Expanding-window folds whose test blocks of `every` samples tile the dataset's test samples exactly; each
/// fold trains on samples `0 .. block start − horizon`.
pub fn walk_forward_folds(ds: &Dataset, every: usize) -> Result<Vec<Fold>> {
    let h = ds.prep.horizon;
    let test = &ds.split.test;
    if test.start <= h {
        return Err(Error::Invalid(format!(
            "walk-forward needs samples before the scored bars to refit on; the scored range starts at sample {} \
             (the horizon purges {h}): score a later range or drop --walk-forward",
            test.start
        )));
    }
    let cfg = WalkForward { train: TrainWindow::Expanding { min: test.start - h }, test_size: every, purge: h };
    let folds = walk_forward(ds.n_samples, &cfg)?;
    let covered = folds.first().map(|f| f.test.start)..folds.last().map(|f| f.test.end);
    if covered != (Some(test.start)..Some(test.end)) {
        return Err(Error::Invalid(format!(
            "walk-forward folds cover {covered:?}, expected the test samples {test:?}"
        )));
    }
    Ok(folds)
}

/// Boosted-trees probabilities on the test samples: one model fitted on train (early-stopped on validation),
/// or with `folds`, one refit per fold with as many rounds as that model kept, stitched.
fn gbdt_test(ds: &Dataset, base: &Gbdt, folds: &[Fold]) -> Result<MemberPredictions> {
    if folds.is_empty() {
        return predict_gbdt(base, ds, ds.split.test.clone());
    }
    let cfg = GbdtConfig { n_estimators: base.n_rounds().max(1), early_stopping_rounds: None, ..base.config().clone() };
    let mut out = MemberPredictions { probs: Vec::new(), ret: None };
    for f in folds {
        let g = tabular::fit(ds, f.train.clone(), None, &cfg)?;
        out.append(predict_gbdt(&g, ds, f.test.clone())?)?;
    }
    Ok(out)
}

/// A network's predictions on the test samples: as trained, or (with folds and a refit config) block by block,
/// refitting before each block on that fold's training samples whose last bar's row passes `keep`.
fn network_test(
    m: &mut NetMember,
    ds: &Dataset,
    folds: &[Fold],
    refit: Option<&TrainConfig>,
    device: Device,
    keep: &dyn Fn(usize) -> bool,
) -> Result<MemberPredictions> {
    let Some(tc) = refit.filter(|_| !folds.is_empty()) else {
        return predict_model(&m.model, &m.meta, ds, ds.split.test.clone(), device);
    };
    let h = ds.prep.horizon;
    let mut out = MemberPredictions { probs: Vec::new(), ret: None };
    for (i, f) in folds.iter().enumerate() {
        let n_val = (f.train.len() * 15 / 100).max(1);
        if f.train.len() < n_val + h + 1 {
            return Err(Error::Invalid(format!(
                "walk-forward fold {i}: {} training samples are too few to hold out {n_val} for early stopping",
                f.train.len()
            )));
        }
        let (train, val) = (f.train.start..f.train.end - n_val - h, f.train.end - n_val..f.train.end);
        let tc = TrainConfig { seed: tc.seed.wrapping_add(i as u64), ..tc.clone() };
        // A per-regime network whose regime is absent from this fold's training or early-stopping samples keeps
        // its weights for the block (nothing to fit on); every other network is refitted.
        let present = |r: Range<usize>| ds.rows(r).any(keep);
        if present(train.clone()) && present(val.clone()) {
            refit_member_where(ds, m, train, val, &tc, keep)?;
        }
        out.append(predict_model(&m.model, &m.meta, ds, f.test.clone(), device)?)?;
    }
    Ok(out)
}

/// Calls of `pred` on the test samples of `ds`; `walk` turns on walk-forward (which, with `walk.refit`, updates
/// the networks of `pred` in place).
pub fn test_calls(
    pred: &mut BacktestPredictor,
    ds: &Dataset,
    walk: Option<&WalkForwardRecipe>,
    device: Device,
) -> Result<TestCalls> {
    let test = ds.split.test.clone();
    let folds = match walk {
        Some(w) => walk_forward_folds(ds, w.every)?,
        None => Vec::new(),
    };
    let refit = walk.and_then(|w| w.refit.as_ref());
    match pred {
        BacktestPredictor::Single(m) => {
            let p = network_test(m, ds, &folds, refit, device, &|_| true)?;
            single_calls(ds, test, p, folds)
        }
        BacktestPredictor::Ensemble(e) => {
            // Members predict from the first validation sample, so the rolling weights start with a history.
            let covered = ds.split.val.start..test.end;
            let mut preds = Vec::new();
            for m in &mut e.members {
                let mut p = predict_model(&m.model, &m.meta, ds, covered.start..test.start, device)?;
                p.append(network_test(m, ds, &folds, refit, device, &|_| true)?)?;
                preds.push(p);
            }
            let mut trees = predict_gbdt(&e.gbdt, ds, ds.split.val.start..test.start)?;
            let gbdt = gbdt_test(ds, &e.gbdt, &folds)?;
            trees.probs.extend(gbdt.probs.iter().copied());
            preds.push(trees);
            let labels = ds.directions(covered.clone())?;
            let c = combine(&preds, &labels, covered.clone(), test.clone(), &e.manifest.rule(), device)?;
            let skip = test.start - covered.start;
            let names = e.members.iter().map(|m| m.name.as_str()).chain(["gbdt"]);
            let last_weights = c.weights.last().cloned().unwrap_or_default();
            let members = names
                .zip(&preds)
                .enumerate()
                .map(|(m, (name, p))| {
                    let hits = p.classes()[skip..].iter().zip(&labels[skip..]).filter(|(a, b)| a == b).count();
                    MemberSummary {
                        name: name.to_string(),
                        test_accuracy: hits as f64 / test.len() as f64,
                        final_weight: last_weights.get(m).copied().unwrap_or(f64::NAN),
                        classes: p.classes()[skip..].to_vec(),
                    }
                })
                .collect();
            Ok(TestCalls {
                samples: test,
                classes: c.class,
                probs: c.probs,
                confidence: c.confidence,
                threshold: Some(e.manifest.confidence_threshold),
                regression: None,
                gbdt_classes: gbdt.classes(),
                folds,
                members,
            })
        }
        BacktestPredictor::Regimes(r) => {
            // Each network predicts every test sample (refitted, walking forward, on its own regime's samples);
            // each sample then takes the answer of its regime's network.
            let regimes = row_regimes(ds)?;
            let mut preds = Vec::new();
            for (i, m) in r.models.iter_mut().enumerate() {
                let codes: Vec<usize> = (0..3).filter(|&c| r.route[c] == i && i != r.fallback).collect();
                let keep = |row: usize| codes.is_empty() || regimes[row].is_some_and(|c| codes.contains(&c));
                preds.push(network_test(m, ds, &folds, refit, device, &keep)?);
            }
            let choice: Vec<usize> = ds.rows(test.clone()).map(|row| r.model_for(regimes[row])).collect();
            let p = route(&preds, &choice)?;
            single_calls(ds, test, p, folds)
        }
    }
}

/// The calls of one network's predictions `p` on `test` (a single checkpoint, or per-regime networks routed bar by
/// bar), beside the boosted-trees baseline fitted on the training part.
fn single_calls(ds: &Dataset, test: Range<usize>, p: MemberPredictions, folds: Vec<Fold>) -> Result<TestCalls> {
    // Scored from the file's first samples (`--split all`), there is nothing earlier to fit trees on.
    let gbdt_classes = if ds.split.train.is_empty() || ds.split.val.is_empty() {
        Vec::new()
    } else {
        let base = tabular::fit(ds, ds.split.train.clone(), Some(ds.split.val.clone()), &tabular::default_config(0))?;
        gbdt_test(ds, &base, &folds)?.classes()
    };
    Ok(TestCalls {
        samples: test,
        classes: p.classes(),
        confidence: p.probs.iter().map(|q| q.iter().copied().fold(0.0, f64::max)).collect(),
        probs: p.probs,
        threshold: None,
        regression: p.ret,
        gbdt_classes,
        folds,
        members: Vec::new(),
    })
}

/// Bars per year from the median spacing of the timestamps: 252 for daily (or longer) bars, which trade on
/// exchange days, otherwise a 24/7 year (8760 for hourly bars).
pub fn periods_per_year(bars: &Bars) -> f64 {
    let mut gaps: Vec<i64> = bars.timestamp.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.is_empty() {
        return 252.0;
    }
    gaps.sort_unstable();
    let median = gaps[gaps.len() / 2] as f64;
    const DAY_MS: f64 = 86_400_000.0;
    if median >= DAY_MS {
        252.0
    } else {
        (365.0 * DAY_MS / median).round()
    }
}

/// Score the calls on the test bars with every baseline.
pub fn evaluate_calls(ds: &Dataset, calls: &TestCalls, trading: &TradingConfig) -> Result<Evaluation> {
    let samples = calls.samples.clone();
    let rows = ds.rows(samples.clone());
    if rows.start == 0 {
        return Err(Error::Invalid("the first test bar has no previous close to take its return from".into()));
    }
    let close = &ds.bars.close;
    let asset_returns: Vec<f64> = rows.clone().map(|r| close[r] / close[r - 1] - 1.0).collect();
    let timestamps: Vec<i64> = rows.map(|r| ds.bars.timestamp[r]).collect();
    let labels = ds.directions(samples.clone())?;
    let train_labels = ds.directions(ds.split.train.clone())?;
    let funding = funding_per_bar(&ds.bars)?.map(|f| f[ds.rows(samples.clone())].to_vec());
    let probs: Vec<f64> = calls.probs.iter().flatten().copied().collect();
    let realised = ds.returns(samples);
    let mut inputs = EvalInputs::new(&timestamps, &asset_returns, trading.clone());
    inputs.labels = Some(&labels);
    inputs.predictions = Some(&calls.classes);
    inputs.probabilities = Some(&probs);
    inputs.confidence = calls.threshold.map(|t| ConfidenceFilter { confidence: &calls.confidence, threshold: t });
    inputs.regression = calls.regression.as_deref().map(|p| (realised.as_slice(), p));
    inputs.train_labels = (!train_labels.is_empty()).then_some(train_labels.as_slice());
    inputs.boosted_trees = (!calls.gbdt_classes.is_empty()).then_some(calls.gbdt_classes.as_slice());
    inputs.funding = funding.as_deref();
    inputs.members = calls.members.iter().map(|m| (m.name.as_str(), m.classes.as_slice())).collect();
    evaluate(&inputs)
}
