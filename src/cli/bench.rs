//! `tickgrad bench`: latency of `predict` on random windows after a warm-up.

use crate::device::Device;
use crate::models::checkpoint;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::path::Path;
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
    device.ensure_available()?;
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
    for i in 0..warmup + iters {
        let data: Vec<f32> = (0..batch * w * nf).map(|_| rng.normal() as f32).collect();
        let x = Tensor::from_vec(data, &[batch, w, nf], device)?;
        let t0 = Instant::now();
        let y = ck.model.predict(&x)?;
        let _ = y.to_vec()?; // a GPU result counts only once it is back on the host
        let us = t0.elapsed().as_secs_f64() * 1e6;
        if i >= warmup {
            samples.push(us);
        }
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    println!("model={} device={device} batch={batch} window={w} iters={iters} mean_us={mean:.1}", cfg.kind());
    println!("latency_us p50={:.1} p99={:.1}", quantile(&samples, 0.5), quantile(&samples, 0.99));
    Ok(())
}
