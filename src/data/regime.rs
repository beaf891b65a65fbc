//! Market regime, encoded as a number so it can sit in the feature matrix: 0 trending, 1 ranging, 2 volatile.
//!
//! Rule, evaluated per bar on two trailing features:
//! - `volatile` (2) when the volatility ratio `rv_ratio_<short>_<long>` (recent realised volatility over its
//!   longer-run level, see [`super::rolling::vol_ratio`]) is above `volatility`;
//! - otherwise `trending` (0) when Kaufman's efficiency ratio `er_<n>` is at least `efficiency`;
//! - otherwise `ranging` (1).
//!
//! Volatility comes first because a crash is also a straight line. The defaults are usable on any bar size
//! (both inputs are scale-free), but the volatility threshold should be fitted with [`fit_regime_thresholds`] on
//! the training rows only and then applied to every row with [`apply_regime`]; fitting on all rows would leak
//! the test period's volatility into the training features.

use super::features::FeatureFrame;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;

pub const TRENDING: f64 = 0.0;
pub const RANGING: f64 = 1.0;
pub const VOLATILE: f64 = 2.0;

/// The two cut-offs of the regime rule. Serializable so a fitted pair can be stored with a model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegimeThresholds {
    /// Efficiency ratio at or above which a calm bar counts as trending (0..=1).
    pub efficiency: f64,
    /// Volatility ratio above which a bar counts as volatile.
    pub volatility: f64,
}

impl Default for RegimeThresholds {
    /// ER 0.3 is Kaufman's usual "trending" level; a volatility ratio of 1.5 means the last bars move half as
    /// much again as the longer window did.
    fn default() -> Self {
        RegimeThresholds { efficiency: 0.3, volatility: 1.5 }
    }
}

/// The regime of one bar, NaN when either input is NaN (warm-up).
pub fn classify(efficiency_ratio: f64, volatility_ratio: f64, th: &RegimeThresholds) -> f64 {
    if efficiency_ratio.is_nan() || volatility_ratio.is_nan() {
        f64::NAN
    } else if volatility_ratio > th.volatility {
        VOLATILE
    } else if efficiency_ratio >= th.efficiency {
        TRENDING
    } else {
        RANGING
    }
}

/// The frame's efficiency-ratio and volatility-ratio columns (names start with `er_` and `rv_ratio_`).
fn inputs(frame: &FeatureFrame) -> Result<(&[f64], &[f64])> {
    let find = |prefix: &str| {
        frame.names.iter().position(|n| n.starts_with(prefix)).map(|j| frame.columns[j].as_slice()).ok_or_else(|| {
            Error::Invalid(format!("regime: expected a feature column named `{prefix}*`, found none in the frame"))
        })
    };
    Ok((find("er_")?, find("rv_ratio_")?))
}

/// Fit the volatility threshold as the `quantile` (e.g. 0.8: the most volatile 20% of training bars) of the
/// volatility ratio over rows `train` only, ignoring NaN; the efficiency threshold is kept as given.
pub fn fit_regime_thresholds(
    frame: &FeatureFrame,
    train: Range<usize>,
    quantile: f64,
    efficiency: f64,
) -> Result<RegimeThresholds> {
    if !(0.0..=1.0).contains(&quantile) {
        return Err(Error::config("regime quantile", format!("expected a value in [0, 1], found {quantile}")));
    }
    frame.check_fit_rows("fit_regime_thresholds", "training range", &train)?;
    let (_, vol) = inputs(frame)?;
    let mut v: Vec<f64> = vol[train].iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return Err(Error::Invalid(
            "fit_regime_thresholds: the training rows hold no volatility ratio yet (all warm-up); use a longer training range".into(),
        ));
    }
    v.sort_by(f64::total_cmp);
    Ok(RegimeThresholds { efficiency, volatility: quantile_sorted(&v, quantile) })
}

/// Linear-interpolation quantile (numpy's default) of sorted, non-empty data.
pub(crate) fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Recompute the frame's `regime` column with `th` (e.g. after fitting on the training split).
pub fn apply_regime(frame: &mut FeatureFrame, th: &RegimeThresholds) -> Result<()> {
    let (er, vol) = inputs(frame)?;
    let regime: Vec<f64> = er.iter().zip(vol).map(|(&e, &v)| classify(e, v, th)).collect();
    let j =
        frame.names.iter().position(|n| n == "regime").ok_or_else(|| {
            Error::Invalid("apply_regime: expected a `regime` column, found none in the frame".into())
        })?;
    frame.columns[j] = regime;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_order() {
        let th = RegimeThresholds::default();
        assert_eq!(classify(0.9, 3.0, &th), VOLATILE);
        assert_eq!(classify(0.9, 1.0, &th), TRENDING);
        assert_eq!(classify(0.1, 1.0, &th), RANGING);
        assert!(classify(f64::NAN, 1.0, &th).is_nan());
    }

    #[test]
    fn quantile_interpolates() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
        assert_eq!(quantile_sorted(&[7.0], 0.3), 7.0);
    }
}
