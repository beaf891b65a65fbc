//! The four models of docs/MODELS.md on `Device::Cuda(0)`: `predict` on the PyTorch fixtures (fixtures/README.md,
//! made by scripts/make_fixtures.py) must match both PyTorch's output and the CPU backend's. Skipped with a printed
//! reason when no CUDA device is present.
#![cfg(feature = "cuda")]

mod common;
mod cuda_common;

use common::{fixtures, model_fixtures, read_tensors, rel_err};
use tickgrad::device::Device;
use tickgrad::io::npy::read_npy;
use tickgrad::models::checkpoint;
use tickgrad::nn::{self, Ctx, Kind, Module};
use tickgrad::tensor::Tensor;

fn check_predict(prefix: &str) {
    if cuda_common::cuda(prefix).is_none() {
        return;
    }
    let names = model_fixtures(prefix);
    assert!(names.len() >= 2, "expected several {prefix} fixtures, found {names:?}");
    for name in names {
        let dir = fixtures();
        let x = read_npy(dir.join(format!("{name}_input.npy"))).unwrap();
        let want = read_npy(dir.join(format!("{name}_expected.npy"))).unwrap();
        let on = |device: Device| -> Vec<f32> {
            let ck = checkpoint::load(dir.join(format!("{name}.safetensors")), device).unwrap();
            let xt = Tensor::from_vec(x.data.clone(), &x.shape, device).unwrap();
            let y = ck.model.predict(&xt).unwrap();
            assert_eq!(y.device(), device, "{name}: prediction stays on {device}");
            assert_eq!(y.shape(), &want.shape[..], "{name}: output shape on {device}");
            y.to_vec().unwrap()
        };
        let (gpu, cpu) = (on(Device::Cuda(0)), on(Device::Cpu));
        let (e_torch, e_cpu) = (rel_err(&gpu, &want.data), rel_err(&gpu, &cpu));
        println!("{name}: cuda predict relative error {e_torch:.2e} vs PyTorch, {e_cpu:.2e} vs cpu");
        assert!(e_torch < 1e-4, "{name}: cuda predict vs PyTorch relative error {e_torch:.3e} ≥ 1e-4");
        assert!(e_cpu < 1e-5, "{name}: cuda predict vs cpu relative error {e_cpu:.3e} ≥ 1e-5");
    }
}

/// One backward of Σ pred·G in eval mode on cuda:0: the input's and every parameter's gradient match PyTorch's.
fn check_grads(prefix: &str) {
    if cuda_common::cuda(prefix).is_none() {
        return;
    }
    let dev = Device::Cuda(0);
    for name in model_fixtures(prefix) {
        let dir = fixtures();
        let mut ck = checkpoint::load(dir.join(format!("{name}.safetensors")), dev).unwrap();
        let (g, _) = read_tensors(&dir.join(format!("{name}_grads.safetensors")));
        let x = read_npy(dir.join(format!("{name}_input.npy"))).unwrap();
        let xt = Tensor::from_vec(x.data, &x.shape, dev).unwrap().requires_grad();
        nn::track_parameters(&mut ck.model).unwrap();
        let pred = ck.model.forward(&xt, &Ctx::eval(), false).unwrap().pred;
        let (gs, gd) = &g["gradout"];
        let gout = Tensor::from_vec(gd.clone(), gs, dev).unwrap();
        let grads = pred.mul(&gout).unwrap().sum_all().unwrap().backward().unwrap();
        let gx = grads.get(&xt).expect("input gradient");
        assert_eq!(gx.device(), dev, "{name}: gradients stay on the device");
        let e = rel_err(&gx.to_vec().unwrap(), &g["grad.input"].1);
        assert!(e < 1e-4, "{name}: cuda input gradient relative error {e:.3e}");
        let mut checked = 0;
        ck.model
            .visit("", &mut |pname, kind, t| {
                if kind != Kind::Param {
                    return Ok(());
                }
                // `log_vars` (multitask) weights the training loss only: the prediction does not depend on it. Every
                // other parameter must have a PyTorch gradient in the fixture, and a non-zero one.
                if pname.ends_with("log_vars") {
                    return Ok(());
                }
                let (_, want) =
                    g.get(&format!("grad.{pname}")).unwrap_or_else(|| panic!("{name}: fixture lacks grad.{pname}"));
                assert!(want.iter().any(|v| *v != 0.0), "{name}: PyTorch's gradient of {pname} is all zero");
                let got = grads.get(t).unwrap_or_else(|| panic!("{name}: no gradient for {pname}")).to_vec()?;
                let e = rel_err(&got, want);
                assert!(e < 1e-4, "{name}: cuda gradient of {pname} relative error {e:.3e}");
                checked += 1;
                Ok(())
            })
            .unwrap();
        println!("{name}: {checked} parameter gradients on cuda match PyTorch");
        assert!(checked > 0, "{name}: no parameter gradients compared");
    }
}

#[test]
fn transformer_gradients_on_cuda() {
    check_grads("transformer");
}
#[test]
fn lstm_attention_gradients_on_cuda() {
    check_grads("lstm_attention");
}
#[test]
fn tcn_gradients_on_cuda() {
    check_grads("tcn");
}
#[test]
fn multitask_gradients_on_cuda() {
    check_grads("multitask");
}

#[test]
fn transformer_predict_on_cuda() {
    check_predict("transformer");
}
#[test]
fn lstm_attention_predict_on_cuda() {
    check_predict("lstm_attention");
}
#[test]
fn tcn_predict_on_cuda() {
    check_predict("tcn");
}
#[test]
fn multitask_predict_on_cuda() {
    check_predict("multitask");
}
