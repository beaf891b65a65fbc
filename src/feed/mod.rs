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
