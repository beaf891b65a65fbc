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

/// SplitMix64, as in the crate's own test helpers.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
    /// `n` values uniform in [-1, 1).
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform(-1.0, 1.0) as f32).collect()
    }
    pub fn range(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi) as f32).collect()
    }
}
