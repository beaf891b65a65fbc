//! Per-symbol order of closed bars: the one place that turns "a closed bar arrived" into [`FeedEvent`]s.
//!
//! A live feed can repeat a bar (a reconnect replays the last one), send one late, or miss some (a dropped
//! connection, an exchange outage). The engines downstream must see each open time once and in order, and must
//! never be handed a bar that did not arrive, so: the same open time again is [`DropReason::Duplicate`], an older
//! one [`DropReason::OutOfOrder`], and a jump of more than one interval is reported as a [`FeedEvent::Gap`] before
//! the bar that ends it. Nothing is filled in.

use super::{DropReason, FeedEvent};
use crate::data::incremental::Bar;
use crate::{Error, Result};
use std::collections::VecDeque;

/// The last delivered open time of each symbol of a feed with a fixed bar interval.
#[derive(Debug, Clone)]
pub struct Sequencer {
    symbols: Vec<String>,
    interval_ms: i64,
    last: Vec<Option<i64>>,
}

impl Sequencer {
    /// `interval_ms` must be positive (the feed's bar length).
    pub fn new(symbols: &[String], interval_ms: i64) -> Result<Sequencer> {
        if interval_ms <= 0 {
            return Err(Error::config("interval", format!("a bar interval must be positive, found {interval_ms} ms")));
        }
        Ok(Sequencer { symbols: symbols.to_vec(), interval_ms, last: vec![None; symbols.len()] })
    }

    /// The last delivered open time of symbol `i`.
    pub fn last(&self, i: usize) -> Option<i64> {
        self.last.get(i).copied().flatten()
    }

    /// Append to `out` what the closed `bar` of symbol `i` means: `[Bar]`, `[Gap, Bar]` or `[Dropped]`. An open
    /// time that is not a whole number of intervals after the last one is an error (the feed is not on the
    /// interval it claims), as is an unknown `i`.
    pub fn admit(&mut self, i: usize, bar: Bar, out: &mut VecDeque<FeedEvent>) -> Result<()> {
        let symbol = self
            .symbols
            .get(i)
            .ok_or_else(|| Error::Invalid(format!("feed: symbol index {i} of {} symbols", self.symbols.len())))?
            .clone();
        let t = bar.timestamp;
        if let Some(last) = self.last[i] {
            if t <= last {
                let why = if t == last { DropReason::Duplicate } else { DropReason::OutOfOrder };
                out.push_back(FeedEvent::Dropped { symbol, timestamp: t, last, why });
                return Ok(());
            }
            let step = t - last;
            if step % self.interval_ms != 0 {
                return Err(Error::Invalid(format!(
                    "feed: {symbol}: open time {t} is {step} ms after the last one ({last}), not a whole number \
                     of the {} ms interval",
                    self.interval_ms
                )));
            }
            let missing = (step / self.interval_ms - 1) as u64;
            if missing > 0 {
                out.push_back(FeedEvent::Gap { symbol: symbol.clone(), last, next: t, missing });
            }
        }
        self.last[i] = Some(t);
        out.push_back(FeedEvent::Bar { symbol, bar });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64) -> Bar {
        Bar {
            timestamp: t,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 0.0,
            trades: None,
            taker_buy_base_volume: None,
        }
    }

    #[test]
    fn duplicates_late_bars_and_gaps_per_symbol() {
        let syms = vec!["A".to_string(), "B".to_string()];
        let mut s = Sequencer::new(&syms, 10).unwrap();
        let mut out = VecDeque::new();
        for (i, t) in [(0, 100), (1, 50), (0, 110), (0, 110), (0, 100), (1, 80), (0, 120)] {
            s.admit(i, bar(t), &mut out).unwrap();
        }
        let b = |sym: &str, t| FeedEvent::Bar { symbol: sym.into(), bar: bar(t) };
        let want = vec![
            b("A", 100),
            b("B", 50),
            b("A", 110),
            FeedEvent::Dropped { symbol: "A".into(), timestamp: 110, last: 110, why: DropReason::Duplicate },
            FeedEvent::Dropped { symbol: "A".into(), timestamp: 100, last: 110, why: DropReason::OutOfOrder },
            FeedEvent::Gap { symbol: "B".into(), last: 50, next: 80, missing: 2 },
            b("B", 80),
            b("A", 120),
        ];
        assert_eq!(Vec::from(out), want);
        assert_eq!((s.last(0), s.last(1), s.last(2)), (Some(120), Some(80), None));
    }

    #[test]
    fn off_grid_times_and_bad_arguments_are_errors() {
        let syms = vec!["A".to_string()];
        let mut s = Sequencer::new(&syms, 10).unwrap();
        let mut out = VecDeque::new();
        s.admit(0, bar(100), &mut out).unwrap();
        let e = s.admit(0, bar(115), &mut out).unwrap_err().to_string();
        assert!(e.contains("A: open time 115 is 15 ms after the last one (100)"), "{e}");
        assert_eq!(s.last(0), Some(100), "a refused bar changes nothing");
        assert!(s.admit(1, bar(200), &mut out).unwrap_err().to_string().contains("index 1 of 1"));
        assert!(Sequencer::new(&syms, 0).unwrap_err().to_string().contains("positive"));
        assert_eq!(out.len(), 1);
    }
}
