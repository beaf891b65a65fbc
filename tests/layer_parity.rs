//! Each layer against PyTorch: `fixtures/layers/*.safetensors`, made by `scripts/make_fixtures.py` (see
//! fixtures/README.md for the torch calls). Each file holds the layer's parameters (`param.NAME`), the input(s),
//! the output, an upstream gradient `gradout` and PyTorch's gradients of Σ output·gradout.

mod common;

use common::{fixtures, read_tensors, rel_err, TensorMap};
use tickgrad::device::Device;
use tickgrad::nn::{self, loss, Ctx, Kind, Module};
use tickgrad::rng::Rng;
use tickgrad::tensor::Tensor;

const TOL: f64 = 1e-4;

fn load(name: &str) -> TensorMap {
    read_tensors(&fixtures().join("layers").join(format!("{name}.safetensors"))).0
}

fn t(m: &TensorMap, key: &str) -> Tensor {
    let (s, d) = m.get(key).unwrap_or_else(|| panic!("fixture tensor {key} missing"));
    Tensor::from_vec(d.clone(), s, Device::Cpu).unwrap()
}

fn close(what: &str, got: &Tensor, want: &[f32]) {
    let e = rel_err(&got.to_vec().unwrap(), want);
    assert!(e < TOL, "{what}: relative error {e:.3e}");
}

/// Replace every parameter and buffer of `m` by the fixture's `param.NAME` (all must exist) and track parameters.
fn set_params(m: &mut dyn Module, f: &TensorMap) {
    m.visit("", &mut |name, kind, ten| {
        let (s, d) = f.get(&format!("param.{name}")).unwrap_or_else(|| panic!("fixture has no param.{name}"));
        assert_eq!(s, ten.shape(), "param.{name} shape");
        *ten = Tensor::from_vec(d.clone(), s, Device::Cpu)?;
        if kind == Kind::Param {
            *ten = ten.requires_grad();
        }
        Ok(())
    })
    .unwrap();
}

/// Backward of Σ out·gradout; compare the input gradient(s) and every parameter gradient.
fn check_grads(name: &str, m: &mut dyn Module, out: &Tensor, inputs: &[(&str, &Tensor)], f: &TensorMap) {
    let grads = out.mul(&t(f, "gradout")).unwrap().sum_all().unwrap().backward().unwrap();
    for (key, x) in inputs {
        close(&format!("{name} grad.{key}"), grads.get(x).expect("input grad"), &f[&format!("grad.{key}")].1);
    }
    let mut n = 0;
    m.visit("", &mut |p, kind, ten| {
        if kind == Kind::Param {
            let want = &f.get(&format!("grad.param.{p}")).unwrap_or_else(|| panic!("no grad.param.{p}")).1;
            close(&format!("{name} grad of {p}"), grads.get(ten).expect("param grad"), want);
            n += 1;
        }
        Ok(())
    })
    .unwrap();
    println!("{name}: output, inputs and {n} parameter gradients match PyTorch");
}

fn input(f: &TensorMap, key: &str) -> Tensor {
    t(f, key).requires_grad()
}

#[test]
fn linear() {
    let f = load("linear");
    let mut l = nn::Linear::new(7, 5, true, &mut Rng::new(0), Device::Cpu).unwrap();
    set_params(&mut l, &f);
    let x = input(&f, "input");
    let y = l.forward(&x).unwrap();
    close("linear output", &y, &f["output"].1);
    check_grads("linear", &mut l, &y, &[("input", &x)], &f);
}

#[test]
fn layer_norm() {
    let f = load("layernorm");
    let mut l = nn::LayerNorm::new(6, 1e-5, Device::Cpu).unwrap();
    set_params(&mut l, &f);
    let x = input(&f, "input");
    let y = l.forward(&x).unwrap();
    close("layernorm output", &y, &f["output"].1);
    check_grads("layernorm", &mut l, &y, &[("input", &x)], &f);
}

#[test]
fn batch_norm_train_and_eval() {
    for (name, train) in [("batchnorm1d_train", true), ("batchnorm1d_eval", false)] {
        let f = load(name);
        let mut l = nn::BatchNorm1d::new(4, Device::Cpu).unwrap();
        set_params(&mut l, &f);
        let x = input(&f, "input");
        let ctx = if train { Ctx::train(0) } else { Ctx::eval() };
        let y = l.forward(&x, &ctx).unwrap();
        close(&format!("{name} output"), &y, &f["output"].1);
        if train {
            let (rm, rv) = l.running_stats();
            close("running_mean after", &rm, &f["running_mean_after"].1);
            close("running_var after", &rv, &f["running_var_after"].1);
        }
        check_grads(name, &mut l, &y, &[("input", &x)], &f);
    }
}

#[test]
fn multi_head_attention_self_causal_and_cross() {
    for (name, causal) in [("mha_self", false), ("mha_self_causal", true)] {
        let f = load(name);
        let mut l = nn::MultiHeadAttention::new(12, 3, &mut Rng::new(0), Device::Cpu).unwrap();
        set_params(&mut l, &f);
        let x = input(&f, "input");
        let (y, w) = l.forward(&x, causal, true).unwrap();
        close(&format!("{name} output"), &y, &f["output"].1);
        close(&format!("{name} weights"), &w.unwrap(), &f["attn_weights"].1);
        check_grads(name, &mut l, &y, &[("input", &x)], &f);
    }
    let f = load("mha_cross");
    let mut l = nn::MultiHeadAttention::new(12, 3, &mut Rng::new(0), Device::Cpu).unwrap();
    set_params(&mut l, &f);
    let (q, kv) = (input(&f, "input"), input(&f, "input2"));
    let (y, w) = l.forward_cross(&q, &kv, false, true).unwrap();
    close("mha_cross output", &y, &f["output"].1);
    close("mha_cross weights", &w.unwrap(), &f["attn_weights"].1);
    check_grads("mha_cross", &mut l, &y, &[("input", &q), ("input2", &kv)], &f);
}

