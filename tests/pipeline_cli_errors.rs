//! Bad command lines end in an error message and a non-zero exit, never a panic.

mod pipeline_support;

use pipeline_support::{csv_slice, scratch, tickgrad, DATA};

fn fails_with(args: &[&str], needle: &str) {
    let (ok, _, err) = tickgrad(args);
    assert!(!ok, "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(err.contains(needle), "{args:?}: expected {needle:?} in the error, got: {err}");
}

#[test]
fn train_rejects_bad_inputs() {
    let dir = scratch("cli-errors");
    let out = dir.join("m.safetensors");
    let out = out.to_str().unwrap();
    let data = csv_slice(&dir, 400);
    let data = data.to_str().unwrap();
    fails_with(&["train", "--data", "/no/such/file.csv", "--model", "tcn", "--out", out], "/no/such/file.csv");
    fails_with(&["train", "--data", DATA, "--model", "resnet", "--out", out], "unknown model \"resnet\"");
    fails_with(&["train", "--data", DATA, "--out", out], "no model kind");

    let bad_json = dir.join("bad.json");
    std::fs::write(&bad_json, "{\"channels\": [4, 4],").unwrap();
    fails_with(
        &["train", "--data", DATA, "--model", "tcn", "--config", bad_json.to_str().unwrap(), "--out", out],
        "not valid JSON",
    );
    let unknown_field = dir.join("unknown.json");
    std::fs::write(&unknown_field, r#"{"channels": [4], "kernel": 3}"#).unwrap();
    fails_with(
        &[
            "train",
            "--data",
            data,
            "--model",
            "tcn",
            "--config",
            unknown_field.to_str().unwrap(),
            "--window",
            "8",
            "--out",
            out,
        ],
        "unknown field `kernel`",
    );
    let conflict = dir.join("conflict.json");
    std::fs::write(&conflict, r#"{"kind": "lstm_attention"}"#).unwrap();
    fails_with(
        &["train", "--data", DATA, "--model", "tcn", "--config", conflict.to_str().unwrap(), "--out", out],
        "--model says",
    );
    let nf = dir.join("nf.json");
    std::fs::write(&nf, r#"{"kind": "tcn", "n_features": 3, "channels": [4]}"#).unwrap();
    fails_with(
        &["train", "--data", data, "--config", nf.to_str().unwrap(), "--window", "8", "--out", out],
        "n_features",
    );
    fails_with(&["train", "--data", DATA, "--model", "tcn", "--epochs", "0", "--out", out], "epochs");
    fails_with(&["train", "--data", data, "--model", "tcn", "--window", "100000", "--out", out], "no window");
    // Too few bars to split after the 120-bar warm-up.
    let short = csv_slice(&dir, 130);
    fails_with(&["train", "--data", short.to_str().unwrap(), "--model", "tcn", "--window", "8", "--out", out], "bars");
    assert!(!std::path::Path::new(out).exists(), "no checkpoint is written by a failed run");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn backtest_and_eval_reject_bad_inputs() {
    let dir = scratch("cli-errors-bt");
    let out_dir = dir.join("r");
    let out_dir = out_dir.to_str().unwrap();
    fails_with(
        &["backtest", "--checkpoint", "/no/such.safetensors", "--data", DATA, "--out-dir", out_dir],
        "/no/such.safetensors",
    );
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint at all").unwrap();
    fails_with(&["eval", "--checkpoint", junk.to_str().unwrap(), "--data", DATA], "not a valid safetensors file");
    let manifest = dir.join("ensemble.json");
    std::fs::write(&manifest, r#"{"format": "something else"}"#).unwrap();
    fails_with(&["eval", "--checkpoint", manifest.to_str().unwrap(), "--data", DATA], "not a valid ensemble manifest");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tcn_a.safetensors");
    fails_with(&["eval", "--checkpoint", fixture, "--data", DATA], "written by `tickgrad train`");
    fails_with(&["run", "--data", "/no/such/file.csv", "--out-dir", out_dir], "/no/such/file.csv");
    fails_with(&["run", "--data", DATA, "--out-dir", out_dir, "--fee-bps=-1"], "fee-bps");
    let _ = std::fs::remove_dir_all(dir);
}
