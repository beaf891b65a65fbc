//! The CPU backend: host memory and the fast kernels of each family's `cpu.rs`.

use super::{Backend, LstmGrads, LstmSaved, Storage};
use crate::device::Device;
use crate::ops::attention::{cpu as attn, AttentionDims};
use crate::ops::conv1d::{cpu as conv, Conv1dDims};
use crate::ops::dropout::{cpu as drop, DropoutDims};
use crate::ops::elementwise::{cpu as ew, BinaryOp, BroadcastDims, Unary};
use crate::ops::layout::cpu as layout;
use crate::ops::lstm::{cpu as lstm, LstmDims};
use crate::ops::matmul::{cpu as mm, MatmulDims};
use crate::ops::norm::{cpu as norm, BatchNormDims, LayerNormDims};
use crate::ops::reduce::{cpu as red, ReduceDims};
use crate::ops::softmax::{cpu as sm, SoftmaxDims};
use crate::Result;

pub struct CpuBackend;

fn s(x: &Storage) -> &[f32] {
    // Tensor ops pick the backend from their inputs' device (and check that all inputs share it), so only CPU
    // storage reaches this backend.
    x.as_cpu().unwrap_or(&[])
}

fn out(v: Vec<f32>) -> Storage {
    Storage::cpu(v)
}

fn buf(n: usize) -> Vec<f32> {
    vec![0.0; n]
}

impl Backend for CpuBackend {
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn upload(&self, data: Vec<f32>) -> Result<Storage> {
        Ok(Storage::cpu(data))
    }
    fn download(&self, x: &Storage) -> Result<Vec<f32>> {
        Ok(s(x).to_vec())
    }

    fn permute(&self, x: &Storage, shape: &[usize], perm: &[usize]) -> Result<Storage> {
        let mut y = buf(x.len());
        layout::permute(s(x), shape, perm, &mut y);
        Ok(out(y))
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
        let mut y = buf(outer * len * inner);
        layout::narrow(s(x), outer, axis, inner, start, len, &mut y);
        Ok(out(y))
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
        let mut y = buf(outer * axis * inner);
        layout::unnarrow(s(g), outer, axis, inner, start, len, &mut y);
        Ok(out(y))
    }
    fn concat(&self, parts: &[&Storage], outer: usize, lens: &[usize], inner: usize) -> Result<Storage> {
        let mut y = buf(outer * lens.iter().sum::<usize>() * inner);
        let slices: Vec<&[f32]> = parts.iter().map(|p| s(p)).collect();
        layout::concat(&slices, outer, lens, inner, &mut y);
        Ok(out(y))
    }

    fn matmul(&self, d: &MatmulDims, a: &Storage, b: &Storage) -> Result<Storage> {
        let mut c = buf(d.batch_a.max(d.batch_b) * d.m * d.n);
        mm::matmul_forward(d, s(a), s(b), &mut c);
        Ok(out(c))
    }
    fn matmul_backward(&self, d: &MatmulDims, a: &Storage, b: &Storage, dc: &Storage) -> Result<(Storage, Storage)> {
        let mut da = buf(a.len());
        let mut db = buf(b.len());
        mm::matmul_backward(d, s(a), s(b), s(dc), &mut da, &mut db);
        Ok((out(da), out(db)))
    }

    fn attention(&self, d: &AttentionDims, q: &Storage, k: &Storage, v: &Storage) -> Result<(Storage, Storage)> {
        let mut o = buf(d.bh * d.tq * d.dv);
        let mut lse = buf(d.bh * d.tq);
        attn::attention_forward(d, s(q), s(k), s(v), &mut o, &mut lse);
        Ok((out(o), out(lse)))
    }
    fn attention_weights(&self, d: &AttentionDims, q: &Storage, k: &Storage, lse: &Storage) -> Result<Storage> {
        let mut w = buf(d.bh * d.tq * d.tk);
        attn::attention_weights(d, s(q), s(k), s(lse), &mut w);
        Ok(out(w))
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
        let (mut dq, mut dk, mut dv) = (buf(q.len()), buf(k.len()), buf(v.len()));
        attn::attention_backward(d, s(q), s(k), s(v), s(o), s(lse), s(dout), &mut dq, &mut dk, &mut dv);
        Ok((out(dq), out(dk), out(dv)))
    }

