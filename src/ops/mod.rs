//! The op set, one room per kernel family. Each family holds its op (shapes, backward rule, tests on every
//! device), `reference.rs` (plain loops, generic over `Real` so gradient checks run in f64) and `cpu.rs`
//! (the fast CPU kernel, f32, rayon + gemm).

pub mod real;
#[cfg(test)]
pub mod testing;

pub use real::Real;
