//! Learning-rate schedules (`--lr-schedule constant|cosine|plateau [--warmup N]`), PyTorch's formulas so a run
//! can be compared with a torch one:
//!
//! - warmup (any schedule, `N` optimizer steps): update `t < N` uses `lr·(t+1)/(N+1)`, which is `LinearLR` with
//!   `start_factor = 1/(N+1)`, `end_factor = 1`, `total_iters = N`; the first update is small but not zero (a
//!   zero step would be wasted) and update `N` is the first at the full rate.
//! - `cosine`: after the warmup, `CosineAnnealingLR(T_max = total − N, eta_min = 0)`: update `t ≥ N` uses
//!   `lr·(1 + cos(π·(t − N)/(total − N)))/2`, where `total` is every update the run would make if it did not stop
//!   early (epochs × batches, with a curriculum's smaller early epochs counted as they are). The floor is 0; the
//!   last update still has a small positive rate. Together: `SequentialLR([LinearLR, CosineAnnealingLR],
//!   milestones=[N])`.
//! - `plateau`: `ReduceLROnPlateau(mode='min', factor=0.5, patience=0, threshold=1e-4, threshold_mode='rel',
//!   cooldown=0, min_lr=0, eps=1e-8)` stepped with each epoch's validation loss: every epoch whose loss is not
//!   below `best·(1 − 1e-4)` halves the rate. Patience 0 because early stopping (patience 2–3 here) would end the
//!   run before a longer plateau patience ran out; the halving then gets the epochs before the stop.
//!   Within the warmup the two factors multiply.
//!
//! The rate is host arithmetic per step: it reaches the fused Adam kernel through `AdamStep`'s host-side scalars,
//! so a schedule adds no device work and no read back. Its state is a function of the step count and the
//! validation history, both already in a resume state, so a resumed run replays it ([`Plateau::replay`]).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    #[default]
    Constant,
    Cosine,
    Plateau,
}

impl LrSchedule {
    pub fn parse(s: &str) -> Result<LrSchedule> {
        match s {
            "constant" => Ok(LrSchedule::Constant),
            "cosine" => Ok(LrSchedule::Cosine),
            "plateau" => Ok(LrSchedule::Plateau),
            other => Err(Error::config(
                "lr-schedule",
                format!("unknown schedule {other:?}, expected constant, cosine or plateau"),
            )),
        }
    }

    pub fn is_constant(&self) -> bool {
        *self == LrSchedule::Constant
    }
}

/// `LinearLR(start_factor = 1/(warmup+1), total_iters = warmup)`'s factor at update `step` (0-based).
pub fn warmup_factor(step: u64, warmup: usize) -> f64 {
    let n = warmup as u64;
    if step >= n {
        1.0
    } else {
        (step + 1) as f64 / (n + 1) as f64
    }
}

/// `CosineAnnealingLR(T_max = total − warmup, eta_min = 0)`'s factor at update `step` (counted from the start of
/// the run, so the cosine starts at the end of the warmup); 1 during the warmup and 0 past `total`.
pub fn cosine_factor(step: u64, warmup: usize, total: u64) -> f64 {
    let n = warmup as u64;
    if step < n {
        return 1.0;
    }
    let span = total.saturating_sub(n).max(1);
    let t = (step - n).min(span) as f64;
    0.5 * (1.0 + (std::f64::consts::PI * t / span as f64).cos())
}

/// `ReduceLROnPlateau`'s state for a minimised metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plateau {
    pub best: f64,
    pub bad_epochs: usize,
    /// Product of every reduction so far (the rate is `lr · factor`).
    pub factor: f64,
}

/// Halving per stalled epoch, and the other constants of the module docs.
pub const PLATEAU_FACTOR: f64 = 0.5;
pub const PLATEAU_PATIENCE: usize = 0;
pub const PLATEAU_THRESHOLD: f64 = 1e-4;
const PLATEAU_EPS: f64 = 1e-8;

impl Default for Plateau {
    fn default() -> Self {
        Plateau { best: f64::INFINITY, bad_epochs: 0, factor: 1.0 }
    }
}

impl Plateau {
    /// One epoch's validation loss (PyTorch's `step(metrics)`); `base_lr` only decides, as `eps` does in torch,
    /// whether a reduction is still large enough to apply. NaN is never better, so it counts as a stalled epoch.
    pub fn step(&mut self, metric: f64, base_lr: f64) {
        if metric < self.best * (1.0 - PLATEAU_THRESHOLD) {
            self.best = metric;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.bad_epochs > PLATEAU_PATIENCE {
            let (old, new) = (base_lr * self.factor, base_lr * self.factor * PLATEAU_FACTOR);
            if old - new > PLATEAU_EPS {
                self.factor *= PLATEAU_FACTOR;
            }
            self.bad_epochs = 0;
        }
    }

    /// The state after the validation losses `history` (a resumed run's epochs so far).
    pub fn replay(history: impl IntoIterator<Item = f64>, base_lr: f64) -> Plateau {
        let mut p = Plateau::default();
        for v in history {
            p.step(v, base_lr);
        }
        p
    }
}

/// The rate of every update of one run: the base rate, the schedule, and what it has seen so far.
#[derive(Debug, Clone)]
pub struct LrPlan {
    pub base: f64,
    pub schedule: LrSchedule,
    pub warmup: usize,
    /// Updates of the whole run if it does not stop early (the cosine's length).
    pub total_steps: u64,
    pub plateau: Plateau,
}

impl LrPlan {
    /// The rate of update `step` (0-based over the run).
    pub fn lr(&self, step: u64) -> f64 {
        let w = warmup_factor(step, self.warmup);
        match self.schedule {
            LrSchedule::Constant => self.base * w,
            LrSchedule::Cosine => self.base * w * cosine_factor(step, self.warmup, self.total_steps),
            LrSchedule::Plateau => self.base * w * self.plateau.factor,
        }
    }