    fn conv1d(&self, d: &Conv1dDims, x: &Storage, w: &Storage, b: Option<&Storage>) -> Result<Storage> {
        let mut y = buf(d.batch * d.c_out * d.t_out());
        conv::conv1d_forward(d, s(x), s(w), b.map(s), &mut y);
        Ok(out(y))
    }
    fn conv1d_backward_input(&self, d: &Conv1dDims, w: &Storage, dy: &Storage) -> Result<Storage> {
        let mut dx = buf(d.batch * d.c_in * d.t_in);
        conv::conv1d_backward_input(d, s(w), s(dy), &mut dx);
        Ok(out(dx))
    }
    fn conv1d_backward_weight(&self, d: &Conv1dDims, x: &Storage, dy: &Storage) -> Result<(Storage, Storage)> {
        let mut dw = buf(d.c_out * d.c_in * d.kernel);
        let mut db = buf(d.c_out);
        conv::conv1d_backward_weight(d, s(x), s(dy), &mut dw, Some(&mut db));
        Ok((out(dw), out(db)))
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
        let n = d.batch * d.t * d.hidden;
        let (mut hs, mut cs, mut gates) = (buf(n), buf(n), buf(4 * n));
        lstm::lstm_seq_forward(d, s(x), s(h0), s(c0), s(w_ih), s(w_hh), s(b_ih), s(b_hh), &mut hs, &mut cs, &mut gates);
        Ok(LstmSaved { hs: out(hs), cs: out(cs), gates: out(gates) })
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
        let (mut dx, mut dh0, mut dc0) = (buf(x.len()), buf(h0.len()), buf(c0.len()));
        let (mut dw_ih, mut dw_hh, mut db) = (buf(w_ih.len()), buf(w_hh.len()), buf(4 * d.hidden));
        lstm::lstm_seq_backward(
            d,
            s(x),
            s(h0),
            s(c0),
            s(w_ih),
            s(w_hh),
            s(&saved.hs),
            s(&saved.cs),
            s(&saved.gates),
            s(dhs),
            None,
            None,
            &mut dx,
            &mut dh0,
            &mut dc0,
            &mut dw_ih,
            &mut dw_hh,
            &mut db,
        );
        Ok(LstmGrads { dx: out(dx), dh0: out(dh0), dc0: out(dc0), dw_ih: out(dw_ih), dw_hh: out(dw_hh), db: out(db) })
    }

    fn layer_norm(
        &self,
        d: &LayerNormDims,
        x: &Storage,
        g: &Storage,
        b: &Storage,
    ) -> Result<(Storage, Storage, Storage)> {
        let (mut y, mut mean, mut rstd) = (buf(x.len()), buf(d.rows), buf(d.rows));
        norm::layer_norm_forward(d, s(x), s(g), s(b), &mut y, &mut mean, &mut rstd);
        Ok((out(y), out(mean), out(rstd)))
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
        let (mut dx, mut dg, mut db) = (buf(x.len()), buf(d.cols), buf(d.cols));
        norm::layer_norm_backward(d, s(x), s(g), s(mean), s(rstd), s(dy), &mut dx, &mut dg, &mut db);
        Ok((out(dx), out(dg), out(db)))
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
        let (mut y, mut mean, mut rstd) = (buf(x.len()), buf(d.c), buf(d.c));
        norm::batch_norm_forward_train(d, s(x), s(g), s(b), &mut y, &mut mean, &mut rstd);
        let (mut rm, mut rv) = (s(rm).to_vec(), s(rv).to_vec());
        norm::batch_norm_update_running(d, &mean, &rstd, &mut rm, &mut rv, momentum as f64);
        Ok((out(y), out(mean), out(rstd), out(rm), out(rv)))
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
        let mut y = buf(x.len());
        norm::batch_norm_forward_eval(d, s(x), s(g), s(b), s(rm), s(rv), &mut y);
        Ok(out(y))
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
        let (mut dx, mut dg, mut db) = (buf(x.len()), buf(d.c), buf(d.c));
        if train {
            norm::batch_norm_backward_train(d, s(x), s(g), s(stat_a), s(stat_b), s(dy), &mut dx, &mut dg, &mut db);
        } else {
            norm::batch_norm_backward_eval(d, s(x), s(g), s(stat_a), s(stat_b), s(dy), &mut dx, &mut dg, &mut db);
        }
        Ok((out(dx), out(dg), out(db)))
    }

