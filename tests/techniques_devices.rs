//! The training techniques on every device: each technique command runs on the wgpu device (lavapipe on CI) and on
//! CUDA (cuda-sim on CI; skipped only when libcuda or a device is absent, which `TICKGRAD_REQUIRE_CUDA=1` turns into
//! a failure) with the same seed as on the CPU, and its first-epoch losses equal the CPU's to 1e-4 relative. The
//! CPU tests of what each technique does are in `tests/train_techniques.rs` and `tests/meta_pretrain.rs`.
#![cfg(any(feature = "wgpu", feature = "cuda"))]

mod pipeline_support;

use pipeline_support::{csv_slice, scratch, tickgrad};
use std::path::Path;
use tickgrad::pipeline::meta::TRAIN_INFO;

/// Whether CUDA can run here: a missing libcuda or device is printed and skips, unless `TICKGRAD_REQUIRE_CUDA=1`.
#[cfg(feature = "cuda")]
fn cuda_ready() -> bool {
    match tickgrad::backend::cuda::absent() {
        None => true,
        Some(why) if std::env::var("TICKGRAD_REQUIRE_CUDA").is_ok_and(|v| v == "1") => {
            panic!("TICKGRAD_REQUIRE_CUDA=1 but {why}")
        }
        Some(why) => {
            println!("techniques on cuda SKIPPED: {why}");
            false
        }
    }
}

/// Epoch `epoch`'s `key` (e.g. train_loss) from a checkpoint's `tickgrad.train_info`.
fn epoch_value(path: &Path, key: &str) -> f64 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).expect("safetensors header");
    let info = meta.metadata().as_ref().and_then(|m| m.get(TRAIN_INFO)).expect("train_info in the checkpoint");
    let v: serde_json::Value = serde_json::from_str(info).unwrap();
    v["epochs"][0][key].as_f64().unwrap_or_else(|| panic!("{}: epoch 1 has no {key}: {v}", path.display()))
}

/// The two losses `pretrain` prints: "masked reconstruction loss on validation A -> B".
fn pretrain_losses(stdout: &str) -> [f64; 2] {
    let tail = stdout.split("on validation ").nth(1).unwrap_or_else(|| panic!("no pretrain losses in {stdout}"));
    let mut it = tail.split_whitespace();
    let a = it.next().and_then(|v| v.parse().ok()).expect("first loss");
    let b = it.nth(1).and_then(|v| v.parse().ok()).expect("second loss");
    [a, b]
}

fn close(what: &str, device: &str, got: f64, want: f64, rel: f64) {
    let d = (got - want).abs() / want.abs().max(1e-12);
    println!("{what}: cpu {want:.8} {device} {got:.8} (relative difference {d:.2e})");
    assert!(got.is_finite() && d <= rel, "{what} on {device}: {got} vs the CPU's {want} ({d:.2e} relative)");
}

/// One technique command: a name, the verb, its flags, and whether cuda-sim runs it too (it emulates every GPU
/// thread with an OS thread, so the CUDA check keeps to the techniques whose device work differs from plain
/// training: the FGSM input gradient and sign step, Reptile's inner loops and weight moves, and the masked
/// reconstruction; curriculum and LR schedules only reorder windows and change a host-side scalar, and FOMAML's
/// inner loop is Reptile's).
type Row = (&'static str, &'static str, &'static [&'static str], bool);

const ROWS: [Row; 6] = [
    ("fgsm", "train", &["--epochs", "1", "--adversarial", "fgsm", "--epsilon", "0.05"], true),
    // Epoch 1 is the first stage: the calmest half of the windows.
    ("curriculum", "train", &["--epochs", "2", "--patience", "2", "--curriculum", "volatility:2"], false),
    ("cosine", "train", &["--epochs", "1", "--lr-schedule", "cosine", "--warmup", "10"], false),
    ("reptile", "meta-train", &["--epochs", "1", "--algo", "reptile", "--tasks", "regime", "--inner-steps", "2"], true),
    ("fomaml", "meta-train", &["--epochs", "1", "--algo", "fomaml", "--tasks", "regime", "--inner-steps", "2"], false),
    ("pretrain", "pretrain", &["--epochs", "1", "--mask-ratio", "0.15"], true),
];

/// The value a row is compared on: the first epoch's loss, or pretrain's printed validation losses.
fn outcome(cmd: &str, out: &Path, stdout: &str) -> Vec<f64> {
    match cmd {
        "train" => vec![epoch_value(out, "train_loss")],
        "meta-train" => vec![epoch_value(out, "val_loss")],
        _ => pretrain_losses(stdout).to_vec(),
    }
}

/// Runs the rows on `device` and on the CPU over the first `rows` bars of the bundled data and compares them.
fn compare_with_cpu(device: &str, rows: usize, all_rows: bool) {
    let dir = scratch(&format!("techniques-{device}"));
    let data = csv_slice(&dir, rows);
    let cfg = dir.join("tcn.json");
    std::fs::write(&cfg, r#"{"channels": [8, 8], "kernel_size": 3, "dropout": 0.0}"#).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let run = |cmd: &str, device: &str, out: &Path, extra: &[&str]| -> String {
        let mut args: Vec<String> =
            [cmd, "--data", &s(&data), "--model", "tcn", "--config", &s(&cfg), "--window", "24"]
                .iter()
                .chain(&["--seed", "5", "--device", device, "--out", &s(out)])
                .map(|x| x.to_string())
                .collect();
        args.extend(extra.iter().map(|x| x.to_string()));
        let (ok, stdout, stderr) = tickgrad(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(ok, "{cmd} {extra:?} on {device} failed:\n{stderr}");
        stdout
    };
    let mut compared = 0;
    for (name, cmd, extra, on_sim) in ROWS {
        if !all_rows && !on_sim {
            continue;
        }
        let [want, got] = ["cpu", device].map(|d| {
            let out = dir.join(format!("{name}-{d}.safetensors"));
            outcome(cmd, &out, &run(cmd, d, &out, extra))
        });
        for (g, w) in got.iter().zip(&want) {
            if cmd == "pretrain" {
                // Printed with 5 decimals: equal to that precision.
                assert!((g - w).abs() <= 1.5e-5, "pretrain on {device}: losses {got:?} vs the CPU's {want:?}");
            } else {
                close(&format!("{name} epoch 1 loss"), device, *g, *w, 1e-4);
            }
        }
        compared += 1;
    }
    assert!(compared >= 3, "{device}: only {compared} techniques compared");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "wgpu")]
#[test]
fn every_technique_runs_on_wgpu_as_on_the_cpu() {
    compare_with_cpu("wgpu", 700, true);
}

#[cfg(feature = "cuda")]
#[test]
fn the_device_side_techniques_run_on_cuda_as_on_the_cpu() {
    if cuda_ready() {
        compare_with_cpu("cuda", 360, false);
    }
}
