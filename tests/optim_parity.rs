//! The optimizers against `torch.optim`: `fixtures/optim/*.safetensors`, made by `scripts/make_optim_fixtures.py`
//! (torch 2.15, foreach=False, float32): eight steps of `clip_grad_norm_` + `step()` on three parameters with
//! fixed gradients, clipping binding on odd steps only. Every step's parameters must match PyTorch's to 1e-6
//! relative, on every device (the CPU; wgpu:0, lavapipe on CI; cuda:0 when present, tools/cuda-sim on CI).

mod common;

use common::{fixtures, read_tensors, rel_err, TensorMap};
use tickgrad::device::Device;
use tickgrad::nn::{Kind, Module, Visitor};
use tickgrad::optim::{clip_factor, grad_norm, Adam, Optimizer, Sgd};
use tickgrad::tensor::Tensor;
use tickgrad::Result;

const TOL: f64 = 1e-6;

/// The three parameters of a fixture, as a module.
struct Params(Vec<Tensor>);

impl Module for Params {
    fn visit(&mut self, prefix: &str, f: &mut Visitor) -> Result<()> {
        for (i, t) in self.0.iter_mut().enumerate() {
            f(&format!("{prefix}p{i}"), Kind::Param, t)?;
        }
        Ok(())
    }
}

fn get<'a>(m: &'a TensorMap, key: &str) -> &'a (Vec<usize>, Vec<f32>) {
    m.get(key).unwrap_or_else(|| panic!("fixture tensor {key} missing"))
}

/// The devices the parity runs on. A CUDA device may be absent (printed), unless `TICKGRAD_REQUIRE_CUDA=1`.
fn devices() -> Vec<Device> {
    #[allow(unused_mut)]
    let mut out = vec![Device::Cpu];
    #[cfg(feature = "wgpu")]
    out.push(Device::Wgpu(0));
    #[cfg(feature = "cuda")]
    match tickgrad::backend::cuda::absent() {
        None => out.push(Device::Cuda(0)),
        Some(why) if std::env::var("TICKGRAD_REQUIRE_CUDA").is_ok_and(|v| v == "1") => {
            panic!("TICKGRAD_REQUIRE_CUDA=1 but {why}")
        }
        Some(why) => println!("optim parity: cuda SKIPPED, {why}"),
    }
    out
}

fn run_case(name: &str, device: Device) {
    let path = fixtures().join("optim").join(format!("{name}.safetensors"));
    let (m, meta) = read_tensors(&path);
    let cfg: serde_json::Value = serde_json::from_str(&meta["config"]).expect("config metadata");
    let f = |k: &str| cfg[k].as_f64().unwrap_or_else(|| panic!("{name}: config has no {k}"));
    let (steps, n) = (f("steps") as usize, f("params") as usize);
    let mut model = Params(
        (0..n)
            .map(|i| {
                let (s, d) = get(&m, &format!("p0.{i}"));
                Tensor::from_vec(d.clone(), s, device).unwrap().requires_grad()
            })
            .collect(),
    );
    let mut opt: Box<dyn Optimizer> = match cfg["optimizer"].as_str().unwrap() {
        "sgd" => {
            let mut o = Sgd::new(f("lr") as f32, f("momentum") as f32);
            o.weight_decay = f("weight_decay") as f32;
            Box::new(o)
        }
        kind => {
            let mut o = if kind == "adamw" {
                Adam::adamw(f("lr") as f32, f("weight_decay") as f32)
            } else {
                let mut o = Adam::new(f("lr") as f32);
                o.weight_decay = f("weight_decay") as f32;
                o
            };
            o.betas = (cfg["betas"][0].as_f64().unwrap(), cfg["betas"][1].as_f64().unwrap());
            o.eps = f("eps");
            Box::new(o)
        }
    };
    let mut clipped = 0;
    for s in 1..=steps {
        // loss = Σ_i Σ p_i·G_i has gradient exactly G_i with respect to p_i
        let mut loss: Option<Tensor> = None;
        for (i, p) in model.0.iter().enumerate() {
            let (shape, g) = get(&m, &format!("grad.{s}.{i}"));
            let term = p.mul(&Tensor::from_vec(g.clone(), shape, device).unwrap()).unwrap().sum_all().unwrap();
            loss = Some(match loss {
                Some(l) => l.add(&term).unwrap(),
                None => term,
            });
        }
        let grads = loss.unwrap().backward().unwrap();
        let norm = grad_norm(&mut model, &grads).unwrap();
        clipped += (norm > f("max_norm")) as usize;
        let clip = clip_factor(&mut model, &grads, f("max_norm")).unwrap();
        opt.step(&mut model, &grads, clip.as_ref()).unwrap();
        for (i, p) in model.0.iter().enumerate() {
            let want = &get(&m, &format!("p.{s}.{i}")).1;
            let e = rel_err(&p.to_vec().unwrap(), want);
            assert!(e <= TOL, "{name} on {device}: parameter {i} after step {s}: relative error {e:.3e} > {TOL:e}");
        }
    }
    assert!(clipped > 0 && clipped < steps, "{name}: clipping bound on {clipped} of {steps} steps");
}

#[test]
fn adamw_matches_torch() {
    for d in devices() {
        run_case("adamw", d);
    }
}

#[test]
fn adam_with_l2_matches_torch() {
    for d in devices() {
        run_case("adam_l2", d);
    }
}

#[test]
fn sgd_with_momentum_matches_torch() {
    for d in devices() {
        run_case("sgd_momentum", d);
    }
}

#[test]
fn plain_sgd_matches_torch() {
    for d in devices() {
        run_case("sgd_plain", d);
    }
}
