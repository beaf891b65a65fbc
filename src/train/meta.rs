//! First-order meta-learning over market tasks (`tickgrad meta-train`): FOMAML and Reptile.
//!
//! A task is a set of training windows (one market regime, or one calendar month; the pipeline forms them). A
//! meta step takes `meta_batch` tasks; from the shared weights θ each task runs `inner_steps` plain SGD steps
//! (`inner_lr`, gradients clipped to the run's norm) on its own mini-batches and ends at its solution φ_task. Then:
//!
//! - **Reptile** (Nichol et al. 2018): θ ← θ + meta_lr · mean_task(φ_task − θ), computed on the host in f64 and
//!   rounded once to f32. Buffers (batch-norm running statistics) move by the same rule.
//! - **FOMAML** (Finn et al. 2017, first-order): each task also draws a query batch, disjoint from its support
//!   batches when the task has the windows; the meta-gradient is mean_task ∇L_query(φ_task), the gradient at the
//!   *adapted* weights, applied to θ by AdamW (`meta_lr`, the run's weight decay and clipping). Buffers become the
//!   mean of the tasks' adapted buffers.
//!
//! Why first order: full MAML differentiates through the inner SGD steps, which needs the Hessian-vector products
//! of every op (a backward of the backward). The autodiff here records a graph for forward ops only; backward
//! rules run under `no_grad`, so second derivatives do not exist and MAML proper cannot be built on it. FOMAML
//! drops exactly that term (∂φ/∂θ ≈ I); Reptile never needed it.
//!
//! One meta epoch runs enough meta steps for the inner loops to see about as many windows as one epoch of plain
//! training; the weights kept are those of the epoch with the lowest validation loss at θ itself (zero-shot), with
//! the run's patience, as in plain training.

use super::epoch::{EpochProgress, Patience};
use super::objective::{Examples, Objective};
use super::trainer::{batch_seed, batch_tensor, validation_loss, Event, TrainConfig, TrainOutcome};
use super::weights::{restore, snapshot, HostWeights};
use crate::autodiff::Grads;
use crate::data::WindowSampler;
use crate::device::Device;
use crate::models::Model;
use crate::nn::{self, Ctx, Kind, Module};
use crate::optim::{clip_factor, Adam, Optimizer, Sgd};
use crate::rng::{mix, Rng};
use crate::tensor::Tensor;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetaAlgo {
    Fomaml,
    Reptile,
}

impl MetaAlgo {
    pub fn parse(s: &str) -> Result<MetaAlgo> {
        match s {
            "fomaml" => Ok(MetaAlgo::Fomaml),
            "reptile" => Ok(MetaAlgo::Reptile),
            other => Err(Error::config("algo", format!("expected fomaml or reptile, found {other:?}"))),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            MetaAlgo::Fomaml => "fomaml",
            MetaAlgo::Reptile => "reptile",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaConfig {
    pub algo: MetaAlgo,
    /// SGD steps each task takes from θ.
    pub inner_steps: usize,
    pub inner_lr: f32,
    /// Reptile: the interpolation step toward the tasks' mean solution; FOMAML: AdamW's learning rate.
    pub meta_lr: f32,
    /// Tasks per meta step (at most the number of tasks).
    pub meta_batch: usize,
}

impl MetaConfig {
    pub fn validate(&self) -> Result<()> {
        if self.inner_steps == 0 {
            return Err(Error::config("inner_steps", "expected at least 1 inner step, found 0"));
        }
        if self.meta_batch == 0 {
            return Err(Error::config("meta_batch", "expected at least 1 task per meta step, found 0"));
        }
        for (field, v) in [("inner_lr", self.inner_lr), ("meta_lr", self.meta_lr)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::config(field, format!("expected a finite value > 0, found {v}")));
            }
        }
        Ok(())
    }
}

/// One task: a name for reports and the indices of its windows in the training examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub name: String,
    pub windows: Vec<usize>,
}

