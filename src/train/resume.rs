//! What a training run needs to continue after a crash exactly as if it had never stopped, and its file.
//!
//! [`TrainState`] is taken after every completed epoch: the weights (parameters and buffers such as batch
//! norm's running statistics: everything `Model::visit` sees), the best weights so far, the optimizer's state,
//! the shuffling generator and the current order of the training windows, the early-stopping counter and the
//! history. Resuming from it and running the remaining epochs gives the same weights, bit for bit, as the
//! uninterrupted run: every other input of an epoch (dropout masks, batches) is a function of the seed and the
//! epoch number alone.
//!
//! A [`Fingerprint`] names everything that must be equal for that to hold (model and training config, the
//! feature matrix, the windows and their targets; callers add the data file and preprocessing), and a state is
//! only resumed when its fingerprint equals the new run's; otherwise the error lists each differing field.
//!
//! On disk (written atomically by the caller, see `pipeline::resume`) a state is a safetensors file: tensors
//! `weights.<name>`, `best.<name>` (absent when the best epoch is the last one or none is finite yet) and
//! `optim.<parameter>.<slot>`; metadata `tickgrad.resume` (the JSON of [`ResumeMeta`]) and
//! `tickgrad.fingerprint` (a JSON object of strings).

use super::objective::Examples;
use super::trainer::{TrainConfig, TrainOutcome};
use crate::data::WindowSampler;
use crate::device::Device;
use crate::io::hash::Fnv1a;
use crate::models::Model;
use crate::nn::Module;
use crate::optim::OptimizerState;
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::{Error, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub const FORMAT: &str = "tickgrad.resume/1";
pub const RESUME_KEY: &str = "tickgrad.resume";
pub const FINGERPRINT_KEY: &str = "tickgrad.fingerprint";

/// The training state after `epoch` completed epochs.
#[derive(Clone)]
pub struct TrainState {
    pub epoch: usize,
    /// Every tensor `Model::visit` sees, in visit order.
    pub weights: Vec<(String, Tensor)>,
    /// The best epoch's weights; `None` while no validation loss was finite.
    pub best: Option<Vec<(String, Tensor)>>,
    pub optimizer: OptimizerState,
    /// The shuffling generator after this epoch's shuffle, and the order that shuffle produced (the next epoch
    /// shuffles this order further, so both are needed).
    pub rng: Rng,
    pub order: Vec<usize>,
    /// Epochs since the validation loss last improved.
    pub since_best: usize,
    pub outcome: TrainOutcome,
}

/// What must be equal for a state to be resumed: field → value (values are readable, or a hash with a size).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint(pub BTreeMap<String, String>);

impl Fingerprint {
    pub fn insert(&mut self, field: &str, value: impl Into<String>) {
        self.0.insert(field.to_string(), value.into());
    }

    /// One field `<prefix>.<key>` per member of the JSON object `json` (so a mismatch names the very setting).
    pub fn insert_fields(&mut self, prefix: &str, json: &str) -> Result<()> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| Error::Invalid(format!("fingerprint of {prefix}: {e}")))?;
        let obj = v.as_object().ok_or_else(|| Error::Invalid(format!("fingerprint of {prefix}: not a JSON object")))?;
        for (k, v) in obj {
            self.insert(&format!("{prefix}.{k}"), v.to_string());
        }
        Ok(())
    }

    /// One line per differing field: "`field`: expected <this run's>, found <the file's>".
    pub fn diff(&self, found: &Fingerprint) -> Vec<String> {
        let absent = "(absent)".to_string();
        let mut fields: Vec<&String> = self.0.keys().chain(found.0.keys()).collect();
        fields.sort();
        fields.dedup();
        fields
            .into_iter()
            .filter_map(|f| {
                let (e, g) = (self.0.get(f).unwrap_or(&absent), found.0.get(f).unwrap_or(&absent));
                (e != g).then(|| format!("`{f}`: expected {e}, found {g}"))
            })
            .collect()
    }

    /// `Ok` when `found` (read from `source`) equals this run's fingerprint; otherwise an error naming every
    /// differing field.
    pub fn check(&self, found: &Fingerprint, source: &str) -> Result<()> {
        let d = self.diff(found);
        if d.is_empty() {
            return Ok(());
        }
        Err(Error::parse(
            source,
            format!(
                "written by a different training run, cannot resume ({} field(s) differ): {}",
                d.len(),
                d.join("; ")
            ),
        ))
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Invalid(format!("fingerprint to JSON: {e}")))
    }

    pub fn from_json(text: &str, source: &str) -> Result<Fingerprint> {
        serde_json::from_str(text).map_err(|e| Error::parse(source, format!("metadata `{FINGERPRINT_KEY}`: {e}")))
    }
}

