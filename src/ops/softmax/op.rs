//! Tensor-level softmax / log-softmax over the last axis and their backward rules (which need only the output).

use super::SoftmaxDims;
use crate::ops::prelude::*;
use crate::tensor::Tensor;
use crate::Result;

impl Tensor {
    fn softmax_impl(&self, log: bool) -> Result<Tensor> {
        let cols = self.dim(-1)?;
        let d = SoftmaxDims { rows: self.numel() / cols.max(1), cols };
        let y = backend(self.device())?.softmax(&d, self.storage(), log)?;
        let y_saved = y.clone();
        let shape = self.shape().to_vec();
        Ok(Tensor::from_op(y, shape.clone(), &[self], move |g| {
            let dx = backend(g.device())?.softmax_backward(&d, &y_saved, g.storage(), log)?;
            Ok(vec![Some(Tensor::from_storage(dx, shape.clone()))])
        }))
    }

    /// Softmax over the last axis.
    pub fn softmax(&self) -> Result<Tensor> {
        self.softmax_impl(false)
    }

    /// Log-softmax over the last axis.
    pub fn log_softmax(&self) -> Result<Tensor> {
        self.softmax_impl(true)
    }
}
