//! The ensemble of docs/MODELS.md: the trained networks plus a boosted-trees member, combined by the fused
//! ensemble op (`EnsembleKernel::ensemble` on the run's device) with member weights from rolling accuracy. The
//! weights are host bookkeeping (cheap); every decided sample gets its own weight row, and all of them are combined
//! in one call: one upload each of p and the weights, one launch, one download of each output (and, on a GPU, the
//! op's read back of the weights to check their sums).
//!
//! Causality of the weights: at the close of sample `t` the label of sample `s` is known once `s + h <= t`
//! (it reads the close of row `s + h`). The weights used at `t` are therefore computed from the hits of samples
//! `s <= t − h` only, starting with the validation samples (out of sample for every network; the trees only
//! early-stopped on them). Nothing here reads a test label before the bar at which it is realised.
//!
//! The confidence threshold is picked on validation, not test: the `1 − target_coverage` quantile of the
//! ensemble's validation confidences, so the ensemble may act on about that share of bars (fewer after the
//! agreement test). The agreement share is docs/MODELS.md's default, 0.7.
//!
//! On disk an ensemble is a directory: `ensemble.json` (the [`Manifest`]) next to one checkpoint per network
//! and `gbdt.json`; the manifest names them by relative path.

use super::dataset::Preprocessing;
use super::predict::{argmax3, MemberPredictions};
use crate::device::Device;
use crate::ops::ensemble::cpu::rolling_weights;
use crate::ops::ensemble::{EnsembleDims, EnsembleRule};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;

pub const FORMAT: &str = "tickgrad.ensemble/1";
pub const MANIFEST_NAME: &str = "ensemble.json";
const HOLD: usize = 2;

/// How member weights follow recent performance (`ops::ensemble::cpu::rolling_weights`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollingSpec {
    /// Most recent scored predictions per member that count.
    pub window: usize,
    /// Softmax temperature over rolling accuracies: 0.05 makes a 5-point accuracy lead worth e ≈ 2.7× weight.
    pub temperature: f64,
    /// Equal weights until every member has this many scored predictions.
    pub min_history: usize,
}

impl Default for RollingSpec {
    fn default() -> Self {
        RollingSpec { window: 500, temperature: 0.05, min_history: 50 }
    }
}

impl RollingSpec {
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::config("rolling.temperature", format!("expected > 0, found {}", self.temperature)));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberEntry {
    pub name: String,
    /// Checkpoint path relative to the manifest's directory.
    pub checkpoint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub members: Vec<MemberEntry>,
    /// Boosted-trees member (`Gbdt` JSON), relative to the manifest's directory.
    pub gbdt: String,
    /// Shared preprocessing; `window` is the longest member window, which lays out the samples.
    pub prep: Preprocessing,
    pub confidence_threshold: f64,
    pub agreement: f64,
    /// The validation coverage the threshold was chosen for.
    pub target_coverage: f64,
    pub rolling: RollingSpec,
}

impl Manifest {
    pub fn validate(&self, source: &str) -> Result<()> {
        let bad = |m: String| Err(Error::parse(source, m));
        if self.format != FORMAT {
            return bad(format!("format {:?}, expected {FORMAT:?}", self.format));
        }
        if !(0.0..=1.0).contains(&self.confidence_threshold) || !(0.0..=1.0).contains(&self.agreement) {
            return bad(format!(
                "confidence_threshold {} and agreement {} must lie in [0, 1]",
                self.confidence_threshold, self.agreement
            ));
        }
        self.rolling.validate().map_err(|e| Error::parse(source, e.to_string()))
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Invalid(format!("ensemble manifest to JSON: {e}")))
    }

    pub fn from_json(text: &str, source: &str) -> Result<Manifest> {
        let m: Manifest = serde_json::from_str(text)
            .map_err(|e| Error::parse(source, format!("not a valid ensemble manifest: {e}")))?;
        m.validate(source)?;
        Ok(m)
    }
}

/// The ensemble's call on each decided sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    pub class: Vec<usize>,
    pub probs: Vec<[f64; 3]>,
    pub confidence: Vec<f64>,
    /// Member weights used at each sample.
    pub weights: Vec<Vec<f64>>,
}

/// How members' calls become the ensemble's.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Label horizon: a sample's hit is known `horizon` samples later.
    pub horizon: usize,
    pub rolling: RollingSpec,
    pub confidence_threshold: f64,
    pub agreement: f64,
}

