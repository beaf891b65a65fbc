//! `tickgrad stream`: feed a series bar by bar through the streaming engine and time every answer.
//!
//! - `--input SERIES.npy` [T, F]: rows are model inputs already (scaled features); row i of `--out` [T−W+1, k] is
//!   the answer after bar W−1+i.
//! - `--data FILE.csv`: raw bars through incremental features and the checkpoint's feature list and scaler.
//! - `--db URL --symbol S --interval I [--from T] [--to T]` instead of `--data`: the bars of a series in the store.
//! - bars with `--journal`, `--member`, `--metrics-addr` or `--db`: paper trading ([`crate::trade`]): the
//!   members' gated decision, risk limits, fills at the next open, a crash-safe journal that a rerun resumes (the
//!   JSONL `--journal`, or the decisions and fills tables of the `--db` store under --symbol/--interval, one
//!   transaction per bar), and the monitor's metrics as Prometheus text on `--metrics-addr`.
//!
//! - `--bar-interval-ms MS`: bars are delivered at most one per MS (a recorded feed replayed at a live pace).
//! - `--reload-checkpoint`: the checkpoint file is watched and a replacement (written atomically over it) is
//!   swapped in between two bars ([`crate::serve::reload`]); one stderr line per swap or refusal. In trading
//!   mode only `--checkpoint` (member 0) is watched.
//!
//! - `--symbols A,B,…`: several symbols in one process, one engine set per symbol over weights read once
//!   ([`super::stream_symbols`]); with `--feed binance --interval I` their bars come live from the exchange
//!   ([`super::feed_args`]).
//!
//! Diagnostics go to stderr; stdout gets one summary line and, last, `per_bar_us p50=<x> p99=<y> max=<z>`
//! (answered bars only; a bar's time covers features, scaling and the model).

use super::bars::{BarArgs, LoadedBars};
use super::feed_args::FeedArgs;
use crate::data::incremental::Bar;
use crate::data::Bars;
use crate::device::Device;
use crate::io::npy::{read_npy, write_npy};
use crate::models::checkpoint;
use crate::serve::engine::in_file;
use crate::serve::reload::{swap_predictor, CheckpointWatch, RowContract};
use crate::serve::{Engine, Latency, StreamPredictor};
use crate::store::{self, ledger::StoreLedger};
use crate::trade::gate::GateConfig;
use crate::trade::journal::Journal;
use crate::trade::ledger::Ledger;
use crate::trade::metrics_http::{serve, Exposition};
use crate::trade::monitor::MonitorConfig;
use crate::trade::risk::RiskConfig;
use crate::trade::{Trader, TraderConfig};
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["input", "data", "db", "feed"])))]
pub struct StreamArgs {
    /// A checkpoint file, or the directory `run --per-regime` wrote (`OUT/regimes`): then every bar is answered
    /// by its regime's network.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Model inputs [bars, features] as float32 .npy (already scaled).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Raw OHLCV bars (--data FILE.csv, or a series of the --db store): features computed per bar, then the
    /// checkpoint's feature list and scaler. With --db the trader's decisions and fills go to the store too.
    #[command(flatten)]
    pub bars: BarArgs,
    /// Bars per window (default: the checkpoint's training window, else the model's default).
    #[arg(long)]
    pub window: Option<usize>,
    /// Answers [bars − window + 1, k] of --checkpoint as float32 .npy; row i is the answer after bar window − 1 + i.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// cpu, cuda[:N], wgpu[:N], or auto (a CUDA device, else a wgpu adapter that is a real GPU, else the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads of each model's batch-1 recompute (1: the calling thread, no allocation per bar; more: a pool of
    /// its own, products split by rows, a queue block allocated once every 63 bars). The TCN step ignores it.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Watch --checkpoint and swap in a replacement between two bars, without a restart (write it atomically, as
    /// `tickgrad train/finetune --out` do). It must read the same features and answer as wide; one that does not,
    /// or fails to load, is reported on stderr and the running model keeps serving.
    #[arg(long)]
    pub reload_checkpoint: bool,
    /// With --reload-checkpoint: check the file every this many bars (one stat call, outside the timed bar).
    #[arg(long, default_value_t = 1)]
    pub reload_every: usize,
    /// Deliver bar i no earlier than i × this many milliseconds after the start: a recorded feed replayed at a
    /// live feed's pace (0: as fast as the bars are processed). The wait is outside the timed bar.
    #[arg(long, default_value_t = 0.0)]
    pub bar_interval_ms: f64,
    /// When the device fails (a device error from a kernel, an upload or the memory budget), reload the model on
    /// the CPU and continue from the same bar, with one warning on stderr (and, when trading, a count in
    /// `tickgrad_device_fallbacks_total`). Without it the error ends the stream.
    #[arg(long)]
    pub fallback_cpu: bool,
    /// Several symbols side by side in one process: A,B,… (each 1 to 64 letters, digits or `_-./:`). --data then
    /// takes one CSV per symbol (comma-separated, same order), or --db URL --interval I reads each symbol's series;
    /// --out and --journal take one file per symbol the same way. The checkpoints are read once and shared; each
    /// symbol has its own features, warm-up, drift monitor and trader, and its own `symbol="…"` metrics.
    #[arg(long)]
    pub symbols: Option<String>,
    #[command(flatten)]
    pub trade: TradeArgs,
    /// A live feed instead of --data/--db (`--feed binance --symbols A,B --interval 1m`).
    #[command(flatten)]
    pub live: FeedArgs,
}

