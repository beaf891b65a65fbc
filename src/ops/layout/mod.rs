//! Data movement without arithmetic: permute (head split/merge, [B,T,C]↔[B,C,T]), narrow (slices along an axis)
//! and concat (bidirectional LSTM outputs). The reference is the kernel: a copy has nothing to approximate.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod op;
#[cfg(feature = "wgpu")]
pub mod wgpu;

/// Copies between layouts: permute, narrow and its inverse, concat.
pub trait LayoutKernel {
    fn permute(&self, x: &Storage, shape: &[usize], perm: &[usize]) -> Result<Storage>;
    /// Copy `[outer, len, inner]` out of `[outer, axis, inner]` starting at `start`.
    fn narrow(&self, x: &Storage, outer: usize, axis: usize, inner: usize, start: usize, len: usize)
        -> Result<Storage>;
    /// Inverse of `narrow`: place `[outer, len, inner]` into zeros of `[outer, axis, inner]` at `start`.
    fn unnarrow(
        &self,
        g: &Storage,
        outer: usize,
        axis: usize,
        inner: usize,
        start: usize,
        len: usize,
    ) -> Result<Storage>;
    /// Concatenate `[outer, len_i, inner]` parts along the middle axis.
    fn concat(&self, parts: &[&Storage], outer: usize, lens: &[usize], inner: usize) -> Result<Storage>;
}

use crate::backend::Storage;
use crate::Result;
