use super::*;

use crate::rng::Rng;

/// XOR-like 3-class problem on 4 features (2 informative, 2 noise): up when the signs agree in the outer
/// region, down when they differ, hold near the axes.
fn xor_data(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut r = Rng::from_state(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (a, b) = (r.uniform(-1.0, 1.0), r.uniform(-1.0, 1.0));
        x.extend([a, b, r.uniform(-1.0, 1.0), r.uniform(-1.0, 1.0)]);
        y.push(if a.abs() < 0.15 || b.abs() < 0.15 {
            2.0
        } else if a * b > 0.0 {
            0.0
        } else {
            1.0
        });
    }
    (x, y)
}

fn accuracy(pred: &[usize], y: &[f64]) -> f64 {
    pred.iter().zip(y).filter(|(p, t)| **p as f64 == **t).count() as f64 / y.len() as f64
}

#[test]
fn gbdt_learns_xor_classes() {
    let (x, y) = xor_data(4000, 1);
    let (vx, vy) = xor_data(1000, 2);
    let (tx, ty) = xor_data(2000, 3);
    let cfg = GbdtConfig { n_estimators: 150, max_depth: 4, min_samples_leaf: 10, ..GbdtConfig::classifier(3) };
    let m = Gbdt::fit(FeatureMatrix::new(&x, 4).unwrap(), &y, &cfg, Some((FeatureMatrix::new(&vx, 4).unwrap(), &vy)))
        .unwrap();
    let acc = accuracy(&m.predict_classes(&tx).unwrap(), &ty);
    assert!(acc > 0.9, "accuracy {acc}");
    let p = m.predict_proba(&tx[..8]).unwrap();
    assert_eq!(p.len(), 6);
    assert!(p.chunks(3).all(|r| (r.iter().sum::<f64>() - 1.0).abs() < 1e-12));
    let imp = m.feature_importance();
    assert!(imp[0] > 10.0 * imp[2] && imp[1] > 10.0 * imp[3], "importance {imp:?}");
    assert!(!m.valid_loss().is_empty());
}

#[test]
fn gbdt_regression_fits_sine() {
    let mut r = Rng::from_state(7);
    let x: Vec<f64> = (0..3000).map(|_| r.uniform(-3.0, 3.0)).collect();
    let y: Vec<f64> = x.iter().map(|v| v.sin()).collect();
    let cfg = GbdtConfig { n_estimators: 300, max_depth: 3, min_samples_leaf: 5, ..GbdtConfig::regressor() };
    let m = Gbdt::fit(FeatureMatrix::new(&x, 1).unwrap(), &y, &cfg, None).unwrap();
    let tx: Vec<f64> = (0..500).map(|i| -2.9 + 5.8 * i as f64 / 499.0).collect();
    let pred = m.predict(&tx).unwrap();
    let rmse = (pred.iter().zip(&tx).map(|(p, v)| (p - v.sin()).powi(2)).sum::<f64>() / 500.0).sqrt();
    assert!(rmse < 0.05, "rmse {rmse}");
    assert!(m.predict_proba(&tx).is_err());
}

