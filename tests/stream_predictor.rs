//! The streaming contract (docs/MODELS.md, Streaming): after every bar, the predictor's answer equals
//! `Model::predict` on the trailing window of the last W rows, for every model kind, on EVERY trailing window of a
//! random series. TCN runs both ways: the O(1) ring-buffer step (W ≥ receptive field) and the recompute fallback
//! (W < receptive field, where the window's zero padding reaches the output). Also: hot swap between bars (same
//! kind, another kind, before the window is full), bad rows leave the state alone, and one model shared by
//! predictors on several threads.

use std::sync::Arc;
use tickgrad::device::Device;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::nn::{Kind, Module};
use tickgrad::rng::Rng;
use tickgrad::serve::StreamPredictor;
use tickgrad::tensor::Tensor;

const NF: usize = 5;

fn model(json: &str, seed: u64) -> Model {
    let cfg = ModelConfig::from_json(json, "test config").unwrap();
    let mut m = Model::new(&cfg, seed, Device::Cpu).unwrap();
    // random BatchNorm statistics, so that eval-mode normalisation is not the identity
    let mut rng = Rng::new(seed + 100);
    m.visit("", &mut |name, kind, t| {
        if kind == Kind::Buffer {
            let n = t.numel();
            let v: Vec<f32> = if name.ends_with("running_var") {
                (0..n).map(|_| rng.uniform(0.5, 1.5) as f32).collect()
            } else {
                (0..n).map(|_| rng.uniform(-0.5, 0.5) as f32).collect()
            };
            *t = Tensor::from_vec(v, t.shape(), Device::Cpu)?;
        }
        Ok(())
    })
    .unwrap();
    m
}

fn series(t: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..t * NF).map(|_| rng.normal() as f32).collect()
}

/// `predict` on rows `end + 1 − w ..= end` of the series.
fn window_predict(m: &Model, xs: &[f32], end: usize, w: usize) -> Vec<f32> {
    let x = Tensor::from_vec(xs[(end + 1 - w) * NF..(end + 1) * NF].to_vec(), &[1, w, NF], Device::Cpu).unwrap();
    m.predict(&x).unwrap().to_vec().unwrap()
}

#[track_caller]
fn assert_row_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: width");
    let scale = want.iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1e-3);
    for (j, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * scale, "{what}: output {j}: stream {g} vs predict {w} (scale {scale})");
    }
}

/// Stream `t` random rows and compare every answer with `predict` on its window.
fn check_every_window(json: &str, w: usize, t: usize, expect_incremental: bool) {
    let m = Arc::new(model(json, 1));
    let xs = series(t, 2);
    let mut p = StreamPredictor::new(m.clone(), w).unwrap();
    assert_eq!(p.is_incremental(), expect_incremental, "{json} at W={w}");
    let mut answers = 0;
    for (i, row) in xs.chunks(NF).enumerate() {
        let ans = p.push(row).unwrap();
        if i + 1 < w {
            assert!(ans.is_none(), "answer before the window is full (bar {i})");
            continue;
        }
        let ans = ans.expect("an answer once the window is full");
        assert_eq!(ans.bar, i as u64);
        assert_row_close(&format!("{json} W={w} bar {i}"), ans.values, &window_predict(&m, &xs, i, w));
        answers += 1;
    }
    assert_eq!(answers, t - w + 1);
}

const TRANSFORMER: &str = r#"{"kind":"transformer","n_features":5,"d_model":16,"nhead":2,"num_layers":2,
    "dim_feedforward":24,"max_len":40}"#;
const TRANSFORMER_CAUSAL_MEAN: &str = r#"{"kind":"transformer","n_features":5,"d_model":8,"nhead":4,"num_layers":1,
    "dim_feedforward":16,"max_len":40,"causal":true,"pooling":"mean","n_classes":4}"#;
const LSTM: &str = r#"{"kind":"lstm_attention","n_features":5,"hidden_size":8,"num_layers":2,"bidirectional":true}"#;
const LSTM_UNI: &str =
    r#"{"kind":"lstm_attention","n_features":5,"hidden_size":6,"num_layers":1,"bidirectional":false,"n_outputs":2}"#;
/// Receptive field 1 + 2·2·(2³ − 1) = 29; channels change in blocks 0 and 2 (1×1 downsample residuals).
const TCN: &str = r#"{"kind":"tcn","n_features":5,"channels":[8,8,6],"kernel_size":3,"n_outputs":2}"#;
/// Receptive field 1 + 2·1·(2⁴ − 1) = 31; identity residuals after block 0.
const TCN_K2: &str = r#"{"kind":"tcn","n_features":5,"channels":[6,6,6,6],"kernel_size":2}"#;
const MULTITASK: &str =
    r#"{"kind":"multitask","n_features":5,"channels":8,"n_blocks":2,"kernel_size":3,"head_hidden":12}"#;

#[test]
fn transformer_streams_every_window() {
    check_every_window(TRANSFORMER, 12, 60, false);
    check_every_window(TRANSFORMER_CAUSAL_MEAN, 40, 70, false);
}

