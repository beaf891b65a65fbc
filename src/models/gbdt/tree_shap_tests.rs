//! TreeSHAP against the definition: Shapley values computed by enumerating all 2^F coalitions of the same
//! path-dependent game, on fitted trees that reuse features along a path and route missing values.

use super::*;
use crate::rng::Rng;

/// E\[f | x_S\] of one tree under the path-dependent game: follow x at splits on features in S, average the
/// two branches by cover elsewhere.
fn cond_expectation(t: &Tree, i: usize, row: &[f64], in_s: &[bool]) -> f64 {
    match &t.nodes[i] {
        Node::Leaf { value } => *value,
        &Node::Split { feature, threshold, missing_left, left, right, .. } => {
            if in_s[feature] {
                let v = row[feature];
                let go_left = if v.is_nan() { missing_left } else { threshold.is_none_or(|th| v <= th) };
                cond_expectation(t, if go_left { left } else { right }, row, in_s)
            } else {
                (t.cover[left] * cond_expectation(t, left, row, in_s)
                    + t.cover[right] * cond_expectation(t, right, row, in_s))
                    / t.cover[i]
            }
        }
    }
}

/// Shapley values of output `k` of `row` by enumerating every coalition.
fn brute_force(m: &Gbdt, row: &[f64], k: usize) -> Vec<f64> {
    let f = m.n_features();
    let value = |mask: usize| -> f64 {
        let in_s: Vec<bool> = (0..f).map(|j| mask >> j & 1 == 1).collect();
        m.base_score()[k] + m.rounds().iter().map(|r| cond_expectation(&r[k], 0, row, &in_s)).sum::<f64>()
    };
    let v: Vec<f64> = (0..1usize << f).map(value).collect();
    let fact = |n: usize| (1..=n).map(|i| i as f64).product::<f64>();
    let mut phi = vec![0.0; f];
    for (mask, &vm) in v.iter().enumerate() {
        let s = mask.count_ones() as usize;
        for (j, p) in phi.iter_mut().enumerate() {
            if mask >> j & 1 == 0 {
                *p += fact(s) * fact(f - s - 1) / fact(f) * (v[mask | 1 << j] - vm);
            }
        }
    }
    phi
}

/// Rows with an interaction, a feature that only matters through missingness, and noise; 10% NaN.
fn data(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut r = Rng::from_state(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let mut row: Vec<f64> = (0..5).map(|_| r.uniform(-1.0, 1.0)).collect();
        for v in row.iter_mut() {
            if r.f64() < 0.1 {
                *v = f64::NAN;
            }
        }
        let a = if row[0].is_nan() { 0.5 } else { row[0] };
        let b = if row[1].is_nan() { -0.5 } else { row[1] };
        let t = a * b + 0.5 * a.abs() + if row[2].is_nan() { 1.0 } else { 0.0 } + 0.1 * r.normal();
        y.push(t);
        x.extend(row);
    }
    (x, y)
}

