//! An optimizer's state as named tensors, so training can stop and resume exactly (`train::resume`). The
//! tensors are named `<parameter>.<slot>` with PyTorch's slot names (`exp_avg`, `exp_avg_sq`,
//! `momentum_buffer`) and shaped like their parameter, on the host whatever device the optimizer keeps them on.

use crate::nn::Module;
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};

/// Everything an optimizer needs to continue where it stopped besides its hyperparameters.
#[derive(Clone, Default)]
pub struct OptimizerState {
    /// Updates taken so far (Adam's bias correction depends on it).
    pub step: u64,
    /// `<parameter>.<slot>` → tensor of the parameter's shape, sorted by name.
    pub tensors: Vec<(String, Tensor)>,
}

/// The model's parameters by name (their shapes check the state; their devices receive it).
pub(super) fn params_by_name(model: &mut dyn Module) -> Result<HashMap<String, Tensor>> {
    Ok(crate::nn::parameters(model)?.into_iter().collect())
}

/// Export per-parameter slot vectors as `<parameter>.<slot>` tensors shaped like the parameter.
pub(super) fn export<'a>(
    model: &mut dyn Module,
    slots: impl Iterator<Item = (&'a str, &'static str, &'a [f32])>,
) -> Result<Vec<(String, Tensor)>> {
    let params = params_by_name(model)?;
    let mut out = Vec::new();
    for (param, slot, data) in slots {
        let p = params
            .get(param)
            .ok_or_else(|| Error::Invalid(format!("optimizer state: `{param}` is not a parameter of this model")))?;
        out.push((format!("{param}.{slot}"), Tensor::cpu(data.to_vec(), p.shape())));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Split imported tensors by parameter, check each is one of `slots` of a parameter of `model` with that
/// parameter's shape, and return parameter → (slot → values). Every parameter with state must have every slot.
pub(super) fn import(
    model: &mut dyn Module,
    state: &OptimizerState,
    slots: &[&str],
) -> Result<BTreeMap<String, BTreeMap<String, Vec<f32>>>> {
    let params = params_by_name(model)?;
    let mut out: BTreeMap<String, BTreeMap<String, Vec<f32>>> = BTreeMap::new();
    for (name, t) in &state.tensors {
        let bad = |m: String| Error::parse(format!("optimizer state tensor `{name}`"), m);
        let (param, slot) = name.rsplit_once('.').ok_or_else(|| bad("expected `<parameter>.<slot>`".into()))?;
        if !slots.contains(&slot) {
            return Err(bad(format!("unknown slot `{slot}`, expected one of {slots:?}")));
        }
        let p = params.get(param).ok_or_else(|| bad(format!("the model has no parameter `{param}`")))?;
        if t.shape() != p.shape() {
            return Err(bad(format!("shape {:?}, expected {:?} (the parameter's)", t.shape(), p.shape())));
        }
        let v = t.to_vec()?;
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!("non-finite value at flat index {i}")));
        }
        out.entry(param.to_string()).or_default().insert(slot.to_string(), v);
    }
    for (param, got) in &out {
        if let Some(missing) = slots.iter().find(|s| !got.contains_key(**s)) {
            return Err(Error::parse(
                format!("optimizer state of `{param}`"),
                format!("slot `{missing}` is missing (found {:?})", got.keys().collect::<Vec<_>>()),
            ));
        }
    }
    Ok(out)
}
