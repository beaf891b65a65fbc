//! Per-regime networks (`tickgrad run --per-regime`, `pipeline::regime`) served bar by bar: every network sees
//! every bar (so each keeps its own window, features and scaler), and the answer of a bar is the one of the
//! network its regime routes to, read from the same `regimes.json` the backtest reads. The regime is the `regime`
//! feature column of the bar, computed incrementally with the thresholds stored in the checkpoints (fitted on
//! the training rows), so the streamed answers equal the backtest's per-bar answers.

use super::engine::Engine;
use crate::data::incremental::Bar;
use crate::device::Device;
use crate::{Error, Result};
use std::path::Path;

/// The manifest's routing, read without the pipeline's types (serving does not import the pipeline).
struct Routing {
    /// Distinct checkpoint files, the fallback first.
    files: Vec<String>,
    /// Per regime code (0 trending, 1 ranging, 2 volatile), the index into `files`.
    route: [usize; 3],
}

fn routing(text: &str, source: &str) -> Result<Routing> {
    let bad = |m: String| Error::parse(source, m);
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    if v["format"] != "tickgrad.regimes/1" {
        return Err(bad(format!("format {}, expected \"tickgrad.regimes/1\"", v["format"])));
    }
    let fallback = v["fallback"].as_str().ok_or_else(|| bad("field `fallback`: expected a file name".into()))?;
    let mut files = vec![fallback.to_string()];
    let mut route = [0; 3];
    for (code, want) in ["trending", "ranging", "volatile"].iter().enumerate() {
        let e = &v["regimes"][code];
        if e["regime"] != *want {
            return Err(bad(format!("regimes[{code}]: expected regime {want:?}, found {}", e["regime"])));
        }
        let f =
            e["checkpoint"].as_str().ok_or_else(|| bad(format!("regimes[{code}].checkpoint: expected a file name")))?;
        route[code] = files.iter().position(|g| g == f).unwrap_or_else(|| {
            files.push(f.to_string());
            files.len() - 1
        });
    }
    Ok(Routing { files, route })
}

pub struct RegimeEngine {
    engines: Vec<Engine>,
    route: [usize; 3],
    /// Each network's answer to the last bar.
    answers: Vec<Vec<f32>>,
}

impl RegimeEngine {
    /// The networks named by `regimes.json` at `manifest_path`, each in an [`Engine`] on `device`.
    pub fn load(
        manifest_path: &Path,
        device: Device,
        has_trades: bool,
        has_taker: bool,
    ) -> Result<(RegimeEngine, Vec<String>)> {
        let text = std::fs::read_to_string(manifest_path).map_err(|e| Error::io(manifest_path, e))?;
        let r = routing(&text, &manifest_path.display().to_string())?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let mut engines = Vec::new();
        let mut warnings = Vec::new();
        for f in &r.files {
            let (e, w) = Engine::load(&dir.join(f), device, has_trades, has_taker, None)?;
            warnings.extend(w.into_iter().map(|w| format!("{f}: {w}")));
            engines.push(e);
        }
        let answers = engines.iter().map(|e| vec![0.0; e.predictor().output_width()]).collect();
        Ok((RegimeEngine { engines, route: r.route, answers }, warnings))
    }

    /// Threads of every network's batch-1 forward.
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        self.engines.iter_mut().try_for_each(|e| e.set_threads(threads))
    }

    /// Distinct networks (the fallback and each regime's own).
    pub fn networks(&self) -> usize {
        self.engines.len()
    }

    /// The fallback network's engine (features, inputs and drift reference are the same for all).
    pub fn primary(&self) -> &Engine {
        &self.engines[0]
    }

    /// Push one raw bar into every network. The answer is (the bar's regime code, or `None` when undefined and
    /// the fallback answers; the routed network's output row), or `None` while the windows fill. A bad bar is
    /// an error and changes nothing.
    pub fn push(&mut self, bar: &Bar) -> Result<Option<(Option<usize>, &[f32])>> {
        for e in &self.engines {
            e.validate(bar).map_err(|(_, m)| Error::Invalid(m))?;
        }
        let mut ready = true;
        for (e, a) in self.engines.iter_mut().zip(&mut self.answers) {
            match e.push(bar)? {
                Some(p) => a.copy_from_slice(p.values),
                None => ready = false,
            }
        }
        if !ready {
            return Ok(None);
        }
        let v = self.engines[0].last_feature("regime").unwrap_or(f64::NAN);
        let code = (0..3).find(|&c| v == c as f64);
        let m = code.map_or(0, |c| self.route[c]);
        Ok(Some((code, &self.answers[m])))
    }
}
