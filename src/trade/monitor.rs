//! Live monitoring of the served model: rolling accuracy, Sharpe and calibration of its decisions, a degradation
//! alert, feature drift (PSI), rendered as Prometheus text exposition (format 0.0.4).
//!
//! - accuracy: the ensemble's top class (before the gate's hold) against the realised direction, over the last
//!   `window` scored bars (a bar is scored once its horizon has passed).
//! - Sharpe: mean / standard deviation of the per-bar returns of the gated signal (position = class sign ×
//!   the risk-checked size, held one bar, minus `fee_bps` on each change), over the last `window` bars; per bar,
//!   not annualised.
//! - calibration: expected calibration error of the top-class probability over the last `window` scored bars
//!   (10 equal-width confidence bins; Σ_bins n_b/n · |accuracy_b − confidence_b|).
//! - degradation: 1 once `min_scored` bars are scored and accuracy < `min_accuracy`, Sharpe < `min_sharpe` or
//!   ECE > `max_ece`; 0 otherwise.
//! - PSI per model-input feature: the population stability index Σ (a − e)·ln(a / e) of the last `window` values
//!   against a reference distribution, over the reference's decile bins (shares floored at 1e-4; see
//!   [`crate::data::drift`]). Values are the scaled model inputs, missing ones left out. The reference is the
//!   training rows' distribution that `tickgrad train` / `finetune` / `run` store in the checkpoint
//!   (`tickgrad.drift`, [`Monitor::with_reference`]), so drift is measured against what the model learned from.
//!   A checkpoint written before that key existed falls back to the first `psi_reference` bars of the stream
//!   ([`Monitor::new`]), which only means "unlike the training data" if the stream starts in the training period.
//!   Rule of thumb: < 0.1 stable, > 0.25 shifted.

use crate::data::drift::{DriftReference, FeatureBins};
use crate::data::incremental::window::Ring;
use crate::Result;
use std::collections::VecDeque;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    pub window: usize,
    pub min_scored: usize,
    pub min_accuracy: f64,
    pub min_sharpe: f64,
    pub max_ece: f64,
    pub psi_reference: usize,
    pub fee_bps: f64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            window: 500,
            min_scored: 100,
            min_accuracy: 0.34,
            min_sharpe: -0.05,
            max_ece: 0.2,
            psi_reference: 500,
            fee_bps: 0.0,
        }
    }
}

/// Rolling PSI of one feature.
#[derive(Debug, Clone)]
struct Drift {
    /// Leading stream values, collected only while `bins` is `None` (the stream-reference fallback).
    reference: Vec<f64>,
    bins: Option<FeatureBins>,
    /// Live values per bin over `recent`.
    counts: Vec<usize>,
    /// The last `window` values themselves (not just their bins), so a new reference can re-bin them.
    recent: VecDeque<f64>,
}

/// The reason label for a bar whose model outputs were not finite: its features were computed, but no decision is
/// taken on it.
pub const NON_FINITE_PREDICTION: &str = "non_finite_prediction";

pub struct Monitor {
    cfg: MonitorConfig,
    names: Vec<String>,
    hits: VecDeque<bool>,
    conf: VecDeque<(f32, bool)>,
    returns: Ring,
    prev: Option<(f64, f64)>,
    drift: Vec<Drift>,
    training_reference: bool,
    bars: u64,
    scored: u64,
    pub position: f64,
    pub equity: f64,
    latency: Ring,
    /// Bars refused before reaching the models, by reason (`BarReject::reason`, or `non_finite_prediction`).
    rejected: std::collections::BTreeMap<&'static str, u64>,
    gaps: u64,
    device_fallbacks: u64,
}

impl Monitor {
    /// A monitor whose PSI reference is the first `cfg.psi_reference` bars of the stream (for checkpoints without a
    /// stored training reference).
    pub fn new(cfg: MonitorConfig, feature_names: Vec<String>) -> Monitor {
        let drift = feature_names
            .iter()
            .map(|_| Drift {
                reference: Vec::with_capacity(cfg.psi_reference),
                bins: None,
                counts: Vec::new(),
                recent: VecDeque::with_capacity(cfg.window + 1),
            })
            .collect();
        Monitor::build(cfg, feature_names, drift, false)
    }

    /// A monitor whose PSI reference is the training distribution stored with the model; its features are the
    /// reference's, in model-input order.
    pub fn with_reference(cfg: MonitorConfig, reference: &DriftReference) -> Monitor {
        let drift = reference
            .features
            .iter()
            .map(|b| Drift {
                reference: Vec::new(),
                counts: vec![0; b.expected.len()],
                bins: Some(b.clone()),
                recent: VecDeque::with_capacity(cfg.window + 1),
            })
            .collect();
        Monitor::build(cfg, reference.names(), drift, true)
    }

