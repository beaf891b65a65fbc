//! The serving loop around the models: per bar, fill yesterday's order at today's open, run every member's
//! engine, score decisions whose horizon has passed, gate the members, apply the risk limits, journal the
//! decision, queue the order, and update the monitor.
//!
//! Restart: the journal holds every fill and decision. A restarted trader replays them into the broker (position,
//! cash, pending order) and the risk state (halt), then is fed the bars again from the start: bars already
//! journaled only rebuild the models', gate's and monitor's state (all deterministic in the bars), and trading
//! resumes with the first bar past the journal. A bar's open phase (its fill) counts as done when any record is
//! at or after it, its close phase (its decision) when a decision is, so a crash between the two is handled.
//!
//! No trade without a journal: a journal append that fails (a full disk, an I/O error, a failed fsync) is returned
//! by [`Trader::on_bar`] as an error naming the journal, before the order of that bar is placed, and every later
//! bar is refused with an error too; `tickgrad stream` exits on it. A fill that the broker made but could not
//! journal is replayed on the restart (its decision is in the journal), so the restarted stream ends where an
//! uninterrupted one would.
//!
//! Bad bars, as a live feed may deliver them, each by a stated rule ([`Trader::on_bar`]):
//!
//! | bar | rule | `tickgrad_rejected_bars_total{reason}` |
//! |---|---|---|
//! | a NaN or infinite price, volume, `trades` or taker volume | refused | `non_finite` |
//! | a price <= 0 | refused | `non_positive_price` |
//! | volume < 0 | refused | `negative_volume` |
//! | high < low | refused | `high_below_low` |
//! | open or close outside [low, high] | refused | `outside_range` |
//! | the previous bar's timestamp again | refused | `duplicate` |
//! | a timestamp before the previous bar's | refused | `out_of_order` |
//! | `trades`/taker volume missing, or given to a stream built without them | refused | `fields` |
//! | models' outputs not finite (the bar itself was good) | features kept, no decision, position held | `non_finite_prediction` |
//! | a gap: more than 1.5× the smallest step seen so far | accepted, features run on as over a batch file's gaps | `tickgrad_bar_gaps_total` |
//!
//! A refused bar reaches nothing: no fill at its open, no model, no decision, no journal line, no monitor update;
//! the stream goes on as if it had never come (a later good bar is judged against the last accepted one). Each is
//! reported on stderr (the first ten of each kind, then the 100th, 1000th, …) and counted.

use super::broker::PaperBroker;
use super::gate::{Decision, Gate, GateConfig, MemberKind};
use super::journal::{Journal, Record};
use super::ledger::Ledger;
use super::monitor::{Monitor, MonitorConfig, NON_FINITE_PREDICTION};
use super::risk::{Risk, RiskConfig};
use crate::data::incremental::{Bar, BarReject};
use crate::device::Device;
use crate::eval::classification::class_to_position;
use crate::models::checkpoint::Checkpoint;
use crate::serve::engine::{Engine, DRIFT_KEY};
use crate::{Error, Result};
use std::collections::VecDeque;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct TraderConfig {
    pub gate: GateConfig,
    pub risk: RiskConfig,
    pub monitor: MonitorConfig,
    pub fee_bps: f64,
    pub cash: f64,
    /// Units held per unit of signal (up = +size, down = −size).
    pub size: f64,
    /// Bars until a decision is scored (the label horizon).
    pub horizon: usize,
}

/// What one bar did.
#[derive(Debug, Clone, PartialEq)]
pub struct BarReport {
    pub decision: Option<Decision>,
    pub target: Option<f64>,
    /// Whether this bar traded live (false while replaying bars already in the journal, or for a refused bar).
    pub live: bool,
    /// Why the bar was refused (nothing else happened on it).
    pub rejected: Option<BarReject>,
}

pub struct Trader {
    engines: Vec<Engine>,
    gate: Gate,
    risk: Risk,
    broker: PaperBroker,
    monitor: Monitor,
    journal: Option<Box<dyn Ledger>>,
    cfg: TraderConfig,
    last_record: i64,
    last_decision: i64,
    /// Journaled targets by bar, for replaying the monitor's position exactly.
    journaled: std::collections::HashMap<i64, f64>,
    /// (close, member outputs, top-class probability, top class) of bars awaiting their horizon.
    pending: VecDeque<(f64, Vec<Vec<f32>>, f32, usize)>,
    position_signal: f64,
    /// The first member's scaled model inputs on the current bar (the monitor's drift input).
    raw: Vec<f64>,
    /// The smallest step between accepted bars so far: the feed's interval, against which gaps are found.
    min_step: Option<i64>,
    /// What a member whose push fails turns to (see [`Trader::set_device_fallback`]).
    fallback: Option<DeviceFallback>,
    /// `"SYMBOL: "` before this trader's stderr reports when one process trades several symbols; empty otherwise.
    label: String,
    /// The served checkpoints' name, written with every decision ([`Trader::set_model_name`]).
    model_name: Option<String>,
}

