//! Optimizers (Adam, AdamW, SGD with momentum) and gradient clipping by global norm.
//!
//! State is keyed by parameter name, so it survives the optimizer replacing parameter tensors each step. The update
//! runs on host copies: parameters are small next to activations, and it keeps one implementation for every device.

mod state;

use crate::autodiff::Grads;
use crate::nn::{Kind, Module};
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::collections::HashMap;

pub use state::OptimizerState;

/// √(Σ‖g‖²) over every parameter's gradient.
pub fn grad_norm(model: &mut dyn Module, grads: &Grads) -> Result<f64> {
    let mut total = 0.0f64;
    model.visit("", &mut |_, kind, t| {
        if kind == Kind::Param {
            if let Some(g) = grads.get(t) {
                total += g.to_vec()?.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>();
            }
        }
        Ok(())
    })?;
    Ok(total.sqrt())
}

/// The factor that scales gradients to global norm `max_norm` (1 when already below), as `clip_grad_norm_` does.
pub fn clip_scale(norm: f64, max_norm: f64) -> f32 {
    if norm > max_norm && norm > 0.0 {
        (max_norm / (norm + 1e-6)) as f32
    } else {
        1.0
    }
}

pub trait Optimizer {
    /// Apply one update with gradients multiplied by `grad_scale` (from `clip_scale`).
    fn step(&mut self, model: &mut dyn Module, grads: &Grads, grad_scale: f32) -> Result<()>;
    fn lr(&self) -> f32;
    fn set_lr(&mut self, lr: f32);
    /// The step count and per-parameter buffers, named after `model`'s parameters (see [`OptimizerState`]).
    fn export_state(&self, model: &mut dyn Module) -> Result<OptimizerState>;
    /// Replace the state with `state`, checked against `model`'s parameters (names, shapes, finite values), so
    /// the next `step` continues exactly as the exporting optimizer would have.
    fn import_state(&mut self, model: &mut dyn Module, state: &OptimizerState) -> Result<()>;
}

fn step_i32(step: u64) -> Result<i32> {
    i32::try_from(step).map_err(|_| Error::parse("optimizer state", format!("step {step} is out of range")))
}

/// Adam (L2 weight decay added to the gradient) or AdamW (decoupled decay), PyTorch's update rule.
pub struct Adam {
    pub lr: f32,
    pub betas: (f32, f32),
    pub eps: f32,
    pub weight_decay: f32,
    pub decoupled: bool,
    t: i32,
    state: HashMap<String, (Vec<f32>, Vec<f32>)>,
}

impl Adam {
    pub fn new(lr: f32) -> Adam {
        Adam { lr, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, decoupled: false, t: 0, state: HashMap::new() }
    }
    pub fn adamw(lr: f32, weight_decay: f32) -> Adam {
        Adam { weight_decay, decoupled: true, ..Adam::new(lr) }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, model: &mut dyn Module, grads: &Grads, grad_scale: f32) -> Result<()> {
        self.t += 1;
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - b1.powi(self.t);
        let bc2 = 1.0 - b2.powi(self.t);
        let (lr, eps, wd, decoupled) = (self.lr, self.eps, self.weight_decay, self.decoupled);
        let state = &mut self.state;
        model.visit("", &mut |name, kind, t| {
            if kind != Kind::Param {
                return Ok(());
            }
            let Some(g) = grads.get(t) else { return Ok(()) };
            let g = g.to_vec()?;
            let mut p = t.to_vec()?;
            let (m, v) = state.entry(name.to_string()).or_insert_with(|| (vec![0.0; p.len()], vec![0.0; p.len()]));
            for i in 0..p.len() {
                let mut gi = g[i] * grad_scale;
                if decoupled {
                    p[i] *= 1.0 - lr * wd;
                } else {
                    gi += wd * p[i];
                }
                m[i] = b1 * m[i] + (1.0 - b1) * gi;
                v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                p[i] -= lr * (m[i] / bc1) / ((v[i] / bc2).sqrt() + eps);
            }
            *t = Tensor::from_vec(p, t.shape(), t.device())?.requires_grad();
            Ok(())
        })
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn export_state(&self, model: &mut dyn Module) -> Result<OptimizerState> {
        let slots = self.state.iter().flat_map(|(name, (m, v))| {
            [(name.as_str(), "exp_avg", m.as_slice()), (name.as_str(), "exp_avg_sq", v.as_slice())]
        });
        Ok(OptimizerState { step: self.t as u64, tensors: state::export(model, slots)? })
    }
    fn import_state(&mut self, model: &mut dyn Module, s: &OptimizerState) -> Result<()> {
        let t = step_i32(s.step)?;
        let mut by_param = state::import(model, s, &["exp_avg", "exp_avg_sq"])?;
        let mut next = HashMap::new();
        for (name, slots) in by_param.iter_mut() {
            let m = slots.remove("exp_avg").unwrap_or_default();
            let v = slots.remove("exp_avg_sq").unwrap_or_default();
            next.insert(name.clone(), (m, v));
        }
        self.t = t;
        self.state = next;
        Ok(())
    }
}

/// SGD with momentum (PyTorch's form: buf = μ·buf + g; p −= lr·buf) and optional L2 weight decay.
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    state: HashMap<String, Vec<f32>>,
}

