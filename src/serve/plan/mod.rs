//! Batch-1 inference plans: each model's eval-mode forward over one window [W, F], written against buffers
//! allocated when the plan is built, so that the stream's recompute path allocates nothing per bar
//! (docs/MODELS.md, Streaming). The answers equal `Model::predict` on the same window up to float32 rounding (the
//! products sum in another order); the tests hold every model kind to 1e-5 relative.
//!
//! Built from a CPU model, once: weights are packed for [`Packed`] (the matmul family's batch-1 variant),
//! BatchNorm's running statistics folded into the convolution before it, positional encodings cut to the window.
//! Activations are time-major [T, C] throughout, so a causal convolution is one product over a row of its taps (no
//! transposes).
//!
//! [`Plan::run`] runs on the calling thread and never allocates. [`Plan::run_on`] a pool runs it there:
//! large products split by rows over the pool's threads and a bidirectional LSTM runs its two directions at once.
//! Inside the pool nothing allocates once warm, but entering it queues one job on the pool's injector, which
//! allocates a queue block once every 63 entries: about 0.016 allocations per bar. A service that must never
//! allocate serves one single-threaded predictor per symbol per core instead.

mod conv;
mod lstm;
mod transformer;

use crate::device::Device;
use crate::models::Model;
use crate::nn::Linear;
use crate::ops::matmul::packed::Packed;
use crate::{Error, Result};

/// One model's batch-1 forward with its workspace.
#[derive(Debug)]
pub enum Plan {
    Transformer(transformer::TransformerPlan),
    Lstm(lstm::LstmPlan),
    Conv(conv::ConvPlan),
}

impl Plan {
    /// A plan for windows of exactly `window` rows of a CPU model.
    pub fn new(model: &Model, window: usize) -> Result<Plan> {
        let dev = model.device();
        if dev != Device::Cpu {
            return Err(Error::Invalid(format!("a batch-1 plan runs on the CPU; this model is on {dev:?}")));
        }
        if window == 0 {
            return Err(Error::config("window", "must be at least 1 bar"));
        }
        Ok(match model {
            Model::Transformer(m) => Plan::Transformer(transformer::TransformerPlan::new(m, window)?),
            Model::LstmAttention(m) => Plan::Lstm(lstm::LstmPlan::new(m, window)?),
            Model::Tcn(m) => Plan::Conv(conv::ConvPlan::tcn(m, window)?),
            Model::MultiTask(m) => Plan::Conv(conv::ConvPlan::multitask(m, window)?),
        })
    }

    /// `predict`'s row for one window x [W, F] (row-major), written into `out` [k].
    pub fn run(&mut self, x: &[f32], out: &mut [f32]) {
        match self {
            Plan::Transformer(p) => p.run(x, out),
            Plan::Lstm(p) => p.run(x, out),
            Plan::Conv(p) => p.run(x, out),
        }
    }

    /// [`Plan::run`] with the threads of `pool` (see the module docs), or on the calling thread without one.
    pub fn run_on(&mut self, pool: Option<&rayon::ThreadPool>, x: &[f32], out: &mut [f32]) {
        match pool {
            Some(pool) => pool.install(|| self.run(x, out)),
            None => self.run(x, out),
        }
    }
}

/// A pool of `threads` threads for [`Plan::run_on`]; `None` for one (the calling thread does the work).
pub fn thread_pool(threads: usize) -> Result<Option<rayon::ThreadPool>> {
    match threads {
        0 => Err(Error::config("threads", "must be at least 1")),
        1 => Ok(None),
        n => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("tickgrad-plan-{i}"))
            .build()
            .map(Some)
            .map_err(|e| Error::Invalid(format!("could not start {n} plan threads: {e}"))),
    }
}

/// A `Linear` layer's weight and bias, packed.
fn packed_linear(l: &Linear) -> Result<Packed> {
    let bias = l.bias.as_ref().map(|b| b.cpu_slice()).transpose()?;
    Ok(Packed::linear(l.weight.cpu_slice()?, l.out_features(), l.in_features(), bias))
}

fn relu(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.max(0.0));
}

#[cfg(test)]
mod tests;