impl Manifest {
    pub fn rule(&self) -> Rule {
        Rule {
            horizon: self.prep.horizon,
            rolling: self.rolling.clone(),
            confidence_threshold: self.confidence_threshold,
            agreement: self.agreement,
        }
    }
}

/// Combine members' predictions. `members[m]` and `labels` cover the consecutive samples `covered`; the
/// samples in `decide` (inside `covered`) get a call, with weights from the hits of covered samples at least
/// `horizon` samples earlier (see the module docs). The combiner runs on `device`, one call for all of `decide`.
pub fn combine(
    members: &[MemberPredictions],
    labels: &[usize],
    covered: Range<usize>,
    decide: Range<usize>,
    rule: &Rule,
    device: Device,
) -> Result<Combined> {
    let Rule { horizon, ref rolling, confidence_threshold: conf_threshold, agreement } = *rule;
    rolling.validate()?;
    let n = covered.len();
    if members.is_empty() {
        return Err(Error::Invalid("an ensemble needs at least one member".into()));
    }
    if let Some((m, p)) = members.iter().enumerate().find(|(_, p)| p.len() != n) {
        return Err(Error::shape(format!("member {m} predictions (one per covered sample)"), [n], [p.len()]));
    }
    if labels.len() != n {
        return Err(Error::shape("labels (one per covered sample)", [n], [labels.len()]));
    }
    if decide.start < covered.start || decide.end > covered.end {
        return Err(Error::Invalid(format!(
            "ensemble: samples to decide {decide:?} lie outside the predicted samples {covered:?}"
        )));
    }
    let hits: Vec<Vec<bool>> =
        members.iter().map(|p| p.probs.iter().zip(labels).map(|(q, &l)| argmax3(q) == l).collect()).collect();
    let nm = members.len();
    let batch = decide.len();
    // Host bookkeeping: each decided sample's rolling weights and its members' probabilities, row by row.
    let (mut p, mut wf, mut weights) =
        (Vec::with_capacity(batch * nm * 3), Vec::with_capacity(batch * nm), Vec::with_capacity(batch));
    for t in decide {
        let i = t - covered.start;
        let known = (i + 1).saturating_sub(horizon);
        let from = known.saturating_sub(rolling.window);
        let history: Vec<Vec<bool>> = hits.iter().map(|h| h[from..known].to_vec()).collect();
        let w = rolling_weights(&history, rolling.window, rolling.temperature, rolling.min_history);
        for member in members {
            p.extend(member.probs[i].iter().map(|&v| v as f32));
        }
        wf.extend(w.iter().map(|&x| x as f32));
        weights.push(w);
    }
    let mut out = Combined { class: vec![], probs: vec![], confidence: vec![], weights };
    if batch == 0 {
        return Ok(out);
    }
    let be = crate::ops::backend(device)?;
    let d = EnsembleDims { batch, members: nm, classes: 3, hold_class: HOLD };
    let thresholds = EnsembleRule { conf_threshold: conf_threshold as f32, agreement: agreement as f32 };
    let (combined, conf, cls) = be.ensemble(&d, &be.upload(p)?, &be.upload(wf)?, thresholds)?;
    let (combined, conf, cls) = (be.download(&combined)?, be.download(&conf)?, be.download(&cls)?);
    out.class = cls.iter().map(|&c| c as usize).collect();
    out.probs = combined.chunks_exact(3).map(|c| [c[0] as f64, c[1] as f64, c[2] as f64]).collect();
    out.confidence = conf.iter().map(|&c| c as f64).collect();
    Ok(out)
}

/// The confidence cut that lets about `coverage` of the given confidences through: their `1 − coverage`
/// quantile (linear interpolation), clamped to [0, 1].
pub fn threshold_for_coverage(confidence: &[f64], coverage: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&coverage) {
        return Err(Error::config("target_coverage", format!("expected a share in [0, 1], found {coverage}")));
    }
    let mut v: Vec<f64> = confidence.iter().copied().filter(|c| c.is_finite()).collect();
    if v.is_empty() {
        return Err(Error::Invalid("no finite validation confidence to pick a threshold from".into()));
    }
    v.sort_by(f64::total_cmp);
    let pos = (1.0 - coverage) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Ok((v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)).clamp(0.0, 1.0))
}