/// `count` mini-batches of min(`batch`, |windows|) windows of one task: the windows shuffled with `seed`, then
/// taken in turn, wrapping around when the task is short. Support batches come first, a FOMAML query batch last.
pub fn task_batches(windows: &[usize], count: usize, batch: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    if windows.is_empty() || batch == 0 {
        return Err(Error::Invalid(format!(
            "task batches: expected windows and a batch of at least 1, found {} windows and batch {batch}",
            windows.len()
        )));
    }
    let mut order = windows.to_vec();
    Rng::new(seed).shuffle(&mut order);
    let b = batch.min(order.len());
    Ok((0..count).map(|k| (0..b).map(|j| order[(k * b + j) % order.len()]).collect()).collect())
}

/// The objective's loss on the windows `idx` of `ex`, in training mode (dropout from `seed`), with a graph.
fn batch_loss(
    model: &mut Model,
    objective: Objective,
    sampler: &WindowSampler<'_>,
    ex: &Examples,
    idx: &[usize],
    device: Device,
    seed: u64,
) -> Result<(Tensor, f64)> {
    nn::track_parameters(model)?;
    let ends: Vec<usize> = idx.iter().map(|&i| ex.ends[i]).collect();
    let x = batch_tensor(sampler, &ends, &mut Vec::new(), device)?;
    let pred = model.forward(&x, &Ctx::train(seed), false)?.pred;
    let loss = objective.loss(model, &pred, ex, idx)?;
    let l = loss.item()? as f64;
    if !l.is_finite() {
        return Err(Error::Invalid(format!("meta-training diverged: loss {l} (try a lower --inner-lr or --meta-lr)")));
    }
    Ok((loss, l))
}

/// Plain SGD from the model's current weights, one step per batch, gradients clipped to `clip_norm`; the model
/// ends at the task's solution φ. Returns the mean loss over the steps (each taken before its update).
#[allow(clippy::too_many_arguments)]
pub fn adapt(
    model: &mut Model,
    objective: Objective,
    sampler: &WindowSampler<'_>,
    ex: &Examples,
    batches: &[Vec<usize>],
    inner_lr: f32,
    clip_norm: f64,
    device: Device,
    seed: u64,
) -> Result<f64> {
    let mut opt = Sgd::new(inner_lr, 0.0);
    let mut sum = 0.0;
    for (k, idx) in batches.iter().enumerate() {
        let (loss, l) = batch_loss(model, objective, sampler, ex, idx, device, batch_seed(seed, k, 0))?;
        let grads = loss.backward()?;
        let clip = clip_factor(model, &grads, clip_norm)?;
        opt.step(model, &grads, clip.as_ref())?;
        sum += l;
    }
    Ok(sum / batches.len().max(1) as f64)
}

/// What one task did in a meta step.
#[derive(Debug, Clone)]
pub struct TaskStep {
    /// The weights after the inner loop, φ_task.
    pub adapted: HostWeights,
    /// FOMAML: the query batch (indices into the examples) and the gradient of its loss at φ_task, per
    /// parameter (buffers left out).
    pub query: Option<Vec<usize>>,
    pub query_grad: Option<HostWeights>,
    pub inner_loss: f64,
}

/// One meta step's record: θ before it, every task's result, and FOMAML's meta-gradient (the mean query gradient,
/// before clipping).
#[derive(Debug, Clone)]
pub struct MetaStep {
    pub before: HostWeights,
    pub tasks: Vec<TaskStep>,
    pub meta_grad: Option<HostWeights>,
}

/// θ + meta_lr · mean_t(φ_t − θ) for every tensor, element by element: the sum of the differences in f64,
/// divided by the number of tasks, scaled, added to θ and rounded once to f32. Reptile's update (and, with
/// meta_lr = 1, the mean of the tasks' buffers).
pub fn reptile_update(theta: &HostWeights, adapted: &[&HostWeights], meta_lr: f32) -> Result<HostWeights> {
    let n = adapted.len() as f64;
    if adapted.is_empty() {
        return Err(Error::Invalid("reptile update: no task solutions".into()));
    }
    let mut out = theta.clone();
    for (j, (name, _, values)) in out.tensors.iter_mut().enumerate() {
        for a in adapted {
            match a.tensors.get(j) {
                Some((m, _, v)) if m == name && v.len() == values.len() => {}
                _ => return Err(Error::Invalid(format!("reptile update: a task solution lacks `{name}`"))),
            }
        }
        for (i, th) in values.iter_mut().enumerate() {
            let sum: f64 = adapted.iter().map(|a| a.tensors[j].2[i] as f64 - *th as f64).sum();
            *th = (*th as f64 + meta_lr as f64 * (sum / n)) as f32;
        }
    }
    Ok(out)
}

