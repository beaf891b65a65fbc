//! `tickgrad bench`: latency of what `tickgrad predict` runs (at batch 1 on the CPU: the batch-1 plan) on random windows after a warm-up, or with `--per-bar` the latency of
//! one streamed bar (`serve::StreamPredictor::push` of a random row once the window is full), which is what a live
//! service pays per bar: an O(1) ring-buffer step for a TCN whose window covers its receptive field, a batch-1
//! window forward otherwise (`mode=step|recompute`, as `tickgrad stream` reports it).

use crate::device::Device;
use crate::models::checkpoint;
use crate::rng::Rng;
use crate::serve::plan::{thread_pool, Plan};
use crate::serve::{Latency, StreamPredictor};
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// p-quantile (nearest rank) of sorted samples.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

pub fn run(ckpt: &Path, batch: usize, iters: usize, window: Option<usize>, device: Device) -> Result<()> {
    crate::backend::ensure_available(device)?;
    if batch == 0 || iters == 0 {
        return Err(Error::config("batch/iters", "must be positive"));
    }
    let ck = checkpoint::load(ckpt, device)?;
    let cfg = ck.model.config();
    let w = window.unwrap_or_else(|| cfg.default_window());
    let nf = cfg.n_features();
    let mut rng = Rng::new(7);
    let warmup = (iters / 10).clamp(3, 20);
    let mut samples = Vec::with_capacity(iters);
    // What `tickgrad predict` runs for this batch: one window on the CPU takes the batch-1 plan, built (weights
    // packed) before the clock starts, as a service builds it once.
    let mut plan = if batch == 1 && device == Device::Cpu { Some(Plan::new(&ck.model, w)?) } else { None };
    let pool = if plan.is_some() { thread_pool(rayon::current_num_threads())? } else { None };
    let mut out = vec![0.0f32; cfg.output_width()];
    for i in 0..warmup + iters {
        let data: Vec<f32> = (0..batch * w * nf).map(|_| rng.normal() as f32).collect();
        let us = match &mut plan {
            Some(plan) => {
                let t0 = Instant::now();
                plan.run_on(pool.as_ref(), &data, &mut out);
                t0.elapsed().as_secs_f64() * 1e6
            }
            None => {
                let x = Tensor::from_vec(data, &[batch, w, nf], device)?;
                let t0 = Instant::now();
                let y = ck.model.predict(&x)?;
                let _ = y.to_vec()?; // a GPU result counts only once it is back on the host
                t0.elapsed().as_secs_f64() * 1e6
            }
        };
        if i >= warmup {
            samples.push(us);
        }
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    let path = if plan.is_some() { "plan" } else { "graph" };
    println!(
        "model={} device={device} batch={batch} window={w} iters={iters} path={path} mean_us={mean:.1}",
        cfg.kind()
    );
    println!("latency_us p50={:.1} p99={:.1}", quantile(&samples, 0.5), quantile(&samples, 0.99));
    Ok(())
}

/// Per-bar latency: fill the window with random rows, push `(bars / 10).clamp(3, 20)` warm-up bars, then time
/// `bars` pushes (each answered). Prints `model=… device=… window=… bars=… mode=step|recompute mean_us=…` and
/// `per_bar_us p50=<x> p99=<y> max=<z>`.
pub fn run_per_bar(ckpt: &Path, bars: usize, window: Option<usize>, threads: usize, device: Device) -> Result<()> {
    crate::backend::ensure_available(device)?;
    if bars == 0 {
        return Err(Error::config("bars", "must be positive"));
    }
    let ck = checkpoint::load(ckpt, device)?;
    let cfg = ck.model.config();
    let w = window.unwrap_or_else(|| cfg.default_window());
    let nf = cfg.n_features();
    let mut p = StreamPredictor::with_threads(Arc::new(ck.model), w, threads)?;
    let mut rng = Rng::new(7);
    let mut row = vec![0.0f32; nf];
    let warmup = (bars / 10).clamp(3, 20);
    let mut lat = Latency::with_capacity(bars);
    for i in 0..w - 1 + warmup + bars {
        row.iter_mut().for_each(|v| *v = rng.normal() as f32);
        let t0 = Instant::now();
        let answered = p.push(&row)?.is_some();
        let dt = t0.elapsed();
        if i >= w - 1 + warmup {
            if !answered {
                return Err(Error::Invalid(format!("bench: bar {i} got no answer with a window of {w}")));
            }
            lat.record(dt);
        }
    }
    let mode = if p.is_incremental() { "step" } else { "recompute" };
    println!(
        "model={} device={device} window={w} bars={bars} mode={mode} threads={} mean_us={:.1}",
        cfg.kind(),
        p.threads(),
        lat.mean()
    );
    println!("{}", lat.line());
    Ok(())
}
