//! `tickgrad run`: the main job. Trains the small ensemble of `pipeline::EnsembleRecipe::small` (four networks
//! and the boosted trees) on a CSV, writes it to `OUT/ensemble/`, reloads it from disk and backtests it on the
//! test part of the same file, writing `OUT/report.json`, `OUT/returns.csv`, `OUT/report.html` and printing the
//! metrics table with the baselines.

use super::backtest::{backtest_file, headline, EvalArgs};
use super::techniques::TechniqueArgs;
use super::train::{data_identity, CostArgs, Progress};
use crate::data::load_csv;
use crate::device::Device;
use crate::eval::{format_table, write_report};
use crate::io::atomic::remove_stale_temps;
use crate::pipeline::backtest::{REFIT_EPOCHS, REFIT_LR};
use crate::pipeline::ensemble::MANIFEST_NAME;
use crate::pipeline::{train_ensemble_resumable, BacktestPredictor, EnsembleRecipe, ResumeOptions};
use crate::train::TrainConfig;
use crate::Result;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[arg(long, default_value = "data/btcusdt_perp_1h_2020.csv")]
    pub data: PathBuf,
    #[arg(long, default_value = "out")]
    pub out_dir: PathBuf,
    /// Most epochs per network; early stopping (patience 2) usually ends each one by epoch 5.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training techniques of every network's initial training (walk-forward refits stay plain warm starts).
    #[command(flatten)]
    pub techniques: TechniqueArgs,
    /// Label horizon in bars.
    #[arg(long, default_value_t = 1)]
    pub horizon: usize,
    #[command(flatten)]
    pub costs: CostArgs,
    /// Walk forward: refit every model every `--retrain-every` test bars on all samples before the block (the
    /// boosted trees from scratch, the networks warm-started for `--refit-epochs`).
    #[arg(long)]
    pub walk_forward: bool,
    #[arg(long, default_value_t = 168)]
    pub retrain_every: usize,
    #[arg(long, default_value_t = REFIT_EPOCHS)]
    pub refit_epochs: usize,
    #[arg(long, default_value_t = REFIT_LR)]
    pub refit_lr: f32,
    /// Where the networks train and predict: cpu, cuda[:N], wgpu[:N], or auto (a CUDA device, else a wgpu adapter
    /// that is a real GPU, else the CPU). The boosted trees always run on the CPU.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Continue a killed run in the same `--out-dir`: networks already trained are kept, the one in progress
    /// continues after its last completed epoch, then the rest runs as usual (same arguments and data needed).
    #[arg(long)]
    pub resume: bool,
}

pub fn run(args: &RunArgs) -> Result<()> {
    let started = Instant::now();
    let theta = args.costs.costs().round_trip_theta()?;
    let device = crate::backend::select(&args.device)?;
    if device != Device::Cpu {
        eprintln!("networks on {device}; the boosted trees train and predict on the CPU");
    }
    let tc = args.techniques.apply(TrainConfig {
        device,
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        patience: args.patience,
        seed: args.seed,
        ..TrainConfig::default()
    })?;
    tc.validate()?;
    let (bars, gaps) = load_csv(&args.data)?;
    eprintln!("{}: {} bars; {}", args.data.display(), bars.len(), gaps);
    let recipe = EnsembleRecipe::small(args.horizon, theta, args.seed);
    let dir = args.out_dir.join("ensemble");
    let mut progress = Progress::default();
    if args.resume {
        // The networks' checkpoints are cleaned by their own resume (pipeline::resume); these are the rest.
        let ensemble = [MANIFEST_NAME, "gbdt.json"].map(|f| dir.join(f));
        let report = ["report.json", "returns.csv", "report.html"].map(|f| args.out_dir.join(f));
        for p in ensemble.iter().chain(&report) {
            for t in remove_stale_temps(p)? {
                eprintln!("removed {}, left by a writer that was killed", t.display());
            }
        }
    }
    let opts = ResumeOptions { resume: args.resume, identity: data_identity(&args.data)? };
    let bundle =
        train_ensemble_resumable(bars, &recipe, &tc, &dir, Some(&opts), &mut |name, e| progress.event(name, e))?;
    eprintln!(
        "ensemble written to {} (confidence threshold {:.4}, agreement {}); trained in {:.1}s",
        dir.display(),
        bundle.manifest.confidence_threshold,
        bundle.manifest.agreement,
        started.elapsed().as_secs_f64()
    );
    drop(bundle);
    // Reload from disk, so what is scored is exactly what was written.
    let mut pred = BacktestPredictor::load(&dir, device)?;
    let eval_args = EvalArgs {
        checkpoint: dir.clone(),
        data: args.data.clone(),
        costs: args.costs,
        walk_forward: args.walk_forward,
        retrain_every: args.retrain_every,
        refit_epochs: args.refit_epochs,
        refit_lr: args.refit_lr,
        device: device.to_string(),
    };
    let o = backtest_file(&mut pred, &args.data, &eval_args, device)?;
    write_report(&args.out_dir, &o.eval)?;
    println!("{}", headline(&o, &args.costs));
    print!("{}", format_table(&o.eval.report));
    println!(
        "wrote {}/report.json, returns.csv, report.html; total {:.1}s",
        args.out_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
