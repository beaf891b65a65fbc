//! Training losses: cross-entropy, MSE and the multi-task uncertainty weighting of docs/MODELS.md.

use crate::tensor::Tensor;
use crate::{Error, Result};

/// Mean cross-entropy of logits [B, C] against class indices.
pub fn cross_entropy(logits: &Tensor, targets: &[usize]) -> Result<Tensor> {
    let [b, c] = *logits.shape() else {
        return Err(Error::shape("cross_entropy logits", "[B, C]", logits.shape()));
    };
    if targets.len() != b {
        return Err(Error::shape("cross_entropy targets", b, targets.len()));
    }
    let mut onehot = vec![0.0f32; b * c];
    for (i, &t) in targets.iter().enumerate() {
        if t >= c {
            return Err(Error::Invalid(format!("cross_entropy: target class {t} out of range for {c} classes")));
        }
        onehot[i * c + t] = -1.0 / b as f32;
    }
    let onehot = Tensor::from_vec(onehot, &[b, c], logits.device())?;
    logits.log_softmax()?.mul(&onehot)?.sum_all()
}

/// Mean squared error between same-shaped tensors.
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    if pred.shape() != target.shape() {
        return Err(Error::shape("mse target", pred.shape(), target.shape()));
    }
    pred.sub(target)?.square()?.mean_all()
}

/// Σ_i exp(−s_i)·L_i + s_i over the task losses (each shape [1]) with s = `log_vars` [n_tasks].
pub fn uncertainty_weighted(losses: &[Tensor], log_vars: &Tensor) -> Result<Tensor> {
    if log_vars.shape() != [losses.len()] {
        return Err(Error::shape("log_vars", [losses.len()], log_vars.shape()));
    }
    let mut total: Option<Tensor> = None;
    for (i, l) in losses.iter().enumerate() {
        let s = log_vars.narrow(0, i, 1)?;
        let term = s.neg()?.exp()?.mul(l)?.add(&s)?;
        total = Some(match total {
            Some(t) => t.add(&term)?,
            None => term,
        });
    }
    total.ok_or_else(|| Error::Invalid("no task losses".into()))
}
