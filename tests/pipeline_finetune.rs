//! `tickgrad finetune` warm-starts from a checkpoint: the new checkpoint keeps the scaler, feature list and config
//! byte for byte, its weights move, and a missing checkpoint is an error naming the file, not a panic.

mod pipeline_support;

use pipeline_support::{csv_slice, scratch, tickgrad, train_tiny_tcn, SLICE_ROWS};
use tickgrad::device::Device;
use tickgrad::models::{checkpoint, Model};
use tickgrad::nn::Module;

fn weights(m: &mut Model) -> Vec<f32> {
    let mut all = Vec::new();
    m.visit("", &mut |_, _, t| {
        all.extend(t.to_vec()?);
        Ok(())
    })
    .unwrap();
    all
}

#[test]
fn finetune_keeps_preprocessing_and_changes_weights() {
    let dir = scratch("finetune");
    let data = csv_slice(&dir, SLICE_ROWS);
    let base = dir.join("base.safetensors");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ok, _, err) = train_tiny_tcn(&dir, &data, &base, &["--epochs", "1", "--seed", "1"]);
    assert!(ok, "train failed: {err}");
    let tuned = dir.join("tuned.safetensors");
    let (ok, _, err) = tickgrad(&[
        "finetune",
        "--checkpoint",
        &s(&base),
        "--data",
        &s(&data),
        "--epochs",
        "2",
        "--lr",
        "1e-3",
        "--out",
        &s(&tuned),
    ]);
    assert!(ok, "finetune failed: {err}");
    assert!(err.contains("[finetune] epoch"), "progress lines: {err}");
    let a = checkpoint::load(&base, Device::Cpu).unwrap();
    let b = checkpoint::load(&tuned, Device::Cpu).unwrap();
    for key in ["tickgrad.scaler", "tickgrad.features", "tickgrad.config"] {
        assert_eq!(a.metadata.get(key), b.metadata.get(key), "{key} must be kept");
    }
    for ck in [&a, &b] {
        assert!(ck.metadata.contains_key("tickgrad.drift"), "train and finetune store the training reference");
    }
    let (mut ma, mut mb) = (a.model, b.model);
    let (wa, wb) = (weights(&mut ma), weights(&mut mb));
    assert_eq!(wa.len(), wb.len());
    assert_ne!(wa, wb, "fine-tuning should move the weights");

    let (ok, _, err) = tickgrad(&[
        "finetune",
        "--checkpoint",
        &s(&dir.join("absent.safetensors")),
        "--data",
        &s(&data),
        "--out",
        &s(&tuned),
    ]);
    assert!(!ok && err.contains("absent.safetensors") && !err.contains("panicked"), "{err}");
}
