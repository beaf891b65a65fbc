//! Direction-classifier scores. Classes are indices 0 = up, 1 = down, 2 = hold, matching the label order of
//! docs/MODELS.md, so a model's argmax can be fed in unchanged.
//!
//! Conventions (those of scikit-learn, so numbers can be cross-checked there): a precision or recall with a
//! zero denominator is 0; macro averages run over the classes that occur in `y_true` or `y_pred`; balanced
//! accuracy averages recall over the classes that occur in `y_true`; MCC is Gorodkin's multiclass R_K and 0
//! when undefined; log loss clips probabilities to [1e-15, 1] after normalising each row to sum to one.

use super::json::{f64_or_null, opt_f64_or_null};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

pub const UP: usize = 0;
pub const DOWN: usize = 1;
pub const HOLD: usize = 2;
pub const N_CLASSES: usize = 3;
pub const CLASS_NAMES: [&str; N_CLASSES] = ["up", "down", "hold"];

/// The position a class call implies: long on up, short on down, flat on hold.
pub fn class_to_position(class: usize) -> Result<f64> {
    match class {
        UP => Ok(1.0),
        DOWN => Ok(-1.0),
        HOLD => Ok(0.0),
        c => Err(Error::Invalid(format!("class index {c} is not one of 0 (up), 1 (down), 2 (hold)"))),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    #[serde(with = "f64_or_null")]
    pub precision: f64,
    #[serde(with = "f64_or_null")]
    pub recall: f64,
    #[serde(with = "f64_or_null")]
    pub f1: f64,
    /// Bars whose true class is this one.
    pub support: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerClass {
    pub up: ClassScore,
    pub down: ClassScore,
    pub hold: ClassScore,
}

/// Scores over one set of bars (all bars, or the confidence-filtered subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub n: usize,
    #[serde(with = "f64_or_null")]
    pub accuracy: f64,
    #[serde(with = "f64_or_null")]
    pub balanced_accuracy: f64,
    pub per_class: PerClass,
    #[serde(with = "f64_or_null")]
    pub macro_precision: f64,
    #[serde(with = "f64_or_null")]
    pub macro_recall: f64,
    #[serde(with = "f64_or_null")]
    pub macro_f1: f64,
    #[serde(with = "f64_or_null")]
    pub mcc: f64,
    /// Only when probabilities were given.
    #[serde(with = "opt_f64_or_null")]
    pub log_loss: Option<f64>,
    /// Share of bars with a non-hold prediction: how often the model would trade.
    #[serde(with = "f64_or_null")]
    pub coverage: f64,
    /// Rows are the true class, columns the predicted class, both in up, down, hold order.
    pub confusion_matrix: [[u64; N_CLASSES]; N_CLASSES],
}

/// All-bar scores plus the same scores on the bars whose confidence reaches the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    #[serde(flatten)]
    pub all: ClassScores,
    #[serde(with = "opt_f64_or_null")]
    pub confidence_threshold: Option<f64>,
    /// Share of bars with confidence ≥ threshold.
    #[serde(with = "opt_f64_or_null")]
    pub confident_share: Option<f64>,
    /// `None` when no confidence was given or no bar reaches the threshold.
    pub confident: Option<ClassScores>,
}

/// Per-bar confidences and the cut: a bar is kept when `confidence >= threshold`.
#[derive(Debug, Clone, Copy)]
pub struct ConfidenceFilter<'a> {
    pub confidence: &'a [f64],
    pub threshold: f64,
}

/// Checks that every index is a class and the slices line up; shared with the report builder.
pub(crate) fn check_classes(what: &str, y: &[usize]) -> Result<()> {
    match y.iter().position(|&c| c >= N_CLASSES) {
        Some(i) => Err(Error::Invalid(format!("{what}[{i}] = {} is not a class index (0 up, 1 down, 2 hold)", y[i]))),
        None => Ok(()),
    }
}

