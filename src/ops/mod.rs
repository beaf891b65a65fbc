//! The op set, one room per kernel family. Each family declares its dims and its kernel trait in `mod.rs` and
//! holds its op (shapes, backward rule), `reference.rs` (plain loops, generic over `Real` so gradient checks run
//! in f64), `cpu.rs` (the fast CPU kernel, f32, rayon + gemm), `cuda.rs` and `wgpu.rs` (the trait on each GPU
//! device) and its tests. `device.rs` joins the families into `Backend`.

pub mod attention;
pub mod conv1d;
pub mod device;
pub mod dropout;
pub mod elementwise;
pub mod ensemble;
pub mod fastmath;
pub mod layout;
pub mod lstm;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod real;
pub mod reduce;
pub mod softmax;
#[cfg(test)]
pub mod testing;

pub use device::{backend, prelude, Backend};
pub use real::Real;
