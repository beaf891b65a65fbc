//! Optimizers (Adam, AdamW, SGD with momentum) and gradient clipping by global norm, on the parameters' device.
//!
//! Every update is the fused kernel of `ops::optim` (PyTorch's `torch.optim` rules, step for step): a step asks
//! the device for one squared-sum launch per gradient, one clip-factor launch and one update launch per tensor,
//! and reads nothing back. The state (Adam's moments, SGD's momentum buffers) lives on the device beside the
//! parameters, keyed by parameter name so it survives the update replacing each parameter tensor.

use crate::autodiff::Grads;
use crate::backend::Storage;
use crate::nn::{Kind, Module};
use crate::ops::optim::{AdamArgs, AdamConfig, AdamStep, SgdStep};
use crate::ops::prelude::*;
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::collections::HashMap;

/// Σ‖g‖² over every parameter's gradient, as a one-value tensor on the gradients' device (no read back).
fn squared_norm(model: &mut dyn Module, grads: &Grads) -> Result<Option<Tensor>> {
    let mut acc: Option<Storage> = None;
    model.visit("", &mut |name, kind, t| {
        if kind != Kind::Param {
            return Ok(());
        }
        let Some(g) = grads.get(t) else { return Ok(()) };
        let be = backend(g.device())?;
        let prev = match acc.take() {
            Some(a) if a.device() == g.device() => a,
            Some(a) => {
                return Err(Error::Device(format!(
                    "gradient of `{name}` lives on {}, earlier gradients on {}: clip one device's model at a time",
                    g.device(),
                    a.device()
                )))
            }
            None => be.upload(vec![0.0])?,
        };
        acc = Some(be.sum_squares(g.storage(), &prev)?);
        Ok(())
    })?;
    Ok(acc.map(|a| Tensor::from_storage(a, vec![1])))
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
}

/// The scale buffer an update reads: the clip factor, or a cached one-value 1.0 on the parameter's device.
fn scale_on<'a>(
    clip: Option<&'a Tensor>,
    ones: &'a mut HashMap<String, Storage>,
    be: &dyn Backend,
) -> Result<&'a Storage> {
    match clip {
        Some(c) if c.device() == be.device() => Ok(c.storage()),
        Some(c) => Err(Error::Device(format!("clip factor on {}, parameters on {}", c.device(), be.device()))),
        None => {
            let key = be.device().to_string();
            if !ones.contains_key(&key) {
                ones.insert(key.clone(), be.upload(vec![1.0])?);
            }
            Ok(&ones[&key])
        }
    }
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
    ones: HashMap<String, Storage>,
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
        let (state, ones) = (&mut self.state, &mut self.ones);
        model.visit("", &mut |name, kind, t| {
            if kind != Kind::Param {
                return Ok(());
            }
            let Some(g) = grads.get(t) else { return Ok(()) };
            let be = backend(t.device())?;
            let st = match state.get(name) {
                Some(st) => st.clone(),
                None => Moments { m: be.upload(vec![0.0; t.numel()])?, v: be.upload(vec![0.0; t.numel()])? },
            };
            let scale = scale_on(clip, ones, be)?;
            let a = AdamArgs { p: t.storage(), g: g.storage(), m: &st.m, v: &st.v, scale };
            let (p, m, v) = be.adam_update(&a, &s).map_err(|e| e.context(&format!("adam update of `{name}`")))?;
            state.insert(name.to_string(), Moments { m, v });
            *t = Tensor::from_storage(p, t.shape().to_vec()).requires_grad();
            Ok(())
        })
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
}

/// SGD with momentum (PyTorch's form: buf = μ·buf + g, the first step buf = g; p −= lr·buf) and optional L2
/// weight decay.
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    state: HashMap<String, Storage>,
    ones: HashMap<String, Storage>,
}

impl Sgd {
    pub fn new(lr: f32, momentum: f32) -> Sgd {
        Sgd { lr, momentum, weight_decay: 0.0, state: HashMap::new(), ones: HashMap::new() }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut dyn Module, grads: &Grads, clip: Option<&Tensor>) -> Result<()> {
        let (lr, mu, wd) = (self.lr as f64, self.momentum as f64, self.weight_decay as f64);
        let (state, ones) = (&mut self.state, &mut self.ones);
        model.visit("", &mut |name, kind, t| {
            if kind != Kind::Param {
                return Ok(());
            }
            let Some(g) = grads.get(t) else { return Ok(()) };
            let be = backend(t.device())?;
            let first = !state.contains_key(name);
            let s = SgdStep::new(lr, mu, wd, first)?;
            let buf = match state.get(name) {
                Some(b) => b.clone(),
                None => be.upload(vec![0.0; t.numel()])?,
            };
            let scale = scale_on(clip, ones, be)?;
            let (p, b) = be
                .sgd_update(t.storage(), g.storage(), &buf, scale, &s)
                .map_err(|e| e.context(&format!("sgd update of `{name}`")))?;
            state.insert(name.to_string(), b);
            *t = Tensor::from_storage(p, t.shape().to_vec()).requires_grad();
            Ok(())
        })
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
}
