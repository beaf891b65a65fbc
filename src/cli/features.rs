//! `tickgrad features --data FILE --out FILE.csv`: load and validate an OHLCV CSV, report its gaps, and write
//! the full feature table (docs/DATA.md) with the default periods.

use crate::data::{compute_features, load_csv, write_features_csv, FeatureConfig};
use crate::Result;
use std::path::Path;

/// Gaps and a summary go to stderr so stdout stays free for piping.
pub fn run(data: &Path, out: &Path) -> Result<()> {
    let (bars, gaps) = load_csv(data)?;
    eprintln!("{}: {} bars; {}", data.display(), bars.len(), gaps);
    let frame = compute_features(&bars, &FeatureConfig::default())?;
    write_features_csv(&frame, out)?;
    eprintln!("{}: {} rows x {} features", out.display(), frame.len(), frame.names.len());
    Ok(())
}