/// `probabilities` is row-major [n, 3]; `filter` adds the confidence-filtered scores.
pub fn classification_metrics(
    y_true: &[usize],
    y_pred: &[usize],
    probabilities: Option<&[f64]>,
    filter: Option<ConfidenceFilter<'_>>,
) -> Result<ClassificationMetrics> {
    let n = y_true.len();
    if n == 0 {
        return Err(Error::Invalid("classification metrics need at least one bar, got none".into()));
    }
    if y_pred.len() != n {
        return Err(Error::shape("y_pred", [n], [y_pred.len()]));
    }
    check_classes("y_true", y_true)?;
    check_classes("y_pred", y_pred)?;
    let probs = match probabilities {
        Some(p) => Some(normalised_probabilities(p, n)?),
        None => None,
    };
    let all_idx: Vec<usize> = (0..n).collect();
    let all = scores(y_true, y_pred, probs.as_deref(), &all_idx);
    let (mut threshold, mut share, mut confident) = (None, None, None);
    if let Some(f) = filter {
        if f.confidence.len() != n {
            return Err(Error::shape("confidence", [n], [f.confidence.len()]));
        }
        if !f.threshold.is_finite() {
            return Err(Error::config("confidence_threshold", format!("must be finite, got {}", f.threshold)));
        }
        if let Some(i) = f.confidence.iter().position(|c| !c.is_finite()) {
            return Err(Error::Invalid(format!("confidence[{i}] = {} is not finite", f.confidence[i])));
        }
        let kept: Vec<usize> = (0..n).filter(|&i| f.confidence[i] >= f.threshold).collect();
        threshold = Some(f.threshold);
        share = Some(kept.len() as f64 / n as f64);
        if !kept.is_empty() {
            confident = Some(scores(y_true, y_pred, probs.as_deref(), &kept));
        }
    }
    Ok(ClassificationMetrics { all, confidence_threshold: threshold, confident_share: share, confident })
}

