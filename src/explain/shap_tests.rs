//! Shapley values of networks: exact KernelSHAP against closed forms (a linear function's values are known),
//! the Shapley axioms (additivity, a dummy group gets 0, symmetric groups get equal shares) and the Python
//! `shap` package's KernelExplainer (fixtures/shap/kernel.json); GradientSHAP adds up to f(x) − E\[f(b)\]
//! within its sampling tolerance and agrees with integrated gradients averaged over the same baselines.

use super::*;
use crate::device::Device;
use crate::models::{Model, ModelConfig};
use crate::rng::Rng;

fn randn(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.normal() as f32).collect()
}

fn model(json: &str) -> Model {
    Model::new(&ModelConfig::from_json(json, "test").unwrap(), 3, Device::Cpu).unwrap()
}

const TCN: &str = r#"{"kind":"tcn","n_features":4,"channels":[6,6],"kernel_size":3}"#;
const TRANSFORMER: &str = r#"{"kind":"transformer","n_features":4,"d_model":8,"nhead":2,"num_layers":1,
    "dim_feedforward":16,"max_len":32}"#;

fn names(f: usize) -> Vec<String> {
    (0..f).map(|j| format!("c{j}")).collect()
}

#[test]
fn kernel_shap_of_a_linear_function_is_its_closed_form() {
    let (w, f, nb) = (3, 5, 6);
    let a: Vec<f64> = randn(w * f, 1).iter().map(|&v| v as f64).collect();
    let mut lin = |xs: &[f32], n: usize| -> crate::Result<Vec<f64>> {
        Ok(xs.chunks(w * f).take(n).map(|x| 0.7 + x.iter().zip(&a).map(|(&x, a)| x as f64 * a).sum::<f64>()).collect())
    };
    let x = randn(w * f, 2);
    let bg = randn(nb * w * f, 3);
    let groups = Groups::contiguous(&names(f), 3).unwrap();
    assert_eq!(groups.columns, vec![vec![0], vec![1, 2], vec![3, 4]]);
    assert_eq!(groups.names[1], "c1+c2");
    let s = kernel_shap_fn(&mut lin, &x, [w, f], &bg, &groups, 7).unwrap();
    for (g, cols) in groups.columns.iter().enumerate() {
        let mut want = 0.0;
        for t in 0..w {
            for &c in cols {
                let i = t * f + c;
                let mean_b = bg.chunks(w * f).map(|b| b[i] as f64).sum::<f64>() / nb as f64;
                want += a[i] * (x[i] as f64 - mean_b);
            }
        }
        assert!((s.values[g] - want).abs() < 1e-9, "group {g}: {} vs {want}", s.values[g]);
    }
    assert!(s.additivity_gap().abs() < 1e-9);
}

#[test]
fn kernel_shap_obeys_the_shapley_axioms() {
    let (w, f) = (2, 4);
    // Columns 0 and 1 enter symmetrically, column 3 not at all; a product makes them interact.
    let mut g = |xs: &[f32], n: usize| -> crate::Result<Vec<f64>> {
        Ok(xs
            .chunks(w * f)
            .take(n)
            .map(|x| {
                let c = |t: usize, j: usize| x[t * f + j] as f64;
                (c(0, 0) + c(1, 0)) * (c(0, 1) + c(1, 1)) + (c(1, 2) * c(0, 0)).sin()
            })
            .collect())
    };
    let mut x = randn(w * f, 4);
    let mut bg = randn(5 * w * f, 5);
    // Give columns 0 and 1 the same values so symmetry applies except through column 2's term.
    for win in std::iter::once(&mut x[..]).chain(bg.chunks_mut(w * f)) {
        win[1] = win[0];
        win[f + 1] = win[f];
    }
    let groups = Groups::contiguous(&names(f), 4).unwrap();
    let s = kernel_shap_fn(&mut g, &x, [w, f], &bg, &groups, 1000).unwrap();
    assert!(s.additivity_gap().abs() < 1e-9, "gap {}", s.additivity_gap());
    assert_eq!(s.values[3], 0.0, "column 3 is a dummy");
    assert!(s.values[2].abs() > 1e-6, "column 2 matters");
    assert!(s.values[0] != s.values[1], "column 0 also interacts with column 2");
    // Without column 2's term, columns 0 and 1 are symmetric.
    let mut sym = |xs: &[f32], n: usize| -> crate::Result<Vec<f64>> {
        Ok(xs.chunks(w * f).take(n).map(|x| (x[0] as f64 + x[f] as f64) * (x[1] as f64 + x[f + 1] as f64)).collect())
    };
    let s = kernel_shap_fn(&mut sym, &x, [w, f], &bg, &groups, 3).unwrap();
    assert!((s.values[0] - s.values[1]).abs() < 1e-12 && s.values[0].abs() > 1e-6, "{:?}", s.values);
    assert!(s.additivity_gap().abs() < 1e-9);
}

