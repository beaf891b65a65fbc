//! Tensor-level dropout: the mask is a pure function of (seed, element index), so the backward recomputes it and
//! every backend draws the same mask.

use crate::ops::prelude::*;
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    /// Inverted dropout with keep-probability 1−p; identity when `p == 0`.
    pub fn dropout(&self, p: f32, seed: u64) -> Result<Tensor> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::config("dropout", format!("probability must be in [0, 1), found {p}")));
        }
        if p == 0.0 {
            return Ok(self.clone());
        }
        let y = backend(self.device())?.dropout(self.storage(), p, seed)?;
        let shape = self.shape().to_vec();
        Ok(Tensor::from_op(y, shape.clone(), &[self], move |g| {
            let dx = backend(g.device())?.dropout_backward(g.storage(), p, seed)?;
            Ok(vec![Some(Tensor::from_storage(dx, shape.clone()))])
        }))
    }
}
