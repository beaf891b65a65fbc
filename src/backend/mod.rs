//! The op set every backend implements. Tensor-level ops (`src/ops/<family>/op.rs`) validate shapes, pick the
//! backend of their inputs' device and call one of these methods; the methods take and return raw storage, so a
//! backend is only kernels and plumbing. Outputs are always freshly written buffers.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod kernel_sources;
#[cfg(feature = "wgpu")]
pub mod wgpu;

use crate::device::Device;
use crate::ops::attention::AttentionDims;
use crate::ops::conv1d::Conv1dDims;
use crate::ops::elementwise::{BinaryOp, BroadcastDims, Unary};
use crate::ops::lstm::LstmDims;
use crate::ops::matmul::MatmulDims;
use crate::ops::norm::{BatchNormDims, LayerNormDims};
use crate::ops::reduce::ReduceDims;
use crate::ops::softmax::SoftmaxDims;
use crate::{Error, Result};
use std::sync::Arc;

/// A device buffer of f32.
#[derive(Clone, Debug)]
pub enum Storage {
    Cpu(Arc<Vec<f32>>),
    #[cfg(feature = "wgpu")]
    Wgpu(Arc<wgpu::WgpuBuffer>),
    #[cfg(feature = "cuda")]
    Cuda(cuda::CudaStorage),
}

impl Storage {
    pub fn cpu(v: Vec<f32>) -> Storage {
        Storage::Cpu(Arc::new(v))
    }
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            #[cfg(feature = "wgpu")]
            Storage::Wgpu(b) => Device::Wgpu(b.gpu().index),
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => Device::Cuda(c.ordinal()),
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(v) => v.len(),
            #[cfg(feature = "wgpu")]
            Storage::Wgpu(b) => b.len(),
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => c.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn as_cpu(&self) -> Result<&[f32]> {
        match self {
            Storage::Cpu(v) => Ok(v),
            #[cfg(feature = "wgpu")]
            Storage::Wgpu(b) => Err(Error::Device(format!(
                "tensor lives on wgpu:{}; copy it to the host with to_vec() or to_device(Device::Cpu)",
                b.gpu().index
            ))),
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => Err(Error::Device(format!(
                "a tensor on cuda:{} has no host slice; copy it with to_vec() or to_device(Device::Cpu)",
                c.ordinal()
            ))),
        }
    }
}

/// Saved results of a fused LSTM sequence forward, needed by its backward.
#[derive(Clone, Debug)]
pub struct LstmSaved {
    pub hs: Storage,
    pub cs: Storage,
    pub gates: Storage,
}

/// Gradients of one LSTM direction.
pub struct LstmGrads {
    pub dx: Storage,
    pub dh0: Storage,
    pub dc0: Storage,
    pub dw_ih: Storage,
    pub dw_hh: Storage,
    pub db: Storage,
}

/// The op set. Every method is one kernel launch (or a short fixed sequence) on the backend's device.
pub trait Backend: Send + Sync {
    fn device(&self) -> Device;
    fn upload(&self, data: Vec<f32>) -> Result<Storage>;
    fn download(&self, s: &Storage) -> Result<Vec<f32>>;

    // layout
    fn permute(&self, x: &Storage, shape: &[usize], perm: &[usize]) -> Result<Storage>;
    /// Copy `[outer, len, inner]` out of `[outer, axis, inner]` starting at `start`.
    fn narrow(&self, x: &Storage, outer: usize, axis: usize, inner: usize, start: usize, len: usize)
        -> Result<Storage>;
    /// Inverse of `narrow`: place `[outer, len, inner]` into zeros of `[outer, axis, inner]` at `start`.
    fn unnarrow(
        &self,
        g: &Storage,
        outer: usize,
        axis: usize,
        inner: usize,
        start: usize,
        len: usize,
    ) -> Result<Storage>;
    /// Concatenate `[outer, len_i, inner]` parts along the middle axis.
    fn concat(&self, parts: &[&Storage], outer: usize, lens: &[usize], inner: usize) -> Result<Storage>;

    // matmul
    fn matmul(&self, d: &MatmulDims, a: &Storage, b: &Storage) -> Result<Storage>;
    fn matmul_backward(&self, d: &MatmulDims, a: &Storage, b: &Storage, dc: &Storage) -> Result<(Storage, Storage)>;

    // attention: (o, lse)
    fn attention(&self, d: &AttentionDims, q: &Storage, k: &Storage, v: &Storage) -> Result<(Storage, Storage)>;
    fn attention_weights(&self, d: &AttentionDims, q: &Storage, k: &Storage, lse: &Storage) -> Result<Storage>;
    #[allow(clippy::too_many_arguments)]
    fn attention_backward(
        &self,
        d: &AttentionDims,
        q: &Storage,
        k: &Storage,
        v: &Storage,
        o: &Storage,
        lse: &Storage,
        dout: &Storage,
    ) -> Result<(Storage, Storage, Storage)>;

