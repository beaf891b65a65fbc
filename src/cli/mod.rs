//! The command line: train, pretrain, meta-train, eval, backtest, predict, stream, features, bench, info, db,
//! monitor.

pub mod backtest;
pub mod bars;
pub mod bench;
pub mod bench_train;
pub mod db;
pub mod eval;
pub mod explain;
pub mod explain_shap;
pub mod features;
pub mod feed_args;
pub mod finetune;
pub mod info;
pub mod meta_train;
pub mod monitor;
pub mod predict;
pub mod pretrain;
pub mod run;
pub mod stream;
pub mod stream_regimes;
pub mod stream_symbols;
pub mod techniques;
pub mod train;

use crate::{Error, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "tickgrad", version, about = "Hand-written kernels and models for trading time series")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train one network on a CSV; the best checkpoint (with scaler and metadata) is written atomically.
    Train(train::TrainArgs),
    /// Warm-start a trained network on recent bars, keeping its scaler and features; writes a new checkpoint.
    Finetune(finetune::FinetuneArgs),
    /// Masked pretraining of a model body on a CSV's training windows; writes the body file `train --init-from`
    /// starts from.
    Pretrain(pretrain::PretrainArgs),
    /// First-order meta-learning (FOMAML or Reptile) over market regimes or months; writes a checkpoint for
    /// `finetune` to adapt.
    MetaTrain(meta_train::MetaTrainArgs),
    /// Score a checkpoint or ensemble on the test part of a CSV; write report.json, returns.csv, report.html.
    Backtest {
        #[command(flatten)]
        args: backtest::EvalArgs,
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Print the backtest's metrics table (model and baselines) without writing files.
    Eval(eval::Args),
    /// The main job: train the small ensemble on a CSV, backtest it out of sample, print the table.
    Run(run::RunArgs),
    /// Run a checkpoint on windows [batch, time, features] from a float32 .npy; write [batch, k] .npy.
    Predict {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// cpu, cuda[:N], wgpu[:N], or auto (a CUDA device, else a wgpu adapter that is a real GPU, else the CPU).
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Time `predict` on random windows of the model's size; ends with `latency_us p50=<x> p99=<y>`. With
    /// `--per-bar`, time streamed bars instead (`serve::StreamPredictor::push`, batch 1); ends with
    /// `per_bar_us p50=<x> p99=<y> max=<z>`.
    Bench {
        #[arg(long)]
        checkpoint: PathBuf,
        /// Windows per call (default 1; with --train 64).
        #[arg(long)]
        batch: Option<usize>,
        #[arg(long, default_value_t = 100)]
        iters: usize,
        #[arg(long)]
        window: Option<usize>,
        /// cpu, cuda[:N], wgpu[:N], or auto (a CUDA device, else a wgpu adapter that is a real GPU, else the CPU).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Time one bar of the streaming predictor (O(1) TCN step or batch-1 window recompute) per sample.
        #[arg(long)]
        per_bar: bool,
        /// With --per-bar: bars timed after the window is full and a short warm-up.
        #[arg(long, default_value_t = 1000)]
        bars: usize,
        /// With --per-bar: threads of the predictor's recompute plan (1: the calling thread, no allocation per
        /// bar; more: its own pool, products split by rows).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Time full training steps instead (forward, loss, backward, clipping, AdamW) on random windows; ends with
        /// `train_windows_per_s=<x>`, after the mean driver calls per step on a GPU device.
        #[arg(long)]
        train: bool,
        /// With --train: steps timed after a short warm-up.
        #[arg(long, default_value_t = 20)]
        steps: usize,
    },
    /// Feed bars one at a time through the streaming engine (optionally trading on paper with a journal and
    /// serving Prometheus metrics); ends with `per_bar_us p50=<x> p99=<y> max=<z>`.
    Stream(stream::StreamArgs),
    /// Attributions (integrated gradients, gradient×input), permutation importance, attention maps and, with
    /// --shap, Shapley values of a checkpoint on the last windows of a bar file, as CSV and PNG heatmaps in DIR.
    Explain(explain::Args),
    /// List the devices and backends this build can use; `--compile-kernels` compiles every CUDA kernel with NVRTC
    /// (no GPU needed) and prints one line per kernel.
    Info {
        #[arg(long)]
        compile_kernels: bool,
        /// Architecture for --compile-kernels (sm_XX).
        #[arg(long, default_value = "sm_90")]
        arch: String,
    },
    /// Compute every feature column of docs/DATA.md from an OHLCV CSV (or a series in the store).
    Features {
        #[command(flatten)]
        bars: bars::BarArgs,
        #[arg(long)]
        out: PathBuf,
    },
    /// The market-data and decision store (SQLite or PostgreSQL): import bars, list series.
    #[command(subcommand)]
    Db(db::DbCmd),
    /// The stream's monitor recomputed from the store: rolling accuracy, Sharpe and calibration of a series'
    /// stored decisions, the degraded flag and decision counts, as text, Prometheus text or JSON.
    Monitor(monitor::MonitorArgs),
}

/// Parse arguments and run; every failure comes back as one `Error` for `main` to print.
pub fn main() -> Result<()> {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let is_help =
                matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion);
            let _ = e.print();
            if is_help {
                return Ok(());
            }
            return Err(Error::Invalid("invalid command line (see above)".into()));
        }
    };
    match cli.cmd {
        Cmd::Train(a) => train::run(&a),
        Cmd::Finetune(a) => finetune::run(&a),
        Cmd::Pretrain(a) => pretrain::run(&a),
        Cmd::MetaTrain(a) => meta_train::run(&a),
        Cmd::Backtest { args, out_dir } => backtest::run(&args, &out_dir),
        Cmd::Eval(a) => eval::run(&a),
        Cmd::Run(a) => run::run(&a),
        Cmd::Predict { checkpoint, input, out, device } => {
            predict::run(&checkpoint, &input, &out, crate::backend::select(&device)?)
        }
        Cmd::Bench { per_bar: true, train: true, .. } => {
            Err(Error::Invalid("bench: --per-bar and --train time different things; give one".into()))
        }
        Cmd::Bench { checkpoint, train: true, batch, steps, window, device, .. } => {
            bench_train::run(&checkpoint, batch.unwrap_or(64), steps, window, crate::backend::select(&device)?)
        }
        Cmd::Bench { checkpoint, per_bar: true, batch, window, device, bars, threads, .. } => {
            let batch = batch.unwrap_or(1);
            if batch != 1 {
                return Err(Error::config("batch", format!("--per-bar streams one series (batch 1), found {batch}")));
            }
            bench::run_per_bar(&checkpoint, bars, window, threads, crate::backend::select(&device)?)
        }
        Cmd::Bench { checkpoint, batch, iters, window, device, .. } => {
            bench::run(&checkpoint, batch.unwrap_or(1), iters, window, crate::backend::select(&device)?)
        }
        Cmd::Features { bars, out } => features::run_from(&bars, &out),
        Cmd::Db(c) => db::run(&c),
        Cmd::Monitor(a) => monitor::run(&a),
        Cmd::Stream(a) => stream::run(&a),
        Cmd::Explain(a) => explain::run(&a),
        Cmd::Info { compile_kernels, arch } => info::run(compile_kernels, &arch),
    }
}
