//! Per-forward context: training flag and a deterministic stream of dropout seeds.

use std::cell::Cell;

pub struct Ctx {
    pub train: bool,
    seed: u64,
    counter: Cell<u64>,
}

impl Ctx {
    /// Inference: dropout off, batch norm uses running statistics.
    pub fn eval() -> Ctx {
        Ctx { train: false, seed: 0, counter: Cell::new(0) }
    }
    /// Training with dropout masks derived from `seed` (same seed, same masks).
    pub fn train(seed: u64) -> Ctx {
        Ctx { train: true, seed, counter: Cell::new(0) }
    }
    /// A fresh seed for the next dropout call.
    pub fn next_seed(&self) -> u64 {
        let c = self.counter.get();
        self.counter.set(c + 1);
        self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ c.wrapping_mul(0xD6E8_FEB8_6659_FD93).wrapping_add(c)
    }
}
