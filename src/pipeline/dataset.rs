//! From validated bars to what a model trains on: the feature frame, the model-input subset scaled into one
//! `[n, F]` matrix, the labels, and the chronological split of the windows.
//!
//! The sample axis: sample `s` is the window whose last bar is row `first_end + s`. Sample 0 is the first row
//! at which a window of `window` bars holds only warmed-up features; the last sample is the last row whose label
//! exists (`row + horizon < n`). The split is cut on this axis with a purge of `horizon` samples between sets,
//! and since samples are consecutive rows, the purge is also `horizon` rows: the label of the last training
//! window ends before the first validation window's bar (and likewise validation → test).
//!
//! Everything fitted (the regime's volatility threshold, then the scaler) is fitted on the training rows only:
//! rows `first_valid ..= last training window end`. Those fitted pieces form [`Preprocessing`], which travels
//! with the model so backtests and inference transform new bars exactly as training did.

use crate::data::{
    apply_regime, chronological_split, compute_features, fit_regime_thresholds, make_labels, model_feature_names,
    valid_ends, Bars, FeatureConfig, FeatureFrame, Labels, RegimeThresholds, Scaler, ScalerKind, Split, SplitFractions,
    WindowSampler,
};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Quantile of the training rows' volatility ratio above which a bar counts as volatile.
pub const REGIME_QUANTILE: f64 = 0.8;
/// Kaufman's "trending" efficiency ratio.
pub const REGIME_EFFICIENCY: f64 = 0.3;

/// The shape of a dataset before anything is fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSpec {
    /// Bars per window; for an ensemble, the longest member window (every member then sees the same samples).
    pub window: usize,
    /// Label horizon h in bars, also the purge between sets.
    pub horizon: usize,
    /// Hold band θ of the direction label, in log-return units.
    pub theta: f64,
    pub fractions: SplitFractions,
}

/// The fitted transform from bars to model inputs, stored with every model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Model-input columns, in matrix order (the scaler's names).
    pub features: Vec<String>,
    pub scaler: Scaler,
    pub regime: RegimeThresholds,
    pub window: usize,
    pub horizon: usize,
    pub theta: f64,
}

pub struct Dataset {
    pub bars: Bars,
    /// Every feature column, with the regime recomputed from the fitted thresholds.
    pub frame: FeatureFrame,
    pub prep: Preprocessing,
    /// Row-major `[n, F]` scaled model inputs; missing values are 0 (the training centre).
    pub matrix: Vec<f32>,
    pub labels: Labels,
    /// Row of sample 0's last bar.
    pub first_end: usize,
    pub n_samples: usize,
    /// Train / validation / test samples.
    pub split: Split,
    /// Rows the regime threshold and the scaler were fitted on (for a dataset built from stored preprocessing:
    /// the rows they would have been fitted on).
    pub fit_rows: Range<usize>,
}

struct Layout {
    first_valid: usize,
    first_end: usize,
    n_samples: usize,
    split: Split,
}

fn layout(frame: &FeatureFrame, names: &[String], window: usize, horizon: usize, f: SplitFractions) -> Result<Layout> {
    if window == 0 {
        return Err(Error::config("window", "expected a window of at least 1 bar, found 0"));
    }
    let n = frame.len();
    let first_valid = frame.first_valid_row(names)?.ok_or_else(|| {
        Error::Invalid(format!("no row of the {n} bars has every model feature warmed up; the file is too short"))
    })?;
    let ends = valid_ends(n, window, first_valid, horizon);
    if ends.is_empty() {
        return Err(Error::Invalid(format!(
            "{n} bars leave no window: features warm up at row {first_valid}, a window needs {window} bars and \
             the label {horizon} more"
        )));
    }
    let split = chronological_split(ends.len(), f, horizon).map_err(|e| {
        Error::Invalid(format!("{n} bars give {} windows of {window} bars, too few to split: {e}", ends.len()))
    })?;
    Ok(Layout { first_valid, first_end: ends.start, n_samples: ends.len(), split })
}

