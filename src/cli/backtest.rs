//! `tickgrad backtest` and the evaluation both it and `tickgrad eval` share: load a predictor (one network or
//! an ensemble), rebuild the dataset from the CSV with the predictor's stored preprocessing, and score its
//! out-of-sample calls on the test bars beside every baseline.

use super::train::CostArgs;
use crate::data::{load_csv, SplitFractions};
use crate::device::Device;
use crate::eval::{format_table, write_report, Evaluation, TradingConfig};
use crate::pipeline::{evaluate_calls, periods_per_year, test_calls, Dataset, Predictor, WalkForwardPlan};
use crate::train::TrainConfig;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// A checkpoint from `tickgrad train`, or an ensemble directory / `ensemble.json` from `tickgrad run`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// OHLCV CSV; the test part of its chronological split is scored.
    #[arg(long)]
    pub data: PathBuf,
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
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub const REFIT_EPOCHS: usize = 2;
pub const REFIT_LR: f32 = 1e-4;

impl EvalArgs {
    /// The walk-forward plan these flags ask for, if any.
    pub fn walk_plan(&self, device: Device) -> Result<Option<WalkForwardPlan>> {
        if !self.walk_forward {
            return Ok(None);
        }
        if self.retrain_every == 0 {
            return Err(Error::config("retrain-every", "expected a block of at least 1 bar, found 0"));
        }
        let refit = if self.refit_epochs == 0 {
            None
        } else {
            let tc = TrainConfig {
                epochs: self.refit_epochs,
                lr: self.refit_lr,
                patience: 1,
                device,
                ..TrainConfig::default()
            };
            tc.validate()?;
            Some(tc)
        };
        Ok(Some(WalkForwardPlan { every: self.retrain_every, refit }))
    }
}

/// What a backtest produced, for the commands to print or write.
pub struct Outcome {
    pub description: String,
    pub eval: Evaluation,
    pub test_bars: usize,
    pub first_test_ts: i64,
    pub last_test_ts: i64,
    pub folds: usize,
    pub members: Vec<crate::pipeline::MemberSummary>,
}

pub fn trading_config(costs: &CostArgs, ds: &Dataset) -> Result<TradingConfig> {
    costs.validate()?;
    Ok(TradingConfig {
        periods_per_year: periods_per_year(&ds.bars),
        ..TradingConfig::hourly_24_7(costs.fee_bps, costs.half_spread_bps)
    })
}

/// Backtest an already loaded predictor on `data` (a walk-forward refit updates its networks in place).
pub fn backtest_predictor(pred: &mut Predictor, data: &Path, args: &EvalArgs, device: Device) -> Result<Outcome> {
    let walk = args.walk_plan(device)?;
    let (bars, gaps) = load_csv(data)?;
    eprintln!("{}: {} bars; {}", data.display(), bars.len(), gaps);
    let ds = Dataset::with_preprocessing(bars, pred.prep().clone(), SplitFractions::default())?;
    let trading = trading_config(&args.costs, &ds)?;
    let calls = test_calls(pred, &ds, walk.as_ref(), device)?;
    let eval = evaluate_calls(&ds, &calls, &trading)?;
    let rows = ds.rows(calls.samples.clone());
    Ok(Outcome {
        description: pred.describe(),
        eval,
        test_bars: rows.len(),
        first_test_ts: ds.bars.timestamp[rows.start],
        last_test_ts: ds.bars.timestamp[rows.end - 1],
        folds: calls.folds.len(),
        members: calls.members,
    })
}

pub fn evaluate_args(args: &EvalArgs) -> Result<Outcome> {
    let device = Device::parse(&args.device)?;
    crate::backend::ensure_available(device)?;
    let mut pred = Predictor::load(&args.checkpoint, device)?;
    backtest_predictor(&mut pred, &args.data, args, device)
}

/// The header line above the table: what was scored, on which bars, at which costs.
pub fn headline(o: &Outcome, costs: &CostArgs) -> String {
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
