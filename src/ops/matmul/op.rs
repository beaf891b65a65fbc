//! Tensor-level matmul and Linear's x·Wᵀ + b, with their backward rules.

use super::MatmulDims;
use crate::ops::prelude::*;
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    /// Batched op(a)·op(b): a is [.., m, k] (leading dimensions flattened to a batch), b is [k, n] (shared by the
    /// whole batch) or [batch, k, n]; `ta`/`tb` transpose the last two dimensions first.
    pub fn matmul_t(&self, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
        self.expect_same_device(b, "matmul")?;
        if self.rank() < 2 || b.rank() < 2 {
            return Err(Error::shape("matmul operands", "rank ≥ 2", format!("{:?} and {:?}", self.shape(), b.shape())));
        }
        let (ar, ac) = (self.shape()[self.rank() - 2], self.shape()[self.rank() - 1]);
        let (br, bc) = (b.shape()[b.rank() - 2], b.shape()[b.rank() - 1]);
        let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
        let (k2, n) = if tb { (bc, br) } else { (br, bc) };
        let batch_a: usize = self.shape()[..self.rank() - 2].iter().product();
        let batch_b: usize = b.shape()[..b.rank() - 2].iter().product();
        if k != k2 || (batch_b != 1 && batch_b != batch_a && batch_a != 1) {
            return Err(Error::shape(
                "matmul right operand",
                format!("[.., {k}, n] for left {:?}", self.shape()),
                b.shape(),
            ));
        }
        let d = MatmulDims { batch_a, batch_b, m, k, n, trans_a: ta, trans_b: tb };
        let lead = if batch_a >= batch_b { &self.shape()[..self.rank() - 2] } else { &b.shape()[..b.rank() - 2] };
        let mut shape = lead.to_vec();
        shape.extend([m, n]);
        let be = backend(self.device())?;
        let y = be.matmul(&d, self.storage(), b.storage())?;
        let (a_s, b_s) = (self.clone(), b.clone());
        Ok(Tensor::from_op(y, shape, &[self, b], move |g| {
            let be = backend(g.device())?;
            let (da, db) = be.matmul_backward(&d, a_s.storage(), b_s.storage(), g.storage())?;
            Ok(vec![
                Some(Tensor::from_storage(da, a_s.shape().to_vec())),
                Some(Tensor::from_storage(db, b_s.shape().to_vec())),
            ])
        }))
    }

    pub fn matmul(&self, b: &Tensor) -> Result<Tensor> {
        self.matmul_t(b, false, false)
    }

    /// x·Wᵀ + b over the last dimension, PyTorch's `nn.Linear` (w is [out, in]).
    pub fn linear(&self, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let inp = *self.shape().last().unwrap_or(&0);
        if w.rank() != 2 || w.shape()[1] != inp {
            return Err(Error::shape("linear weight", format!("[out, {inp}]"), w.shape()));
        }
        let lead = self.shape()[..self.rank().saturating_sub(1)].to_vec();
        let x2 = self.reshape(&[lead.iter().product(), inp])?;
        let y = x2.matmul_t(w, false, true)?;
        let y = match bias {
            Some(b) => y.add(b)?,
            None => y,
        };
        let mut shape = lead;
        shape.push(w.shape()[0]);
        y.reshape(&shape)
    }
}
