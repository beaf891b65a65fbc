//! Data movement without arithmetic: permute (head split/merge, [B,T,C]↔[B,C,T]), narrow (slices along an axis)
//! and concat (bidirectional LSTM outputs). The reference is the kernel: a copy has nothing to approximate.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod op;
#[cfg(feature = "wgpu")]
pub mod wgpu;
