//! Shared by the CUDA test files: the device under test (or the printed reason it is absent), seeded random
//! inputs, and comparison against the CPU backend (itself tested against the plain-loop references).
#![allow(dead_code)]

use tickgrad::backend::{self, Backend, Storage};
use tickgrad::device::Device;

/// The CUDA backend of device 0, or None after printing why the test is skipped.
pub fn cuda(test: &str) -> Option<&'static dyn Backend> {
    match backend::get(Device::Cuda(0)) {
        Ok(be) => {
            if let Ok(info) = tickgrad::backend::cuda::warm_up(0) {
                println!("{test}: running on cuda:0 = {} ({})", info.name, info.arch);
            }
            Some(be)
        }
        Err(e) => {
            println!("{test}: SKIPPED, no CUDA device: {e}");
            None
        }
    }
}

pub fn cpu() -> &'static dyn Backend {
    backend::get(Device::Cpu).expect("the CPU backend always exists")
}

/// The crate's SplitMix64 (`tickgrad::rng`) with these tests' seeding, so inputs are reproducible.
pub struct Rng(tickgrad::rng::Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(tickgrad::rng::Rng::from_state(seed.wrapping_mul(tickgrad::rng::GOLDEN).wrapping_add(7)))
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.0.f32()
    }
    /// `n` values in [-1, 1), never exactly zero.
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform(-1.0, 1.0)).map(|v| if v == 0.0 { 0.5 } else { v }).collect()
    }
    pub fn vec_in(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// ‖a − b‖/‖b‖; any non-finite value in either gives infinity.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        if !x.is_finite() || !y.is_finite() {
            if x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()) || x == y {
                continue;
            }
            return f64::INFINITY;
        }
        num += (x as f64 - y as f64).powi(2);
        den += (y as f64).powi(2);
    }
    (num / den.max(1e-30)).sqrt()
}

/// Upload host data to `be`.
pub fn up(be: &dyn Backend, v: &[f32]) -> Storage {
    be.upload(v.to_vec()).expect("upload")
}

pub fn down(be: &dyn Backend, s: &Storage) -> Vec<f32> {
    be.download(s).expect("download")
}

/// Compare a CUDA result with the CPU one.
#[track_caller]
pub fn close(what: &str, gpu: &dyn Backend, got: &Storage, cpu_be: &dyn Backend, want: &Storage, tol: f64) {
    let (g, w) = (down(gpu, got), down(cpu_be, want));
    assert_eq!(g.len(), w.len(), "{what}: length");
    let e = rel_err(&g, &w);
    assert!(
        e <= tol,
        "{what}: relative error {e:.3e} > {tol:.1e} (cuda {:?}… vs cpu {:?}…)",
        &g[..g.len().min(4)],
        &w[..w.len().min(4)]
    );
}
