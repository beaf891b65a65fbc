//! The training distribution of every model input, kept for drift monitoring: per feature, the decile edges of
//! its scaled training values and the share of those values in each bin. Stored in the checkpoint (metadata
//! `tickgrad.drift`, see `pipeline::meta`) so a served model's inputs can be compared with what it was trained on
//! rather than with whatever bars a stream happens to start with.
//!
//! Values are in the scaled space the model sees: `((x − center) / scale) as f32`, the same arithmetic as
//! `Scaler::transform` and the streaming engine, so a live value falls into the same bin as an identical
//! training value. Missing values (NaN, which the model sees as 0) are left out on both sides: warm-up bars at
//! the start of a stream would otherwise read as drift.
//!
//! The population stability index of a live sample against a reference is
//! PSI = Σ_bins (a − e)·ln(a / e), with a and e the live and reference shares of a bin, each floored at 1e-4 so an
//! empty bin costs a bounded amount. Rule of thumb: < 0.1 stable, 0.1–0.25 moving, > 0.25 shifted.

use super::features::FeatureFrame;
use super::regime::quantile_sorted;
use super::scaler::Scaler;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Quantile bins per feature: deciles, so 9 interior edges (fewer where ties make edges coincide).
pub const BINS: usize = 10;
/// Floor of a bin share in the PSI sum.
pub const SHARE_FLOOR: f64 = 1e-4;

/// One feature's reference: `edges` strictly increasing, bin b is `edges[b−1] <= x < edges[b]` (bin 0 below the
/// first edge, the last bin at or above the last edge), `expected[b]` its share, `expected.len() == edges.len() + 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureBins {
    pub name: String,
    pub edges: Vec<f64>,
    pub expected: Vec<f64>,
}

impl FeatureBins {
    /// Decile bins of `values` (finite; at least one). Ties collapse edges, so a binary feature gets 2 edges.
    pub fn fit(name: &str, values: &mut [f64]) -> Result<FeatureBins> {
        if values.is_empty() {
            return Err(Error::Invalid(format!("drift reference: feature `{name}` has no finite training value")));
        }
        values.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = (1..BINS).map(|q| quantile_sorted(values, q as f64 / BINS as f64)).collect();
        edges.dedup();
        let mut bins = FeatureBins { name: name.to_string(), expected: vec![0.0; edges.len() + 1], edges };
        let mut counts = vec![0usize; bins.expected.len()];
        for &v in values.iter() {
            counts[bins.bin(v)] += 1;
        }
        bins.expected = counts.iter().map(|&c| c as f64 / values.len() as f64).collect();
        Ok(bins)
    }

    /// The bin of `x`.
    pub fn bin(&self, x: f64) -> usize {
        self.edges.partition_point(|&e| e <= x)
    }

    /// PSI of a live sample given as counts per bin (`counts.len() == expected.len()`); NaN for an empty sample.
    pub fn psi(&self, counts: &[usize]) -> f64 {
        let n: usize = counts.iter().sum();
        if n == 0 {
            return f64::NAN;
        }
        self.expected
            .iter()
            .zip(counts)
            .map(|(&e, &c)| {
                let (e, a) = (e.max(SHARE_FLOOR), (c as f64 / n as f64).max(SHARE_FLOOR));
                (a - e) * (a / e).ln()
            })
            .sum()
    }

    fn check(&self, source: &str) -> Result<()> {
        let bad = |msg: String| Error::parse(source, format!("feature `{}`: {msg}", self.name));
        if self.edges.len() >= BINS {
            return Err(bad(format!("{} edges, expected at most {}", self.edges.len(), BINS - 1)));
        }
        if self.expected.len() != self.edges.len() + 1 {
            return Err(bad(format!(
                "{} expected shares for {} edges, expected {}",
                self.expected.len(),
                self.edges.len(),
                self.edges.len() + 1
            )));
        }
        if self.edges.iter().any(|e| !e.is_finite()) || self.edges.windows(2).any(|p| p[0] >= p[1]) {
            return Err(bad(format!("edges {:?} must be finite and strictly increasing", self.edges)));
        }
        let total: f64 = self.expected.iter().sum();
        if self.expected.iter().any(|e| !(e.is_finite() && *e >= 0.0)) || (total - 1.0).abs() > 1e-6 {
            return Err(bad(format!("expected shares {:?} must be >= 0 and sum to 1 (sum {total})", self.expected)));
        }
        Ok(())
    }
}