#[test]
fn kernel_shap_of_a_network_adds_up_and_rejects_bad_input() {
    let m = model(TCN);
    let (w, f) = (8, 4);
    let x = randn(w * f, 6);
    let bg = randn(3 * w * f, 7);
    let groups = Groups::contiguous(&names(f), 12).unwrap();
    let s = kernel_shap(&m, &x, [w, f], &bg, &groups, 0).unwrap();
    let y =
        crate::explain::permutation::predict_all(&m, &[x.as_slice(), bg.as_slice()].concat(), [4, w, f], 8).unwrap();
    let k = m.config().output_width();
    assert!((s.output - y[0] as f64).abs() < 1e-6);
    let mean_b = (1..4).map(|i| y[i * k] as f64).sum::<f64>() / 3.0;
    assert!((s.expected - mean_b).abs() < 1e-6);
    assert!(s.additivity_gap().abs() < 1e-6, "gap {}", s.additivity_gap());
    assert!(s.values.iter().any(|v| v.abs() > 1e-6));
    assert!(kernel_shap(&m, &x, [w, f], &bg, &groups, 9).is_err(), "no output column 9");
    assert!(kernel_shap(&m, &x, [w, f], &bg[1..], &groups, 0).is_err(), "ragged background");
    assert!(kernel_shap(&m, &x[1..], [w, f], &bg, &groups, 0).is_err(), "short window");
    assert!(Groups::contiguous(&names(f), 0).is_err());
    assert!(Groups::contiguous(&names(f), 17).is_err());
    assert!(Groups::new(vec!["a".into(), "b".into()], vec![vec![0, 1], vec![1, 2, 3]], 4).is_err(), "overlap");
    assert!(Groups::new(vec!["a".into()], vec![vec![0, 1, 2]], 4).is_err(), "column 3 in no group");
    assert!(shapley_values(&[1.0, 2.0, 3.0]).is_err());
}

#[test]
fn gradient_shap_adds_up_and_matches_integrated_gradients_over_the_same_baselines() {
    let (w, f) = (10, 4);
    for json in [TCN, TRANSFORMER] {
        let m = model(json);
        let x = randn(w * f, 8);
        // Background windows constant in time, so each is an integrated-gradients `Baseline::Row`.
        let rows: Vec<Vec<f32>> = (0..3).map(|i| randn(f, 20 + i)).collect();
        let bg: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied().cycle().take(w * f)).collect();
        let o = GradientShapOptions { target: 0, steps: 96, chunk: 32, seed: 1 };
        let s = gradient_shap(&m, &x, [w, f], &bg, &o).unwrap();
        let spread = (s.output - s.expected).abs();
        assert!(spread > 1e-3, "{json}: the test needs f(x) away from E[f(b)]");
        assert!(s.additivity_gap().abs() < 0.02 * spread, "{json}: gap {} of {spread}", s.additivity_gap());
        let mut ig_mean = vec![0.0f64; w * f];
        for r in &rows {
            let io = IgOptions { target: 0, baseline: Baseline::Row(r.clone()), steps: 256, chunk: 64 };
            let ig = integrated_gradients(&m, &x, [w, f], &io).unwrap();
            ig_mean.iter_mut().zip(&ig.attributions).for_each(|(a, &v)| *a += v as f64 / rows.len() as f64);
        }
        let scale = ig_mean.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (i, (&a, &b)) in s.attributions.iter().zip(&ig_mean).enumerate() {
            assert!((a as f64 - b).abs() < 0.03 * scale, "{json} input {i}: {a} vs {b} (scale {scale})");
        }
        // Seeded: the same seed gives the same values.
        let again = gradient_shap(&m, &x, [w, f], &bg, &o).unwrap();
        assert_eq!(again.attributions, s.attributions);
    }
    let m = model(TCN);
    let x = randn(w * f, 8);
    let o = GradientShapOptions { target: 0, steps: 4, chunk: 4, seed: 1 };
    assert!(gradient_shap(&m, &x, [w, f], &x[1..], &o).is_err());
    assert!(gradient_shap(&m, &x, [w, f], &x, &GradientShapOptions { target: 5, ..o.clone() }).is_err());
    assert!(gradient_shap(&m, &x, [w, f], &x, &GradientShapOptions { steps: 0, ..o }).is_err());
}

/// Reads the fixture's numbers (JSON arrays of numbers).
fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|n| n.as_f64().unwrap()).collect()
}

/// The fixture's function (scripts/make_shap_fixtures.py, `window_fn`) on a window [3, 4].
fn fixture_fn(x: &[f32]) -> f64 {
    let c = |t: usize, j: usize| x[t * 4 + j] as f64;
    (0.5 * c(0, 0) + c(1, 0) - 0.3 * c(2, 0)).tanh() * c(2, 1) + 0.5 * c(1, 2) * c(1, 2) - c(0, 3) * c(2, 0)
        + 0.2 * c(1, 1).sin()
        + 0.1 * c(2, 2)
}

#[test]
fn kernel_shap_matches_the_python_shap_package() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shap/kernel.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (w, f) = (v["window"].as_u64().unwrap() as usize, v["n_features"].as_u64().unwrap() as usize);
    let bg: Vec<f32> = numbers(&v["background"]).iter().map(|&b| b as f32).collect();
    let xs: Vec<f32> = numbers(&v["x"]).iter().map(|&b| b as f32).collect();
    let want = numbers(&v["shap_values"]);
    let expected = v["expected_value"].as_f64().unwrap();
    let groups = Groups::contiguous(&names(f), f).unwrap();
    let mut func =
        |xs: &[f32], n: usize| -> crate::Result<Vec<f64>> { Ok(xs.chunks(w * f).take(n).map(fixture_fn).collect()) };
    let mut checked = 0;
    for (i, x) in xs.chunks(w * f).enumerate() {
        let s = kernel_shap_fn(&mut func, x, [w, f], &bg, &groups, 64).unwrap();
        assert!((s.expected - expected).abs() < 1e-6, "expected value {} vs shap's {expected}", s.expected);
        for (j, (&a, &b)) in s.values.iter().zip(&want[i * f..(i + 1) * f]).enumerate() {
            assert!((a - b).abs() < 1e-6, "row {i} group {j}: {a} vs shap's {b}");
            checked += 1;
        }
    }
    assert_eq!(checked, want.len());
    assert!(checked > 0);
}
