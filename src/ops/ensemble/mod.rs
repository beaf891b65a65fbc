//! Ensemble combiner: one fused pass that turns the members' class probabilities into the ensemble's
//! probabilities, confidence and class (docs/MODELS.md, "Ensemble").
//!
//! For each batch row, with member probabilities p_m [classes], the row's own non-negative member weights w_m
//! (weights are [batch, members]: in a backtest each bar has its rolling weights, see `cpu::rolling_weights`, so
//! all the bars combine in one launch) and member confidence c_m = max_k p_m[k]:
//!
//! ```text
//! combined[k]  = Σ_m w_m c_m p_m[k] / Σ_m w_m c_m
//! confidence   = Σ_m w_m c_m / Σ_m w_m          (a weighted mean, so a 0.75 threshold is reachable)
//! top          = argmax_k combined[k]           (ties: lowest index)
//! share        = Σ_{m : argmax p_m = top} w_m / Σ_m w_m
//! class        = top if confidence ≥ conf_threshold and share ≥ agreement, else hold_class
//! ```
//!
//! A NaN confidence or share fails its test, so the answer is then `hold_class`. Each row's weights must have a
//! positive sum W; every kernel sums a row's weights itself, in member order (the CPU's order), so the confidence
//! divides by the same f32 on every device. The device entry points ([`EnsembleKernel`]) check lengths, classes and
//! the weight sums before dispatch ([`EnsembleDims::check`], [`check_weights`]) with one wording for every device;
//! the plain-slice kernels (`reference`, `cpu`) assert instead.
//!
//! Backward: the gradient with respect to p only (weights come from bookkeeping, not training; the class is
//! piecewise constant). c_m = max p_m is differentiated at its argmax. With S = Σ w_m c_m and W = Σ w_m:
//!
//! ```text
//! dp_m[k] = dcombined[k]·w_m c_m / S + [k = argmax p_m]·( w_m / S · Σ_j dcombined[j]·(p_m[j] − combined[j])
//!                                                         + dconfidence·w_m / W )
//! ```
//!
//! Memory traffic: one read of p [batch, members, classes] and of the weights [batch, members] forward (two
//! backward), writes of batch·(classes+2) values; nothing worth tiling. The CPU kernel exists only to spread large
//! batches (backtests over many bars) over the cores; it does the same arithmetic in the same order as the
//! reference, so the classes agree exactly. `cpu.rs` also holds the host-side bookkeeping around the kernel: the
//! rolling member weights and the mapping of a regression member's prediction to class probabilities.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::backend::{expect_len, Storage, Triple};
use crate::{Error, Result};

/// Classes a row may have on any device (the per-thread array of the WGSL kernel; the members use 3).
pub const MAX_CLASSES: usize = 16;

/// Shapes of one ensemble call. Classes are in the order the members use (for the model family:
/// [up, down, hold], so `hold_class` = 2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnsembleDims {
    pub batch: usize,
    pub members: usize,
    pub classes: usize,
    /// The class answered when the confidence or agreement test fails.
    pub hold_class: usize,
}

impl EnsembleDims {
    /// p and dp [batch, members, classes].
    pub fn p_len(&self) -> usize {
        self.batch * self.members * self.classes
    }
    /// combined and dcombined [batch, classes].
    pub fn combined_len(&self) -> usize {
        self.batch * self.classes
    }
    /// weights [batch, members].
    pub fn weights_len(&self) -> usize {
        self.batch * self.members
    }

    /// The checks every device runs before dispatch: 1..=`MAX_CLASSES` classes, `hold_class` among them, p
    /// [batch, members, classes] and weights [batch, members] (a wrong length is `Error::Shape`).
    pub fn check(&self, p: &Storage, weights: &Storage) -> Result<()> {
        if self.classes == 0 || self.classes > MAX_CLASSES || self.hold_class >= self.classes {
            return Err(Error::Invalid(format!(
                "ensemble: {} classes (1..={MAX_CLASSES}) with hold_class {}",
                self.classes, self.hold_class
            )));
        }
        expect_len("ensemble: p [batch, members, classes]", p.len(), self.p_len())?;
        expect_len("ensemble: weights [batch, members]", weights.len(), self.weights_len())
    }
}

/// The class rule's thresholds: a row's class is its top combined class when confidence ≥ `conf_threshold` and the
/// agreeing members' share of the weight ≥ `agreement`, else `hold_class`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnsembleRule {
    pub conf_threshold: f32,
    pub agreement: f32,
}

/// Ok when every row of `weights` [batch, members] has a positive sum, summed in member order in f32 as the
/// kernels do (a NaN sum is not positive). The error names the first bad row.
pub fn check_weights(d: &EnsembleDims, weights: &[f32]) -> Result<()> {
    expect_len("ensemble: weights [batch, members]", weights.len(), d.weights_len())?;
    if d.members == 0 {
        return match d.batch {
            0 => Ok(()),
            _ => Err(Error::Invalid("ensemble: row 0: member weights must have a positive sum, found 0".into())),
        };
    }
    for (b, row) in weights.chunks_exact(d.members).enumerate() {
        let total: f32 = row.iter().sum();
        if total.is_nan() || total <= 0.0 {
            return Err(Error::Invalid(format!(
                "ensemble: row {b}: member weights must have a positive sum, found {total}"
            )));
        }
    }
    Ok(())
}

/// The ensemble combiner on one device: forward and backward side by side. Inputs live on the device; the
/// checks of [`EnsembleDims::check`] and [`check_weights`] run before any launch, so bad input is an error (never
/// a panic or a NaN row). On a GPU the weights are read back for that check: [batch, members] values, a few KB for
/// a backtest.
pub trait EnsembleKernel {
    /// (combined [batch, classes], confidence [batch], class [batch] as f32 indices) from p [batch, members,
    /// classes] and weights [batch, members].
    fn ensemble(&self, d: &EnsembleDims, p: &Storage, weights: &Storage, rule: EnsembleRule) -> Result<Triple>;
    /// dp [batch, members, classes] from dcombined [batch, classes] and dconfidence [batch] (p only: the weights
    /// come from bookkeeping, and the class is piecewise constant).
    fn ensemble_backward(&self, d: &EnsembleDims, p: &Storage, weights: &Storage, dy: Grads) -> Result<Storage>;
}

/// What reaches the combiner's outputs in a backward: dcombined [batch, classes] and dconfidence [batch] (one
/// argument, so the trait and its three implementations name the pair once).
#[derive(Clone, Copy)]
pub struct Grads<'a> {
    pub dcombined: &'a Storage,
    pub dconfidence: &'a Storage,
}

/// The backward's extra checks: the lengths of dcombined [batch, classes] and dconfidence [batch].
pub fn check_grads(d: &EnsembleDims, dy: Grads) -> Result<()> {
    expect_len("ensemble backward: dcombined [batch, classes]", dy.dcombined.len(), d.combined_len())?;
    expect_len("ensemble backward: dconfidence [batch]", dy.dconfidence.len(), d.batch)
}