/// Paper trading and monitoring (with --data). Any of --journal, --member or --metrics-addr turns it on.
#[derive(clap::Args)]
pub struct TradeArgs {
    /// Further ensemble members (checkpoints) beside --checkpoint.
    #[arg(long = "member")]
    pub members: Vec<PathBuf>,
    /// Append-only journal of decisions and fills; an existing one is resumed.
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Serve Prometheus metrics at /metrics here (e.g. 127.0.0.1:9100; port 0 picks one, printed to stderr).
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// Keep serving metrics this many seconds after the last bar.
    #[arg(long, default_value_t = 0.0)]
    pub serve_secs: f64,
    #[arg(long, default_value_t = 10.0)]
    pub fee_bps: f64,
    #[arg(long, default_value_t = 100_000.0)]
    pub cash: f64,
    /// Units held per signal (up = +size, down = −size).
    #[arg(long, default_value_t = 1.0)]
    pub size: f64,
    #[arg(long, default_value_t = 1.0)]
    pub max_position: f64,
    /// Stop trading for good once equity is this far below the starting cash.
    #[arg(long, default_value_t = f64::INFINITY)]
    pub max_loss: f64,
    /// Largest one-bar historical-simulation VaR allowed (currency).
    #[arg(long, default_value_t = f64::INFINITY)]
    pub var_limit: f64,
    #[arg(long, default_value_t = 0.99)]
    pub var_level: f64,
    #[arg(long, default_value_t = 250)]
    pub var_window: usize,
    #[arg(long, default_value_t = 0.5)]
    pub conf_threshold: f32,
    #[arg(long, default_value_t = 0.7)]
    pub agreement: f32,
    /// Hold band of the direction classes, in log-return units.
    #[arg(long, default_value_t = 0.0)]
    pub theta: f64,
    /// Bars until a decision is scored.
    #[arg(long, default_value_t = 1)]
    pub horizon: usize,
    /// Bars in the monitor's rolling windows.
    #[arg(long, default_value_t = 500)]
    pub monitor_window: usize,
    /// Leading bars that are the PSI reference sample, for checkpoints without a stored training reference
    /// (`tickgrad.drift`); ignored otherwise.
    #[arg(long, default_value_t = 500)]
    pub psi_reference: usize,
}

impl TradeArgs {
    pub(crate) fn enabled(&self) -> bool {
        self.journal.is_some() || !self.members.is_empty() || self.metrics_addr.is_some()
    }