/// Given a member's index and the error of its push, the checkpoint it continues with (the same file on the CPU),
/// or the error that ends the stream.
pub type DeviceFallback = Box<dyn FnMut(usize, Error) -> Result<Checkpoint> + Send>;

/// Where the gate's combiner runs: the members' device when they all share one, else (a member fell back to the
/// CPU, or there are none) the CPU.
fn members_device(engines: &[Engine]) -> Device {
    let mut devices = engines.iter().map(|e| e.predictor().model().device());
    match devices.next() {
        Some(first) if devices.all(|d| d == first) => first,
        _ => Device::Cpu,
    }
}

impl Trader {
    /// Members' engines in order; the journal (if any) is opened and replayed. Returns warnings to print.
    pub fn new(engines: Vec<Engine>, cfg: TraderConfig, journal: Option<&Path>) -> Result<(Trader, Vec<String>)> {
        let (ledger, mut warnings) = match journal {
            Some(path) => {
                let (j, records, w) = Journal::open(path)?;
                (Some((Box::new(j) as Box<dyn Ledger>, records)), w)
            }
            None => (None, Vec::new()),
        };
        let (t, w) = Trader::with_ledger(engines, cfg, ledger)?;
        warnings.extend(w);
        Ok((t, warnings))
    }

    /// Members' engines in order, and a ledger already opened with the records it holds, which are replayed.
    pub fn with_ledger(
        engines: Vec<Engine>,
        cfg: TraderConfig,
        ledger: Option<(Box<dyn Ledger>, Vec<Record>)>,
    ) -> Result<(Trader, Vec<String>)> {
        let kinds =
            engines.iter().map(|e| MemberKind::of(&e.predictor().model().config())).collect::<Result<Vec<_>>>()?;
        if cfg.horizon == 0 {
            return Err(Error::config("horizon", "must be at least 1 bar"));
        }
        let device = members_device(&engines);
        let mut warnings = Vec::new();
        let monitor = match engines.first() {
            Some(e) => match e.drift() {
                Some(reference) => Monitor::with_reference(cfg.monitor.clone(), reference),
                None => {
                    warnings.push(format!(
                        "the first member's checkpoint has no `{DRIFT_KEY}` (written before training references were \
                         stored): feature PSI is measured against the first {} bars of this stream",
                        cfg.monitor.psi_reference.max(10)
                    ));
                    Monitor::new(cfg.monitor.clone(), e.inputs().names.clone())
                }
            },
            None => Monitor::new(cfg.monitor.clone(), Vec::new()),
        };
        let mut t = Trader {
            gate: Gate::new(cfg.gate.clone(), kinds, device)?,
            risk: Risk::new(cfg.risk.clone(), cfg.cash),
            broker: PaperBroker::new(cfg.cash, cfg.fee_bps),
            monitor,
            journal: None,
            last_record: i64::MIN,
            last_decision: i64::MIN,
            journaled: Default::default(),
            pending: VecDeque::with_capacity(cfg.horizon + 1),
            position_signal: 0.0,
            raw: Vec::new(),
            min_step: None,
            fallback: None,
            label: String::new(),
            model_name: None,
            engines,
            cfg,
        };
        if let Some((ledger, records)) = ledger {
            for r in &records {
                t.broker.replay(r);
                match r {
                    Record::Halt { .. } => t.risk.halt(),
                    Record::Decision { timestamp, target, .. } => {
                        t.last_decision = *timestamp;
                        t.journaled.insert(*timestamp, *target);
                    }
                    Record::Fill { .. } => {}
                }
                t.last_record = t.last_record.max(r.timestamp());
            }
            if !records.is_empty() {
                warnings.push(format!(
                    "{}: resuming after {} journal records (position {}, cash {})",
                    ledger.describe(),
                    records.len(),
                    t.broker.position,
                    t.broker.cash
                ));
            }
            t.journal = Some(ledger);
        }
        Ok((t, warnings))
    }

