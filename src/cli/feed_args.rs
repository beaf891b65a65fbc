//! `stream --feed binance`: the flags of a live feed and the [`BinanceFeed`] they describe.
//!
//! The symbols come from `--symbols`, the kline interval from `--interval` (the flag that names a store series'
//! interval elsewhere: here it is the Binance stream's, e.g. `1m`).

use crate::feed::binance::conn::Backoff;
use crate::feed::binance::{BinanceConfig, BinanceFeed, DEFAULT_BASE_URL};
use crate::{Error, Result};
use std::time::Duration;

/// Live feeds `--feed` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FeedKind {
    /// Binance klines over a websocket (combined stream of every --symbols symbol).
    Binance,
}

#[derive(Debug, Clone, clap::Args)]
pub struct FeedArgs {
    /// Stream closed bars from a live exchange feed instead of --data/--db: binance (with --symbols and
    /// --interval). Gaps, duplicates and reconnects are reported on stderr; missing bars are never invented.
    #[arg(long, value_enum)]
    pub feed: Option<FeedKind>,
    /// The feed's base URL, ws://HOST[:PORT] (the path /stream?streams=… is added). This build has no TLS: for
    /// Binance itself put a local TLS terminator in front of wss://fstream.binance.com and give its ws:// address.
    #[arg(long, default_value = DEFAULT_BASE_URL)]
    pub url: String,
    /// Stop after this many closed bars (all symbols together).
    #[arg(long)]
    pub max_bars: Option<u64>,
    /// A connection without any message (kline updates or pings) for this long is dead and is opened again.
    #[arg(long, default_value_t = 30_000)]
    pub heartbeat_ms: u64,
    /// Give up with an error after this many failed connection tries in a row.
    #[arg(long, default_value_t = 10)]
    pub reconnect_attempts: u32,
    /// Wait before the second try of a reconnect; it doubles with each further try, up to --backoff-max-ms.
    #[arg(long, default_value_t = 500)]
    pub backoff_ms: u64,
    #[arg(long, default_value_t = 30_000)]
    pub backoff_max_ms: u64,
}

impl FeedArgs {
    /// The feed for `symbols` at `interval`; flags given without --feed are refused by name.
    pub fn binance(&self, symbols: &[String], interval: Option<&str>) -> Result<BinanceFeed> {
        let interval = interval
            .ok_or_else(|| Error::config("interval", "--feed binance needs the kline interval, e.g. --interval 1m"))?;
        let cfg = BinanceConfig {
            base_url: self.url.clone(),
            symbols: symbols.to_vec(),
            interval: interval.to_string(),
            max_bars: self.max_bars,
            heartbeat_timeout: Duration::from_millis(self.heartbeat_ms),
            connect_timeout: Duration::from_secs(10),
            backoff: Backoff {
                initial: Duration::from_millis(self.backoff_ms),
                max: Duration::from_millis(self.backoff_max_ms.max(self.backoff_ms)),
                attempts: self.reconnect_attempts,
            },
        };
        if self.max_bars == Some(0) {
            return Err(Error::config("max-bars", "must be at least 1"));
        }
        BinanceFeed::new(cfg)
    }

    /// Without --feed, its companion flags mean nothing: an error names the first one given.
    pub fn refuse_without_feed(&self) -> Result<()> {
        if self.feed.is_some() {
            return Ok(());
        }
        let given = [
            ("url", self.url != DEFAULT_BASE_URL),
            ("max-bars", self.max_bars.is_some()),
            ("heartbeat-ms", self.heartbeat_ms != 30_000),
            ("reconnect-attempts", self.reconnect_attempts != 10),
            ("backoff-ms", self.backoff_ms != 500),
            ("backoff-max-ms", self.backoff_max_ms != 30_000),
        ];
        match given.iter().find(|(_, g)| *g) {
            Some((flag, _)) => Err(Error::config(*flag, "belongs to a live feed: give --feed binance too")),
            None => Ok(()),
        }
    }
}
