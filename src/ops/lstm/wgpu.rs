//! Launchers for `shaders/lstm.wgsl`: the whole-sequence forward (input projection + one fused dispatch per
//! step) and backward through time (one fused dispatch per step, then the weight gradients as big products),
//! each direction call one submit.

use super::LstmDims;
use super::LstmKernel;
use super::{LstmArgs, LstmGrads, LstmSaved};
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader, WgpuBuffer};
use crate::backend::For;
use crate::backend::{expect_len, Storage};
use crate::ops::matmul::wgpu::gemm;
use crate::ops::reduce::{wgpu::sum_launch, ReduceDims};
use crate::Result;

static SHADER: Shader = Shader::named("lstm");

fn check(named: &[(&str, usize, usize)]) -> Result<()> {
    for &(what, got, want) in named {
        expect_len(&format!("lstm {what}"), got, want)?;
    }
    Ok(())
}

/// Parameters of one step launch (see `StepParams` in the shader).
fn step_params(d: &LstmDims, t: usize, t_other: usize, edge: bool, t_prev: usize, first: bool) -> Params {
    Params::new().u(d.batch).u(d.t).u(d.hidden).u(t).u(t_other).flag(edge).u(t_prev).flag(first)
}

/// The buffers both directions of the pass read (x, h0, c0, w_ih, w_hh), checked against `d`.
fn sequence_inputs<'a>(gpu: &Gpu, d: &LstmDims, a: &LstmArgs<'a>) -> Result<[&'a WgpuBuffer; 5]> {
    let (xb, h0b, c0b, wib, whb) = (gpu.buf(a.x)?, gpu.buf(a.h0)?, gpu.buf(a.c0)?, gpu.buf(a.w_ih)?, gpu.buf(a.w_hh)?);
    check(&[
        ("x", xb.len(), d.x_len()),
        ("h0", h0b.len(), d.state_len()),
        ("c0", c0b.len(), d.state_len()),
        ("w_ih", wib.len(), d.w_ih_len()),
        ("w_hh", whb.len(), d.w_hh_len()),
    ])?;
    Ok([xb, h0b, c0b, wib, whb])
}

impl LstmKernel for Gpu {
    /// hs, cs [B, T, H] and the gates [B, T, 4H].
    fn lstm_seq(&self, d: &LstmDims, a: &LstmArgs) -> Result<LstmSaved> {
        let gpu = self.handle()?;
        let [xb, h0b, c0b, wib, whb] = sequence_inputs(gpu, d, a)?;
        let (bib, bhb) = (gpu.buf(a.b_ih)?, gpu.buf(a.b_hh)?);
        check(&[("b_ih", bib.len(), d.gates()), ("b_hh", bhb.len(), d.gates())])?;
        let (hs, cs, gates) = (
            gpu.alloc(d.seq_len(), For("lstm", d))?,
            gpu.alloc(d.seq_len(), For("lstm", d))?,
            gpu.alloc(d.seq_gates_len(), For("lstm", d))?,
        );
        let rows = d.batch * d.t;
        // gates ← x·w_ihᵀ for every step at once; each step then adds the biases and its recurrent product.
        let mut launches = vec![gemm(xb, false, wib, true, &gates, rows, d.gates(), d.input)];
        for step in 0..d.t {
            let t = d.time_at(step);
            let prev = if step == 0 { t } else { d.time_at(step - 1) };
            let args = Arg::list(&[h0b, c0b, whb, bib, bhb], &[&hs, &cs, &gates]);
            let p = step_params(d, t, prev, step == 0, 0, false);
            launches.push(Launch::new(&SHADER, "lstm_step", p, args, grid(d.state_len(), 256)));
        }
        gpu.run(&launches)?;
        Ok(LstmSaved { hs: store(hs), cs: store(cs), gates: store(gates) })
    }