    pub(super) fn config(&self) -> TraderConfig {
        TraderConfig {
            gate: GateConfig {
                conf_threshold: self.conf_threshold,
                agreement: self.agreement,
                theta: self.theta,
                ..GateConfig::default()
            },
            risk: RiskConfig {
                max_position: self.max_position,
                max_loss: self.max_loss,
                var_limit: self.var_limit,
                var_level: self.var_level,
                var_window: self.var_window,
            },
            monitor: MonitorConfig {
                window: self.monitor_window,
                psi_reference: self.psi_reference,
                fee_bps: self.fee_bps,
                ..MonitorConfig::default()
            },
            fee_bps: self.fee_bps,
            cash: self.cash,
            size: self.size,
            horizon: self.horizon,
        }
    }
}

/// Paces the bars for --bar-interval-ms: bar i waits until `i × interval` after the first bar.
pub(crate) struct Pacer {
    start: Instant,
    interval: std::time::Duration,
}

impl Pacer {
    pub(crate) fn new(interval_ms: f64) -> Result<Pacer> {
        let interval = std::time::Duration::try_from_secs_f64(interval_ms / 1e3)
            .map_err(|e| Error::config("bar-interval-ms", format!("{interval_ms} is not a duration: {e}")))?;
        Ok(Pacer { start: Instant::now(), interval })
    }

    pub(crate) fn wait(&self, bar: usize) {
        if self.interval.is_zero() {
            return;
        }
        let due = self.start + self.interval.saturating_mul(bar.try_into().unwrap_or(u32::MAX));
        if let Some(left) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
    }
}

/// The watch on --checkpoint, stamped before it is loaded (so a replacement written in between is seen).
fn watch(a: &StreamArgs) -> Result<Option<CheckpointWatch>> {
    a.reload_checkpoint.then(|| CheckpointWatch::new(&a.checkpoint, a.reload_every)).transpose()
}

pub fn run(a: &StreamArgs) -> Result<()> {
    let device = crate::backend::select(&a.device)?;
    a.live.refuse_without_feed()?;
    let regimes = super::stream_regimes::manifest_of(&a.checkpoint);
    if regimes.is_some() && a.symbols.is_some() {
        return Err(Error::config("symbols", "per-regime networks stream one symbol: not with --symbols or --feed"));
    }
    if let Some(list) = &a.symbols {
        return super::stream_symbols::run(a, list, device);
    }
    if a.live.feed.is_some() {
        return Err(Error::config("feed", "a live feed is served per symbol: give --symbols A,B,… too"));
    }
    let has_bars = a.bars.data.is_some() || a.bars.db.is_some();
    if let Some(manifest) = regimes {
        if a.input.is_some() || !has_bars {
            return Err(Error::config(
                "input",
                "per-regime networks need raw bars (--data or --db): the regime comes from them",
            ));
        }
        return super::stream_regimes::run_regimes(a, &manifest, stream_bars(&a.bars)?, device);
    }
    match (&a.input, has_bars) {
        (Some(input), false) if !a.trade.enabled() => run_npy(a, input, device),
        (Some(_), false) => {
            Err(Error::Invalid("stream: trading (--journal/--member/--metrics-addr) needs --data or --db".into()))
        }
        (None, true) if a.trade.enabled() || a.bars.db.is_some() => run_trading(a, stream_bars(&a.bars)?, device),
        (None, true) => run_csv(a, stream_bars(&a.bars)?, device),
        _ => Err(Error::Invalid("stream: give --input, or bars with --data or --db, not both".into())),
    }
}

/// The streamed bars: --data when given (a --db beside it only receives the trading records), else the store's.
fn stream_bars(b: &BarArgs) -> Result<LoadedBars> {
    let loaded = match (&b.data, &b.db) {
        (Some(data), Some(_)) => {
            if b.from.is_some() || b.to.is_some() {
                return Err(Error::config("from", "--from/--to select bars of the store; the bars come from --data"));
            }
            BarArgs { data: Some(data.clone()), ..BarArgs::default() }.load(None)?
        }
        _ => b.load(None)?,
    };
    eprintln!("{}: {} bars; {}", loaded.name, loaded.bars.len(), loaded.gaps);
    Ok(loaded)
}

