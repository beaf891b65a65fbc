//! Per-regime models (`tickgrad run --per-regime`): one network per market regime (trending, ranging, volatile:
//! the rule of `data::regime`, its volatility threshold fitted on the training rows only by `Dataset::fit`), each
//! trained on the training and validation windows whose last bar is in its regime, plus a fallback network
//! trained on every window. Each bar is routed by the regime of its own last bar to its regime's member.
//!
//! Fallback (documented in README.md): a regime with fewer than [`MIN_TRAIN_WINDOWS`] training windows or
//! [`MIN_VAL_WINDOWS`] validation windows (the recipe's defaults; never fewer than one) gets no network of its own; its bars go to the fallback network, and
//! the manifest records this (`own_model: false` with the window counts). Bars whose regime is undefined (a NaN
//! input, which the samples' warm-up rules out in practice) also go to the fallback.
//!
//! On disk a directory: `regimes.json` (format `tickgrad.regimes/1`: per regime its checkpoint and window counts,
//! the fallback checkpoint, the shared preprocessing), one `.safetensors` per network, the manifest written last
//! and atomically. Each checkpoint carries the full pipeline metadata, so `tickgrad stream` serves the same
//! routing bar by bar (`serve::regime`).

use super::bundle::NetMember;
use super::dataset::{Dataset, DatasetSpec, Preprocessing};
use super::member::{resolve_config, train_model_where};
use super::predict::MemberPredictions;
use crate::data::{Bars, SplitFractions};
use crate::device::Device;
use crate::io::atomic::write_atomic;
use crate::train::{Event, TrainConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MANIFEST_NAME: &str = "regimes.json";
pub const FORMAT: &str = "tickgrad.regimes/1";
/// The regimes in the order of their codes in the `regime` feature column (0, 1, 2).
pub const REGIMES: [&str; 3] = ["trending", "ranging", "volatile"];
/// The file stem of the network trained on every window.
pub const FALLBACK_NAME: &str = "all_regimes";
/// Fewer training windows than this in a regime: its bars use the fallback network.
pub const MIN_TRAIN_WINDOWS: usize = 200;
/// Fewer validation windows than this in a regime (too few to early-stop on): the fallback network.
pub const MIN_VAL_WINDOWS: usize = 20;

/// One regime's routing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegimeEntry {
    pub regime: String,
    /// The checkpoint its bars go to (the fallback's when `own_model` is false).
    pub checkpoint: String,
    pub own_model: bool,
    pub train_windows: usize,
    pub val_windows: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegimeManifest {
    pub format: String,
    /// One entry per regime, in the order of [`REGIMES`].
    pub regimes: Vec<RegimeEntry>,
    /// The network trained on every window.
    pub fallback: String,
    pub prep: Preprocessing,
}

impl RegimeManifest {
    pub fn from_json(text: &str, source: &str) -> Result<RegimeManifest> {
        let m: RegimeManifest = serde_json::from_str(text)
            .map_err(|e| Error::parse(source, format!("not a valid per-regime manifest: {e}")))?;
        if m.format != FORMAT {
            return Err(Error::parse(source, format!("format {:?}, expected {FORMAT:?}", m.format)));
        }
        let names: Vec<&str> = m.regimes.iter().map(|e| e.regime.as_str()).collect();
        if names != REGIMES {
            return Err(Error::parse(source, format!("regimes {names:?}, expected {REGIMES:?} in that order")));
        }
        Ok(m)
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Invalid(format!("per-regime manifest to JSON: {e}")))
    }
}

/// The regime code (0 trending, 1 ranging, 2 volatile) of every row of `ds`, `None` where it is undefined.
pub fn row_regimes(ds: &Dataset) -> Result<Vec<Option<usize>>> {
    let col = ds
        .frame
        .column("regime")
        .ok_or_else(|| Error::Invalid("per-regime models: the feature frame has no `regime` column".into()))?;
    Ok(col.iter().map(|&v| regime_code(v)).collect())
}

/// A `regime` feature value as an index into [`REGIMES`]; `None` for NaN or anything else.
pub fn regime_code(v: f64) -> Option<usize> {
    (0..REGIMES.len()).find(|&i| v == i as f64)
}

/// A loaded per-regime predictor: its distinct networks and which one each regime uses.
pub struct RegimeBundle {
    pub manifest: RegimeManifest,
    /// Distinct networks, each named by its file stem.
    pub models: Vec<NetMember>,
    /// Per regime, the index into `models` of the network its bars go to.
    pub route: [usize; 3],
    /// Index into `models` of the fallback network.
    pub fallback: usize,
    pub dir: PathBuf,
}

impl RegimeBundle {
    /// Load `regimes.json` and the networks it names; every network must share the manifest's preprocessing.
    pub fn load(manifest_path: &Path, device: Device) -> Result<RegimeBundle> {
        let source = manifest_path.display().to_string();
        let text = std::fs::read_to_string(manifest_path).map_err(|e| Error::io(manifest_path, e))?;
        let manifest = RegimeManifest::from_json(&text, &source)?;
        let dir = manifest_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut files: Vec<&str> = vec![manifest.fallback.as_str()];
        for e in &manifest.regimes {
            if !files.contains(&e.checkpoint.as_str()) {
                files.push(&e.checkpoint);
            }
        }
        let mut models = Vec::new();
        for f in &files {
            let name = Path::new(f).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let m = NetMember::load(&dir.join(f), &name, device)?;
            if m.meta.prep != manifest.prep {
                return Err(Error::parse(
                    &source,
                    format!("`{f}` was trained with other preprocessing than the manifest lists"),
                ));
            }
            models.push(m);
        }
        let at = |f: &str| files.iter().position(|g| *g == f).expect("every file was listed");
        let route = [0, 1, 2].map(|i| at(&manifest.regimes[i].checkpoint));
        Ok(RegimeBundle { route, fallback: 0, models, manifest, dir })
    }

