//! Append-only journal of trading decisions and fills, one JSON object per line, that survives a crash.
//!
//! Durability: [`Journal::append`] writes the whole line and `fsync`s the file (`File::sync_data`) before it
//! returns, and a new journal's directory is synced once so the file itself survives; a record the caller saw
//! appended is on disk. A crash can still cut the *last* line short (the write was not yet synced): on reopen a
//! final line without its newline, or one that does not parse, is a torn write and is cut off (with a warning
//! returned to the caller). A bad line anywhere else is corruption and an error naming the file and line.
//!
//! A failed append (a full disk, an I/O error, a failed `fsync`) is an error naming the file, and the journal cuts
//! back whatever part of the line reached it, so the file stays whole records; the journal then refuses every
//! later append, and the trader stops trading on that error ([`crate::trade::Trader::on_bar`]): a trade that
//! cannot be journaled is not made.
//!
//! Resumption: [`Journal::open`] returns every record, so a restarted trader rebuilds its position, cash, pending
//! order and the last bar it processed by replaying them (`trader.rs`).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// After bar `timestamp` closed: the gate's class and confidence, the risk-checked target position, and why
    /// the target differs from the signal (a limit), if it does. `model` names the served checkpoints, and
    /// `top_class`/`top_prob` are the ensemble's top class before the gate's hold and its combined probability:
    /// what the monitor scores, so `tickgrad monitor` can recompute its metrics from the records alone. The three
    /// are absent from records written before they existed (and from lines that omit them).
    Decision {
        timestamp: i64,
        class: u32,
        confidence: f64,
        signal: f64,
        target: f64,
        limit: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        top_class: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        top_prob: Option<f64>,
    },
    /// The order for `target` filled at the open of bar `timestamp`.
    Fill { timestamp: i64, price: f64, qty: f64, fee: f64, position: f64, cash: f64 },
    /// Trading stopped (the max-loss stop): every later target is 0.
    Halt { timestamp: i64, reason: String },
}

impl Record {
    pub fn timestamp(&self) -> i64 {
        match self {
            Record::Decision { timestamp, .. } | Record::Fill { timestamp, .. } | Record::Halt { timestamp, .. } => {
                *timestamp
            }
        }
    }
}

pub struct Journal {
    file: File,
    path: PathBuf,
    /// Bytes of whole records in the file: where a failed append is cut back to.
    len: u64,
    /// Why an earlier append failed; every later one is refused with it.
    failed: Option<String>,
}