fn run_npy(a: &StreamArgs, input: &Path, mut device: Device) -> Result<()> {
    let mut watch = watch(a)?;
    let ck = match checkpoint::load(&a.checkpoint, device) {
        Ok(ck) => ck,
        Err(e) => {
            fall_back_or_fail(a.fallback_cpu, device, "loading the checkpoint", e)?;
            device = Device::Cpu;
            checkpoint::load(&a.checkpoint, device)?
        }
    };
    let cfg = ck.model.config();
    let nf = cfg.n_features();
    let contract = RowContract::of(&ck.metadata, nf).map_err(|e| in_file(e, &a.checkpoint))?;
    let x = read_npy(input)?;
    let loc = input.display().to_string();
    let [t, f] = x.shape[..] else {
        return Err(Error::parse(loc, format!("series has shape {:?}; expected [bars, {nf}]", x.shape)));
    };
    if f != nf {
        return Err(Error::parse(loc, format!("series has {f} features per bar; the checkpoint's model expects {nf}")));
    }
    let w = a.window.unwrap_or_else(|| cfg.default_window());
    if t < w {
        return Err(Error::parse(loc, format!("series has {t} bars, fewer than the window of {w}")));
    }
    if let Some(i) = x.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::parse(loc, format!("non-finite value at [{}, {}]", i / f, i % f)));
    }
    let mut p = StreamPredictor::with_threads(Arc::new(ck.model), w, a.threads)?;
    let k = p.output_width();
    let mut y = Vec::with_capacity((t - w + 1) * k);
    let mut lat = Latency::with_capacity(t - w + 1);
    let pacer = Pacer::new(a.bar_interval_ms)?;
    for (i, row) in x.data.chunks_exact(f).enumerate() {
        pacer.wait(i);
        if let Some(w) = &mut watch {
            if let Some(line) = w.between_bars(i as u64, device, |ck| swap_predictor(&mut p, &contract, ck)) {
                eprintln!("{line}");
            }
        }
        let t0 = Instant::now();
        let ans = match p.push(row) {
            Ok(ans) => ans,
            Err(e) => {
                fall_back_or_fail(a.fallback_cpu, device, &format!("bar {i}"), e)?;
                device = Device::Cpu;
                p.fall_back(Arc::new(checkpoint::load(&a.checkpoint, device)?.model))?
            }
        };
        let dt = t0.elapsed();
        if let Some(ans) = ans {
            y.extend_from_slice(ans.values);
            lat.record(dt);
        }
    }
    if let Some(out) = &a.out {
        write_npy(out, &[t - w + 1, k], &y)?;
    }
    summary(&p, t, &lat, watch.as_ref());
    Ok(())
}

