//! `tickgrad run` on the wgpu device (lavapipe on CI) against the same run on the CPU, on a 700-bar slice of the
//! bundled data with one epoch per network: each network's first-epoch training loss (from its checkpoint's
//! `tickgrad.train_info`) must equal the CPU run's to 1e-4 relative with the same seed, and the wgpu run must
//! finish with its report. `--device auto` never picks a software adapter.
#![cfg(feature = "wgpu")]

mod pipeline_support;

use pipeline_support::{csv_slice, scratch, tickgrad};
use std::path::Path;
use tickgrad::pipeline::meta::TRAIN_INFO;

const NETWORKS: [&str; 4] = ["transformer", "lstm_attention", "tcn", "multitask"];

fn first_epoch_loss(dir: &Path, net: &str) -> f64 {
    let path = dir.join("ensemble").join(format!("{net}.safetensors"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).expect("safetensors header");
    let info = meta.metadata().as_ref().and_then(|m| m.get(TRAIN_INFO)).expect("train_info in the checkpoint");
    let v: serde_json::Value = serde_json::from_str(info).unwrap();
    v["epochs"][0]["train_loss"].as_f64().expect("epoch 1 train_loss")
}

#[test]
fn run_on_wgpu_matches_the_cpu_first_epoch() {
    let dir = scratch("run_devices");
    let data = csv_slice(&dir, 700);
    let mut losses = Vec::new();
    for device in ["cpu", "wgpu"] {
        let out = dir.join(device);
        let args = ["run", "--data", data.to_str().unwrap(), "--out-dir", out.to_str().unwrap()];
        let (ok, stdout, stderr) = tickgrad(&[&args[..], &["--epochs", "1", "--device", device]].concat());
        assert!(ok, "run --device {device}:\n{stderr}");
        assert!(stdout.contains("sharpe") && out.join("report.json").exists(), "{device}: no report\n{stdout}");
        if device == "wgpu" {
            assert!(stderr.contains("boosted trees train and predict on the CPU"), "{stderr}");
        }
        losses.push(NETWORKS.map(|n| first_epoch_loss(&out, n)));
    }
    for (i, net) in NETWORKS.iter().enumerate() {
        let (cpu, gpu) = (losses[0][i], losses[1][i]);
        let rel = (gpu - cpu).abs() / cpu.abs();
        println!("{net}: first-epoch loss cpu {cpu:.8} wgpu {gpu:.8} (relative difference {rel:.2e})");
        assert!(rel <= 1e-4, "{net}: first-epoch loss on wgpu {gpu} vs cpu {cpu} ({rel:.2e} relative)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `auto` picks a CUDA device or a hardware adapter, never lavapipe: on a machine whose only adapter is software
/// (CI) it says why and runs on the CPU.
#[test]
fn auto_never_picks_a_software_adapter() {
    let (device, why) = tickgrad::backend::auto_device();
    let software_only =
        tickgrad::backend::wgpu::adapter_names().iter().all(|n| n.contains("Cpu")) && why.contains("no hardware wgpu");
    if software_only && !matches!(device, tickgrad::device::Device::Cuda(_)) {
        assert_eq!(device, tickgrad::device::Device::Cpu, "{why}");
    }
    assert!(!matches!(device, tickgrad::device::Device::Wgpu(_)) || !why.contains("Cpu"), "{device}: {why}");
}
