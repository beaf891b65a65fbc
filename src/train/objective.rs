//! What a model is trained to predict, and the loss of a batch of its outputs.

use crate::models::{Model, ModelConfig};
use crate::nn::loss;
use crate::tensor::Tensor;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Training examples: one window per entry, named by the row of its last bar, with every target already
/// scaled to O(1) (see `pipeline::targets`). All vectors have one entry per window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Examples {
    /// Row of each window's last bar in the feature matrix.
    pub ends: Vec<usize>,
    /// Direction class: 0 up, 1 down, 2 hold.
    pub class: Vec<usize>,
    /// Next-horizon log return divided by its training standard deviation.
    pub ret: Vec<f32>,
    /// Next-horizon realised volatility, standardised.
    pub volatility: Vec<f32>,
    /// Log of the next-horizon volume, standardised.
    pub volume: Vec<f32>,
    /// How hard each window is for a curriculum (`train::curriculum`: the realised volatility of its input
    /// bars); empty when no curriculum asks for it.
    pub difficulty: Vec<f64>,
}

impl Examples {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every vector has one entry per window and every class is 0, 1 or 2.
    pub fn check(&self, what: &str) -> Result<()> {
        let n = self.ends.len();
        for (name, len) in [
            ("class", self.class.len()),
            ("ret", self.ret.len()),
            ("volatility", self.volatility.len()),
            ("volume", self.volume.len()),
        ] {
            if len != n {
                return Err(Error::shape(format!("{what} examples: {name} (one per window)"), [n], [len]));
            }
        }
        if !self.difficulty.is_empty() {
            if self.difficulty.len() != n {
                return Err(Error::shape(
                    format!("{what} examples: difficulty (one per window)"),
                    [n],
                    [self.difficulty.len()],
                ));
            }
            if let Some(i) = self.difficulty.iter().position(|d| !d.is_finite()) {
                return Err(Error::Invalid(format!(
                    "{what} examples: difficulty[{i}] = {} is not finite",
                    self.difficulty[i]
                )));
            }
        }
        if let Some(i) = self.class.iter().position(|&c| c >= 3) {
            return Err(Error::Invalid(format!("{what} examples: class[{i}] = {} is not 0, 1 or 2", self.class[i])));
        }
        let finite = |v: &[f32]| v.iter().position(|x| !x.is_finite());
        for (name, v) in [("ret", &self.ret), ("volatility", &self.volatility), ("volume", &self.volume)] {
            if let Some(i) = finite(v) {
                return Err(Error::Invalid(format!("{what} examples: {name}[{i}] = {} is not finite", v[i])));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Cross-entropy of the [up, down, hold] logits.
    Direction,
    /// MSE of the first output against the scaled return.
    Return,
    /// Σ_i exp(−s_i)·L_i + s_i over price (MSE), direction (cross-entropy), volatility and volume (MSE).
    MultiTask,
}

impl Objective {
    /// The target docs/MODELS.md gives each model kind.
    pub fn for_config(cfg: &ModelConfig) -> Objective {
        match cfg {
            ModelConfig::Transformer(_) => Objective::Direction,
            ModelConfig::LstmAttention(_) | ModelConfig::Tcn(_) => Objective::Return,
            ModelConfig::MultiTask(_) => Objective::MultiTask,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Objective::Direction => "direction",
            Objective::Return => "return",
            Objective::MultiTask => "multitask",
        }
    }

    /// Mean loss of `pred` ([B, k], the model's `predict` layout) for the examples `idx` of `ex`.
    pub fn loss(&self, model: &Model, pred: &Tensor, ex: &Examples, idx: &[usize]) -> Result<Tensor> {
        let b = idx.len();
        let device = pred.device();
        let column = |v: &[f32]| Tensor::from_vec(idx.iter().map(|&i| v[i]).collect(), &[b, 1], device);
        let classes: Vec<usize> = idx.iter().map(|&i| ex.class[i]).collect();
        let width = pred.shape().get(1).copied().unwrap_or(0);
        match self {
            Objective::Direction => {
                if width != 3 {
                    return Err(Error::shape("direction objective: model output", "[batch, 3]", pred.shape()));
                }
                loss::cross_entropy(pred, &classes)
            }
            Objective::Return => {
                if width == 0 {
                    return Err(Error::shape("return objective: model output", "[batch, >= 1]", pred.shape()));
                }
                let first = if width == 1 { pred.clone() } else { pred.narrow(1, 0, 1)? };
                loss::mse(&first, &column(&ex.ret)?)
            }
            Objective::MultiTask => {
                let Model::MultiTask(m) = model else {
                    return Err(Error::Invalid("the multi-task objective needs the multitask model".into()));
                };
                if width != 6 {
                    return Err(Error::shape("multitask objective: model output", "[batch, 6]", pred.shape()));
                }
                let losses = [
                    loss::mse(&pred.narrow(1, 0, 1)?, &column(&ex.ret)?)?,
                    loss::cross_entropy(&pred.narrow(1, 1, 3)?.reshape(&[b, 3])?, &classes)?,
                    loss::mse(&pred.narrow(1, 4, 1)?, &column(&ex.volatility)?)?,
                    loss::mse(&pred.narrow(1, 5, 1)?, &column(&ex.volume)?)?,
                ];
                loss::uncertainty_weighted(&losses, &m.log_vars)
            }
        }
    }
}
