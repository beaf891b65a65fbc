//! Pretrained bodies on disk: the file `tickgrad pretrain` writes and `--init-from` reads.
//!
//! A safetensors file holding the body tensors of one model (names as in `Module::visit`, see
//! [`super::body`]), any extra tensors the writer adds (the pretraining's temporary reconstruction head, under
//! `pretrain_head.*`), the config the body was built from under `tickgrad.body_config`, and free metadata. It is
//! deliberately not a checkpoint (no `tickgrad.config`, no head), so `predict` or `finetune` given one fail at
//! once instead of running an untrained head.
//!
//! Loading copies the body tensors into a model built from the caller's config, all or nothing: the kind must be
//! the same, and every body tensor must be present with the model's exact shape (the error names the tensor and
//! both shapes). A full checkpoint is accepted as a source too (its body is taken, its head ignored), so a trained
//! model's body can start another run.

use super::body::is_body_tensor;
use super::checkpoint::CONFIG_KEY;
use super::config::ModelConfig;
use super::model::Model;
use crate::io::atomic::write_atomic;
use crate::nn::Module;
use crate::tensor::Tensor;
use crate::{Error, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Metadata key of the config whose body the file holds.
pub const BODY_CONFIG_KEY: &str = "tickgrad.body_config";

/// Write `model`'s body, the `extra` tensors and `metadata` to `path`, atomically.
pub fn save_body(
    path: &Path,
    model: &mut Model,
    extra: &[(String, Tensor)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in model.body_tensors()?.into_iter().chain(extra.iter().cloned()) {
        if tensors.iter().any(|(n, _, _)| *n == name) {
            return Err(Error::Invalid(format!("pretrained body file: tensor `{name}` given twice")));
        }
        let data: Vec<u8> = t.to_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((name, t.shape().to_vec(), data));
    }
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| {
            Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), d).map_err(|e| Error::Invalid(e.to_string()))?))
        })
        .collect::<Result<_>>()?;
    let mut meta: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    meta.insert(BODY_CONFIG_KEY.into(), model.config().to_json());
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Invalid(format!("serialising the pretrained body: {e}")))?;
    write_atomic(path, &bytes)
}

/// What [`load_body`] found besides the tensors it copied.
#[derive(Debug, Clone)]
pub struct BodySource {
    /// The names copied into the model, in visit order.
    pub loaded: Vec<String>,
    /// Every metadata entry of the file.
    pub metadata: BTreeMap<String, String>,
}

/// Copy the body tensors of the file at `path` into `model` (see the module doc); nothing is changed on error.
pub fn load_body(path: &Path, model: &mut Model) -> Result<BodySource> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    load_body_bytes(&bytes, &path.display().to_string(), model)
}

/// [`load_body`] from bytes; `name` is used in error messages.
pub fn load_body_bytes(bytes: &[u8], name: &str, model: &mut Model) -> Result<BodySource> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::parse(name, format!("not a valid safetensors file: {e}")))?;
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| Error::parse(name, format!("bad safetensors header: {e}")))?;
    let metadata: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();
    let (key, text) = [BODY_CONFIG_KEY, CONFIG_KEY]
        .iter()
        .find_map(|k| metadata.get(*k).map(|t| (*k, t)))
        .ok_or_else(|| {
            Error::parse(
                name,
                format!("neither `{BODY_CONFIG_KEY}` nor `{CONFIG_KEY}` in the metadata: not a file written by tickgrad pretrain or train"),
            )
        })?;
    let source_cfg = ModelConfig::from_json(text, &format!("{name}: metadata {key}"))?;
    let cfg = model.config();
    if source_cfg.kind() != cfg.kind() {
        return Err(Error::parse(
            name,
            format!("holds a {} body, but this model is a {}: pretrain the same kind", source_cfg.kind(), cfg.kind()),
        ));
    }
    let device = model.device();
    let mut staged: Vec<(String, Tensor)> = Vec::new();
    model.visit("", &mut |tname, _, t| {
        if !is_body_tensor(&cfg, tname) {
            return Ok(());
        }
        let at = || format!("{name}: tensor {tname}");
        let view = st
            .tensor(tname)
            .map_err(|_| Error::parse(at(), format!("missing: the model body needs it with shape {:?}", t.shape())))?;
        if view.dtype() != Dtype::F32 {
            return Err(Error::parse(at(), format!("dtype {:?}, expected F32", view.dtype())));
        }
        if view.shape() != t.shape() {
            return Err(Error::parse(
                at(),
                format!("shape {:?} in the file, expected {:?} for this model config", view.shape(), t.shape()),
            ));
        }
        let data: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::parse(at(), format!("non-finite value at flat index {i}")));
        }
        staged.push((tname.to_string(), Tensor::from_vec(data, t.shape(), device)?));
        Ok(())
    })?;
    let loaded: Vec<String> = staged.iter().map(|(n, _)| n.clone()).collect();
    let mut staged = staged.into_iter();
    model.visit("", &mut |tname, _, t| {
        if is_body_tensor(&cfg, tname) {
            let (n, v) = staged.next().ok_or_else(|| Error::Invalid("pretrained body: tensors changed".into()))?;
            debug_assert_eq!(n, tname);
            *t = v;
        }
        Ok(())
    })?;
    Ok(BodySource { loaded, metadata })
}
