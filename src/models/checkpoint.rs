//! Checkpoints: safetensors with PyTorch's state_dict names and the config JSON under `tickgrad.config`, so files
//! move both ways between tickgrad and PyTorch. Loading is strict: every tensor the model has must be present with
//! its exact shape and dtype, and the file may hold nothing else (BatchNorm's int64 `num_batches_tracked` aside).

use super::config::ModelConfig;
use super::model::Model;
use crate::device::Device;
use crate::io::atomic::write_atomic;
use crate::nn::{Kind, Module};
use crate::tensor::Tensor;
use crate::{Error, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

pub const CONFIG_KEY: &str = "tickgrad.config";

/// A loaded checkpoint: the model plus every metadata entry (scalers, training info, …).
pub struct Checkpoint {
    pub model: Model,
    pub metadata: BTreeMap<String, String>,
}

/// Checkpoint files read by [`load`] in this process: what `stream --symbols` reports to show that N symbols
/// share one load of each file rather than reading it N times.
static FILES_LOADED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many checkpoint files [`load`] has read in this process (successfully or not).
pub fn files_loaded() -> u64 {
    FILES_LOADED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Load a checkpoint onto `device`.
pub fn load(path: impl AsRef<Path>, device: Device) -> Result<Checkpoint> {
    FILES_LOADED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    load_bytes(&bytes, &path.display().to_string(), device)
}

/// Load from bytes; `name` is used in error messages.
pub fn load_bytes(bytes: &[u8], name: &str, device: Device) -> Result<Checkpoint> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::parse(name, format!("not a valid safetensors file: {e}")))?;
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| Error::parse(name, format!("bad safetensors header: {e}")))?;
    let metadata: BTreeMap<String, String> = meta.metadata().clone().unwrap_or_default().into_iter().collect();
    let cfg_text = metadata.get(CONFIG_KEY).ok_or_else(|| {
        Error::parse(name, format!("metadata key `{CONFIG_KEY}` is missing: not a tickgrad checkpoint"))
    })?;
    let cfg = ModelConfig::from_json(cfg_text, &format!("{name}: metadata {CONFIG_KEY}"))?;
    check_size(&cfg, &st, name)?;
    let mut model = Model::new(&cfg, 0, device)?;
    let mut used = HashSet::new();
    model.visit("", &mut |tname, _, t| {
        let view = st
            .tensor(tname)
            .map_err(|_| Error::parse(format!("{name}: tensor {tname}"), "missing from the checkpoint"))?;
        if view.dtype() != Dtype::F32 {
            return Err(Error::parse(
                format!("{name}: tensor {tname}"),
                format!("dtype {:?}, expected F32", view.dtype()),
            ));
        }
        if view.shape() != t.shape() {
            return Err(Error::parse(
                format!("{name}: tensor {tname}"),
                format!("shape {:?}, expected {:?} for this config", view.shape(), t.shape()),
            ));
        }
        let data: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::parse(format!("{name}: tensor {tname}"), format!("non-finite value at flat index {i}")));
        }
        *t = Tensor::from_vec(data, t.shape(), device)?;
        used.insert(tname.to_string());
        Ok(())
    })?;
    let mut extra: Vec<&str> = st.names().into_iter().filter(|n| !used.contains(*n)).collect();
    extra.sort();
    for n in extra {
        let is_counter = n.ends_with("num_batches_tracked")
            && used.contains(&format!("{}running_mean", n.trim_end_matches("num_batches_tracked")));
        if !is_counter {
            return Err(Error::parse(
                format!("{name}: tensor {n}"),
                "unexpected tensor: this config has no such parameter",
            ));
        }
    }
    Ok(Checkpoint { model, metadata })
}

/// Refuse a config that the file's tensors cannot hold before `Model::new` allocates it: its weights must all be
/// in the file, so a config needing more of them than the file's tensors have elements (a mutated or hostile
/// `d_model: 10^12`) is an error, not an allocation of terabytes. Floats allocated besides the stored weights
/// (the transformer's positional table) may be at most 4× the stored ones plus 64 Ki.
fn check_size(cfg: &ModelConfig, st: &SafeTensors, name: &str) -> Result<()> {
    let held: u128 = st.tensors().iter().map(|(_, v)| v.data().len() as u128 / 4).sum();
    let (stored, extra) = cfg.weight_bounds();
    if stored > held {
        return Err(Error::parse(
            format!("{name}: metadata {CONFIG_KEY}"),
            format!("the config needs at least {stored} weights but the file's tensors hold {held}: config and tensors disagree"),
        ));
    }
    if extra > 4 * held + (1 << 16) {
        return Err(Error::parse(
            format!("{name}: metadata {CONFIG_KEY}"),
            format!("the config asks for a {extra}-float positional table (max_len × d_model), far more than the {held} stored weights"),
        ));
    }
    Ok(())
}

/// Save `model` with its config and any extra metadata, atomically. BatchNorm layers get an int64
/// `num_batches_tracked` so that PyTorch's strict `load_state_dict` accepts the file.
pub fn save(path: impl AsRef<Path>, model: &mut Model, extra: &BTreeMap<String, String>) -> Result<()> {
    let bytes = to_bytes(model, extra)?;
    write_atomic(path, &bytes)
}

pub fn to_bytes(model: &mut Model, extra: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>, Dtype)> = Vec::new();
    model.visit("", &mut |name, kind, t| {
        let data: Vec<u8> = t.to_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((name.to_string(), t.shape().to_vec(), data, Dtype::F32));
        if kind == Kind::Buffer && name.ends_with("running_var") {
            let counter = format!("{}num_batches_tracked", name.trim_end_matches("running_var"));
            tensors.push((counter, vec![], 0i64.to_le_bytes().to_vec(), Dtype::I64));
        }
        Ok(())
    })?;
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, d, dt)| {
            Ok((n.clone(), TensorView::new(*dt, s.clone(), d).map_err(|e| Error::Invalid(e.to_string()))?))
        })
        .collect::<Result<_>>()?;
    let mut meta: HashMap<String, String> = extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    meta.insert(CONFIG_KEY.into(), model.config().to_json());
    safetensors::serialize(views, Some(meta)).map_err(|e| Error::Invalid(format!("serialising checkpoint: {e}")))
}