#[test]
fn gbdt_deterministic_and_roundtrip() {
    let (x, y) = xor_data(1500, 11);
    let cfg = GbdtConfig { n_estimators: 30, subsample: 0.7, seed: 42, ..GbdtConfig::classifier(3) };
    let fx = FeatureMatrix::new(&x, 4).unwrap();
    let a = Gbdt::fit(fx, &y, &cfg, None).unwrap();
    let b = Gbdt::fit(fx, &y, &cfg, None).unwrap();
    assert_eq!(a, b);
    let c = Gbdt::fit(fx, &y, &GbdtConfig { seed: 43, ..cfg.clone() }, None).unwrap();
    assert_ne!(a, c);
    let json = a.to_json().unwrap();
    let back = Gbdt::from_json(&json).unwrap();
    let pa = a.predict_raw(&x).unwrap();
    let pb = back.predict_raw(&x).unwrap();
    assert!(pa.iter().zip(&pb).all(|(u, v)| u.to_bits() == v.to_bits()));
    let dir = std::env::temp_dir().join(format!("tickgrad_gbdt_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.json");
    a.save(&path).unwrap();
    assert_eq!(Gbdt::load(&path).unwrap(), a);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn gbdt_missing_values_get_their_own_direction() {
    // The label is 1 exactly when feature 0 is missing; only the NaN bin can tell.
    let mut r = Rng::from_state(5);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..600 {
        let missing = i % 3 == 0;
        x.push(if missing { f64::NAN } else { r.uniform(0.0, 1.0) });
        y.push(if missing { 1.0 } else { 0.0 });
    }
    let cfg = GbdtConfig { n_estimators: 20, min_samples_leaf: 5, ..GbdtConfig::classifier(2) };
    let m = Gbdt::fit(FeatureMatrix::new(&x, 1).unwrap(), &y, &cfg, None).unwrap();
    assert_eq!(m.predict_classes(&[f64::NAN, 0.3, 0.9, f64::INFINITY]).unwrap(), vec![1, 0, 0, 0]);
}

#[test]
fn gbdt_early_stopping_keeps_best_round() {
    // Pure-noise labels: validation loss stops improving early.
    let mut r = Rng::from_state(9);
    let x: Vec<f64> = (0..800).map(|_| r.uniform(0.0, 1.0)).collect();
    let y: Vec<f64> = (0..800).map(|_| (r.uniform(0.0, 3.0) as usize) as f64).collect();
    let (vx, vy) = (&x[..400], &y[400..]);
    let (tx, ty) = (&x[400..], &y[..400]);
    let cfg =
        GbdtConfig { n_estimators: 500, early_stopping_rounds: Some(5), min_samples_leaf: 2, ..Default::default() };
    let m = Gbdt::fit(FeatureMatrix::new(tx, 1).unwrap(), ty, &cfg, Some((FeatureMatrix::new(vx, 1).unwrap(), vy)))
        .unwrap();
    assert!(m.valid_loss().len() < 500);
    let best = m.valid_loss().iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(m.valid_loss()[m.n_rounds() - 1], best);
}

#[test]
fn gbdt_errors_not_panics() {
    let cfg = GbdtConfig::classifier(3);
    assert!(FeatureMatrix::new(&[1.0, 2.0, 3.0], 2).is_err());
    assert!(FeatureMatrix::new(&[1.0], 0).is_err());
    let empty = FeatureMatrix::new(&[], 2).unwrap();
    assert!(Gbdt::fit(empty, &[], &cfg, None).is_err());
    let x = FeatureMatrix::new(&[1.0, 2.0, 3.0, 4.0], 2).unwrap();
    assert!(Gbdt::fit(x, &[0.0], &cfg, None).is_err());
    assert!(Gbdt::fit(x, &[0.0, 3.0], &cfg, None).is_err());
    assert!(Gbdt::fit(x, &[0.0, 0.5], &cfg, None).is_err());
    let inf = FeatureMatrix::new(&[1.0, f64::INFINITY], 1).unwrap();
    assert!(Gbdt::fit(inf, &[0.0, 1.0], &cfg, None).is_err());
    let bad_valid = FeatureMatrix::new(&[1.0, 2.0, 3.0], 3).unwrap();
    assert!(Gbdt::fit(x, &[0.0, 1.0], &cfg, Some((bad_valid, &[0.0]))).is_err());
    assert!(Gbdt::fit(x, &[0.0, 1.0], &GbdtConfig { max_bins: 256, ..cfg.clone() }, None).is_err());
    assert!(Gbdt::fit(x, &[0.0, 1.0], &GbdtConfig { learning_rate: f64::NAN, ..cfg.clone() }, None).is_err());
    let m = Gbdt::fit(x, &[0.0, 1.0], &cfg, None).unwrap();
    assert!(m.predict(&[1.0, 2.0, 3.0]).is_err());
    assert_eq!(m.predict(&[]).unwrap(), Vec::<f64>::new());
    assert!(Gbdt::from_json("{").is_err());
    let json = m.to_json().unwrap();
    let broken = json.replacen("\"n_features\":2", "\"n_features\":0", 1);
    assert!(Gbdt::from_json(&broken).is_err());
}

#[test]
fn gbdt_rejects_corrupt_trees() {
    let (x, y) = xor_data(300, 4);
    let cfg = GbdtConfig { n_estimators: 2, min_samples_leaf: 5, ..GbdtConfig::classifier(3) };
    let m = Gbdt::fit(FeatureMatrix::new(&x, 4).unwrap(), &y, &cfg, None).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&m.to_json().unwrap()).unwrap();
    assert!(v["rounds"][0][0]["nodes"][0]["split"].is_object(), "root should be a split");
    v["rounds"][0][0]["nodes"][0]["split"]["left"] = serde_json::json!(0);
    assert!(Gbdt::from_json(&v.to_string()).is_err());
    v["rounds"][0][0]["nodes"][0]["split"]["left"] = serde_json::json!(1);
    v["rounds"][0][0]["nodes"][0]["split"]["feature"] = serde_json::json!(99);
    assert!(Gbdt::from_json(&v.to_string()).is_err());
}
