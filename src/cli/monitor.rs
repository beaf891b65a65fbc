//! `tickgrad monitor`: the live stream's monitor, recomputed from the store alone (the original design's monitor:
//! it reads what `stream --db` wrote, so it runs in another process, on another machine, or after the stream).
//!
//! It reads a series' decisions (optionally one model's, optionally the newest N), the series' bars, and its
//! fills and halts, and replays them through the same [`Monitor`] the stream feeds, bar by bar as the trader does
//! ([`crate::trade::Trader`]): a decision's top class and combined probability are scored once `--horizon` further
//! decisions have been made, against the realised direction `ln(close_then / close_at_decision)` with hold band
//! `--theta`; every bar adds the return of the position the last decision targeted (in units of `--size`, minus
//! `--fee-bps` on each change). With the stream's values of those flags (their defaults are the stream's), the
//! numbers are the ones the stream's own monitor reported at its end.
//!
//! What the store cannot tell it: bars the stream refused (a non-positive price, high below low: rare in an
//! imported series) are counted here like any other bar; feature drift (PSI) needs the model inputs, so it is not
//! reported; decisions written before the store had `top_class` (schema version 1) are counted but not scored.

use crate::data::labels::direction_of;
use crate::data::Bars;
use crate::store::{self, MarketStore, SeriesKey, TimeRange};
use crate::trade::journal::Record;
use crate::trade::monitor::{Monitor, MonitorConfig};
use crate::{Error, Result};
use std::collections::VecDeque;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line of decision counts, one of metrics (the stream's summary fields).
    Text,
    /// Prometheus text exposition: the monitor's gauges and counters, and the store's decision counts.
    Prometheus,
    /// One JSON object.
    Json,
}

#[derive(clap::Args)]
pub struct MonitorArgs {
    /// sqlite:PATH or postgres://USER@HOST:PORT/DATABASE: the store `stream --db` writes to.
    #[arg(long)]
    pub db: String,
    #[arg(long)]
    pub symbol: String,
    #[arg(long)]
    pub interval: String,
    /// Only this model's decisions (the stream names its model by its checkpoints' file names, `a+b` for an
    /// ensemble of a.safetensors and b.safetensors).
    #[arg(long)]
    pub model: Option<String>,
    /// Only the newest N decisions (and the bars from the first of them on); default: every decision, and every
    /// bar of the series from its first (as a stream over the whole series saw them).
    #[arg(long)]
    pub last: Option<usize>,
    /// Bars in the rolling windows (the stream's --monitor-window).
    #[arg(long, default_value_t = 500)]
    pub window: usize,
    /// Decisions until one is scored (the stream's --horizon).
    #[arg(long, default_value_t = 1)]
    pub horizon: usize,
    /// Hold band of the direction classes, in log-return units (the stream's --theta).
    #[arg(long, default_value_t = 0.0)]
    pub theta: f64,
    /// Fee charged on each position change in the Sharpe returns (the stream's --fee-bps).
    #[arg(long, default_value_t = 10.0)]
    pub fee_bps: f64,
    /// Units held per signal (the stream's --size): positions are scored in these units.
    #[arg(long, default_value_t = 1.0)]
    pub size: f64,
    /// Starting cash (the stream's --cash): the equity while no fill is stored.
    #[arg(long, default_value_t = 100_000.0)]
    pub cash: f64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The model name `stream` writes with its decisions: the checkpoints' file stems, joined by `+`.
pub fn model_name<'a>(checkpoints: impl IntoIterator<Item = &'a PathBuf>) -> String {
    let stem = |p: &PathBuf| p.file_stem().map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().into());
    checkpoints.into_iter().map(stem).collect::<Vec<_>>().join("+")
}

/// Decisions by gated class, and what else the store holds for the series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub decisions: usize,
    /// Up, down, hold.
    pub by_class: [usize; 3],
    /// Decisions whose target a risk limit cut.
    pub limited: usize,
    /// Decisions without a stored top class (written before schema version 2): counted, never scored.
    pub unscorable: usize,
    pub scored: u64,
    pub fills: usize,
    pub halts: usize,
}

/// The replayed monitor and the counts beside it.
pub struct Replay {
    pub monitor: Monitor,
    pub counts: Counts,
    pub bars: usize,
}

/// One decision as the monitor needs it.
struct Stored {
    ts: i64,
    class: u32,
    target: f64,
    limited: bool,
    top: Option<(u32, f64)>,
}

fn stored(r: &Record) -> Option<Stored> {
    match r {
        Record::Decision { timestamp, class, target, limit, top_class, top_prob, .. } => Some(Stored {
            ts: *timestamp,
            class: *class,
            target: *target,
            limited: limit.is_some(),
            top: top_class.zip(*top_prob),
        }),
        _ => None,
    }
}

