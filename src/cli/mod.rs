//! The command line: train, eval, backtest, predict, stream, features, bench, info.

pub mod bench;
pub mod explain;
pub mod features;
pub mod predict;
pub mod stream;

use crate::device::Device;
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
    /// Run a checkpoint on windows [batch, time, features] from a float32 .npy; write [batch, k] .npy.
    Predict {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Time `predict` on random windows of the model's size; ends with `latency_us p50=<x> p99=<y>`.
    Bench {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long, default_value_t = 1)]
        batch: usize,
        #[arg(long, default_value_t = 100)]
        iters: usize,
        #[arg(long)]
        window: Option<usize>,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Feed a series bar by bar through the streaming engine; ends with `per_bar_us p50=<x> p99=<y> max=<z>`.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["input", "data"])))]
    Stream {
        #[arg(long)]
        checkpoint: PathBuf,
        /// Model inputs [bars, features] as float32 .npy (already scaled).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Raw OHLCV bars as CSV: features computed per bar, then the checkpoint's feature list and scaler.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Bars per window (default: the checkpoint's training window, else the model's default).
        #[arg(long)]
        window: Option<usize>,
        /// Answers [bars − window + 1, k] as float32 .npy; row i is the answer after bar window − 1 + i.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Attributions (integrated gradients, gradient×input), permutation importance and attention maps of a
    /// checkpoint on the last windows of a bar file, as CSV and PNG heatmaps in DIR.
    Explain {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out_dir: PathBuf,
        /// Bars per window (default: the checkpoint's training window, else the model's default).
        #[arg(long)]
        window: Option<usize>,
        /// Windows explained: the last N labelled ones.
        #[arg(long, default_value_t = 16)]
        n: usize,
        /// Windows scored for permutation importance: the last VAL labelled ones.
        #[arg(long, default_value_t = 128)]
        val: usize,
        /// Riemann steps of integrated gradients.
        #[arg(long, default_value_t = 32)]
        steps: usize,
        /// Output column to attribute.
        #[arg(long, default_value_t = 0)]
        target: usize,
        /// Integrated-gradients baseline: `zeros` (the training mean, for z-scored inputs) or `mean` (the file's).
        #[arg(long, default_value = "zeros")]
        baseline: String,
        /// Label horizon in bars (validation targets).
        #[arg(long, default_value_t = 1)]
        horizon: usize,
        /// Hold band of the direction labels, in log-return units.
        #[arg(long, default_value_t = 0.0)]
        theta: f64,
        /// Shuffles per feature.
        #[arg(long, default_value_t = 2)]
        repeats: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Compute every feature column of DATA.md from an OHLCV CSV.
    Features {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
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
        Cmd::Predict { checkpoint, input, out, device } => {
            predict::run(&checkpoint, &input, &out, Device::parse(&device)?)
        }
        Cmd::Bench { checkpoint, batch, iters, window, device } => {
            bench::run(&checkpoint, batch, iters, window, Device::parse(&device)?)
        }
        Cmd::Features { data, out } => features::run(&data, &out),
        Cmd::Explain {
            checkpoint,
            data,
            out_dir,
            window,
            n,
            val,
            steps,
            target,
            baseline,
            horizon,
            theta,
            repeats,
            seed,
            device,
        } => explain::run(&explain::Args {
            checkpoint,
            data,
            out_dir,
            window,
            n,
            val,
            steps,
            target,
            baseline,
            horizon,
            theta,
            repeats,
            seed,
            device: Device::parse(&device)?,
        }),
        Cmd::Stream { checkpoint, input, data, window, out, device } => {
            let source = match (input, data) {
                (Some(i), None) => stream::Source::Npy(i),
                (None, Some(d)) => stream::Source::Csv(d),
                _ => return Err(Error::Invalid("stream: give exactly one of --input and --data".into())),
            };
            stream::run(&stream::Args { checkpoint, source, window, out, device: Device::parse(&device)? })
        }
    }
}