fn hash_examples(ex: &Examples) -> String {
    let mut h = Fnv1a::default();
    for &e in &ex.ends {
        h.u64(e as u64);
    }
    for &c in &ex.class {
        h.u64(c as u64);
    }
    h.f32s(&ex.ret).f32s(&ex.volatility).f32s(&ex.volume);
    // A curriculum's ranking is part of what an epoch trains on (absent without one: plain runs hash as before).
    for &d in &ex.difficulty {
        h.u64(d.to_bits());
    }
    format!("{} windows fnv1a64 {:016x}", ex.len(), h.finish())
}

/// The trainer's part of a run's fingerprint: the model config (which with the seed fixes the initial
/// weights), the training config and device, the objective, the scaled input matrix and window, and the
/// training and validation windows with their targets. Not the thread count: the CPU kernels split their
/// reductions into a fixed number of parts, so training gives the same bits on any number of threads.
pub fn fingerprint(
    model: &Model,
    objective: super::Objective,
    sampler: &WindowSampler<'_>,
    train: &Examples,
    val: &Examples,
    cfg: &TrainConfig,
) -> Result<Fingerprint> {
    let mut fp = Fingerprint::default();
    fp.insert("format", FORMAT);
    fp.insert_fields("model", &model.config().to_json())?;
    let tc = serde_json::to_string(cfg).map_err(|e| Error::Invalid(format!("train config to JSON: {e}")))?;
    fp.insert_fields("train", &tc)?;
    fp.insert("device", cfg.device.to_string());
    fp.insert("objective", objective.name());
    let h = Fnv1a::default().f32s(sampler.data()).finish();
    fp.insert(
        "inputs",
        format!("{}x{} window {} fnv1a64 {h:016x}", sampler.rows(), sampler.features(), sampler.window()),
    );
    fp.insert("train_windows", hash_examples(train));
    fp.insert("val_windows", hash_examples(val));
    Ok(fp)
}

/// Where the best weights of a state are in its file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BestIn {
    /// No epoch had a finite validation loss yet.
    None,
    /// The best epoch is the state's epoch: the `weights.` tensors.
    Weights,
    /// The `best.` tensors.
    Stored,
}

/// The JSON under `tickgrad.resume`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeMeta {
    pub format: String,
    pub epoch: usize,
    pub since_best: usize,
    pub best: BestIn,
    pub optimizer_step: u64,
    pub rng: Rng,
    pub order: Vec<usize>,
    pub outcome: TrainOutcome,
}

/// A parsed resume file, before it is checked against a model.
pub struct ResumeFile {
    pub meta: ResumeMeta,
    pub fingerprint: Fingerprint,
    /// name → (shape, values), every tensor of the file.
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    source: String,
}

fn tensor_bytes(t: &Tensor) -> Result<Vec<u8>> {
    Ok(t.to_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect())
}

impl TrainState {
    /// The state as a resume file's bytes.
    pub fn to_bytes(&self, fingerprint: &Fingerprint) -> Result<Vec<u8>> {
        let o = &self.outcome;
        let best = match (&self.best, o.best_epoch) {
            (None, _) => BestIn::None,
            (Some(_), e) if e == self.epoch => BestIn::Weights,
            (Some(_), _) => BestIn::Stored,
        };
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (n, t) in &self.weights {
            tensors.push((format!("weights.{n}"), t.shape().to_vec(), tensor_bytes(t)?));
        }
        if let (BestIn::Stored, Some(b)) = (best, &self.best) {
            for (n, t) in b {
                tensors.push((format!("best.{n}"), t.shape().to_vec(), tensor_bytes(t)?));
            }
        }
        for (n, t) in &self.optimizer.tensors {
            tensors.push((format!("optim.{n}"), t.shape().to_vec(), tensor_bytes(t)?));
        }
        let meta = ResumeMeta {
            format: FORMAT.into(),
            epoch: self.epoch,
            since_best: self.since_best,
            best,
            optimizer_step: self.optimizer.step,
            rng: self.rng.clone(),
            order: self.order.clone(),
            outcome: self.outcome.clone(),
        };
        let json = serde_json::to_string(&meta).map_err(|e| Error::Invalid(format!("resume state to JSON: {e}")))?;
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(n, s, d)| {
                let v = TensorView::new(Dtype::F32, s.clone(), d).map_err(|e| Error::Invalid(e.to_string()))?;
                Ok((n.clone(), v))
            })
            .collect::<Result<_>>()?;
        let md = HashMap::from([(RESUME_KEY.to_string(), json), (FINGERPRINT_KEY.to_string(), fingerprint.to_json()?)]);
        safetensors::serialize(views, Some(md)).map_err(|e| Error::Invalid(format!("serialising resume state: {e}")))
    }
}