impl Journal {
    /// Open (or create) the journal at `path`; returns it, the records already in it, and warnings (a torn last
    /// line that was cut off).
    pub fn open(path: impl AsRef<Path>) -> Result<(Journal, Vec<Record>, Vec<String>)> {
        let path = path.as_ref().to_path_buf();
        let existed = path.exists();
        let mut file =
            OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(|e| Error::io(&path, e))?;
        if !existed {
            sync_dir(&path)?;
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| Error::io(&path, format!("reading the journal: {e}")))?;
        let mut records = Vec::new();
        let mut warnings = Vec::new();
        let mut good_len = 0usize;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let last = i + 1 == lines.len();
            let complete = line.ends_with('\n');
            match serde_json::from_str::<Record>(line.trim_end_matches('\n')) {
                Ok(r) if complete => {
                    records.push(r);
                    good_len += line.len();
                }
                _ if last => {
                    warnings.push(format!(
                        "{}: line {} is a torn write ({} bytes); cut off",
                        path.display(),
                        i + 1,
                        line.len()
                    ));
                }
                Err(e) => return Err(Error::parse(format!("{}:{}", path.display(), i + 1), e.to_string())),
                Ok(_) => unreachable!("only the last line can lack its newline"),
            }
        }
        if good_len < text.len() {
            file.set_len(good_len as u64).map_err(|e| Error::io(&path, format!("cutting a torn write: {e}")))?;
            file.sync_data().map_err(|e| Error::io(&path, e))?;
        }
        Ok((Journal { file, path, len: good_len as u64, failed: None }, records, warnings))
    }

    /// Append one record and fsync before returning. On failure the part of the line that was written is cut
    /// off again and the journal refuses every later append (module docs).
    pub fn append(&mut self, r: &Record) -> Result<()> {
        if let Some(why) = &self.failed {
            return Err(Error::io(&self.path, format!("an earlier append failed ({why}); nothing more is journaled")));
        }
        let mut line = serde_json::to_string(r).map_err(|e| Error::Invalid(format!("journal record: {e}")))?;
        line.push('\n');
        let written = self
            .file
            .write_all(line.as_bytes())
            .map_err(|e| format!("appending a {}-byte record: {e}", line.len()))
            .and_then(|_| self.file.sync_data().map_err(|e| format!("fsync: {e}")));
        match written {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(why) => {
                // Cut back a partial line; if even that fails, the next open finds it torn and cuts it then.
                let cut = self.file.set_len(self.len).and_then(|_| self.file.sync_data());
                let why = match cut {
                    Ok(()) => why,
                    Err(e) => format!("{why}; cutting the partial line back failed too ({e})"),
                };
                self.failed = Some(why.clone());
                Err(Error::io(&self.path, why))
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why an append failed, once one has: the journal takes no more records.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }
}

/// Sync the directory holding `path`, so a newly created file's entry is durable too.
fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, format!("syncing the directory: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tickgrad-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        p
    }

    fn fill(t: i64) -> Record {
        Record::Fill { timestamp: t, price: 100.5, qty: -2.0, fee: 0.1, position: -2.0, cash: 301.0 }
    }

    #[test]
    fn records_survive_reopen_and_torn_tails_are_cut() {
        let p = scratch("j.jsonl");
        let (mut j, recs, _) = Journal::open(&p).unwrap();
        assert!(recs.is_empty());
        let d = Record::Decision {
            timestamp: 1,
            class: 0,
            confidence: 0.8,
            signal: 1.0,
            target: 0.5,
            limit: Some("var".into()),
            model: Some("tf+lstm".into()),
            top_class: Some(0),
            top_prob: Some(0.625),
        };
        // A line written before `model`/`top_class`/`top_prob` existed still reads, with them absent.
        let old =
            r#"{"type":"decision","timestamp":0,"class":2,"confidence":0.4,"signal":0.0,"target":0.0,"limit":null}"#;
        match serde_json::from_str::<Record>(old).unwrap() {
            Record::Decision { model: None, top_class: None, top_prob: None, class: 2, .. } => {}
            other => panic!("{other:?}"),
        }
        j.append(&d).unwrap();
        j.append(&fill(2)).unwrap();
        drop(j);
        // a crash mid-write: half a line at the end
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"type":"fill","timestamp":3,"pri"#).unwrap();
        drop(f);
        let (mut j, recs, warn) = Journal::open(&p).unwrap();
        assert_eq!(recs, vec![d.clone(), fill(2)]);
        assert_eq!(warn.len(), 1, "{warn:?}");
        j.append(&fill(3)).unwrap();
        drop(j);
        let (_, recs, warn) = Journal::open(&p).unwrap();
        assert_eq!(recs, vec![d, fill(2), fill(3)]);
        assert!(warn.is_empty());
    }

    /// A write that fails (here: a handle that cannot write; on a full disk, `tests/full_disk.rs`) is an error
    /// naming the file, leaves the file as it was, and every later append is refused.
    #[test]
    fn a_failed_append_is_an_error_and_the_journal_takes_nothing_more() {
        let p = scratch("fails.jsonl");
        let (mut j, _, _) = Journal::open(&p).unwrap();
        j.append(&fill(1)).unwrap();
        let before = std::fs::read(&p).unwrap();
        j.file = File::open(&p).unwrap(); // read-only: the next write fails
        let err = j.append(&fill(2)).unwrap_err().to_string();
        assert!(err.contains("fails.jsonl") && err.contains("appending a"), "{err}");
        assert!(j.failure().is_some());
        j.file = OpenOptions::new().append(true).open(&p).unwrap(); // writable again: still refused
        let err = j.append(&fill(3)).unwrap_err().to_string();
        assert!(err.contains("an earlier append failed"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }

    #[test]
    fn corruption_before_the_end_is_an_error() {
        let p = scratch("bad.jsonl");
        std::fs::write(&p, "{\"type\":\"halt\",\"timestamp\":1,\"reason\":\"x\"}\nnot json\n{\"type\":\"halt\",\"timestamp\":2,\"reason\":\"y\"}\n")
            .unwrap();
        let err = Journal::open(&p).err().expect("corrupt journal").to_string();
        assert!(err.contains("bad.jsonl:2"), "{err}");
    }
}
