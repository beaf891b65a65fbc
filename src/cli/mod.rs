//! The command line: train, eval, backtest, predict, stream, features, bench, info.

use crate::Result;

pub fn main() -> Result<()> {
    Ok(())
}
