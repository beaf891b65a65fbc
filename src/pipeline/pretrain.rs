//! The pipeline side of `tickgrad pretrain`: masked pretraining on the dataset's training windows (validation
//! windows for early stopping; the test part is never read), written as a pretrained body file
//! (`models::pretrained`) that `train --init-from` starts from.

use super::dataset::Dataset;
use crate::models::pretrained::save_body;
use crate::models::Model;
use crate::nn::Module;
use crate::train::pretrain::{new_head, pretrain, PretrainConfig, PretrainOutcome, HEAD_PREFIX};
use crate::train::Event;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Metadata key of the pretraining history (`train::pretrain::PretrainOutcome` JSON).
pub const PRETRAIN_KEY: &str = "tickgrad.pretrain";

/// Pretrain `model`'s body on windows of `window` bars and write the body, the temporary head and the history to
/// `out` atomically.
pub fn pretrain_body(
    ds: &Dataset,
    model: &mut Model,
    window: usize,
    pc: &PretrainConfig,
    out: &Path,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<PretrainOutcome> {
    let nf = model.config().n_features();
    if nf != ds.n_features() {
        return Err(Error::shape("config n_features (feature columns)", [ds.n_features()], [nf]));
    }
    let sampler = ds.sampler(window)?;
    let mut head = new_head(model, pc.train.seed)?;
    let (train, val) = (ds.ends(ds.split.train.clone()), ds.ends(ds.split.val.clone()));
    let outcome = pretrain(model, &mut head, &sampler, &train, &val, pc, on_event)?;
    let mut head_tensors = Vec::new();
    head.visit(HEAD_PREFIX, &mut |name, _, t| {
        head_tensors.push((name.to_string(), t.clone()));
        Ok(())
    })?;
    let meta = BTreeMap::from([
        (PRETRAIN_KEY.to_string(), json(&outcome)?),
        (super::meta::FEATURES.to_string(), json(&ds.prep.features)?),
        (super::meta::WINDOW.to_string(), window.to_string()),
    ]);
    save_body(out, model, &head_tensors, &meta)?;
    Ok(outcome)
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Invalid(format!("serialising the pretraining record: {e}")))
}
