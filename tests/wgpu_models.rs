//! The four models on the wgpu device against the CPU: `predict` on every PyTorch fixture (in-process and through
//! `tickgrad predict --device wgpu`), the eval-mode gradients of the fixtures, and short AdamW training runs
//! (dropout and batch statistics included) whose losses must match the CPU's step by step.
#![cfg(feature = "wgpu")]

mod common;

use common::{fixture_predict, fixtures, model_fixtures, rel_err};
use std::process::Command;
use tickgrad::device::Device;
use tickgrad::io::npy::read_npy;
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::nn::{self, Ctx, Kind, Module};
use tickgrad::optim::{Adam, Optimizer};
use tickgrad::tensor::Tensor;

const WGPU: Device = Device::Wgpu(0);
const PREFIXES: [&str; 4] = ["transformer", "lstm_attention", "tcn", "multitask"];

fn require_wgpu() {
    if let Err(e) = tickgrad::backend::ensure_available(WGPU) {
        panic!("wgpu:0 is needed for these tests (without a GPU: apt-get install mesa-vulkan-drivers): {e}");
    }
}

#[test]
fn predict_matches_cpu_and_pytorch_on_every_fixture() {
    require_wgpu();
    for prefix in PREFIXES {
        let names = model_fixtures(prefix);
        assert!(names.len() >= 2, "expected several {prefix} fixtures, found {names:?}");
        for name in names {
            let dir = fixtures();
            let x = read_npy(dir.join(format!("{name}_input.npy"))).unwrap();
            let want = read_npy(dir.join(format!("{name}_expected.npy"))).unwrap();
            let mut outs = Vec::new();
            for device in [Device::Cpu, WGPU] {
                outs.push(fixture_predict(&name, &x, device).to_vec().unwrap());
            }
            let (cpu, gpu) = (&outs[0], &outs[1]);
            let e = rel_err(gpu, cpu);
            println!("{name}: wgpu vs cpu predict relative error {e:.2e}");
            assert!(e < 1e-4, "{name}: wgpu predict differs from cpu by {e:.3e}");
            let e = rel_err(gpu, &want.data);
            assert!(e < 1e-4, "{name}: wgpu predict differs from PyTorch by {e:.3e}");
        }
    }
}

