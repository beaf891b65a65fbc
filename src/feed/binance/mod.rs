//! Binance's live kline stream as a [`Feed`]: closed bars of several symbols over one websocket.
//!
//! The client is blocking (`tungstenite` over a `TcpStream`; one thread, no async runtime): [`Feed::next_event`]
//! reads until it has something to say. It subscribes through the combined-stream URL
//! `BASE/stream?streams=btcusdt@kline_1m/ethusdt@kline_1m` (BASE defaults to USD-M futures,
//! `wss://fstream.binance.com`), keeps only closed klines (`"x": true`) and passes them through a
//! [`Sequencer`]: a repeated or late open time is [`FeedEvent::Dropped`], a jump is a [`FeedEvent::Gap`] (the
//! missing bars are never invented).
//!
//! Faults: a connection that closes, errs, or stays silent longer than the heartbeat timeout (pings count as
//! traffic and are answered) is opened again with [`Backoff`]; the success is reported as
//! [`FeedEvent::Reconnected`] and bars missed meanwhile show up as a gap on each symbol's next bar. After
//! `backoff.attempts` failed tries in a row (a connection that dies before its first message counts as one) the
//! feed returns an error naming the URL and the last failure. A malformed message is an error (see [`kline`]'s
//! policy), as is a kline of a symbol or interval that was not asked for.

pub mod conn;
pub mod kline;

use super::sequence::Sequencer;
use super::{Feed, FeedEvent};
use crate::{Error, Result};
use conn::{Backoff, Socket};
use kline::Message as Parsed;
use std::collections::VecDeque;
use std::time::Duration;
use tungstenite::Message;

/// USD-M futures market streams.
pub const DEFAULT_BASE_URL: &str = "wss://fstream.binance.com";

/// Whether this build can open `wss://` URLs.
pub const TLS: bool = false;

/// Binance kline intervals of fixed length, in ms (`1M`, a calendar month, has none, so gaps could not be counted).
pub fn interval_ms(interval: &str) -> Result<i64> {
    const M: i64 = 60_000;
    let ms = match interval {
        "1m" => M,
        "3m" => 3 * M,
        "5m" => 5 * M,
        "15m" => 15 * M,
        "30m" => 30 * M,
        "1h" => 60 * M,
        "2h" => 120 * M,
        "4h" => 240 * M,
        "6h" => 360 * M,
        "8h" => 480 * M,
        "12h" => 720 * M,
        "1d" => 1440 * M,
        "3d" => 3 * 1440 * M,
        "1w" => 7 * 1440 * M,
        other => {
            return Err(Error::config(
                "interval",
                format!("expected one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w, found {other:?}"),
            ))
        }
    };
    Ok(ms)
}

/// What to subscribe to and how patient to be.
#[derive(Debug, Clone, PartialEq)]
pub struct BinanceConfig {
    /// `ws://HOST[:PORT]` or `wss://HOST[:PORT]`, without the `/stream?...` path.
    pub base_url: String,
    /// Binance symbols (`BTCUSDT`); case is ignored, events carry them upper-cased.
    pub symbols: Vec<String>,
    /// A Binance interval (`1m`, `1h`, ...; see [`interval_ms`]).
    pub interval: String,
    /// End the feed after this many closed bars (all symbols together).
    pub max_bars: Option<u64>,
    /// A connection with no message for this long is dead.
    pub heartbeat_timeout: Duration,
    /// Bound on the TCP connect and on each read and write of the websocket handshake, per try.
    pub connect_timeout: Duration,
    pub backoff: Backoff,
}

impl BinanceConfig {
    /// The defaults: futures base URL, no bar limit, 30 s heartbeat, 10 s connect, [`Backoff::default`].
    pub fn new(symbols: Vec<String>, interval: &str) -> BinanceConfig {
        BinanceConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            symbols,
            interval: interval.to_string(),
            max_bars: None,
            heartbeat_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
        }
    }
}

/// The live feed. Connects on the first [`Feed::next_event`].
pub struct BinanceFeed {
    cfg: BinanceConfig,
    url: String,
    symbols: Vec<String>,
    sequencer: Sequencer,
    socket: Option<Socket>,
    queue: VecDeque<FeedEvent>,
    /// Bars handed out so far (for `max_bars`).
    delivered: u64,
    /// Text messages read over all connections (names a malformed one).
    messages: u64,
    /// Failed tries in a row, reset by the first message of a connection.
    failures: u32,
    /// The current connection has sent something.
    heard: bool,
    connected_before: bool,
    /// Why the last connection ended, for the `Reconnected` event.
    lost: Option<String>,
    /// Why the last try failed, for the final error.
    last_failure: String,
}

