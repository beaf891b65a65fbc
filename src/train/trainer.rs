//! The training loop. One epoch: shuffle the training windows with the seed, step AdamW on each mini-batch
//! (gradients clipped to a global norm), then score the validation windows in eval mode. The validation loss
//! decides early stopping; the weights of the best epoch are restored at the end.

use super::adversarial::{fgsm_batch, Adversarial};
use super::curriculum::Curriculum;
use super::epoch::EpochProgress;
use super::objective::{Examples, Objective};
use super::resume::TrainState;
use super::schedule::{LrPlan, LrSchedule, Plateau};
use crate::autodiff::no_grad;
use crate::data::WindowSampler;
use crate::device::Device;
use crate::models::Model;
use crate::nn::{self, Ctx, Module};
use crate::optim::{clip_factor, Adam, Optimizer};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Most epochs to run; early stopping may end sooner.
    pub epochs: usize,
    /// Windows per mini-batch (the last batch of an epoch may be smaller).
    pub batch: usize,
    pub lr: f32,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// Stop after this many epochs without a lower validation loss.
    pub patience: usize,
    pub seed: u64,
    /// Global gradient norm above which gradients are scaled down (PyTorch's `clip_grad_norm_`).
    pub clip_norm: f64,
    #[serde(skip, default = "cpu")]
    pub device: Device,
    /// The learning rate over the run (`train::schedule`); constant by default.
    #[serde(default, skip_serializing_if = "LrSchedule::is_constant")]
    pub lr_schedule: LrSchedule,
    /// Optimizer steps of linear warmup before the schedule (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup: usize,
    /// Calm windows first (`train::curriculum`); needs each training window's `Examples::difficulty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curriculum: Option<Curriculum>,
    /// FGSM adversarial training (`train::adversarial`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adversarial: Option<Adversarial>,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn cpu() -> Device {
    Device::Cpu
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 20,
            batch: 64,
            lr: 1e-3,
            weight_decay: 1e-2,
            patience: 3,
            seed: 0,
            clip_norm: 1.0,
            device: Device::Cpu,
            lr_schedule: LrSchedule::Constant,
            warmup: 0,
            curriculum: None,
            adversarial: None,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::config("epochs", "expected at least 1 epoch, found 0"));
        }
        if self.batch == 0 {
            return Err(Error::config("batch", "expected a batch of at least 1 window, found 0"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::config("lr", format!("expected a finite learning rate > 0, found {}", self.lr)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::config("weight_decay", format!("expected a value >= 0, found {}", self.weight_decay)));
        }
        if self.patience == 0 {
            return Err(Error::config("patience", "expected at least 1 epoch of patience, found 0"));
        }
        if !(self.clip_norm.is_finite() && self.clip_norm > 0.0) {
            return Err(Error::config("clip_norm", format!("expected a norm > 0, found {}", self.clip_norm)));
        }
        if let Some(c) = &self.curriculum {
            c.validate(self.epochs)?;
        }
        if let Some(a) = &self.adversarial {
            a.validate()?;
        }
        Ok(())
    }
}

/// One epoch's numbers. `windows_per_s` counts training windows (forward and backward) per second of the
/// training part of the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub train_loss: f64,
    /// NaN (JSON `null`) when the validation loss was not finite, so a checkpoint stays readable.
    #[serde(with = "crate::eval::json::f64_or_null")]
    pub val_loss: f64,
    pub windows_per_s: f64,
    pub seconds: f64,
}

/// The training history, stored as the `tickgrad.train_info` of the checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    pub epochs: Vec<EpochStats>,
    /// Epoch (1-based) whose weights were kept.
    pub best_epoch: usize,
    /// `null` in JSON while no epoch had a finite validation loss (a resume state can be taken then).
    #[serde(with = "crate::eval::json::f64_or_null")]
    pub best_val_loss: f64,
    /// True when patience ran out before the last epoch.
    pub stopped_early: bool,
    pub train_windows: usize,
    pub val_windows: usize,
    pub config: TrainConfig,
}

/// Progress reports for a display; the trainer itself prints nothing.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Batch {
        epoch: usize,
        epochs: usize,
        done: usize,
        total: usize,
        mean_loss: f64,
        windows_per_s: f64,
    },
    Epoch {
        stats: &'a EpochStats,
        epochs: usize,
        improved: bool,
    },
    /// A one-line message from the caller's side of training (a resume state found, absent or replaced).
    Note(&'a str),
}

/// A distinct seed per (epoch, batch) for the dropout masks, derived from the run's seed.
pub(super) fn batch_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    let mut r = Rng::new(seed ^ ((epoch as u64) << 32) ^ batch as u64);
    r.next_u64()
}

pub(super) fn batch_tensor(
    sampler: &WindowSampler<'_>,
    ends: &[usize],
    buf: &mut Vec<f32>,
    device: Device,
) -> Result<Tensor> {
    buf.resize(sampler.batch_len(ends.len()), 0.0);
    sampler.fill(ends, buf)?;
    Tensor::from_vec(buf.clone(), &[ends.len(), sampler.window(), sampler.features()], device)
}

