//! LSTM: one cell step and a whole-sequence recurrence, forward and backward, with PyTorch's semantics.
//!
//! Gate order i, f, g, o (PyTorch's), weights in PyTorch's layout: `w_ih` [4H, input], `w_hh` [4H, H],
//! `b_ih` [4H], `b_hh` [4H]. For one step with input x [B, input] and state (h, c) [B, H]:
//!
//! ```text
//! pre  = x·w_ihᵀ + b_ih + h·w_hhᵀ + b_hh            [B, 4H], columns [i | f | g | o]
//! i, f, o = σ(pre_i), σ(pre_f), σ(pre_o);  g = tanh(pre_g)
//! c' = f⊙c + i⊙g;  h' = o⊙tanh(c')
//! ```
//!
//! The post-activation gates [B, 4H] are saved for backward (with c' they give every local derivative;
//! tanh(c') is recomputed). Backward of one step, with dh', dc' the gradients reaching h', c':
//!
//! ```text
//! dc  = dc' + dh'⊙o⊙(1 − tanh²c')
//! dpre = [dc⊙g⊙i(1−i) | dc⊙c⊙f(1−f) | dc⊙i⊙(1−g²) | dh'⊙tanh(c')⊙o(1−o)]
//! dx = dpre·w_ih;  dh = dpre·w_hh;  dc_prev = dc⊙f;  dw_ih = dpreᵀx;  dw_hh = dpreᵀh;  db = Σ_B dpre
//! ```
//!
//! `db` is the gradient of both `b_ih` and `b_hh` (they enter as a sum); the caller copies it.
//!
//! Sequences are batch-first: x [B, T, input], outputs hs, cs [B, T, H] and gates [B, T, 4H], always in time
//! order. With `reverse` the recurrence runs from t = T−1 down to 0 (PyTorch's backward direction of a
//! bidirectional LSTM: hs[:, t] has seen x[t..T]). The final state (h_n, c_n) is hs/cs at the last processed
//! step, [`LstmDims::last_time`]; its gradients `dh_n`, `dc_n` are optional extras in backward.
//!
//! Memory traffic and the variants:
//! - `reference.rs`: plain loops, one cell step at a time; the oracle, f64-capable for gradient checks.
//! - `cpu.rs`, whole sequence: the input projection of every step does not depend on the recurrence, so it is
//!   ONE gemm [B·T, input]×[input, 4H] written straight into `gates` (with both biases); each step then adds
//!   h·w_hhᵀ and applies the gate math in place. The per-step product streams all of w_hh (1 MB at H = 256,
//!   which does not stay in a 1 MB L2 next to everything else): at batch 1 it is a matrix-vector product, and
//!   gemm's m = 1 path runs it ~8× slower than a hand-written kernel over w_hh repacked once per call into
//!   32-wide panels (32 accumulators in registers, weights read contiguously; ~16 µs per step here, about
//!   what L3 delivers). Below batch 16 the rows run one kernel each, from 16 rows sgemm takes over.
//!   [`cpu::pack_recurrent`] + [`cpu::lstm_seq_forward_packed`] let inference with fixed weights pack once.
//!   The gate math uses vectorisable exp/tanh (`fastmath.rs`): libm's were 40 % of a batch-1 step.
//!   Backward walks the steps in reverse computing dgates [B, T, 4H] and the carried dh = dgates_t·w_hh
//!   (same kernel, w_hh packed the other way), and leaves dx, dw_ih and dw_hh to three big gemms over all
//!   steps at the end.
//! - `cpu.rs`, one step: the same math; the recurrent products run unpacked (dot products over w_hh's rows
//!   forward, rows accumulated backward), since a repack would cost ten steps.
//!
//! Parallelism at batch 1: a step is ~16 µs of work and handing half of it to another thread every step lost
//! more than it gained here, so a direction runs on one thread (its projection gemm still uses all cores).
//! A bidirectional layer should run its two directions at once (`rayon::join`); they share no data.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod matvec;
mod op;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::Storage;
use crate::Result;

pub use op::LstmWeights;

/// Shapes of one LSTM direction. The cell-step functions use `batch`, `input` and `hidden` only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LstmDims {
    pub batch: usize,
    /// Sequence length T.
    pub t: usize,
    pub input: usize,
    pub hidden: usize,
    /// Run the recurrence from t = T−1 down to 0 (outputs stay in time order).
    pub reverse: bool,
}

impl LstmDims {
    /// 4H: the gate width.
    pub fn gates(&self) -> usize {
        4 * self.hidden
    }
    /// Time index processed at recurrence step `step` (0 = first processed).
    pub fn time_at(&self, step: usize) -> usize {
        if self.reverse {
            self.t - 1 - step
        } else {
            step
        }
    }
    /// Time index of the final state (h_n, c_n): T−1 forward, 0 in reverse.
    pub fn last_time(&self) -> usize {
        self.time_at(self.t - 1)
    }
    /// x [B, T, input].
    pub fn x_len(&self) -> usize {
        self.batch * self.t * self.input
    }
    /// One step's input x_t [B, input].
    pub fn step_x_len(&self) -> usize {
        self.batch * self.input
    }
    /// h0, c0, h, c [B, H].
    pub fn state_len(&self) -> usize {
        self.batch * self.hidden
    }
    /// hs, cs [B, T, H].
    pub fn seq_len(&self) -> usize {
        self.batch * self.t * self.hidden
    }
    /// One step's gates [B, 4H].
    pub fn step_gates_len(&self) -> usize {
        self.batch * self.gates()
    }
    /// Saved gates of a sequence [B, T, 4H].
    pub fn seq_gates_len(&self) -> usize {
        self.batch * self.t * self.gates()
    }
    /// w_ih [4H, input].
    pub fn w_ih_len(&self) -> usize {
        self.gates() * self.input
    }
    /// w_hh [4H, H].
    pub fn w_hh_len(&self) -> usize {
        self.gates() * self.hidden
    }
}

/// Saved results of a fused LSTM sequence forward, needed by its backward.
#[derive(Clone, Debug)]
pub struct LstmSaved {
    pub hs: Storage,
    pub cs: Storage,
    pub gates: Storage,
}

/// The inputs of one LSTM direction: the sequence, the initial state and the weights.
#[derive(Clone, Copy, Debug)]
pub struct LstmArgs<'a> {
    /// [batch, t, input]
    pub x: &'a Storage,
    /// [batch, hidden]
    pub h0: &'a Storage,
    pub c0: &'a Storage,
    /// [4·hidden, input] and [4·hidden, hidden], gates in PyTorch's order (i, f, g, o).
    pub w_ih: &'a Storage,
    pub w_hh: &'a Storage,
    /// [4·hidden] each.
    pub b_ih: &'a Storage,
    pub b_hh: &'a Storage,
}

/// Gradients of one LSTM direction.
pub struct LstmGrads {
    pub dx: Storage,
    pub dh0: Storage,
    pub dc0: Storage,
    pub dw_ih: Storage,
    pub dw_hh: Storage,
    pub db: Storage,
}

/// One LSTM direction over a whole sequence, forward and backward.
pub trait LstmKernel {
    fn lstm_seq(&self, d: &LstmDims, a: &LstmArgs) -> Result<LstmSaved>;
    fn lstm_seq_backward(&self, d: &LstmDims, a: &LstmArgs, saved: &LstmSaved, dhs: &Storage) -> Result<LstmGrads>;
}
