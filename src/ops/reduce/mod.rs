//! Reductions along one axis, a whole-tensor sum, and `sum_to_shape` (the gradient of broadcasting).
//!
//! A tensor reduced along one axis is viewed as x [outer, axis, inner] (outer = product of the dims before the
//! axis, inner = product of those after), and the result as y [outer, inner]:
//! ```text
//! sum:  y[o, i] = Σ_a x[o, a, i]                 dx[o, a, i] = dy[o, i]
//! mean: y[o, i] = Σ_a x[o, a, i] / axis          dx[o, a, i] = dy[o, i] / axis
//! max:  y[o, i] = max_a x[o, a, i],  idx[o, i] = argmax (first on ties; NaN wins and propagates)
//!                                                dx[o, a, i] = dy[o, i] if a == idx[o, i] else 0
//! sum_all: Σ_j x[j]
//! sum_to_shape(from, to): y[to] = Σ x[from] over every dim where `to` (left-padded with 1s) is 1 and `from`
//!                         is not: the gradient of an operand broadcast from `to` up to `from`.
//! ```
//! max saves its argmax (u32, like a GPU kernel would write) so backward is a scatter, with no second pass
//! over x. Sums in `reference` accumulate in f64, so the oracle is not the one that drifts on long axes.
//!
//! Memory traffic: each reduction reads x once and writes y once (axis× smaller); each backward reads dy once and
//! writes dx once. All are memory bound.
//!
//! Variants:
//! - `reference`: loops over (o, a, i).
//! - `cpu`: two shapes of work. inner == 1 reduces contiguous rows (sums: 8 independent f32 lanes per
//!   1024-element block, blocks added in f64; max: a vectorised pass for the value and any NaN, then a scan for
//!   its first index), parallel over rows or, for sums of a few long rows, over blocks of a row. inner > 1 adds whole
//!   rows x[o, a, :] into y[o, :] column block by column block, parallel over (o, block), so each block of y
//!   stays in L1 while the axis streams through; with fewer planes than threads (the bias-gradient shape
//!   [rows, n] → [n]) the axis is split instead, one contiguous run of rows per thread into a private row.
//!   `sum_to_shape` collapses the dims into alternating kept/reduced groups and runs one [outer, axis, inner]
//!   sum per reduced group, innermost first.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod op;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::{Pair, Storage};
use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReduceDims {
    pub outer: usize,
    pub axis: usize,
    pub inner: usize,
}

impl ReduceDims {
    /// The [outer, axis, inner] view of `shape` reduced along dim `axis`. Panics if `axis >= shape.len()`.
    pub fn of(shape: &[usize], axis: usize) -> Self {
        assert!(axis < shape.len(), "reduce: axis {axis} out of range for rank {}", shape.len());
        ReduceDims {
            outer: shape[..axis].iter().product(),
            axis: shape[axis],
            inner: shape[axis + 1..].iter().product(),
        }
    }

    pub fn in_len(&self) -> usize {
        self.outer * self.axis * self.inner
    }

    pub fn out_len(&self) -> usize {
        self.outer * self.inner
    }
}

/// `to` left-padded with 1s to the rank of `from`, checked to broadcast up to `from` (each dim equal or 1).
pub fn padded_target(from: &[usize], to: &[usize]) -> Vec<usize> {
    assert!(to.len() <= from.len(), "sum_to_shape: target {to:?} has higher rank than {from:?}");
    let mut t = vec![1; from.len() - to.len()];
    t.extend_from_slice(to);
    for (&f, &t) in from.iter().zip(&t) {
        assert!(t == f || t == 1, "sum_to_shape: {to:?} does not broadcast to {from:?}");
    }
    t
}

/// Sum, mean and max over the middle axis of `[outer, axis, inner]`.
pub trait ReduceKernel {
    fn sum(&self, d: &ReduceDims, x: &Storage, mean: bool) -> Result<Storage>;
    fn sum_backward(&self, d: &ReduceDims, dy: &Storage, mean: bool) -> Result<Storage>;
    /// (values, argmax indices as f32).
    fn max(&self, d: &ReduceDims, x: &Storage) -> Result<Pair>;
    fn max_backward(&self, d: &ReduceDims, idx: &Storage, dy: &Storage) -> Result<Storage>;
}