pub fn run(a: &MonitorArgs) -> Result<()> {
    if a.horizon == 0 {
        return Err(Error::config("horizon", "must be at least 1 decision"));
    }
    if a.window == 0 {
        return Err(Error::config("window", "must be at least 1 bar"));
    }
    if a.last == Some(0) {
        return Err(Error::config("last", "must be at least 1 decision"));
    }
    let key = SeriesKey::new(&a.symbol, &a.interval)?;
    let mut s = store::open(&a.db, false)?;
    let r = replay(s.as_mut(), &key, a)?;
    if r.counts.unscorable > 0 {
        eprintln!(
            "warning: {} decisions have no stored top class (written before schema version 2): counted, not scored",
            r.counts.unscorable
        );
    }
    let name = format!("{} {key}", s.describe());
    let out = match a.format {
        Format::Text => text(&name, a.model.as_deref(), &r),
        Format::Prometheus => prometheus(&r),
        Format::Json => json(&name, &key, a, &r)?,
    };
    print!("{out}");
    Ok(())
}

/// Read the series' decisions, bars, fills and halts and feed the monitor as the trader fed it.
pub fn replay(s: &mut dyn MarketStore, key: &SeriesKey, a: &MonitorArgs) -> Result<Replay> {
    let decisions: Vec<Stored> = s.decisions(key, a.model.as_deref(), a.last)?.iter().filter_map(stored).collect();
    let Some(first) = decisions.first() else { return Err(no_decisions(s, key, a.model.as_deref())?) };
    let range = if a.last.is_some() { TimeRange { from: Some(first.ts), to: None } } else { TimeRange::ALL };
    let bars = s.bars(key, range)?;
    let records = s.records(key, TimeRange::ALL)?;
    let cfg = MonitorConfig { window: a.window, fee_bps: a.fee_bps, ..MonitorConfig::default() };
    let mut monitor = Monitor::new(cfg, Vec::new());
    let mut counts = Counts::default();
    feed(&mut monitor, &mut counts, &bars, &decisions, a, &format!("{} {key}", s.describe()))?;
    let mut last_fill = None;
    for r in &records {
        match r {
            Record::Fill { position, cash, .. } => {
                counts.fills += 1;
                last_fill = Some((*position, *cash));
            }
            Record::Halt { .. } => counts.halts += 1,
            Record::Decision { .. } => {}
        }
    }
    let (position, cash) = last_fill.unwrap_or((0.0, a.cash));
    monitor.position = position;
    monitor.equity = bars.close.last().map_or(f64::NAN, |c| cash + position * c);
    Ok(Replay { monitor, counts, bars: bars.len() })
}

/// The bars through the monitor, each decision at its bar; a decision whose bar is not stored is an error.
fn feed(m: &mut Monitor, counts: &mut Counts, bars: &Bars, ds: &[Stored], a: &MonitorArgs, name: &str) -> Result<()> {
    let mut next = ds.iter().peekable();
    let mut pending: VecDeque<(f64, Option<(u32, f64)>)> = VecDeque::with_capacity(a.horizon + 1);
    let mut position = 0.0;
    let size = if a.size > 0.0 { a.size } else { 1.0 };
    for (&ts, &close) in bars.timestamp.iter().zip(&bars.close) {
        if let Some(d) = next.peek() {
            if d.ts < ts {
                return Err(missing_bar(name, d.ts));
            }
        }
        if let Some(d) = next.next_if(|d| d.ts == ts) {
            counts.decisions += 1;
            counts.by_class[d.class.min(2) as usize] += 1;
            counts.limited += usize::from(d.limited);
            counts.unscorable += usize::from(d.top.is_none());
            pending.push_back((close, d.top));
            position = d.target;
        }
        if pending.len() > a.horizon {
            if let Some((c0, top)) = pending.pop_front() {
                let truth = direction_of((close / c0).ln(), a.theta);
                if let (Some((class, prob)), Some(truth)) = (top, truth) {
                    m.on_scored(prob as f32, class == u32::from(truth));
                    counts.scored += 1;
                }
            }
        }
        m.on_bar(close, position / size, &[]);
    }
    match next.next() {
        Some(d) => Err(missing_bar(name, d.ts)),
        None => Ok(()),
    }
}

fn missing_bar(name: &str, ts: i64) -> Error {
    Error::Invalid(format!(
        "{name}: a decision at {ts} ({} UTC) has no bar in the series; import the bars the stream read \
         (`tickgrad db import`) so its decisions can be scored",
        crate::eval::fmt_utc(ts)
    ))
}