fn normalised_probabilities(p: &[f64], n: usize) -> Result<Vec<f64>> {
    if p.len() != n * N_CLASSES {
        return Err(Error::shape("probabilities", [n, N_CLASSES], [p.len()]));
    }
    let mut out = p.to_vec();
    for (i, row) in out.chunks_mut(N_CLASSES).enumerate() {
        if row.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::Invalid(format!("probabilities row {i} = {row:?} has a negative or non-finite value")));
        }
        let s: f64 = row.iter().sum();
        if s <= 0.0 {
            return Err(Error::Invalid(format!("probabilities row {i} sums to zero")));
        }
        row.iter_mut().for_each(|v| *v /= s);
    }
    Ok(out)
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn scores(y_true: &[usize], y_pred: &[usize], probs: Option<&[f64]>, idx: &[usize]) -> ClassScores {
    let mut cm = [[0u64; N_CLASSES]; N_CLASSES];
    for &i in idx {
        cm[y_true[i]][y_pred[i]] += 1;
    }
    let n = idx.len() as u64;
    let support: Vec<u64> = (0..N_CLASSES).map(|k| cm[k].iter().sum()).collect();
    let predicted: Vec<u64> = (0..N_CLASSES).map(|k| (0..N_CLASSES).map(|t| cm[t][k]).sum()).collect();
    let correct: u64 = (0..N_CLASSES).map(|k| cm[k][k]).sum();
    let per: Vec<ClassScore> = (0..N_CLASSES)
        .map(|k| {
            let precision = ratio(cm[k][k], predicted[k]);
            let recall = ratio(cm[k][k], support[k]);
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            ClassScore { precision, recall, f1, support: support[k] }
        })
        .collect();
    let present: Vec<usize> = (0..N_CLASSES).filter(|&k| support[k] + predicted[k] > 0).collect();
    let macro_of =
        |f: &dyn Fn(&ClassScore) -> f64| present.iter().map(|&k| f(&per[k])).sum::<f64>() / present.len() as f64;
    let in_true: Vec<usize> = (0..N_CLASSES).filter(|&k| support[k] > 0).collect();
    let balanced = in_true.iter().map(|&k| per[k].recall).sum::<f64>() / in_true.len() as f64;
    // Gorodkin (2004): R_K = (c·s − Σ p_k t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)).
    let (s, c) = (n as f64, correct as f64);
    let pt: f64 = (0..N_CLASSES).map(|k| predicted[k] as f64 * support[k] as f64).sum();
    let pp: f64 = predicted.iter().map(|&p| (p as f64).powi(2)).sum();
    let tt: f64 = support.iter().map(|&t| (t as f64).powi(2)).sum();
    let den = ((s * s - pp) * (s * s - tt)).sqrt();
    let mcc = if den > 0.0 { (c * s - pt) / den } else { 0.0 };
    let log_loss = probs.map(|p| {
        let total: f64 = idx.iter().map(|&i| -p[i * N_CLASSES + y_true[i]].clamp(1e-15, 1.0).ln()).sum();
        total / idx.len() as f64
    });
    let non_hold = idx.iter().filter(|&&i| y_pred[i] != HOLD).count();
    ClassScores {
        n: idx.len(),
        accuracy: ratio(correct, n),
        balanced_accuracy: balanced,
        macro_precision: macro_of(&|c| c.precision),
        macro_recall: macro_of(&|c| c.recall),
        macro_f1: macro_of(&|c| c.f1),
        per_class: PerClass { up: per[UP].clone(), down: per[DOWN].clone(), hold: per[HOLD].clone() },
        mcc,
        log_loss,
        coverage: non_hold as f64 / idx.len() as f64,
        confusion_matrix: cm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn eval_classification_matches_sklearn() {
        // sklearn: accuracy_score, balanced_accuracy_score, f1_score(average="macro"), matthews_corrcoef,
        // log_loss on these arrays.
        let y_true = [0, 1, 2, 0, 1, 2, 0, 0];
        let y_pred = [0, 2, 2, 0, 1, 0, 1, 0];
        let m = classification_metrics(&y_true, &y_pred, None, None).unwrap();
        let a = &m.all;
        assert!(close(a.accuracy, 5.0 / 8.0));
        assert!(close(a.balanced_accuracy, (0.75 + 0.5 + 0.5) / 3.0));
        assert_eq!(a.confusion_matrix, [[3, 1, 0], [0, 1, 1], [1, 0, 1]]);
        // precision: up 3/4, down 1/2, hold 1/2; recall: 3/4, 1/2, 1/2
        assert!(close(a.macro_precision, (0.75 + 0.5 + 0.5) / 3.0));
        assert!(close(a.macro_f1, (0.75 + 0.5 + 0.5) / 3.0));
        // Gorodkin: s=8, c=5, p=(4,2,2), t=(4,2,2): (40-24)/sqrt((64-24)*(64-24)) = 0.4
        assert!(close(a.mcc, 0.4));
        assert!(close(a.coverage, 6.0 / 8.0));
        assert!(a.log_loss.is_none());
    }

    #[test]
    fn eval_classification_log_loss_and_filter() {
        let y_true = [0, 1, 2];
        let y_pred = [0, 1, 0];
        let p = [0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.5, 0.3, 0.2];
        let conf = [0.8, 0.7, 0.5];
        let f = ConfidenceFilter { confidence: &conf, threshold: 0.7 };
        let m = classification_metrics(&y_true, &y_pred, Some(&p), Some(f)).unwrap();
        let ll = -(0.8f64.ln() + 0.7f64.ln() + 0.2f64.ln()) / 3.0;
        assert!(close(m.all.log_loss.unwrap(), ll));
        assert!(close(m.confident_share.unwrap(), 2.0 / 3.0));
        let c = m.confident.as_ref().unwrap();
        assert_eq!(c.n, 2);
        assert!(close(c.accuracy, 1.0));
        assert!(close(c.log_loss.unwrap(), -(0.8f64.ln() + 0.7f64.ln()) / 2.0));
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"balanced_accuracy\"") && json.contains("\"confusion_matrix\""));
        let back: ClassificationMetrics = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn eval_classification_degenerate_and_errors() {
        let m = classification_metrics(&[2, 2], &[2, 2], None, None).unwrap();
        assert_eq!(m.all.mcc, 0.0);
        assert_eq!(m.all.coverage, 0.0);
        let f = ConfidenceFilter { confidence: &[0.1, 0.2], threshold: 0.9 };
        let m = classification_metrics(&[0, 1], &[0, 1], None, Some(f)).unwrap();
        assert!(m.confident.is_none());
        assert_eq!(m.confident_share, Some(0.0));
        assert!(classification_metrics(&[], &[], None, None).is_err());
        assert!(classification_metrics(&[0], &[0, 1], None, None).is_err());
        assert!(classification_metrics(&[3], &[0], None, None).is_err());
        assert!(classification_metrics(&[0], &[0], Some(&[1.0, 0.0]), None).is_err());
        assert!(classification_metrics(&[0], &[0], Some(&[f64::NAN, 0.0, 1.0]), None).is_err());
        let f = ConfidenceFilter { confidence: &[0.5], threshold: 0.5 };
        assert!(classification_metrics(&[0, 1], &[0, 1], None, Some(f)).is_err());
    }
}
