//! Ensemble combiner: one fused pass that turns the members' class probabilities into the ensemble's
//! probabilities, confidence and class (docs/MODELS.md, "Ensemble").
//!
//! For each batch row, with member probabilities p_m [classes], non-negative member weights w_m (from rolling
//! performance, see `cpu::rolling_weights`) and member confidence c_m = max_k p_m[k]:
//!
//! ```text
//! combined[k]  = Σ_m w_m c_m p_m[k] / Σ_m w_m c_m
//! confidence   = Σ_m w_m c_m / Σ_m w_m          (a weighted mean, so a 0.75 threshold is reachable)
//! top          = argmax_k combined[k]           (ties: lowest index)
//! share        = Σ_{m : argmax p_m = top} w_m / Σ_m w_m
//! class        = top if confidence ≥ conf_threshold and share ≥ agreement, else hold_class
//! ```
//!
//! A NaN confidence or share fails its test, so the answer is then `hold_class`. The weights must have a
//! positive sum (the kernels assert it; `rolling_weights` always gives one).
//!
//! Backward: the gradient with respect to p only (weights come from bookkeeping, not training; the class is
//! piecewise constant). c_m = max p_m is differentiated at its argmax. With S = Σ w_m c_m and W = Σ w_m:
//!
//! ```text
//! dp_m[k] = dcombined[k]·w_m c_m / S + [k = argmax p_m]·( w_m / S · Σ_j dcombined[j]·(p_m[j] − combined[j])
//!                                                         + dconfidence·w_m / W )
//! ```
//!
//! Memory traffic: one read of p [batch, members, classes] forward (two backward), writes of batch·(classes+2)
//! values; nothing worth tiling. The CPU kernel exists only to spread large batches (backtests over many bars)
//! over the cores; it does the same arithmetic in the same order as the reference, so the classes agree
//! exactly. `cpu.rs` also holds the host-side bookkeeping around the kernel: the rolling member weights and
//! the mapping of a regression member's prediction to class probabilities.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod reference;
#[cfg(test)]
mod tests;
#[cfg(feature = "wgpu")]
pub mod wgpu;

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
}
