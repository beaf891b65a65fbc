//! `tickgrad stream --symbols A,B,…`: several symbols side by side in one process ([`crate::feed::runner`]).
//!
//! - Bars: `--data a.csv,b.csv` (one file per symbol, in the `--symbols` order), or `--db URL --interval I
//!   [--from T] [--to T]` (each symbol's series of that interval), replayed interleaved by open time
//!   ([`ReplayFeed`]); gaps are reported per symbol and never filled.
//! - Weights: `--checkpoint` and every `--member` are read once; each symbol's engines share them and keep their
//!   own feature state, warm-up, drift monitor and trader (risk, broker, gate history).
//! - Per-symbol files: `--out` and `--journal` take one path per symbol, comma-separated, in the same order; a
//!   journal is one symbol's ledger, so a rerun resumes each symbol from its own file. With `--db` each symbol's
//!   decisions and fills go to its own series' rows (symbol + `--interval`).
//! - Metrics: every sample on `--metrics-addr` carries `symbol="…"`.
//! - Live: `--feed binance --interval I [--url URL] [--max-bars N]` instead of --data/--db: the exchange's closed
//!   klines ([`crate::feed::binance`]); gaps, dropped bars and reconnects are reported on stderr like a replay's.
//!
//! Stdout: one line per symbol (`symbol=A …`, the single-symbol summary's fields), then `weights checkpoints=C
//! file_loads=L engines_per_checkpoint=N,…` (how often checkpoint files were read in this run and how many engines
//! hold each one's weights), then `per_bar_us …` over every answered bar of every symbol.

use super::bars::{BarArgs, LoadedBars};
use super::feed_args::FeedKind;
use super::stream::{Pacer, StreamArgs};
use crate::device::Device;
use crate::feed::binance::BinanceFeed;
use crate::feed::replay::{ReplayFeed, ReplaySeries};
use crate::feed::runner::{Lane, Runner, Serving, SharedCheckpoint};
use crate::feed::{check_distinct, interval_ms, Feed, FeedEvent};
use crate::io::npy::write_npy;
use crate::models::checkpoint;
use crate::store::{self, ledger::StoreLedger, SeriesKey};
use crate::trade::journal::Journal;
use crate::trade::ledger::Ledger;
use crate::trade::metrics_http::{serve, Exposition};
use crate::trade::Trader;
use crate::{Error, Result};
use std::path::PathBuf;

/// The comma-separated `--symbols` list, each a checked name, none repeated.
pub fn parse_symbols(list: &str) -> Result<Vec<String>> {
    let symbols: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
    for s in &symbols {
        store::check_name("symbols", s)?;
    }
    check_distinct(&symbols)?;
    Ok(symbols)
}

/// A per-symbol path flag (`--data`, `--out`, `--journal`) split at its commas: exactly one path per symbol.
fn per_symbol(flag: &str, value: Option<&PathBuf>, symbols: &[String]) -> Result<Option<Vec<PathBuf>>> {
    let Some(value) = value else { return Ok(None) };
    let text = value.to_str().ok_or_else(|| Error::config(flag, "is not valid UTF-8"))?;
    let paths: Vec<PathBuf> = text.split(',').map(|p| PathBuf::from(p.trim())).collect();
    if paths.len() != symbols.len() || paths.iter().any(|p| p.as_os_str().is_empty()) {
        return Err(Error::config(
            flag,
            format!(
                "expected {} comma-separated paths, one per symbol of --symbols {} (same order), found {} (`{text}`)",
                symbols.len(),
                symbols.join(","),
                paths.iter().filter(|p| !p.as_os_str().is_empty()).count()
            ),
        ));
    }
    Ok(Some(paths))
}

/// The flags of the single-series stream that have no multi-symbol meaning here, refused by name.
fn refuse_single_series_flags(a: &StreamArgs) -> Result<()> {
    let refused = [
        (a.input.is_some(), "input", "streams raw bars (--data or --db), not model inputs"),
        (a.bars.symbol.is_some(), "symbol", "names one series; give it or --symbols A,B,…, not both"),
        (a.reload_checkpoint, "reload-checkpoint", "is not supported with --symbols yet"),
        (a.fallback_cpu, "fallback-cpu", "is not supported with --symbols yet"),
    ];
    match refused.iter().find(|(bad, _, _)| *bad) {
        Some((_, flag, why)) => Err(Error::config(*flag, *why)),
        None => Ok(()),
    }
}

/// `--feed binance`: the live feed of `symbols`; the flags that choose replayed bars are refused by name.
fn live_feed(a: &StreamArgs, symbols: &[String]) -> Result<BinanceFeed> {
    let b = &a.bars;
    let refused = [
        (b.data.is_some(), "data", "replays files; --feed streams live bars: give one of them"),
        (b.db.is_some(), "db", "is not supported with --feed yet (the bars come from the feed)"),
        (b.from.is_some() || b.to.is_some(), "from", "selects stored bars; a live feed starts now"),
        (a.bar_interval_ms > 0.0, "bar-interval-ms", "paces a replay; a live feed has its own pace"),
    ];
    if let Some((_, flag, why)) = refused.iter().find(|(bad, _, _)| *bad) {
        return Err(Error::config(*flag, *why));
    }
    a.live.binance(symbols, b.interval.as_deref())
}

