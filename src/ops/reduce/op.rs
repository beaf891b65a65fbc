//! Tensor-level reductions over one axis and their backward rules.

use super::ReduceDims;
use crate::ops::prelude::*;
use crate::tensor::shape::{axis as resolve_axis, split3};
use crate::tensor::Tensor;
use crate::Result;

impl Tensor {
    fn reduce_dims(&self, axis: isize) -> Result<(usize, ReduceDims, Vec<usize>)> {
        let a = resolve_axis(self.shape(), axis)?;
        let (outer, ax, inner) = split3(self.shape(), a);
        let mut out = self.shape().to_vec();
        out.remove(a);
        Ok((a, ReduceDims { outer, axis: ax, inner }, out))
    }

    fn sum_mean(&self, axis: isize, mean: bool) -> Result<Tensor> {
        let (_, d, shape) = self.reduce_dims(axis)?;
        let y = backend(self.device())?.sum(&d, self.storage(), mean)?;
        let in_shape = self.shape().to_vec();
        Ok(Tensor::from_op(y, shape, &[self], move |g| {
            let dx = backend(g.device())?.sum_backward(&d, g.storage(), mean)?;
            Ok(vec![Some(Tensor::from_storage(dx, in_shape.clone()))])
        }))
    }

    /// Sum over `axis` (the axis is removed).
    pub fn sum(&self, axis: isize) -> Result<Tensor> {
        self.sum_mean(axis, false)
    }

    /// Mean over `axis` (the axis is removed).
    pub fn mean(&self, axis: isize) -> Result<Tensor> {
        self.sum_mean(axis, true)
    }

    /// Sum of every element, shape [1].
    pub fn sum_all(&self) -> Result<Tensor> {
        self.reshape(&[1, self.numel()])?.sum(1)
    }

    /// Mean of every element, shape [1].
    pub fn mean_all(&self) -> Result<Tensor> {
        self.reshape(&[1, self.numel()])?.mean(1)
    }

    /// Max over `axis` (the axis is removed); the gradient goes to the first maximal element.
    pub fn max(&self, axis: isize) -> Result<Tensor> {
        let (_, d, shape) = self.reduce_dims(axis)?;
        let (y, idx) = backend(self.device())?.max(&d, self.storage())?;
        let in_shape = self.shape().to_vec();
        Ok(Tensor::from_op(y, shape, &[self], move |g| {
            let dx = backend(g.device())?.max_backward(&d, &idx, g.storage())?;
            Ok(vec![Some(Tensor::from_storage(dx, in_shape.clone()))])
        }))
    }
}
