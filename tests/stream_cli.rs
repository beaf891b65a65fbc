//! `tickgrad stream` end to end: the answers file has one row per full window and equals `predict` on each
//! window, the last stdout line is the latency summary, raw bars stream through features (with a warning for a
//! checkpoint without scaler metadata), and bad inputs exit non-zero with a message naming the file.

mod trader_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use tickgrad::data::{compute_features, load_csv, model_feature_names, FeatureConfig};
use tickgrad::device::Device;
use tickgrad::io::npy::{read_npy, write_npy};
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::rng::Rng;
use tickgrad::tensor::Tensor;
use trader_support::scrape_until;

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

    // below the receptive field the window is recomputed per bar, here on a pool of 2: the same answers
    let (ok, stdout, stderr) =
        tickgrad(&[&args[..], &["--window", "9", "--threads", "2", "--out", out.to_str().unwrap()]].concat());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("mode=recompute") && stdout.contains("threads=2"), "{stdout}");
    check_latency_line(&stdout);
    let y = read_npy(&out).unwrap();
    let w = 9;
    assert_eq!(y.shape, vec![t - w + 1, 2]);
    for i in 0..t - w + 1 {
        let x = Tensor::from_vec(xs[i * f..(i + w) * f].to_vec(), &[1, w, f], Device::Cpu).unwrap();
        let want = m.predict(&x).unwrap().to_vec().unwrap();
        for (g, e) in y.data[i * 2..i * 2 + 2].iter().zip(&want) {
            assert!((g - e).abs() <= 1e-5 * e.abs().max(1e-2), "threads 2, row {i}: {g} vs {e}");
        }
    }
    let (ok, _, stderr) = tickgrad(&[&args[..], &["--window", "9", "--threads", "0"]].concat());
    assert!(!ok && stderr.contains("threads"), "{stderr}");
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

#[test]
fn stream_trades_journals_serves_metrics_and_resumes() {
    use std::io::BufRead;
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join("spy_1d_2008_2021.csv");
    let n = load_csv(&data).unwrap().0.len();
    let nf = 25;
    let a = scratch("member_a.safetensors");
    let b = scratch("member_b.safetensors");
    save_model(
        &format!(
            r#"{{"kind":"transformer","n_features":{nf},"d_model":8,"nhead":2,"num_layers":1,"dim_feedforward":8}}"#
        ),
        &a,
    );
    save_model(&format!(r#"{{"kind":"multitask","n_features":{nf},"channels":4,"n_blocks":1,"head_hidden":4}}"#), &b);
    let journal = scratch("trade.jsonl");
    let _ = std::fs::remove_file(&journal);
    let args: Vec<String> = [
        "stream",
        "--checkpoint",
        a.to_str().unwrap(),
        "--member",
        b.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--window",
        "16",
        "--journal",
        journal.to_str().unwrap(),
        "--conf-threshold",
        "0.34",
        "--agreement",
        "0.5",
        "--max-position",
        "2",
        "--size",
        "2",
        "--var-limit",
        "6",
        "--var-window",
        "60",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickgrad"))
        .args(&args)
        .args(["--metrics-addr", "127.0.0.1:0", "--serve-secs", "60"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("stderr open").unwrap();
        if let Some(addr) = line.strip_prefix("metrics listening on ") {
            break addr.to_string();
        }
    };
    let body = scrape_until(&addr, &format!("tickgrad_bars_total {n}\n"));
    child.kill().unwrap();
    let _ = child.wait();
    for metric in [
        "tickgrad_rolling_accuracy 0.",
        "tickgrad_degraded ",
        "tickgrad_feature_psi{feature=\"ret_1\"} ",
        "tickgrad_bar_latency_us{quantile=\"0.99\"} ",
    ] {
        assert!(body.contains(metric), "{metric} missing from\n{body}");
    }
    let journaled = std::fs::read_to_string(&journal).unwrap();
    assert!(journaled.lines().any(|l| l.contains("\"type\":\"fill\"")), "no fills");
    assert!(journaled.lines().any(|l| l.contains("\"limit\":\"var\"")), "the VaR limit never bound");

    // a rerun over the same bars resumes from the journal and adds nothing
    let (ok, stdout, stderr) = tickgrad(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{stderr}");
    assert!(stderr.contains("resuming after"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), journaled);
    assert!(stdout.contains("members=2"), "{stdout}");
    check_latency_line(&stdout);
}

#[test]
fn bench_per_bar_times_the_streaming_path() {
    let ck = scratch("bench_tcn.safetensors");
    save_model(r#"{"kind":"tcn","n_features":4,"channels":[6,6],"kernel_size":3}"#, &ck);
    let ck = ck.to_str().unwrap();
    // receptive field 13: the O(1) step from a window of 13 bars, the window recompute below it
    for (window, mode) in [("13", "mode=step"), ("8", "mode=recompute")] {
        let (ok, stdout, stderr) =
            tickgrad(&["bench", "--checkpoint", ck, "--per-bar", "--bars", "40", "--window", window]);
        assert!(ok, "{stderr}");
        let first = stdout.lines().next().unwrap_or_default();
        assert!(first.starts_with("model=tcn device=cpu window=") && first.contains(" bars=40 "), "{stdout}");
        assert!(first.contains(mode) && first.contains(" mean_us="), "window {window}: {stdout}");
        check_latency_line(&stdout);
    }
    let (ok, _, stderr) = tickgrad(&["bench", "--checkpoint", ck, "--per-bar", "--batch", "2"]);
    assert!(!ok && stderr.contains("batch"), "{stderr}");
    let (ok, _, stderr) = tickgrad(&["bench", "--checkpoint", ck, "--per-bar", "--bars", "0"]);
    assert!(!ok && stderr.contains("bars"), "{stderr}");
}
