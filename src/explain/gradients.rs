//! Gradient attributions per feature and time step, from the autodiff (the input is a leaf that requires grad;
//! the model's parameters do not, so the graph holds only what reaches the input).
//!
//! - gradient×input: `x ⊙ ∂y/∂x`, one backward pass.
//! - integrated gradients (Sundararajan et al. 2017): `(x − x₀) ⊙ ∫₀¹ ∂y/∂x(x₀ + α(x − x₀)) dα`, the integral as a
//!   midpoint Riemann sum over `steps` points. Completeness: the attributions sum to `y(x) − y(x₀)`, up to the
//!   quadrature error, which shrinks as the steps grow (the tests check both).
//!
//! `y` is one output column (`target`) of the model in eval mode. The path points of one window are run as one
//! batch, `chunk` of them per forward, so memory is bounded by `chunk` windows' activations.

use crate::autodiff;
use crate::device::Device;
use crate::models::Model;
use crate::nn::Ctx;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// The reference input x₀ of integrated gradients.
#[derive(Debug, Clone, PartialEq)]
pub enum Baseline {
    /// All zeros: with z-scored inputs, the training mean of every feature.
    Zeros,
    /// One value per feature, held at every time step (e.g. a data mean).
    Row(Vec<f32>),
}

impl Baseline {
    /// The baseline window [W, F].
    pub fn window(&self, w: usize, f: usize) -> Result<Vec<f32>> {
        match self {
            Baseline::Zeros => Ok(vec![0.0; w * f]),
            Baseline::Row(r) if r.len() == f => Ok(r.iter().copied().cycle().take(w * f).collect()),
            Baseline::Row(r) => Err(Error::shape("integrated-gradients baseline row", [f], [r.len()])),
        }
    }
}

fn check_target(model: &Model, target: usize) -> Result<()> {
    let k = model.config().output_width();
    if target >= k {
        return Err(Error::config("target", format!("output column {target} does not exist: the model has {k}")));
    }
    Ok(())
}

/// Outputs y[b] = model(x)[b, target] and gradients ∂y[b]/∂x [B, W, F] for a batch x [B, W, F].
pub fn input_gradients(model: &Model, x: &[f32], shape: [usize; 3], target: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    check_target(model, target)?;
    let device = model.device();
    let xt = Tensor::from_vec(x.to_vec(), &shape, device)?.requires_grad();
    let pred = model.forward(&xt, &Ctx::eval(), false)?.pred;
    let [b, k] = *pred.shape() else {
        return Err(Error::shape("model output", "[batch, k]", pred.shape()));
    };
    let mut seed = vec![0.0f32; b * k];
    for row in seed.chunks_mut(k) {
        row[target] = 1.0;
    }
    let y: Vec<f32> = pred.to_vec()?.chunks(k).map(|r| r[target]).collect();
    let grads = autodiff::backward_with(&pred, Tensor::from_vec(seed, &[b, k], device)?)?;
    let g = grads
        .get(&xt)
        .ok_or_else(|| Error::Invalid("input_gradients: the output does not depend on the input".into()))?;
    Ok((y, g.to_device(Device::Cpu)?.to_vec()?))
}

/// gradient×input for a batch x [B, W, F] → [B, W, F].
pub fn gradient_x_input(model: &Model, x: &[f32], shape: [usize; 3], target: usize) -> Result<Vec<f32>> {
    let (_, g) = input_gradients(model, x, shape, target)?;
    Ok(g.iter().zip(x).map(|(g, x)| g * x).collect())
}

/// Integrated gradients of one window, with the two outputs completeness compares.
#[derive(Debug, Clone)]
pub struct IntegratedGradients {
    /// [W, F].
    pub attributions: Vec<f32>,
    /// y(x).
    pub output: f32,
    /// y(x₀).
    pub baseline_output: f32,
}

impl IntegratedGradients {
    /// Σ attributions − (y(x) − y(x₀)): zero for exact integration.
    pub fn completeness_gap(&self) -> f64 {
        let total: f64 = self.attributions.iter().map(|&a| a as f64).sum();
        total - (self.output as f64 - self.baseline_output as f64)
    }
}

/// What integrated gradients attributes and how finely.
#[derive(Debug, Clone, PartialEq)]
pub struct IgOptions {
    /// Output column y.
    pub target: usize,
    pub baseline: Baseline,
    /// Midpoint Riemann points on the path.
    pub steps: usize,
    /// Path points per forward pass.
    pub chunk: usize,
}

/// Integrated gradients for one window x [W, F] (`dims` = [W, F]).
pub fn integrated_gradients(model: &Model, x: &[f32], dims: [usize; 2], o: &IgOptions) -> Result<IntegratedGradients> {
    let [w, f] = dims;
    let (target, steps, chunk) = (o.target, o.steps, o.chunk);
    if x.len() != w * f {
        return Err(Error::shape("integrated-gradients window", [w, f], x.len()));
    }
    if steps == 0 || chunk == 0 {
        return Err(Error::config("steps/chunk", "must be at least 1"));
    }
    let x0 = o.baseline.window(w, f)?;
    let n = w * f;
    let mut sum = vec![0.0f64; n];
    let mut path = Vec::with_capacity(chunk.min(steps) * n);
    for start in (0..steps).step_by(chunk) {
        let m = chunk.min(steps - start);
        path.clear();
        for s in start..start + m {
            let alpha = (s as f32 + 0.5) / steps as f32;
            path.extend(x0.iter().zip(x).map(|(a, b)| a + alpha * (b - a)));
        }
        let (_, g) = input_gradients(model, &path, [m, w, f], target)?;
        for gs in g.chunks(n) {
            for (acc, &v) in sum.iter_mut().zip(gs) {
                *acc += v as f64;
            }
        }
    }
    let attributions =
        sum.iter().zip(x.iter().zip(&x0)).map(|(s, (xi, bi))| ((xi - bi) as f64 * s / steps as f64) as f32).collect();
    let ends = [x0.as_slice(), x].concat();
    let y = {
        let _g = autodiff::no_grad();
        let t = Tensor::from_vec(ends, &[2, w, f], model.device())?;
        model.forward(&t, &Ctx::eval(), false)?.pred.to_vec()?
    };
    let k = y.len() / 2;
    Ok(IntegratedGradients { attributions, output: y[k + target], baseline_output: y[target] })
}
