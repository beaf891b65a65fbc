//! Test helpers shared by every kernel family: seeded random inputs (never zeros), poisoned outputs,
//! tolerance comparisons, an f64 finite-difference gradient check, and the devices every family's device test
//! loops over (`devices`) with the comparisons of a device's result against the CPU backend's.

use crate::backend::Storage;
use crate::device::Device;
use crate::ops::device::{backend, Backend};

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

/// `n` values uniform in [lo, hi) as f32.
pub fn range32(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(lo, hi) as f32).collect()
}

/// The CPU backend, which every device's results are compared with (it is itself checked against the
/// plain-loop references and finite differences).
pub fn cpu_backend() -> &'static dyn Backend {
    backend(Device::Cpu).expect("the CPU backend always exists")
}

/// The backends a device test runs its body on: always the CPU; with feature `wgpu`, `wgpu:0` (lavapipe on CI:
/// without an adapter the test fails); with feature `cuda`, `cuda:0` unless libcuda or a device is absent, which
/// prints "{test}: cuda SKIPPED, {reason}" (and panics under `TICKGRAD_REQUIRE_CUDA=1`). Any other failure to
/// bring a device up (NVRTC, a PTX the driver refuses, a shader that fails to build) fails the test. Device
/// buffers are NaN-poisoned by the backends in debug builds, so an unwritten output element fails `close`.
#[cfg_attr(not(any(feature = "wgpu", feature = "cuda")), allow(unused_variables))]
pub fn devices(test: &str) -> Vec<&'static dyn Backend> {
    #[allow(unused_mut)]
    let mut out = vec![cpu_backend()];
    #[cfg(feature = "wgpu")]
    {
        let be = backend(Device::Wgpu(0)).unwrap_or_else(|e| {
            panic!("{test}: wgpu:0 is needed (on a machine without a GPU: apt-get install mesa-vulkan-drivers): {e}")
        });
        let gpu = crate::backend::wgpu::Gpu::get(0).unwrap_or_else(|e| panic!("{test}: wgpu:0: {e}"));
        println!("{test}: running on {}", gpu.name());
        out.push(be);
    }
    #[cfg(feature = "cuda")]
    match crate::backend::cuda::absent() {
        Some(why) => {
            if std::env::var("TICKGRAD_REQUIRE_CUDA").is_ok_and(|v| v == "1") {
                panic!("{test}: TICKGRAD_REQUIRE_CUDA=1 but {why}");
            }
            println!("{test}: cuda SKIPPED, {why}");
        }
        None => {
            let be = backend(Device::Cuda(0)).unwrap_or_else(|e| panic!("{test}: cuda:0 is present but failed: {e}"));
            let info =
                crate::backend::cuda::warm_up(0).unwrap_or_else(|e| panic!("{test}: cuda:0 warm-up failed: {e}"));
            println!("{test}: running on cuda:0 = {} ({})", info.name, info.arch);
            out.push(be);
        }
    }
    out
}

/// Whether `be` is a wgpu device (some comparisons keep the looser tolerance the WGSL kernels were tested with).
pub fn is_wgpu(be: &dyn Backend) -> bool {
    matches!(be.device(), Device::Wgpu(_))
}

/// The tolerance for `be`: `wgpu` on a wgpu device, `other` on the CPU and CUDA.
pub fn tol(be: &dyn Backend, wgpu: f64, other: f64) -> f64 {
    if is_wgpu(be) {
        wgpu
    } else {
        other
    }
}

/// Host data uploaded to `be`.
pub fn up(be: &dyn Backend, v: &[f32]) -> Storage {
    be.upload(v.to_vec()).unwrap_or_else(|e| panic!("upload to {}: {e}", be.device()))
}

/// Any storage copied back to the host.
pub fn host(s: &Storage) -> Vec<f32> {
    let be = backend(s.device()).unwrap_or_else(|e| panic!("{}: {e}", s.device()));
    be.download(s).unwrap_or_else(|e| panic!("download from {}: {e}", s.device()))
}

/// ‖got − want‖/‖want‖ over the finite entries. A NaN on either side is a mismatch (infinity), even against a
/// NaN, so a kernel that leaves a poisoned (NaN) output unwritten cannot pass; infinities must agree exactly.
pub fn device_rel_err(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&a, &b) in got.iter().zip(want) {
        if a.is_nan() || b.is_nan() || ((!a.is_finite() || !b.is_finite()) && a != b) {
            return f64::INFINITY;
        }
        if a.is_finite() {
            num += (a as f64 - b as f64).powi(2);
            den += (b as f64).powi(2);
        }
    }
    (num / den.max(1e-30)).sqrt()
}

/// A device result against the CPU's: `device_rel_err(got, want) ≤ tol`.
#[track_caller]
pub fn close(what: &str, got: &Storage, want: &Storage, tol: f64) {
    let (g, w) = (host(got), host(want));
    assert_eq!(g.len(), w.len(), "{what} on {}: length", got.device());
    let e = device_rel_err(&g, &w);
    assert!(
        e <= tol,
        "{what} on {}: relative error {e:.3e} > {tol:.1e} ({} {:?}… vs cpu {:?}…)",
        got.device(),
        got.device(),
        &g[..g.len().min(4)],
        &w[..w.len().min(4)]
    );
}

/// Bit-for-bit equality (copies, masks, argmax indices); NaN matches NaN.
#[track_caller]
pub fn same(what: &str, got: &Storage, want: &Storage) {
    let (g, w) = (host(got), host(want));
    assert_eq!(g.len(), w.len(), "{what} on {}: length", got.device());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            "{what} on {}: element {i}: {a} vs cpu {b}",
            got.device()
        );
    }
}