    /// Index into `models` of the network serving a bar of regime `code`.
    pub fn model_for(&self, code: Option<usize>) -> usize {
        code.map_or(self.fallback, |c| self.route[c])
    }

    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .manifest
            .regimes
            .iter()
            .map(|e| format!("{} → {}{}", e.regime, e.checkpoint, if e.own_model { "" } else { " (fallback)" }))
            .collect();
        format!("per-regime models: {}", parts.join(", "))
    }
}

/// Per sample, the row of the chosen network's predictions: `preds[m]` all cover the same samples and
/// `choice[i]` is the network of sample i.
pub fn route(preds: &[MemberPredictions], choice: &[usize]) -> Result<MemberPredictions> {
    let n = choice.len();
    if let Some(p) = preds.iter().find(|p| p.len() != n) {
        return Err(Error::shape("per-regime predictions (one per routed sample)", [n], [p.len()]));
    }
    if let Some(&m) = choice.iter().find(|&&m| m >= preds.len()) {
        return Err(Error::Invalid(format!("routing to network {m} of {}", preds.len())));
    }
    let with_ret = preds.iter().all(|p| p.ret.is_some());
    let probs = choice.iter().enumerate().map(|(i, &m)| preds[m].probs[i]).collect();
    let ret =
        with_ret.then(|| choice.iter().enumerate().map(|(i, &m)| preds[m].ret.as_ref().expect("checked")[i]).collect());
    Ok(MemberPredictions { probs, ret })
}

/// What `run --per-regime` trains: one network kind and config (without `n_features`) and its window, on the
/// labels and split of `horizon`, `theta`, `fractions`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegimeRecipe {
    pub kind: String,
    pub args: serde_json::Value,
    pub window: usize,
    pub horizon: usize,
    pub theta: f64,
    pub fractions: SplitFractions,
    /// A regime needs this many training windows for a network of its own ([`MIN_TRAIN_WINDOWS`]).
    pub min_train_windows: usize,
    /// ... and this many validation windows ([`MIN_VAL_WINDOWS`]).
    pub min_val_windows: usize,
}

/// Train the fallback network on every window, then one network per regime with enough windows (same config,
/// same seed), into `dir`; write `dir/regimes.json` last. `on_event` gets each network's events with its name.
pub fn train_per_regime(
    bars: Bars,
    recipe: &RegimeRecipe,
    tc: &TrainConfig,
    dir: &Path,
    on_event: &mut dyn FnMut(&str, Event<'_>),
) -> Result<RegimeBundle> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let spec = DatasetSpec {
        window: recipe.window,
        horizon: recipe.horizon,
        theta: recipe.theta,
        fractions: recipe.fractions,
    };
    let ds = Dataset::fit(bars, &spec)?;
    let regimes = row_regimes(&ds)?;
    let cfg =
        resolve_config(Some(&recipe.kind), Some(&recipe.args.to_string()), "per-regime network", ds.n_features())?;
    let count =
        |samples: std::ops::Range<usize>, code: usize| ds.rows(samples).filter(|&r| regimes[r] == Some(code)).count();
    let fallback_file = format!("{FALLBACK_NAME}.safetensors");
    let t =
        train_model_where(&ds, &cfg, recipe.window, tc, Some(&dir.join(&fallback_file)), None, &|_| true, &mut |e| {
            on_event(FALLBACK_NAME, e)
        })?;
    let mut models = vec![NetMember { name: FALLBACK_NAME.into(), model: t.model, meta: t.meta }];
    let mut entries = Vec::new();
    let mut route = [0; 3];
    for (code, name) in REGIMES.iter().enumerate() {
        let (train_windows, val_windows) = (count(ds.split.train.clone(), code), count(ds.split.val.clone(), code));
        let own_model =
            train_windows >= recipe.min_train_windows.max(1) && val_windows >= recipe.min_val_windows.max(1);
        let checkpoint = if own_model {
            let file = format!("{name}.safetensors");
            let keep = |r: usize| regimes[r] == Some(code);
            let t = train_model_where(&ds, &cfg, recipe.window, tc, Some(&dir.join(&file)), None, &keep, &mut |e| {
                on_event(name, e)
            })?;
            route[code] = models.len();
            models.push(NetMember { name: name.to_string(), model: t.model, meta: t.meta });
            file
        } else {
            fallback_file.clone()
        };
        entries.push(RegimeEntry { regime: name.to_string(), checkpoint, own_model, train_windows, val_windows });
    }
    let manifest =
        RegimeManifest { format: FORMAT.into(), regimes: entries, fallback: fallback_file, prep: ds.prep.clone() };
    write_atomic(dir.join(MANIFEST_NAME), manifest.to_json()?.as_bytes())?;
    Ok(RegimeBundle { manifest, models, route, fallback: 0, dir: dir.to_path_buf() })
}
