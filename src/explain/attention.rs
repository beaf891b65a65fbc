//! Attention maps: what the model itself says it looked at. The transformer gives one [T, T] map per encoder layer
//! (query row, key column), averaged over heads by the layer; LstmAttention gives its additive-attention weights
//! over time [T]. The TCN and the multi-task CNN have no attention.

use crate::autodiff;
use crate::models::Model;
use crate::nn::Ctx;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Attention of a batch of windows, averaged over the batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Attention {
    /// Transformer: per layer, [T, T] row-major (row = query step, column = key step), heads averaged.
    Layers(Vec<Vec<f32>>),
    /// LstmAttention: weights over the T steps (they sum to 1).
    Time(Vec<f32>),
}

/// Attention of x [B, T, F] averaged over the batch; `None` for models without attention.
pub fn attention_maps(model: &Model, x: &[f32], shape: [usize; 3]) -> Result<Option<Attention>> {
    let [b, t, _] = shape;
    if matches!(model, Model::Tcn(_) | Model::MultiTask(_)) {
        return Ok(None);
    }
    let _g = autodiff::no_grad();
    let xt = Tensor::from_vec(x.to_vec(), &shape, model.device())?;
    let out = model.forward(&xt, &Ctx::eval(), true)?;
    let mean = |m: &Tensor, per: usize| -> Result<Vec<f32>> {
        let v = m.to_vec()?;
        if v.len() != b * per {
            return Err(Error::shape("attention map", [b, per], m.shape()));
        }
        let mut acc = vec![0.0f64; per];
        for row in v.chunks(per) {
            for (a, &x) in acc.iter_mut().zip(row) {
                *a += x as f64;
            }
        }
        Ok(acc.iter().map(|a| (a / b as f64) as f32).collect())
    };
    Ok(Some(match model {
        Model::Transformer(_) => {
            Attention::Layers(out.attention.iter().map(|m| mean(m, t * t)).collect::<Result<_>>()?)
        }
        _ => Attention::Time(mean(&out.attention[0], t)?),
    }))
}
