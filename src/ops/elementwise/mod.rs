//! Elementwise ops: unary maps, an affine `scale_shift`, and binary ops with numpy broadcasting.
//!
//! ```text
//! unary:       y[j] = f(x[j])                       dx[j] = dy[j]·f'(x[j])  (written with y where cheaper)
//! scale_shift: y[j] = a·x[j] + b                    dx[j] = a·dy[j]
//! binary:      y[J] = a[J mod a_shape] ∘ b[J mod b_shape]     (J a multi-index over out_shape)
//!              da[I] = Σ_{J broadcast onto I} ∂(a∘b)/∂a · dy[J]   and the same for db
//! ```
//!
//! GELU is the exact one (PyTorch's default `approximate='none'`): `x·Φ(x)`, Φ through the erfc of `erf.rs`.
//! Broadcasting follows numpy: shapes are left-padded with 1s to the same rank, and each dim pair must be equal
//! or contain a 1. Gradients of a broadcast operand are summed over the dims it was broadcast along, so da and db
//! always have the operand's own shape.
//!
//! Memory traffic: every op is one read per input element and one write per output element; they are memory
//! bound except GELU, tanh, sigmoid, exp and log, whose transcendental costs about as much as the traffic.
//!
//! Variants:
//! - `reference`: one loop over output elements, the source offsets computed from the multi-index; the oracle.
//! - `cpu`: dims are first collapsed (drop size-1 dims, merge neighbours that are contiguous for both operands),
//!   which turns same-shape into one flat run and "b is a trailing row vector" into [rows, n] with b's inner
//!   stride 0. Then the output is walked in flat chunks (parallel above ~64K elements) whose inner loops see
//!   either a contiguous slice or a scalar for each operand, so they vectorise. The binary backward writes each
//!   operand's gradient straight into da/db when that operand has the output's shape, and otherwise into an
//!   output-shaped scratch reduced with `reduce::cpu::sum_to_shape`; Add and Sub skip the scratch (their
//!   gradients are ±dy).

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod erf;
mod op;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::{Pair, Storage};
use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unary {
    Relu,
    Tanh,
    Sigmoid,
    /// Exact GELU, x·Φ(x).
    Gelu,
    Exp,
    Log,
    Neg,
    Sqrt,
    Abs,
    Square,
    /// −1, 0 or +1 (±0 and NaN pass through); its gradient is 0 everywhere, as PyTorch's. FGSM's perturbation.
    Sign,
}

impl Unary {
    pub const ALL: [Unary; 11] = [
        Unary::Relu,
        Unary::Tanh,
        Unary::Sigmoid,
        Unary::Gelu,
        Unary::Exp,
        Unary::Log,
        Unary::Neg,
        Unary::Sqrt,
        Unary::Abs,
        Unary::Square,
        Unary::Sign,
    ];

    /// Whether `unary_backward` reads x (save the input for backward); otherwise x may be passed empty.
    pub fn backward_needs_input(self) -> bool {
        matches!(self, Unary::Relu | Unary::Gelu | Unary::Log | Unary::Abs | Unary::Square)
    }

    /// Whether `unary_backward` reads y (save the output for backward); otherwise y may be passed empty.
    pub fn backward_needs_output(self) -> bool {
        matches!(self, Unary::Tanh | Unary::Sigmoid | Unary::Exp | Unary::Sqrt)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Elementwise maximum (NaN propagates); on ties the gradient is split equally, as PyTorch does.
    Max,
    /// Elementwise minimum (NaN propagates); on ties the gradient is split equally.
    Min,
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 6] =
        [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Max, BinaryOp::Min];

    /// Whether `binary_backward` reads a and b; Add and Sub do not, and accept empty slices for them.
    pub fn backward_needs_inputs(self) -> bool {
        !matches!(self, BinaryOp::Add | BinaryOp::Sub)
    }
}

/// Shapes of a broadcast binary op, all of the same rank (the shorter input shape left-padded with 1s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastDims {
    pub out_shape: Vec<usize>,
    pub a_shape: Vec<usize>,
    pub b_shape: Vec<usize>,
}

/// `shape` left-padded with 1s to `rank`.
pub fn left_pad(shape: &[usize], rank: usize) -> Vec<usize> {
    let mut v = vec![1; rank.saturating_sub(shape.len())];
    v.extend_from_slice(shape);
    v
}

impl BroadcastDims {
    /// numpy broadcasting of two shapes of any ranks; None when some dim pair differs and neither is 1.
    pub fn new(a_shape: &[usize], b_shape: &[usize]) -> Option<Self> {
        let rank = a_shape.len().max(b_shape.len());
        let a_shape = left_pad(a_shape, rank);
        let b_shape = left_pad(b_shape, rank);
        let mut out_shape = Vec::with_capacity(rank);
        for (&a, &b) in a_shape.iter().zip(&b_shape) {
            out_shape.push(match (a, b) {
                _ if a == b => a,
                (1, _) => b,
                (_, 1) => a,
                _ => return None,
            });
        }
        Some(BroadcastDims { out_shape, a_shape, b_shape })
    }

    pub fn rank(&self) -> usize {
        self.out_shape.len()
    }

    pub fn out_len(&self) -> usize {
        self.out_shape.iter().product()
    }

    pub fn a_len(&self) -> usize {
        self.a_shape.iter().product()
    }

    pub fn b_len(&self) -> usize {
        self.b_shape.iter().product()
    }

    /// Row-major strides of a, with 0 on every dim of size 1 (so a broadcast dim never moves the offset).
    pub fn a_strides(&self) -> Vec<usize> {
        broadcast_strides(&self.a_shape)
    }

    pub fn b_strides(&self) -> Vec<usize> {
        broadcast_strides(&self.b_shape)
    }
}

/// Row-major strides of `shape` with 0 wherever the dim is 1.
pub fn broadcast_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut s = 1;
    for d in (0..shape.len()).rev() {
        strides[d] = if shape[d] == 1 { 0 } else { s };
        s *= shape[d];
    }
    strides
}

/// Unary maps, `a·x + b`, and broadcasting binary ops, each with its backward.
pub trait ElementwiseKernel {
    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage>;
    fn unary_backward(&self, op: Unary, x: &Storage, y: &Storage, dy: &Storage) -> Result<Storage>;
    /// `a·x + b`; its backward is `scale_shift(dy, a, 0)`.
    fn scale_shift(&self, x: &Storage, a: f32, b: f32) -> Result<Storage>;
    fn binary(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage>;
    /// (da, db), each reduced over the axes it was broadcast along.
    fn binary_backward(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage, dy: &Storage) -> Result<Pair>;
}
