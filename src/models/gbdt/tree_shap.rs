//! Exact path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, "Consistent individualized feature attribution
//! for tree ensembles", Algorithm 2): Shapley values of one row for every output of a [`Gbdt`] in
//! O(leaves · depth²) per tree instead of the 2^F coalitions of the definition.
//!
//! The value of a coalition S is the tree's expected output when the features outside S are unknown: at a split
//! on a feature in S the row's branch is followed, at any other split both branches are averaged, weighted by
//! the training rows that reached them (the node covers stored at fit time). Shapley values of that game add up
//! exactly: Σ φ + E\[f\] = f(x), with E\[f\] the cover-weighted mean leaf value (plus the model's base score).
//! A tree's output is a sum over its trees, so the ensemble's values are the sum of the trees'.
//!
//! A row's branch follows prediction's rule: NaN takes the split's missing side.

use super::model::Gbdt;
use super::tree::{Node, Tree};
use crate::{Error, Result};
use rayon::prelude::*;

/// SHAP values of rows, per output (class logit, or the regression output).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeShap {
    /// Row-major [rows, outputs, features].
    pub values: Vec<f64>,
    /// E\[f\] per output: base score plus every tree's cover-weighted mean leaf.
    pub expected: Vec<f64>,
    pub n_outputs: usize,
    pub n_features: usize,
}

impl TreeShap {
    /// φ of `row` for output `k`, one per feature.
    pub fn row(&self, row: usize, k: usize) -> &[f64] {
        let at = (row * self.n_outputs + k) * self.n_features;
        &self.values[at..at + self.n_features]
    }
}

/// One feature's entry on the current root-to-node path: the share of coalitions without it (`zero`: the
/// cover fraction of the branch taken) and with it (`one`: 1 if the row goes that way, else 0), and the
/// permutation weight of the subsets of this length.
#[derive(Debug, Clone, Copy)]
struct PathElement {
    feature: Option<usize>,
    zero: f64,
    one: f64,
    weight: f64,
}

/// Adds a feature to the path and updates every subset size's weight (Algorithm 2, EXTEND).
fn extend(path: &mut Vec<PathElement>, zero: f64, one: f64, feature: Option<usize>) {
    let d = path.len();
    path.push(PathElement { feature, zero, one, weight: if d == 0 { 1.0 } else { 0.0 } });
    let n = (d + 1) as f64;
    for i in (0..d).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / n;
        path[i].weight = zero * path[i].weight * (d - i) as f64 / n;
    }
}

/// Removes entry `index` from the path, undoing its EXTEND (Algorithm 2, UNWIND).
fn unwind(path: &mut Vec<PathElement>, index: usize) {
    let d = path.len() - 1;
    let PathElement { zero, one, .. } = path[index];
    let n = (d + 1) as f64;
    let mut next = path[d].weight;
    for i in (0..d).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * n / ((i + 1) as f64 * one);
            next = tmp - path[i].weight * zero * (d - i) as f64 / n;
        } else {
            path[i].weight = path[i].weight * n / (zero * (d - i) as f64);
        }
    }
    for i in index..d {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
    path.pop();
}

/// The total weight the path would have with entry `index` unwound, without changing it.
fn unwound_sum(path: &[PathElement], index: usize) -> f64 {
    let d = path.len() - 1;
    let PathElement { zero, one, .. } = path[index];
    let n = (d + 1) as f64;
    let mut next = path[d].weight;
    let mut total = 0.0;
    for i in (0..d).rev() {
        if one != 0.0 {
            let tmp = next * n / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (d - i) as f64 / n;
        } else if zero != 0.0 {
            total += path[i].weight / zero / ((d - i) as f64 / n);
        }
    }
    total
}

struct Walk<'a> {
    tree: &'a Tree,
    row: &'a [f64],
    phi: &'a mut [f64],
}