fn run_csv(a: &StreamArgs, loaded: LoadedBars, mut device: Device) -> Result<()> {
    let bars = loaded.bars;
    let has_trades = bars.column("trades").is_some();
    let has_taker = bars.column("taker_buy_base_volume").is_some();
    let mut watch = watch(a)?;
    let (mut engine, warnings) = match Engine::load(&a.checkpoint, device, has_trades, has_taker, a.window) {
        Ok(loaded) => loaded,
        Err(e) => {
            fall_back_or_fail(a.fallback_cpu, device, "loading the checkpoint", e)?;
            device = Device::Cpu;
            Engine::load(&a.checkpoint, device, has_trades, has_taker, a.window)?
        }
    };
    engine.set_threads(a.threads)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let w = engine.predictor().window();
    let k = engine.predictor().output_width();
    let n = bars.len();
    if n < w {
        return Err(Error::parse(loaded.name, format!("{n} bars, fewer than the window of {w}")));
    }
    let mut y = Vec::with_capacity((n - w + 1) * k);
    let mut lat = Latency::with_capacity(n - w + 1);
    let pacer = Pacer::new(a.bar_interval_ms)?;
    for i in 0..n {
        pacer.wait(i);
        if let Some(w) = &mut watch {
            if let Some(line) = w.between_bars(i as u64, device, |ck| engine.swap_same_inputs(ck)) {
                eprintln!("{line}");
            }
        }
        let bar = Bar::from_bars(&bars, i);
        let t0 = Instant::now();
        let ans = match engine.push(&bar) {
            Ok(ans) => ans,
            Err(e) => {
                fall_back_or_fail(a.fallback_cpu, device, &format!("bar {i}"), e)?;
                device = Device::Cpu;
                engine.fall_back(checkpoint::load(&a.checkpoint, device)?)?
            }
        };
        let dt = t0.elapsed();
        if let Some(ans) = ans {
            y.extend_from_slice(ans.values);
            lat.record(dt);
        }
    }
    if let Some(out) = &a.out {
        write_npy(out, &[n - w + 1, k], &y)?;
    }
    eprintln!("inputs: {}", engine.inputs().names.join(","));
    summary(engine.predictor(), n, &lat, watch.as_ref());
    Ok(())
}

/// What a failure `at` a point of the stream ("bar 41", "loading the checkpoint") leads to: an error that is not a
/// GPU device's is returned as it is; a device error without --fallback-cpu is returned naming that point; with
/// the flag, one warning on stderr, after which the caller reloads the model on the CPU and goes on.
fn fall_back_or_fail(fallback_cpu: bool, device: Device, at: &str, e: Error) -> Result<()> {
    let why = match e {
        Error::Device(why) if device != Device::Cpu => why,
        other => return Err(other),
    };
    if !fallback_cpu {
        return Err(Error::Device(format!("stream: {at}: {why} (--fallback-cpu continues on the CPU)")));
    }
    eprintln!("warning: stream: {at}: {device} failed ({why}); reloading the model on the CPU and continuing");
    Ok(())
}

