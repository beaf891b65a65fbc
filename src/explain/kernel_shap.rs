//! Exact KernelSHAP (Lundberg & Lee 2017) over a few groups of input columns.
//!
//! The players are groups of feature columns, each taken whole across the window (a window has W·F inputs, far
//! too many players, and a column's time steps mean little apart). A coalition S is valued as in KernelSHAP with
//! an independent masker: v(S) = mean over background windows b of f(x on S's columns, b elsewhere). With M ≤
//! [`MAX_PLAYERS`] groups every one of the 2^M coalitions is evaluated; with all of them, the Shapley-kernel
//! weighted regression KernelSHAP solves has the Shapley values as its exact solution, so they are computed
//! from the definition, φ_j = Σ_{S ∌ j} |S|!(M−|S|−1)!/M! · (v(S ∪ {j}) − v(S)), with no sampling error.
//! Additivity is then exact: Σ φ = f(x) − v(∅), v(∅) being the mean output over the background.

use super::permutation::predict_all;
use crate::models::Model;
use crate::{Error, Result};

/// The most groups enumerated exactly: 2^16 coalitions times the background is already a large batch.
pub const MAX_PLAYERS: usize = 16;

/// The players: disjoint groups of feature columns covering every column.
#[derive(Debug, Clone, PartialEq)]
pub struct Groups {
    pub names: Vec<String>,
    pub columns: Vec<Vec<usize>>,
}

impl Groups {
    /// One group per column when there are at most `max` columns, else `max` runs of adjacent columns (sizes
    /// differing by at most one), named by their columns joined with `+`.
    pub fn contiguous(names: &[String], max: usize) -> Result<Groups> {
        let f = names.len();
        if max == 0 || max > MAX_PLAYERS {
            return Err(Error::config("shap groups", format!("expected 1..={MAX_PLAYERS}, found {max}")));
        }
        let m = f.min(max);
        let columns: Vec<Vec<usize>> = (0..m).map(|g| (g * f / m..(g + 1) * f / m).collect()).collect();
        let names =
            columns.iter().map(|c| c.iter().map(|&j| names[j].as_str()).collect::<Vec<_>>().join("+")).collect();
        Groups::new(names, columns, f)
    }

