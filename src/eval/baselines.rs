//! The strategies a model has to beat on the same bars. Each baseline is a class call per bar, decided at
//! that bar's close from what is known then, exactly like a model's prediction, so it goes through the same
//! [`HeldPositions::from_signals`] shift, the same costs and the same metrics. That shift makes every
//! strategy, buy-and-hold included, flat on the first test bar; the comparison stays like for like.

use super::classification::{check_classes, class_to_position, DOWN, HOLD, N_CLASSES, UP};
use super::trading::HeldPositions;
use crate::{Error, Result};

pub const BUY_AND_HOLD: &str = "buy_and_hold";
pub const ALWAYS_FLAT: &str = "always_flat";
pub const MAJORITY_CLASS: &str = "majority_class";
pub const PERSISTENCE: &str = "persistence";
pub const BOOSTED_TREES: &str = "boosted_trees";

#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub name: String,
    /// Class decided at the close of each bar (0 up, 1 down, 2 hold).
    pub predictions: Vec<usize>,
}

impl Baseline {
    /// Any per-bar class calls under a name: the hook for models trained outside this module.
    pub fn from_predictions(name: impl Into<String>, predictions: Vec<usize>) -> Result<Self> {
        let name = name.into();
        if name.is_empty() {
            return Err(Error::Invalid("a baseline needs a non-empty name".into()));
        }
        check_classes(&format!("{name} predictions"), &predictions)?;
        Ok(Baseline { name, predictions })
    }

    /// Position decided at each bar's close: up → +1, down → −1, hold → 0.
    pub fn signals(&self) -> Vec<f64> {
        self.predictions.iter().map(|&c| class_to_position(c).unwrap_or(0.0)).collect()
    }

    pub fn held_positions(&self) -> Result<HeldPositions> {
        HeldPositions::from_signals(&self.signals())
    }
}

fn constant(name: &str, class: usize, n_bars: usize) -> Baseline {
    Baseline { name: name.into(), predictions: vec![class; n_bars] }
}

/// Always long.
pub fn buy_and_hold(n_bars: usize) -> Baseline {
    constant(BUY_AND_HOLD, UP, n_bars)
}

/// Never in the market: zero return, zero cost, the floor any strategy must clear.
pub fn always_flat(n_bars: usize) -> Baseline {
    constant(ALWAYS_FLAT, HOLD, n_bars)
}

/// The most frequent class of the *training* labels, constant over the test bars; ties go to the earlier
/// class in up, down, hold order. Using test labels here would leak the test set's class balance.
pub fn majority_class(train_labels: &[usize], n_bars: usize) -> Result<Baseline> {
    if train_labels.is_empty() {
        return Err(Error::Invalid("majority_class needs training labels, got none".into()));
    }
    check_classes("train_labels", train_labels)?;
    let mut counts = [0usize; N_CLASSES];
    for &c in train_labels {
        counts[c] += 1;
    }
    let best = (0..N_CLASSES).fold(0, |b, k| if counts[k] > counts[b] { k } else { b });
    Ok(constant(MAJORITY_CLASS, best, n_bars))
}

/// Calls the direction of the bar that just closed: up after a rising bar, down after a falling one, hold
/// after an unchanged one. `asset_returns[t]` is bar `t`'s own return, known at its close.
pub fn persistence(asset_returns: &[f64]) -> Result<Baseline> {
    if let Some(i) = asset_returns.iter().position(|r| !r.is_finite()) {
        return Err(Error::Invalid(format!("asset_returns[{i}] = {} is not finite", asset_returns[i])));
    }
    let predictions = asset_returns
        .iter()
        .map(|&r| {
            if r > 0.0 {
                UP
            } else if r < 0.0 {
                DOWN
            } else {
                HOLD
            }
        })
        .collect();
    Ok(Baseline { name: PERSISTENCE.into(), predictions })
}

/// The boosted-trees baseline on the same features; its per-bar class calls come from the caller
/// (e.g. [`crate::models::gbdt::Gbdt::predict_classes`]).
pub fn boosted_trees(predictions: Vec<usize>) -> Result<Baseline> {
    Baseline::from_predictions(BOOSTED_TREES, predictions)
}

/// Every baseline docs/DATA.md asks for over `asset_returns.len()` bars; majority class and boosted trees only
/// when their inputs are given.
pub fn standard_baselines(
    asset_returns: &[f64],
    train_labels: Option<&[usize]>,
    boosted_trees_predictions: Option<&[usize]>,
) -> Result<Vec<Baseline>> {
    let n = asset_returns.len();
    let mut out = vec![buy_and_hold(n), always_flat(n), persistence(asset_returns)?];
    if let Some(t) = train_labels {
        out.push(majority_class(t, n)?);
    }
    if let Some(p) = boosted_trees_predictions {
        if p.len() != n {
            return Err(Error::shape("boosted-trees predictions (one per bar)", [n], [p.len()]));
        }
        out.push(boosted_trees(p.to_vec())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_baselines_positions() {
        assert_eq!(buy_and_hold(3).held_positions().unwrap().as_slice(), &[0.0, 1.0, 1.0]);
        assert_eq!(always_flat(2).signals(), vec![0.0, 0.0]);
        let m = majority_class(&[2, 1, 1, 0, 2, 1], 2).unwrap();
        assert_eq!(m.predictions, vec![DOWN, DOWN]);
        assert_eq!(m.signals(), vec![-1.0, -1.0]);
        assert_eq!(majority_class(&[0, 2, 2, 0], 1).unwrap().predictions, vec![UP]);
        let p = persistence(&[0.01, -0.02, 0.0]).unwrap();
        assert_eq!(p.predictions, vec![UP, DOWN, HOLD]);
        assert_eq!(p.held_positions().unwrap().as_slice(), &[0.0, 1.0, -1.0]);
        let all = standard_baselines(&[0.1, 0.2], Some(&[0]), Some(&[1, 2])).unwrap();
        let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, [BUY_AND_HOLD, ALWAYS_FLAT, PERSISTENCE, MAJORITY_CLASS, BOOSTED_TREES]);
    }

    #[test]
    fn eval_baselines_errors() {
        assert!(majority_class(&[], 3).is_err());
        assert!(majority_class(&[5], 3).is_err());
        assert!(persistence(&[f64::NAN]).is_err());
        assert!(boosted_trees(vec![0, 3]).is_err());
        assert!(Baseline::from_predictions("", vec![0]).is_err());
        assert!(standard_baselines(&[0.1, 0.2], None, Some(&[1])).is_err());
    }
}
