//! Inverted dropout with a counter-based mask: no mask buffer, and every backend draws the same mask.
//!
//! ```text
//! keep(i)  ⇔  u(i) ≥ t                 u(i) = mix(seed, i) >> 40   (the top 24 bits, in [0, 2^24))
//!                                      t    = ⌈p·2^24⌉             (`DropoutDims::threshold`)
//! y[i]  = keep(i) ? x[i]·scale : 0     scale = 1.0f32 / (1.0f32 − p)   (computed in f32, `DropoutDims::scale`)
//! dx[i] = keep(i) ? dy[i]·scale : 0    (the mask is recomputed from (seed, i), never stored)
//! ```
//! `mix(seed, i)` is SplitMix64 (Steele, Lea, Flood 2014; Vigna's `splitmix64.c`): the (i+1)-th output of the
//! generator seeded with `seed`, so it can be checked against any SplitMix64. Bit for bit, with wrapping u64
//! arithmetic and i the flat (row-major) element index:
//! ```text
//! z = seed + (i + 1)·0x9E3779B97F4A7C15
//! z = (z ^ (z >> 30))·0xBF58476D1CE4E5B9
//! z = (z ^ (z >> 27))·0x94D049BB133111EB
//! z =  z ^ (z >> 31)
//! ```
//! (seed 1234567 gives 6457827717110365317, 3203168211198807973, 9817491932198370423 for i = 0, 1, 2; a test pins
//! these.) The keep test is integer-only, so no backend can round differently: `u ≥ ⌈p·2^24⌉` is the same as
//! `u·2^−24 ≥ p` in exact arithmetic, and u·2^−24 is exact in f32, so a kernel may compare in f32 instead. WGSL
//! has no u64: there the mix is written on (hi, lo) u32 pairs, a 64×64 multiply being lo·lo (widened through
//! 16-bit halves) plus the two cross products' low words added to the high word.
//!
//! p = 0 keeps everything with scale 1, an exact identity. p must be in [0, 1): p = 1 would divide by zero.
//! The caller chooses a fresh seed per forward call (e.g. from a step counter) and reuses it in backward.
//!
//! Memory traffic: one read and one write per element; the hash is ~10 integer ops per element, below the
//! traffic on any CPU or GPU. Variants: `reference` (one loop) and `cpu` (the same loop over parallel chunks; a
//! chunk starting at element j0 hashes j0.., so chunking cannot change the mask).

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod op;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::Storage;
use crate::Result;

/// SplitMix64's increment, 2^64/φ.
pub use crate::rng::GOLDEN;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutDims {
    /// Number of elements (the flat length of x).
    pub len: usize,
    /// Drop probability, in [0, 1).
    pub p: f32,
}

impl DropoutDims {
    pub fn new(len: usize, p: f32) -> Self {
        let d = DropoutDims { len, p };
        d.check();
        d
    }

    /// The dims of a call, or an error unless 0 ≤ p < 1: the one check every device runs before drawing a mask.
    pub fn checked(len: usize, p: f32) -> crate::Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(crate::Error::Invalid(format!("dropout: p = {p} is outside [0, 1)")));
        }
        Ok(DropoutDims { len, p })
    }

    /// Panics unless 0 ≤ p < 1 (the kernels' own guard; the device entry points return `checked`'s error instead).
    pub fn check(&self) {
        if let Err(e) = Self::checked(self.len, self.p) {
            panic!("{e}");
        }
    }

    /// t = ⌈p·2^24⌉: element i is kept iff `mix(seed, i) >> 40 ≥ t`. Exact: p·2^24 has at most 24 significant bits.
    pub fn threshold(&self) -> u32 {
        (self.p as f64 * (1u64 << 24) as f64).ceil() as u32
    }

    /// 1/(1 − p), computed in f32 exactly as written so every backend scales by the same number.
    pub fn scale(&self) -> f32 {
        1.0f32 / (1.0f32 - self.p)
    }
}

/// The (i+1)-th SplitMix64 output for `seed` (see the module docs for the exact steps).
pub fn mix(seed: u64, i: u64) -> u64 {
    crate::rng::mix(seed.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// Whether element i survives, for `threshold = DropoutDims::threshold()`.
pub fn keep(seed: u64, i: u64, threshold: u32) -> bool {
    (mix(seed, i) >> 40) as u32 >= threshold
}

/// Inverted dropout with a counter-based mask, so every device draws the same mask.
pub trait DropoutKernel {
    /// y = x·mask(seed)/(1 − p).
    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage>;
    /// The same masked scaling of dy with the forward's seed: a composite that needs no kernel of its own.
    fn dropout_backward(&self, dy: &Storage, p: f32, seed: u64) -> Result<Storage> {
        self.dropout(dy, p, seed)
    }
}
