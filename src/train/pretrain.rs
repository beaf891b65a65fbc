//! Masked pretraining of a model body (`tickgrad pretrain`): self-supervised, no labels.
//!
//! Each time step of a scaled input window is masked independently with probability `mask_ratio` (at least one
//! per window). A masked step's whole feature vector is set to 0, which after the z-score scaler is the training
//! mean of every feature: a fixed "mask token" that needs no learned parameter and looks like an ordinary,
//! uninformative bar. The body's per-step features ([`Model::sequence_features`], see `models::body` for what
//! each kind exposes) go through a temporary linear head D → n_features, and the loss is the mean squared error
//! between that reconstruction and the clean input over the masked steps only (all their features).
//!
//! What a step's features can see depends on the kind: the TCN, the multi-task stem, a causal transformer and a
//! one-way LSTM see the past only, so a masked bar is predicted from the bars before it; a non-causal transformer
//! and a bidirectional LSTM see both sides. Either way the body must learn how the features move together in time.
//!
//! Training is AdamW with clipping over the body and the temporary head (the model's own head gets no gradient and
//! stays at its init), with early stopping on the reconstruction loss of the validation windows under fixed masks
//! (the same masks every epoch, so the numbers compare); the weights of the best epoch are kept.

use super::epoch::{EpochProgress, Patience};
use super::trainer::{batch_seed, EpochStats, Event, TrainConfig};
use super::weights::{restore, snapshot};
use crate::autodiff::no_grad;
use crate::data::WindowSampler;
use crate::device::Device;
use crate::models::Model;
use crate::nn::{self, join, Ctx, Linear, Module, Visitor};
use crate::optim::{clip_factor, Adam, Optimizer};
use crate::rng::{mix, Rng};
use crate::tensor::Tensor;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Name prefix of the temporary reconstruction head's tensors in the pretrained body file.
pub const HEAD_PREFIX: &str = "pretrain_head";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// Probability that a time step is masked, in (0, 1).
    pub mask_ratio: f64,
    /// Epochs, batch, learning rate, weight decay, patience, seed, clipping and device, as in plain training.
    pub train: TrainConfig,
}

impl PretrainConfig {
    pub fn validate(&self) -> Result<()> {
        if !(self.mask_ratio > 0.0 && self.mask_ratio < 1.0) {
            return Err(Error::config("mask_ratio", format!("expected a value in (0, 1), found {}", self.mask_ratio)));
        }
        self.train.validate()
    }

    /// The seed of the fixed validation masks.
    fn val_seed(&self) -> u64 {
        mix(self.train.seed ^ 0x7661_6C6D_6173_6B73)
    }
}

/// The masked steps of one window of `t` bars ending at row `end`: each with probability `ratio`, from a
/// generator seeded by (`seed`, `end`), and at least one.
pub fn window_mask(seed: u64, end: usize, t: usize, ratio: f64) -> Vec<bool> {
    let mut r = Rng::new(mix(seed ^ mix(end as u64)));
    let mut m: Vec<bool> = (0..t).map(|_| r.f64() < ratio).collect();
    if t > 0 && !m.contains(&true) {
        m[r.below(t)] = true;
    }
    m
}

/// The temporary reconstruction head D → n_features, initialised like any `Linear` from `seed`.
pub fn new_head(model: &Model, seed: u64) -> Result<Linear> {
    let mut rng = Rng::new(seed ^ 0x6865_6164);
    Linear::new(model.feature_width(), model.config().n_features(), true, &mut rng, model.device())
}

/// The model and the temporary head as one module, the head under [`HEAD_PREFIX`], for the optimizer.
pub struct WithHead<'a> {
    pub model: &'a mut Model,
    pub head: &'a mut Linear,
}

impl Module for WithHead<'_> {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        self.model.visit(prefix, f)?;
        self.head.visit(&join(prefix, HEAD_PREFIX), f)
    }
}

/// Mean squared reconstruction error over the masked steps of the windows `ends` (masks from `seed`), as a
/// one-value tensor with a graph when gradients are on, and the number of masked values it averages.
#[allow(clippy::too_many_arguments)]
pub fn masked_loss(
    model: &Model,
    head: &Linear,
    sampler: &WindowSampler<'_>,
    ends: &[usize],
    mask_ratio: f64,
    seed: u64,
    ctx: &Ctx,
    device: Device,
) -> Result<(Tensor, usize)> {
    let (b, t, f) = (ends.len(), sampler.window(), sampler.features());
    let mut clean = vec![0.0f32; sampler.batch_len(b)];
    sampler.fill(ends, &mut clean)?;
    let mut masked = clean.clone();
    let mut weight = vec![0.0f32; clean.len()];
    let mut count = 0usize;
    for (w, &end) in ends.iter().enumerate() {
        for (s, hit) in window_mask(seed, end, t, mask_ratio).into_iter().enumerate() {
            if hit {
                let at = (w * t + s) * f;
                masked[at..at + f].fill(0.0);
                weight[at..at + f].fill(1.0);
                count += f;
            }
        }
    }
    let x = Tensor::from_vec(masked, &[b, t, f], device)?;
    let target = Tensor::from_vec(clean, &[b, t, f], device)?;
    let weight = Tensor::from_vec(weight, &[b, t, f], device)?;
    let recon = head.forward(&model.sequence_features(&x, ctx)?)?;
    let loss = recon.sub(&target)?.mul(&weight)?.square()?.sum_all()?.scale(1.0 / count.max(1) as f32)?;
    Ok((loss, count))
}