    /// Checks the groups partition the `f` columns.
    pub fn new(names: Vec<String>, columns: Vec<Vec<usize>>, f: usize) -> Result<Groups> {
        let m = columns.len();
        if m == 0 || m > MAX_PLAYERS || names.len() != m {
            return Err(Error::config(
                "shap groups",
                format!("expected 1..={MAX_PLAYERS} named groups, found {m} groups and {} names", names.len()),
            ));
        }
        let mut seen = vec![false; f];
        for (g, cols) in columns.iter().enumerate() {
            if cols.is_empty() {
                return Err(Error::config("shap groups", format!("group `{}` has no column", names[g])));
            }
            for &j in cols {
                if j >= f || seen[j] {
                    return Err(Error::config(
                        "shap groups",
                        format!("group `{}`: column {j} is out of 0..{f} or in two groups", names[g]),
                    ));
                }
                seen[j] = true;
            }
        }
        if let Some(j) = seen.iter().position(|s| !s) {
            return Err(Error::config("shap groups", format!("column {j} is in no group")));
        }
        Ok(Groups { names, columns })
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

/// Shapley values of one window over groups, with the two ends additivity compares.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelShap {
    /// φ per group.
    pub values: Vec<f64>,
    /// v(∅): the mean output over the background windows.
    pub expected: f64,
    /// v(all) = f(x).
    pub output: f64,
}

impl KernelShap {
    /// Σ φ + E\[f\] − f(x): zero up to rounding.
    pub fn additivity_gap(&self) -> f64 {
        self.values.iter().sum::<f64>() + self.expected - self.output
    }
}

/// Shapley values of a game given on all 2^M coalitions (`v[mask]`, bit j set = player j present).
pub fn shapley_values(v: &[f64]) -> Result<Vec<f64>> {
    let n = v.len();
    if n < 2 || !n.is_power_of_two() || n > 1 << MAX_PLAYERS {
        return Err(Error::shape("coalition values (2^M, 1 ≤ M ≤ 16)", "a power of two ≥ 2", n));
    }
    let m = n.trailing_zeros() as usize;
    // weight[s] = s!(m−s−1)!/m!, built as a ratio so it never overflows.
    let mut weight = vec![0.0f64; m];
    weight[0] = 1.0 / m as f64;
    for s in 1..m {
        weight[s] = weight[s - 1] * s as f64 / (m - s) as f64;
    }
    let mut phi = vec![0.0f64; m];
    for (mask, &vm) in v.iter().enumerate() {
        let s = mask.count_ones() as usize;
        for (j, p) in phi.iter_mut().enumerate() {
            if mask >> j & 1 == 0 {
                *p += weight[s] * (v[mask | 1 << j] - vm);
            }
        }
    }
    Ok(phi)
}

/// A batch of windows [n, W, F] (`n` given) to one output each.
pub type WindowFn<'a> = dyn FnMut(&[f32], usize) -> Result<Vec<f64>> + 'a;

/// Exact KernelSHAP of window x [W, F] for any batched function, against background windows [B, W, F];
/// `batch` windows per call of `f`.
pub fn kernel_shap_fn(
    f: &mut WindowFn<'_>,
    x: &[f32],
    dims: [usize; 2],
    background: &[f32],
    groups: &Groups,
    batch: usize,
) -> Result<KernelShap> {
    let [w, nf] = dims;
    let per = w * nf;
    if x.len() != per {
        return Err(Error::shape("KernelSHAP window", [w, nf], x.len()));
    }
    if per == 0 || background.is_empty() || !background.len().is_multiple_of(per) {
        return Err(Error::shape("KernelSHAP background", format!("[B ≥ 1, {w}, {nf}]"), background.len()));
    }
    let g = Groups::new(groups.names.clone(), groups.columns.clone(), nf)?;
    let nb = background.len() / per;
    let masks = 1usize << g.len();
    let masks_per_call = (batch.max(1) / nb).max(1);
    let mut v = Vec::with_capacity(masks);
    let mut buf = Vec::with_capacity(masks_per_call * nb * per);
    for start in (0..masks).step_by(masks_per_call) {
        let end = (start + masks_per_call).min(masks);
        buf.clear();
        for mask in start..end {
            for b in background.chunks(per) {
                let at = buf.len();
                buf.extend_from_slice(b);
                for (j, cols) in g.columns.iter().enumerate() {
                    if mask >> j & 1 == 1 {
                        for t in 0..w {
                            for &c in cols {
                                buf[at + t * nf + c] = x[t * nf + c];
                            }
                        }
                    }
                }
            }
        }
        let n = (end - start) * nb;
        let y = f(&buf, n)?;
        if y.len() != n {
            return Err(Error::shape("KernelSHAP function outputs", [n], y.len()));
        }
        v.extend(y.chunks(nb).map(|c| c.iter().sum::<f64>() / nb as f64));
    }
    let values = shapley_values(&v)?;
    Ok(KernelShap { values, expected: v[0], output: v[masks - 1] })
}

/// Exact KernelSHAP of output column `target` of a network for window x [W, F] (eval mode, any device).
pub fn kernel_shap(
    model: &Model,
    x: &[f32],
    dims: [usize; 2],
    background: &[f32],
    groups: &Groups,
    target: usize,
) -> Result<KernelShap> {
    let k = model.config().output_width();
    if target >= k {
        return Err(Error::config("target", format!("output column {target} does not exist: the model has {k}")));
    }
    let [w, nf] = dims;
    let mut f = |xs: &[f32], n: usize| -> Result<Vec<f64>> {
        let p = predict_all(model, xs, [n, w, nf], 256)?;
        Ok(p.chunks(k).map(|r| r[target] as f64).collect())
    };
    kernel_shap_fn(&mut f, x, dims, background, groups, 1024)
}
