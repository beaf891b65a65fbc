//! Scores for models that predict the next-horizon return rather than a class. The information
//! coefficients matter more than RMSE for trading: a forecast with the right ordering but the wrong scale
//! still ranks bars correctly.

use super::json::f64_or_null;
use super::stats::{average_ranks, mean, pearson};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    pub n: usize,
    #[serde(with = "f64_or_null")]
    pub rmse: f64,
    #[serde(with = "f64_or_null")]
    pub mae: f64,
    /// 1 − SS_res / SS_tot; undefined (null) when the truth is constant.
    #[serde(with = "f64_or_null")]
    pub r2: f64,
    /// Share of bars with a non-zero true value whose prediction has the same sign; bars with a true value
    /// of exactly zero have no direction and are left out.
    #[serde(with = "f64_or_null")]
    pub directional_accuracy: f64,
    #[serde(with = "f64_or_null")]
    pub ic_pearson: f64,
    /// Spearman's rank correlation, ties given average ranks.
    #[serde(with = "f64_or_null")]
    pub ic_spearman: f64,
}

pub fn regression_metrics(y_true: &[f64], y_pred: &[f64]) -> Result<RegressionMetrics> {
    let n = y_true.len();
    if n == 0 {
        return Err(Error::Invalid("regression metrics need at least one bar, got none".into()));
    }
    if y_pred.len() != n {
        return Err(Error::shape("y_pred", [n], [y_pred.len()]));
    }
    for (what, v) in [("y_true", y_true), ("y_pred", y_pred)] {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::Invalid(format!("{what}[{i}] = {} is not finite", v[i])));
        }
    }
    let nf = n as f64;
    let sse: f64 = y_true.iter().zip(y_pred).map(|(t, p)| (t - p) * (t - p)).sum();
    let sae: f64 = y_true.iter().zip(y_pred).map(|(t, p)| (t - p).abs()).sum();
    let mt = mean(y_true);
    let sst: f64 = y_true.iter().map(|t| (t - mt) * (t - mt)).sum();
    let r2 = if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN };
    let (mut hits, mut directed) = (0usize, 0usize);
    for (t, p) in y_true.iter().zip(y_pred) {
        if *t != 0.0 {
            directed += 1;
            if t * p > 0.0 {
                hits += 1;
            }
        }
    }
    let directional_accuracy = if directed > 0 { hits as f64 / directed as f64 } else { f64::NAN };
    Ok(RegressionMetrics {
        n,
        rmse: (sse / nf).sqrt(),
        mae: sae / nf,
        r2,
        directional_accuracy,
        ic_pearson: pearson(y_true, y_pred),
        ic_spearman: pearson(&average_ranks(y_true), &average_ranks(y_pred)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_regression_reference_values() {
        let t = [1.0, -2.0, 3.0, 0.0, 2.0];
        let p = [0.5, -1.0, 2.0, 1.0, 2.0];
        let m = regression_metrics(&t, &p).unwrap();
        // residuals 0.5, -1, 1, -1, 0
        assert!((m.rmse - (3.25f64 / 5.0).sqrt()).abs() < 1e-15);
        assert!((m.mae - 3.5 / 5.0).abs() < 1e-15);
        // mean 0.8, SST = 0.04+7.84+4.84+0.64+1.44 = 14.8
        assert!((m.r2 - (1.0 - 3.25 / 14.8)).abs() < 1e-15);
        assert_eq!(m.directional_accuracy, 1.0);
        // Pearson of average ranks [3,1,5,2,4] vs [2,1,4.5,3,4.5], computed independently in Python
        assert!((m.ic_spearman - 0.872081599272381).abs() < 1e-12);
        // Pearson of the raw values, computed independently in Python
        assert!((m.ic_pearson - 0.9291018058584972).abs() < 1e-12);
    }

    #[test]
    fn eval_regression_errors_and_nulls() {
        assert!(regression_metrics(&[], &[]).is_err());
        assert!(regression_metrics(&[1.0], &[1.0, 2.0]).is_err());
        assert!(regression_metrics(&[f64::NAN], &[1.0]).is_err());
        let m = regression_metrics(&[1.0, 1.0], &[1.0, 2.0]).unwrap();
        assert!(m.r2.is_nan());
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"r2\":null") && !json.contains("NaN"));
    }
}
