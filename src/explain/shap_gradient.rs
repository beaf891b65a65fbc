//! GradientSHAP as expected gradients (Erion et al. 2021; shap's GradientExplainer): integrated gradients
//! averaged over baselines drawn from the training data, φ = E_{b, α}[(x − b) ⊙ ∂y/∂x(b + α(x − b))], α ~ U(0, 1).
//! Its attributions approximate Shapley values of the model linearised along each path, and they add up in
//! expectation: E\[Σ φ\] = f(x) − E_b\[f(b)\].
//!
//! The expectation is estimated without drawing baselines at random: every background window is used, with
//! `steps` path points each, α stratified ((s + u)/steps, u uniform and seeded) so the estimate is unbiased and
//! its error shrinks like the quadrature of integrated gradients rather than like plain Monte Carlo. The input
//! gradients are the autodiff's ([`super::input_gradients`]), so every device that runs the model runs this.

use super::gradients::input_gradients;
use super::permutation::predict_all;
use crate::models::Model;
use crate::rng::Rng;
use crate::{Error, Result};

/// How finely the expectation is sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientShapOptions {
    /// Output column y.
    pub target: usize,
    /// Path points per background window.
    pub steps: usize,
    /// Path points per forward pass.
    pub chunk: usize,
    pub seed: u64,
}

/// GradientSHAP of one window, with the two ends additivity compares.
#[derive(Debug, Clone)]
pub struct GradientShap {
    /// [W, F].
    pub attributions: Vec<f32>,
    /// f(x).
    pub output: f64,
    /// E_b\[f(b)\] over the background windows.
    pub expected: f64,
}

impl GradientShap {
    /// Σ φ + E\[f\] − f(x): zero in expectation, small with enough steps.
    pub fn additivity_gap(&self) -> f64 {
        self.attributions.iter().map(|&a| a as f64).sum::<f64>() + self.expected - self.output
    }
}

/// GradientSHAP of window x [W, F] (`dims`) against background windows [B, W, F].
pub fn gradient_shap(
    model: &Model,
    x: &[f32],
    dims: [usize; 2],
    background: &[f32],
    o: &GradientShapOptions,
) -> Result<GradientShap> {
    let [w, f] = dims;
    let n = w * f;
    if x.len() != n {
        return Err(Error::shape("GradientSHAP window", [w, f], x.len()));
    }
    if n == 0 || background.is_empty() || !background.len().is_multiple_of(n) {
        return Err(Error::shape("GradientSHAP background", format!("[B ≥ 1, {w}, {f}]"), background.len()));
    }
    if o.steps == 0 || o.chunk == 0 {
        return Err(Error::config("steps/chunk", "must be at least 1"));
    }
    let k = model.config().output_width();
    if o.target >= k {
        return Err(Error::config("target", format!("output column {} does not exist: the model has {k}", o.target)));
    }
    let nb = background.len() / n;
    let mut rng = Rng::new(o.seed);
    // (background, α) for every path point, in a fixed order so the seed fixes the result.
    let points: Vec<(usize, f32)> = (0..nb)
        .flat_map(|b| (0..o.steps).map(move |s| (b, s)))
        .map(|(b, s)| (b, ((s as f64 + rng.f64()) / o.steps as f64) as f32))
        .collect();
    let mut sum = vec![0.0f64; n];
    let mut path = Vec::with_capacity(o.chunk.min(points.len()) * n);
    for chunk in points.chunks(o.chunk) {
        path.clear();
        for &(b, alpha) in chunk {
            let base = &background[b * n..(b + 1) * n];
            path.extend(base.iter().zip(x).map(|(b, x)| b + alpha * (x - b)));
        }
        let (_, g) = input_gradients(model, &path, [chunk.len(), w, f], o.target)?;
        for (gs, &(b, _)) in g.chunks(n).zip(chunk) {
            let base = &background[b * n..(b + 1) * n];
            for (((acc, &gv), &xv), &bv) in sum.iter_mut().zip(gs).zip(x).zip(base) {
                *acc += ((xv - bv) * gv) as f64;
            }
        }
    }
    let total = points.len() as f64;
    let attributions = sum.iter().map(|s| (s / total) as f32).collect();
    let ends = predict_all(model, &[x, background].concat(), [nb + 1, w, f], 64)?;
    let y: Vec<f64> = ends.chunks(k).map(|r| r[o.target] as f64).collect();
    let expected = y[1..].iter().sum::<f64>() / nb as f64;
    Ok(GradientShap { attributions, output: y[0], expected })
}
