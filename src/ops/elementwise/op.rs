//! Tensor-level elementwise ops (broadcasting binary ops, unary activations, affine scalars) and their backward rules.

use super::{BinaryOp, BroadcastDims, Unary};
use crate::ops::prelude::*;
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    fn binary_op(&self, other: &Tensor, op: BinaryOp) -> Result<Tensor> {
        self.expect_same_device(other, "elementwise")?;
        let d = BroadcastDims::new(self.shape(), other.shape()).ok_or_else(|| {
            Error::shape(format!("{op:?} operand"), format!("broadcastable with {:?}", self.shape()), other.shape())
        })?;
        let be = backend(self.device())?;
        let y = be.binary(&d, op, self.storage(), other.storage())?;
        let shape = d.out_shape.clone();
        let (a, b) = (self.clone(), other.clone());
        Ok(Tensor::from_op(y, shape, &[self, other], move |g| {
            let be = backend(g.device())?;
            let (da, db) = be.binary_backward(&d, op, a.storage(), b.storage(), g.storage())?;
            Ok(vec![
                Some(Tensor::from_storage(da, a.shape().to_vec())),
                Some(Tensor::from_storage(db, b.shape().to_vec())),
            ])
        }))
    }

    pub fn add(&self, o: &Tensor) -> Result<Tensor> {
        self.binary_op(o, BinaryOp::Add)
    }
    pub fn sub(&self, o: &Tensor) -> Result<Tensor> {
        self.binary_op(o, BinaryOp::Sub)
    }
    pub fn mul(&self, o: &Tensor) -> Result<Tensor> {
        self.binary_op(o, BinaryOp::Mul)
    }
    pub fn div(&self, o: &Tensor) -> Result<Tensor> {
        self.binary_op(o, BinaryOp::Div)
    }
    pub fn maximum(&self, o: &Tensor) -> Result<Tensor> {
        self.binary_op(o, BinaryOp::Max)
    }

    fn unary_op(&self, op: Unary) -> Result<Tensor> {
        let be = backend(self.device())?;
        let y = be.unary(op, self.storage())?;
        let x = self.clone();
        let y_saved = y.clone();
        Ok(Tensor::from_op(y, self.shape().to_vec(), &[self], move |g| {
            let be = backend(g.device())?;
            let dx = be.unary_backward(op, x.storage(), &y_saved, g.storage())?;
            Ok(vec![Some(Tensor::from_storage(dx, x.shape().to_vec()))])
        }))
    }

    pub fn relu(&self) -> Result<Tensor> {
        self.unary_op(Unary::Relu)
    }
    pub fn tanh(&self) -> Result<Tensor> {
        self.unary_op(Unary::Tanh)
    }
    pub fn sigmoid(&self) -> Result<Tensor> {
        self.unary_op(Unary::Sigmoid)
    }
    /// Exact (erf) GELU, PyTorch's default.
    pub fn gelu(&self) -> Result<Tensor> {
        self.unary_op(Unary::Gelu)
    }
    pub fn exp(&self) -> Result<Tensor> {
        self.unary_op(Unary::Exp)
    }
    pub fn log(&self) -> Result<Tensor> {
        self.unary_op(Unary::Log)
    }
    pub fn neg(&self) -> Result<Tensor> {
        self.unary_op(Unary::Neg)
    }
    pub fn sqrt(&self) -> Result<Tensor> {
        self.unary_op(Unary::Sqrt)
    }
    pub fn abs(&self) -> Result<Tensor> {
        self.unary_op(Unary::Abs)
    }
    pub fn square(&self) -> Result<Tensor> {
        self.unary_op(Unary::Square)
    }
    /// −1, 0 or +1 per element (NaN stays NaN); zero gradient.
    pub fn sign(&self) -> Result<Tensor> {
        self.unary_op(Unary::Sign)
    }

    /// a·x + b with scalar a, b.
    pub fn affine(&self, a: f32, b: f32) -> Result<Tensor> {
        let be = backend(self.device())?;
        let y = be.scale_shift(self.storage(), a, b)?;
        Ok(Tensor::from_op(y, self.shape().to_vec(), &[self], move |g| Ok(vec![Some(g.affine(a, 0.0)?)])))
    }

    pub fn scale(&self, a: f32) -> Result<Tensor> {
        self.affine(a, 0.0)
    }
}