    // conv1d
    fn conv1d(&self, d: &Conv1dDims, x: &Storage, w: &Storage, b: Option<&Storage>) -> Result<Storage>;
    fn conv1d_backward_input(&self, d: &Conv1dDims, w: &Storage, dy: &Storage) -> Result<Storage>;
    fn conv1d_backward_weight(&self, d: &Conv1dDims, x: &Storage, dy: &Storage) -> Result<(Storage, Storage)>;

    // lstm
    #[allow(clippy::too_many_arguments)]
    fn lstm_seq(
        &self,
        d: &LstmDims,
        x: &Storage,
        h0: &Storage,
        c0: &Storage,
        w_ih: &Storage,
        w_hh: &Storage,
        b_ih: &Storage,
        b_hh: &Storage,
    ) -> Result<LstmSaved>;
    #[allow(clippy::too_many_arguments)]
    fn lstm_seq_backward(
        &self,
        d: &LstmDims,
        x: &Storage,
        h0: &Storage,
        c0: &Storage,
        w_ih: &Storage,
        w_hh: &Storage,
        saved: &LstmSaved,
        dhs: &Storage,
    ) -> Result<LstmGrads>;

    // norms: layer norm returns (y, mean, rstd)
    fn layer_norm(
        &self,
        d: &LayerNormDims,
        x: &Storage,
        g: &Storage,
        b: &Storage,
    ) -> Result<(Storage, Storage, Storage)>;
    #[allow(clippy::too_many_arguments)]
    fn layer_norm_backward(
        &self,
        d: &LayerNormDims,
        x: &Storage,
        g: &Storage,
        mean: &Storage,
        rstd: &Storage,
        dy: &Storage,
    ) -> Result<(Storage, Storage, Storage)>;
    /// Training-mode batch norm: (y, batch mean, batch rstd, updated running mean, updated running var).
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_train(
        &self,
        d: &BatchNormDims,
        x: &Storage,
        g: &Storage,
        b: &Storage,
        rm: &Storage,
        rv: &Storage,
        momentum: f32,
    ) -> Result<(Storage, Storage, Storage, Storage, Storage)>;
    fn batch_norm_eval(
        &self,
        d: &BatchNormDims,
        x: &Storage,
        g: &Storage,
        b: &Storage,
        rm: &Storage,
        rv: &Storage,
    ) -> Result<Storage>;
    /// (dx, dgamma, dbeta). `stat_a`, `stat_b` are the batch mean and rstd in training, the running mean and
    /// variance in eval.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        &self,
        d: &BatchNormDims,
        train: bool,
        x: &Storage,
        g: &Storage,
        stat_a: &Storage,
        stat_b: &Storage,
        dy: &Storage,
    ) -> Result<(Storage, Storage, Storage)>;

    // softmax along the last axis
    fn softmax(&self, d: &SoftmaxDims, x: &Storage, log: bool) -> Result<Storage>;
    fn softmax_backward(&self, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage>;

    // elementwise
    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage>;
    fn unary_backward(&self, op: Unary, x: &Storage, y: &Storage, dy: &Storage) -> Result<Storage>;
    fn scale_shift(&self, x: &Storage, a: f32, b: f32) -> Result<Storage>;
    fn binary(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage>;
    fn binary_backward(
        &self,
        d: &BroadcastDims,
        op: BinaryOp,
        a: &Storage,
        b: &Storage,
        dy: &Storage,
    ) -> Result<(Storage, Storage)>;

    // reductions over one axis of [outer, axis, inner]
    fn sum(&self, d: &ReduceDims, x: &Storage, mean: bool) -> Result<Storage>;
    fn sum_backward(&self, d: &ReduceDims, dy: &Storage, mean: bool) -> Result<Storage>;
    /// (values, argmax indices as f32)
    fn max(&self, d: &ReduceDims, x: &Storage) -> Result<(Storage, Storage)>;
    fn max_backward(&self, d: &ReduceDims, idx: &Storage, dy: &Storage) -> Result<Storage>;

    // dropout
    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage>;
    fn dropout_backward(&self, dy: &Storage, p: f32, seed: u64) -> Result<Storage>;
}

static CPU: cpu::CpuBackend = cpu::CpuBackend;

/// The backend that runs kernels on `device`, or an error saying why it is not available.
pub fn get(device: Device) -> Result<&'static dyn Backend> {
    match device {
        Device::Cpu => Ok(&CPU),
        #[cfg(feature = "wgpu")]
        Device::Wgpu(n) => wgpu::backend(n),
        #[cfg(feature = "cuda")]
        Device::Cuda(n) => Ok(cuda::backend(n)?),
        #[allow(unreachable_patterns)] // with both GPU features every device has a backend above
        other => {
            other.ensure_available()?;
            Err(Error::Device(format!("{other}: backend not built")))
        }
    }
}