#[test]
fn tree_shap_matches_enumerated_shapley_values_and_adds_up() {
    let (x, y) = data(600, 3);
    let fx = FeatureMatrix::new(&x, 5).unwrap();
    let reg =
        GbdtConfig { n_estimators: 12, max_depth: 5, min_samples_leaf: 5, subsample: 0.8, ..GbdtConfig::regressor() };
    let classes: Vec<f64> = y
        .iter()
        .map(|&t| {
            if t > 0.3 {
                0.0
            } else if t < -0.2 {
                1.0
            } else {
                2.0
            }
        })
        .collect();
    let cls = GbdtConfig { n_estimators: 6, max_depth: 4, min_samples_leaf: 5, ..GbdtConfig::classifier(3) };
    for m in [Gbdt::fit(fx, &y, &reg, None).unwrap(), Gbdt::fit(fx, &classes, &cls, None).unwrap()] {
        // Covers are row counts: a split's children share its rows.
        for t in m.rounds().iter().flatten() {
            for (i, node) in t.nodes.iter().enumerate() {
                if let Node::Split { left, right, .. } = node {
                    assert_eq!(t.cover[i], t.cover[*left] + t.cover[*right]);
                }
            }
        }
        let rows = &x[..20 * 5];
        let s = m.shap_values(rows).unwrap();
        let raw = m.predict_raw(rows).unwrap();
        let k = s.n_outputs;
        let mut reused = 0.0f64;
        for (i, row) in rows.chunks(5).enumerate() {
            for c in 0..k {
                let phi = s.row(i, c);
                let total = phi.iter().sum::<f64>() + s.expected[c];
                assert!((total - raw[i * k + c]).abs() < 1e-9, "additivity: {total} vs {}", raw[i * k + c]);
                let want = brute_force(&m, row, c);
                for (a, b) in phi.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-9, "row {i} output {c}: {phi:?} vs {want:?}");
                }
                reused += phi.iter().map(|v| v.abs()).sum::<f64>();
            }
        }
        assert!(reused > 0.1, "values should not all vanish");
    }
}

#[test]
fn tree_shap_needs_covers() {
    let (x, y) = data(200, 5);
    let cfg = GbdtConfig { n_estimators: 2, min_samples_leaf: 5, ..GbdtConfig::regressor() };
    let m = Gbdt::fit(FeatureMatrix::new(&x, 5).unwrap(), &y, &cfg, None).unwrap();
    assert!(m.to_json().unwrap().contains("\"cover\""));
    // A model written before covers were stored still loads and predicts, but TreeSHAP refuses it clearly.
    let mut v: serde_json::Value = serde_json::from_str(&m.to_json().unwrap()).unwrap();
    for round in v["rounds"].as_array_mut().unwrap() {
        for tree in round.as_array_mut().unwrap() {
            tree.as_object_mut().unwrap().remove("cover");
        }
    }
    let old = Gbdt::from_json(&v.to_string()).unwrap();
    assert_eq!(old.predict_raw(&x[..10]).unwrap(), m.predict_raw(&x[..10]).unwrap());
    let err = old.shap_values(&x[..5]).unwrap_err().to_string();
    assert!(err.contains("without node covers"), "{err}");
    assert!(m.shap_values(&x[..4]).is_err());
    let mut zero = serde_json::from_str::<serde_json::Value>(&m.to_json().unwrap()).unwrap();
    let n = zero["rounds"][0][0]["cover"].as_array().unwrap().len();
    zero["rounds"][0][0]["cover"][n - 1] = serde_json::json!(0.0);
    let err = Gbdt::from_json(&zero.to_string()).unwrap().shap_values(&x[..5]).unwrap_err().to_string();
    assert!(err.contains("positive cover"), "{err}");
    v["rounds"][0][0]["cover"] = serde_json::json!([1.0]);
    assert!(Gbdt::from_json(&v.to_string()).is_err());
}

#[test]
fn tree_shap_matches_the_python_shap_package() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shap/trees.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let m = Gbdt::from_json(&v["gbdt"].to_string()).unwrap();
    let num = |n: &serde_json::Value| n.as_f64().unwrap_or(f64::NAN);
    let x: Vec<f64> = v["x"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(num)).collect();
    assert!(x.iter().any(|v| v.is_nan()), "the fixture routes missing values");
    let want: Vec<Vec<f64>> =
        v["shap_values"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(num).collect()).collect();
    let s = m.shap_values(&x).unwrap();
    assert!((s.expected[0] - v["expected_value"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(want.len(), x.len() / m.n_features());
    for (i, w) in want.iter().enumerate() {
        for (j, (a, b)) in s.row(i, 0).iter().zip(w).enumerate() {
            assert!((a - b).abs() < 1e-9, "row {i} feature {j}: {a} vs shap's {b}");
        }
    }
}