/// Mean loss over `ex` in eval mode (dropout off, batch norm on running statistics), without a graph.
pub fn validation_loss(
    model: &Model,
    objective: Objective,
    sampler: &WindowSampler<'_>,
    ex: &Examples,
    batch: usize,
    device: Device,
) -> Result<f64> {
    if ex.is_empty() {
        return Err(Error::Invalid("validation needs at least one window, got none".into()));
    }
    let _g = no_grad();
    let ctx = Ctx::eval();
    let idx: Vec<usize> = (0..ex.len()).collect();
    let mut buf = Vec::new();
    let mut total = 0.0f64;
    for chunk in idx.chunks(batch.max(1)) {
        let ends: Vec<usize> = chunk.iter().map(|&i| ex.ends[i]).collect();
        let x = batch_tensor(sampler, &ends, &mut buf, device)?;
        let pred = model.forward(&x, &ctx, false)?.pred;
        total += objective.loss(model, &pred, ex, chunk)?.item()? as f64 * chunk.len() as f64;
    }
    Ok(total / ex.len() as f64)
}

/// Every tensor `visit` sees (parameters and buffers), with its name, in visit order.
fn snapshot(model: &mut Model) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    model.visit("", &mut |name, _, t| {
        out.push((name.to_string(), t.clone()));
        Ok(())
    })?;
    Ok(out)
}

fn restore(model: &mut Model, saved: &[(String, Tensor)], what: &str) -> Result<()> {
    let mut i = 0;
    model.visit("", &mut |name, _, t| {
        match saved.get(i) {
            Some((n, s)) if n == name && s.shape() == t.shape() => *t = s.clone(),
            _ => return Err(Error::Invalid(format!("restoring {what}: no saved `{name}` of shape {:?}", t.shape()))),
        }
        i += 1;
        Ok(())
    })
}

