//! Sources of closed bars for `stream`: a replay of files or a store, or a live exchange feed. Every source yields
//! the same [`FeedEvent`]s, so the per-symbol engines downstream cannot tell a replay from a live session; that is
//! what lets the live path be tested by comparing it with a CSV replay of the same bars.

pub mod binance;
pub mod sequence;

use crate::data::incremental::features::Bar;
use crate::Result;

/// One thing a feed has to say. Only [`FeedEvent::Bar`] carries data; the others are reported (log, metrics,
/// journal) and never turned into invented bars.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// A closed bar of `symbol`, in time order for that symbol, never repeated.
    Bar { symbol: String, bar: Bar },
    /// Bars of `symbol` between `last` and `next` (open times, ms since the epoch) never arrived: `missing` bars
    /// of the feed's interval are absent. `next` is delivered as the following `Bar` event.
    Gap { symbol: String, last: i64, next: i64, missing: u64 },
    /// A bar whose open time was already delivered (or is older than the last delivered one) was dropped.
    Dropped { symbol: String, timestamp: i64, last: i64, why: DropReason },
    /// The connection was lost and opened again (after `attempt` tries); bars missed meanwhile appear as a `Gap`.
    Reconnected { attempt: u32, reason: String },
}

/// Why a bar was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The same open time came again.
    Duplicate,
    /// An open time before the last delivered one.
    OutOfOrder,
}

/// A source of closed bars for one or more symbols.
pub trait Feed {
    /// The symbols this feed delivers, in the order the caller asked for them.
    fn symbols(&self) -> &[String];
    /// The next event; `Ok(None)` when the feed is finished (end of a replay, `--max-bars` reached). Blocks on a
    /// live feed until something arrives.
    fn next_event(&mut self) -> Result<Option<FeedEvent>>;
}

pub mod replay;
pub mod runner;

/// Bars of `interval_ms` that should have opened strictly between `last` and `next` (open times, ms): 0 unless
/// `next` is more than one interval after `last`; a non-positive interval reports nothing.
pub fn missing_bars(last: i64, next: i64, interval_ms: i64) -> u64 {
    if interval_ms <= 0 || next <= last {
        return 0;
    }
    let step = (next - last) as u64;
    step.div_ceil(interval_ms as u64) - 1
}

/// The length in ms of an interval name as the store and exchanges write them: a count and a unit of `s`, `m`,
/// `h`, `d` or `w` (`1m`, `15m`, `4h`, `1d`); `None` for any other name (a CSV's own spacing is used then).
pub fn interval_ms(name: &str) -> Option<i64> {
    let unit = name.chars().last()?;
    let count: i64 = name[..name.len() - unit.len_utf8()].parse().ok().filter(|&n| n > 0)?;
    let ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 7 * 86_400_000,
        _ => return None,
    };
    count.checked_mul(ms)
}

/// The per-symbol lists of a multi-symbol session name each symbol once: a repeat is an error naming it.
pub fn check_distinct(symbols: &[String]) -> Result<()> {
    for (i, s) in symbols.iter().enumerate() {
        if symbols[..i].contains(s) {
            return Err(crate::Error::config("symbols", format!("`{s}` is given more than once")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_bars_count_whole_intervals_between_two_opens() {
        assert_eq!(missing_bars(0, 10, 10), 0);
        assert_eq!(missing_bars(0, 15, 10), 1, "a bar was due at 10");
        assert_eq!(missing_bars(0, 30, 10), 2);
        assert_eq!(missing_bars(0, 5, 10), 0);
        assert_eq!(missing_bars(0, 100, 0), 0, "no interval, no gap");
        assert_eq!(missing_bars(10, 10, 10), 0);
    }

    #[test]
    fn interval_names_parse_and_others_do_not() {
        assert_eq!(interval_ms("1h"), Some(3_600_000));
        assert_eq!(interval_ms("15m"), Some(900_000));
        assert_eq!(interval_ms("1d"), Some(86_400_000));
        assert_eq!(interval_ms("1w"), Some(604_800_000));
        for bad in ["", "h", "0h", "-1h", "1M", "1y", "1.5h", "daily"] {
            assert_eq!(interval_ms(bad), None, "{bad}");
        }
    }
}