/// Why there is nothing to monitor: no store contents, no such series, or no decisions (of that model).
fn no_decisions(s: &mut dyn MarketStore, key: &SeriesKey, model: Option<&str>) -> Result<Error> {
    let name = format!("{} {key}", s.describe());
    let series = s.series()?;
    if series.is_empty() && s.decisions(key, None, Some(1))?.is_empty() {
        return Ok(Error::Invalid(format!("{name}: the store is empty (no series, no decisions)")));
    }
    let all = s.decisions(key, None, None)?;
    if all.is_empty() {
        let held: Vec<String> = series.iter().map(|i| i.to_string()).collect();
        return Ok(Error::Invalid(if series.iter().any(|i| &i.key == key) {
            format!("{name}: no decisions stored (`tickgrad stream --db` writes them)")
        } else {
            let held = if held.is_empty() { "no bars".to_string() } else { held.join("; ") };
            format!("{name}: no such series; the store holds {held}")
        }));
    }
    let mut models: Vec<String> = all
        .iter()
        .filter_map(|r| match r {
            Record::Decision { model, .. } => Some(model.clone().unwrap_or_else(|| "(unnamed)".into())),
            _ => None,
        })
        .collect();
    models.sort();
    models.dedup();
    Ok(Error::config(
        "model",
        format!(
            "{name}: no decisions of model `{}`; the series has decisions of {}",
            model.unwrap_or(""),
            models.join(", ")
        ),
    ))
}

fn f4(v: f64) -> String {
    format!("{v:.4}")
}

/// The text report: counts, then the metrics in the stream's summary format.
pub fn text(name: &str, model: Option<&str>, r: &Replay) -> String {
    let (c, m) = (&r.counts, &r.monitor);
    let mut s = name.to_string();
    if let Some(model) = model {
        let _ = write!(s, " model {model}");
    }
    let _ = writeln!(
        s,
        ": bars={} decisions={} up={} down={} hold={} limited={} scored={} fills={} halts={}",
        r.bars, c.decisions, c.by_class[0], c.by_class[1], c.by_class[2], c.limited, c.scored, c.fills, c.halts
    );
    let _ = writeln!(
        s,
        "position={} equity={:.2} accuracy={} sharpe_per_bar={} ece={} degraded={}",
        m.position,
        m.equity,
        f4(m.accuracy()),
        f4(m.sharpe()),
        f4(m.ece()),
        m.degraded()
    );
    s
}

/// The monitor's exposition with the store's counts appended.
pub fn prometheus(r: &Replay) -> String {
    let c = &r.counts;
    let mut s = r.monitor.prometheus();
    let _ = writeln!(s, "# HELP tickgrad_decisions_total Stored decisions, by the gate's class.");
    let _ = writeln!(s, "# TYPE tickgrad_decisions_total counter");
    for (class, n) in ["up", "down", "hold"].iter().zip(c.by_class) {
        let _ = writeln!(s, "tickgrad_decisions_total{{class=\"{class}\"}} {n}");
    }
    let _ = writeln!(s, "# HELP tickgrad_limited_decisions_total Decisions whose target a risk limit cut.");
    let _ =
        writeln!(s, "# TYPE tickgrad_limited_decisions_total counter\ntickgrad_limited_decisions_total {}", c.limited);
    let _ = writeln!(s, "# HELP tickgrad_fills_total Stored fills.\n# TYPE tickgrad_fills_total counter");
    let _ = writeln!(s, "tickgrad_fills_total {}", c.fills);
    let _ = writeln!(s, "# HELP tickgrad_halts_total Stored trading halts.\n# TYPE tickgrad_halts_total counter");
    let _ = writeln!(s, "tickgrad_halts_total {}", c.halts);
    s
}

/// One JSON object (NaN metrics as null).
pub fn json(name: &str, key: &SeriesKey, a: &MonitorArgs, r: &Replay) -> Result<String> {
    let (c, m) = (&r.counts, &r.monitor);
    let v = serde_json::json!({
        "store": name,
        "symbol": key.symbol,
        "interval": key.interval,
        "model": a.model,
        "bars": r.bars,
        "decisions": {
            "total": c.decisions,
            "up": c.by_class[0],
            "down": c.by_class[1],
            "hold": c.by_class[2],
            "limited": c.limited,
            "unscorable": c.unscorable,
        },
        "scored": c.scored,
        "fills": c.fills,
        "halts": c.halts,
        "accuracy": m.accuracy(),
        "sharpe_per_bar": m.sharpe(),
        "ece": m.ece(),
        "degraded": m.degraded(),
        "position": m.position,
        "equity": m.equity,
        "window": a.window,
        "horizon": a.horizon,
    });
    let mut s = serde_json::to_string_pretty(&v).map_err(|e| Error::Invalid(format!("monitor: JSON: {e}")))?;
    s.push('\n');
    Ok(s)
}
