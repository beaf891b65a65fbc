//! The four models of docs/MODELS.md on `Device::Cuda(0)`: `predict` on the PyTorch fixtures (fixtures/README.md,
//! made by scripts/make_fixtures.py) must match both PyTorch's output and the CPU backend's. Skipped with a printed
//! reason when no CUDA device is present.
#![cfg(feature = "cuda")]

mod common;
mod cuda_common;

use common::{check_fixture_grads, fixture_predict, fixtures, model_fixtures, rel_err};
use tickgrad::device::Device;
use tickgrad::io::npy::read_npy;

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
            let y = fixture_predict(&name, &x, device);
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
    check_fixture_grads(prefix, Device::Cuda(0));
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