/// Each symbol's bars and the interval its gaps are measured by.
fn load_series(a: &StreamArgs, symbols: &[String]) -> Result<Vec<(LoadedBars, i64)>> {
    let b = &a.bars;
    let data = per_symbol("data", b.data.as_ref(), symbols)?;
    if b.db.is_none() {
        let stray = [("interval", &b.interval), ("from", &b.from), ("to", &b.to)];
        if let Some((name, _)) = stray.iter().find(|(_, v)| v.is_some()) {
            return Err(Error::config(*name, "selects bars in a store: give --db URL too"));
        }
    } else if b.interval.is_none() {
        return Err(Error::config(
            "interval",
            "--db with --symbols reads each symbol's series of one interval: give it",
        ));
    }
    let loaded = match data {
        Some(files) => {
            if b.from.is_some() || b.to.is_some() {
                return Err(Error::config("from", "--from/--to select bars of the store; the bars come from --data"));
            }
            let load = |f: &PathBuf| BarArgs { data: Some(f.clone()), ..BarArgs::default() }.load(None);
            files.iter().map(load).collect::<Result<Vec<_>>>()?
        }
        None => symbols
            .iter()
            .map(|s| BarArgs { data: None, symbol: Some(s.clone()), ..b.clone() }.load(None))
            .collect::<Result<Vec<_>>>()?,
    };
    let named = b.interval.as_deref().filter(|_| b.data.is_none()).and_then(interval_ms);
    Ok(loaded
        .into_iter()
        .map(|l| {
            eprintln!("{}: {} bars; {}", l.name, l.bars.len(), l.gaps);
            let interval = named.unwrap_or(l.gaps.typical_interval_ms);
            (l, interval)
        })
        .collect())
}

/// Print each distinct warning once (every symbol's engine over one checkpoint gives the same ones).
fn warn_once(seen: &mut Vec<String>, warnings: Vec<String>) {
    for w in warnings {
        if !seen.contains(&w) {
            eprintln!("warning: {w}");
            seen.push(w);
        }
    }
}

/// A symbol's ledger and the records it already holds (replayed on resume).
type OpenedLedger = (Box<dyn Ledger>, Vec<crate::trade::journal::Record>);

/// The ledger of symbol `symbol` (its journal file, or its rows in the store), with the records to replay.
fn ledger(a: &StreamArgs, journal: Option<&PathBuf>, symbol: &str) -> Result<Option<OpenedLedger>> {
    match (journal, &a.bars.db, &a.bars.interval) {
        (Some(_), Some(_), _) => {
            Err(Error::config("journal", "the trading records go to --journal FILES or --db URL, not both"))
        }
        (Some(path), None, _) => {
            let (j, records, warnings) = Journal::open(path)?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            Ok(Some((Box::new(j) as Box<dyn Ledger>, records)))
        }
        (None, Some(url), Some(interval)) => {
            let (l, records) = StoreLedger::open(store::open(url, true)?, SeriesKey::new(symbol, interval)?)?;
            Ok(Some((Box::new(l) as Box<dyn Ledger>, records)))
        }
        _ => Ok(None),
    }
}