    /// Name the served model in every decision record from now on (`tickgrad stream`: the checkpoints' file
    /// names), so a store that several models' streams fill can be read back by model (`tickgrad monitor --model`).
    pub fn set_model_name(&mut self, name: impl Into<String>) {
        self.model_name = Some(name.into());
    }

    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    pub fn broker(&self) -> &PaperBroker {
        &self.broker
    }

    pub fn engines(&self) -> &[Engine] {
        &self.engines
    }

    /// Serve `ck` as member `i` from the next bar on (a checkpoint reloaded while trading). It must read the same
    /// inputs ([`Engine::swap_same_inputs`]) and be the same kind of member for the gate (3-class or regression);
    /// the gate keeps the member's hit history. For member 0, a stored training reference becomes the monitor's
    /// PSI reference (the live window is re-binned); without one the monitor keeps its reference.
    pub fn swap_member(&mut self, i: usize, ck: Checkpoint) -> Result<Vec<String>> {
        let n = self.engines.len();
        let e = self
            .engines
            .get_mut(i)
            .ok_or_else(|| Error::Invalid(format!("swap_member: member {i} of {n} does not exist")))?;
        let (old, new) = (MemberKind::of(&e.predictor().model().config())?, MemberKind::of(&ck.model.config())?);
        if old != new {
            return Err(Error::Invalid(format!(
                "the new checkpoint is a {new:?} member for the gate, the running one {old:?}"
            )));
        }
        let warnings = e.swap_same_inputs(ck)?;
        if i == 0 {
            if let Some(d) = e.drift() {
                self.monitor.set_reference(d)?;
            }
        }
        Ok(warnings)
    }

    fn append(&mut self, r: Record) -> Result<()> {
        if let Some(j) = &mut self.journal {
            j.append(&r)?;
        }
        Ok(())
    }

    /// On a member's failed push, ask `f` for the checkpoint to continue with (the CLI's `--fallback-cpu`: the
    /// same file on the CPU after a device error) and answer the bar with it; each counts in
    /// `tickgrad_device_fallbacks_total`. Without it the error ends `on_bar`.
    pub fn set_device_fallback(&mut self, f: DeviceFallback) {
        self.fallback = Some(f);
    }

    /// Name the symbol this trader serves in its stderr reports (`stream --symbols`: several traders share stderr).
    pub fn set_symbol(&mut self, symbol: &str) {
        self.label = format!("{symbol}: ");
    }

    /// A bar the feed dropped before it reached this trader (a repeated or older open time): counted in
    /// `tickgrad_rejected_bars_total` under the reason the trader itself would have refused it for.
    pub fn note_rejected(&mut self, why: BarReject) {
        self.monitor.on_rejected(why.reason());
    }

    /// A member that moved to the CPU before the stream began (its device failed while loading), for the count.
    pub fn note_device_fallback(&mut self) {
        self.monitor.on_device_fallback();
    }

    /// One bar as the feed delivers it. A bad bar (module docs) is refused before anything sees it: the report says
    /// why, stderr and `tickgrad_rejected_bars_total` record it, and no order fills or is placed on it.
    pub fn on_bar(&mut self, bar: &Bar) -> Result<BarReport> {
        if let Some(j) = &self.journal {
            if let Some(why) = j.failure() {
                return Err(Error::io(j.describe(), format!("trading stopped: a journal append failed ({why})")));
            }
        }
        let report = self.on_bar_records(bar);
        if let Some(j) = &mut self.journal {
            match &report {
                Ok(_) => j.end_bar()?,
                Err(_) => j.abort_bar(),
            }
        }
        report
    }

