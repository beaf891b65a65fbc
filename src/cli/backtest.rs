//! `tickgrad backtest` and the evaluation both it and `tickgrad eval` share: load a predictor (one network or
//! an ensemble) and the CSV, run [`crate::pipeline::run_backtest`] (the dataset rebuilt with the predictor's
//! stored preprocessing, its out-of-sample calls on the test bars scored beside every baseline), print the table.

use super::bars::BarArgs;
use super::train::CostArgs;
use crate::data::Bars;
use crate::device::Device;
use crate::eval::{format_table, write_report};
use crate::pipeline::backtest::{REFIT_EPOCHS, REFIT_LR};
use crate::pipeline::{run_backtest, BacktestOutcome, BacktestPredictor, ScoreRange, Scoring, WalkForwardRecipe};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The walk-forward flags of `backtest`, `eval` and `run`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct WalkForwardArgs {
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
}

impl WalkForwardArgs {
    /// The walk-forward these flags ask for, if any.
    pub fn recipe(&self, device: Device) -> Result<Option<WalkForwardRecipe>> {
        if !self.walk_forward {
            return Ok(None);
        }
        WalkForwardRecipe::new(self.retrain_every, self.refit_epochs, self.refit_lr, device).map(Some)
    }
}

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
    #[command(flatten)]
    pub walk: WalkForwardArgs,
    /// cpu, cuda[:N], wgpu[:N], or auto (a CUDA device, else a wgpu adapter that is a real GPU, else the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Configurations tried outside this run (other seeds, flags, techniques), added to the predictor's own count
    /// in the deflated Sharpe ratio.
    #[arg(long, default_value_t = 0)]
    pub trials: usize,
    /// Which bars to score: `test` (the last 15% of the file's chronological split) or `all` (every bar with a
    /// full window and a label: for a file the checkpoint never saw).
    /// `--from`/`--to` (the bars' flags) instead score the bars between those UTC dates or times
    /// (`2020-11-01`, `2020-11-01T12:00`; `--to` a date runs through its last hour); earlier bars still feed the
    /// features, windows and walk-forward refits.
    #[arg(long, default_value = "test", conflicts_with_all = ["from", "to"])]
    pub split: String,
}

impl EvalArgs {
    /// The bars these flags ask to score and the trials to add.
    pub fn scoring(&self) -> Result<Scoring> {
        let (from, to) = (&self.bars.from, &self.bars.to);
        let range = if from.is_none() && to.is_none() {
            match self.split.as_str() {
                "test" => ScoreRange::Test,
                "all" => ScoreRange::All,
                other => return Err(Error::config("split", format!("expected `test` or `all`, found `{other}`"))),
            }
        } else {
            ScoreRange::Dates {
                from: from.as_deref().map(|d| parse_utc("from", d, false)).transpose()?,
                to: to.as_deref().map(|d| parse_utc("to", d, true)).transpose()?,
            }
        };
        Ok(Scoring { range, extra_trials: self.trials, horizons: Vec::new() })
    }
}

/// Backtest an already loaded predictor on `bars` (a walk-forward refit updates its networks in place).
pub fn backtest_bars(
    pred: &mut BacktestPredictor,
    bars: Bars,
    args: &EvalArgs,
    device: Device,
) -> Result<BacktestOutcome> {
    backtest_bars_scoring(pred, bars, args, args.scoring()?, device)
}

/// [`backtest_bars`] with the scoring already decided (`eval` adds its horizons).
pub fn backtest_bars_scoring(
    pred: &mut BacktestPredictor,
    bars: Bars,
    args: &EvalArgs,
    scoring: Scoring,
    device: Device,
) -> Result<BacktestOutcome> {
    let walk = args.walk.recipe(device)?;
    run_backtest(pred, bars, &args.costs.costs(), walk.as_ref(), &scoring, device)
}

pub fn evaluate_args(args: &EvalArgs) -> Result<BacktestOutcome> {
    evaluate_scoring(args, args.scoring()?)
}