    fn build(cfg: MonitorConfig, names: Vec<String>, drift: Vec<Drift>, training_reference: bool) -> Monitor {
        Monitor {
            returns: Ring::new(cfg.window.max(2)),
            latency: Ring::new(1000),
            rejected: std::collections::BTreeMap::new(),
            gaps: 0,
            device_fallbacks: 0,
            hits: VecDeque::with_capacity(cfg.window + 1),
            conf: VecDeque::with_capacity(cfg.window + 1),
            names,
            drift,
            training_reference,
            cfg,
            prev: None,
            bars: 0,
            scored: 0,
            position: 0.0,
            equity: f64::NAN,
        }
    }

    /// Measure PSI against `reference` from now on (a swapped-in model's training rows): the live window is kept
    /// and re-binned, so the gauge does not restart. Its features must be this monitor's.
    pub fn set_reference(&mut self, reference: &DriftReference) -> Result<()> {
        reference.check_names(&self.names, "monitor: new drift reference")?;
        for (d, b) in self.drift.iter_mut().zip(&reference.features) {
            d.reference = Vec::new();
            d.counts = vec![0; b.expected.len()];
            for &x in &d.recent {
                d.counts[b.bin(x)] += 1;
            }
            d.bins = Some(b.clone());
        }
        self.training_reference = true;
        Ok(())
    }

    /// Whether PSI is measured against the training rows (else against the stream's first bars).
    pub fn has_training_reference(&self) -> bool {
        self.training_reference
    }

    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    /// A bar's close, the gated position taken at it, and the model-input features as the model sees them (scaled;
    /// missing values NaN, which are skipped).
    pub fn on_bar(&mut self, close: f64, position: f64, features: &[f64]) {
        self.bars += 1;
        if let Some((c0, p0)) = self.prev {
            let fee = (position - p0).abs() * self.cfg.fee_bps / 1e4;
            self.returns.push(p0 * (close / c0 - 1.0) - fee);
        }
        self.prev = Some((close, position));
        for (d, &x) in self.drift.iter_mut().zip(features) {
            if !x.is_finite() {
                continue;
            }
            let Some(bins) = &d.bins else {
                d.reference.push(x);
                if d.reference.len() == self.cfg.psi_reference.max(10) {
                    let mut sample = std::mem::take(&mut d.reference);
                    if let Ok(b) = FeatureBins::fit("", &mut sample) {
                        d.counts = vec![0; b.expected.len()];
                        d.bins = Some(b);
                    }
                }
                continue;
            };
            d.counts[bins.bin(x)] += 1;
            d.recent.push_back(x);
            if d.recent.len() > self.cfg.window {
                if let Some(old) = d.recent.pop_front() {
                    d.counts[bins.bin(old)] -= 1;
                }
            }
        }
    }

    /// A bar refused (`reason` as in `tickgrad_rejected_bars_total{reason=...}`).
    pub fn on_rejected(&mut self, reason: &'static str) {
        *self.rejected.entry(reason).or_insert(0) += 1;
    }

    /// A bar that arrived after a gap (accepted).
    pub fn on_gap(&mut self) {
        self.gaps += 1;
    }

    /// Bars refused for `reason` so far.
    pub fn rejected(&self, reason: &str) -> u64 {
        self.rejected.get(reason).copied().unwrap_or(0)
    }

    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// A member's device failed and it continues on the CPU (`stream --fallback-cpu`).
    pub fn on_device_fallback(&mut self) {
        self.device_fallbacks += 1;
    }

    pub fn device_fallbacks(&self) -> u64 {
        self.device_fallbacks
    }

    /// A decision made h bars ago is scored: its top class and probability, and whether the top class was right.
    pub fn on_scored(&mut self, confidence: f32, correct: bool) {
        self.scored += 1;
        self.hits.push_back(correct);
        self.conf.push_back((confidence, correct));
        if self.hits.len() > self.cfg.window {
            self.hits.pop_front();
            self.conf.pop_front();
        }
    }

    pub fn on_latency(&mut self, us: f64) {
        self.latency.push(us);
    }

    pub fn accuracy(&self) -> f64 {
        if self.hits.is_empty() {
            return f64::NAN;
        }
        self.hits.iter().filter(|&&h| h).count() as f64 / self.hits.len() as f64
    }

    pub fn sharpe(&self) -> f64 {
        let n = self.returns.len() as f64;
        if n < 2.0 {
            return f64::NAN;
        }
        let mean = self.returns.iter().sum::<f64>() / n;
        let sd = (self.returns.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (n - 1.0)).sqrt();
        if sd > 0.0 {
            mean / sd
        } else {
            f64::NAN
        }
    }