    /// After an epoch: the plateau schedule reads its validation loss; the others ignore it.
    pub fn end_epoch(&mut self, val_loss: f64) {
        if self.schedule == LrSchedule::Plateau {
            self.plateau.step(val_loss, self.base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(schedule: LrSchedule, warmup: usize, total: u64) -> LrPlan {
        LrPlan { base: 0.1, schedule, warmup, total_steps: total, plateau: Plateau::default() }
    }

    /// LinearLR(start_factor=1/4, total_iters=3) on lr 0.1: torch gives 0.025, 0.05, 0.075, then 0.1 onwards
    /// (factor start + (1 − start)·min(t, 3)/3, written out by hand from torch's closed form).
    #[test]
    fn warmup_is_torch_linear_lr() {
        let p = plan(LrSchedule::Constant, 3, 100);
        let got: Vec<f64> = (0..6).map(|t| p.lr(t)).collect();
        let want = [0.025, 0.05, 0.075, 0.1, 0.1, 0.1];
        for (t, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-15, "step {t}: {g} vs {w}");
        }
        let start = 1.0 / 4.0;
        for t in 0..3u64 {
            let torch = 0.1 * (start + (1.0 - start) * t as f64 / 3.0);
            assert!((p.lr(t) - torch).abs() < 1e-15);
        }
    }

    /// CosineAnnealingLR(T_max=4, eta_min=0) on lr 0.1 after 2 warmup steps: eta_min + (lr − eta_min)·(1 +
    /// cos(π·t/4))/2 for t = 0..4 is 0.1, 0.0853553390593, 0.05, 0.0146446609407, 0.
    #[test]
    fn cosine_is_torch_cosine_annealing_after_warmup() {
        let p = plan(LrSchedule::Cosine, 2, 6);
        let want = [0.1 / 3.0, 0.2 / 3.0, 0.1, 0.085_355_339_059_327_37, 0.05, 0.014_644_660_940_672_63, 0.0];
        for (t, w) in want.iter().enumerate() {
            let g = p.lr(t as u64);
            assert!((g - w).abs() < 1e-12, "step {t}: {g} vs {w}");
        }
        // Past the planned total it stays at the floor instead of rising again.
        assert_eq!(p.lr(9), 0.0);
        // Without warmup it starts at the full rate.
        assert_eq!(plan(LrSchedule::Cosine, 0, 10).lr(0), 0.1);
    }

    /// ReduceLROnPlateau(factor=0.5, patience=0, threshold=1e-4 rel): metrics 1.0, 0.9, 0.89995 (not 1e-4
    /// better than 0.9: stalls), 0.8, 0.8 (stalls), NaN (stalls) give factors 1, 1, .5, .5, .25, .125.
    #[test]
    fn plateau_is_torch_reduce_on_plateau() {
        let mut p = plan(LrSchedule::Plateau, 0, 0);
        let metrics = [1.0, 0.9, 0.89995, 0.8, 0.8, f64::NAN];
        let want = [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125];
        for (i, (m, w)) in metrics.iter().zip(want).enumerate() {
            p.end_epoch(*m);
            assert!((p.lr(100) - w).abs() < 1e-15, "after epoch {i}: {} vs {w}", p.lr(100));
        }
        assert_eq!(p.plateau, Plateau::replay(metrics, 0.1), "replay gives the same state");
        // Reductions stop once they would change the rate by less than eps = 1e-8 (torch's rule).
        let mut q = Plateau::default();
        for _ in 0..40 {
            q.step(1.0, 1e-3);
        }
        let floor = 1e-3 * q.factor;
        assert!(floor > 1e-8 && floor <= 2e-8, "floor {floor}");
    }

    #[test]
    fn constant_ignores_validation_and_names_parse() {
        let mut p = plan(LrSchedule::Constant, 0, 10);
        p.end_epoch(5.0);
        p.end_epoch(6.0);
        assert_eq!(p.lr(7), 0.1);
        for (s, k) in
            [("constant", LrSchedule::Constant), ("cosine", LrSchedule::Cosine), ("plateau", LrSchedule::Plateau)]
        {
            assert_eq!(LrSchedule::parse(s).unwrap(), k);
        }
        let e = LrSchedule::parse("step").unwrap_err().to_string();
        assert!(e.contains("lr-schedule") && e.contains("\"step\""), "{e}");
    }
}
