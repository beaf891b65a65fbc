//! Many symbols in one process: the events of one [`Feed`] routed to one lane per symbol. A lane owns everything
//! that is per symbol (its [`Engine`]s' incremental features, warm-up and predictor buffers; or its [`Trader`]
//! with gate, risk, broker, drift monitor and ledger), while the model weights are loaded once per checkpoint file
//! ([`SharedCheckpoint`]) and shared by every lane's engine through an `Arc`.
//!
//! The runner does not know where bars come from: a replay of files or store series ([`super::replay`]) and a live
//! exchange feed drive it the same way, which is what lets a live session be checked against a replay of the same
//! bars.

use super::{DropReason, Feed, FeedEvent};
use crate::data::incremental::{Bar, BarReject};
use crate::device::Device;
use crate::models::{checkpoint, Model};
use crate::serve::engine::in_file;
use crate::serve::{Engine, Latency};
use crate::trade::metrics_http::Exposition;
use crate::trade::trader::worth_printing;
use crate::trade::{by_symbol, Trader};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// A checkpoint file read once: its model behind an `Arc` that every symbol's engine clones, and its metadata.
pub struct SharedCheckpoint {
    pub path: PathBuf,
    pub model: Arc<Model>,
    pub metadata: BTreeMap<String, String>,
}

impl SharedCheckpoint {
    /// Read `path` onto `device`.
    pub fn load(path: &Path, device: Device) -> Result<SharedCheckpoint> {
        let ck = checkpoint::load(path, device)?;
        Ok(SharedCheckpoint { path: path.to_path_buf(), model: Arc::new(ck.model), metadata: ck.metadata })
    }

    /// A new engine over these weights with a state of its own (one symbol's bars); warnings are returned to print.
    pub fn engine(
        &self,
        has_trades: bool,
        has_taker: bool,
        window: Option<usize>,
        threads: usize,
    ) -> Result<(Engine, Vec<String>)> {
        let (mut e, warnings) = Engine::with_model(self.model.clone(), &self.metadata, has_trades, has_taker, window)
            .map_err(|e| in_file(e, &self.path))?;
        e.set_threads(threads)?;
        Ok((e, warnings))
    }

    /// Engines holding these weights now (the `Arc`'s other owners).
    pub fn engines_sharing(&self) -> usize {
        Arc::strong_count(&self.model) - 1
    }
}

/// What a lane does with its symbol's bars.
pub enum Serving {
    /// Answers only (`stream --data` without trading): every answer row is kept for `--out`.
    Predict { engine: Box<Engine>, answers: Vec<f32> },
    /// Paper trading (`--journal`, `--member`, `--metrics-addr` or `--db`).
    Trade(Box<Trader>),
}

/// One symbol's state and counts.
pub struct Lane {
    pub symbol: String,
    pub serving: Serving,
    /// Bars delivered to this lane.
    pub bars: usize,
    /// Bars answered (predict) or decided on (trade).
    pub answered: usize,
    /// Bars the feed said were missing (sum of its gaps' `missing`).
    pub missing: u64,
    /// Gap events the feed reported.
    pub gaps: u64,
    /// Bars the feed dropped (repeated or older open times).
    pub dropped: u64,
    degraded: bool,
}

impl Lane {
    pub fn new(symbol: &str, serving: Serving) -> Lane {
        Lane {
            symbol: symbol.to_string(),
            serving,
            bars: 0,
            answered: 0,
            missing: 0,
            gaps: 0,
            dropped: 0,
            degraded: false,
        }
    }
}

/// Routes a feed's events to the lanes of their symbols (module docs).
pub struct Runner {
    lanes: Vec<Lane>,
    latency: Latency,
    metrics: Option<Exposition>,
}

impl Runner {
    /// Lanes in the feed's symbol order; a symbol given twice is an error naming it.
    pub fn new(lanes: Vec<Lane>) -> Result<Runner> {
        let symbols: Vec<String> = lanes.iter().map(|l| l.symbol.clone()).collect();
        super::check_distinct(&symbols)?;
        Ok(Runner { lanes, latency: Latency::default(), metrics: None })
    }

    /// Publish the merged per-symbol metrics (`symbol="…"` labels, [`by_symbol`]) to `e` now and after every bar.
    pub fn publish_to(&mut self, e: Exposition) {
        e.set(self.prometheus());
        self.metrics = Some(e);
    }

    pub fn lanes(&self) -> &[Lane] {
        &self.lanes
    }

