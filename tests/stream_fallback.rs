//! `tickgrad stream --device wgpu` when the device fails: with `TICKGRAD_GPU_MEMORY_BUDGET` at the device's peak
//! while loading the model, the model loads but its first window's forward runs out of budget. Without `--fallback-cpu`
//! that ends the stream with an error naming the bar, the op and the budget; with it, one warning and answers
//! equal to a CPU run's. A budget below the weights falls back while loading. One test: it measures the device's
//! peak, so nothing else may use the device meanwhile.
#![cfg(feature = "wgpu")]

mod common;

use common::{fixtures, model_fixtures};
use std::path::{Path, PathBuf};
use std::process::Command;
use tickgrad::backend::{memory_stats, reset_memory_peak};
use tickgrad::device::Device;
use tickgrad::io::npy::{read_npy, write_npy};
use tickgrad::models::checkpoint;
use tickgrad::tensor::Tensor;

const WGPU: Device = Device::Wgpu(0);

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickgrad-stream-fallback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `tickgrad stream` with `args` and the budget (if any); success, stderr, the answers (when written).
fn stream(args: &[&str], budget: Option<u64>, out: &Path) -> (bool, String, Option<Vec<f32>>) {
    let _ = std::fs::remove_file(out);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickgrad"));
    cmd.arg("stream").args(args).arg("--out").arg(out);
    match budget {
        Some(b) => cmd.env("TICKGRAD_GPU_MEMORY_BUDGET", b.to_string()),
        None => cmd.env_remove("TICKGRAD_GPU_MEMORY_BUDGET"),
    };
    let o = cmd.output().unwrap();
    let answers = read_npy(out).ok().map(|a| a.data);
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into(), answers)
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: answer count");
    for (i, (g, e)) in got.iter().zip(want).enumerate() {
        assert!((g - e).abs() <= 1e-5 * e.abs().max(1e-2), "{what}: answer {i}: {g} vs cpu {e}");
    }
}

#[test]
fn a_failing_device_ends_the_stream_or_falls_back_to_the_cpu() {
    if let Err(e) = tickgrad::backend::ensure_available(WGPU) {
        panic!("wgpu:0 is needed for these tests (without a GPU: apt-get install mesa-vulkan-drivers): {e}");
    }
    for prefix in ["transformer", "tcn"] {
        let name = &model_fixtures(prefix)[0];
        let ck_path = fixtures().join(format!("{name}.safetensors"));
        let x = read_npy(fixtures().join(format!("{name}_input.npy"))).unwrap();
        let (b, t, f) = (x.shape[0], x.shape[1], x.shape[2]);
        // The fixture's windows one after another: a series of b·t bars, streamed with a window of t.
        let series = scratch(&format!("{name}_series.npy"));
        write_npy(&series, &[b * t, f], &x.data).unwrap();
        // The device's peak while loading (the weights and the loader's transients), then while predicting on one
        // window: a budget of the first lets the stream load the model and fails its first window's forward.
        // Both relative to the bytes in use before (a fresh stream process starts from 0).
        let (load_peak, predict_peak) = {
            reset_memory_peak(WGPU).unwrap();
            let base = memory_stats(WGPU).unwrap().in_use;
            let ck = checkpoint::load(&ck_path, WGPU).unwrap();
            let load_peak = memory_stats(WGPU).unwrap().peak - base;
            let first = Tensor::from_vec(x.data[..t * f].to_vec(), &[1, t, f], WGPU).unwrap();
            ck.model.predict(&first).unwrap().to_vec().unwrap();
            (load_peak, memory_stats(WGPU).unwrap().peak - base)
        };
        println!("{name}: wgpu peak {load_peak} bytes loading, {predict_peak} predicting one window");
        assert!(predict_peak > load_peak, "{name}: a forward that needs no memory beyond the load cannot fail");
        let window = t.to_string();
        let args = |device: &'static str| {
            let mut v = vec!["--checkpoint", ck_path.to_str().unwrap(), "--input", series.to_str().unwrap()];
            v.extend(["--window", window.as_str(), "--device", device]);
            v
        };
        let out = scratch(&format!("{name}_answers.npy"));
        let (ok, err, cpu) = stream(&args("cpu"), None, &out);
        assert!(ok, "{name}: cpu stream failed: {err}");
        let cpu = cpu.expect("cpu answers");
        let (ok, err, gpu) = stream(&args("wgpu"), None, &out);
        assert!(ok, "{name}: wgpu stream without a budget failed: {err}");
        assert_close(&gpu.unwrap(), &cpu, &format!("{name} on wgpu"));

        let budget = load_peak;
        let (ok, err, _) = stream(&args("wgpu"), Some(budget), &out);
        assert!(!ok, "{name}: a stream over budget succeeded");
        let first_window = format!("stream: bar {}:", t - 1);
        for part in [
            first_window.as_str(),
            "out of device memory budget",
            &format!("budget is {budget} bytes"),
            "--fallback-cpu",
        ] {
            assert!(err.contains(part), "{name}: the error lacks {part:?}: {err}");
        }
        assert!(!err.contains("panicked"), "{name}: {err}");

        let mut with_flag = args("wgpu");
        with_flag.push("--fallback-cpu");
        for (budget, at) in [(load_peak, first_window.as_str()), (256, "stream: loading the checkpoint:")] {
            let (ok, err, answers) = stream(&with_flag, Some(budget), &out);
            assert!(ok, "{name}: --fallback-cpu under a budget of {budget} failed: {err}");
            let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: stream:")).collect();
            assert_eq!(warnings.len(), 1, "{name}: one fallback warning expected: {err}");
            assert!(warnings[0].contains(at) && warnings[0].contains("CPU"), "{name}: {}", warnings[0]);
            assert_close(&answers.expect("answers written"), &cpu, &format!("{name} after the fallback"));
        }
    }
}
