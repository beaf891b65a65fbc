//! Tensor: a shape, a device-resident f32 buffer and, when gradients are tracked, the op that produced it.
//!
//! Tensors are immutable and cheap to clone (an `Arc`); an optimizer step makes new parameter tensors. The
//! autograph lives in the tensors themselves: each non-leaf remembers its inputs and a backward closure, so
//! dropping the output of a forward pass frees its graph.

pub mod shape;

use crate::autodiff::{self, BackwardFn, Node};
use crate::backend::Storage;
use crate::device::Device;
use crate::ops::prelude::*;
use crate::{Error, Result};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Clone)]
pub struct Tensor(Arc<Inner>);

struct Inner {
    id: u64,
    shape: Vec<usize>,
    storage: Storage,
    requires_grad: bool,
    node: Option<Node>,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor(id={}, shape={:?}, device={})", self.id(), self.shape(), self.device())
    }
}

impl Tensor {
    fn build(shape: Vec<usize>, storage: Storage, requires_grad: bool, node: Option<Node>) -> Tensor {
        Tensor(Arc::new(Inner { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), shape, storage, requires_grad, node }))
    }

    /// A constant tensor from host data on `device`.
    pub fn from_vec(data: Vec<f32>, shape: &[usize], device: Device) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if data.len() != n {
            return Err(Error::shape("tensor data", format!("{n} elements for shape {shape:?}"), data.len()));
        }
        let storage = backend(device)?.upload(data)?;
        Ok(Tensor::build(shape.to_vec(), storage, false, None))
    }

    /// A CPU constant; panics only if `data.len()` does not match `shape` (a programming error in library code).
    pub fn cpu(data: Vec<f32>, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        assert_eq!(data.len(), n, "Tensor::cpu: {} elements for shape {shape:?}", data.len());
        Tensor::build(shape.to_vec(), Storage::cpu(data), false, None)
    }

    pub fn full(value: f32, shape: &[usize], device: Device) -> Result<Tensor> {
        Tensor::from_vec(vec![value; shape.iter().product()], shape, device)
    }

    pub fn zeros(shape: &[usize], device: Device) -> Result<Tensor> {
        Tensor::full(0.0, shape, device)
    }

    /// Wrap a storage produced by a kernel as the output of an op. When gradients are enabled and any input is
    /// tracked, the output records `backward`, which maps the output's gradient to one optional gradient per input.
    pub(crate) fn from_op(
        storage: Storage,
        shape: Vec<usize>,
        inputs: &[&Tensor],
        backward: impl Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
    ) -> Tensor {
        let track = autodiff::is_enabled() && inputs.iter().any(|t| t.tracks_grad());
        let node = track.then(|| Node {
            inputs: inputs.iter().map(|t| (*t).clone()).collect(),
            backward: Box::new(backward) as BackwardFn,
        });
        Tensor::build(shape, storage, false, node)
    }

    /// Output of an op that is never differentiated (indices, masks, statistics).
    pub(crate) fn from_storage(storage: Storage, shape: Vec<usize>) -> Tensor {
        Tensor::build(shape, storage, false, None)
    }

    /// A leaf whose gradient `backward()` will report (a parameter or an input under attribution).
    pub fn requires_grad(&self) -> Tensor {
        Tensor::build(self.0.shape.clone(), self.0.storage.clone(), true, None)
    }

    /// The same values with no history.
    pub fn detach(&self) -> Tensor {
        Tensor::build(self.0.shape.clone(), self.0.storage.clone(), false, None)
    }

    pub fn id(&self) -> u64 {
        self.0.id
    }
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.0.shape.iter().product()
    }
    pub fn device(&self) -> Device {
        self.0.storage.device()
    }
    pub fn storage(&self) -> &Storage {
        &self.0.storage
    }
    pub fn is_leaf_param(&self) -> bool {
        self.0.requires_grad
    }
    pub(crate) fn node(&self) -> Option<&Node> {
        self.0.node.as_ref()
    }
    /// True when gradients flow through this tensor.
    pub fn tracks_grad(&self) -> bool {
        self.0.requires_grad || self.0.node.is_some()
    }

    /// Size of dimension `d`; negative counts from the end.
    pub fn dim(&self, d: isize) -> Result<usize> {
        let r = self.rank() as isize;
        let i = if d < 0 { r + d } else { d };
        if i < 0 || i >= r {
            return Err(Error::Invalid(format!("dimension {d} out of range for shape {:?}", self.shape())));
        }
        Ok(self.0.shape[i as usize])
    }

    /// Host copy of the values (a device readback for GPU tensors).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        backend(self.device())?.download(&self.0.storage)
    }

    /// Borrow the values of a CPU tensor without copying.
    pub fn cpu_slice(&self) -> Result<&[f32]> {
        self.0.storage.as_cpu()
    }

    /// Explicit transfer; gradients flow back to the source device.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        let host = self.to_vec()?;
        let storage = backend(device)?.upload(host)?;
        let src = self.device();
        Ok(Tensor::from_op(storage, self.shape().to_vec(), &[self], move |g| Ok(vec![Some(g.to_device(src)?)])))
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::shape("item()", "one element", self.shape()));
        }
        Ok(self.to_vec()?[0])
    }

    /// Gradients of this (scalar) tensor with respect to every tracked leaf.
    pub fn backward(&self) -> Result<autodiff::Grads> {
        autodiff::backward(self)
    }

    pub(crate) fn expect_same_device(&self, other: &Tensor, what: &str) -> Result<()> {
        if self.device() != other.device() {
            return Err(Error::Device(format!(
                "{what}: tensors on different devices ({} and {}); transfer explicitly with to_device",
                self.device(),
                other.device()
            )));
        }
        Ok(())
    }
}

/// Conversions for callers that hold their data as `ndarray` arrays (feature `ndarray`, on by default).
#[cfg(feature = "ndarray")]
impl Tensor {
    /// A constant tensor with the view's shape and values on `device`. Any view is accepted: a transposed,
    /// sliced or strided one is copied in logical (row-major) order, since tensors are always dense and
    /// C-ordered and a caller should not have to call `as_standard_layout` first.
    pub fn from_ndarray<D: ndarray::Dimension>(view: ndarray::ArrayView<'_, f32, D>, device: Device) -> Result<Tensor> {
        let data = match view.as_slice() {
            Some(dense) => dense.to_vec(),
            None => view.iter().copied().collect(),
        };
        Tensor::from_vec(data, view.shape(), device)
    }

    /// A host copy as an owned `ndarray` array of the tensor's shape (a device readback for GPU tensors).
    pub fn to_ndarray(&self) -> Result<ndarray::ArrayD<f32>> {
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(self.shape()), self.to_vec()?)
            .map_err(|e| Error::Invalid(format!("tensor of shape {:?} as an ndarray array: {e}", self.shape())))
    }
}
