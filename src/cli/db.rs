//! `tickgrad db`: fill and inspect the market store. `import` reads a CSV (validated as every command reads one)
//! into a series in one transaction; `list` prints every series with its span.

use crate::data::load_csv;
use crate::store::{self, SeriesKey};
use crate::Result;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum DbCmd {
    /// Store the bars of an OHLCV CSV as series SYMBOL INTERVAL (bars already stored identically are skipped; a
    /// stored bar with other values is an error and nothing is stored).
    Import {
        /// sqlite:PATH (created if missing) or postgres://USER@HOST:PORT/DATABASE.
        #[arg(long)]
        db: String,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        symbol: String,
        /// The bar interval the series is known by (e.g. 1h, 1d).
        #[arg(long)]
        interval: String,
    },
    /// Print every series in the store: symbol, interval, bar count, first and last bar.
    List {
        #[arg(long)]
        db: String,
    },
}

pub fn run(cmd: &DbCmd) -> Result<()> {
    match cmd {
        DbCmd::Import { db, data, symbol, interval } => {
            let key = SeriesKey::new(symbol, interval)?;
            let (bars, gaps) = load_csv(data)?;
            eprintln!("{}: {} bars; {}", data.display(), bars.len(), gaps);
            let mut s = store::open(db, true)?;
            let r = s.append_bars(&key, &bars)?;
            println!("{}: {key}: {} bars added, {} already stored", s.describe(), r.added, r.unchanged);
            Ok(())
        }
        DbCmd::List { db } => {
            let mut s = store::open(db, false)?;
            for info in s.series()? {
                println!("{info}");
            }
            Ok(())
        }
    }
}