    pub fn ece(&self) -> f64 {
        if self.conf.is_empty() {
            return f64::NAN;
        }
        let mut bins = [(0usize, 0.0f64, 0usize); 10];
        for &(c, ok) in &self.conf {
            let b = ((c as f64 * 10.0) as usize).min(9);
            bins[b].0 += 1;
            bins[b].1 += c as f64;
            bins[b].2 += ok as usize;
        }
        let n = self.conf.len() as f64;
        bins.iter()
            .filter(|b| b.0 > 0)
            .map(|&(k, cs, h)| k as f64 / n * (h as f64 / k as f64 - cs / k as f64).abs())
            .sum()
    }

    /// PSI of every feature (NaN until its reference and a first live value exist).
    pub fn psi(&self) -> Vec<f64> {
        self.drift.iter().map(|d| d.bins.as_ref().map_or(f64::NAN, |b| b.psi(&d.counts))).collect()
    }

    pub fn degraded(&self) -> bool {
        if (self.scored as usize) < self.cfg.min_scored {
            return false;
        }
        let (a, s, e) = (self.accuracy(), self.sharpe(), self.ece());
        a < self.cfg.min_accuracy || s < self.cfg.min_sharpe || e > self.cfg.max_ece
    }

    /// Prometheus text exposition of every metric.
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        let mut gauge = |name: &str, help: &str, v: f64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}", fmt(v));
        };
        gauge("tickgrad_rolling_accuracy", "Top-class accuracy over the last scored bars.", self.accuracy());
        gauge("tickgrad_rolling_sharpe_per_bar", "Per-bar Sharpe of the gated signal's returns.", self.sharpe());
        gauge("tickgrad_calibration_ece", "Expected calibration error of the top-class probability.", self.ece());
        gauge(
            "tickgrad_degraded",
            "1 when accuracy, Sharpe or calibration is past its threshold.",
            self.degraded() as u8 as f64,
        );
        gauge("tickgrad_position", "Current paper position (units).", self.position);
        gauge("tickgrad_equity", "Paper equity at the last close.", self.equity);
        let _ = writeln!(s, "# HELP tickgrad_bars_total Bars processed.\n# TYPE tickgrad_bars_total counter");
        let _ = writeln!(s, "tickgrad_bars_total {}", self.bars);
        let _ = writeln!(s, "# HELP tickgrad_scored_total Decisions scored against their realised direction.");
        let _ = writeln!(s, "# TYPE tickgrad_scored_total counter\ntickgrad_scored_total {}", self.scored);
        let _ = writeln!(
            s,
            "# HELP tickgrad_rejected_bars_total Bars refused before reaching the models (no decision, no trade), by reason."
        );
        let _ = writeln!(s, "# TYPE tickgrad_rejected_bars_total counter");
        let mut reasons: Vec<&str> = crate::data::incremental::BarReject::ALL.iter().map(|r| r.reason()).collect();
        reasons.push(NON_FINITE_PREDICTION);
        for r in reasons {
            let _ = writeln!(s, "tickgrad_rejected_bars_total{{reason=\"{r}\"}} {}", self.rejected(r));
        }
        let _ = writeln!(s, "# HELP tickgrad_bar_gaps_total Bars accepted after a gap (more than 1.5 bar intervals).");
        let _ = writeln!(s, "# TYPE tickgrad_bar_gaps_total counter\ntickgrad_bar_gaps_total {}", self.gaps);
        let _ =
            writeln!(s, "# HELP tickgrad_device_fallbacks_total Members moved to the CPU after their device failed.");
        let _ = writeln!(
            s,
            "# TYPE tickgrad_device_fallbacks_total counter\ntickgrad_device_fallbacks_total {}",
            self.device_fallbacks
        );
        let reference = if self.training_reference {
            "the training rows".to_string()
        } else {
            format!("the first {} bars of the stream", self.cfg.psi_reference.max(10))
        };
        let _ = writeln!(
            s,
            "# HELP tickgrad_feature_psi Population stability index of the model inputs against {reference}."
        );
        let _ = writeln!(s, "# TYPE tickgrad_feature_psi gauge");
        for (name, p) in self.names.iter().zip(self.psi()) {
            let _ = writeln!(s, "tickgrad_feature_psi{{feature=\"{name}\"}} {}", fmt(p));
        }
        let mut lat: Vec<f64> = self.latency.iter().collect();
        lat.sort_by(f64::total_cmp);
        let _ = writeln!(s, "# HELP tickgrad_bar_latency_us Per-bar latency over the last 1000 bars.");
        let _ = writeln!(s, "# TYPE tickgrad_bar_latency_us summary");
        for q in [0.5, 0.99] {
            let _ = writeln!(
                s,
                "tickgrad_bar_latency_us{{quantile=\"{q}\"}} {}",
                fmt(crate::serve::latency::quantile(&lat, q))
            );
        }
        s
    }
}

