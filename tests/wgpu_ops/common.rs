//! Shared helpers: the two backends, a seeded generator, transfers and the tolerance check.

use tickgrad::backend::Storage;
use tickgrad::device::Device;
use tickgrad::ops::prelude::*;

pub fn gpu() -> &'static dyn Backend {
    match backend(Device::Wgpu(0)) {
        Ok(b) => b,
        Err(e) => panic!(
            "wgpu:0 is needed for these tests (on a machine without a GPU: apt-get install mesa-vulkan-drivers): {e}"
        ),
    }
}

pub fn cpu() -> &'static dyn Backend {
    backend(Device::Cpu).unwrap()
}

/// The crate's SplitMix64 (`tickgrad::rng`) seeded as the crate's own test helpers seed it.
pub struct Rng(tickgrad::rng::Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(tickgrad::rng::Rng::from_state(seed.wrapping_mul(tickgrad::rng::GOLDEN).wrapping_add(1)))
    }
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.0.uniform(lo, hi)
    }
    /// `n` values uniform in [-1, 1).
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform(-1.0, 1.0) as f32).collect()
    }
    pub fn range(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi) as f32).collect()
    }
}

/// The same host data on the CPU and on the wgpu device.
pub fn both(v: &[f32]) -> (Storage, Storage) {
    (cpu().upload(v.to_vec()).unwrap(), gpu().upload(v.to_vec()).unwrap())
}

pub fn host(s: &Storage) -> Vec<f32> {
    match s.device() {
        Device::Cpu => s.as_cpu().unwrap().to_vec(),
        _ => gpu().download(s).unwrap(),
    }
}

/// ‖got − want‖/‖want‖ ≤ tol, every value finite (a NaN-poisoned element left unwritten fails).
#[track_caller]
pub fn close(what: &str, got: &Storage, want: &Storage, tol: f64) {
    let (g, w) = (host(got), host(want));
    assert_eq!(g.len(), w.len(), "{what}: length");
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        // NaN is a mismatch even against NaN, so an unwritten (poisoned) output cannot pass; infinities must agree.
        assert!(!a.is_nan() && !b.is_nan(), "{what}: element {i}: NaN (wgpu {a}, cpu {b})");
        assert!(
            a.is_finite() == b.is_finite() && (a.is_finite() || a == b),
            "{what}: element {i}: wgpu {a} vs cpu {b}"
        );
        if a.is_finite() {
            num += (a as f64 - b as f64).powi(2);
            den += (b as f64).powi(2);
        }
    }
    let e = (num / den.max(1e-30)).sqrt();
    assert!(e <= tol, "{what}: relative error {e:.3e} > {tol:.1e}");
}

/// Bit-for-bit equality (masks, argmax indices, copies).
#[track_caller]
pub fn same(what: &str, got: &Storage, want: &Storage) {
    let (g, w) = (host(got), host(want));
    assert_eq!(g.len(), w.len(), "{what}: length");
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{what}: element {i}: wgpu {a} vs cpu {b}");
    }
}