impl Sgd {
    pub fn new(lr: f32, momentum: f32) -> Sgd {
        Sgd { lr, momentum, weight_decay: 0.0, state: HashMap::new() }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut dyn Module, grads: &Grads, grad_scale: f32) -> Result<()> {
        let (lr, mu, wd) = (self.lr, self.momentum, self.weight_decay);
        let state = &mut self.state;
        model.visit("", &mut |name, kind, t| {
            if kind != Kind::Param {
                return Ok(());
            }
            let Some(g) = grads.get(t) else { return Ok(()) };
            let g = g.to_vec()?;
            let mut p = t.to_vec()?;
            let first = !state.contains_key(name);
            let buf = state.entry(name.to_string()).or_insert_with(|| vec![0.0; p.len()]);
            for i in 0..p.len() {
                let gi = g[i] * grad_scale + wd * p[i];
                buf[i] = if first { gi } else { mu * buf[i] + gi };
                p[i] -= lr * if mu > 0.0 { buf[i] } else { gi };
            }
            *t = Tensor::from_vec(p, t.shape(), t.device())?.requires_grad();
            Ok(())
        })
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn export_state(&self, model: &mut dyn Module) -> Result<OptimizerState> {
        let slots = self.state.iter().map(|(name, b)| (name.as_str(), "momentum_buffer", b.as_slice()));
        Ok(OptimizerState { step: 0, tensors: state::export(model, slots)? })
    }
    fn import_state(&mut self, model: &mut dyn Module, s: &OptimizerState) -> Result<()> {
        let by_param = state::import(model, s, &["momentum_buffer"])?;
        self.state =
            by_param.into_iter().map(|(k, mut v)| (k, v.remove("momentum_buffer").unwrap_or_default())).collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;
    use crate::nn::{track_parameters, Linear};
    use crate::rng::Rng;

    fn params(m: &mut Linear) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        m.visit("", &mut |_, _, t| {
            out.push(t.to_vec()?.iter().map(|v| v.to_bits()).collect());
            Ok(())
        })
        .unwrap();
        out
    }

    /// One step on the loss mean((x·Wᵀ + b)²) for a fixed x.
    fn step(m: &mut Linear, opt: &mut dyn Optimizer) {
        track_parameters(m).unwrap();
        let x = Tensor::cpu((0..12).map(|i| (i as f32 * 0.37).sin()).collect(), &[4, 3]);
        let loss = m.forward(&x).unwrap().square().unwrap().mean_all().unwrap();
        let grads = loss.backward().unwrap();
        opt.step(m, &grads, 1.0).unwrap();
    }

    #[test]
    fn exported_state_continues_exactly_and_bad_state_is_refused() {
        let make: [fn() -> Box<dyn Optimizer>; 2] =
            [|| Box::new(Adam::adamw(1e-2, 1e-2)), || Box::new(Sgd { weight_decay: 1e-3, ..Sgd::new(1e-2, 0.9) })];
        for new_opt in make {
            let mut a = Linear::new(3, 2, true, &mut Rng::new(1), Device::Cpu).unwrap();
            let mut opt = new_opt();
            for _ in 0..3 {
                step(&mut a, opt.as_mut());
            }
            let state = opt.export_state(&mut a).unwrap();
            assert!(state.tensors.windows(2).all(|w| w[0].0 < w[1].0), "sorted by name");
            let mut b = Linear::new(3, 2, true, &mut Rng::new(1), Device::Cpu).unwrap();
            // b takes a's weights; a fresh optimizer takes a's state: the next steps agree bit for bit.
            let saved = params(&mut a);
            let mut i = 0;
            b.visit("", &mut |_, _, t| {
                *t = Tensor::cpu(saved[i].iter().map(|&u| f32::from_bits(u)).collect(), t.shape());
                i += 1;
                Ok(())
            })
            .unwrap();
            let mut fresh = new_opt();
            fresh.import_state(&mut b, &state).unwrap();
            for _ in 0..2 {
                step(&mut a, opt.as_mut());
                step(&mut b, fresh.as_mut());
            }
            assert_eq!(params(&mut a), params(&mut b));

            let mut bad = state.clone();
            bad.tensors[0].0 = "nope.exp_avg".into();
            assert!(fresh.import_state(&mut b, &bad).is_err());
            let mut bad = state.clone();
            bad.tensors[0].1 = Tensor::cpu(vec![0.0], &[1]);
            let e = fresh.import_state(&mut b, &bad).unwrap_err().to_string();
            assert!(e.contains("shape"), "{e}");
        }
    }
}
