//! The wgpu backend: device plumbing only. Kernels are the hand-written WGSL of `shaders/`, dispatched by each
//! family's `src/ops/<family>/wgpu.rs`; this module owns the device per adapter (`context`), the buffer pool and
//! transfers (`buffer`), pipelines and launches (`launch`), and maps the `Backend` op set onto the launchers.
//!
//! Nothing here waits for the device except `download` (and `Gpu::sync`): a forward pass only records and
//! submits work, so consecutive ops pipeline on the GPU.

pub mod buffer;
pub mod context;
pub mod launch;

pub use buffer::WgpuBuffer;
pub use context::{adapter_names, Gpu};
pub use launch::{grid, Arg, Launch, Params, Shader};

use super::{Backend, LstmGrads, LstmSaved, Storage};
use crate::device::Device;
use crate::ops::attention::{wgpu as attn, AttentionDims};
use crate::ops::conv1d::{wgpu as conv, Conv1dDims};
use crate::ops::dropout::wgpu as drop;
use crate::ops::elementwise::{wgpu as ew, BinaryOp, BroadcastDims, Unary};
use crate::ops::layout::wgpu as layout;
use crate::ops::lstm::{wgpu as lstm, LstmDims};
use crate::ops::matmul::{wgpu as mm, MatmulDims};
use crate::ops::norm::{wgpu as norm, BatchNormDims, LayerNormDims};
use crate::ops::reduce::{wgpu as red, ReduceDims};
use crate::ops::softmax::{wgpu as sm, SoftmaxDims};
use crate::{Error, Result};
use std::sync::Arc;

/// The backend of adapter `index` (`Device::Wgpu(index)`), or why it is not available.
pub fn backend(index: usize) -> Result<&'static dyn Backend> {
    Ok(Gpu::get(index)?)
}

impl Gpu {
    /// The device buffer behind `s`, or an error when `s` lives on another device.
    pub fn buf<'a>(&self, s: &'a Storage) -> Result<&'a WgpuBuffer> {
        match s {
            Storage::Wgpu(b) if b.gpu().index == self.index => Ok(b),
            other => Err(Error::Device(format!(
                "wgpu:{}: kernel argument lives on {}; transfer it with to_device first",
                self.index,
                other.device()
            ))),
        }
    }
}

/// Wrap a kernel's output buffer as storage.
pub fn store(b: WgpuBuffer) -> Storage {
    Storage::Wgpu(Arc::new(b))
}

impl Backend for Gpu {
    fn device(&self) -> Device {
        Device::Wgpu(self.index)
    }
    fn upload(&self, data: Vec<f32>) -> Result<Storage> {
        // `Gpu` values only exist as leaked statics (see `Gpu::get`), so re-borrowing as 'static is sound.
        let gpu = Gpu::get(self.index)?;
        Ok(store(gpu.buffer_from(&data)?))
    }
    fn download(&self, s: &Storage) -> Result<Vec<f32>> {
        self.read_buffer(self.buf(s)?)
    }

    fn permute(&self, x: &Storage, shape: &[usize], perm: &[usize]) -> Result<Storage> {
        layout::permute(me(self)?, x, shape, perm)
    }
    fn narrow(
        &self,
        x: &Storage,
        outer: usize,
        axis: usize,
        inner: usize,
        start: usize,
        len: usize,
    ) -> Result<Storage> {
        layout::narrow(me(self)?, x, outer, axis, inner, start, len)
    }
    fn unnarrow(
        &self,
        g: &Storage,
        outer: usize,
        axis: usize,
        inner: usize,
        start: usize,
        len: usize,
    ) -> Result<Storage> {
        layout::unnarrow(me(self)?, g, outer, axis, inner, start, len)
    }
    fn concat(&self, parts: &[&Storage], outer: usize, lens: &[usize], inner: usize) -> Result<Storage> {
        layout::concat(me(self)?, parts, outer, lens, inner)
    }

    fn matmul(&self, d: &MatmulDims, a: &Storage, b: &Storage) -> Result<Storage> {
        mm::matmul(me(self)?, d, a, b)
    }
    fn matmul_backward(&self, d: &MatmulDims, a: &Storage, b: &Storage, dc: &Storage) -> Result<(Storage, Storage)> {
        mm::matmul_backward(me(self)?, d, a, b, dc)
    }

    fn attention(&self, d: &AttentionDims, q: &Storage, k: &Storage, v: &Storage) -> Result<(Storage, Storage)> {
        attn::attention(me(self)?, d, q, k, v)
    }
    fn attention_weights(&self, d: &AttentionDims, q: &Storage, k: &Storage, lse: &Storage) -> Result<Storage> {
        attn::attention_weights(me(self)?, d, q, k, lse)
    }
    fn attention_backward(
        &self,
        d: &AttentionDims,
        q: &Storage,
        k: &Storage,
        v: &Storage,
        o: &Storage,
        lse: &Storage,
        dout: &Storage,
    ) -> Result<(Storage, Storage, Storage)> {
        attn::attention_backward(me(self)?, d, q, k, v, o, lse, dout)
    }

