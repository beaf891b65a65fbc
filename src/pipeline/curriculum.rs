//! The difficulty a volatility curriculum ranks windows by (`train::curriculum`): the realised volatility of
//! each window's own input bars, √(mean of squared log returns close-to-close inside the window), from the raw
//! closes, so it is the market's calm and not a property of the fitted scaler. A window of `W` bars has `W − 1`
//! returns; it reads nothing before its first bar and nothing after its last (no look-ahead).

use super::dataset::Dataset;
use crate::train::Examples;
use crate::{Error, Result};
use std::ops::Range;

/// Realised volatility of the `window`-bar input of every sample in `samples`.
pub fn window_volatility(ds: &Dataset, samples: Range<usize>, window: usize) -> Result<Vec<f64>> {
    if window == 0 {
        return Err(Error::config("window", "expected a window of at least 1 bar, found 0"));
    }
    let close = &ds.bars.close;
    samples
        .map(|s| {
            let end = ds.row(s);
            let first = (end + 1)
                .checked_sub(window)
                .ok_or_else(|| Error::Invalid(format!("sample {s}: a {window}-bar window cannot end at row {end}")))?;
            let sq: f64 = (first + 1..=end).map(|r| (close[r] / close[r - 1]).ln().powi(2)).sum();
            Ok((sq / (window - 1).max(1) as f64).sqrt())
        })
        .collect()
}

/// `ex` (the examples of `samples`) with its difficulty filled when the training config asks for a curriculum.
pub fn with_difficulty(
    ds: &Dataset,
    mut ex: Examples,
    samples: Range<usize>,
    window: usize,
    curriculum: bool,
) -> Result<Examples> {
    if curriculum {
        ex.difficulty = window_volatility(ds, samples, window)?;
    }
    Ok(ex)
}
