//! `tickgrad bench --train`: full training steps of a checkpoint's model on random windows and targets — forward
//! in training mode, the model's objective, backward, the global gradient norm, clipping and AdamW, the same
//! sequence as `train::train` — timed after a warm-up. Ends with `train_windows_per_s=<x>`; on a GPU device it
//! first prints the driver calls of a step (`backend::counters`) as means over the timed steps, which is what
//! tells whether training stays on the device.

use crate::backend::{counters, DriverCounters};
use crate::device::Device;
use crate::models::checkpoint;
use crate::nn::{self, Ctx};
use crate::optim::{clip_factor, Adam, Optimizer};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::train::{Examples, Objective};
use crate::{Error, Result};
use std::path::Path;
use std::time::Instant;

/// Run `steps` timed training steps of `batch` windows (after a warm-up of `(steps / 10).clamp(2, 10)`).
pub fn run(ckpt: &Path, batch: usize, steps: usize, window: Option<usize>, device: Device) -> Result<()> {
    crate::backend::ensure_available(device)?;
    if batch == 0 || steps == 0 {
        return Err(Error::config("batch/steps", "must be positive"));
    }
    let mut ck = checkpoint::load(ckpt, device)?;
    let cfg = ck.model.config();
    let (w, nf) = (window.unwrap_or_else(|| cfg.default_window()), cfg.n_features());
    let objective = Objective::for_config(&cfg);
    nn::track_parameters(&mut ck.model)?;
    let mut opt = Adam::adamw(1e-4, 1e-2);
    let mut rng = Rng::new(7);
    // Targets of one batch, drawn once: the step's cost does not depend on their values.
    let ex = Examples {
        ends: (0..batch).collect(),
        class: (0..batch).map(|i| i % 3).collect(),
        ret: (0..batch).map(|_| rng.normal() as f32).collect(),
        volatility: (0..batch).map(|_| rng.normal() as f32).collect(),
        volume: (0..batch).map(|_| rng.normal() as f32).collect(),
        difficulty: Vec::new(),
    };
    let idx: Vec<usize> = (0..batch).collect();
    let warmup = (steps / 10).clamp(2, 10);
    let (mut seconds, mut calls) = (0.0f64, DriverCounters::default());
    for i in 0..warmup + steps {
        let data: Vec<f32> = (0..batch * w * nf).map(|_| rng.normal() as f32).collect();
        let before = counters(device)?;
        let t0 = Instant::now();
        let x = Tensor::from_vec(data, &[batch, w, nf], device)?;
        let pred = ck.model.forward(&x, &Ctx::train(i as u64), false)?.pred;
        let loss = objective.loss(&ck.model, &pred, &ex, &idx)?;
        let l = loss.item()?;
        if !l.is_finite() {
            return Err(Error::Invalid(format!("bench --train: loss {l} at step {i}")));
        }
        let grads = loss.backward()?;
        let clip = clip_factor(&mut ck.model, &grads, 1.0)?;
        opt.step(&mut ck.model, &grads, clip.as_ref())?;
        drop((grads, loss, pred, x));
        let dt = t0.elapsed().as_secs_f64();
        let step = counters(device)?.since(&before);
        if i >= warmup {
            seconds += dt;
            calls = add(calls, step);
        }
    }
    println!("model={} device={device} batch={batch} window={w} steps={steps}", cfg.kind());
    if device != Device::Cpu {
        let n = steps as f64;
        println!(
            "per_step launches={:.1} allocs={:.1} htod_bytes={:.0} dtoh_bytes={:.0} syncs={:.1} copies={:.1}",
            calls.launches as f64 / n,
            calls.allocs as f64 / n,
            calls.htod_bytes as f64 / n,
            calls.dtoh_bytes as f64 / n,
            calls.syncs as f64 / n,
            calls.copies as f64 / n
        );
    }
    println!("train_windows_per_s={:.1}", (batch * steps) as f64 / seconds.max(1e-9));
    Ok(())
}

fn add(a: DriverCounters, b: DriverCounters) -> DriverCounters {
    DriverCounters {
        launches: a.launches + b.launches,
        allocs: a.allocs + b.allocs,
        htod_bytes: a.htod_bytes + b.htod_bytes,
        dtoh_bytes: a.dtoh_bytes + b.dtoh_bytes,
        syncs: a.syncs + b.syncs,
        copies: a.copies + b.copies,
    }
}
