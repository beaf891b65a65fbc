//! Training targets for horizon `h`, all read from bars after `t` (they are the only forward-looking columns in
//! the pipeline, which is why splits purge `h` rows between sets). The last `h` rows have no future and are
//! `NaN` / `None`.

use super::ohlcv::Bars;
use crate::{Error, Result};

/// Class index of an up move (`ret > θ`). Classes are ordered [up, down, hold] everywhere.
pub const UP: u8 = 0;
/// Class index of a down move (`ret < −θ`).
pub const DOWN: u8 = 1;
/// Class index of a move within ±θ.
pub const HOLD: u8 = 2;
pub const CLASS_NAMES: [&str; 3] = ["up", "down", "hold"];

/// Targets aligned with the bars: entry `t` describes bars `t+1 ..= t+h`.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    pub horizon: usize,
    pub theta: f64,
    /// `ln(c[t+h] / c[t])`.
    pub ret: Vec<f64>,
    /// [`UP`], [`DOWN`] or [`HOLD`] from `ret` and `theta`.
    pub direction: Vec<Option<u8>>,
    /// `sqrt(Σ_{k=1..=h} ln(c[t+k] / c[t+k−1])²)`, the realised volatility of the next `h` bars.
    pub volatility: Vec<f64>,
    /// `ln(Σ_{k=1..=h} volume[t+k])`; NaN when nothing traded (the log of zero volume is no target).
    pub volume: Vec<f64>,
}

/// The direction class of a log return: up above `theta`, down below `−theta`, hold otherwise.
pub fn direction_of(ret: f64, theta: f64) -> Option<u8> {
    if ret.is_nan() {
        None
    } else if ret > theta {
        Some(UP)
    } else if ret < -theta {
        Some(DOWN)
    } else {
        Some(HOLD)
    }
}

/// Build every target for horizon `horizon` (≥ 1) and hold band `theta` (≥ 0, in log-return units).
pub fn make_labels(bars: &Bars, horizon: usize, theta: f64) -> Result<Labels> {
    bars.check_aligned()?;
    if horizon == 0 {
        return Err(Error::config("horizon", "expected a horizon >= 1 bar, found 0"));
    }
    if !(theta >= 0.0 && theta.is_finite()) {
        return Err(Error::config("theta", format!("expected a finite threshold >= 0, found {theta}")));
    }
    let (c, v) = (&bars.close, &bars.volume);
    let n = c.len();
    let one_bar: Vec<f64> = (0..n).map(|i| if i == 0 { f64::NAN } else { (c[i] / c[i - 1]).ln() }).collect();
    let mut labels = Labels {
        horizon,
        theta,
        ret: vec![f64::NAN; n],
        direction: vec![None; n],
        volatility: vec![f64::NAN; n],
        volume: vec![f64::NAN; n],
    };
    for t in 0..n.saturating_sub(horizon) {
        let ahead = t + 1..=t + horizon;
        let ret = (c[t + horizon] / c[t]).ln();
        labels.ret[t] = ret;
        labels.direction[t] = direction_of(ret, theta);
        labels.volatility[t] = one_bar[ahead.clone()].iter().map(|r| r * r).sum::<f64>().sqrt();
        let traded: f64 = v[ahead].iter().sum();
        labels.volume[t] = if traded > 0.0 { traded.ln() } else { f64::NAN };
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(close: &[f64], volume: &[f64]) -> Bars {
        Bars {
            timestamp: (0..close.len() as i64).collect(),
            open: close.to_vec(),
            high: close.to_vec(),
            low: close.to_vec(),
            close: close.to_vec(),
            volume: volume.to_vec(),
            extra: Default::default(),
        }
    }

    #[test]
    fn targets_look_h_bars_ahead() {
        let b = bars(&[100.0, 110.0, 99.0, 99.5, 120.0], &[1.0, 2.0, 3.0, 0.0, 0.0]);
        let l = make_labels(&b, 2, 0.02).unwrap();
        assert!((l.ret[0] - (99.0f64 / 100.0).ln()).abs() < 1e-15);
        assert_eq!(l.direction[..3], [Some(HOLD), Some(DOWN), Some(UP)]);
        assert_eq!(l.direction[3..], [None, None]);
        let r1 = (110.0f64 / 100.0).ln();
        let r2 = (99.0f64 / 110.0).ln();
        assert!((l.volatility[0] - (r1 * r1 + r2 * r2).sqrt()).abs() < 1e-15);
        assert!((l.volume[0] - 5f64.ln()).abs() < 1e-15);
        assert!(l.volume[2].is_nan(), "no volume traded in bars 3..=4");
        assert!(l.ret[3].is_nan() && l.ret[4].is_nan());
    }

    #[test]
    fn bad_parameters_are_errors() {
        let b = bars(&[1.0, 2.0], &[1.0, 1.0]);
        assert!(make_labels(&b, 0, 0.0).is_err());
        assert!(make_labels(&b, 1, -0.1).is_err());
        assert!(make_labels(&b, 1, f64::NAN).is_err());
        assert!(make_labels(&b, 5, 0.0).unwrap().ret.iter().all(|r| r.is_nan()));
    }
}