/// Engines for --checkpoint and every --member, each with its own feature state, and how many of them moved to the
/// CPU because the device failed while loading them (--fallback-cpu).
fn engines(a: &StreamArgs, bars: &Bars, device: Device) -> Result<(Vec<Engine>, u64)> {
    let has_trades = bars.column("trades").is_some();
    let has_taker = bars.column("taker_buy_base_volume").is_some();
    let mut fallbacks = 0;
    let engines = std::iter::once(&a.checkpoint)
        .chain(&a.trade.members)
        .map(|path| {
            let (mut e, warnings) = match Engine::load(path, device, has_trades, has_taker, a.window) {
                Ok(loaded) => loaded,
                Err(e) => {
                    fall_back_or_fail(a.fallback_cpu, device, &format!("loading {}", path.display()), e)?;
                    fallbacks += 1;
                    Engine::load(path, Device::Cpu, has_trades, has_taker, a.window)?
                }
            };
            e.set_threads(a.threads)?;
            for w in warnings {
                eprintln!("warning: {}: {w}", path.display());
            }
            Ok(e)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((engines, fallbacks))
}

fn run_trading(a: &StreamArgs, loaded: LoadedBars, device: Device) -> Result<()> {
    let bars = loaded.bars;
    let t = &a.trade;
    let mut watch = watch(a)?;
    let ledger = match (&t.journal, a.bars.store_series()?) {
        (Some(_), Some(_)) => {
            return Err(Error::config("journal", "the trading records go to --journal FILE or --db URL, not both"))
        }
        (None, Some((url, key))) => {
            let (ledger, records) = StoreLedger::open(store::open(&url, true)?, key)?;
            Some((Box::new(ledger) as Box<dyn Ledger>, records))
        }
        (Some(path), None) => {
            let (j, records, warnings) = Journal::open(path)?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            Some((Box::new(j) as Box<dyn Ledger>, records))
        }
        (None, None) => None,
    };
    let (engines, load_fallbacks) = engines(a, &bars, device)?;
    let mut devices: Vec<Device> = engines.iter().map(|e| e.predictor().model().device()).collect();
    let (mut trader, warnings) = Trader::with_ledger(engines, t.config(), ledger)?;
    // Decisions carry the model's name, by which `tickgrad monitor --model` reads them back.
    trader.set_model_name(super::monitor::model_name(std::iter::once(&a.checkpoint).chain(&t.members)));
    for w in warnings {
        eprintln!("warning: {w}");
    }
    for _ in 0..load_fallbacks {
        trader.note_device_fallback();
    }
    let (fallback_cpu, paths) =
        (a.fallback_cpu, std::iter::once(&a.checkpoint).chain(&t.members).cloned().collect::<Vec<_>>());
    trader.set_device_fallback(Box::new(move |i, e| {
        fall_back_or_fail(fallback_cpu, devices[i], &format!("member {i} ({})", paths[i].display()), e)?;
        devices[i] = Device::Cpu;
        checkpoint::load(&paths[i], Device::Cpu)
    }));
    let exposition = Exposition::default();
    // A scrape before the first bar gets the zero counters, not an empty page.
    exposition.set(trader.monitor().prometheus());
    if let Some(addr) = &t.metrics_addr {
        let bound = serve(addr, exposition.clone())?;
        eprintln!("metrics listening on {bound}");
    }
    let mut lat = Latency::with_capacity(bars.len());
    let (mut decisions, mut degraded) = (0usize, false);
    let pacer = Pacer::new(a.bar_interval_ms)?;
    for i in 0..bars.len() {
        pacer.wait(i);
        if let Some(w) = &mut watch {
            // Member 0's device now: the CPU once it has fallen back.
            let device = trader.engines().first().map_or(device, |e| e.predictor().model().device());
            if let Some(line) = w.between_bars(i as u64, device, |ck| trader.swap_member(0, ck)) {
                eprintln!("{line}");
            }
        }
        let bar = Bar::from_bars(&bars, i);
        let t0 = Instant::now();
        let report = trader.on_bar(&bar)?;
        let dt = t0.elapsed();
        if report.decision.is_some() {
            lat.record(dt);
            decisions += 1;
        }
        trader.on_latency(dt.as_secs_f64() * 1e6);
        if trader.monitor().degraded() != degraded {
            degraded = !degraded;
            eprintln!(
                "alert: bar {i} (timestamp {}): model {}",
                bar.timestamp,
                if degraded { "degraded" } else { "recovered" }
            );
        }
        if t.metrics_addr.is_some() {
            exposition.set(trader.monitor().prometheus());
        }
    }
    if t.serve_secs > 0.0 && t.metrics_addr.is_some() {
        std::thread::sleep(std::time::Duration::from_secs_f64(t.serve_secs));
    }
    let m = trader.monitor();
    println!(
        "members={} bars={} decisions={decisions} position={} equity={:.2} accuracy={:.4} sharpe_per_bar={:.4} ece={:.4} degraded={}",
        trader.engines().len(),
        bars.len(),
        trader.broker().position,
        m.equity,
        m.accuracy(),
        m.sharpe(),
        m.ece(),
        m.degraded()
    );
    if let Some(w) = &watch {
        println!("{}", reload_counts(w));
    }
    println!("{}", lat.line());
    Ok(())
}

fn reload_counts(w: &CheckpointWatch) -> String {
    format!("reloads swapped={} refused={}", w.swaps(), w.rejected())
}

/// The summary lines; `model` and `mode` are those of the model serving at the end.
fn summary(p: &StreamPredictor, bars: usize, lat: &Latency, watch: Option<&CheckpointWatch>) {
    println!(
        "model={} mode={} window={} threads={} bars={bars} answers={}",
        p.model().config().kind(),
        if p.is_incremental() { "step" } else { "recompute" },
        p.window(),
        p.threads(),
        lat.len()
    );
    if let Some(w) = watch {
        println!("{}", reload_counts(w));
    }
    println!("{}", lat.line());
}
