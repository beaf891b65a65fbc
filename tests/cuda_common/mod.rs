//! Shared by the CUDA test files: the device under test (or the printed reason it is absent), seeded random
//! inputs, and comparison against the CPU backend (itself tested against the plain-loop references).
#![allow(dead_code)]

pub mod sim;

use tickgrad::backend::Storage;
use tickgrad::device::Device;
use tickgrad::ops::prelude::*;

/// The CUDA backend of device 0, or None after printing why the test is skipped. Only a missing libcuda or a
/// missing device skips (and not even that with `TICKGRAD_REQUIRE_CUDA=1`); any other failure to bring the device
/// up — NVRTC, a PTX the driver refuses — fails the test.
pub fn cuda(test: &str) -> Option<&'static dyn Backend> {
    if let Some(why) = tickgrad::backend::cuda::absent() {
        if std::env::var("TICKGRAD_REQUIRE_CUDA").is_ok_and(|v| v == "1") {
            panic!("{test}: TICKGRAD_REQUIRE_CUDA=1 but {why}");
        }
        println!("{test}: SKIPPED, {why}");
        return None;
    }
    let be = backend(Device::Cuda(0)).unwrap_or_else(|e| panic!("{test}: cuda:0 is present but failed: {e}"));
    let info = tickgrad::backend::cuda::warm_up(0).unwrap_or_else(|e| panic!("{test}: cuda:0 warm-up failed: {e}"));
    println!("{test}: running on cuda:0 = {} ({})", info.name, info.arch);
    Some(be)
}

pub fn cpu() -> &'static dyn Backend {
    backend(Device::Cpu).expect("the CPU backend always exists")
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

/// ‖a − b‖/‖b‖. A NaN on either side is a mismatch (infinity): a kernel that leaves the poisoned (NaN) output
/// unwritten must fail even where the CPU also produced NaN. Infinities must agree exactly.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        if !x.is_finite() || !y.is_finite() {
            if x == y {
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