#[test]
fn transformer_encoder_layer_post_norm() {
    for (name, causal) in [("transformer_encoder_layer", false), ("transformer_encoder_layer_causal", true)] {
        let f = load(name);
        let mut l = nn::TransformerEncoderLayer::new(16, 4, 24, 0.0, &mut Rng::new(0), Device::Cpu).unwrap();
        set_params(&mut l, &f);
        let x = input(&f, "input");
        let (y, _) = l.forward(&x, causal, &Ctx::eval(), false).unwrap();
        close(&format!("{name} output"), &y, &f["output"].1);
        check_grads(name, &mut l, &y, &[("input", &x)], &f);
    }
}

#[test]
fn lstm_stacked_bidirectional() {
    let f = load("lstm");
    let mut l = nn::Lstm::new(5, 7, 2, true, 0.0, &mut Rng::new(0), Device::Cpu).unwrap();
    set_params(&mut l, &f);
    let x = input(&f, "input");
    let y = l.forward(&x, &Ctx::eval()).unwrap();
    close("lstm output", &y, &f["output"].1);
    check_grads("lstm", &mut l, &y, &[("input", &x)], &f);
}

#[test]
fn additive_attention() {
    let f = load("additive_attention");
    let mut l = nn::AdditiveAttention::new(10, &mut Rng::new(0), Device::Cpu).unwrap();
    set_params(&mut l, &f);
    let x = input(&f, "input");
    let (y, a) = l.forward(&x).unwrap();
    close("additive attention context", &y, &f["output"].1);
    close("additive attention weights", &a, &f["attention"].1);
    check_grads("additive_attention", &mut l, &y, &[("input", &x)], &f);
}

#[test]
fn causal_convolutions_and_blocks() {
    let f = load("causal_conv1d_dilated");
    let mut l = nn::CausalConv1d::new(3, 4, 3, 2, &mut Rng::new(0), Device::Cpu).unwrap();
    set_params(&mut l, &f);
    let x = input(&f, "input");
    let y = l.forward(&x).unwrap();
    close("causal conv output", &y, &f["output"].1);
    check_grads("causal_conv1d_dilated", &mut l, &y, &[("input", &x)], &f);

    let f = load("causal_conv_bn");
    let mut l = nn::CausalConvBn::new(3, 5, 3, &mut Rng::new(0), Device::Cpu).unwrap();
    set_params(&mut l, &f);
    let x = input(&f, "input");
    let y = l.forward(&x, &Ctx::eval()).unwrap();
    close("causal conv+bn output", &y, &f["output"].1);
    check_grads("causal_conv_bn", &mut l, &y, &[("input", &x)], &f);

    let f = load("temporal_block");
    let mut l = nn::TemporalBlock::new(3, 5, 3, 2, 0.0, &mut Rng::new(0), Device::Cpu).unwrap();
    set_params(&mut l, &f);
    let x = input(&f, "input");
    let y = l.forward(&x, &Ctx::eval()).unwrap();
    close("temporal block output", &y, &f["output"].1);
    check_grads("temporal_block", &mut l, &y, &[("input", &x)], &f);

    let f = load("resblock1d");
    let mut l = nn::ResBlock1d::new(4, 3, &mut Rng::new(0), Device::Cpu).unwrap();
    set_params(&mut l, &f);
    let x = input(&f, "input");
    let y = l.forward(&x, &Ctx::eval()).unwrap();
    close("resblock output", &y, &f["output"].1);
    check_grads("resblock1d", &mut l, &y, &[("input", &x)], &f);
}

#[test]
fn activations_softmax_and_losses() {
    type Act = fn(&Tensor) -> tickgrad::Result<Tensor>;
    let cases: [(&str, Act); 6] = [
        ("relu", |x| x.relu()),
        ("tanh", |x| x.tanh()),
        ("sigmoid", |x| x.sigmoid()),
        ("gelu", |x| x.gelu()),
        ("softmax", |x| x.softmax()),
        ("log_softmax", |x| x.log_softmax()),
    ];
    for (name, op) in cases {
        let f = load(name);
        let x = input(&f, "input");
        let y = op(&x).unwrap();
        close(&format!("{name} output"), &y, &f["output"].1);
        let g = y.mul(&t(&f, "gradout")).unwrap().sum_all().unwrap().backward().unwrap();
        close(&format!("{name} grad"), g.get(&x).unwrap(), &f["grad.input"].1);
    }
    let f = load("cross_entropy");
    let x = input(&f, "input");
    let targets: Vec<usize> = f["target"].1.iter().map(|&v| v as usize).collect();
    let l = loss::cross_entropy(&x, &targets).unwrap();
    close("cross_entropy", &l, &f["output"].1);
    let g = l.scale(f["gradout"].1[0]).unwrap().backward().unwrap();
    close("cross_entropy grad", g.get(&x).unwrap(), &f["grad.input"].1);

    let f = load("mse");
    let x = input(&f, "input");
    let l = loss::mse(&x, &t(&f, "target")).unwrap();
    close("mse", &l, &f["output"].1);
    let g = l.scale(f["gradout"].1[0]).unwrap().backward().unwrap();
    close("mse grad", g.get(&x).unwrap(), &f["grad.input"].1);
}

#[test]
fn sinusoidal_positions() {
    let f = load("sinusoidal");
    let pe = nn::sinusoidal_encoding(10, 8);
    let e = rel_err(&pe, &f["pe"].1);
    assert!(e < 1e-6, "positional encoding relative error {e:.3e}");
}
