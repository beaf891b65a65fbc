//! Shared helpers for the pipeline tests: a slice of the bundled BTCUSDT bars, tiny model configs, scratch
//! directories and the `tickgrad` commands they run again and again (a tiny TCN's `train`, `backtest`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use tickgrad::data::{load_csv, Bars, SplitFractions, WindowSampler};
use tickgrad::device::Device;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::pipeline::{Dataset, DatasetSpec, TargetScale};
use tickgrad::train::{self, Examples, Fingerprint, Objective, ResumeFile, TrainConfig, TrainOutcome, TrainState};

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

/// The training and validation examples of `ds`, targets scaled as training scales them.
pub fn examples(ds: &Dataset) -> (Examples, Examples) {
    let scale = TargetScale::fit(ds).unwrap();
    (scale.examples(ds, ds.split.train.clone()).unwrap(), scale.examples(ds, ds.split.val.clone()).unwrap())
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

/// A path as a command-line argument (the scratch paths are UTF-8).
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// `tickgrad train` of a tiny TCN (channels [4, 4], no dropout; its config written to `dir`/tcn.json) on `data`
/// with window 16, saved at `out`; `extra` adds flags (epochs, batch, seed …).
pub fn train_tiny_tcn(dir: &Path, data: &Path, out: &Path, extra: &[&str]) -> (bool, String, String) {
    let cfg = dir.join("tcn.json");
    std::fs::write(&cfg, r#"{"channels": [4, 4], "dropout": 0.0}"#).expect("write tcn.json");
    let mut args = vec!["train", "--data", arg(data), "--model", "tcn", "--config", arg(&cfg), "--window", "16"];
    args.extend(extra);
    args.extend(["--out", arg(out)]);
    tickgrad(&args)
}

/// `tickgrad backtest` of `checkpoint` on `data`, the report written to `out_dir`; `extra` adds flags.
pub fn backtest(checkpoint: &Path, data: &Path, out_dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["backtest", "--checkpoint", arg(checkpoint), "--data", arg(data), "--out-dir", arg(out_dir)];
    args.extend(extra);
    tickgrad(&args)
}

/// One in-process training set-up of the resume tests: everything but the model and where it starts.
pub struct Run<'a> {
    pub objective: Objective,
    pub sampler: &'a WindowSampler<'a>,
    pub train: &'a Examples,
    pub val: &'a Examples,
    pub tc: &'a TrainConfig,
}

/// What `Run::train` calls back after each epoch (with its state) and on each new best model.
pub type OnEpoch<'c> = &'c mut dyn FnMut(&TrainState) -> tickgrad::Result<()>;
pub type OnBest<'c> = &'c mut dyn FnMut(&mut Model, &TrainOutcome) -> tickgrad::Result<()>;

impl Run<'_> {
    pub fn fingerprint(&self, model: &Model) -> Fingerprint {
        train::resume::fingerprint(model, self.objective, self.sampler, self.train, self.val, self.tc).unwrap()
    }

    /// `train_resumable` of `model` from `start` (none: from scratch) to the end.
    pub fn train(
        &self,
        model: &mut Model,
        start: Option<TrainState>,
        on_epoch: OnEpoch,
        on_best: OnBest,
    ) -> TrainOutcome {
        let (objective, sampler, tc) = (self.objective, self.sampler, self.tc);
        train::train_resumable(
            model,
            objective,
            sampler,
            self.train,
            self.val,
            tc,
            start,
            on_epoch,
            on_best,
            &mut |_| {},
        )
        .unwrap()
    }

    /// The uninterrupted run of `model` from scratch, keeping the state saved after each epoch (with the
    /// fingerprint `fp`) as bytes.
    pub fn full(&self, model: &mut Model, fp: &Fingerprint) -> (TrainOutcome, Vec<Vec<u8>>) {
        let mut states = Vec::new();
        let mut on_epoch = |s: &TrainState| {
            states.push(s.to_bytes(fp)?);
            Ok(())
        };
        let o = self.train(model, None, &mut on_epoch, &mut |_, _| Ok(()));
        (o, states)
    }

    /// A model of `cfg` initialised from another seed than the run's (so every weight must come from the state),
    /// resumed from the saved state `bytes` (checked against `fp`) and trained to the end; also returns the epoch
    /// the state was saved after.
    pub fn resume(
        &self,
        cfg: &ModelConfig,
        bytes: &[u8],
        fp: &Fingerprint,
        on_best: OnBest,
    ) -> (Model, TrainOutcome, usize) {
        let mut resumed = Model::new(cfg, self.tc.seed + 1, Device::Cpu).unwrap();
        let file = ResumeFile::parse(bytes, "state").unwrap();
        file.fingerprint.check(fp, "state").unwrap();
        let state = file.into_state(&mut resumed, self.train.len(), self.tc).unwrap();
        let epoch = state.epoch;
        let o = self.train(&mut resumed, Some(state), &mut |_| Ok(()), on_best);
        (resumed, o, epoch)
    }
}