#[test]
fn lstm_attention_streams_every_window() {
    check_every_window(LSTM, 10, 50, false);
    check_every_window(LSTM_UNI, 1, 20, false);
}

#[test]
fn tcn_steps_equal_the_window_forward_from_the_receptive_field() {
    check_every_window(TCN, 29, 120, true);
    check_every_window(TCN, 45, 120, true);
    check_every_window(TCN_K2, 31, 100, true);
}

#[test]
fn tcn_below_its_receptive_field_recomputes() {
    check_every_window(TCN, 12, 60, false);
    check_every_window(TCN, 28, 60, false);
}

#[test]
fn multitask_streams_every_window() {
    check_every_window(MULTITASK, 16, 60, false);
}

/// Swap at `at` bars from `a` to `b`; every answer after the swap must be `b`'s `predict` on its window.
fn check_swap(a: &str, b: &str, w: usize, at: usize, t: usize) {
    let (ma, mb) = (Arc::new(model(a, 3)), Arc::new(model(b, 4)));
    let xs = series(t, 5);
    let mut p = StreamPredictor::new(ma.clone(), w).unwrap();
    for (i, row) in xs.chunks(NF).enumerate() {
        if i == at {
            p.swap_model(mb.clone()).unwrap();
        }
        let cur = if i < at { &ma } else { &mb };
        match p.push(row).unwrap() {
            Some(ans) => assert_row_close(
                &format!("swap {a} -> {b} at {at}, bar {i}"),
                ans.values,
                &window_predict(cur, &xs, i, w),
            ),
            None => assert!(i + 1 < w, "no answer at bar {i}"),
        }
    }
}

#[test]
fn hot_swap_between_bars() {
    check_swap(TCN, TCN, 30, 50, 90); // rings rebuilt from the retained rows
    check_swap(TCN, TCN, 30, 10, 60); // before the window is full
    check_swap(TCN, TRANSFORMER, 30, 40, 70); // step → recompute
    check_swap(MULTITASK, TCN, 30, 35, 80); // recompute → step
    check_swap(LSTM, LSTM_UNI, 8, 20, 40); // another output width
}

#[test]
fn swap_to_other_inputs_is_refused() {
    let mut p = StreamPredictor::new(Arc::new(model(TCN, 1)), 30).unwrap();
    let other = r#"{"kind":"tcn","n_features":4,"channels":[8],"kernel_size":3}"#;
    assert!(p.swap_model(Arc::new(model(other, 1))).is_err());
    assert!(StreamPredictor::new(Arc::new(model(TRANSFORMER, 1)), 41).is_err(), "window beyond max_len");
    assert!(StreamPredictor::new(Arc::new(model(TRANSFORMER, 1)), 0).is_err());
}

#[test]
fn bad_rows_are_errors_and_change_nothing() {
    let m = Arc::new(model(TCN, 1));
    let xs = series(40, 6);
    let mut p = StreamPredictor::new(m.clone(), 29).unwrap();
    for (i, row) in xs.chunks(NF).enumerate() {
        assert!(p.push(&row[..NF - 1]).is_err(), "short row");
        let mut bad = row.to_vec();
        bad[2] = f32::NAN;
        assert!(p.push(&bad).is_err(), "NaN row");
        if let Some(ans) = p.push(row).unwrap() {
            assert_row_close(&format!("bar {i}"), ans.values, &window_predict(&m, &xs, i, 29));
        }
    }
    assert_eq!(p.bars(), 40);
}

#[test]
fn predictors_on_several_threads_share_one_model() {
    let m = Arc::new(model(TCN, 7));
    let xs = Arc::new(series(80, 8));
    let handles: Vec<_> = (0..3)
        .map(|k| {
            let (m, xs) = (m.clone(), xs.clone());
            std::thread::spawn(move || {
                let w = 29 + k;
                let mut p = StreamPredictor::new(m, w).unwrap();
                let mut last = Vec::new();
                for row in xs.chunks(NF) {
                    if let Some(a) = p.push(row).unwrap() {
                        last = a.values.to_vec();
                    }
                }
                (w, last)
            })
        })
        .collect();
    for h in handles {
        let (w, last) = h.join().unwrap();
        assert_row_close(&format!("thread W={w}"), &last, &window_predict(&m, &xs, 79, w));
    }
}

/// The seed TCN (8 blocks of 64 channels, kernel 3): receptive field 1021, the window the O(1) path needs.
#[test]
fn seed_tcn_steps_exactly_at_its_receptive_field() {
    let cfg = ModelConfig::seed("tcn", NF).unwrap();
    let m = Arc::new(Model::new(&cfg, 5, Device::Cpu).unwrap());
    let Model::Tcn(tcn) = &*m else { unreachable!() };
    let w = tcn.receptive_field();
    assert_eq!(w, 1021);
    let t = w + 24;
    let xs = series(t, 9);
    let mut p = StreamPredictor::new(m.clone(), w).unwrap();
    assert!(p.is_incremental());
    for (i, row) in xs.chunks(NF).enumerate() {
        if let Some(ans) = p.push(row).unwrap() {
            assert_row_close(&format!("seed tcn bar {i}"), ans.values, &window_predict(&m, &xs, i, w));
        }
    }
}