/// Host copies of every parameter's gradient (zeros for a parameter the loss does not reach).
fn host_grads(model: &mut Model, grads: &Grads) -> Result<HostWeights> {
    let mut tensors = Vec::new();
    model.visit("", &mut |name, kind, t| {
        if kind == Kind::Param {
            let v = match grads.get(t) {
                Some(g) => g.to_vec()?,
                None => vec![0.0; t.numel()],
            };
            tensors.push((name.to_string(), kind, v));
        }
        Ok(())
    })?;
    Ok(HostWeights { tensors })
}

/// Mean over tasks of host gradients, element by element in f64.
fn mean_grads(gs: &[&HostWeights]) -> HostWeights {
    let mut out = gs[0].clone();
    for (j, (_, _, v)) in out.tensors.iter_mut().enumerate() {
        for (i, x) in v.iter_mut().enumerate() {
            *x = (gs.iter().map(|g| g.tensors[j].2[i] as f64).sum::<f64>() / gs.len() as f64) as f32;
        }
    }
    out
}

/// One meta step on `tasks` (see the module doc); on return the model holds the new θ. `outer` is FOMAML's
/// AdamW (its moments carry across steps; Reptile leaves it untouched).
#[allow(clippy::too_many_arguments)]
pub fn meta_step(
    model: &mut Model,
    objective: Objective,
    sampler: &WindowSampler<'_>,
    ex: &Examples,
    tasks: &[&Task],
    mc: &MetaConfig,
    tc: &TrainConfig,
    outer: &mut Adam,
    seed: u64,
) -> Result<MetaStep> {
    if tasks.is_empty() {
        return Err(Error::Invalid("meta step: no tasks".into()));
    }
    let theta = snapshot(model)?;
    let before = HostWeights::of(model)?;
    let query = usize::from(mc.algo == MetaAlgo::Fomaml);
    let mut steps = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        restore(model, &theta)?;
        let task_seed = mix(seed ^ mix(i as u64 + 1));
        let batches = task_batches(&task.windows, mc.inner_steps + query, tc.batch, task_seed)?;
        let support = &batches[..mc.inner_steps];
        let inner_loss =
            adapt(model, objective, sampler, ex, support, mc.inner_lr, tc.clip_norm, tc.device, task_seed)?;
        let adapted = HostWeights::of(model)?;
        let (query, query_grad) = if query == 1 {
            let q = batches[mc.inner_steps].clone();
            let qseed = batch_seed(task_seed, mc.inner_steps, 0);
            let (loss, _) = batch_loss(model, objective, sampler, ex, &q, tc.device, qseed)?;
            (Some(q), Some(host_grads(model, &loss.backward()?)?))
        } else {
            (None, None)
        };
        steps.push(TaskStep { adapted, query, query_grad, inner_loss });
    }
    restore(model, &theta)?;
    let adapted: Vec<&HostWeights> = steps.iter().map(|s| &s.adapted).collect();
    let meta_grad = match mc.algo {
        MetaAlgo::Reptile => {
            reptile_update(&before, &adapted, mc.meta_lr)?.load_into(model)?;
            None
        }
        MetaAlgo::Fomaml => {
            let qs: Vec<&HostWeights> = steps.iter().filter_map(|s| s.query_grad.as_ref()).collect();
            let g = mean_grads(&qs);
            let mut grads = Grads::default();
            model.visit("", &mut |name, kind, t| {
                if kind == Kind::Param {
                    let v = g.get(name).ok_or_else(|| Error::Invalid(format!("meta-gradient lacks `{name}`")))?;
                    grads.insert(t, Tensor::from_vec(v.to_vec(), t.shape(), t.device())?)?;
                }
                Ok(())
            })?;
            let clip = clip_factor(model, &grads, tc.clip_norm)?;
            outer.step(model, &grads, clip.as_ref())?;
            reptile_update(&before, &adapted, 1.0)?.load_buffers_into(model)?;
            Some(g)
        }
    };
    Ok(MetaStep { before, tasks: steps, meta_grad })
}

