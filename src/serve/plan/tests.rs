//! Every plan against `Model::predict` on the same window, over configs that reach each branch: causal and
//! full attention, last and mean pooling, one and several heads, uni- and bidirectional stacked LSTMs, TCN blocks
//! with and without a downsample, kernel sizes 2–4, BatchNorm with random running statistics.

use super::Plan;
use crate::device::Device;
use crate::models::{Model, ModelConfig};
use crate::nn::{Kind, Module};
use crate::rng::Rng;
use crate::tensor::Tensor;

fn model(json: &str, seed: u64) -> Model {
    let cfg = ModelConfig::from_json(json, "plan test config").unwrap();
    let mut m = Model::new(&cfg, seed, Device::Cpu).unwrap();
    let mut rng = Rng::new(seed + 7);
    m.visit("", &mut |name, kind, t| {
        if kind == Kind::Buffer {
            let (lo, hi) = if name.ends_with("running_var") { (0.5, 1.5) } else { (-0.5, 0.5) };
            let v: Vec<f32> = (0..t.numel()).map(|_| rng.uniform(lo, hi) as f32).collect();
            *t = Tensor::from_vec(v, t.shape(), Device::Cpu)?;
        }
        Ok(())
    })
    .unwrap();
    m
}

/// The plan's answer and `predict`'s on three random windows, reusing one plan (stale buffers must not leak
/// from one window into the next).
fn check(json: &str, window: usize) {
    let m = model(json, 3);
    let nf = m.config().n_features();
    let mut plan = Plan::new(&m, window).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut rng = Rng::new(11);
    for round in 0..3 {
        let x: Vec<f32> = (0..window * nf).map(|_| rng.normal() as f32).collect();
        let want = m.predict(&Tensor::from_vec(x.clone(), &[1, window, nf], Device::Cpu).unwrap()).unwrap();
        let want = want.to_vec().unwrap();
        let scale = want.iter().fold(0.0f32, |a, v| a.max(v.abs())).max(1e-3);
        // alternate between the calling thread and a pool of two (split products, directions side by side)
        for pooled in [false, true] {
            let mut got = vec![f32::NAN; want.len()];
            if pooled {
                plan.run_on(Some(&pool), &x, &mut got);
            } else {
                plan.run(&x, &mut got);
            }
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-5 * scale,
                    "{json} W={window} round {round} pooled {pooled} out {j}: plan {g} vs predict {w}"
                );
            }
        }
    }
}

#[test]
fn transformer_plans_match_predict() {
    let base = r#""kind":"transformer","n_features":6,"d_model":32,"nhead":4,"num_layers":2,"dim_feedforward":48"#;
    check(&format!("{{{base},\"pooling\":\"last\",\"causal\":false}}"), 9);
    check(&format!("{{{base},\"pooling\":\"mean\",\"causal\":true}}"), 13);
    check(&format!("{{{base},\"pooling\":\"last\",\"causal\":true}}"), 1);
    check(
        r#"{"kind":"transformer","n_features":3,"d_model":20,"nhead":1,"num_layers":3,"dim_feedforward":7,"pooling":"mean"}"#,
        17,
    );
}

#[test]
fn lstm_plans_match_predict() {
    check(r#"{"kind":"lstm_attention","n_features":4,"hidden_size":24,"num_layers":3,"bidirectional":true}"#, 11);
    check(r#"{"kind":"lstm_attention","n_features":7,"hidden_size":70,"num_layers":1,"bidirectional":false}"#, 5);
    check(
        r#"{"kind":"lstm_attention","n_features":2,"hidden_size":9,"num_layers":2,"bidirectional":false,"n_outputs":3}"#,
        1,
    );
}

/// The seed variant: residual connections, batch norm with random running statistics, a dense head, alone and
/// together, uni- and bidirectional.
#[test]
fn lstm_variant_plans_match_predict() {
    let base = r#""kind":"lstm_attention","n_features":4,"hidden_size":8"#;
    check(&format!("{{{base},\"num_layers\":3,\"residual\":true,\"batch_norm\":true,\"dense_hidden\":7}}"), 9);
    check(&format!("{{{base},\"num_layers\":2,\"bidirectional\":false,\"residual\":true,\"n_outputs\":2}}"), 6);
    check(&format!("{{{base},\"num_layers\":1,\"batch_norm\":true}}"), 5);
    check(&format!("{{{base},\"num_layers\":2,\"bidirectional\":false,\"dense_hidden\":3}}"), 1);
}

#[test]
fn conv_plans_match_predict() {
    check(r#"{"kind":"tcn","n_features":5,"channels":[8,8,12],"kernel_size":3}"#, 20);
    check(r#"{"kind":"tcn","n_features":5,"channels":[5,6],"kernel_size":2,"n_outputs":2}"#, 3);
    check(r#"{"kind":"multitask","n_features":4,"channels":16,"n_blocks":2,"kernel_size":3,"head_hidden":10}"#, 12);
    check(r#"{"kind":"multitask","n_features":9,"channels":8,"n_blocks":0,"kernel_size":4,"head_hidden":3}"#, 2);
}

/// Degenerate but valid shapes: one-wide heads and hidden states, kernel size 1, a window of one bar, a window
/// equal to the transformer's positional table.
#[test]
fn edge_shaped_plans_match_predict() {
    check(
        r#"{"kind":"transformer","n_features":1,"d_model":8,"nhead":8,"num_layers":1,"dim_feedforward":1,"max_len":5}"#,
        5,
    );
    check(r#"{"kind":"lstm_attention","n_features":1,"hidden_size":1,"num_layers":2,"bidirectional":true}"#, 4);
    check(r#"{"kind":"tcn","n_features":2,"channels":[3,1],"kernel_size":1}"#, 6);
    check(r#"{"kind":"multitask","n_features":1,"channels":1,"n_blocks":1,"kernel_size":1,"head_hidden":1}"#, 1);
}

#[test]
fn seed_sized_recurrent_and_conv_plans_match_predict() {
    check(&ModelConfig::seed("lstm_attention", 10).unwrap().to_json(), 30);
    check(&ModelConfig::seed("multitask", 10).unwrap().to_json(), 120);
}
