//! A [`Feed`] that replays recorded bars of several symbols (CSV files or store series) as one live session would
//! deliver them: interleaved by open time, and for equal times in the order the symbols were given, so a run is
//! reproducible bar for bar. Missing bars are reported as [`FeedEvent::Gap`] (measured against each series' own
//! interval) and never invented; a bar that is not after its symbol's last delivered one is reported as
//! [`FeedEvent::Dropped`] instead of being delivered, as the [`FeedEvent::Bar`] contract requires.

use super::{missing_bars, DropReason, Feed, FeedEvent};
use crate::data::incremental::Bar;
use crate::data::Bars;
use crate::{Error, Result};

/// One symbol's recorded bars and the interval its gaps are measured by.
#[derive(Debug, Clone)]
pub struct ReplaySeries {
    pub symbol: String,
    pub bars: Bars,
    /// The series' bar interval in ms (the store's interval name, or the interval a CSV's timestamps show);
    /// 0 or less: no gap is reported.
    pub interval_ms: i64,
}

/// Replays several [`ReplaySeries`] interleaved by timestamp (module docs).
#[derive(Debug)]
pub struct ReplayFeed {
    symbols: Vec<String>,
    series: Vec<ReplaySeries>,
    /// Next bar of each series.
    cursor: Vec<usize>,
    /// Open time of each symbol's last delivered bar.
    last: Vec<Option<i64>>,
    /// A bar held back while the gap before it is reported.
    queued: Option<FeedEvent>,
}

impl ReplayFeed {
    /// A replay of `series`, in the given symbol order; a repeated symbol is an error naming it.
    pub fn new(series: Vec<ReplaySeries>) -> Result<ReplayFeed> {
        if series.is_empty() {
            return Err(Error::config("symbols", "a replay needs at least one symbol"));
        }
        let symbols: Vec<String> = series.iter().map(|s| s.symbol.clone()).collect();
        super::check_distinct(&symbols)?;
        let n = series.len();
        Ok(ReplayFeed { symbols, series, cursor: vec![0; n], last: vec![None; n], queued: None })
    }

    /// The series with the earliest next bar (the first given on a tie), if any bar is left.
    fn earliest(&self) -> Option<usize> {
        let mut best: Option<(i64, usize)> = None;
        for (k, s) in self.series.iter().enumerate() {
            if let Some(&ts) = s.bars.timestamp.get(self.cursor[k]) {
                if best.is_none_or(|(t, _)| ts < t) {
                    best = Some((ts, k));
                }
            }
        }
        best.map(|(_, k)| k)
    }
}

impl Feed for ReplayFeed {
    fn symbols(&self) -> &[String] {
        &self.symbols
    }

    fn next_event(&mut self) -> Result<Option<FeedEvent>> {
        if let Some(e) = self.queued.take() {
            return Ok(Some(e));
        }
        let Some(k) = self.earliest() else { return Ok(None) };
        let s = &self.series[k];
        let bar = Bar::from_bars(&s.bars, self.cursor[k]);
        self.cursor[k] += 1;
        let symbol = s.symbol.clone();
        let ts = bar.timestamp;
        let Some(last) = self.last[k] else {
            self.last[k] = Some(ts);
            return Ok(Some(FeedEvent::Bar { symbol, bar }));
        };
        if ts <= last {
            let why = if ts == last { DropReason::Duplicate } else { DropReason::OutOfOrder };
            return Ok(Some(FeedEvent::Dropped { symbol, timestamp: ts, last, why }));
        }
        self.last[k] = Some(ts);
        let missing = missing_bars(last, ts, s.interval_ms);
        let event = FeedEvent::Bar { symbol: symbol.clone(), bar };
        if missing == 0 {
            return Ok(Some(event));
        }
        self.queued = Some(event);
        Ok(Some(FeedEvent::Gap { symbol, last, next: ts, missing }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(symbol: &str, ts: &[i64], interval_ms: i64) -> ReplaySeries {
        let n = ts.len();
        let close: Vec<f64> = (0..n).map(|i| 100.0 + i as f64).collect();
        let bars = Bars {
            timestamp: ts.to_vec(),
            open: close.clone(),
            high: close.iter().map(|c| c + 1.0).collect(),
            low: close.iter().map(|c| c - 1.0).collect(),
            close,
            volume: vec![1.0; n],
            extra: Default::default(),
        };
        ReplaySeries { symbol: symbol.into(), bars, interval_ms }
    }

    /// Every event as a short line: `A@10`, `gap B 20..50 2`, `drop A 30<=40`.
    fn drain(feed: &mut ReplayFeed) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(e) = feed.next_event().unwrap() {
            out.push(match e {
                FeedEvent::Bar { symbol, bar } => format!("{symbol}@{}", bar.timestamp),
                FeedEvent::Gap { symbol, last, next, missing } => format!("gap {symbol} {last}..{next} {missing}"),
                FeedEvent::Dropped { symbol, timestamp, last, why } => {
                    format!("drop {symbol} {timestamp}<={last} {why:?}")
                }
                FeedEvent::Reconnected { .. } => unreachable!("a replay never reconnects"),
            });
        }
        out
    }

    #[test]
    fn bars_interleave_by_time_and_ties_follow_the_symbol_order() {
        let mut feed =
            ReplayFeed::new(vec![series("B", &[10, 20, 30], 10), series("A", &[0, 10, 20, 30, 40], 10)]).unwrap();
        assert_eq!(feed.symbols(), ["B", "A"]);
        let got = drain(&mut feed);
        assert_eq!(got, ["A@0", "B@10", "A@10", "B@20", "A@20", "B@30", "A@30", "A@40"]);
        assert_eq!(feed.next_event().unwrap(), None, "a finished replay stays finished");
    }

    #[test]
    fn gaps_are_reported_by_the_series_interval_and_no_bar_is_invented() {
        // A misses 20 and 30; B (interval 5) misses 15; A's 45 comes half an interval after 40: nothing missing.
        let mut feed = ReplayFeed::new(vec![series("A", &[10, 40, 45], 10), series("B", &[5, 10, 20], 5)]).unwrap();
        let got = drain(&mut feed);
        assert_eq!(got, ["B@5", "A@10", "B@10", "gap B 10..20 1", "B@20", "gap A 10..40 2", "A@40", "A@45"]);
        // Only bars that were in the files came out.
        assert_eq!(got.iter().filter(|l| l.contains('@')).count(), 6);
    }

    #[test]
    fn repeated_and_older_bars_are_dropped_not_delivered() {
        let mut feed = ReplayFeed::new(vec![series("A", &[10, 20, 20, 15, 30], 10)]).unwrap();
        let got = drain(&mut feed);
        assert_eq!(got, ["A@10", "A@20", "drop A 20<=20 Duplicate", "drop A 15<=20 OutOfOrder", "A@30"]);
    }

    #[test]
    fn a_repeated_symbol_or_none_is_an_error() {
        let e = ReplayFeed::new(vec![series("A", &[1], 1), series("A", &[2], 1)]).unwrap_err().to_string();
        assert!(e.contains("`A`") && e.contains("more than once"), "{e}");
        let e = ReplayFeed::new(vec![]).unwrap_err().to_string();
        assert!(e.contains("at least one symbol"), "{e}");
    }
}