/// [`evaluate_args`] with the scoring already decided.
pub fn evaluate_scoring(args: &EvalArgs, scoring: Scoring) -> Result<BacktestOutcome> {
    let device = crate::backend::select(&args.device)?;
    let mut pred = BacktestPredictor::load(&args.checkpoint, device)?;
    // Here --from/--to choose the bars scored (`scoring`), not the bars read: the whole series is read, so the
    // bars before the scored range still feed the features and the refits.
    let source = BarArgs { from: None, to: None, ..args.bars.clone() };
    let loaded = source.load(None)?;
    eprintln!("{}: {} bars; {}", loaded.name, loaded.bars.len(), loaded.gaps);
    backtest_bars_scoring(&mut pred, loaded.bars, args, scoring, device)
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
    let bars = if o.before_test_part {
        "scored bars, from before this file's own test part (out of sample only if the checkpoint never trained on \
         this file)"
    } else {
        "out-of-sample test bars"
    };
    let funding = if o.funding {
        "funding charged from the file's funding_rate column"
    } else {
        "no funding charged (no funding_rate column)"
    };
    format!(
        "{}: {} {bars} ({} .. {} UTC), fee {} bps + half-spread {} bps per side, {funding}; deflated Sharpe over {}{wf}{members}",
        o.description,
        o.test_bars,
        utc(o.first_test_ts),
        utc(o.last_test_ts),
        costs.fee_bps,
        costs.half_spread_bps,
        o.trials.describe()
    )
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` or `YYYY-MM-DDTHH:MM` (UTC) as Unix ms. A bare date opens its day, or with
/// `end_of_day` (for `--to`) closes it: `--to 2020-12-31` includes the bars of December 31.
pub fn parse_utc(flag: &str, text: &str, end_of_day: bool) -> Result<i64> {
    let bad =
        || Error::config(flag, format!("expected a UTC date `YYYY-MM-DD` or time `YYYY-MM-DDTHH:MM`, found `{text}`"));
    let t = text.trim();
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let num = |s: &str, lo: i64, hi: i64| s.parse::<i64>().ok().filter(|v| (lo..=hi).contains(v)).ok_or_else(bad);
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return Err(bad()) };
    let (y, m, d) = (num(y, 1970, 9999)?, num(m, 1, 12)?, num(d, 1, 31)?);
    let days = crate::eval::days_from_civil(y, m, d);
    if crate::eval::fmt_utc(days * 86_400_000)[..10] != date[..] {
        return Err(Error::config(flag, format!("`{text}` is not a calendar date")));
    }
    let ms = match time {
        Some(tm) => {
            let (hh, mm) = tm.split_once(':').ok_or_else(bad)?;
            (num(hh, 0, 23)? * 60 + num(mm, 0, 59)?) * 60_000
        }
        None if end_of_day => 86_400_000 - 1,
        None => 0,
    };
    Ok(days * 86_400_000 + ms)
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

    #[test]
    fn parse_utc_round_trips_and_rejects_bad_dates() {
        use super::parse_utc;
        assert_eq!(parse_utc("from", "2020-01-01", false).unwrap(), 1_577_836_800_000);
        assert_eq!(parse_utc("to", "2020-01-01", true).unwrap(), 1_577_836_800_000 + 86_400_000 - 1);
        assert_eq!(parse_utc("from", "2020-03-01T13:01", false).unwrap(), 1_583_020_800_000 + 13 * 3_600_000 + 60_000);
        assert_eq!(parse_utc("from", "2020-03-01 13:01", false).unwrap(), 1_583_020_800_000 + 13 * 3_600_000 + 60_000);
        for bad in ["2020-02-30", "2020-13-01", "20200101", "2020-01-01T25:00", "yesterday", "2020-01-01T12"] {
            let e = parse_utc("from", bad, false).unwrap_err().to_string();
            assert!(e.contains("from") && e.contains(bad), "{bad}: {e}");
        }
    }
}