    fn softmax(&self, d: &SoftmaxDims, x: &Storage, log: bool) -> Result<Storage> {
        let mut y = buf(x.len());
        if log {
            sm::log_softmax_forward(d, s(x), &mut y);
        } else {
            sm::softmax_forward(d, s(x), &mut y);
        }
        Ok(out(y))
    }
    fn softmax_backward(&self, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage> {
        let mut dx = buf(y.len());
        if log {
            sm::log_softmax_backward(d, s(y), s(dy), &mut dx);
        } else {
            sm::softmax_backward(d, s(y), s(dy), &mut dx);
        }
        Ok(out(dx))
    }

    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage> {
        let mut y = buf(x.len());
        ew::unary_forward(op, s(x), &mut y);
        Ok(out(y))
    }
    fn unary_backward(&self, op: Unary, x: &Storage, y: &Storage, dy: &Storage) -> Result<Storage> {
        let mut dx = buf(x.len());
        ew::unary_backward(op, s(x), s(y), s(dy), &mut dx);
        Ok(out(dx))
    }
    fn scale_shift(&self, x: &Storage, a: f32, b: f32) -> Result<Storage> {
        let mut y = buf(x.len());
        ew::scale_shift(s(x), a, b, &mut y);
        Ok(out(y))
    }
    fn binary(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage> {
        let mut y = buf(d.out_shape.iter().product());
        ew::binary_forward(d, op, s(a), s(b), &mut y);
        Ok(out(y))
    }
    fn binary_backward(
        &self,
        d: &BroadcastDims,
        op: BinaryOp,
        a: &Storage,
        b: &Storage,
        dy: &Storage,
    ) -> Result<(Storage, Storage)> {
        let (mut da, mut db) = (buf(a.len()), buf(b.len()));
        ew::binary_backward(d, op, s(a), s(b), s(dy), Some(&mut da), Some(&mut db));
        Ok((out(da), out(db)))
    }

    fn sum(&self, d: &ReduceDims, x: &Storage, mean: bool) -> Result<Storage> {
        let mut y = buf(d.outer * d.inner);
        if mean {
            red::mean_forward(d, s(x), &mut y);
        } else {
            red::sum_forward(d, s(x), &mut y);
        }
        Ok(out(y))
    }
    fn sum_backward(&self, d: &ReduceDims, dy: &Storage, mean: bool) -> Result<Storage> {
        let mut dx = buf(d.outer * d.axis * d.inner);
        if mean {
            red::mean_backward(d, s(dy), &mut dx);
        } else {
            red::sum_backward(d, s(dy), &mut dx);
        }
        Ok(out(dx))
    }
    fn max(&self, d: &ReduceDims, x: &Storage) -> Result<(Storage, Storage)> {
        let mut y = buf(d.outer * d.inner);
        let mut idx = vec![0u32; d.outer * d.inner];
        red::max_forward(d, s(x), &mut y, &mut idx);
        Ok((out(y), out(idx.iter().map(|&i| i as f32).collect())))
    }
    fn max_backward(&self, d: &ReduceDims, idx: &Storage, dy: &Storage) -> Result<Storage> {
        let idx: Vec<u32> = s(idx).iter().map(|&i| i as u32).collect();
        let mut dx = buf(d.outer * d.axis * d.inner);
        red::max_backward(d, &idx, s(dy), &mut dx);
        Ok(out(dx))
    }

    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage> {
        let mut y = buf(x.len());
        drop::dropout_forward(&DropoutDims::new(x.len(), p), seed, s(x), &mut y);
        Ok(out(y))
    }
    fn dropout_backward(&self, dy: &Storage, p: f32, seed: u64) -> Result<Storage> {
        let mut dx = buf(dy.len());
        drop::dropout_backward(&DropoutDims::new(dy.len(), p), seed, s(dy), &mut dx);
        Ok(out(dx))
    }
}
