//! Optimizers (Adam, AdamW, SGD with momentum) and gradient clipping by global norm, on the parameters' device.
//!
//! Every update is the fused multi-tensor kernel of `ops::optim` (PyTorch's `torch.optim` rules, step for step):
//! the model's parameters are one tensor group, so a step asks the device for the group's squared norm, the clip
//! factor and the group's update, a fixed number of launches whatever the number of tensors (module docs of
//! `ops::optim`), and reads nothing back. The state (Adam's moments, SGD's momentum buffers) lives on the device beside the
//! parameters, keyed by parameter name so it survives the update replacing each parameter tensor.

mod state;

pub use state::OptimizerState;

use crate::autodiff::Grads;
use crate::backend::Storage;
use crate::device::Device;
use crate::nn::{Kind, Module};
use crate::ops::optim::{AdamConfig, AdamSlot, AdamStep, SgdSlot, SgdStep};
use crate::ops::prelude::*;
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::collections::hash_map::Entry;
use std::collections::HashMap;

/// Every parameter that has a gradient, in visit order: (name, parameter, gradient), all on one device.
fn with_grads(model: &mut dyn Module, grads: &Grads) -> Result<Vec<(String, Tensor, Tensor)>> {
    let mut out: Vec<(String, Tensor, Tensor)> = Vec::new();
    model.visit("", &mut |name, kind, t| {
        if kind != Kind::Param {
            return Ok(());
        }
        let Some(g) = grads.get(t) else { return Ok(()) };
        if let Some((first, _, _)) = out.first() {
            let d = out[0].2.device();
            if g.device() != d || t.device() != d {
                return Err(Error::Device(format!(
                    "`{name}` and its gradient live on {} and {}, `{first}` on {d}: one device's model at a time",
                    t.device(),
                    g.device()
                )));
            }
        }
        out.push((name.to_string(), t.clone(), g.clone()));
        Ok(())
    })?;
    Ok(out)
}

/// Σ‖g‖² over every parameter's gradient, as a one-value tensor on the gradients' device (no read back): one
/// group reduction (`OptimKernel::squared_norm`), a fixed number of launches.
fn squared_norm(model: &mut dyn Module, grads: &Grads) -> Result<Option<Tensor>> {
    let params = with_grads(model, grads)?;
    let Some((_, _, g0)) = params.first() else { return Ok(None) };
    let gs: Vec<&Storage> = params.iter().map(|(_, _, g)| g.storage()).collect();
    let total = backend(g0.device())?.squared_norm(&gs)?;
    Ok(Some(Tensor::from_storage(total, vec![1])))
}

/// √(Σ‖g‖²) over every parameter's gradient, read back to the host (for reports; training uses `clip_factor`).
pub fn grad_norm(model: &mut dyn Module, grads: &Grads) -> Result<f64> {
    Ok(match squared_norm(model, grads)? {
        Some(t) => (t.item()? as f64).sqrt(),
        None => 0.0,
    })
}

/// `clip_grad_norm_`'s factor min(1, max_norm/(‖g‖ + 1e-6)) as a one-value tensor on the gradients' device, for
/// `Optimizer::step`: the decision to clip never leaves the device. `None` when no parameter has a gradient.
pub fn clip_factor(model: &mut dyn Module, grads: &Grads, max_norm: f64) -> Result<Option<Tensor>> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(Error::config("clip_norm", format!("expected a norm > 0, found {max_norm}")));
    }
    let Some(total) = squared_norm(model, grads)? else { return Ok(None) };
    let f = backend(total.device())?.clip_factor(total.storage(), max_norm as f32)?;
    Ok(Some(Tensor::from_storage(f, vec![1])))
}

pub trait Optimizer {
    /// Apply one update, every gradient first multiplied by `clip` (a one-value tensor from `clip_factor` on the
    /// parameters' device), or unscaled with `None`.
    fn step(&mut self, model: &mut dyn Module, grads: &Grads, clip: Option<&Tensor>) -> Result<()>;
    fn lr(&self) -> f32;
    fn set_lr(&mut self, lr: f32);
    /// The step count and per-parameter buffers, named after `model`'s parameters (see [`OptimizerState`]).
    /// Reads the device state back to the host (for a resume file, not per step).
    fn export_state(&self, model: &mut dyn Module) -> Result<OptimizerState>;
    /// Replace the state with `state`, checked against `model`'s parameters (names, shapes, finite values), and
    /// put it on each parameter's device, so the next `step` continues exactly as the exporting optimizer would.
    fn import_state(&mut self, model: &mut dyn Module, state: &OptimizerState) -> Result<()>;
}