#[test]
fn cli_predict_on_wgpu_matches_cpu() {
    require_wgpu();
    let tmp = std::env::temp_dir().join(format!("tickgrad-wgpu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for prefix in PREFIXES {
        let name = &model_fixtures(prefix)[0];
        let dir = fixtures();
        let mut outs = Vec::new();
        for device in ["cpu", "wgpu"] {
            let out = tmp.join(format!("{name}_{device}.npy"));
            let status = Command::new(env!("CARGO_BIN_EXE_tickgrad"))
                .args(["predict", "--device", device, "--checkpoint"])
                .arg(dir.join(format!("{name}.safetensors")))
                .arg("--input")
                .arg(dir.join(format!("{name}_input.npy")))
                .arg("--out")
                .arg(&out)
                .status()
                .unwrap();
            assert!(status.success(), "tickgrad predict --device {device} on {name} failed: {status}");
            outs.push(read_npy(&out).unwrap());
        }
        assert_eq!(outs[0].shape, outs[1].shape, "{name}: output shapes");
        let e = rel_err(&outs[1].data, &outs[0].data);
        println!("{name}: CLI wgpu vs cpu relative error {e:.2e}");
        assert!(e < 1e-4, "{name}: `predict --device wgpu` differs from cpu by {e:.3e}");
    }
    std::fs::remove_dir_all(&tmp).ok();
}

/// Gradients of Σ pred·G in eval mode, for the input and every parameter: wgpu against the CPU.
#[test]
fn fixture_gradients_match_cpu() {
    require_wgpu();
    for prefix in PREFIXES {
        let name = &model_fixtures(prefix)[0];
        let dir = fixtures();
        let x = read_npy(dir.join(format!("{name}_input.npy"))).unwrap();
        let mut per_device = Vec::new();
        for device in [Device::Cpu, WGPU] {
            let mut ck = checkpoint::load(dir.join(format!("{name}.safetensors")), device).unwrap();
            nn::track_parameters(&mut ck.model).unwrap();
            let xt = Tensor::from_vec(x.data.clone(), &x.shape, device).unwrap().requires_grad();
            let pred = ck.model.forward(&xt, &Ctx::eval(), false).unwrap().pred;
            let g: Vec<f32> = (0..pred.numel()).map(|i| ((i as f32) * 0.7).sin()).collect();
            let gout = Tensor::from_vec(g, pred.shape(), device).unwrap();
            let grads = pred.mul(&gout).unwrap().sum_all().unwrap().backward().unwrap();
            let mut all = vec![("input".to_string(), grads.get(&xt).expect("input gradient").to_vec().unwrap())];
            ck.model
                .visit("", &mut |pname, kind, t| {
                    // `log_vars` (multitask) weights the training loss only: the prediction does not depend on it.
                    if kind == Kind::Param && !pname.ends_with("log_vars") {
                        // Every parameter must get a gradient on every device: a missing one is a failure, not a skip.
                        let gt = grads.get(t).unwrap_or_else(|| panic!("{name} on {device}: no gradient for {pname}"));
                        let gv = gt.to_vec()?;
                        assert!(gv.iter().all(|v| v.is_finite()), "{name} on {device}: non-finite gradient of {pname}");
                        assert!(gv.iter().any(|&v| v != 0.0), "{name} on {device}: all-zero gradient of {pname}");
                        all.push((pname.to_string(), gv));
                    }
                    Ok(())
                })
                .unwrap();
            per_device.push(all);
        }
        assert_eq!(per_device[0].len(), per_device[1].len(), "{name}: same parameters get gradients");
        for ((pname, c), (_, g)) in per_device[0].iter().zip(&per_device[1]) {
            let e = rel_err(g, c);
            assert!(e < 1e-4, "{name}: gradient of {pname}: wgpu vs cpu relative error {e:.3e}");
        }
        println!("{name}: {} gradients match", per_device[0].len());
    }
}

/// The training loss of `model` on a fixed batch (the losses of tests/model_gradients.rs).
fn training_loss(model: &Model, cfg: &ModelConfig, x: &Tensor, ctx: &Ctx) -> Tensor {
    let out = model.forward(x, ctx, false).unwrap().pred;
    common::training_loss(model, cfg, &out)
}

/// Three AdamW steps in training mode (dropout on, batch statistics) from the same seed on both devices.
fn losses(cfg_json: &str, window: usize, batch: usize, device: Device) -> Vec<f32> {
    let cfg = ModelConfig::from_json(cfg_json, "test").unwrap();
    let mut model = Model::new(&cfg, 3, device).unwrap();
    nn::track_parameters(&mut model).unwrap();
    let nf = cfg.n_features();
    let xs: Vec<f32> = (0..batch * window * nf).map(|i| ((i as f32) * 0.61).sin()).collect();
    let x = Tensor::from_vec(xs, &[batch, window, nf], device).unwrap();
    let mut opt = Adam::adamw(1e-2, 1e-2);
    let mut out = Vec::new();
    for step in 0..3 {
        let l = training_loss(&model, &cfg, &x, &Ctx::train(100 + step));
        out.push(l.item().unwrap());
        let grads = l.backward().unwrap();
        opt.step(&mut model, &grads, None).unwrap();
    }
    out
}

fn check_training(cfg_json: &str, window: usize, batch: usize) {
    require_wgpu();
    let cpu = losses(cfg_json, window, batch, Device::Cpu);
    let gpu = losses(cfg_json, window, batch, WGPU);
    println!("{cfg_json}\n  cpu losses {cpu:?}\n  wgpu losses {gpu:?}");
    for (step, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
        assert!((g - c).abs() <= 1e-3 * c.abs().max(1e-3), "step {step}: wgpu loss {g} vs cpu {c}");
    }
    assert!(cpu[2] != cpu[0], "the optimizer must change the loss");
}

#[test]
fn transformer_trains_like_cpu() {
    check_training(
        r#"{"kind":"transformer","n_features":5,"d_model":16,"nhead":4,"num_layers":2,"dim_feedforward":32,"pooling":"mean","causal":true,"dropout":0.1}"#,
        8,
        3,
    );
}

#[test]
fn lstm_attention_trains_like_cpu() {
    check_training(
        r#"{"kind":"lstm_attention","n_features":4,"hidden_size":6,"num_layers":2,"bidirectional":true,"dropout":0.2}"#,
        7,
        3,
    );
}

#[test]
fn tcn_trains_like_cpu() {
    check_training(r#"{"kind":"tcn","n_features":3,"channels":[5,5,6],"kernel_size":3,"dropout":0.1}"#, 16, 2);
}

#[test]
fn multitask_trains_like_cpu() {
    check_training(
        r#"{"kind":"multitask","n_features":4,"channels":6,"n_blocks":2,"kernel_size":3,"head_hidden":8}"#,
        10,
        4,
    );
}
