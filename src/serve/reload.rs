//! Swapping in a new checkpoint between two bars, for `tickgrad stream --reload-checkpoint`: retrain or
//! fine-tune offline, write the checkpoint over the served file, and the stream serves the new model from the
//! next bar on, without a restart and without dropping or repeating a bar.
//!
//! [`CheckpointWatch`] remembers the stamp (modification time, length and, on Unix, inode) of the file it serves.
//! Every `every` bars, before the bar is pushed, it stats the file: one `stat` call (about a microsecond, outside
//! the timed bar), so checking every bar (the default) costs nothing next to a bar's features and model. Only a
//! changed stamp makes it read and load the file. Writers should replace the file atomically, as
//! `checkpoint::save` does (write a temporary file, rename it over the old one): a reader then sees the old file or
//! the new one, never half of one, and the rename changes the inode even when the time and length do not. A
//! non-atomic copy can be caught mid-write: it fails to load, is reported, and is tried again when the file
//! changes again.
//!
//! What a replacement must keep so that the next answer means the same thing:
//! - raw bars (`--data`, an [`Engine`](super::Engine)): the model-input feature list, in order, and so `n_features`, and the
//!   feature config (regime thresholds); the scaler may change ([`Engine::swap_same_inputs`](super::Engine::swap_same_inputs));
//! - already-scaled rows (`--input`, a [`StreamPredictor`]): `n_features`, and the feature list and the scaler when the
//!   running checkpoint names them, since the rows were made for it ([`RowContract`]);
//! - both: the answer width (outputs per bar), which whoever reads the answers relies on;
//! - paper trading: as raw bars, plus the member's kind for the gate
//!   ([`Trader::swap_member`](crate::trade::Trader::swap_member)).
//!
//! The running window is kept (a new checkpoint's stored window only draws a warning). A refused or unreadable
//! replacement leaves the running model serving: it is reported in one line, once per change of the file, and
//! never stops the stream.

use super::predictor::StreamPredictor;
use crate::data::Scaler;
use crate::device::Device;
use crate::models::checkpoint::{self, Checkpoint};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Ok(Stamp { modified: m.modified().ok(), len: m.len(), inode })
}

/// Watches one checkpoint file for replacement; see the module docs.
#[derive(Debug)]
pub struct CheckpointWatch {
    path: PathBuf,
    every: u64,
    polls: u64,
    /// The stamp at the last check; `None` when the file was missing then.
    seen: Option<Stamp>,
    swaps: usize,
    rejected: usize,
}

impl CheckpointWatch {
    /// Watch `path` (the checkpoint being served, stamped now), checking every `every` bars.
    pub fn new(path: &Path, every: usize) -> Result<CheckpointWatch> {
        if every == 0 {
            return Err(Error::config("reload-every", "must be at least 1 bar"));
        }
        let seen = Some(stamp(path).map_err(|e| Error::io(path, e))?);
        Ok(CheckpointWatch { path: path.to_path_buf(), every: every as u64, polls: 0, seen, swaps: 0, rejected: 0 })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replacements swapped in so far.
    pub fn swaps(&self) -> usize {
        self.swaps
    }

    /// Replacements refused (unreadable, or not compatible with the running model) so far.
    pub fn rejected(&self) -> usize {
        self.rejected
    }

    /// Count one bar; when a check is due and the file changed since the last check, load it. `Ok(None)`: nothing
    /// new. `Err`: the file changed but cannot be loaded (or is gone); it is not retried until it changes again.
    pub fn poll(&mut self, device: Device) -> Result<Option<Checkpoint>> {
        let due = self.polls.is_multiple_of(self.every);
        self.polls += 1;
        if !due {
            return Ok(None);
        }
        let now = stamp(&self.path).ok();
        if now == self.seen {
            return Ok(None);
        }
        self.seen = now;
        if now.is_none() {
            return Err(Error::io(&self.path, "the checkpoint file is gone; serving the loaded model"));
        }
        checkpoint::load(&self.path, device).map(Some)
    }

    /// Between two bars, before bar `bar` is pushed: poll, and hand a new checkpoint to `swap` (which must leave
    /// the running model in place when it fails). Returns the one line to print on stderr, if anything happened.
    pub fn between_bars(
        &mut self,
        bar: u64,
        device: Device,
        swap: impl FnOnce(Checkpoint) -> Result<Vec<String>>,
    ) -> Option<String> {
        let outcome = match self.poll(device) {
            Ok(None) => return None,
            Ok(Some(ck)) => {
                let what = describe(&ck);
                swap(ck).map(|warnings| (what, warnings))
            }
            Err(e) => Err(e),
        };
        let file = self.path.display();
        Some(match outcome {
            Ok((what, warnings)) => {
                self.swaps += 1;
                let notes: String = warnings.iter().map(|w| format!("; warning: {w}")).collect();
                format!("reload: swapped in {file} ({what}) before bar {bar}{notes}")
            }
            Err(e) => {
                self.rejected += 1;
                format!("reload: kept the running model at bar {bar}, refused {file}: {e}")
            }
        })
    }
}

fn describe(ck: &Checkpoint) -> String {
    let cfg = ck.model.config();
    format!("{}, {} features", cfg.kind(), cfg.n_features())
}

/// What a checkpoint fed already-scaled rows promises about them: their width and, when its metadata says,
/// their columns and scaling. A replacement must promise the same, or the rows would mean something else to it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowContract {
    pub n_features: usize,
    pub features: Option<Vec<String>>,
    pub scaler: Option<Scaler>,
}

