//! Running trained members over the dataset's samples and turning each output into class probabilities
//! [up, down, hold] (docs/MODELS.md, "Ensemble"): a classifier's softmax; a regression member's return forecast
//! through θ and its validation residual spread (`ops::ensemble::cpu::regression_to_probs`); the multi-task
//! model's direction head.

use super::dataset::Dataset;
use super::meta::ModelMeta;
use super::tabular;
use crate::data::WindowSampler;
use crate::device::Device;
use crate::models::gbdt::Gbdt;
use crate::models::Model;
use crate::ops::ensemble::cpu::regression_to_probs;
use crate::tensor::Tensor;
use crate::train::Objective;
use crate::{Error, Result};
use std::ops::Range;

/// Windows per forward pass when predicting: bounds activation memory.
const PREDICT_BATCH: usize = 256;

/// One member's calls on a run of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberPredictions {
    /// [up, down, hold] per sample.
    pub probs: Vec<[f64; 3]>,
    /// Next-horizon log-return forecast per sample, for members that make one.
    pub ret: Option<Vec<f64>>,
}

impl MemberPredictions {
    /// Append the predictions of the samples that follow (walk-forward blocks; validation, then test).
    pub fn append(&mut self, next: MemberPredictions) -> Result<()> {
        if self.probs.is_empty() {
            *self = next;
            return Ok(());
        }
        match (&mut self.ret, next.ret) {
            (Some(r), Some(n)) => r.extend(n),
            (None, None) => {}
            _ => return Err(Error::Invalid("a member's return forecasts came and went between blocks".into())),
        }
        self.probs.extend(next.probs);
        Ok(())
    }

    /// Most probable class per sample (ties to the lower index: up, then down, then hold).
    pub fn classes(&self) -> Vec<usize> {
        self.probs.iter().map(argmax3).collect()
    }

    pub fn len(&self) -> usize {
        self.probs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.probs.is_empty()
    }
}

pub fn argmax3(p: &[f64; 3]) -> usize {
    (0..3).fold(0, |b, k| if p[k] > p[b] { k } else { b })
}

fn softmax3(z: &[f32]) -> [f64; 3] {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let e: Vec<f64> = z.iter().map(|&v| (v as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    [e[0] / s, e[1] / s, e[2] / s]
}

/// Raw `predict` outputs [n, k] of `model` on the windows ending at `ends`.
pub fn raw_outputs(model: &Model, sampler: &WindowSampler<'_>, ends: &[usize], device: Device) -> Result<Vec<f32>> {
    let k = model.config().output_width();
    let mut out = Vec::with_capacity(ends.len() * k);
    sampler.for_each_batch(ends, PREDICT_BATCH, |chunk, buf| {
        let x = Tensor::from_vec(buf.to_vec(), &[chunk.len(), sampler.window(), sampler.features()], device)?;
        out.extend(model.predict(&x)?.to_vec()?);
        Ok(())
    })?;
    Ok(out)
}

/// Class probabilities (and the return forecast where there is one) of a trained model on `samples`. A
/// regression model without a stored residual spread maps its forecast to a class deterministically.
pub fn predict_model(
    model: &Model,
    meta: &ModelMeta,
    ds: &Dataset,
    samples: Range<usize>,
    device: Device,
) -> Result<MemberPredictions> {
    let nf = model.config().n_features();
    if nf != ds.n_features() {
        return Err(Error::shape("model n_features (dataset feature columns)", [ds.n_features()], [nf]));
    }
    let sampler = ds.sampler(meta.window)?;
    let raw = raw_outputs(model, &sampler, &ds.ends(samples), device)?;
    let k = model.config().output_width();
    let theta = ds.prep.theta;
    let scale = meta.target_scale.ret_scale;
    let spread = meta.residual_std.unwrap_or(f64::NAN);
    Ok(match meta.objective {
        Objective::Direction => {
            if k != 3 {
                return Err(Error::shape("direction model output", "[n, 3]", format!("[n, {k}]")));
            }
            MemberPredictions { probs: raw.chunks(3).map(softmax3).collect(), ret: None }
        }
        Objective::Return => {
            let ret: Vec<f64> = raw.chunks(k).map(|r| r[0] as f64 * scale).collect();
            let probs = ret.iter().map(|&r| regression_to_probs(r, theta, spread)).collect();
            MemberPredictions { probs, ret: Some(ret) }
        }
        Objective::MultiTask => {
            if k != 6 {
                return Err(Error::shape("multitask model output", "[n, 6]", format!("[n, {k}]")));
            }
            let probs = raw.chunks(6).map(|r| softmax3(&r[1..4])).collect();
            let ret = raw.chunks(6).map(|r| r[0] as f64 * scale).collect();
            MemberPredictions { probs, ret: Some(ret) }
        }
    })
}

/// Root mean square of (forecast − realised return) over `samples`: the spread a regression member's
/// forecast is widened by when it is turned into class probabilities.
pub fn residual_rms(forecast: &[f64], realised: &[f64]) -> Result<f64> {
    if forecast.len() != realised.len() || forecast.is_empty() {
        return Err(Error::shape("residuals (forecast, realised)", forecast.len(), realised.len()));
    }
    let ss: f64 = forecast.iter().zip(realised).map(|(p, r)| (p - r) * (p - r)).sum();
    Ok((ss / forecast.len() as f64).sqrt())
}

/// The boosted-trees member's class probabilities on `samples`.
pub fn predict_gbdt(gbdt: &Gbdt, ds: &Dataset, samples: Range<usize>) -> Result<MemberPredictions> {
    let x = tabular::matrix(ds, samples)?;
    let p = gbdt.predict_proba(&x)?;
    if p.len() % 3 != 0 {
        return Err(Error::shape("boosted-trees probabilities", "[n, 3]", p.len()));
    }
    Ok(MemberPredictions { probs: p.chunks(3).map(|r| [r[0], r[1], r[2]]).collect(), ret: None })
}
