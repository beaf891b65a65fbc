//! `tickgrad eval`: the backtest's metrics table on stdout, no files.

use super::backtest::{evaluate_args, headline, EvalArgs};
use crate::eval::format_table;
use crate::Result;

pub fn run(args: &EvalArgs) -> Result<()> {
    let o = evaluate_args(args)?;
    println!("{}", headline(&o, &args.costs));
    print!("{}", format_table(&o.eval.report));
    Ok(())
}
