//! `tickgrad run`: the main job. Trains the small ensemble of `pipeline::EnsembleRecipe::small` (four networks
//! and the boosted trees) on a CSV, writes it to `OUT/ensemble/`, reloads it from disk and backtests it on the
//! test part of the same file, writing `OUT/report.json`, `OUT/returns.csv`, `OUT/report.html` and printing the
//! metrics table with the baselines.

use super::backtest::{backtest_bars, headline, EvalArgs, WalkForwardArgs};
use super::bars::BarArgs;
use super::techniques::TechniqueArgs;
use super::train::{CostArgs, Progress};
use crate::device::Device;
use crate::eval::{format_table, write_report};
use crate::io::atomic::remove_stale_temps;
use crate::pipeline::ensemble::MANIFEST_NAME;
use crate::pipeline::regime::{MIN_TRAIN_WINDOWS, MIN_VAL_WINDOWS};
use crate::pipeline::{
    train_ensemble_resumable, train_per_regime, BacktestPredictor, EnsembleRecipe, RegimeRecipe, ResumeOptions,
};
use crate::train::TrainConfig;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The bars `tickgrad run` reads when given neither --data nor --db.
pub const DEFAULT_DATA: &str = "data/btcusdt_perp_1h_2020.csv";
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Bars: --data FILE.csv (default data/btcusdt_perp_1h_2020.csv) or a series of the store.
    #[command(flatten)]
    pub bars: BarArgs,
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
    #[command(flatten)]
    pub walk: WalkForwardArgs,
    /// Where the networks train and predict: cpu, cuda[:N], wgpu[:N], or auto (a CUDA device, else a wgpu adapter
    /// that is a real GPU, else the CPU). The boosted trees always run on the CPU.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Continue a killed run in the same `--out-dir`: networks already trained are kept, the one in progress
    /// continues after its last completed epoch, then the rest runs as usual (same arguments and data needed).
    #[arg(long)]
    pub resume: bool,
    /// Configurations tried outside this run (e.g. the other seeds looked at), added to the ensemble's own count
    /// in the deflated Sharpe ratio.
    #[arg(long, default_value_t = 0)]
    pub trials: usize,
    /// Instead of the ensemble, train one network per market regime (trending, ranging, volatile; thresholds
    /// fitted on the training rows) plus a fallback on every window, into `OUT/regimes/`, and backtest with each
    /// bar routed to its regime's network (README, "Per-regime models").
    #[arg(long, conflicts_with = "resume")]
    pub per_regime: bool,
    /// The network kind of `--per-regime`, at the main job's small config and window for that kind.
    #[arg(long, default_value = "tcn", requires = "per_regime")]
    pub regime_model: String,
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
    let loaded = args.bars.load(Some(Path::new(DEFAULT_DATA)))?;
    eprintln!("{}: {} bars; {}", loaded.name, loaded.bars.len(), loaded.gaps);
    // The backtest scores the same bars, read once.
    let bars = loaded.bars.clone();
    let recipe = EnsembleRecipe::small(args.horizon, theta, args.seed);
    if args.per_regime {
        return run_per_regime(args, bars, loaded.bars, &recipe, &tc, started);
    }
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
    let opts = ResumeOptions { resume: args.resume, identity: loaded.identity.clone() };
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
    report(args, &mut pred, &dir, loaded.bars, device, started)
}

/// Score the predictor written to `dir` (reloaded from disk) on the test part of the data and write the report.
fn report(
    args: &RunArgs,
    pred: &mut BacktestPredictor,
    dir: &Path,
    bars: crate::data::Bars,
    device: Device,
    started: Instant,
) -> Result<()> {
    let eval_args = EvalArgs {
        checkpoint: dir.to_path_buf(),
        // The bars are passed in already read; cleared --from/--to make the scoring the test part.
        bars: BarArgs { from: None, to: None, ..args.bars.clone() },
        costs: args.costs,
        walk: args.walk,
        device: device.to_string(),
        trials: args.trials,
        split: "test".into(),
    };
    let o = backtest_bars(pred, bars, &eval_args, device)?;
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

/// `run --per-regime`: the per-regime networks of `--regime-model` into `OUT/regimes/`, then the same report.
fn run_per_regime(
    args: &RunArgs,
    bars: crate::data::Bars,
    score_bars: crate::data::Bars,
    small: &EnsembleRecipe,
    tc: &TrainConfig,
    started: Instant,
) -> Result<()> {
    let member = small.members.iter().find(|m| m.kind == args.regime_model).ok_or_else(|| {
        let kinds: Vec<&str> = small.members.iter().map(|m| m.kind.as_str()).collect();
        Error::config("regime-model", format!("expected one of {kinds:?}, found {:?}", args.regime_model))
    })?;
    let recipe = RegimeRecipe {
        kind: member.kind.clone(),
        args: member.args.clone(),
        window: member.window,
        horizon: small.horizon,
        theta: small.theta,
        fractions: small.fractions,
        min_train_windows: MIN_TRAIN_WINDOWS,
        min_val_windows: MIN_VAL_WINDOWS,
    };
    let dir = args.out_dir.join("regimes");
    let mut progress = Progress::default();
    let bundle = train_per_regime(bars, &recipe, tc, &dir, &mut |name, e| progress.event(name, e))?;
    for e in &bundle.manifest.regimes {
        eprintln!(
            "{:>8}: {} training / {} validation windows → {}{}",
            e.regime,
            e.train_windows,
            e.val_windows,
            e.checkpoint,
            if e.own_model { "" } else { " (too few windows for its own network: the fallback)" }
        );
    }
    eprintln!("per-regime networks written to {}; trained in {:.1}s", dir.display(), started.elapsed().as_secs_f64());
    drop(bundle);
    let mut pred = BacktestPredictor::load(&dir, tc.device)?;
    report(args, &mut pred, &dir, score_bars, tc.device, started)
}
