//! The bidirectional LSTM with additive attention, batch 1: per layer and direction one product for every
//! step's input projection (both biases folded in), then the recurrence, whose [4H, H] product is the packed
//! single-row kernel; then attention over time and the head. The seed variant's extras run here too: the residual
//! adds a layer's input to its output, eval-mode batch norm is the kernel's per-channel (x − mean)·scale + β, and the dense
//! layer is one more packed product with a ReLU.

use super::{packed_linear, relu};
use crate::models::LstmAttention;
use crate::ops::fastmath::{dot, tanh};
use crate::ops::lstm::cpu::gate_math_row;
use crate::ops::matmul::packed::Packed;
use crate::ops::softmax::cpu::softmax_row;
use crate::{Error, Result};

#[derive(Debug)]
struct Direction {
    ih: Packed,
    hh: Packed,
}

/// One direction's running state and its outputs [T, H].
#[derive(Debug)]
struct Scratch {
    gates: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
    c_new: Vec<f32>,
    hs: Vec<f32>,
}

impl Direction {
    /// This direction over the whole sequence `input` [T, ld]; outputs land in `s.hs`.
    fn run(&self, t: usize, input: &[f32], ld: usize, reverse: bool, s: &mut Scratch) {
        let nh = self.hh.k();
        self.ih.apply(t, input, ld, &mut s.gates, 4 * nh, false);
        s.h.fill(0.0);
        s.c.fill(0.0);
        for i in 0..t {
            let step = if reverse { t - 1 - i } else { i };
            let g = &mut s.gates[step * 4 * nh..(step + 1) * 4 * nh];
            self.hh.apply(1, &s.h, nh, g, 4 * nh, true);
            gate_math_row(g, &s.c, &mut s.h, &mut s.c_new);
            std::mem::swap(&mut s.c, &mut s.c_new);
            s.hs[step * nh..(step + 1) * nh].copy_from_slice(&s.h);
        }
    }
}

#[derive(Debug)]
pub struct LstmPlan {
    t: usize,
    hidden: usize,
    /// [layer][direction]
    layers: Vec<Vec<Direction>>,
    residual: bool,
    /// Per layer, eval-mode batch norm per channel as [running mean, γ/√(σ²+ε), β], applied as the kernel does:
    /// y = (x − mean)·scale + β (empty without batch norm).
    norms: Vec<[Vec<f32>; 3]>,
    proj: Packed,
    score: Vec<f32>,
    /// The dense layer and its output row.
    dense: Option<(Packed, Vec<f32>)>,
    output: Packed,
    /// Layer outputs [T, dirs·H], ping-ponged between layers.
    seq: [Vec<f32>; 2],
    /// Per direction.
    scratch: Vec<Scratch>,
    proj_out: Vec<f32>,
    energy: Vec<f32>,
    weights: Vec<f32>,
    context: Vec<f32>,
}

