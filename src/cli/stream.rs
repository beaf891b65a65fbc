//! `tickgrad stream`: feed a series bar by bar through the streaming engine and time every answer.
//!
//! - `--input SERIES.npy` [T, F]: rows are model inputs already (scaled features); row i of `--out` [T−W+1, k] is
//!   the answer after bar W−1+i.
//! - `--data FILE.csv`: raw bars through incremental features and the checkpoint's feature list and scaler.
//!
//! Diagnostics go to stderr; stdout gets one summary line and, last, `per_bar_us p50=<x> p99=<y> max=<z>`
//! (answered bars only; a bar's time covers features, scaling and the model).

use crate::data::load_csv;
use crate::device::Device;
use crate::io::npy::{read_npy, write_npy};
use crate::models::checkpoint;
use crate::stream::{Bar, Engine, Latency, Predictor};
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What to stream.
pub enum Source {
    Npy(PathBuf),
    Csv(PathBuf),
}

pub struct Args {
    pub checkpoint: PathBuf,
    pub source: Source,
    pub window: Option<usize>,
    pub out: Option<PathBuf>,
    pub device: Device,
}

pub fn run(a: &Args) -> Result<()> {
    a.device.ensure_available()?;
    match &a.source {
        Source::Npy(input) => run_npy(a, input),
        Source::Csv(data) => run_csv(a, data),
    }
}

fn run_npy(a: &Args, input: &Path) -> Result<()> {
    let ck = checkpoint::load(&a.checkpoint, a.device)?;
    let cfg = ck.model.config();
    let nf = cfg.n_features();
    let x = read_npy(input)?;
    let loc = input.display().to_string();
    let [t, f] = x.shape[..] else {
        return Err(Error::parse(loc, format!("series has shape {:?}; expected [bars, {nf}]", x.shape)));
    };
    if f != nf {
        return Err(Error::parse(loc, format!("series has {f} features per bar; the checkpoint's model expects {nf}")));
    }
    let w = a.window.unwrap_or_else(|| cfg.default_window());
    if t < w {
        return Err(Error::parse(loc, format!("series has {t} bars, fewer than the window of {w}")));
    }
    if let Some(i) = x.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::parse(loc, format!("non-finite value at [{}, {}]", i / f, i % f)));
    }
    let mut p = Predictor::new(Arc::new(ck.model), w)?;
    let k = p.output_width();
    let mut y = Vec::with_capacity((t - w + 1) * k);
    let mut lat = Latency::with_capacity(t - w + 1);
    for row in x.data.chunks_exact(f) {
        let t0 = Instant::now();
        let ans = p.push(row)?;
        let dt = t0.elapsed();
        if let Some(ans) = ans {
            y.extend_from_slice(ans.values);
            lat.record(dt);
        }
    }
    if let Some(out) = &a.out {
        write_npy(out, &[t - w + 1, k], &y)?;
    }
    summary(&p, t, &lat);
    Ok(())
}

fn run_csv(a: &Args, data: &Path) -> Result<()> {
    let (bars, gaps) = load_csv(data)?;
    eprintln!("{}: {} bars; {}", data.display(), bars.len(), gaps);
    let ck = checkpoint::load(&a.checkpoint, a.device)?;
    let has_trades = bars.column("trades").is_some();
    let has_taker = bars.column("taker_buy_base_volume").is_some();
    let (mut engine, warnings) = Engine::new(ck, has_trades, has_taker, a.window)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let w = engine.predictor().window();
    let k = engine.predictor().output_width();
    let n = bars.len();
    if n < w {
        return Err(Error::parse(data.display().to_string(), format!("{n} bars, fewer than the window of {w}")));
    }
    let mut y = Vec::with_capacity((n - w + 1) * k);
    let mut lat = Latency::with_capacity(n - w + 1);
    for i in 0..n {
        let bar = Bar::from_bars(&bars, i);
        let t0 = Instant::now();
        let ans = engine.push(&bar)?;
        let dt = t0.elapsed();
        if let Some(ans) = ans {
            y.extend_from_slice(ans.values);
            lat.record(dt);
        }
    }
    if let Some(out) = &a.out {
        write_npy(out, &[n - w + 1, k], &y)?;
    }
    eprintln!("inputs: {}", engine.inputs().names.join(","));
    summary(engine.predictor(), n, &lat);
    Ok(())
}

fn summary(p: &Predictor, bars: usize, lat: &Latency) {
    println!(
        "model={} mode={} window={} bars={bars} answers={}",
        p.model().config().kind(),
        if p.is_incremental() { "step" } else { "recompute" },
        p.window(),
        lat.len()
    );
    println!("{}", lat.line());
}