    /// [`Trader::on_bar`] up to making its records durable.
    fn on_bar_records(&mut self, bar: &Bar) -> Result<BarReport> {
        let ts = bar.timestamp;
        let mut report = BarReport { decision: None, target: None, live: false, rejected: None };
        if let Some(e) = self.engines.first() {
            if let Err((why, message)) = e.validate(bar) {
                self.monitor.on_rejected(why.reason());
                let n = self.monitor.rejected(why.reason());
                if worth_printing(n) {
                    eprintln!("stream: {}rejected {message} [{}, {n} so far]", self.label, why.reason());
                }
                report.rejected = Some(why);
                return Ok(report);
            }
            if let Some(prev) = e.last_timestamp() {
                let step = ts - prev;
                if self.min_step.is_some_and(|m| step > m.saturating_add(m / 2)) {
                    self.monitor.on_gap();
                    let n = self.monitor.gaps();
                    if worth_printing(n) {
                        eprintln!(
                            "stream: {}bar at {ts} follows a gap ({step} ms after the previous bar, the usual interval is {} ms); accepted [{n} gaps so far]",
                            self.label,
                            self.min_step.unwrap_or(step)
                        );
                    }
                }
                self.min_step = Some(self.min_step.map_or(step, |m| m.min(step)));
            }
        }
        if ts > self.last_record {
            if let Some(fill) = self.broker.on_open(ts, bar.open) {
                self.append(fill)?;
            }
        }
        let mut outputs: Vec<Vec<f32>> = Vec::with_capacity(self.engines.len());
        for (i, e) in self.engines.iter_mut().enumerate() {
            let answer = match (e.push(bar), self.fallback.as_mut()) {
                (Ok(a), _) => a,
                (Err(err), None) => return Err(err),
                (Err(err), Some(fall_back)) => {
                    let ck = fall_back(i, err)?;
                    self.monitor.on_device_fallback();
                    e.fall_back(ck)?
                }
            };
            if let Some(a) = answer {
                outputs.push(a.values.to_vec());
            }
        }
        self.risk.on_close(bar.close);
        if let Some(e) = self.engines.first() {
            self.raw.clear();
            self.raw.extend(e.last_inputs_scaled());
        }
        let live = ts > self.last_decision;
        report.live = live;
        if outputs.iter().flatten().any(|v| !v.is_finite()) {
            self.monitor.on_rejected(NON_FINITE_PREDICTION);
            let n = self.monitor.rejected(NON_FINITE_PREDICTION);
            if worth_printing(n) {
                eprintln!(
                    "stream: {}bar at {ts}: a model output is not finite; no decision, the position is held [{n} so far]",
                    self.label
                );
            }
            outputs.clear();
        }
        if !outputs.is_empty() && outputs.len() == self.engines.len() {
            // A member that fell back to the CPU takes the combiner with it.
            self.gate.set_device(members_device(&self.engines));
            let d = self.gate.decide(&outputs.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
            let top = (0..3).fold(0, |b, i| if d.combined[i] > d.combined[b] { i } else { b });
            self.pending.push_back((bar.close, outputs, d.combined[top], top));
            let signal = class_to_position(d.class)? * self.cfg.size;
            let equity = self.broker.equity(bar.close);
            if live {
                let checked = self.risk.check(signal, bar.close, equity);
                if checked.halted_now {
                    let reason = format!("max loss: equity {equity} is {} below the start", self.cfg.cash - equity);
                    self.append(Record::Halt { timestamp: ts, reason })?;
                }
                self.append(Record::Decision {
                    timestamp: ts,
                    class: d.class as u32,
                    confidence: d.confidence as f64,
                    signal,
                    target: checked.target,
                    limit: checked.limit,
                    model: self.model_name.clone(),
                    top_class: Some(top as u32),
                    top_prob: Some(f64::from(d.combined[top])),
                })?;
                self.broker.submit(checked.target);
                self.position_signal = checked.target;
                report.target = Some(checked.target);
            } else if let Some(&target) = self.journaled.get(&ts) {
                self.position_signal = target;
            }
            report.decision = Some(d);
        }
        if self.pending.len() > self.cfg.horizon {
            if let Some((c0, outs, conf, top)) = self.pending.pop_front() {
                let realised = (bar.close / c0).ln();
                self.gate.score(&outs, realised)?;
                if let Some(truth) = crate::data::labels::direction_of(realised, self.cfg.gate.theta) {
                    self.monitor.on_scored(conf, top == truth as usize);
                }
            }
        }
        let size = if self.cfg.size > 0.0 { self.cfg.size } else { 1.0 };
        self.monitor.on_bar(bar.close, self.position_signal / size, &self.raw);
        self.monitor.position = self.broker.position;
        self.monitor.equity = self.broker.equity(bar.close);
        Ok(report)
    }

    /// Record one bar's latency in the monitor.
    pub fn on_latency(&mut self, us: f64) {
        self.monitor.on_latency(us);
    }
}

/// Stderr reports of refused bars and gaps: the first ten of each kind, then the 100th, 1000th, … (a daily feed
/// has a gap every weekend; the counters have every one).
pub(crate) fn worth_printing(n: u64) -> bool {
    let mut m = n;
    while m >= 10 && m.is_multiple_of(10) {
        m /= 10;
    }
    n <= 10 || m == 1
}
