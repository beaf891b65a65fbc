//! Feature tables as CSV: `timestamp` first, then one column per feature, `NaN` for a missing value and every
//! other number in Rust's shortest round-trip form (`{}` of f64), so reading the file back gives the same bits.
//! Written atomically: a reader never sees half a file.

use super::features::FeatureFrame;
use crate::io::atomic::write_atomic;
use crate::{Error, Result};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// Write `frame` to `path` (temp file + rename).
pub fn write_features_csv(frame: &FeatureFrame, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    for (name, col) in frame.names.iter().zip(&frame.columns) {
        if col.len() != frame.len() {
            return Err(Error::shape(format!("feature `{name}`"), [frame.len()], [col.len()]));
        }
    }
    let mut out = String::from("timestamp");
    for name in &frame.names {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    // Formatting floats dominates (~150 ns each), so blocks of rows are formatted in parallel and joined in order.
    let blocks: Vec<String> = (0..frame.len())
        .collect::<Vec<_>>()
        .par_chunks(4096)
        .map(|rows| {
            let mut block = String::with_capacity(rows.len() * (frame.names.len() + 1) * 12);
            for &i in rows {
                let _ = write!(block, "{}", frame.timestamp[i]);
                for col in &frame.columns {
                    let v = col[i];
                    if v.is_nan() {
                        block.push_str(",NaN");
                    } else {
                        let _ = write!(block, ",{v}");
                    }
                }
                block.push('\n');
            }
            block
        })
        .collect();
    for block in &blocks {
        out.push_str(block);
    }
    write_atomic(path, out.as_bytes())
}

/// Read a file written by [`write_features_csv`] (e.g. to feed `predict` from a precomputed table).
pub fn read_features_csv(path: impl AsRef<Path>) -> Result<FeatureFrame> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let name = path.display().to_string();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    if header.first() != Some(&"timestamp") {
        return Err(Error::parse(
            format!("{name}:1:1"),
            format!("expected the header to start with `timestamp`, found `{}`", header.first().unwrap_or(&"")),
        ));
    }
    let mut frame = FeatureFrame {
        timestamp: Vec::new(),
        names: header[1..].iter().map(|s| s.to_string()).collect(),
        columns: vec![Vec::new(); header.len() - 1],
    };
    for (k, line) in lines.enumerate() {
        let line_no = k + 2;
        let mut fields = line.split(',');
        let ts = fields.next().unwrap_or("");
        let ts = ts.parse::<i64>().map_err(|_| {
            Error::parse(
                format!("{name}:{line_no}:1"),
                format!("column `timestamp`: expected an integer, found `{ts}`"),
            )
        })?;
        frame.timestamp.push(ts);
        let mut count = 0;
        for (j, field) in fields.enumerate() {
            let col = frame.columns.get_mut(j).ok_or_else(|| {
                Error::parse(
                    format!("{name}:{line_no}:{}", j + 2),
                    format!("expected {} fields, found more", header.len()),
                )
            })?;
            let v = field.parse::<f64>().map_err(|_| {
                Error::parse(
                    format!("{name}:{line_no}:{}", j + 2),
                    format!("column `{}`: expected a number or NaN, found `{field}`", header[j + 1]),
                )
            })?;
            col.push(v);
            count += 1;
        }
        if count != frame.columns.len() {
            return Err(Error::parse(
                format!("{name}:{line_no}:{}", count + 2),
                format!("expected {} fields, found {}", header.len(), count + 1),
            ));
        }
    }
    Ok(frame)
}
