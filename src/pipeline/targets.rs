//! Regression targets scaled to O(1) with statistics of the training samples only, so every loss starts near
//! 1 whatever the bar size: the return is divided by its standard deviation (not centred, which keeps its sign,
//! i.e. the direction), volatility and log volume are standardised. The scale is stored in the checkpoint so a
//! prediction can be turned back into a return.

use super::dataset::Dataset;
use crate::train::Examples;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetScale {
    /// Standard deviation of the training returns: scaled return = return / ret_scale.
    pub ret_scale: f64,
    pub volatility_mean: f64,
    pub volatility_std: f64,
    pub volume_mean: f64,
    pub volume_std: f64,
}

/// (mean, std) of the finite values; std falls back to 1 for a constant or empty column.
fn moments(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = v.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (0.0, 1.0);
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
    let std = var.sqrt();
    (mean, if std > 0.0 && std.is_finite() { std } else { 1.0 })
}

impl TargetScale {
    /// Fit on the dataset's training samples.
    pub fn fit(ds: &Dataset) -> Result<TargetScale> {
        let rows = ds.rows(ds.split.train.clone());
        let l = &ds.labels;
        let ret: Vec<f64> = rows.clone().map(|r| l.ret[r]).filter(|x| x.is_finite()).collect();
        if ret.is_empty() {
            return Err(Error::Invalid("no finite training return to scale the return target with".into()));
        }
        let (_, ret_std) = moments(ret.into_iter());
        let (volatility_mean, volatility_std) = moments(rows.clone().map(|r| l.volatility[r]));
        let (volume_mean, volume_std) = moments(rows.map(|r| l.volume[r]));
        Ok(TargetScale { ret_scale: ret_std, volatility_mean, volatility_std, volume_mean, volume_std })
    }

    /// Training examples for `samples`. A missing volume target (nothing traded over the horizon) becomes 0,
    /// the training mean, rather than dropping the window from the other tasks.
    pub fn examples(&self, ds: &Dataset, samples: Range<usize>) -> Result<Examples> {
        let l = &ds.labels;
        let z = |v: f64, m: f64, s: f64| if v.is_finite() { ((v - m) / s) as f32 } else { 0.0 };
        let mut ex = Examples::default();
        for s in samples {
            let r = ds.row(s);
            ex.ends.push(r);
            ex.class.push(ds.direction(s)?);
            ex.ret.push(z(l.ret[r], 0.0, self.ret_scale));
            ex.volatility.push(z(l.volatility[r], self.volatility_mean, self.volatility_std));
            ex.volume.push(z(l.volume[r], self.volume_mean, self.volume_std));
        }
        Ok(ex)
    }
}
