//! `tickgrad eval`: the backtest's metrics table on stdout, no files; with `--horizons`, the horizon table too.

use super::backtest::{evaluate_scoring, headline, EvalArgs};
use crate::eval::{format_horizon_table, format_table, parse_horizons};
use crate::Result;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Also score the calls at these horizons in bars (`1,4,24,168`): accuracy, balanced accuracy, RMSE and
    /// Sharpe per horizon beside the baselines (docs/DATA.md, "Horizon table").
    #[arg(long)]
    pub horizons: Option<String>,
}

pub fn run(args: &Args) -> Result<()> {
    let mut scoring = args.eval.scoring()?;
    if let Some(h) = &args.horizons {
        scoring.horizons = parse_horizons(h)?;
    }
    let o = evaluate_scoring(&args.eval, scoring)?;
    println!("{}", headline(&o, &args.eval.costs));
    print!("{}", format_table(&o.eval.report));
    if let Some(t) = &o.horizon_table {
        println!(
            "horizon table: the same calls scored at each horizon on {} decision bars (those with a label at the \
             largest horizon)",
            t.rows.len()
        );
        print!("{}", format_horizon_table(t));
    }
    Ok(())
}