impl Dataset {
    /// Compute features and labels, cut the samples, and fit the regime threshold and the scaler on the
    /// training rows.
    pub fn fit(bars: Bars, spec: &DatasetSpec) -> Result<Dataset> {
        let mut frame = compute_features(&bars, &FeatureConfig::default())?;
        let names = model_feature_names(&frame);
        let lay = layout(&frame, &names, spec.window, spec.horizon, spec.fractions)?;
        let fit_rows = lay.first_valid..lay.first_end + lay.split.train.end;
        let regime = fit_regime_thresholds(&frame, fit_rows.clone(), REGIME_QUANTILE, REGIME_EFFICIENCY)?;
        apply_regime(&mut frame, &regime)?;
        let scaler = Scaler::fit(&frame, &names, fit_rows.clone(), ScalerKind::ZScore)?;
        let prep = Preprocessing {
            features: names,
            scaler,
            regime,
            window: spec.window,
            horizon: spec.horizon,
            theta: spec.theta,
        };
        Self::assemble(bars, frame, prep, lay, fit_rows)
    }

    /// Apply stored preprocessing to (possibly new) bars: same features, regime rule, scaler, window, horizon
    /// and θ; nothing is refitted. On the training file this reproduces the training split exactly.
    pub fn with_preprocessing(bars: Bars, prep: Preprocessing, fractions: SplitFractions) -> Result<Dataset> {
        if prep.features != prep.scaler.names {
            return Err(Error::Invalid("stored preprocessing: the feature list and the scaler's names differ".into()));
        }
        let mut frame = compute_features(&bars, &FeatureConfig::default())?;
        if let Some(missing) = prep.features.iter().find(|n| frame.column(n).is_none()) {
            return Err(Error::Invalid(format!(
                "the model was trained on feature `{missing}`, which these bars cannot provide (a column missing \
                 from the CSV?)"
            )));
        }
        apply_regime(&mut frame, &prep.regime)?;
        let lay = layout(&frame, &prep.features, prep.window, prep.horizon, fractions)?;
        let fit_rows = lay.first_valid..lay.first_end + lay.split.train.end;
        Self::assemble(bars, frame, prep, lay, fit_rows)
    }

    fn assemble(
        bars: Bars,
        frame: FeatureFrame,
        prep: Preprocessing,
        lay: Layout,
        fit_rows: Range<usize>,
    ) -> Result<Self> {
        let labels = make_labels(&bars, prep.horizon, prep.theta)?;
        let matrix = prep.scaler.transform_fill0(&frame)?;
        Ok(Dataset {
            bars,
            frame,
            prep,
            matrix,
            labels,
            first_end: lay.first_end,
            n_samples: lay.n_samples,
            split: lay.split,
            fit_rows,
        })
    }

    pub fn n_features(&self) -> usize {
        self.prep.features.len()
    }

    /// Row of sample `s`'s last bar.
    pub fn row(&self, s: usize) -> usize {
        self.first_end + s
    }

    pub fn rows(&self, samples: Range<usize>) -> Range<usize> {
        self.row(samples.start)..self.row(samples.end)
    }

    /// Window-end rows of samples `samples`.
    pub fn ends(&self, samples: Range<usize>) -> Vec<usize> {
        self.rows(samples).collect()
    }

    /// Windows of `window` bars (at most the dataset's window, so every sample has one).
    pub fn sampler(&self, window: usize) -> Result<WindowSampler<'_>> {
        if window > self.prep.window {
            return Err(Error::Invalid(format!(
                "a window of {window} bars is longer than the dataset's {} (samples start where {} bars are warm)",
                self.prep.window, self.prep.window
            )));
        }
        WindowSampler::new(&self.matrix, self.n_features(), window)
    }

    /// Direction class (0 up, 1 down, 2 hold) of sample `s`; every sample has a label by construction.
    pub fn direction(&self, s: usize) -> Result<usize> {
        let row = self.row(s);
        self.labels
            .direction
            .get(row)
            .copied()
            .flatten()
            .map(usize::from)
            .ok_or_else(|| Error::Invalid(format!("sample {s} (row {row}) has no label: beyond the last labelled row")))
    }

    pub fn directions(&self, samples: Range<usize>) -> Result<Vec<usize>> {
        samples.map(|s| self.direction(s)).collect()
    }

    /// Next-horizon log returns of the samples (the regression target, unscaled).
    pub fn returns(&self, samples: Range<usize>) -> Vec<f64> {
        self.rows(samples).map(|r| self.labels.ret[r]).collect()
    }
}
