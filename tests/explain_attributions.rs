//! Explanations: input gradients agree with central finite differences; integrated gradients satisfy completeness
//! (attributions sum to y(x) − y(x₀)) with a gap that shrinks as the Riemann steps grow, for every model kind and
//! both baselines; attention maps are distributions of the right shape (causal ones see no future); permutation
//! importance is seeded, reproduces the baseline score, and gives exactly zero to a feature that is the same in
//! every window.

use tickgrad::device::Device;
use tickgrad::explain::permutation::{accuracy, predict_all};
use tickgrad::explain::{
    attention_maps, gradient_x_input, input_gradients, integrated_gradients, permutation_importance, Attention,
    Baseline, IgOptions,
};
use tickgrad::models::{Model, ModelConfig};
use tickgrad::rng::Rng;

const NF: usize = 4;

fn model(json: &str) -> Model {
    Model::new(&ModelConfig::from_json(json, "test").unwrap(), 3, Device::Cpu).unwrap()
}

fn randn(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.normal() as f32).collect()
}

const TRANSFORMER: &str = r#"{"kind":"transformer","n_features":4,"d_model":8,"nhead":2,"num_layers":2,
    "dim_feedforward":16,"max_len":32}"#;
const CAUSAL: &str = r#"{"kind":"transformer","n_features":4,"d_model":8,"nhead":2,"num_layers":1,
    "dim_feedforward":16,"max_len":32,"causal":true}"#;
const LSTM: &str = r#"{"kind":"lstm_attention","n_features":4,"hidden_size":6,"num_layers":2}"#;
const TCN: &str = r#"{"kind":"tcn","n_features":4,"channels":[6,6],"kernel_size":3}"#;
const MULTITASK: &str = r#"{"kind":"multitask","n_features":4,"channels":6,"n_blocks":1,"head_hidden":8}"#;

#[test]
fn input_gradients_match_finite_differences() {
    for (json, target) in [(TRANSFORMER, 1), (LSTM, 0), (TCN, 0), (MULTITASK, 2)] {
        let m = model(json);
        let (b, w) = (2, 10);
        let x = randn(b * w * NF, 7);
        let (y, g) = input_gradients(&m, &x, [b, w, NF], target).unwrap();
        let y_of = |x: &[f32]| predict_all(&m, x, [b, w, NF], 8).unwrap();
        let k = m.config().output_width();
        let y0 = y_of(&x);
        assert!((y[1] - y0[k + target]).abs() < 1e-5, "{json}: returned outputs");
        let mut r = Rng::new(9);
        for _ in 0..8 {
            let i = r.below(x.len());
            let h = 1e-2f32;
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += h;
            xm[i] -= h;
            let fd = (y_of(&xp)[(i / (w * NF)) * k + target] - y_of(&xm)[(i / (w * NF)) * k + target]) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() <= 2e-2 * fd.abs().max(g[i].abs()).max(1e-2),
                "{json} x[{i}]: fd {fd} vs {}",
                g[i]
            );
        }
        let gxi = gradient_x_input(&m, &x, [b, w, NF], target).unwrap();
        assert!(gxi.iter().zip(g.iter().zip(&x)).all(|(a, (g, x))| *a == g * x));
    }
    assert!(input_gradients(&model(TCN), &randn(40, 1), [1, 10, NF], 1).is_err(), "no output column 1");
}

/// |Σ IG − (y(x) − y(x₀))| for `steps` points.
fn gap(m: &Model, x: &[f32], w: usize, baseline: &Baseline, steps: usize) -> (f64, f64) {
    let o = IgOptions { target: 0, baseline: baseline.clone(), steps, chunk: 16 };
    let ig = integrated_gradients(m, x, [w, NF], &o).unwrap();
    assert_eq!(ig.attributions.len(), w * NF);
    (ig.completeness_gap().abs(), (ig.output - ig.baseline_output).abs() as f64)
}

