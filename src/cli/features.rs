//! `tickgrad features --data FILE --out FILE.csv` (or `--db URL --symbol S --interval I`): load and validate the
//! bars, report their gaps, and write the full feature table (docs/DATA.md) with the default periods.

use super::bars::BarArgs;
use crate::data::{compute_features, write_features_csv, FeatureConfig};
use crate::Result;
use std::path::Path;

/// The features of the CSV `data`.
pub fn run(data: &Path, out: &Path) -> Result<()> {
    run_from(&BarArgs { data: Some(data.to_path_buf()), ..BarArgs::default() }, out)
}

/// Gaps and a summary go to stderr so stdout stays free for piping.
pub fn run_from(source: &BarArgs, out: &Path) -> Result<()> {
    let b = source.load(None)?;
    eprintln!("{}: {} bars; {}", b.name, b.bars.len(), b.gaps);
    let frame = compute_features(&b.bars, &FeatureConfig::default())?;
    write_features_csv(&frame, out)?;
    eprintln!("{}: {} rows x {} features", out.display(), frame.len(), frame.names.len());
    Ok(())
}
