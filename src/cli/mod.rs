//! The command line: train, eval, backtest, predict, stream, features, bench, info.

pub mod features;

use crate::Result;

pub fn main() -> Result<()> {
    Ok(())
}
