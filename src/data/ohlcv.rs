//! Validated OHLCV bars in column-major form. Columns are stored apart (not as a `Vec<Bar>`) because every
//! consumer downstream (indicators, features, labels) walks one column at a time.
//!
//! The CSV reader lives in [`super::csv`]; this module holds the container and the gap inference that both the
//! loader and callers that build bars in code share.

pub use super::csv::{load_csv, parse_csv_str};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

/// Bars aligned by row: `timestamp[i]`, `open[i]`, ..., `extra[name][i]` all describe bar `i`.
///
/// `timestamp` is the bar's open time in Unix milliseconds UTC (docs/DATA.md). `extra` keeps every column after the
/// six required ones under its header name, so exchange-specific data (Binance's `quote_volume`, `trades`,
/// `taker_buy_base_volume`, ...) reaches the feature code without the loader knowing about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bars {
    pub timestamp: Vec<i64>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<f64>,
    pub extra: BTreeMap<String, Vec<f64>>,
}

impl Bars {
    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamp.is_empty()
    }

    /// A numeric column by its header name: one of the five OHLCV columns or an extra column. `timestamp` is not
    /// here because it is an integer column; read the field directly.
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        match name {
            "open" => Some(&self.open),
            "high" => Some(&self.high),
            "low" => Some(&self.low),
            "close" => Some(&self.close),
            "volume" => Some(&self.volume),
            _ => self.extra.get(name).map(Vec::as_slice),
        }
    }

    /// Rows `range` of every column, extras included, so callers can cut a prefix (e.g. to check causality) or a
    /// split without any column drifting out of line.
    pub fn slice(&self, range: Range<usize>) -> Result<Bars> {
        self.check_aligned()?;
        if range.start > range.end || range.end > self.len() {
            return Err(Error::Invalid(format!(
                "Bars::slice: expected a range within 0..{}, found {}..{}",
                self.len(),
                range.start,
                range.end
            )));
        }
        let cut = |v: &Vec<f64>| v[range.clone()].to_vec();
        Ok(Bars {
            timestamp: self.timestamp[range.clone()].to_vec(),
            open: cut(&self.open),
            high: cut(&self.high),
            low: cut(&self.low),
            close: cut(&self.close),
            volume: cut(&self.volume),
            extra: self.extra.iter().map(|(k, v)| (k.clone(), cut(v))).collect(),
        })
    }

    /// The fields are public, so bars built in code can be ragged; every consumer calls this first instead of
    /// indexing past the end of a short column.
    pub fn check_aligned(&self) -> Result<()> {
        let n = self.len();
        let named = [
            ("open", self.open.len()),
            ("high", self.high.len()),
            ("low", self.low.len()),
            ("close", self.close.len()),
            ("volume", self.volume.len()),
        ];
        let extras = self.extra.iter().map(|(k, v)| (k.as_str(), v.len()));
        for (name, len) in named.into_iter().chain(extras) {
            if len != n {
                return Err(Error::shape(format!("Bars column `{name}`"), [n], [len]));
            }
        }
        Ok(())
    }
}

/// Holes in the time axis, reported and never filled: filling would invent prices, and whether a hole is a
/// weekend, a holiday or an outage is the caller's call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GapReport {
    /// Number of consecutive-bar differences larger than `typical_interval_ms`.
    pub count: usize,
    /// The largest consecutive-bar difference that counts as a gap, in ms (0 when there is no gap).
    pub largest_ms: i64,
    /// The bar interval, inferred as the most common positive difference between consecutive timestamps (the
    /// smallest one on a tie); 0 when there are fewer than two bars.
    pub typical_interval_ms: i64,
}

impl GapReport {
    /// Infer the interval and count the gaps. Expects strictly increasing timestamps (the loader guarantees it);
    /// non-positive differences are ignored rather than trusted.
    pub fn from_timestamps(ts: &[i64]) -> GapReport {
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for w in ts.windows(2) {
            let d = w[1].saturating_sub(w[0]);
            if d > 0 {
                *counts.entry(d).or_insert(0) += 1;
            }
        }
        let typical = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(&d, _)| d).unwrap_or(0);
        let mut report = GapReport { count: 0, largest_ms: 0, typical_interval_ms: typical };
        for (&d, &c) in &counts {
            if d > typical {
                report.count += c;
                report.largest_ms = report.largest_ms.max(d);
            }
        }
        report
    }
}

impl fmt::Display for GapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 0 {
            write!(f, "bar interval {} ms, no gaps", self.typical_interval_ms)
        } else {
            write!(
                f,
                "bar interval {} ms, {} gap(s), largest {} ms ({:.1} bar intervals); gaps are not filled",
                self.typical_interval_ms,
                self.count,
                self.largest_ms,
                self.largest_ms as f64 / self.typical_interval_ms.max(1) as f64
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize) -> Bars {
        let f = |k: f64| (0..n).map(|i| i as f64 + k).collect::<Vec<_>>();
        let mut extra = BTreeMap::new();
        extra.insert("trades".to_string(), f(100.0));
        Bars {
            timestamp: (0..n as i64).collect(),
            open: f(1.0),
            high: f(2.0),
            low: f(0.5),
            close: f(1.5),
            volume: f(10.0),
            extra,
        }
    }

    #[test]
    fn slice_keeps_columns_aligned() {
        let b = bars(10);
        let s = b.slice(3..7).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s.timestamp, vec![3, 4, 5, 6]);
        assert_eq!(s.column("trades").unwrap(), &[103.0, 104.0, 105.0, 106.0]);
        assert_eq!(s.column("close").unwrap()[0], 4.5);
        assert!(b.slice(5..11).is_err());
    }

    #[test]
    fn ragged_bars_are_an_error_not_a_panic() {
        let mut b = bars(5);
        b.extra.get_mut("trades").unwrap().pop();
        assert!(b.check_aligned().unwrap_err().to_string().contains("trades"));
        assert!(b.slice(0..5).is_err());
    }

    #[test]
    fn gap_report_uses_most_common_interval() {
        let ts = [0, 10, 20, 30, 60, 70, 80, 200];
        let g = GapReport::from_timestamps(&ts);
        assert_eq!(g, GapReport { count: 2, largest_ms: 120, typical_interval_ms: 10 });
        assert_eq!(GapReport::from_timestamps(&[5]), GapReport::default());
    }
}
