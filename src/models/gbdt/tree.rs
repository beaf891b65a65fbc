//! One regression tree on gradient statistics, grown depth-first on binned features with the histogram
//! subtraction trick (build the smaller child's histogram, derive the larger one from its parent).

use super::binning::{Binner, HIST_BINS, MISSING_BIN};
use super::GbdtConfig;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    Leaf {
        #[serde(with = "super::exact::f64_str")]
        value: f64,
    },
    /// Rows with `x[feature] <= threshold` go to `left`; `threshold: None` sends every non-missing value
    /// left (a split on missingness alone). NaN follows `missing_left`.
    Split {
        feature: usize,
        #[serde(with = "super::exact::opt_f64_str", default)]
        threshold: Option<f64>,
        missing_left: bool,
        left: usize,
        right: usize,
        /// Loss reduction of the split, for feature importance.
        #[serde(with = "super::exact::f64_str")]
        gain: f64,
    },
}

/// Nodes in creation order; the root is node 0 and children always come after their parent, which is what
/// loading checks to rule out cycles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Training rows that reached each node (the round's subsample), parallel to `nodes`. TreeSHAP weighs the
    /// branches a feature's absence averages over by these counts. Empty in models saved before covers were
    /// stored: they still load and predict, and TreeSHAP says they must be refitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cover: Vec<f64>,
}

