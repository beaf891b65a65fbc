//! Test helpers shared by every kernel family: seeded random inputs (never zeros), poisoned outputs,
//! tolerance comparisons and an f64 finite-difference gradient check.

/// The crate's SplitMix64 (`crate::rng`) with the test inputs' seeding, so tests are reproducible.
pub struct Rng(crate::rng::Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(crate::rng::Rng::from_state(seed.wrapping_mul(crate::rng::GOLDEN).wrapping_add(1)))
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0.uniform(lo, hi)
    }
    /// `n` values uniform in [-1, 1) as f64.
    pub fn vec64(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.uniform(-1.0, 1.0)).collect()
    }
    /// `n` values uniform in [-1, 1) as f32.
    pub fn vec32(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform(-1.0, 1.0) as f32).collect()
    }
}

/// A buffer filled with NaN, so a kernel that forgets to write an element fails the comparison.
pub fn poisoned(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Relative error ‖a−b‖/‖b‖ (b is the reference); NaN anywhere gives infinity.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    for (&x, &y) in a.iter().zip(b) {
        if !x.is_finite() || !y.is_finite() {
            return f64::INFINITY;
        }
        num += (x as f64 - y as f64).powi(2);
        den += (y as f64).powi(2);
    }
    (num / den.max(1e-30)).sqrt()
}

/// Assert ‖a−b‖/‖b‖ ≤ tol with a message naming the quantity.
#[track_caller]
pub fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f64) {
    let e = rel_err(a, b);
    assert!(e <= tol, "{what}: relative error {e:.3e} > {tol:.1e}");
}

/// Finite-difference gradient check in f64.
///
/// `f` maps the flat inputs (one Vec per input) to a flat output. The analytic gradients `analytic[i]` must be
/// the gradient of `L = Σ_j dy[j]·y[j]` with respect to input i, where `dy` is the given upstream gradient.
/// Central differences with step `eps`; every element is checked (keep sizes small) against
/// `|fd − an| ≤ tol·(1 + |fd|)`.
#[track_caller]
pub fn gradcheck(
    what: &str,
    inputs: &[Vec<f64>],
    dy: &[f64],
    analytic: &[Vec<f64>],
    f: impl Fn(&[Vec<f64>]) -> Vec<f64>,
) {
    let eps = 1e-6;
    let tol = 1e-6;
    assert_eq!(inputs.len(), analytic.len(), "{what}: one analytic gradient per input");
    let loss = |xs: &[Vec<f64>]| -> f64 { f(xs).iter().zip(dy).map(|(a, b)| a * b).sum() };
    let mut xs: Vec<Vec<f64>> = inputs.to_vec();
    for (i, an) in analytic.iter().enumerate() {
        assert_eq!(an.len(), inputs[i].len(), "{what}: gradient {i} has the wrong length");
        let mut nonzero = false;
        for j in 0..inputs[i].len() {
            let orig = xs[i][j];
            xs[i][j] = orig + eps;
            let lp = loss(&xs);
            xs[i][j] = orig - eps;
            let lm = loss(&xs);
            xs[i][j] = orig;
            let fd = (lp - lm) / (2.0 * eps);
            nonzero |= an[j] != 0.0;
            assert!(
                (fd - an[j]).abs() <= tol * (1.0 + fd.abs()),
                "{what}: d/d input{i}[{j}]: finite difference {fd:.9e} vs analytic {:.9e}",
                an[j]
            );
        }
        assert!(nonzero || inputs[i].is_empty(), "{what}: gradient of input {i} is all zero");
    }
}
