//! After one backward of each model's training loss, every parameter has a finite, non-zero gradient
//! (a fused kernel without a backward would leave zeros or no gradient at all).

mod common;

use tickgrad::device::Device;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::nn::{self, Ctx, Kind, Module};
use tickgrad::rng::Rng;
use tickgrad::tensor::Tensor;

fn check(cfg_json: &str, window: usize, batch: usize) {
    let cfg = ModelConfig::from_json(cfg_json, "test").unwrap();
    let mut model = Model::new(&cfg, 3, Device::Cpu).unwrap();
    nn::track_parameters(&mut model).unwrap();
    let nf = cfg.n_features();
    let mut rng = Rng::new(11);
    let x = Tensor::from_vec(
        (0..batch * window * nf).map(|_| rng.normal() as f32).collect(),
        &[batch, window, nf],
        Device::Cpu,
    )
    .unwrap();
    // training mode: dropout and batch statistics are part of what must be differentiated
    let out = model.forward(&x, &Ctx::train(5), false).unwrap().pred;
    let l = common::training_loss(&model, &cfg, &out);
    let grads = l.backward().unwrap();
    let mut n = 0;
    model
        .visit("", &mut |name, kind, t| {
            if kind == Kind::Param {
                let g = grads.get(t).unwrap_or_else(|| panic!("{}: no gradient for {name}", cfg.kind())).to_vec()?;
                assert!(g.iter().all(|v| v.is_finite()), "{}: non-finite gradient for {name}", cfg.kind());
                assert!(g.iter().any(|v| *v != 0.0), "{}: all-zero gradient for {name}", cfg.kind());
                n += 1;
            }
            Ok(())
        })
        .unwrap();
    println!("{}: {n} parameters with non-zero gradients", cfg.kind());
}

#[test]
fn transformer_every_parameter_gets_a_gradient() {
    check(
        r#"{"kind":"transformer","n_features":5,"d_model":16,"nhead":4,"num_layers":2,"dim_feedforward":32,"pooling":"mean","causal":true}"#,
        8,
        3,
    );
}
#[test]
fn lstm_attention_every_parameter_gets_a_gradient() {
    check(
        r#"{"kind":"lstm_attention","n_features":4,"hidden_size":6,"num_layers":2,"bidirectional":true,"dropout":0.2}"#,
        7,
        3,
    );
}
/// The seed variant (residual, batch norm on batch statistics, dense head) in training mode.
#[test]
fn lstm_attention_variant_every_parameter_gets_a_gradient() {
    check(
        r#"{"kind":"lstm_attention","n_features":4,"hidden_size":6,"num_layers":3,"bidirectional":true,"dropout":0.2,
            "residual":true,"batch_norm":true,"dense_hidden":5,"n_outputs":2}"#,
        7,
        3,
    );
}
#[test]
fn tcn_every_parameter_gets_a_gradient() {
    check(r#"{"kind":"tcn","n_features":3,"channels":[5,5,6],"kernel_size":3,"dropout":0.1}"#, 16, 2);
}
#[test]
fn multitask_every_parameter_gets_a_gradient() {
    check(r#"{"kind":"multitask","n_features":4,"channels":6,"n_blocks":2,"kernel_size":3,"head_hidden":8}"#, 10, 4);
}