/// `stream --symbols` (module docs).
pub fn run(a: &StreamArgs, list: &str, device: Device) -> Result<()> {
    let loads_before = checkpoint::files_loaded();
    let symbols = parse_symbols(list)?;
    refuse_single_series_flags(a)?;
    let outs = per_symbol("out", a.out.as_ref(), &symbols)?;
    let journals = per_symbol("journal", a.trade.journal.as_ref(), &symbols)?;
    let trading = a.trade.enabled() || a.bars.db.is_some();
    if trading && outs.is_some() {
        return Err(Error::config(
            "out",
            "writes the answers of a stream without trading; the decisions go to the journal",
        ));
    }
    // the feed's spelling of the symbols (Binance's upper case) names the lanes
    let (symbols, live) = match a.live.feed {
        Some(FeedKind::Binance) => {
            let feed = live_feed(a, &symbols)?;
            (feed.symbols().to_vec(), Some(feed))
        }
        None => (symbols, None),
    };
    let series = if live.is_some() { Vec::new() } else { load_series(a, &symbols)? };
    let paths: Vec<PathBuf> = std::iter::once(&a.checkpoint).chain(&a.trade.members).cloned().collect();
    let shared = paths.iter().map(|p| SharedCheckpoint::load(p, device)).collect::<Result<Vec<_>>>()?;
    let mut seen = Vec::new();
    let mut lanes = Vec::with_capacity(symbols.len());
    for (i, symbol) in symbols.iter().enumerate() {
        // a live kline carries the trade count and taker-buy volume; a file or series may not
        let loaded = series.get(i).map(|(l, _)| l);
        let (trades, taker) = loaded.map_or((true, true), |l| {
            (l.bars.column("trades").is_some(), l.bars.column("taker_buy_base_volume").is_some())
        });
        let serving = if trading {
            let mut engines = Vec::with_capacity(shared.len());
            for ck in &shared {
                let (e, w) = ck.engine(trades, taker, a.window, a.threads)?;
                warn_once(&mut seen, w);
                engines.push(e);
            }
            let ledger = ledger(a, journals.as_ref().map(|j| &j[i]), symbol)?;
            let (mut t, warnings) = Trader::with_ledger(engines, a.trade.config(), ledger)?;
            for w in warnings {
                eprintln!("warning: {symbol}: {w}");
            }
            t.set_symbol(symbol);
            // The same model name a single-symbol stream writes, by which `tickgrad monitor --model` reads it back.
            t.set_model_name(super::monitor::model_name(std::iter::once(&a.checkpoint).chain(&a.trade.members)));
            Serving::Trade(Box::new(t))
        } else {
            let (engine, w) = shared[0].engine(trades, taker, a.window, a.threads)?;
            warn_once(&mut seen, w);
            let window = engine.predictor().window();
            if let Some(loaded) = loaded.filter(|l| l.bars.len() < window) {
                let n = loaded.bars.len();
                return Err(Error::parse(&loaded.name, format!("{n} bars, fewer than the window of {window}")));
            }
            Serving::Predict { engine: Box::new(engine), answers: Vec::new() }
        };
        lanes.push(Lane::new(symbol, serving));
    }
    let mut runner = Runner::new(lanes)?;
    if let (true, Some(addr)) = (trading, &a.trade.metrics_addr) {
        let exposition = Exposition::default();
        runner.publish_to(exposition.clone());
        let bound = serve(addr, exposition)?;
        eprintln!("metrics listening on {bound}");
    }
    let replay = series
        .into_iter()
        .zip(&symbols)
        .map(|((l, interval_ms), s)| ReplaySeries { symbol: s.clone(), bars: l.bars, interval_ms })
        .collect();
    match live {
        Some(mut feed) => {
            eprintln!("feed: {}", feed.url());
            runner.run(&mut feed)?
        }
        None => {
            let mut feed = Paced { inner: ReplayFeed::new(replay)?, pacer: Pacer::new(a.bar_interval_ms)?, bars: 0 };
            runner.run(&mut feed)?
        }
    }
    if trading && a.trade.serve_secs > 0.0 && a.trade.metrics_addr.is_some() {
        std::thread::sleep(std::time::Duration::from_secs_f64(a.trade.serve_secs));
    }
    let weights = format!(
        "weights checkpoints={} file_loads={} engines_per_checkpoint={}",
        shared.len(),
        checkpoint::files_loaded() - loads_before,
        shared.iter().map(|s| s.engines_sharing().to_string()).collect::<Vec<_>>().join(",")
    );
    let latency = runner.latency().line();
    for (i, lane) in runner.into_lanes().into_iter().enumerate() {
        println!("{}", summary(&lane, outs.as_ref().map(|o| &o[i]))?);
    }
    println!("{weights}");
    println!("{latency}");
    Ok(())
}

/// The stdout line of one symbol; a predicting lane's answers are written to its `--out` file first.
fn summary(lane: &Lane, out: Option<&PathBuf>) -> Result<String> {
    let symbol = &lane.symbol;
    Ok(match &lane.serving {
        Serving::Predict { engine, answers } => {
            let p = engine.predictor();
            let k = p.output_width();
            if let Some(out) = out {
                write_npy(out, &[answers.len() / k, k], answers)?;
            }
            format!(
                "symbol={symbol} model={} mode={} window={} threads={} bars={} answers={}",
                p.model().config().kind(),
                if p.is_incremental() { "step" } else { "recompute" },
                p.window(),
                p.threads(),
                lane.bars,
                lane.answered
            )
        }
        Serving::Trade(t) => {
            let m = t.monitor();
            format!(
                "symbol={symbol} members={} bars={} decisions={} position={} equity={:.2} accuracy={:.4} sharpe_per_bar={:.4} ece={:.4} degraded={}",
                t.engines().len(),
                lane.bars,
                lane.answered,
                t.broker().position,
                m.equity,
                m.accuracy(),
                m.sharpe(),
                m.ece(),
                m.degraded()
            )
        }
    })
}

/// A feed whose bars are delivered no faster than `--bar-interval-ms` (bar i of all symbols together waits until
/// i × the interval after the start); the other events pass at once.
struct Paced<F: Feed> {
    inner: F,
    pacer: Pacer,
    bars: usize,
}

impl<F: Feed> Feed for Paced<F> {
    fn symbols(&self) -> &[String] {
        self.inner.symbols()
    }

    fn next_event(&mut self) -> Result<Option<FeedEvent>> {
        let e = self.inner.next_event()?;
        if let Some(FeedEvent::Bar { .. }) = e {
            self.pacer.wait(self.bars);
            self.bars += 1;
        }
        Ok(e)
    }
}
