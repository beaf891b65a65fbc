//! The op set on CUDA: each method hands its storages to the family's launcher in `src/ops/<family>/cuda.rs`.

use super::CudaBackend;
use crate::backend::{Backend, LstmGrads, LstmSaved, Storage};
use crate::device::Device;
use crate::ops::attention::{cuda as attn, AttentionDims};
use crate::ops::conv1d::{cuda as conv, Conv1dDims};
use crate::ops::dropout::cuda as drop;
use crate::ops::elementwise::{cuda as ew, BinaryOp, BroadcastDims, Unary};
use crate::ops::layout::cuda as layout;
use crate::ops::lstm::{cuda as lstm, LstmDims};
use crate::ops::matmul::{cuda as mm, MatmulDims};
use crate::ops::norm::{cuda as norm, BatchNormDims, LayerNormDims};
use crate::ops::reduce::{cuda as red, ReduceDims};
use crate::ops::softmax::{cuda as sm, SoftmaxDims};
use crate::Result;

impl Backend for CudaBackend {
    fn device(&self) -> Device {
        Device::Cuda(self.ordinal)
    }
    fn upload(&self, data: Vec<f32>) -> Result<Storage> {
        self.upload_slice(&data)
    }
    fn download(&self, s: &Storage) -> Result<Vec<f32>> {
        self.download_storage(self.view(s)?)
    }

    fn permute(&self, x: &Storage, shape: &[usize], perm: &[usize]) -> Result<Storage> {
        layout::permute(self, x, shape, perm)
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
        layout::narrow(self, x, outer, axis, inner, start, len)
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
        layout::unnarrow(self, g, outer, axis, inner, start, len)
    }
    fn concat(&self, parts: &[&Storage], outer: usize, lens: &[usize], inner: usize) -> Result<Storage> {
        layout::concat(self, parts, outer, lens, inner)
    }

    fn matmul(&self, d: &MatmulDims, a: &Storage, b: &Storage) -> Result<Storage> {
        mm::matmul(self, d, a, b)
    }
    fn matmul_backward(&self, d: &MatmulDims, a: &Storage, b: &Storage, dc: &Storage) -> Result<(Storage, Storage)> {
        mm::matmul_backward(self, d, a, b, dc)
    }

    fn attention(&self, d: &AttentionDims, q: &Storage, k: &Storage, v: &Storage) -> Result<(Storage, Storage)> {
        attn::attention(self, d, q, k, v)
    }
    fn attention_weights(&self, d: &AttentionDims, q: &Storage, k: &Storage, lse: &Storage) -> Result<Storage> {
        attn::attention_weights(self, d, q, k, lse)
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
        attn::attention_backward(self, d, q, k, v, o, lse, dout)
    }

    fn conv1d(&self, d: &Conv1dDims, x: &Storage, w: &Storage, b: Option<&Storage>) -> Result<Storage> {
        conv::conv1d(self, d, x, w, b)
    }
    fn conv1d_backward_input(&self, d: &Conv1dDims, w: &Storage, dy: &Storage) -> Result<Storage> {
        conv::conv1d_backward_input(self, d, w, dy)
    }
    fn conv1d_backward_weight(&self, d: &Conv1dDims, x: &Storage, dy: &Storage) -> Result<(Storage, Storage)> {
        conv::conv1d_backward_weight(self, d, x, dy)
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
        lstm::lstm_seq(self, d, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
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
        lstm::lstm_seq_backward(self, d, x, h0, c0, w_ih, w_hh, saved, dhs)
    }

    fn layer_norm(
        &self,
        d: &LayerNormDims,
        x: &Storage,
        g: &Storage,
        b: &Storage,
    ) -> Result<(Storage, Storage, Storage)> {
        norm::layer_norm(self, d, x, g, b)
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
        norm::layer_norm_backward(self, d, x, g, mean, rstd, dy)
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
        norm::batch_norm_train(self, d, x, g, b, rm, rv, momentum)
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
        norm::batch_norm_eval(self, d, x, g, b, rm, rv)
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
        norm::batch_norm_backward(self, d, train, x, g, stat_a, stat_b, dy)
    }

    fn softmax(&self, d: &SoftmaxDims, x: &Storage, log: bool) -> Result<Storage> {
        sm::softmax(self, d, x, log)
    }
    fn softmax_backward(&self, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage> {
        sm::softmax_backward(self, d, y, dy, log)
    }

    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage> {
        ew::unary(self, op, x)
    }
    fn unary_backward(&self, op: Unary, x: &Storage, y: &Storage, dy: &Storage) -> Result<Storage> {
        ew::unary_backward(self, op, x, y, dy)
    }
    fn scale_shift(&self, x: &Storage, a: f32, b: f32) -> Result<Storage> {
        ew::scale_shift(self, x, a, b)
    }
    fn binary(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage> {
        ew::binary(self, d, op, a, b)
    }
    fn binary_backward(
        &self,
        d: &BroadcastDims,
        op: BinaryOp,
        a: &Storage,
        b: &Storage,
        dy: &Storage,
    ) -> Result<(Storage, Storage)> {
        ew::binary_backward(self, d, op, a, b, dy)
    }

    fn sum(&self, d: &ReduceDims, x: &Storage, mean: bool) -> Result<Storage> {
        red::sum(self, d, x, mean)
    }
    fn sum_backward(&self, d: &ReduceDims, dy: &Storage, mean: bool) -> Result<Storage> {
        red::sum_backward(self, d, dy, mean)
    }
    fn max(&self, d: &ReduceDims, x: &Storage) -> Result<(Storage, Storage)> {
        red::max(self, d, x)
    }
    fn max_backward(&self, d: &ReduceDims, idx: &Storage, dy: &Storage) -> Result<Storage> {
        red::max_backward(self, d, idx, dy)
    }

    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage> {
        drop::mask_scale(self, x, p, seed)
    }
    fn dropout_backward(&self, dy: &Storage, p: f32, seed: u64) -> Result<Storage> {
        drop::mask_scale(self, dy, p, seed)
    }
}