impl BinanceFeed {
    /// Check the configuration; nothing is opened yet.
    pub fn new(cfg: BinanceConfig) -> Result<BinanceFeed> {
        let interval = interval_ms(&cfg.interval)?;
        if cfg.symbols.is_empty() {
            return Err(Error::config("symbols", "no symbol given"));
        }
        let mut symbols: Vec<String> = Vec::with_capacity(cfg.symbols.len());
        for s in &cfg.symbols {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(Error::config("symbols", format!("expected letters and digits (BTCUSDT), found {s:?}")));
            }
            let s = s.to_ascii_uppercase();
            if symbols.contains(&s) {
                return Err(Error::config("symbols", format!("{s} is given twice")));
            }
            symbols.push(s);
        }
        let base = cfg.base_url.trim_end_matches('/');
        let scheme_ok = base.starts_with("ws://") || base.starts_with("wss://");
        if !scheme_ok || base[base.find("//").map_or(0, |i| i + 2)..].is_empty() {
            return Err(Error::config(
                "url",
                format!("expected ws://HOST[:PORT] or wss://HOST[:PORT], found {base:?}"),
            ));
        }
        if base.starts_with("wss://") && !TLS {
            return Err(Error::config(
                "url",
                format!(
                    "{base}: this build has no TLS; give a ws:// URL (e.g. a local TLS terminator in front of \
                     {DEFAULT_BASE_URL})"
                ),
            ));
        }
        if cfg.heartbeat_timeout.is_zero() || cfg.connect_timeout.is_zero() {
            return Err(Error::config("heartbeat", "the heartbeat and connect timeouts must be above zero"));
        }
        if cfg.backoff.attempts == 0 {
            return Err(Error::config("reconnect-attempts", "at least one connection attempt is needed"));
        }
        let streams: Vec<String> =
            symbols.iter().map(|s| format!("{}@kline_{}", s.to_ascii_lowercase(), cfg.interval)).collect();
        let url = format!("{base}/stream?streams={}", streams.join("/"));
        Ok(BinanceFeed {
            sequencer: Sequencer::new(&symbols, interval)?,
            url,
            symbols,
            cfg,
            socket: None,
            queue: VecDeque::new(),
            delivered: 0,
            messages: 0,
            failures: 0,
            heard: false,
            connected_before: false,
            lost: None,
            last_failure: String::new(),
        })
    }

    /// The combined-stream URL this feed opens.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn done(&self) -> bool {
        self.cfg.max_bars.is_some_and(|m| self.delivered >= m)
    }

    /// Open the connection, retrying with backoff; queues `Reconnected` unless it is the first one.
    fn connect(&mut self) -> Result<()> {
        let mut tries = 0;
        loop {
            if self.failures >= self.cfg.backoff.attempts {
                return Err(Error::Invalid(format!(
                    "binance feed: {}: no working connection after {} attempts in a row (last: {})",
                    self.url, self.failures, self.last_failure
                )));
            }
            std::thread::sleep(self.cfg.backoff.delay(self.failures));
            tries += 1;
            match conn::open(&self.url, self.cfg.connect_timeout, self.cfg.heartbeat_timeout) {
                Ok(socket) => {
                    self.socket = Some(socket);
                    self.heard = false;
                    if self.connected_before {
                        let reason = self.lost.take().unwrap_or_default();
                        self.queue.push_back(FeedEvent::Reconnected { attempt: tries, reason });
                    }
                    self.connected_before = true;
                    return Ok(());
                }
                Err(why) => {
                    self.failures += 1;
                    self.last_failure = why;
                }
            }
        }
    }

    /// The connection is gone; the next call reconnects.
    fn lose(&mut self, reason: String) {
        self.socket = None;
        if !self.heard {
            self.failures += 1;
            self.last_failure = format!("the connection ended before its first message: {reason}");
        }
        self.lost = Some(reason);
    }

    fn on_text(&mut self, text: &str) -> Result<()> {
        self.messages += 1;
        let at = format!("{} message {}", self.url, self.messages);
        let Parsed::Kline(k) = kline::parse(text, &at)? else { return Ok(()) };
        let Some(i) = self.symbols.iter().position(|s| *s == k.symbol) else {
            return Err(Error::parse(
                at,
                format!("a kline of {}, which was not asked for (symbols: {})", k.symbol, self.symbols.join(",")),
            ));
        };
        if k.interval != self.cfg.interval {
            return Err(Error::parse(
                at,
                format!("field `k.i`: expected interval {}, found {}", self.cfg.interval, k.interval),
            ));
        }
        if k.closed {
            self.sequencer.admit(i, k.bar, &mut self.queue)?;
        }
        Ok(())
    }

    /// Read one frame and act on it.
    fn read(&mut self) -> Result<()> {
        let Some(socket) = self.socket.as_mut() else { return Ok(()) };
        let frame = socket.read();
        if frame.is_ok() {
            self.heard = true;
            self.failures = 0;
        }
        match frame {
            Ok(Message::Text(text)) => self.on_text(text.as_str())?,
            Ok(Message::Ping(_)) => {
                // tungstenite queued the pong; send it now rather than with the next read
                if let Err(e) = socket.flush() {
                    self.lose(format!("answering a ping: {e}"));
                }
            }
            Ok(Message::Pong(_) | Message::Frame(_)) => {}
            Ok(Message::Binary(b)) => {
                self.messages += 1;
                return Err(Error::parse(
                    format!("{} message {}", self.url, self.messages),
                    format!("a binary message of {} bytes; the kline stream sends text", b.len()),
                ));
            }
            Ok(Message::Close(frame)) => {
                let why = frame
                    .map_or("no reason given".to_string(), |f| format!("code {}: {}", u16::from(f.code), f.reason));
                self.lose(format!("the server closed the connection ({why})"));
            }
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                let ms = self.cfg.heartbeat_timeout.as_millis();
                self.lose(format!("no message for {ms} ms (heartbeat timeout)"));
            }
            Err(e) => self.lose(format!("connection lost: {e}")),
        }
        Ok(())
    }
}

