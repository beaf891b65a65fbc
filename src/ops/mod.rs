//! The op set, one room per kernel family. Each family holds its op (shapes, backward rule, tests on every
//! device), `reference.rs` (plain loops, generic over `Real` so gradient checks run in f64) and `cpu.rs`
//! (the fast CPU kernel, f32, rayon + gemm).

pub mod attention;
pub mod conv1d;
pub mod dropout;
pub mod elementwise;
pub mod ensemble;
pub mod fastmath;
pub mod layout;
pub mod lstm;
pub mod matmul;
pub mod norm;
pub mod real;
pub mod reduce;
pub mod softmax;
#[cfg(test)]
pub mod testing;

pub use real::Real;