/// A device buffer's values on the host.
fn host_values(s: &Storage) -> Result<Vec<f32>> {
    backend(s.device())?.download(s)
}

/// `values` uploaded to the device of parameter `name`.
fn upload_to(params: &HashMap<String, Tensor>, name: &str, values: Vec<f32>) -> Result<Storage> {
    let p = params
        .get(name)
        .ok_or_else(|| Error::Invalid(format!("optimizer state: `{name}` is not a parameter of this model")))?;
    backend(p.device())?.upload(values)
}

/// The scale buffer an update reads: the clip factor, or a cached one-value 1.0 on the parameter's device.
fn scale_on<'a>(
    clip: Option<&'a Tensor>,
    ones: &'a mut HashMap<Device, Storage>,
    be: &dyn Backend,
) -> Result<&'a Storage> {
    match clip {
        Some(c) if c.device() == be.device() => Ok(c.storage()),
        Some(c) => Err(Error::Device(format!("clip factor on {}, parameters on {}", c.device(), be.device()))),
        None => match ones.entry(be.device()) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => Ok(e.insert(be.upload(vec![1.0])?)),
        },
    }
}

/// One update of a whole group: (the group's backend, its parameters as (name, parameter, gradient), the scale
/// buffer) → the new parameters' storages, in order.
type Update<'u> = dyn FnMut(&dyn Backend, &[(String, Tensor, Tensor)], &Storage) -> Result<Vec<Storage>> + 'u;

/// Run `update` once over every parameter that has a gradient (the model's tensor group, on its device with its
/// scale buffer), and put each new parameter in its place (a fresh leaf that tracks gradients). The loop Adam
/// and SGD share.
fn update_params(
    model: &mut dyn Module,
    grads: &Grads,
    clip: Option<&Tensor>,
    ones: &mut HashMap<Device, Storage>,
    update: &mut Update<'_>,
) -> Result<()> {
    let params = with_grads(model, grads)?;
    let Some((_, p0, _)) = params.first() else { return Ok(()) };
    let be = backend(p0.device())?;
    let new = update(be, &params, scale_on(clip, ones, be)?)?;
    let mut new = params.iter().map(|(name, ..)| name.as_str()).zip(new).collect::<HashMap<_, _>>();
    model.visit("", &mut |name, kind, t| {
        if kind == Kind::Param {
            if let Some(p) = new.remove(name) {
                *t = Tensor::from_storage(p, t.shape().to_vec()).requires_grad();
            }
        }
        Ok(())
    })
}

/// Adam's per-parameter state: the first and second moments, on the parameter's device.
#[derive(Clone, Debug)]
pub struct Moments {
    pub m: Storage,
    pub v: Storage,
}

/// Adam (L2 weight decay added to the gradient) or AdamW (decoupled decay), PyTorch's update rule.
pub struct Adam {
    pub lr: f32,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f32,
    pub decoupled: bool,
    t: u64,
    state: HashMap<String, Moments>,
    ones: HashMap<Device, Storage>,
}

impl Adam {
    pub fn new(lr: f32) -> Adam {
        Adam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            t: 0,
            state: HashMap::new(),
            ones: HashMap::new(),
        }
    }
    pub fn adamw(lr: f32, weight_decay: f32) -> Adam {
        Adam { weight_decay, decoupled: true, ..Adam::new(lr) }
    }
    /// Updates taken so far (PyTorch's `step` of every parameter).
    pub fn steps(&self) -> u64 {
        self.t
    }
    fn config(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr as f64,
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: self.weight_decay as f64,
            decoupled: self.decoupled,
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, model: &mut dyn Module, grads: &Grads, clip: Option<&Tensor>) -> Result<()> {
        let s = AdamStep::new(&self.config(), self.t + 1)?;
        self.t += 1;
        let state = &mut self.state;
        update_params(model, grads, clip, &mut self.ones, &mut |be, params, scale| {
            let mut moments = Vec::with_capacity(params.len());
            for (name, t, _) in params {
                moments.push(match state.get(name) {
                    Some(st) => st.clone(),
                    None => Moments { m: be.upload(vec![0.0; t.numel()])?, v: be.upload(vec![0.0; t.numel()])? },
                });
            }
            let slots: Vec<AdamSlot> = params
                .iter()
                .zip(&moments)
                .map(|((_, t, g), st)| AdamSlot { p: t.storage(), g: g.storage(), m: &st.m, v: &st.v })
                .collect();
            let new = be.adam_group(&slots, scale, &s).map_err(|e| e.context("adam update"))?;
            let mut out = Vec::with_capacity(new.len());
            for ((name, ..), (p, m, v)) in params.iter().zip(new) {
                state.insert(name.clone(), Moments { m, v });
                out.push(p);
            }
            Ok(out)
        })
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn export_state(&self, model: &mut dyn Module) -> Result<OptimizerState> {
        let mut host = Vec::new();
        for (name, st) in &self.state {
            host.push((name.as_str(), "exp_avg", host_values(&st.m)?));
            host.push((name.as_str(), "exp_avg_sq", host_values(&st.v)?));
        }
        let slots = host.iter().map(|(n, slot, v)| (*n, *slot, v.as_slice()));
        Ok(OptimizerState { step: self.t, tensors: state::export(model, slots)? })
    }
    fn import_state(&mut self, model: &mut dyn Module, s: &OptimizerState) -> Result<()> {
        if s.step > i32::MAX as u64 {
            return Err(Error::parse("optimizer state", format!("step {} is out of range", s.step)));
        }
        let by_param = state::import(model, s, &["exp_avg", "exp_avg_sq"])?;
        let params = state::params_by_name(model)?;
        let mut next = HashMap::new();
        for (name, mut slots) in by_param {
            let m = upload_to(&params, &name, slots.remove("exp_avg").unwrap_or_default())?;
            let v = upload_to(&params, &name, slots.remove("exp_avg_sq").unwrap_or_default())?;
            next.insert(name, Moments { m, v });
        }
        self.t = s.step;
        self.state = next;
        Ok(())
    }
}