    /// Backpropagation through time from `dhs` [B, T, H] (the final state's own gradients are not an input here,
    /// as on the CPU backend).
    fn lstm_seq_backward(&self, d: &LstmDims, a: &LstmArgs, saved: &LstmSaved, dhs: &Storage) -> Result<LstmGrads> {
        let gpu = self.handle()?;
        let [xb, h0b, c0b, wib, whb] = sequence_inputs(gpu, d, a)?;
        let (hsb, csb, gb, dhb) = (gpu.buf(&saved.hs)?, gpu.buf(&saved.cs)?, gpu.buf(&saved.gates)?, gpu.buf(dhs)?);
        check(&[
            ("saved hs", hsb.len(), d.seq_len()),
            ("saved cs", csb.len(), d.seq_len()),
            ("saved gates", gb.len(), d.seq_gates_len()),
            ("dhs", dhb.len(), d.seq_len()),
        ])?;
        let g4 = d.gates();
        let rows = d.batch * d.t;
        let dgates = gpu.alloc(d.seq_gates_len(), For("lstm", d))?;
        let dc_carry = gpu.alloc(d.state_len(), For("lstm", d))?;
        let hprev = gpu.alloc(d.seq_len(), For("lstm", d))?;
        let (dx, dh0, dc0) = (
            gpu.alloc(d.x_len(), For("lstm", d))?,
            gpu.alloc(d.state_len(), For("lstm", d))?,
            gpu.alloc(d.state_len(), For("lstm", d))?,
        );
        let (dw_ih, dw_hh, db) = (
            gpu.alloc(d.w_ih_len(), For("lstm", d))?,
            gpu.alloc(d.w_hh_len(), For("lstm", d))?,
            gpu.alloc(g4, For("lstm", d))?,
        );
        let mut launches: Vec<Launch> = Vec::with_capacity(d.t + 6);
        for step in (0..d.t).rev() {
            let t = d.time_at(step);
            let last = step + 1 == d.t;
            let next = if last { t } else { d.time_at(step + 1) };
            let prev = if step == 0 { t } else { d.time_at(step - 1) };
            let args = Arg::list(&[dhb, csb, gb, c0b, whb], &[&dgates, &dc_carry]);
            let p = step_params(d, t, next, last, prev, step == 0);
            launches.push(Launch::new(&SHADER, "lstm_bwd_step", p, args, grid(d.state_len(), 256)));
        }
        if d.t > 0 {
            let p = step_params(d, d.time_at(0), 0, false, 0, false);
            let args = Arg::list(&[&dgates, whb, &dc_carry], &[&dh0, &dc0]);
            launches.push(Launch::new(&SHADER, "lstm_bwd_state", p, args, grid(d.state_len(), 256)));
        } else {
            // No step ran: the state passes straight through with no gradient from the sequence.
            let zeros = vec![0.0; d.state_len()];
            return Ok(LstmGrads {
                dx: store(gpu.buffer_from(&[])?),
                dh0: store(gpu.buffer_from(&zeros)?),
                dc0: store(gpu.buffer_from(&zeros)?),
                dw_ih: store(gpu.buffer_from(&vec![0.0; d.w_ih_len()])?),
                dw_hh: store(gpu.buffer_from(&vec![0.0; d.w_hh_len()])?),
                db: store(gpu.buffer_from(&vec![0.0; g4])?),
            });
        }
        let p = step_params(d, 0, 0, d.reverse, 0, false);
        launches.push(Launch::new(
            &SHADER,
            "lstm_prev_h",
            p,
            Arg::list(&[hsb, h0b], &[&hprev]),
            grid(d.seq_len(), 256),
        ));
        launches.push(gemm(&dgates, false, wib, false, &dx, rows, d.input, g4));
        launches.push(gemm(&dgates, true, xb, false, &dw_ih, g4, d.input, rows));
        launches.push(gemm(&dgates, true, &hprev, false, &dw_hh, g4, d.hidden, rows));
        launches.push(sum_launch(&ReduceDims { outer: 1, axis: rows, inner: g4 }, &dgates, &db, 1.0));
        gpu.run(&launches)?;
        Ok(LstmGrads {
            dx: store(dx),
            dh0: store(dh0),
            dc0: store(dc0),
            dw_ih: store(dw_ih),
            dw_hh: store(dw_hh),
            db: store(db),
        })
    }
}
