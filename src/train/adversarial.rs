//! FGSM adversarial training (`--adversarial fgsm --epsilon E [--adv-weight A]`, Goodfellow et al. 2015):
//! every batch is trained on `(1 − A)·L(x) + A·L(x + E·sign(∇ₓL(x)))`.
//!
//! - `x` is the batch of scaled input windows, so `E` is in training standard deviations of each feature.
//! - `∇ₓL` comes from the same autodiff as the parameter gradients: the batch enters as a leaf that requires
//!   grad, and the one backward of the clean loss yields both. The perturbation is then a constant (as in FGSM:
//!   no gradient flows through the sign), built on the batch's device (`Tensor::sign`, a kernel of the
//!   elementwise family), so nothing is read back.
//! - Both forwards use the same dropout masks (a fresh `Ctx` from the same seed): the adversarial loss is the
//!   same sampled network's loss at the moved input. In training mode both update batch norm's running statistics,
//!   as two training forwards do in PyTorch.
//! - Cost: two forwards and two backwards per batch; the parameter gradient of the sum is assembled from the two
//!   backwards (`Grads::weighted_sum`) instead of a third walk over the clean graph.

use super::objective::{Examples, Objective};
use crate::autodiff::{no_grad, Grads};
use crate::models::Model;
use crate::nn::Ctx;
use crate::tensor::Tensor;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

pub const DEFAULT_ADV_WEIGHT: f32 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Adversarial {
    /// Size of the sign step, in scaled input units.
    pub epsilon: f32,
    /// Weight A of the adversarial loss; the clean loss gets 1 − A.
    pub weight: f32,
}

impl Adversarial {
    pub fn validate(&self) -> Result<()> {
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::config("epsilon", format!("expected a finite step > 0, found {}", self.epsilon)));
        }
        if !(0.0..=1.0).contains(&self.weight) {
            return Err(Error::config("adv-weight", format!("expected a weight in [0, 1], found {}", self.weight)));
        }
        Ok(())
    }
}

/// One FGSM batch.
pub struct FgsmBatch {
    /// (1 − A)·clean + A·adversarial, one value, no graph.
    pub loss: Tensor,
    pub clean: Tensor,
    pub adversarial: Tensor,
    /// x + E·sign(∇ₓ clean).
    pub x_adv: Tensor,
    /// ∇ₓ of the clean loss.
    pub input_grad: Tensor,
    /// Gradients of `loss` for every parameter.
    pub grads: Grads,
}

/// The FGSM loss and gradients of the examples `idx` of `ex`, whose windows are `x` [B, W, F], with the dropout
/// masks of `seed`.
pub fn fgsm_batch(
    model: &Model,
    objective: Objective,
    x: &Tensor,
    ex: &Examples,
    idx: &[usize],
    seed: u64,
    adv: &Adversarial,
) -> Result<FgsmBatch> {
    adv.validate()?;
    let leaf = x.detach().requires_grad();
    let clean = objective.loss(model, &model.forward(&leaf, &Ctx::train(seed), false)?.pred, ex, idx)?;
    let g_clean = clean.backward()?;
    let input_grad = g_clean
        .get(&leaf)
        .cloned()
        .ok_or_else(|| Error::Invalid("adversarial training: the loss does not depend on the input".into()))?;
    let x_adv = {
        let _g = no_grad();
        x.detach().add(&input_grad.sign()?.scale(adv.epsilon)?)?
    };
    let adversarial = objective.loss(model, &model.forward(&x_adv, &Ctx::train(seed), false)?.pred, ex, idx)?;
    let g_adv = adversarial.backward()?;
    let a = adv.weight;
    let grads = g_clean.weighted_sum(1.0 - a, &g_adv, a)?;
    let loss = {
        let _g = no_grad();
        clean.scale(1.0 - a)?.add(&adversarial.scale(a)?)?
    };
    Ok(FgsmBatch { loss, clean, adversarial, x_adv, input_grad, grads })
}