impl Tree {
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                Node::Leaf { value } => return *value,
                Node::Split { feature, threshold, missing_left, left, right, .. } => {
                    let v = row[*feature];
                    let go_left = if v.is_nan() { *missing_left } else { threshold.is_none_or(|t| v <= t) };
                    i = if go_left { *left } else { *right };
                }
            }
        }
    }

    /// Structural checks for a tree read from a file: indices in range and pointing forward, features in
    /// range, finite numbers. Returns a description of the first problem.
    pub(crate) fn check(&self, n_features: usize) -> std::result::Result<(), String> {
        if self.nodes.is_empty() {
            return Err("tree has no nodes".into());
        }
        if !self.cover.is_empty() && self.cover.len() != self.nodes.len() {
            return Err(format!("{} covers for {} nodes", self.cover.len(), self.nodes.len()));
        }
        if let Some(i) = self.cover.iter().position(|c| !(c.is_finite() && *c >= 0.0)) {
            return Err(format!("node {i}: cover {}", self.cover[i]));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            match node {
                Node::Leaf { value } if !value.is_finite() => return Err(format!("node {i}: leaf value {value}")),
                Node::Leaf { .. } => {}
                Node::Split { feature, threshold, left, right, .. } => {
                    if *feature >= n_features {
                        return Err(format!("node {i}: feature {feature} ≥ {n_features}"));
                    }
                    if threshold.is_some_and(|t| !t.is_finite()) {
                        return Err(format!("node {i}: threshold {threshold:?}"));
                    }
                    for c in [left, right] {
                        if *c <= i || *c >= self.nodes.len() {
                            return Err(format!("node {i}: child {c} out of range"));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Per-cell sums: gradient, hessian, row count.
type Cell = [f64; 3];

struct Best {
    gain: f64,
    feature: usize,
    bin: usize,
    missing_left: bool,
}

pub(crate) struct Grower<'a> {
    pub bins: &'a [u8],
    pub n_rows: usize,
    pub binner: &'a Binner,
    pub grad: &'a [f64],
    pub hess: &'a [f64],
    pub cfg: &'a GbdtConfig,
    pub nodes: Vec<Node>,
    /// Rows per node, parallel to `nodes`.
    pub cover: Vec<f64>,
}

impl Grower<'_> {
    fn histogram(&self, rows: &[u32]) -> Vec<Cell> {
        let n = self.n_rows;
        let per_feature: Vec<Vec<Cell>> = (0..self.binner.edges.len())
            .into_par_iter()
            .map(|j| {
                let col = &self.bins[j * n..(j + 1) * n];
                let mut h = vec![[0.0; 3]; HIST_BINS];
                for &i in rows {
                    let i = i as usize;
                    let c = &mut h[col[i] as usize];
                    c[0] += self.grad[i];
                    c[1] += self.hess[i];
                    c[2] += 1.0;
                }
                h
            })
            .collect();
        per_feature.concat()
    }

    fn score(&self, g: f64, h: f64) -> f64 {
        g * g / (h + self.cfg.lambda)
    }

    fn leaf_value(&self, g: f64, h: f64) -> f64 {
        -self.cfg.learning_rate * g / (h + self.cfg.lambda)
    }

    fn best_split(&self, hist: &[Cell], total: Cell) -> Option<Best> {
        let cfg = self.cfg;
        let parent = self.score(total[0], total[1]);
        let min_n = cfg.min_samples_leaf as f64;
        let per_feature: Vec<Option<Best>> = (0..self.binner.edges.len())
            .into_par_iter()
            .map(|j| {
                let h = &hist[j * HIST_BINS..(j + 1) * HIST_BINS];
                let miss = h[MISSING_BIN as usize];
                let mut best: Option<Best> = None;
                let mut acc = [0.0; 3];
                for (t, cell) in h.iter().enumerate().take(self.binner.n_value_bins(j)) {
                    for k in 0..3 {
                        acc[k] += cell[k];
                    }
                    for missing_left in [false, true] {
                        if missing_left && miss[2] == 0.0 {
                            continue;
                        }
                        let l: Cell =
                            if missing_left { [acc[0] + miss[0], acc[1] + miss[1], acc[2] + miss[2]] } else { acc };
                        let r = [total[0] - l[0], total[1] - l[1], total[2] - l[2]];
                        if l[2] < min_n || r[2] < min_n || l[1] < cfg.min_child_weight || r[1] < cfg.min_child_weight {
                            continue;
                        }
                        let gain = 0.5 * (self.score(l[0], l[1]) + self.score(r[0], r[1]) - parent);
                        if gain > cfg.min_split_gain && best.as_ref().is_none_or(|b| gain > b.gain) {
                            // Without missing rows in this node, unseen NaN follows the larger side.
                            let ml = if miss[2] == 0.0 { l[2] >= r[2] } else { missing_left };
                            best = Some(Best { gain, feature: j, bin: t, missing_left: ml });
                        }
                    }
                }
                best
            })
            .collect();
        per_feature.into_iter().flatten().fold(None, |acc: Option<Best>, b| match acc {
            Some(a) if a.gain >= b.gain => Some(a),
            _ => Some(b),
        })
    }

    /// Grows the subtree for `rows` and returns its root's index.
    pub fn grow(&mut self, rows: Vec<u32>, hist: Option<Vec<Cell>>, depth: usize) -> usize {
        let mut total = [0.0; 3];
        for &i in &rows {
            total[0] += self.grad[i as usize];
            total[1] += self.hess[i as usize];
        }
        total[2] = rows.len() as f64;
        let id = self.nodes.len();
        self.nodes.push(Node::Leaf { value: self.leaf_value(total[0], total[1]) });
        self.cover.push(total[2]);
        if depth >= self.cfg.max_depth || rows.len() < 2 * self.cfg.min_samples_leaf {
            return id;
        }
        let hist = hist.unwrap_or_else(|| self.histogram(&rows));
        let Some(best) = self.best_split(&hist, total) else {
            return id;
        };
        let col = &self.bins[best.feature * self.n_rows..(best.feature + 1) * self.n_rows];
        let (left, right): (Vec<u32>, Vec<u32>) = rows.into_iter().partition(|&i| {
            let b = col[i as usize];
            if b == MISSING_BIN {
                best.missing_left
            } else {
                b as usize <= best.bin
            }
        });
        let small_is_left = left.len() <= right.len();
        let small_hist = self.histogram(if small_is_left { &left } else { &right });
        let large_hist: Vec<Cell> =
            hist.iter().zip(&small_hist).map(|(p, s)| [p[0] - s[0], p[1] - s[1], p[2] - s[2]]).collect();
        let (lh, rh) = if small_is_left { (small_hist, large_hist) } else { (large_hist, small_hist) };
        let l = self.grow(left, Some(lh), depth + 1);
        let r = self.grow(right, Some(rh), depth + 1);
        let edges = &self.binner.edges[best.feature];
        self.nodes[id] = Node::Split {
            feature: best.feature,
            threshold: edges.get(best.bin).copied(),
            missing_left: best.missing_left,
            left: l,
            right: r,
            gain: best.gain,
        };
        id
    }
}