/// SGD with momentum (PyTorch's form: buf = μ·buf + g, the first step buf = g; p −= lr·buf) and optional L2
/// weight decay.
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    state: HashMap<String, Storage>,
    ones: HashMap<Device, Storage>,
}

impl Sgd {
    pub fn new(lr: f32, momentum: f32) -> Sgd {
        Sgd { lr, momentum, weight_decay: 0.0, state: HashMap::new(), ones: HashMap::new() }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut dyn Module, grads: &Grads, clip: Option<&Tensor>) -> Result<()> {
        let (lr, mu, wd) = (self.lr as f64, self.momentum as f64, self.weight_decay as f64);
        let state = &mut self.state;
        update_params(model, grads, clip, &mut self.ones, &mut |be, params, scale| {
            // A tensor's first step starts its buffer at the gradient: the group splits into the tensors on
            // their first step and the others (one launch set each; normally all are one or the other).
            let mut out: Vec<Option<Storage>> = vec![None; params.len()];
            // Split before updating: the first group's new buffers must not put it in the second.
            let (fresh, seen): (Vec<usize>, Vec<usize>) =
                (0..params.len()).partition(|&i| !state.contains_key(&params[i].0));
            for (first, idx) in [(true, fresh), (false, seen)] {
                if idx.is_empty() {
                    continue;
                }
                let mut bufs = Vec::with_capacity(idx.len());
                for &i in &idx {
                    let (name, t, _) = &params[i];
                    bufs.push(match state.get(name) {
                        Some(b) => b.clone(),
                        None => be.upload(vec![0.0; t.numel()])?,
                    });
                }
                let slots: Vec<SgdSlot> = idx
                    .iter()
                    .zip(&bufs)
                    .map(|(&i, buf)| SgdSlot { p: params[i].1.storage(), g: params[i].2.storage(), buf })
                    .collect();
                let s = SgdStep::new(lr, mu, wd, first)?;
                let new = be.sgd_group(&slots, scale, &s).map_err(|e| e.context("sgd update"))?;
                for (&i, (p, b)) in idx.iter().zip(new) {
                    state.insert(params[i].0.clone(), b);
                    out[i] = Some(p);
                }
            }
            Ok(out.into_iter().flatten().collect())
        })
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn export_state(&self, model: &mut dyn Module) -> Result<OptimizerState> {
        let mut host = Vec::new();
        for (name, b) in &self.state {
            host.push((name.as_str(), host_values(b)?));
        }
        let slots = host.iter().map(|(n, v)| (*n, "momentum_buffer", v.as_slice()));
        Ok(OptimizerState { step: 0, tensors: state::export(model, slots)? })
    }
    fn import_state(&mut self, model: &mut dyn Module, s: &OptimizerState) -> Result<()> {
        let by_param = state::import(model, s, &["momentum_buffer"])?;
        let params = state::params_by_name(model)?;
        let mut next = HashMap::new();
        for (name, mut slots) in by_param {
            let b = upload_to(&params, &name, slots.remove("momentum_buffer").unwrap_or_default())?;
            next.insert(name, b);
        }
        self.state = next;
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
        opt.step(m, &grads, None).unwrap();
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
