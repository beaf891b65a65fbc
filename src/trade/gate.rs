//! The ensemble's confidence and agreement gate over the served members (docs/MODELS.md, Ensemble), one bar at a
//! time: member outputs → class probabilities [up, down, hold] → the fused combiner (`EnsembleKernel::ensemble`
//! at batch 1, on the backend of the stream's device: the CPU when the stream runs there) with rolling-performance
//! weights → a class that is `hold` unless the confidence passes the threshold and the agreeing members carry the
//! agreement share of the weight.
//!
//! Member outputs: a classifier (transformer) gives logits → softmax; the multi-task model's direction logits
//! (columns 1..4) → softmax; a single regression output (lstm_attention, tcn) is a predicted h-bar log return,
//! mapped through θ and the member's rolling residual spread (`regression_to_probs`).
//!
//! Scoring: once a decision's horizon has passed, [`Gate::score`] records for every member whether its top class
//! was right and (regression members) its residual; the weights are the softmax of rolling accuracy over the last
//! `weight_window` scored bars / `temperature`, equal until `min_history` bars are scored.

use crate::data::incremental::window::Ring;
use crate::data::labels::direction_of;
use crate::device::Device;
use crate::models::ModelConfig;
use crate::ops::ensemble::cpu::{regression_to_probs, rolling_weights};
use crate::ops::ensemble::{EnsembleDims, EnsembleRule};
use crate::{Error, Result};

pub const HOLD: usize = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    pub conf_threshold: f32,
    pub agreement: f32,
    /// Hold band in log-return units (direction labels and regression members).
    pub theta: f64,
    pub weight_window: usize,
    pub temperature: f64,
    pub min_history: usize,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            conf_threshold: 0.5,
            agreement: 0.7,
            theta: 0.0,
            weight_window: 100,
            temperature: 0.1,
            min_history: 20,
        }
    }
}

/// How a member's output row becomes class probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// Softmax of output columns `start..start + 3`.
    Logits(usize),
    /// Output column 0 is a predicted log return.
    Regression,
}

impl MemberKind {
    pub fn of(cfg: &ModelConfig) -> Result<MemberKind> {
        match (cfg, cfg.output_width()) {
            (ModelConfig::MultiTask(_), _) => Ok(MemberKind::Logits(1)),
            (_, 3) => Ok(MemberKind::Logits(0)),
            (_, 1) => Ok(MemberKind::Regression),
            (_, k) => Err(Error::Invalid(format!(
                "gate: a {} member with {k} outputs is neither a 3-class classifier nor a single regression",
                cfg.kind()
            ))),
        }
    }
}

/// The gate's answer for one bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub class: usize,
    pub confidence: f32,
    pub combined: [f32; 3],
}

#[derive(Debug, Clone)]
pub struct Gate {
    cfg: GateConfig,
    kinds: Vec<MemberKind>,
    hits: Vec<Vec<bool>>,
    residuals: Vec<Ring>,
    p: Vec<f32>,
    weights: Vec<f32>,
    /// Where the combiner runs (the members' device).
    device: Device,
}

fn softmax3(x: &[f32]) -> [f32; 3] {
    let m = x[0].max(x[1]).max(x[2]);
    let e = [0, 1, 2].map(|i| ((x[i] - m) as f64).exp());
    let s: f64 = e.iter().sum();
    e.map(|v| (v / s) as f32)
}

fn top(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b })
}

impl Gate {
    /// A gate over members of `kinds` whose combiner runs on `device` (its backend is checked to exist here).
    pub fn new(cfg: GateConfig, kinds: Vec<MemberKind>, device: Device) -> Result<Gate> {
        if kinds.is_empty() {
            return Err(Error::config("gate", "needs at least one member"));
        }
        if !(cfg.temperature > 0.0 && cfg.temperature.is_finite()) {
            return Err(Error::config("temperature", format!("must be positive, found {}", cfg.temperature)));
        }
        crate::ops::backend(device)?;
        let m = kinds.len();
        Ok(Gate {
            hits: vec![Vec::with_capacity(2 * cfg.weight_window + 1); m],
            residuals: vec![Ring::new(cfg.weight_window.max(2)); m],
            p: vec![0.0; m * 3],
            weights: vec![1.0 / m as f32; m],
            device,
            kinds,
            cfg,
        })
    }

    pub fn config(&self) -> &GateConfig {
        &self.cfg
    }

