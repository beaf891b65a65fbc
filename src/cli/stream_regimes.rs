//! `stream --checkpoint DIR` where DIR (or the `regimes.json` in it) is what `run --per-regime` wrote: every bar is
//! pushed into every network (each keeps its own window, features and scaler) and answered by the network of the
//! bar's regime, as the backtest routes it ([`crate::serve::regime::RegimeEngine`]).

use super::bars::LoadedBars;
use super::stream::{Pacer, StreamArgs};
use crate::data::incremental::Bar;
use crate::device::Device;
use crate::io::npy::write_npy;
use crate::pipeline::regime::MANIFEST_NAME;
use crate::serve::regime::RegimeEngine;
use crate::serve::Latency;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The manifest of per-regime networks that `checkpoint` names (the directory holding `regimes.json`, or the file
/// itself), or `None` for an ordinary checkpoint.
pub fn manifest_of(checkpoint: &Path) -> Option<PathBuf> {
    if checkpoint.is_dir() {
        let m = checkpoint.join(MANIFEST_NAME);
        return m.is_file().then_some(m);
    }
    (checkpoint.file_name()? == MANIFEST_NAME).then(|| checkpoint.to_path_buf())
}

/// What a per-regime stream cannot do yet, as an error naming the flag; `None` when the arguments are fine.
fn unsupported(a: &StreamArgs) -> Option<&'static str> {
    if a.trade.enabled() || a.bars.db.is_some() {
        Some("paper trading and --db (stream one regime network with them, or the ensemble)")
    } else if a.reload_checkpoint {
        Some("--reload-checkpoint")
    } else if a.window.is_some() {
        Some("--window (each network keeps the window it was trained with)")
    } else {
        None
    }
}

pub fn run_regimes(a: &StreamArgs, manifest: &Path, loaded: LoadedBars, device: Device) -> Result<()> {
    if let Some(flag) = unsupported(a) {
        return Err(Error::config(
            "checkpoint",
            format!("per-regime networks ({}): not with {flag}", manifest.display()),
        ));
    }
    let bars = loaded.bars;
    let has_trades = bars.column("trades").is_some();
    let has_taker = bars.column("taker_buy_base_volume").is_some();
    let (mut engine, warnings) = RegimeEngine::load(manifest, device, has_trades, has_taker)?;
    engine.set_threads(a.threads)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let n = bars.len();
    let mut y = Vec::new();
    let mut first = None;
    let mut routed = [0usize; 4];
    let mut lat = Latency::with_capacity(n);
    let pacer = Pacer::new(a.bar_interval_ms)?;
    for i in 0..n {
        pacer.wait(i);
        let t0 = Instant::now();
        let answer = engine.push(&Bar::from_bars(&bars, i)).map_err(|e| Error::Invalid(format!("bar {i}: {e}")))?;
        let dt = t0.elapsed();
        if let Some((code, out)) = answer {
            first.get_or_insert(i);
            y.extend_from_slice(out);
            routed[code.unwrap_or(3)] += 1;
            lat.record(dt);
        }
    }
    let k = engine.primary().predictor().output_width();
    if let Some(out) = &a.out {
        write_npy(out, &[y.len() / k, k], &y)?;
    }
    println!(
        "model=per-regime networks={} bars={n} answers={} first_answer_bar={} trending={} ranging={} volatile={} undefined_regime={}",
        engine.networks(),
        lat.len(),
        first.map_or("none".to_string(), |f| f.to_string()),
        routed[0],
        routed[1],
        routed[2],
        routed[3]
    );
    println!("{}", lat.line());
    Ok(())
}