/// Prometheus floats: NaN and ±Inf by name.
fn fmt(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_is_near_zero_in_sample_and_large_after_a_shift() {
        let cfg = MonitorConfig { window: 200, psi_reference: 400, ..MonitorConfig::default() };
        let mut m = Monitor::new(cfg, vec!["x".into()]);
        let mut r = crate::rng::Rng::new(1);
        for _ in 0..600 {
            m.on_bar(100.0, 0.0, &[r.normal()]);
        }
        assert!(m.psi()[0] < 0.1, "same distribution: {}", m.psi()[0]);
        for _ in 0..200 {
            m.on_bar(100.0, 0.0, &[r.normal() + 2.0]);
        }
        assert!(m.psi()[0] > 1.0, "shifted by 2σ: {}", m.psi()[0]);
        assert!(m.prometheus().contains("tickgrad_feature_psi{feature=\"x\"}"));
    }

    #[test]
    fn psi_is_measured_against_the_training_reference_from_the_first_bar() {
        let mut r = crate::rng::Rng::new(3);
        let mut train: Vec<f64> = (0..2000).map(|_| r.normal()).collect();
        let reference = DriftReference { rows: 2000, features: vec![FeatureBins::fit("x", &mut train).unwrap()] };
        let cfg = MonitorConfig { window: 300, psi_reference: 400, ..MonitorConfig::default() };
        let mut fresh = Monitor::with_reference(cfg.clone(), &reference);
        let mut fallback = Monitor::new(cfg, vec!["x".into()]);
        assert!(fresh.has_training_reference() && !fallback.has_training_reference());
        assert!(fresh.psi()[0].is_nan(), "no live value yet");
        // A stream that starts shifted by 1σ: drift against training at once, none against its own start.
        for _ in 0..700 {
            let x = r.normal() + 1.0;
            fresh.on_bar(100.0, 0.0, &[x, f64::NAN]);
            fallback.on_bar(100.0, 0.0, &[x]);
        }
        assert!(fresh.psi()[0] > 0.5, "shifted by 1σ against training: {}", fresh.psi()[0]);
        assert!(fallback.psi()[0] < 0.1, "same as the stream's start: {}", fallback.psi()[0]);
        for _ in 0..300 {
            fresh.on_bar(100.0, 0.0, &[r.normal()]);
            fresh.on_bar(100.0, 0.0, &[f64::NAN]);
        }
        assert!(fresh.psi()[0] < 0.1, "back to the training distribution (NaN skipped): {}", fresh.psi()[0]);
        let text = fresh.prometheus();
        assert!(text.contains("model inputs against the training rows.\n"), "{text}");
        assert!(text.contains("tickgrad_feature_psi{feature=\"x\"} 0."), "{text}");
        // A new reference (a model trained on the shifted data) re-bins the live window at once.
        let mut shifted: Vec<f64> = (0..2000).map(|_| r.normal() + 1.0).collect();
        let moved = DriftReference { rows: 2000, features: vec![FeatureBins::fit("x", &mut shifted).unwrap()] };
        fresh.set_reference(&moved).unwrap();
        assert!(fresh.psi()[0] > 0.5, "the same live window against the shifted reference: {}", fresh.psi()[0]);
        fallback.set_reference(&moved).unwrap();
        assert!(fallback.has_training_reference() && fallback.psi()[0] < 0.1, "{}", fallback.psi()[0]);
        let other = DriftReference { rows: 1, features: vec![FeatureBins::fit("y", &mut [0.0]).unwrap()] };
        assert!(fresh.set_reference(&other).unwrap_err().to_string().contains("differ from the model inputs"));
    }

    #[test]
    fn accuracy_sharpe_calibration_and_alert() {
        let cfg = MonitorConfig { window: 10, min_scored: 4, min_accuracy: 0.5, ..MonitorConfig::default() };
        let mut m = Monitor::new(cfg, vec![]);
        for i in 0..4 {
            m.on_scored(0.9, i % 2 == 0);
        }
        assert_eq!(m.accuracy(), 0.5);
        assert!((m.ece() - 0.4).abs() < 1e-6, "confidence 0.9, accuracy 0.5");
        assert!(m.degraded(), "ECE 0.4 > 0.2");
        // long through a steady rise: positive, finite Sharpe
        for (i, c) in [100.0, 101.0, 102.5, 103.0, 104.2].iter().enumerate() {
            m.on_bar(*c, 1.0, &[]);
            assert_eq!(m.sharpe().is_nan(), i < 2);
        }
        assert!(m.sharpe() > 1.0);
        let text = m.prometheus();
        assert!(text.contains("tickgrad_rolling_accuracy 0.5\n") && text.contains("tickgrad_degraded 1\n"), "{text}");
        assert!(text.contains("# TYPE tickgrad_bars_total counter\ntickgrad_bars_total 5\n"));
    }
}
