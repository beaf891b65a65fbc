//! Shared helpers for integration tests: fixture paths and safetensors reading, the PyTorch gradient check of a
//! model fixture on any device, and the training loss the model-level gradient tests differentiate.
#![allow(dead_code)]

use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tickgrad::device::Device;
use tickgrad::io::npy::{read_npy, NpyArray};
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::nn::{self, loss, Ctx, Kind, Module};
use tickgrad::tensor::Tensor;

/// A file of the bundled data/ folder.
pub fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(file)
}

/// Path `name` in a scratch directory of this process for the test file `test` (created; no tempfile crate in
/// dev-dependencies).
pub fn scratch_file(test: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickgrad-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every float32 tensor of a safetensors file as (shape, data), plus its metadata.
/// name → (shape, values).
pub type TensorMap = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

pub fn read_tensors(path: &std::path::Path) -> (TensorMap, BTreeMap<String, String>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            continue;
        }
        let data = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.insert(name, (view.shape().to_vec(), data));
    }
    let (_, meta) = SafeTensors::read_metadata(&bytes).expect("header");
    (out, meta.metadata().clone().unwrap_or_default().into_iter().collect())
}

/// ‖a−b‖/‖b‖.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((*x as f64) - (*y as f64)).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    if a.iter().any(|v| !v.is_finite()) {
        return f64::INFINITY;
    }
    (num / den.max(1e-30)).sqrt()
}

/// Fixture names (`NAME` for each `NAME_expected.npy`) whose name starts with `prefix`.
pub fn model_fixtures(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix("_expected.npy")).map(str::to_string))
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// One backward of Σ pred·G in eval mode on `dev` for every fixture named `prefix…`: the input's and every
/// parameter's gradient stay on the device and match PyTorch's within 1e-4 (relative).
pub fn check_fixture_grads(prefix: &str, dev: Device) {
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
        assert!(e < 1e-4, "{name}: {dev} input gradient relative error {e:.3e}");
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
                assert!(e < 1e-4, "{name}: {dev} gradient of {pname} relative error {e:.3e}");
                checked += 1;
                Ok(())
            })
            .unwrap();
        println!("{name}: {checked} parameter gradients on {dev} match PyTorch");
        assert!(checked > 0, "{name}: no parameter gradients compared");
    }
}

/// The training loss of a model's output `out` [batch, …] on a fixed target: cross-entropy on the classes
/// i mod 3 (transformer), the uncertainty-weighted sum of the multitask heads' losses, else MSE against a sine.
pub fn training_loss(model: &Model, cfg: &ModelConfig, out: &Tensor) -> Tensor {
    let (device, batch) = (out.device(), out.shape()[0]);
    let classes = |logits: &Tensor| loss::cross_entropy(logits, &(0..batch).map(|i| i % 3).collect::<Vec<_>>());
    match model {
        Model::Transformer(_) => classes(out).unwrap(),
        Model::MultiTask(m) => {
            let y = |i: usize| {
                Tensor::from_vec((0..batch).map(|b| (b + i) as f32 * 0.1).collect(), &[batch, 1], device).unwrap()
            };
            let losses = [
                loss::mse(&out.narrow(1, 0, 1).unwrap(), &y(0)).unwrap(),
                classes(&out.narrow(1, 1, 3).unwrap().reshape(&[batch, 3]).unwrap()).unwrap(),
                loss::mse(&out.narrow(1, 4, 1).unwrap(), &y(1)).unwrap(),
                loss::mse(&out.narrow(1, 5, 1).unwrap(), &y(2)).unwrap(),
            ];
            loss::uncertainty_weighted(&losses, &m.log_vars).unwrap()
        }
        _ => {
            let k = cfg.output_width();
            let sine = (0..batch * k).map(|i| (i as f32 * 0.37).sin()).collect();
            loss::mse(out, &Tensor::from_vec(sine, &[batch, k], device).unwrap()).unwrap()
        }
    }
}

/// `predict` of fixture `name`'s checkpoint loaded on `device` for the input x; the output stays on `device`.
pub fn fixture_predict(name: &str, x: &NpyArray, device: Device) -> Tensor {
    let ck = checkpoint::load(fixtures().join(format!("{name}.safetensors")), device).unwrap();
    let xt = Tensor::from_vec(x.data.clone(), &x.shape, device).unwrap();
    let y = ck.model.predict(&xt).unwrap();
    assert_eq!(y.device(), device, "{name}: prediction stays on {device}");
    y
}
