//! The per-epoch bookkeeping the three training loops share (supervised training, masked pretraining and
//! meta-training): the running totals of an epoch, the progress events they send, the epoch's statistics, and
//! patience counted from the last improvement. Each loop keeps its own batches, best weights and stopping rule
//! around these, so a change to what an epoch reports is made once.

use super::trainer::{EpochStats, Event};
use std::time::Instant;

/// The running totals of one epoch since it started.
pub(crate) struct EpochProgress {
    epoch: usize,
    epochs: usize,
    start: Instant,
    /// The training loss summed over `seen` windows (tasks, in meta-training).
    sum: f64,
    seen: usize,
    /// Windows processed: what the throughput counts.
    windows: usize,
}

impl EpochProgress {
    /// Epoch `epoch` (1-based) of `epochs`, starting now.
    pub(crate) fn start(epoch: usize, epochs: usize) -> Self {
        EpochProgress { epoch, epochs, start: Instant::now(), sum: 0.0, seen: 0, windows: 0 }
    }

    /// Adds a loss summed over `seen` more windows (or tasks), `windows` of them processed.
    pub(crate) fn add(&mut self, loss_sum: f64, seen: usize, windows: usize) {
        self.sum += loss_sum;
        self.seen += seen;
        self.windows += windows;
    }

    /// The progress event after batch (or step) `done` of `total`: the mean loss so far and the throughput.
    pub(crate) fn batch_event(&self, done: usize, total: usize) -> Event<'static> {
        Event::Batch {
            epoch: self.epoch,
            epochs: self.epochs,
            done,
            total,
            mean_loss: self.sum / self.seen as f64,
            windows_per_s: self.windows as f64 / self.start.elapsed().as_secs_f64().max(1e-9),
        }
    }

    /// Seconds spent so far: taken when training ends, before validating, for the epoch's throughput.
    pub(crate) fn train_secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64().max(1e-9)
    }

    /// Ends the epoch: its statistics (throughput over `train_secs`, wall time up to now) pushed onto `history` and
    /// reported; returns whether `val_loss` beats `best_val_loss`.
    pub(crate) fn finish(
        &self,
        train_secs: f64,
        val_loss: f64,
        best_val_loss: f64,
        history: &mut Vec<EpochStats>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> bool {
        let stats = EpochStats {
            epoch: self.epoch,
            train_loss: self.sum / self.seen as f64,
            val_loss,
            windows_per_s: self.windows as f64 / train_secs,
            seconds: self.start.elapsed().as_secs_f64(),
        };
        let improved = val_loss < best_val_loss;
        history.push(stats.clone());
        on_event(Event::Epoch { stats: &stats, epochs: self.epochs, improved });
        improved
    }
}

/// Epochs since the validation loss last improved, for a loop that stops when `patience` of them pass before the
/// last epoch (masked pretraining and meta-training; supervised training counts per curriculum stage).
pub(crate) struct Patience {
    patience: usize,
    epochs: usize,
    since_best: usize,
}

impl Patience {
    pub(crate) fn new(patience: usize, epochs: usize) -> Self {
        Patience { patience, epochs, since_best: 0 }
    }

    /// Counts epoch `epoch`; true when patience has run out and epochs remain (stop early).
    pub(crate) fn ran_out(&mut self, improved: bool, epoch: usize) -> bool {
        self.since_best = if improved { 0 } else { self.since_best + 1 };
        !improved && self.since_best >= self.patience && epoch < self.epochs
    }
}