/// Meta-train `model` on `tasks` (windows of `train`), keeping the weights of the epoch with the lowest
/// validation loss on `val`; the history has the shape of plain training's (train loss = the mean inner-loop
/// loss). `on_event` gets one `Batch` per meta step and one `Epoch` per epoch.
#[allow(clippy::too_many_arguments)]
pub fn meta_train(
    model: &mut Model,
    objective: Objective,
    sampler: &WindowSampler<'_>,
    train: &Examples,
    tasks: &[Task],
    val: &Examples,
    mc: &MetaConfig,
    tc: &TrainConfig,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainOutcome> {
    tc.validate()?;
    mc.validate()?;
    train.check("training")?;
    val.check("validation")?;
    if val.is_empty() {
        return Err(Error::Invalid("meta-training needs validation windows, found none".into()));
    }
    if tasks.is_empty() {
        return Err(Error::Invalid("meta-training needs at least one task, found none".into()));
    }
    for t in tasks {
        if t.windows.is_empty() {
            return Err(Error::Invalid(format!("task `{}` has no windows", t.name)));
        }
        if let Some(&i) = t.windows.iter().find(|&&i| i >= train.len()) {
            return Err(Error::Invalid(format!(
                "task `{}`: window {i} is beyond the {} training windows",
                t.name,
                train.len()
            )));
        }
    }
    let nf = model.config().n_features();
    if sampler.features() != nf {
        return Err(Error::shape("feature matrix columns (model n_features)", [nf], [sampler.features()]));
    }
    let per_step_tasks = mc.meta_batch.min(tasks.len());
    let windows: usize = tasks.iter().map(|t| t.windows.len()).sum();
    let steps = windows.div_ceil(per_step_tasks * mc.inner_steps * tc.batch).max(1);
    let mut outer = Adam::adamw(mc.meta_lr, tc.weight_decay);
    let mut rng = Rng::new(tc.seed ^ 0x6D65_7461);
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    let mut pos = order.len();
    let mut outcome = TrainOutcome {
        epochs: Vec::new(),
        best_epoch: 0,
        best_val_loss: f64::INFINITY,
        stopped_early: false,
        train_windows: windows,
        val_windows: val.len(),
        config: tc.clone(),
    };
    let mut best = None;
    let mut patience = Patience::new(tc.patience, tc.epochs);
    for epoch in 1..=tc.epochs {
        let mut progress = EpochProgress::start(epoch, tc.epochs);
        for s in 0..steps {
            let mut chosen: Vec<usize> = Vec::with_capacity(per_step_tasks);
            while chosen.len() < per_step_tasks {
                if pos == order.len() {
                    rng.shuffle(&mut order);
                    pos = 0;
                }
                if !chosen.contains(&order[pos]) {
                    chosen.push(order[pos]);
                }
                pos += 1;
            }
            let picked: Vec<&Task> = chosen.iter().map(|&t| &tasks[t]).collect();
            let seed = batch_seed(tc.seed, epoch, s);
            let step = meta_step(model, objective, sampler, train, &picked, mc, tc, &mut outer, seed)?;
            // Each task is one loss of the mean; its inner steps processed the windows the throughput counts.
            for (t, ts) in picked.iter().zip(&step.tasks) {
                progress.add(ts.inner_loss, 1, mc.inner_steps * tc.batch.min(t.windows.len()));
            }
            on_event(progress.batch_event(s + 1, steps));
        }
        let train_secs = progress.train_secs();
        let val_loss = validation_loss(model, objective, sampler, val, tc.batch.max(256), tc.device)?;
        let improved = progress.finish(train_secs, val_loss, outcome.best_val_loss, &mut outcome.epochs, on_event);
        if improved {
            (outcome.best_val_loss, outcome.best_epoch) = (val_loss, epoch);
            best = Some(snapshot(model)?);
        }
        if patience.ran_out(improved, epoch) {
            outcome.stopped_early = true;
            break;
        }
    }
    match best {
        Some(saved) => restore(model, &saved)?,
        None => {
            return Err(Error::Invalid("meta-training: the validation loss was never finite; nothing to keep".into()))
        }
    }
    Ok(outcome)
}