impl Feed for BinanceFeed {
    fn symbols(&self) -> &[String] {
        &self.symbols
    }

    fn next_event(&mut self) -> Result<Option<FeedEvent>> {
        loop {
            if self.done() {
                if let Some(mut s) = self.socket.take() {
                    // a polite close; the feed is over whatever the server does with it
                    let _ = s.close(None);
                    let _ = s.flush();
                }
                return Ok(None);
            }
            if let Some(event) = self.queue.pop_front() {
                if matches!(event, FeedEvent::Bar { .. }) {
                    self.delivered += 1;
                }
                return Ok(Some(event));
            }
            if self.socket.is_none() {
                self.connect()?;
                continue;
            }
            self.read()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(base: &str, symbols: &[&str], interval: &str) -> BinanceConfig {
        let mut c = BinanceConfig::new(symbols.iter().map(|s| s.to_string()).collect(), interval);
        c.base_url = base.to_string();
        c
    }

    #[test]
    fn the_combined_stream_url_and_config_errors() {
        let f = BinanceFeed::new(cfg("ws://127.0.0.1:9/", &["btcusdt", "ETHUSDT"], "1m")).unwrap();
        assert_eq!(f.url(), "ws://127.0.0.1:9/stream?streams=btcusdt@kline_1m/ethusdt@kline_1m");
        assert_eq!(f.symbols(), ["BTCUSDT", "ETHUSDT"]);
        let err = |c: BinanceConfig| BinanceFeed::new(c).err().expect("an error").to_string();
        assert!(err(cfg("ws://h", &["BTC/USDT"], "1m")).contains("found \"BTC/USDT\""));
        assert!(err(cfg("ws://h", &["BTCUSDT", "btcusdt"], "1m")).contains("BTCUSDT is given twice"));
        assert!(err(cfg("ws://h", &[], "1m")).contains("no symbol"));
        assert!(err(cfg("ws://h", &["BTCUSDT"], "1M")).contains("found \"1M\""));
        assert!(err(cfg("http://h", &["BTCUSDT"], "1m")).contains("expected ws://HOST"));
        assert!(err(cfg("ws://", &["BTCUSDT"], "1m")).contains("expected ws://HOST"));
        let tls = err(cfg(DEFAULT_BASE_URL, &["BTCUSDT"], "1m"));
        assert!(tls.contains("no TLS") && tls.contains("ws://"), "{tls}");
        let mut c = cfg("ws://h", &["BTCUSDT"], "1m");
        c.backoff.attempts = 0;
        assert!(err(c).contains("at least one"));
        assert_eq!(interval_ms("4h").unwrap(), 4 * 3_600_000);
    }
}