#[test]
fn integrated_gradients_are_complete_and_converge() {
    let w = 12;
    let x = randn(w * NF, 21);
    let mean_row = Baseline::Row(vec![0.3, -0.2, 0.1, 0.5]);
    for json in [TRANSFORMER, LSTM, TCN, MULTITASK] {
        let m = model(json);
        for baseline in [Baseline::Zeros, mean_row.clone()] {
            let (g4, dy) = gap(&m, &x, w, &baseline, 4);
            let (g64, _) = gap(&m, &x, w, &baseline, 64);
            let (g256, _) = gap(&m, &x, w, &baseline, 256);
            eprintln!("{json} {baseline:?}: Δy {dy:.4e}, gap 4: {g4:.2e}, 64: {g64:.2e}, 256: {g256:.2e}");
            // the midpoint rule's error falls like 1/m² on smooth paths and at worst like 1/m across ReLU kinks;
            // f32 gradients leave a floor near 1e-6 of Δy
            let floor = 1e-5 * dy.max(1e-3);
            assert!(g256 <= (g4 / 8.0).max(floor), "{json}: gap 4 {g4:.2e} vs 256 {g256:.2e}");
            assert!(g256 <= 2e-3 * dy.max(1e-3), "{json}: gap {g256:.2e} for Δy {dy:.2e} at 256 steps");
        }
    }
    let bad = IgOptions { target: 0, baseline: Baseline::Row(vec![0.0; 3]), steps: 4, chunk: 4 };
    assert!(integrated_gradients(&model(TCN), &x, [w, NF], &bad).is_err(), "baseline row of the wrong width");
}

#[test]
fn attention_maps_are_distributions() {
    let (b, t) = (3, 9);
    let x = randn(b * t * NF, 5);
    let Some(Attention::Layers(maps)) = attention_maps(&model(TRANSFORMER), &x, [b, t, NF]).unwrap() else {
        panic!("transformer gives per-layer maps")
    };
    assert_eq!(maps.len(), 2);
    for m in &maps {
        assert_eq!(m.len(), t * t);
        for row in m.chunks(t) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            assert!(row.iter().all(|&v| v > 0.0), "full attention gives every key some weight");
        }
    }
    let Some(Attention::Layers(causal)) = attention_maps(&model(CAUSAL), &x, [b, t, NF]).unwrap() else { panic!() };
    for (q, row) in causal[0].chunks(t).enumerate() {
        assert!(row[q + 1..].iter().all(|&v| v == 0.0), "query {q} attends to the future");
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let Some(Attention::Time(a)) = attention_maps(&model(LSTM), &x, [b, t, NF]).unwrap() else { panic!() };
    assert_eq!(a.len(), t);
    assert!((a.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert!(attention_maps(&model(TCN), &x, [b, t, NF]).unwrap().is_none());
}

#[test]
fn permutation_importance_is_seeded_and_zero_for_a_constant_feature() {
    let m = model(TRANSFORMER);
    let (n, w) = (48, 8);
    let mut x = randn(n * w * NF, 31);
    for v in x.iter_mut().skip(2).step_by(NF) {
        *v = 0.7; // feature 2 is the same in every window
    }
    let k = m.config().output_width();
    // labels = the model's own answers: accuracy 1 unshuffled, so any feature it uses can only lose accuracy
    let preds = predict_all(&m, &x, [n, w, NF], 16).unwrap();
    let labels: Vec<usize> =
        preds.chunks(k).map(|r| (0..k).fold(0, |best, i| if r[i] > r[best] { i } else { best })).collect();
    let score = |p: &[f32]| accuracy(p, k, 0..k, &labels);
    let imp = permutation_importance(&m, &x, [n, w, NF], &score, 3, 5).unwrap();
    assert_eq!(imp.baseline, 1.0);
    assert_eq!((imp.drop[2], imp.std[2]), (0.0, 0.0), "a constant feature cannot matter");
    assert!(imp.drop.iter().all(|&d| d >= 0.0));
    assert!(imp.drop.iter().any(|&d| d > 0.0), "some feature must matter: {:?}", imp.drop);
    let again = permutation_importance(&m, &x, [n, w, NF], &score, 3, 5).unwrap();
    assert_eq!(imp, again, "same seed, same importances");
    assert!(permutation_importance(&m, &x[..w * NF], [1, w, NF], &score, 1, 5).is_err());
}
