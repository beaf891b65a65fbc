//! Crash and resume for `tickgrad train` and `tickgrad run`: the resume state of a network's training lives
//! beside its checkpoint as `<checkpoint>.resume` (`train::resume` has the format), rewritten atomically after
//! every epoch and removed once the final checkpoint is written.
//!
//! The final checkpoint carries the run's fingerprint under `tickgrad.fingerprint`; the checkpoints written at
//! each improvement during training do not. So with `--resume`, a checkpoint that has a matching fingerprint
//! and no resume state beside it is a finished training and is not redone (how `run --resume` skips the
//! members it had finished), and every other state of the directory after a kill is either resumed from its
//! last completed epoch or, before the first one completed, started over.

use crate::io::atomic::{remove_stale_temps, write_atomic};
use crate::io::hash::Fnv1a;
use crate::models::checkpoint::{self, Checkpoint};
use crate::models::Model;
use crate::train::resume::FINGERPRINT_KEY;
use crate::train::{Event, Fingerprint, ResumeFile, TrainConfig, TrainState};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a training run with an output file treats the resume state beside it.
#[derive(Debug, Clone, Default)]
pub struct ResumeOptions {
    /// Continue from a matching state (`--resume`). False: start fresh, replacing any state found.
    pub resume: bool,
    /// Fields the caller adds to the run's fingerprint, such as the data file's identity
    /// (`io::hash::describe_bytes` of its bytes): what the trainer cannot see.
    pub identity: BTreeMap<String, String>,
}

/// Where the resume state of the training that writes `checkpoint` lives.
pub fn resume_path(checkpoint: &Path) -> PathBuf {
    let mut name = checkpoint.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".resume");
    checkpoint.with_file_name(name)
}

/// How a run begins.
pub(super) enum Begin {
    Fresh,
    Resume(TrainState),
    /// The checkpoint is a finished training of this very run.
    Finished(Checkpoint),
}

/// One run's resume file and the fingerprint it must carry.
pub(super) struct StateFile {
    pub checkpoint: PathBuf,
    pub path: PathBuf,
    pub fingerprint: Fingerprint,
}

/// A short identity of any serialisable value: its JSON's length and hash.
pub(super) fn json_identity<T: serde::Serialize>(v: &T, what: &str) -> Result<String> {
    let s = serde_json::to_string(v).map_err(|e| Error::Invalid(format!("{what} to JSON: {e}")))?;
    Ok(format!("{} bytes of JSON fnv1a64 {:016x}", s.len(), Fnv1a::default().bytes(s.as_bytes()).finish()))
}

impl StateFile {
    pub fn new(checkpoint: &Path, fingerprint: Fingerprint) -> StateFile {
        StateFile { checkpoint: checkpoint.to_path_buf(), path: resume_path(checkpoint), fingerprint }
    }

    /// Decide how to begin, saying why through `on_event`. A resume state that does not match this run is an
    /// error naming the differing fields; so is, with `--resume`, a finished checkpoint of another run.
    pub fn begin(
        &self,
        opts: &ResumeOptions,
        model: &mut Model,
        train_len: usize,
        tc: &TrainConfig,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Begin> {
        let (rp, cp) = (self.path.display(), self.checkpoint.display());
        for p in [&self.checkpoint, &self.path] {
            for t in remove_stale_temps(p)? {
                on_event(Event::Note(&format!("removed {}, left by a writer that was killed", t.display())));
            }
        }
        let state_exists = self.path.try_exists().map_err(|e| Error::io(&self.path, e))?;
        if !opts.resume {
            if state_exists {
                std::fs::remove_file(&self.path).map_err(|e| Error::io(&self.path, e))?;
                on_event(Event::Note(&format!(
                    "removed the resume state {rp} of an earlier run (no --resume); starting fresh"
                )));
            }
            return Ok(Begin::Fresh);
        }
        if state_exists {
            let source = rp.to_string();
            let bytes = std::fs::read(&self.path).map_err(|e| Error::io(&self.path, e))?;
            let file = ResumeFile::parse(&bytes, &source)?;
            self.fingerprint.check(&file.fingerprint, &source)?;
            let state = file.into_state(model, train_len, tc)?;
            on_event(Event::Note(&format!("resuming after epoch {} of {} from {rp}", state.epoch, tc.epochs)));
            return Ok(Begin::Resume(state));
        }
        if self.checkpoint.try_exists().map_err(|e| Error::io(&self.checkpoint, e))? {
            let ck = checkpoint::load(&self.checkpoint, tc.device)?;
            if let Some(text) = ck.metadata.get(FINGERPRINT_KEY) {
                let source = cp.to_string();
                let found = Fingerprint::from_json(text, &source)?;
                self.fingerprint.check(&found, &source).map_err(|e| {
                    Error::Invalid(format!("{e} (a finished checkpoint; run without --resume to train it again)"))
                })?;
                on_event(Event::Note(&format!("{cp} is a finished training of this run; not training it again")));
                return Ok(Begin::Finished(ck));
            }
        }
        on_event(Event::Note(&format!("no resume state at {rp}; starting fresh")));
        Ok(Begin::Fresh)
    }

    pub fn write(&self, state: &TrainState) -> Result<()> {
        write_atomic(&self.path, &state.to_bytes(&self.fingerprint)?)
    }

    /// The final checkpoint is written: the state is no longer needed.
    pub fn finish(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.path, e)),
            _ => Ok(()),
        }
    }
}