/// Every model input's reference, in model-input order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReference {
    /// Training rows the bins were fitted on.
    pub rows: usize,
    pub features: Vec<FeatureBins>,
}

impl DriftReference {
    /// Fit on rows `rows` of the scaler's columns of `frame`, scaled as the model sees them.
    pub fn fit(frame: &FeatureFrame, scaler: &Scaler, rows: Range<usize>) -> Result<DriftReference> {
        frame.check_fit_rows("drift reference", "row range", &rows)?;
        let features = scaler
            .names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let col = frame.column(name).ok_or_else(|| {
                    Error::Invalid(format!("drift reference: the frame has no column `{name}` (scaler columns)"))
                })?;
                let mut v: Vec<f64> = col[rows.clone()]
                    .iter()
                    .filter(|x| x.is_finite())
                    .map(|&x| ((x - scaler.center[j]) / scaler.scale[j]) as f32 as f64)
                    .collect();
                FeatureBins::fit(name, &mut v)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DriftReference { rows: rows.len(), features })
    }

    pub fn names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.name.clone()).collect()
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Invalid(format!("DriftReference::to_json: {e}")))
    }

    /// Parse and check a reference stored by [`DriftReference::to_json`]; `source` names the file and key in
    /// errors.
    pub fn from_json(text: &str, source: &str) -> Result<DriftReference> {
        let r: DriftReference = serde_json::from_str(text)
            .map_err(|e| Error::parse(source, format!("not a drift reference ({{rows, features}} JSON): {e}")))?;
        for f in &r.features {
            f.check(source)?;
        }
        Ok(r)
    }

    /// Check that the reference covers exactly the model inputs `names`, in order.
    pub fn check_names(&self, names: &[String], source: &str) -> Result<()> {
        let mine = self.names();
        if mine != names {
            return Err(Error::parse(
                source,
                format!("drift reference features {mine:?} differ from the model inputs {names:?}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciles_hold_a_tenth_each_and_ties_collapse() {
        let mut v: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let b = FeatureBins::fit("x", &mut v).unwrap();
        assert_eq!(b.edges.len(), 9);
        assert!(b.expected.iter().all(|&e| (e - 0.1).abs() < 2e-3), "{:?}", b.expected);
        assert!(b.psi(&[100; 10]).abs() < 1e-3);
        assert!(b.psi(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1000]) > 1.0);

        let mut binary: Vec<f64> = (0..100).map(|i| (i % 4 == 0) as u8 as f64).collect();
        let b = FeatureBins::fit("flag", &mut binary).unwrap();
        assert_eq!(b.edges, vec![0.0, 1.0], "deciles 0 ×7 then 1 ×2, deduplicated");
        assert_eq!(b.expected, vec![0.0, 0.75, 0.25]);
        b.check("t").unwrap();
    }

    #[test]
    fn malformed_references_are_refused() {
        let ok = r#"{"rows":3,"features":[{"name":"a","edges":[0.0],"expected":[0.5,0.5]}]}"#;
        DriftReference::from_json(ok, "f.safetensors: tickgrad.drift").unwrap();
        for (bad, want) in [
            (r#"{"rows":3}"#, "missing field `features`"),
            (r#"{"rows":3,"features":[{"name":"a","edges":[0.0],"expected":[1.0]}]}"#, "1 expected shares"),
            (r#"{"rows":3,"features":[{"name":"a","edges":[1.0,0.0],"expected":[0.2,0.3,0.5]}]}"#, "increasing"),
            (r#"{"rows":3,"features":[{"name":"a","edges":[0.0],"expected":[0.5,0.6]}]}"#, "sum to 1"),
        ] {
            let e = DriftReference::from_json(bad, "f.safetensors: tickgrad.drift").unwrap_err().to_string();
            assert!(e.contains("f.safetensors: tickgrad.drift") && e.contains(want), "{bad}: {e}");
        }
    }
}