/// Train `model` on `train`, early-stopping on `val`. `on_best` runs after every epoch that lowers the
/// validation loss, with the model holding that epoch's weights (write the checkpoint there). On return the
/// model holds the best epoch's weights.
#[allow(clippy::too_many_arguments)]
pub fn train(
    model: &mut Model,
    objective: Objective,
    sampler: &WindowSampler<'_>,
    train: &Examples,
    val: &Examples,
    cfg: &TrainConfig,
    on_best: &mut dyn FnMut(&mut Model, &TrainOutcome) -> Result<()>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainOutcome> {
    train_resumable(model, objective, sampler, train, val, cfg, None, &mut |_| Ok(()), on_best, on_event)
}

/// [`train`], started from `start` (a state taken after an epoch of the same run, see `train::resume`; `None`
/// starts fresh) and calling `on_epoch` with the state after every completed epoch, after `on_best`. A run
/// resumed from the state of epoch N ends with the same weights and history (timings aside) as the
/// uninterrupted run.
#[allow(clippy::too_many_arguments)]
pub fn train_resumable(
    model: &mut Model,
    objective: Objective,
    sampler: &WindowSampler<'_>,
    train: &Examples,
    val: &Examples,
    cfg: &TrainConfig,
    start: Option<TrainState>,
    on_epoch: &mut dyn FnMut(&TrainState) -> Result<()>,
    on_best: &mut dyn FnMut(&mut Model, &TrainOutcome) -> Result<()>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainOutcome> {
    cfg.validate()?;
    train.check("training")?;
    val.check("validation")?;
    if train.is_empty() || val.is_empty() {
        return Err(Error::Invalid(format!(
            "training needs windows in both sets, found {} training and {} validation windows",
            train.len(),
            val.len()
        )));
    }
    let nf = model.config().n_features();
    if sampler.features() != nf {
        return Err(Error::shape("feature matrix columns (model n_features)", [nf], [sampler.features()]));
    }
    let ranks = match &cfg.curriculum {
        None => None,
        Some(_) if train.difficulty.len() != train.len() => {
            return Err(Error::Invalid(format!(
                "the curriculum needs the difficulty of every training window, found {} for {} windows",
                train.difficulty.len(),
                train.len()
            )))
        }
        Some(_) => Some(Curriculum::ranks(&train.difficulty)),
    };
    // Windows trained on in `epoch` (all of them without a curriculum).
    let epoch_len = |epoch: usize| cfg.curriculum.map_or(train.len(), |c| c.stage_len(train.len(), epoch));
    nn::track_parameters(model)?;
    let mut opt = Adam::adamw(cfg.lr, cfg.weight_decay);
    let mut lr_plan = LrPlan {
        base: cfg.lr as f64,
        schedule: cfg.lr_schedule,
        warmup: cfg.warmup,
        total_steps: (1..=cfg.epochs).map(|e| epoch_len(e).div_ceil(cfg.batch) as u64).sum(),
        plateau: Plateau::default(),
    };
    let mut rng = Rng::new(cfg.seed ^ 0x7261_696E);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut buf = Vec::new();
    let mut outcome = TrainOutcome {
        epochs: Vec::new(),
        best_epoch: 0,
        best_val_loss: f64::INFINITY,
        stopped_early: false,
        train_windows: train.len(),
        val_windows: val.len(),
        config: cfg.clone(),
    };
    let mut best: Option<Vec<(String, Tensor)>> = None;
    let mut since_best = 0;
    let mut first_epoch = 1;
    if let Some(s) = start {
        if s.order.len() != train.len() || s.epoch > cfg.epochs {
            return Err(Error::Invalid(format!(
                "resume state of epoch {} over {} windows does not fit a run of {} epochs over {} windows",
                s.epoch,
                s.order.len(),
                cfg.epochs,
                train.len()
            )));
        }
        restore(model, &s.weights, "the resume state's weights")?;
        nn::track_parameters(model)?;
        opt.import_state(model, &s.optimizer)?;
        (rng, order, since_best, best) = (s.rng, s.order, s.since_best, s.best);
        outcome = TrainOutcome { config: cfg.clone(), ..s.outcome };
        first_epoch = s.epoch + 1;
        // The plateau's state is a function of the validation history (the step count is the optimizer's).
        lr_plan.plateau = Plateau::replay(outcome.epochs.iter().map(|e| e.val_loss), lr_plan.base);
    }
    // A state taken when patience ran out has nothing left to run.
    let last_epoch = if outcome.stopped_early { 0 } else { cfg.epochs };
    for epoch in first_epoch..=last_epoch {
        rng.shuffle(&mut order);
        // A curriculum stage keeps the shuffled order of its windows.
        let stage: Vec<usize> = match &ranks {
            Some(rank) => order.iter().copied().filter(|&i| rank[i] < epoch_len(epoch)).collect(),
            None => Vec::new(),
        };
        let epoch_order = if ranks.is_some() { &stage } else { &order };
        let total_batches = epoch_order.len().div_ceil(cfg.batch);
        let mut progress = EpochProgress::start(epoch, cfg.epochs);
        for (bi, chunk) in epoch_order.chunks(cfg.batch).enumerate() {
            let ends: Vec<usize> = chunk.iter().map(|&i| train.ends[i]).collect();
            let x = batch_tensor(sampler, &ends, &mut buf, cfg.device)?;
            let seed = batch_seed(cfg.seed, epoch, bi);
            let (loss, grads) = match &cfg.adversarial {
                None => {
                    let pred = model.forward(&x, &Ctx::train(seed), false)?.pred;
                    let loss = objective.loss(model, &pred, train, chunk)?;
                    let grads = loss.backward()?;
                    (loss, grads)
                }
                Some(adv) => {
                    let b = fgsm_batch(model, objective, &x, train, chunk, seed, adv)?;
                    (b.loss, b.grads)
                }
            };
            let l = loss.item()? as f64;
            if !l.is_finite() {
                return Err(Error::Invalid(format!(
                    "training diverged: loss {l} at epoch {epoch}, batch {} of {total_batches} (try a lower --lr)",
                    bi + 1
                )));
            }
            let clip = clip_factor(model, &grads, cfg.clip_norm)?;
            opt.set_lr(lr_plan.lr(opt.steps()) as f32);
            opt.step(model, &grads, clip.as_ref())?;
            progress.add(l * chunk.len() as f64, chunk.len(), chunk.len());
            on_event(progress.batch_event(bi + 1, total_batches));
        }
        let train_secs = progress.train_secs();
        let val_loss = validation_loss(model, objective, sampler, val, cfg.batch.max(256), cfg.device)?;
        let improved = progress.finish(train_secs, val_loss, outcome.best_val_loss, &mut outcome.epochs, on_event);
        lr_plan.end_epoch(val_loss);
        if improved {
            outcome.best_val_loss = val_loss;
            outcome.best_epoch = epoch;
            since_best = 0;
            best = Some(snapshot(model)?);
            on_best(model, &outcome)?;
        } else {
            since_best += 1;
            // Under a curriculum, patience counts only the epochs of the last stage.
            let stalled = match cfg.curriculum {
                Some(c) if !c.is_final_stage(epoch) => 0,
                Some(c) => since_best.min(epoch + 1 - c.stages),
                None => since_best,
            };
            outcome.stopped_early = stalled >= cfg.patience && epoch < cfg.epochs;
        }
        on_epoch(&TrainState {
            epoch,
            weights: snapshot(model)?,
            best: best.clone(),
            optimizer: opt.export_state(model)?,
            rng: rng.clone(),
            order: order.clone(),
            since_best,
            outcome: outcome.clone(),
        })?;
        if outcome.stopped_early {
            break;
        }
    }
    match best {
        Some(saved) => restore(model, &saved, "the best weights")?,
        None => {
            return Err(Error::Invalid(format!(
                "validation loss was never finite in {} epochs; nothing to keep",
                outcome.epochs.len()
            )))
        }
    }
    Ok(outcome)
}
