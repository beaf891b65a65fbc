//! A small seeded generator (SplitMix64) for weight initialisation, shuffling and dropout seeds: reproducible
//! across platforms, no dependency. The crate's one SplitMix64: the GBDT's row subsampling, the dropout mask's
//! counter-based hash (`ops::dropout::mix`, which the GPU kernels reproduce) and the tests' input generators all
//! draw from it, so each sequence is the same everywhere.

/// SplitMix64's increment, 2^64/φ.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: the generator's value for (already advanced) state `z`.
pub fn mix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Serialisable so that a resumed training run continues the same shuffles (`train::resume`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rng {
    state: u64,
    spare_normal: Option<f64>,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng::from_state(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    /// The generator whose state is `state` as given (`new` scrambles its seed first): the sequence of Vigna's
    /// `splitmix64.c` started from `x = state`.
    pub fn from_state(state: u64) -> Rng {
        Rng { state, spare_normal: None }
    }
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }
    /// Uniform in [0, 1), from the top 53 bits.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, 1) in f32, from the top 24 bits.
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = self.f64().max(1e-300);
        let u2 = self.f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * u2;
        self.spare_normal = Some(r * t.sin());
        r * t.cos()
    }
    /// Uniform integer in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.f64() * n as f64) as usize % n.max(1)
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
    /// `n` values uniform in [-bound, bound), PyTorch's default init for Linear/Conv/LSTM weights.
    pub fn uniform_vec(&mut self, n: usize, bound: f64) -> Vec<f32> {
        (0..n).map(|_| self.uniform(-bound, bound) as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn from_state_is_vignas_splitmix64() {
        // splitmix64.c from x = 1234567: the values the dropout mask's hash pins (ops::dropout::mix).
        let mut r = Rng::from_state(1234567);
        let got = [r.next_u64(), r.next_u64(), r.next_u64()];
        assert_eq!(got, [6457827717110365317, 3203168211198807973, 9817491932198370423]);
        assert_eq!(Rng::new(7).next_u64(), Rng::from_state(7 ^ 0x5DEE_CE66_D1CE_4E5B).next_u64());
    }
}