impl ResumeFile {
    /// Parse a resume file (`source` names it in errors): a torn, foreign or hand-edited file is an error here.
    pub fn parse(bytes: &[u8], source: &str) -> Result<ResumeFile> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::parse(source, format!("not a valid safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::parse(source, format!("bad safetensors header: {e}")))?;
        let md = header.metadata().clone().unwrap_or_default();
        let get = |k: &str| {
            md.get(k).ok_or_else(|| Error::parse(source, format!("metadata key `{k}` is missing: not a resume state")))
        };
        let meta: ResumeMeta = serde_json::from_str(get(RESUME_KEY)?)
            .map_err(|e| Error::parse(source, format!("metadata `{RESUME_KEY}`: {e}")))?;
        if meta.format != FORMAT {
            return Err(Error::parse(source, format!("format {:?}, expected {FORMAT:?}", meta.format)));
        }
        let fingerprint = Fingerprint::from_json(get(FINGERPRINT_KEY)?, source)?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(Error::parse(
                    format!("{source}: tensor {name}"),
                    format!("dtype {:?}, expected F32", view.dtype()),
                ));
            }
            let data: Vec<f32> =
                view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(Error::parse(
                    format!("{source}: tensor {name}"),
                    format!("non-finite value at flat index {i}"),
                ));
            }
            tensors.insert(name, (view.shape().to_vec(), data));
        }
        Ok(ResumeFile { meta, fingerprint, tensors, source: source.to_string() })
    }

    /// The state for `model` (names and shapes from its `visit`) on `device`, checked for consistency with
    /// a run of `train_len` training windows under `cfg`. Check the fingerprint first: it explains a
    /// mismatch better than a missing tensor does.
    pub fn into_state(mut self, model: &mut Model, train_len: usize, cfg: &TrainConfig) -> Result<TrainState> {
        let src = self.source.clone();
        let bad = |m: String| Error::parse(src.clone(), m);
        let m = &self.meta;
        if m.epoch == 0 || m.epoch > cfg.epochs || m.outcome.epochs.len() != m.epoch {
            return Err(bad(format!(
                "epoch {} with {} epochs of history, expected 1..={} and one history entry per epoch",
                m.epoch,
                m.outcome.epochs.len(),
                cfg.epochs
            )));
        }
        let best_epoch = m.outcome.best_epoch;
        let consistent = match m.best {
            BestIn::None => best_epoch == 0,
            BestIn::Weights => best_epoch == m.epoch,
            BestIn::Stored => best_epoch >= 1 && best_epoch < m.epoch,
        };
        if !consistent || m.since_best > m.epoch {
            return Err(bad(format!(
                "best weights {:?} with best epoch {best_epoch}, {} epochs since best, at epoch {}: inconsistent",
                m.best, m.since_best, m.epoch
            )));
        }
        let mut seen = vec![false; train_len];
        if m.order.len() != train_len
            || !m.order.iter().all(|&i| i < train_len && !std::mem::replace(&mut seen[i], true))
        {
            return Err(bad(format!("the window order is not a permutation of the {train_len} training windows")));
        }
        let device = cfg.device;
        let weights = self.take_model_tensors("weights.", model, device)?;
        let best = match self.meta.best {
            BestIn::None => None,
            BestIn::Weights => Some(weights.clone()),
            BestIn::Stored => Some(self.take_model_tensors("best.", model, device)?),
        };
        let mut optim = Vec::new();
        let mut rest: Vec<String> = self.tensors.keys().cloned().collect();
        rest.sort();
        for name in rest {
            let Some(slot) = name.strip_prefix("optim.") else {
                return Err(Error::parse(format!("{src}: tensor {name}"), "unexpected tensor in a resume state"));
            };
            let (shape, data) = self.tensors.remove(&name).unwrap_or_default();
            optim.push((slot.to_string(), Tensor::from_vec(data, &shape, Device::Cpu)?));
        }
        let mut outcome = self.meta.outcome;
        // JSON has no infinity: before any finite validation loss the best loss reads back as NaN.
        if best_epoch == 0 {
            outcome.best_val_loss = f64::INFINITY;
        }
        outcome.config = cfg.clone();
        Ok(TrainState {
            epoch: self.meta.epoch,
            weights,
            best,
            optimizer: OptimizerState { step: self.meta.optimizer_step, tensors: optim },
            rng: self.meta.rng,
            order: self.meta.order,
            since_best: self.meta.since_best,
            outcome,
        })
    }

    /// Remove `prefix<name>` for every tensor of `model`, checking its shape.
    fn take_model_tensors(&mut self, prefix: &str, model: &mut Model, device: Device) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        let (src, tensors) = (&self.source, &mut self.tensors);
        model.visit("", &mut |name, _, t| {
            let key = format!("{prefix}{name}");
            let (shape, data) = tensors
                .remove(&key)
                .ok_or_else(|| Error::parse(format!("{src}: tensor {key}"), "missing from the resume state"))?;
            if shape != t.shape() {
                return Err(Error::parse(
                    format!("{src}: tensor {key}"),
                    format!("shape {shape:?}, expected {:?} for this model", t.shape()),
                ));
            }
            out.push((name.to_string(), Tensor::from_vec(data, &shape, device)?));
            Ok(())
        })?;
        Ok(out)
    }
}