/// The reconstruction loss over the windows `ends` in eval mode, without a graph, in batches of `batch`: the
/// mean over every masked value.
#[allow(clippy::too_many_arguments)]
pub fn reconstruction_loss(
    model: &Model,
    head: &Linear,
    sampler: &WindowSampler<'_>,
    ends: &[usize],
    mask_ratio: f64,
    seed: u64,
    batch: usize,
    device: Device,
) -> Result<f64> {
    if ends.is_empty() {
        return Err(Error::Invalid("reconstruction loss needs at least one window, got none".into()));
    }
    let _g = no_grad();
    let (mut total, mut n) = (0.0f64, 0usize);
    for chunk in ends.chunks(batch.max(1)) {
        let (loss, count) = masked_loss(model, head, sampler, chunk, mask_ratio, seed, &Ctx::eval(), device)?;
        total += loss.item()? as f64 * count as f64;
        n += count;
    }
    Ok(total / n.max(1) as f64)
}

/// A pretraining run's history (stored in the pretrained body file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainOutcome {
    pub epochs: Vec<EpochStats>,
    pub best_epoch: usize,
    /// Validation reconstruction loss of the kept weights, and of the initial ones.
    pub best_val_loss: f64,
    pub initial_val_loss: f64,
    pub stopped_early: bool,
    pub train_windows: usize,
    pub val_windows: usize,
    pub config: PretrainConfig,
}

/// Pretrain the body of `model` and the temporary `head` on the windows ending at `train_ends`, early-stopping on
/// `val_ends` (see the module doc). On return both hold the best epoch's weights.
pub fn pretrain(
    model: &mut Model,
    head: &mut Linear,
    sampler: &WindowSampler<'_>,
    train_ends: &[usize],
    val_ends: &[usize],
    cfg: &PretrainConfig,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<PretrainOutcome> {
    cfg.validate()?;
    let tc = &cfg.train;
    if train_ends.is_empty() || val_ends.is_empty() {
        return Err(Error::Invalid(format!(
            "pretraining needs windows in both sets, found {} training and {} validation windows",
            train_ends.len(),
            val_ends.len()
        )));
    }
    let nf = model.config().n_features();
    if sampler.features() != nf {
        return Err(Error::shape("feature matrix columns (model n_features)", [nf], [sampler.features()]));
    }
    let val_batch = tc.batch.max(256);
    let val_loss = |m: &Model, h: &Linear| {
        reconstruction_loss(m, h, sampler, val_ends, cfg.mask_ratio, cfg.val_seed(), val_batch, tc.device)
    };
    let initial_val_loss = val_loss(model, head)?;
    let mut both = WithHead { model, head };
    nn::track_parameters(&mut both)?;
    let mut opt = Adam::adamw(tc.lr, tc.weight_decay);
    let mut rng = Rng::new(tc.seed ^ 0x7072_6574);
    let mut order: Vec<usize> = train_ends.to_vec();
    let total_batches = order.len().div_ceil(tc.batch);
    let mut outcome = PretrainOutcome {
        epochs: Vec::new(),
        best_epoch: 0,
        best_val_loss: f64::INFINITY,
        initial_val_loss,
        stopped_early: false,
        train_windows: train_ends.len(),
        val_windows: val_ends.len(),
        config: cfg.clone(),
    };
    let mut best = None;
    let mut patience = Patience::new(tc.patience, tc.epochs);
    for epoch in 1..=tc.epochs {
        rng.shuffle(&mut order);
        let mut progress = EpochProgress::start(epoch, tc.epochs);
        for (bi, ends) in order.chunks(tc.batch).enumerate() {
            let seed = batch_seed(tc.seed, epoch, bi);
            let ctx = Ctx::train(seed);
            let (loss, _) = masked_loss(both.model, both.head, sampler, ends, cfg.mask_ratio, seed, &ctx, tc.device)?;
            let l = loss.item()? as f64;
            if !l.is_finite() {
                return Err(Error::Invalid(format!(
                    "pretraining diverged: loss {l} at epoch {epoch}, batch {} of {total_batches} (try a lower --lr)",
                    bi + 1
                )));
            }
            let grads = loss.backward()?;
            let clip = clip_factor(&mut both, &grads, tc.clip_norm)?;
            opt.step(&mut both, &grads, clip.as_ref())?;
            progress.add(l * ends.len() as f64, ends.len(), ends.len());
            on_event(progress.batch_event(bi + 1, total_batches));
        }
        let train_secs = progress.train_secs();
        let v = val_loss(both.model, both.head)?;
        let improved = progress.finish(train_secs, v, outcome.best_val_loss, &mut outcome.epochs, on_event);
        if improved {
            (outcome.best_val_loss, outcome.best_epoch) = (v, epoch);
            best = Some(snapshot(&mut both)?);
        }
        if patience.ran_out(improved, epoch) {
            outcome.stopped_early = true;
            break;
        }
    }
    match best {
        Some(saved) => restore(&mut both, &saved)?,
        None => {
            return Err(Error::Invalid("pretraining: the validation loss was never finite; nothing to keep".into()))
        }
    }
    Ok(outcome)
}