    fn conv1d(&self, d: &Conv1dDims, x: &Storage, w: &Storage, b: Option<&Storage>) -> Result<Storage> {
        conv::conv1d(me(self)?, d, x, w, b)
    }
    fn conv1d_backward_input(&self, d: &Conv1dDims, w: &Storage, dy: &Storage) -> Result<Storage> {
        conv::conv1d_backward_input(me(self)?, d, w, dy)
    }
    fn conv1d_backward_weight(&self, d: &Conv1dDims, x: &Storage, dy: &Storage) -> Result<(Storage, Storage)> {
        conv::conv1d_backward_weight(me(self)?, d, x, dy)
    }

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
    ) -> Result<LstmSaved> {
        lstm::lstm_seq(me(self)?, d, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    }
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
    ) -> Result<LstmGrads> {
        lstm::lstm_seq_backward(me(self)?, d, x, h0, c0, w_ih, w_hh, saved, dhs)
    }

    fn layer_norm(
        &self,
        d: &LayerNormDims,
        x: &Storage,
        g: &Storage,
        b: &Storage,
    ) -> Result<(Storage, Storage, Storage)> {
        norm::layer_norm(me(self)?, d, x, g, b)
    }
    fn layer_norm_backward(
        &self,
        d: &LayerNormDims,
        x: &Storage,
        g: &Storage,
        mean: &Storage,
        rstd: &Storage,
        dy: &Storage,
    ) -> Result<(Storage, Storage, Storage)> {
        norm::layer_norm_backward(me(self)?, d, x, g, mean, rstd, dy)
    }
    fn batch_norm_train(
        &self,
        d: &BatchNormDims,
        x: &Storage,
        g: &Storage,
        b: &Storage,
        rm: &Storage,
        rv: &Storage,
        momentum: f32,
    ) -> Result<(Storage, Storage, Storage, Storage, Storage)> {
        norm::batch_norm_train(me(self)?, d, x, g, b, rm, rv, momentum)
    }
    fn batch_norm_eval(
        &self,
        d: &BatchNormDims,
        x: &Storage,
        g: &Storage,
        b: &Storage,
        rm: &Storage,
        rv: &Storage,
    ) -> Result<Storage> {
        norm::batch_norm_eval(me(self)?, d, x, g, b, rm, rv)
    }
    fn batch_norm_backward(
        &self,
        d: &BatchNormDims,
        train: bool,
        x: &Storage,
        g: &Storage,
        stat_a: &Storage,
        stat_b: &Storage,
        dy: &Storage,
    ) -> Result<(Storage, Storage, Storage)> {
        norm::batch_norm_backward(me(self)?, d, train, x, g, stat_a, stat_b, dy)
    }

    fn softmax(&self, d: &SoftmaxDims, x: &Storage, log: bool) -> Result<Storage> {
        sm::softmax(me(self)?, d, x, log)
    }
    fn softmax_backward(&self, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage> {
        sm::softmax_backward(me(self)?, d, y, dy, log)
    }

    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage> {
        ew::unary(me(self)?, op, x)
    }
    fn unary_backward(&self, op: Unary, x: &Storage, y: &Storage, dy: &Storage) -> Result<Storage> {
        ew::unary_backward(me(self)?, op, x, y, dy)
    }
    fn scale_shift(&self, x: &Storage, a: f32, b: f32) -> Result<Storage> {
        ew::scale_shift(me(self)?, x, a, b)
    }
    fn binary(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage> {
        ew::binary(me(self)?, d, op, a, b)
    }
    fn binary_backward(
        &self,
        d: &BroadcastDims,
        op: BinaryOp,
        a: &Storage,
        b: &Storage,
        dy: &Storage,
    ) -> Result<(Storage, Storage)> {
        ew::binary_backward(me(self)?, d, op, a, b, dy)
    }

    fn sum(&self, d: &ReduceDims, x: &Storage, mean: bool) -> Result<Storage> {
        red::sum(me(self)?, d, x, mean)
    }
    fn sum_backward(&self, d: &ReduceDims, dy: &Storage, mean: bool) -> Result<Storage> {
        red::sum_backward(me(self)?, d, dy, mean)
    }
    fn max(&self, d: &ReduceDims, x: &Storage) -> Result<(Storage, Storage)> {
        red::max(me(self)?, d, x)
    }
    fn max_backward(&self, d: &ReduceDims, idx: &Storage, dy: &Storage) -> Result<Storage> {
        red::max_backward(me(self)?, d, idx, dy)
    }

    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage> {
        drop::dropout(me(self)?, x, p, seed)
    }
    fn dropout_backward(&self, dy: &Storage, p: f32, seed: u64) -> Result<Storage> {
        drop::dropout(me(self)?, dy, p, seed)
    }
}

/// The `'static` handle of this context (launchers allocate buffers that keep a reference to their device).
fn me(g: &Gpu) -> Result<&'static Gpu> {
    Gpu::get(g.index)
}