    /// Class probabilities of member `m` from its output row.
    pub fn member_probs(&self, m: usize, out: &[f32]) -> [f32; 3] {
        match self.kinds[m] {
            MemberKind::Logits(s) => softmax3(&out[s..s + 3]),
            MemberKind::Regression => {
                let r = &self.residuals[m];
                let spread = if r.len() >= 2 {
                    let n = r.len() as f64;
                    let mean = r.iter().sum::<f64>() / n;
                    (r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt()
                } else {
                    f64::NAN
                };
                regression_to_probs(out[0] as f64, self.cfg.theta, spread).map(|v| v as f32)
            }
        }
    }

    /// Run the combiner on `device` from the next decision on (the trader moves it to the CPU when a member falls
    /// back there); a device without a backend is reported by `decide`.
    pub fn set_device(&mut self, device: Device) {
        self.device = device;
    }

    /// Current member weights (sum to 1).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Combine one bar's member outputs (one row per member, in member order).
    pub fn decide(&mut self, outputs: &[&[f32]]) -> Result<Decision> {
        if outputs.len() != self.kinds.len() {
            return Err(Error::shape("gate member outputs", self.kinds.len(), outputs.len()));
        }
        for (m, out) in outputs.iter().enumerate() {
            let p = self.member_probs(m, out);
            self.p[m * 3..m * 3 + 3].copy_from_slice(&p);
        }
        let d = EnsembleDims { batch: 1, members: self.kinds.len(), classes: 3, hold_class: HOLD };
        let rule = EnsembleRule { conf_threshold: self.cfg.conf_threshold, agreement: self.cfg.agreement };
        let be = crate::ops::backend(self.device)?;
        let (p, w) = (be.upload(self.p.clone())?, be.upload(self.weights.clone())?);
        let (combined, confidence, class) = be.ensemble(&d, &p, &w, rule)?;
        let (combined, confidence, class) = (be.download(&combined)?, be.download(&confidence)?, be.download(&class)?);
        Ok(Decision {
            class: class[0] as usize,
            confidence: confidence[0],
            combined: [combined[0], combined[1], combined[2]],
        })
    }

    /// Score the member outputs of a bar whose h-bar log return `realised` is now known, and update the weights.
    pub fn score(&mut self, outputs: &[Vec<f32>], realised: f64) -> Result<()> {
        if outputs.len() != self.kinds.len() {
            return Err(Error::shape("gate scored outputs", self.kinds.len(), outputs.len()));
        }
        let Some(truth) = direction_of(realised, self.cfg.theta) else { return Ok(()) };
        for (m, out) in outputs.iter().enumerate() {
            let p = self.member_probs(m, out);
            self.hits[m].push(top(&p) == truth as usize);
            if self.hits[m].len() > 2 * self.cfg.weight_window {
                self.hits[m].drain(..self.cfg.weight_window);
            }
            if self.kinds[m] == MemberKind::Regression {
                self.residuals[m].push(out[0] as f64 - realised);
            }
        }
        let w = rolling_weights(&self.hits, self.cfg.weight_window, self.cfg.temperature, self.cfg.min_history);
        for (dst, src) in self.weights.iter_mut().zip(w) {
            *dst = src as f32;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(kinds: Vec<MemberKind>, conf: f32) -> Gate {
        let cfg = GateConfig { conf_threshold: conf, min_history: 3, weight_window: 5, ..GateConfig::default() };
        Gate::new(cfg, kinds, Device::Cpu).unwrap()
    }

    #[test]
    fn confident_agreeing_members_pass_and_others_hold() {
        let mut g = gate(vec![MemberKind::Logits(0), MemberKind::Logits(0)], 0.6);
        let up = [3.0f32, 0.0, 0.0];
        let d = g.decide(&[&up, &up]).unwrap();
        assert_eq!(d.class, 0);
        assert!((d.confidence - softmax3(&up)[0]).abs() < 1e-6);
        let down = [0.0f32, 3.0, 0.0];
        assert_eq!(g.decide(&[&up, &down]).unwrap().class, HOLD, "half the weight disagrees");
        let flat = [0.1f32, 0.0, 0.0];
        assert_eq!(g.decide(&[&flat, &flat]).unwrap().class, HOLD, "too unsure");
    }

    #[test]
    fn scoring_moves_weight_to_the_member_that_is_right() {
        let mut g = gate(vec![MemberKind::Logits(0), MemberKind::Regression], 0.0);
        assert_eq!(g.weights(), &[0.5, 0.5]);
        for _ in 0..5 {
            // truth: up; member 0 says up, member 1 predicts a fall
            g.score(&[vec![2.0, 0.0, 0.0], vec![-0.01]], 0.02).unwrap();
        }
        assert!(g.weights()[0] > 0.99, "{:?}", g.weights());
        let p = g.member_probs(1, &[-0.01]);
        assert!(p[1] > 0.5 && (p.iter().sum::<f32>() - 1.0).abs() < 1e-6, "residual spread now known: {p:?}");
        assert!(g.decide(&[&[1.0, 0.0, 0.0]]).is_err(), "wrong member count");
    }

    /// The gate on wgpu (lavapipe on CI) decides as on the CPU, bar for bar, while scoring moves the weights.
    #[cfg(feature = "wgpu")]
    #[test]
    fn the_gate_on_wgpu_decides_as_on_the_cpu() {
        let kinds = vec![MemberKind::Logits(0), MemberKind::Logits(0), MemberKind::Regression];
        let cfg = GateConfig { conf_threshold: 0.4, min_history: 3, weight_window: 5, ..GateConfig::default() };
        let mut cpu = Gate::new(cfg.clone(), kinds.clone(), Device::Cpu).unwrap();
        let mut gpu = Gate::new(cfg, kinds, Device::Wgpu(0)).unwrap();
        let mut rng = crate::rng::Rng::new(5);
        let mut classes = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let outs: Vec<Vec<f32>> = vec![
                (0..3).map(|_| 2.0 * rng.normal() as f32).collect(),
                (0..3).map(|_| 2.0 * rng.normal() as f32).collect(),
                vec![0.01 * rng.normal() as f32],
            ];
            let rows: Vec<&[f32]> = outs.iter().map(Vec::as_slice).collect();
            let (a, b) = (cpu.decide(&rows).unwrap(), gpu.decide(&rows).unwrap());
            assert_eq!(a.class, b.class, "{a:?} vs {b:?}");
            assert!((a.confidence - b.confidence).abs() <= 1e-6, "{a:?} vs {b:?}");
            classes.insert(a.class);
            let realised = 0.01 * rng.normal();
            cpu.score(&outs, realised).unwrap();
            gpu.score(&outs, realised).unwrap();
        }
        assert!(classes.len() > 1, "the decisions vary: {classes:?}");
    }
}
