//! Chronological splits of `n` samples (rows that have a label), never shuffled.
//!
//! A label at row `i` reads rows `i ..= i + h`, so a training row within `h` rows of a later set would carry
//! information from that set into training. Every split here leaves a purge gap of `h` rows: for train row `i`
//! and any evaluation row `j`, `i + h < j`. Purged k-fold also drops training rows right after the test block
//! whose features overlap the test labels, plus an embargo.
//!
//! All ranges are half-open row ranges `start..end`.

use crate::{Error, Result};
use std::ops::Range;

/// Shares of the usable rows (after removing the purge gaps) given to each set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitFractions {
    pub train: f64,
    pub val: f64,
    pub test: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        SplitFractions { train: 0.70, val: 0.15, test: 0.15 }
    }
}

/// Train, validation and test rows in time order, separated by the purge gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Range<usize>,
    pub val: Range<usize>,
    pub test: Range<usize>,
}

/// Split `n` rows into train / val / test by `fractions` (which must sum to 1), with `purge` rows (the label
/// horizon) dropped between train and val and between val and test. Test takes whatever rounding leaves.
pub fn chronological_split(n: usize, fractions: SplitFractions, purge: usize) -> Result<Split> {
    let SplitFractions { train, val, test } = fractions;
    for (field, f) in [("train fraction", train), ("val fraction", val), ("test fraction", test)] {
        if !(f > 0.0 && f < 1.0) {
            return Err(Error::config(field, format!("expected a value in (0, 1), found {f}")));
        }
    }
    if ((train + val + test) - 1.0).abs() > 1e-9 {
        return Err(Error::config(
            "split fractions",
            format!("expected fractions summing to 1, found {}", train + val + test),
        ));
    }
    let usable = n.saturating_sub(2 * purge);
    let train_len = (usable as f64 * train).floor() as usize;
    let val_len = (usable as f64 * val).floor() as usize;
    let test_len = usable.saturating_sub(train_len + val_len);
    if train_len == 0 || val_len == 0 || test_len == 0 {
        return Err(Error::Invalid(format!(
            "chronological_split: {n} rows minus 2 purge gaps of {purge} leave {usable}, too few for non-empty \
             train/val/test sets ({train_len}/{val_len}/{test_len})"
        )));
    }
    let val_start = train_len + purge;
    let test_start = val_start + val_len + purge;
    Ok(Split { train: 0..train_len, val: val_start..val_start + val_len, test: test_start..n })
}

/// How the training window of a walk-forward fold grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainWindow {
    /// From row 0 to the fold's test block; the first fold has `min` training rows.
    Expanding { min: usize },
    /// The last `size` rows before the fold's test block.
    Rolling { size: usize },
}

/// Walk-forward schedule: retrain every `test_size` rows and predict the next `test_size` rows with that model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkForward {
    pub train: TrainWindow,
    pub test_size: usize,
    pub purge: usize,
}

/// One fit-then-predict step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    pub train: Range<usize>,
    pub test: Range<usize>,
}

/// The folds of a walk-forward run over `n` rows. Test blocks are consecutive and disjoint, and together cover
/// [`out_of_sample_range`] exactly (the last block may be shorter), so predictions stitched from them form one
/// out-of-sample series.
pub fn walk_forward(n: usize, cfg: &WalkForward) -> Result<Vec<Fold>> {
    if cfg.test_size == 0 {
        return Err(Error::config("test_size", "expected a test block of >= 1 row, found 0"));
    }
    let initial = match cfg.train {
        TrainWindow::Expanding { min } => min,
        TrainWindow::Rolling { size } => size,
    };
    if initial == 0 {
        return Err(Error::config("train window", "expected >= 1 training row, found 0"));
    }
    let first_test = initial + cfg.purge;
    if first_test >= n {
        return Err(Error::Invalid(format!(
            "walk_forward: {n} rows leave no test rows after {initial} training rows and a purge gap of {}",
            cfg.purge
        )));
    }
    let folds = (first_test..n)
        .step_by(cfg.test_size)
        .map(|start| {
            let train_end = start - cfg.purge;
            let train_start = match cfg.train {
                TrainWindow::Expanding { .. } => 0,
                TrainWindow::Rolling { size } => train_end - size,
            };
            Fold { train: train_start..train_end, test: start..(start + cfg.test_size).min(n) }
        })
        .collect();
    Ok(folds)
}

/// The rows whose predictions come out of sample, i.e. the union of the folds' test blocks.
pub fn out_of_sample_range(folds: &[Fold]) -> Option<Range<usize>> {
    Some(folds.first()?.test.start..folds.last()?.test.end)
}

/// How many rows after each test block to keep out of training, on top of the purge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Embargo {
    /// A share of all rows, rounded up (López de Prado suggests about 0.01).
    Fraction(f64),
    Bars(usize),
}

/// One purged k-fold split: training rows on both sides of the test block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedFold {
    pub train: Vec<Range<usize>>,
    pub test: Range<usize>,
}

/// Purged k-fold with embargo (López de Prado, *Advances in Financial Machine Learning*, ch. 7), for
/// hyper-parameter search. The `k` test blocks are contiguous and cover all rows. For test block `[s, e)`, training
/// keeps rows `< s − h` (their labels end before the block) and rows `>= e + h + embargo` (rows in `[e, e + h)`
/// overlap the test labels in time; the embargo adds a margin for serial correlation).
pub fn purged_kfold(n: usize, k: usize, horizon: usize, embargo: Embargo) -> Result<Vec<PurgedFold>> {
    if k < 2 || k > n {
        return Err(Error::config("k", format!("expected 2 <= k <= {n} rows, found {k}")));
    }
    let extra = match embargo {
        Embargo::Bars(b) => b,
        Embargo::Fraction(f) if (0.0..1.0).contains(&f) => (f * n as f64).ceil() as usize,
        Embargo::Fraction(f) => {
            return Err(Error::config("embargo", format!("expected a fraction in [0, 1), found {f}")))
        }
    };
    (0..k)
        .map(|i| {
            let test = i * n / k..(i + 1) * n / k;
            let left = 0..test.start.saturating_sub(horizon);
            let right = (test.end + horizon + extra).min(n)..n;
            let train: Vec<Range<usize>> = [left, right].into_iter().filter(|r| !r.is_empty()).collect();
            if train.is_empty() {
                return Err(Error::Invalid(format!(
                    "purged_kfold: fold {i} (test {}..{}) has no training rows left after purging {horizon} and an embargo of {extra}",
                    test.start, test.end
                )));
            }
            Ok(PurgedFold { train, test })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_split_purges_between_sets() {
        let s = chronological_split(1000, SplitFractions::default(), 10).unwrap();
        assert_eq!(s.train, 0..686);
        assert_eq!(s.val, 696..843);
        assert_eq!(s.test, 853..1000);
        assert!(chronological_split(20, SplitFractions::default(), 10).is_err());
        let bad = SplitFractions { train: 0.8, val: 0.15, test: 0.15 };
        assert!(chronological_split(1000, bad, 0).is_err());
    }

    #[test]
    fn rolling_folds_keep_their_size() {
        let cfg = WalkForward { train: TrainWindow::Rolling { size: 50 }, test_size: 20, purge: 5 };
        let folds = walk_forward(200, &cfg).unwrap();
        assert!(folds.iter().all(|f| f.train.len() == 50 && f.train.end + 5 == f.test.start));
        assert_eq!(out_of_sample_range(&folds), Some(55..200));
        assert_eq!(folds.last().unwrap().test, 195..200);
    }
}