impl Walk<'_> {
    fn recurse(&mut self, node: usize, parent: &[PathElement], zero: f64, one: f64, feature: Option<usize>) {
        let tree = self.tree;
        let mut path = parent.to_vec();
        extend(&mut path, zero, one, feature);
        match &tree.nodes[node] {
            Node::Leaf { value } => {
                for (i, e) in path.iter().enumerate().skip(1) {
                    if let Some(f) = e.feature {
                        self.phi[f] += unwound_sum(&path, i) * (e.one - e.zero) * value;
                    }
                }
            }
            &Node::Split { feature: f, threshold, missing_left, left, right, .. } => {
                let v = self.row[f];
                let go_left = if v.is_nan() { missing_left } else { threshold.is_none_or(|t| v <= t) };
                let (hot, cold) = if go_left { (left, right) } else { (right, left) };
                let cover = &tree.cover;
                let (hot_zero, cold_zero) = (cover[hot] / cover[node], cover[cold] / cover[node]);
                // A feature met again on the path is unwound and re-extended with the product of its fractions.
                let (mut in_zero, mut in_one) = (1.0, 1.0);
                if let Some(k) = path.iter().position(|e| e.feature == Some(f)) {
                    (in_zero, in_one) = (path[k].zero, path[k].one);
                    unwind(&mut path, k);
                }
                self.recurse(hot, &path, hot_zero * in_zero, in_one, Some(f));
                self.recurse(cold, &path, cold_zero * in_zero, 0.0, Some(f));
            }
        }
    }
}

impl Tree {
    /// Checks the tree carries the covers TreeSHAP needs, all positive (a branch no row reached would leave a
    /// feature's fractions both 0, which the path weights cannot be unwound from).
    fn check_covers(&self) -> std::result::Result<(), String> {
        if self.cover.len() != self.nodes.len() {
            return Err("the model was saved without node covers (before TreeSHAP existed); refit it to get \
                        TreeSHAP values"
                .into());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if self.cover[i] <= 0.0 {
                let kind = if matches!(node, Node::Split { .. }) { "split" } else { "leaf" };
                return Err(format!(
                    "node {i}: a {kind} with cover {} (every node needs a positive cover)",
                    self.cover[i]
                ));
            }
        }
        Ok(())
    }

    /// E\[f\]: leaf values weighted by the cover fractions along their paths.
    pub fn expected_value(&self) -> f64 {
        fn at(t: &Tree, i: usize) -> f64 {
            match &t.nodes[i] {
                Node::Leaf { value } => *value,
                &Node::Split { left, right, .. } => {
                    (t.cover[left] * at(t, left) + t.cover[right] * at(t, right)) / t.cover[i]
                }
            }
        }
        at(self, 0)
    }

    /// Adds this tree's SHAP values of `row` to `phi` (one per feature). The tree must have covers.
    fn add_shap(&self, row: &[f64], phi: &mut [f64]) {
        Walk { tree: self, row, phi }.recurse(0, &[], 1.0, 1.0, None);
    }
}

impl Gbdt {
    /// Path-dependent TreeSHAP values of every row of `x` (row-major [n, n_features]) for every output.
    /// Errors for a model saved without node covers.
    pub fn shap_values(&self, x: &[f64]) -> Result<TreeShap> {
        let f = self.n_features();
        if !x.len().is_multiple_of(f) {
            return Err(Error::shape("TreeSHAP input", format!("[n, {f}]"), x.len()));
        }
        for (r, trees) in self.rounds().iter().enumerate() {
            for (c, t) in trees.iter().enumerate() {
                t.check_covers().map_err(|e| Error::Invalid(format!("TreeSHAP: round {r} tree {c}: {e}")))?;
            }
        }
        let k = self.base_score().len();
        let mut expected = self.base_score().to_vec();
        for trees in self.rounds() {
            for (e, t) in expected.iter_mut().zip(trees) {
                *e += t.expected_value();
            }
        }
        let mut values = vec![0.0; x.len() / f * k * f];
        values.par_chunks_mut(k * f).zip(x.par_chunks(f)).for_each(|(out, row)| {
            for trees in self.rounds() {
                for (phi, t) in out.chunks_mut(f).zip(trees) {
                    t.add_shap(row, phi);
                }
            }
        });
        Ok(TreeShap { values, expected, n_outputs: k, n_features: f })
    }
}