    /// Per-bar latency of every answered bar of every lane.
    pub fn latency(&self) -> &Latency {
        &self.latency
    }

    /// Every trading lane's monitor as one exposition, each sample labelled with its symbol.
    pub fn prometheus(&self) -> String {
        let parts: Vec<(&str, String)> = self
            .lanes
            .iter()
            .filter_map(|l| match &l.serving {
                Serving::Trade(t) => Some((l.symbol.as_str(), t.monitor().prometheus())),
                Serving::Predict { .. } => None,
            })
            .collect();
        by_symbol::merge(&parts)
    }

    /// Every event of `feed` until it ends. The feed must deliver exactly the lanes' symbols.
    pub fn run(&mut self, feed: &mut dyn Feed) -> Result<()> {
        let lanes: Vec<&str> = self.lanes.iter().map(|l| l.symbol.as_str()).collect();
        if feed.symbols() != lanes.as_slice() {
            return Err(Error::Invalid(format!(
                "the feed delivers symbols {:?}, the lanes serve {lanes:?}",
                feed.symbols()
            )));
        }
        while let Some(event) = feed.next_event()? {
            self.on_event(event)?;
        }
        Ok(())
    }

    fn lane(&mut self, symbol: &str) -> Result<&mut Lane> {
        self.lanes
            .iter_mut()
            .find(|l| l.symbol == symbol)
            .ok_or_else(|| Error::Invalid(format!("the feed delivered `{symbol}`, which no lane serves")))
    }

    /// One event: a bar goes through its symbol's lane; gaps, drops and reconnects are reported on stderr (the
    /// first ten of each per symbol, then the 100th, 1000th, …) and counted, never turned into bars.
    pub fn on_event(&mut self, event: FeedEvent) -> Result<()> {
        match event {
            FeedEvent::Bar { symbol, bar } => self.on_bar(&symbol, &bar),
            FeedEvent::Gap { symbol, last, next, missing } => {
                let lane = self.lane(&symbol)?;
                lane.gaps += 1;
                lane.missing += missing;
                if worth_printing(lane.gaps) {
                    eprintln!(
                        "feed: {symbol}: {missing} bar(s) missing between {last} and {next}; not filled [{} gaps so far]",
                        lane.gaps
                    );
                }
                Ok(())
            }
            FeedEvent::Dropped { symbol, timestamp, last, why } => {
                let lane = self.lane(&symbol)?;
                lane.dropped += 1;
                if let Serving::Trade(t) = &mut lane.serving {
                    t.note_rejected(match why {
                        DropReason::Duplicate => BarReject::Duplicate,
                        DropReason::OutOfOrder => BarReject::OutOfOrder,
                    });
                }
                if worth_printing(lane.dropped) {
                    eprintln!(
                        "feed: {symbol}: dropped the bar at {timestamp} ({why:?}; last delivered {last}) [{} so far]",
                        lane.dropped
                    );
                }
                self.publish();
                Ok(())
            }
            FeedEvent::Reconnected { attempt, reason } => {
                eprintln!("feed: reconnected after {attempt} tries ({reason})");
                Ok(())
            }
        }
    }

    fn on_bar(&mut self, symbol: &str, bar: &Bar) -> Result<()> {
        let lane = self.lane(symbol)?;
        lane.bars += 1;
        let t0 = Instant::now();
        let answered = match &mut lane.serving {
            Serving::Predict { engine, answers } => {
                let answer =
                    engine.push(bar).map_err(|e| Error::Invalid(format!("{symbol}: bar at {}: {e}", bar.timestamp)))?;
                answer.map(|a| answers.extend_from_slice(a.values)).is_some()
            }
            Serving::Trade(t) => {
                let report = t.on_bar(bar)?;
                let dt = t0.elapsed();
                t.on_latency(dt.as_secs_f64() * 1e6);
                if t.monitor().degraded() != lane.degraded {
                    lane.degraded = !lane.degraded;
                    eprintln!(
                        "alert: {symbol}: bar {} (timestamp {}): model {}",
                        lane.bars - 1,
                        bar.timestamp,
                        if lane.degraded { "degraded" } else { "recovered" }
                    );
                }
                report.decision.is_some()
            }
        };
        let dt = t0.elapsed();
        if answered {
            lane.answered += 1;
            self.latency.record(dt);
        }
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        if let Some(e) = &self.metrics {
            e.set(self.prometheus());
        }
    }

    /// The lanes, for their final state (answers to write, traders to summarise).
    pub fn into_lanes(self) -> Vec<Lane> {
        self.lanes
    }
}