impl RowContract {
    /// The contract of a checkpoint's metadata; `n_features` is its model's.
    pub fn of(meta: &BTreeMap<String, String>, n_features: usize) -> Result<RowContract> {
        let features = meta
            .get(super::engine::FEATURES_KEY)
            .map(|t| {
                serde_json::from_str::<Vec<String>>(t).map_err(|e| {
                    Error::parse(
                        format!("checkpoint metadata {}", super::engine::FEATURES_KEY),
                        format!("expected a JSON array: {e}"),
                    )
                })
            })
            .transpose()?;
        let scaler = meta.get(super::engine::SCALER_KEY).map(|t| Scaler::from_json(t)).transpose()?;
        Ok(RowContract { n_features, features, scaler })
    }

    /// Refuse `ck` unless it reads the same rows: same width, and the same feature list and scaler where the
    /// running checkpoint has them.
    pub fn check(&self, ck: &Checkpoint) -> Result<()> {
        let new = RowContract::of(&ck.metadata, ck.model.config().n_features())?;
        if new.n_features != self.n_features {
            return Err(Error::shape(
                "the new checkpoint's n_features (rows per bar)",
                self.n_features,
                new.n_features,
            ));
        }
        if self.features.is_some() && new.features != self.features {
            return Err(Error::Invalid(format!(
                "the new checkpoint reads features {:?}, the rows are {:?}",
                new.features.unwrap_or_default(),
                self.features.as_deref().unwrap_or_default()
            )));
        }
        if self.scaler.is_some() && new.scaler != self.scaler {
            return Err(Error::Invalid(
                "the new checkpoint's scaler differs from the running one's, with which the input rows were scaled \
                 (serve raw bars with --data to change scalers)"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Swap `ck` into a predictor fed already-scaled rows, after checking it against `contract`; the next push is
/// answered by the new model over the retained window ([`StreamPredictor::swap_model`]).
pub fn swap_predictor(p: &mut StreamPredictor, contract: &RowContract, ck: Checkpoint) -> Result<Vec<String>> {
    contract.check(&ck)?;
    check_output_width(&ck, p.output_width())?;
    let warnings = window_warning(&ck, p.window())?;
    p.swap_model(Arc::new(ck.model))?;
    Ok(warnings)
}

/// Refuse a checkpoint whose answers have another width: whoever reads the stream (an answers file, a gate)
/// expects the running model's columns.
pub(crate) fn check_output_width(ck: &Checkpoint, serving: usize) -> Result<()> {
    let k = ck.model.config().output_width();
    if k != serving {
        return Err(Error::shape("the new checkpoint's answer width (outputs per bar)", serving, k));
    }
    Ok(())
}

/// A warning when the checkpoint was trained on another window than the one being served.
pub(crate) fn window_warning(ck: &Checkpoint, serving: usize) -> Result<Vec<String>> {
    Ok(match super::engine::stored_window(&ck.metadata)? {
        Some(w) if w != serving => {
            vec![format!("the new checkpoint was trained on windows of {w} bars; serving keeps {serving}")]
        }
        _ => Vec::new(),
    })
}
