//! Quantile binning fitted on the training rows only. Trees split on bin indices, which makes a split search
//! a scan over at most 255 histogram cells instead of a sort per node; the bin edges are kept as real
//! thresholds in the trees, so prediction reads raw feature values and needs no binner.

use super::FeatureMatrix;
use rayon::prelude::*;

/// Bin index reserved for NaN (missing) values; value bins are `0..=254`.
pub const MISSING_BIN: u8 = 255;
/// Cells per feature histogram: 255 value bins plus the missing bin.
pub const HIST_BINS: usize = 256;

/// Per-feature ascending cut points: value `v` falls in bin `#{edges < v}`, so bin ≤ t ⇔ v ≤ edges[t].
#[derive(Debug, Clone)]
pub struct Binner {
    pub edges: Vec<Vec<f64>>,
}

/// Midpoint strictly usable as a cut: `a <= mid < b`, without overflow for huge values.
fn cut_between(a: f64, b: f64) -> f64 {
    let mid = a / 2.0 + b / 2.0;
    if mid >= b || mid < a {
        a
    } else {
        mid
    }
}

fn feature_edges(mut values: Vec<f64>, max_bins: usize) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    let mut uniq: Vec<(f64, usize)> = Vec::new();
    for v in values.iter().copied() {
        match uniq.last_mut() {
            Some((u, c)) if *u == v => *c += 1,
            _ => uniq.push((v, 1)),
        }
    }
    if uniq.len() <= max_bins {
        return uniq.windows(2).map(|w| cut_between(w[0].0, w[1].0)).collect();
    }
    // Cut after the unique value where the current bin first holds its share of the rows not yet binned,
    // so a heavily repeated value never straddles two bins and the bins after it still split the rest.
    let mut remaining = values.len();
    let mut in_bin = 0usize;
    let mut edges = Vec::with_capacity(max_bins - 1);
    for w in uniq.windows(2) {
        in_bin += w[0].1;
        let bins_left = max_bins - edges.len();
        if in_bin * bins_left >= remaining {
            edges.push(cut_between(w[0].0, w[1].0));
            remaining -= in_bin;
            in_bin = 0;
            if edges.len() == max_bins - 1 {
                break;
            }
        }
    }
    edges
}

impl Binner {
    /// `max_bins` (2..=255) counts value bins; NaN always has its own extra bin.
    pub fn fit(x: &FeatureMatrix<'_>, max_bins: usize) -> Binner {
        let nf = x.n_features();
        let n = x.n_rows();
        let edges = (0..nf)
            .into_par_iter()
            .map(|j| {
                let vals: Vec<f64> = (0..n).map(|i| x.get(i, j)).filter(|v| !v.is_nan()).collect();
                feature_edges(vals, max_bins)
            })
            .collect();
        Binner { edges }
    }

    pub fn bin(&self, feature: usize, v: f64) -> u8 {
        if v.is_nan() {
            MISSING_BIN
        } else {
            self.edges[feature].partition_point(|e| *e < v) as u8
        }
    }

    /// Column-major bins: `out[j * n + i]` is row `i`'s bin for feature `j`, so a histogram pass over one
    /// feature reads contiguous memory.
    pub fn transform(&self, x: &FeatureMatrix<'_>) -> Vec<u8> {
        let n = x.n_rows();
        let mut out = vec![0u8; n * x.n_features()];
        out.par_chunks_mut(n.max(1)).enumerate().for_each(|(j, col)| {
            for (i, c) in col.iter_mut().enumerate() {
                *c = self.bin(j, x.get(i, j));
            }
        });
        out
    }

    /// Number of value bins of a feature (edges + 1).
    pub fn n_value_bins(&self, feature: usize) -> usize {
        self.edges[feature].len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbdt_binning_small_and_quantile() {
        assert_eq!(feature_edges(vec![3.0, 1.0, 2.0, 2.0], 255), vec![1.5, 2.5]);
        assert!(feature_edges(vec![], 255).is_empty());
        let vals: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let e = feature_edges(vals, 4);
        assert_eq!(e, vec![249.5, 499.5, 749.5]);
        // a value repeated across several quantiles gets one cut, not several
        let mut v = vec![5.0; 900];
        v.extend((0..100).map(|i| 10.0 + i as f64));
        let e = feature_edges(v, 10);
        assert!(e.windows(2).all(|w| w[0] < w[1]));
        assert!(e[0] > 5.0 && e[0] < 10.0);
        assert_eq!(e.len(), 9);
    }

    #[test]
    fn gbdt_binning_nan_bin_and_threshold_rule() {
        let data = [1.0, f64::NAN, 2.0, 3.0];
        let x = FeatureMatrix::new(&data, 1).unwrap();
        let b = Binner::fit(&x, 255);
        assert_eq!(b.transform(&x), vec![0, MISSING_BIN, 1, 2]);
        for (t, &edge) in b.edges[0].iter().enumerate() {
            for &v in &[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 9.0] {
                assert_eq!(b.bin(0, v) as usize <= t, v <= edge);
            }
        }
        assert!(cut_between(1.0, 1.0 + f64::EPSILON) < 1.0 + f64::EPSILON);
        assert!(cut_between(f64::MAX / 2.0, f64::MAX).is_finite());
    }
}
