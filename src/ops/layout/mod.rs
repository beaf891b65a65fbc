//! Data movement without arithmetic: permute (head split/merge, [B,T,C]↔[B,C,T]), narrow (slices along an axis)
//! and concat (bidirectional LSTM outputs). The reference is the kernel: a copy has nothing to approximate.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod op;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::Storage;
use crate::Result;

/// A slice `[outer, len, inner]` of `[outer, axis, inner]` starting at `start` along the middle axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NarrowDims {
    pub outer: usize,
    pub axis: usize,
    pub inner: usize,
    pub start: usize,
    pub len: usize,
}

/// Copies between layouts: permute, narrow and its inverse, concat.
pub trait LayoutKernel {
    fn permute(&self, x: &Storage, shape: &[usize], perm: &[usize]) -> Result<Storage>;
    /// Copy the slice out of `[outer, axis, inner]`.
    fn narrow(&self, x: &Storage, d: &NarrowDims) -> Result<Storage>;
    /// Inverse of `narrow`: place the slice into zeros of `[outer, axis, inner]`.
    fn unnarrow(&self, g: &Storage, d: &NarrowDims) -> Result<Storage>;
    /// Concatenate `[outer, len_i, inner]` parts along the middle axis.
    fn concat(&self, parts: &[&Storage], outer: usize, lens: &[usize], inner: usize) -> Result<Storage>;
}
