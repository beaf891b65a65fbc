//! `tickgrad backtest` and the evaluation both it and `tickgrad eval` share: load a predictor (one network or
//! an ensemble) and the CSV, run [`crate::pipeline::run_backtest`] (the dataset rebuilt with the predictor's
//! stored preprocessing, its out-of-sample calls on the test bars scored beside every baseline), print the table.

use super::bars::BarArgs;
use super::train::CostArgs;
use crate::data::Bars;
use crate::device::Device;
use crate::eval::{format_table, write_report};
use crate::pipeline::backtest::{REFIT_EPOCHS, REFIT_LR};
use crate::pipeline::{run_backtest, BacktestOutcome, BacktestPredictor, WalkForwardRecipe};
use crate::Result;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// A checkpoint from `tickgrad train`, or an ensemble directory / `ensemble.json` from `tickgrad run`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The bars (CSV or store); the test part of their chronological split is scored.
    #[command(flatten)]
    pub bars: BarArgs,
    #[command(flatten)]
    pub costs: CostArgs,
    /// Before every block of `--retrain-every` test bars, refit on all samples before it: the boosted trees from
    /// scratch, each network warm-started for `--refit-epochs` (0: networks keep their trained weights).
    #[arg(long)]
    pub walk_forward: bool,
    /// Walk-forward block length in bars (168 = one week of hourly bars).
    #[arg(long, default_value_t = 168)]
    pub retrain_every: usize,
    /// Walk-forward: most epochs of each network's warm-start refit per block (early stopping, patience 1).
    #[arg(long, default_value_t = REFIT_EPOCHS)]
    pub refit_epochs: usize,
    /// Walk-forward: learning rate of the refits (a warm start should move the weights, not replace them).
    #[arg(long, default_value_t = REFIT_LR)]
    pub refit_lr: f32,
    /// cpu, cuda[:N], wgpu[:N], or auto (a CUDA device, else a wgpu adapter that is a real GPU, else the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl EvalArgs {
    /// The walk-forward these flags ask for, if any.
    pub fn walk_forward_recipe(&self, device: Device) -> Result<Option<WalkForwardRecipe>> {
        if !self.walk_forward {
            return Ok(None);
        }
        WalkForwardRecipe::new(self.retrain_every, self.refit_epochs, self.refit_lr, device).map(Some)
    }
}

/// Backtest an already loaded predictor on `bars` (a walk-forward refit updates its networks in place).
pub fn backtest_bars(
    pred: &mut BacktestPredictor,
    bars: Bars,
    args: &EvalArgs,
    device: Device,
) -> Result<BacktestOutcome> {
    let walk = args.walk_forward_recipe(device)?;
    run_backtest(pred, bars, &args.costs.costs(), walk.as_ref(), device)
}

pub fn evaluate_args(args: &EvalArgs) -> Result<BacktestOutcome> {
    let device = crate::backend::select(&args.device)?;
    let mut pred = BacktestPredictor::load(&args.checkpoint, device)?;
    let loaded = args.bars.load(None)?;
    eprintln!("{}: {} bars; {}", loaded.name, loaded.bars.len(), loaded.gaps);
    backtest_bars(&mut pred, loaded.bars, args, device)
}

/// The header line above the table: what was scored, on which bars, at which costs.
pub fn headline(o: &BacktestOutcome, costs: &CostArgs) -> String {
    let wf = if o.folds > 0 { format!(", walk-forward ({} folds)", o.folds) } else { String::new() };
    let members: Vec<String> =
        o.members.iter().map(|m| format!("{} {:.4} (weight {:.3})", m.name, m.test_accuracy, m.final_weight)).collect();
    let members = if members.is_empty() {
        String::new()
    } else {
        format!("\nmembers' own test accuracy (and weight at the last bar): {}", members.join(", "))
    };
    format!(
        "{}: {} out-of-sample test bars ({} .. {} UTC), fee {} bps + half-spread {} bps per side{wf}{members}",
        o.description,
        o.test_bars,
        utc(o.first_test_ts),
        utc(o.last_test_ts),
        costs.fee_bps,
        costs.half_spread_bps
    )
}

pub fn run(args: &EvalArgs, out_dir: &Path) -> Result<()> {
    let o = evaluate_args(args)?;
    write_report(out_dir, &o.eval)?;
    println!("{}", headline(&o, &args.costs));
    print!("{}", format_table(&o.eval.report));
    println!("wrote {}/report.json, returns.csv, report.html", out_dir.display());
    Ok(())
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM` (UTC); the report's own formatter, so the table and the HTML agree.
pub fn utc(ms: i64) -> String {
    crate::eval::fmt_utc(ms)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00");
        assert_eq!(super::utc(1_577_836_800_000), "2020-01-01 00:00");
        assert_eq!(super::utc(1_583_020_800_000 + 13 * 3_600_000 + 60_000), "2020-03-01 13:01");
    }
}