impl LstmPlan {
    pub fn new(m: &LstmAttention, t: usize) -> Result<LstmPlan> {
        let (nh, dirs) = (m.cfg.hidden_size, if m.cfg.bidirectional { 2 } else { 1 });
        let d = nh * dirs;
        let mut layers = Vec::new();
        for l in 0..m.num_layers() {
            let inp = if l == 0 { m.cfg.n_features } else { d };
            let mut ds = Vec::new();
            for dir in 0..dirs {
                let w = m
                    .layer(l)
                    .and_then(|(lstm, i)| lstm.weights(i, dir == 1))
                    .ok_or_else(|| Error::Invalid(format!("lstm layer {l} has no direction {dir}")))?;
                let bias: Vec<f32> = w.b_ih.cpu_slice()?.iter().zip(w.b_hh.cpu_slice()?).map(|(a, b)| a + b).collect();
                ds.push(Direction {
                    ih: Packed::linear(w.w_ih.cpu_slice()?, 4 * nh, inp, Some(&bias)),
                    hh: Packed::linear(w.w_hh.cpu_slice()?, 4 * nh, nh, None),
                });
            }
            layers.push(ds);
        }
        let norms = m
            .norms
            .iter()
            .map(|bn| {
                let (rm, rv) = bn.running_stats();
                let (rm, rv) = (rm.cpu_slice()?, rv.cpu_slice()?);
                let (g, beta) = (bn.weight.cpu_slice()?, bn.bias.cpu_slice()?);
                let scale = g.iter().zip(rv).map(|(g, v)| g / (v + bn.eps).sqrt()).collect();
                Ok([rm.to_vec(), scale, beta.to_vec()])
            })
            .collect::<Result<Vec<_>>>()?;
        let dense = match &m.dense {
            Some(l) => Some((packed_linear(l)?, vec![0.0; l.out_features()])),
            None => None,
        };
        Ok(LstmPlan {
            t,
            hidden: nh,
            layers,
            residual: m.cfg.residual,
            norms,
            proj: packed_linear(&m.attention.proj)?,
            score: m.attention.score.weight.cpu_slice()?.to_vec(),
            dense,
            output: packed_linear(&m.output)?,
            seq: [vec![0.0; t * d], vec![0.0; t * d]],
            scratch: (0..dirs)
                .map(|_| Scratch {
                    gates: vec![0.0; t * 4 * nh],
                    h: vec![0.0; nh],
                    c: vec![0.0; nh],
                    c_new: vec![0.0; nh],
                    hs: vec![0.0; t * nh],
                })
                .collect(),
            proj_out: vec![0.0; t * d],
            energy: vec![0.0; t],
            weights: vec![0.0; t],
            context: vec![0.0; d],
        })
    }

    pub fn run(&mut self, x: &[f32], out: &mut [f32]) {
        let (t, nh) = (self.t, self.hidden);
        let dirs = self.scratch.len();
        let d = nh * dirs;
        for l in 0..self.layers.len() {
            let [a, b] = &mut self.seq;
            // Layer l reads x (l = 0) or the previous layer's output and writes the other buffer.
            let (input, output, ld) = match l {
                0 => (x, &mut *a, self.layers[0][0].ih.k()),
                _ if l % 2 == 1 => (&a[..], &mut *b, d),
                _ => (&b[..], &mut *a, d),
            };
            let ws = &self.layers[l];
            match (&ws[..], &mut self.scratch[..]) {
                ([fwd, bwd], [s0, s1]) if rayon::current_thread_index().is_some() => {
                    rayon::join(|| fwd.run(t, input, ld, false, s0), || bwd.run(t, input, ld, true, s1));
                }
                _ => {
                    for (dir, (w, s)) in ws.iter().zip(self.scratch.iter_mut()).enumerate() {
                        w.run(t, input, ld, dir == 1, s);
                    }
                }
            }
            for (dir, s) in self.scratch.iter().enumerate() {
                for (o, h) in output.chunks_exact_mut(d).zip(s.hs.chunks_exact(nh)) {
                    o[dir * nh..(dir + 1) * nh].copy_from_slice(h);
                }
            }
            if self.residual && l > 0 {
                output.iter_mut().zip(input).for_each(|(o, i)| *o += i);
            }
            if let Some([mean, scale, beta]) = self.norms.get(l) {
                for row in output.chunks_exact_mut(d) {
                    for (((v, m), s), b) in row.iter_mut().zip(mean).zip(scale).zip(beta) {
                        *v = (*v - m) * s + b;
                    }
                }
            }
        }
        let hs = &self.seq[(self.layers.len() - 1) % 2];
        self.proj.apply(t, hs, d, &mut self.proj_out, d, false);
        for (e, row) in self.energy.iter_mut().zip(self.proj_out.chunks_exact_mut(d)) {
            row.iter_mut().for_each(|v| *v = tanh(*v));
            *e = dot(row, &self.score);
        }
        softmax_row(&self.energy, &mut self.weights);
        self.context.fill(0.0);
        for (&a, row) in self.weights.iter().zip(hs.chunks_exact(d)) {
            self.context.iter_mut().zip(row).for_each(|(c, v)| *c += a * v);
        }
        match &mut self.dense {
            Some((dense, hidden)) => {
                let n = hidden.len();
                dense.apply(1, &self.context, d, hidden, n, false);
                relu(hidden);
                self.output.apply(1, hidden, n, out, out.len(), false);
            }
            None => self.output.apply(1, &self.context, d, out, out.len(), false),
        }
    }
}
