//! `tickgrad stream` end to end: the answers file has one row per full window and equals `predict` on each
//! window, the last stdout line is the latency summary, raw bars stream through features (with a warning for a
//! checkpoint without scaler metadata), and bad inputs exit non-zero with a message naming the file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use tickgrad::data::{compute_features, load_csv, model_feature_names, FeatureConfig};
use tickgrad::device::Device;
use tickgrad::io::npy::{read_npy, write_npy};
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::rng::Rng;
use tickgrad::tensor::Tensor;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickgrad-stream-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn tickgrad(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickgrad")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn save_model(json: &str, path: &PathBuf) -> Model {
    let cfg = ModelConfig::from_json(json, "test").unwrap();
    let mut m = Model::new(&cfg, 11, Device::Cpu).unwrap();
    checkpoint::save(path, &mut m, &BTreeMap::new()).unwrap();
    m
}

/// `per_bar_us p50=<x> p99=<y> max=<z>` with finite, ordered numbers.
fn check_latency_line(stdout: &str) {
    let last = stdout.lines().last().expect("some stdout");
    let nums: Vec<f64> = last
        .strip_prefix("per_bar_us ")
        .unwrap_or_else(|| panic!("last line {last:?}"))
        .split(' ')
        .zip(["p50=", "p99=", "max="])
        .map(|(kv, k)| kv.strip_prefix(k).unwrap_or_else(|| panic!("{kv:?} in {last:?}")).parse().unwrap())
        .collect();
    assert_eq!(nums.len(), 3, "{last}");
    assert!(nums[0] <= nums[1] && nums[1] <= nums[2] && nums[0] >= 0.0, "{last}");
}

#[test]
fn stream_npy_writes_one_answer_per_window() {
    let ck = scratch("tcn.safetensors");
    let m = save_model(r#"{"kind":"tcn","n_features":4,"channels":[6,6],"kernel_size":3,"n_outputs":2}"#, &ck);
    let (t, f, w) = (50, 4, 13); // receptive field 1 + 2·2·3 = 13: the O(1) path
    let mut rng = Rng::new(4);
    let xs: Vec<f32> = (0..t * f).map(|_| rng.normal() as f32).collect();
    let input = scratch("series.npy");
    write_npy(&input, &[t, f], &xs).unwrap();
    let out = scratch("y.npy");
    let args = ["stream", "--checkpoint", ck.to_str().unwrap(), "--input", input.to_str().unwrap()];
    let (ok, stdout, stderr) = tickgrad(&[&args[..], &["--window", "13", "--out", out.to_str().unwrap()]].concat());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("mode=step"), "{stdout}");
    check_latency_line(&stdout);
    let y = read_npy(&out).unwrap();
    assert_eq!(y.shape, vec![t - w + 1, 2]);
    for i in 0..t - w + 1 {
        let x = Tensor::from_vec(xs[i * f..(i + w) * f].to_vec(), &[1, w, f], Device::Cpu).unwrap();
        let want = m.predict(&x).unwrap().to_vec().unwrap();
        for (g, e) in y.data[i * 2..i * 2 + 2].iter().zip(&want) {
            assert!((g - e).abs() <= 1e-5 * e.abs().max(1e-2), "row {i}: {g} vs {e}");
        }
    }

    // wrong width and a too-short series are errors naming the file
    let bad = scratch("bad.npy");
    write_npy(&bad, &[10, 3], &xs[..30]).unwrap();
    let (ok, _, stderr) = tickgrad(&["stream", "--checkpoint", ck.to_str().unwrap(), "--input", bad.to_str().unwrap()]);
    assert!(!ok && stderr.contains("bad.npy") && stderr.contains("expects 4"), "{stderr}");
    let (ok, _, stderr) = tickgrad(&[&args[..], &["--window", "60"]].concat());
    assert!(!ok && stderr.contains("fewer than the window"), "{stderr}");
}

#[test]
fn stream_csv_runs_features_per_bar() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join("spy_1d_2008_2021.csv");
    let frame = compute_features(&load_csv(&data).unwrap().0, &FeatureConfig::default()).unwrap();
    let nf = model_feature_names(&frame).len();
    let ck = scratch("lstm.safetensors");
    save_model(&format!(r#"{{"kind":"lstm_attention","n_features":{nf},"hidden_size":4,"num_layers":1}}"#), &ck);
    let out = scratch("y_csv.npy");
    let (ok, stdout, stderr) = tickgrad(&[
        "stream",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--window",
        "16",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("warning: checkpoint has no `tickgrad.features`"), "{stderr}");
    check_latency_line(&stdout);
    let y = read_npy(&out).unwrap();
    assert_eq!(y.shape, vec![frame.len() - 15, 1]);
    assert!(y.data.iter().all(|v| v.is_finite()));
}
