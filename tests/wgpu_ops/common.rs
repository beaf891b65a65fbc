//! Shared helpers of the wgpu plumbing tests: the device and a seeded generator.
#![allow(dead_code)] // `Rng::range`: the generator copies are being deduplicated separately

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
