//! Shared helpers for the pipeline tests: a slice of the bundled BTCUSDT bars, tiny model configs and scratch
//! directories.
#![allow(dead_code)]

use std::path::PathBuf;
use tickgrad::data::{load_csv, Bars, SplitFractions};
use tickgrad::models::ModelConfig;
use tickgrad::pipeline::{Dataset, DatasetSpec};
use tickgrad::train::TrainConfig;

pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/btcusdt_perp_1h_2020.csv");

/// Rows of the bundled file the tests use: enough for the 120-bar warm-up plus a few hundred windows per set.
pub const SLICE_ROWS: usize = 1500;

pub fn bars(rows: usize) -> Bars {
    let (b, _) = load_csv(DATA).expect("bundled data loads");
    b.slice(0..rows).expect("slice")
}

/// A scratch directory unique to this process and `name`, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tickgrad-pipeline-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The first `rows` lines of bars of the bundled CSV (plus its header) as a file of its own.
pub fn csv_slice(dir: &std::path::Path, rows: usize) -> PathBuf {
    let text = std::fs::read_to_string(DATA).expect("bundled data");
    let out: Vec<&str> = text.lines().take(rows + 1).collect();
    let p = dir.join("slice.csv");
    std::fs::write(&p, out.join("\n") + "\n").expect("write slice");
    p
}

pub fn dataset(window: usize, horizon: usize) -> Dataset {
    let spec = DatasetSpec { window, horizon, theta: 0.0008, fractions: SplitFractions::default() };
    Dataset::fit(bars(SLICE_ROWS), &spec).expect("dataset")
}

pub fn tiny(kind: &str, n_features: usize) -> ModelConfig {
    let args = match kind {
        "tcn" => serde_json::json!({"channels": [4, 4], "kernel_size": 3, "dropout": 0.1}),
        "transformer" => serde_json::json!({"d_model": 8, "nhead": 2, "num_layers": 1, "dim_feedforward": 16,
                                            "max_len": 32, "dropout": 0.1}),
        "lstm_attention" => serde_json::json!({"hidden_size": 4, "num_layers": 1, "bidirectional": false,
                                               "dropout": 0.0}),
        "multitask" => serde_json::json!({"channels": 4, "n_blocks": 1, "head_hidden": 8}),
        other => panic!("no tiny config for {other}"),
    };
    let mut v = args;
    v["n_features"] = n_features.into();
    ModelConfig::from_kind_value(kind, v, "tiny test config").expect("tiny config")
}

pub fn train_config(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig { epochs, batch: 32, lr: 3e-3, patience: 2, seed, ..TrainConfig::default() }
}

/// Run the `tickgrad` binary; returns (exit success, stdout, stderr).
pub fn tickgrad(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickgrad")).args(args).output().expect("run tickgrad");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
