//! Nothing is lost: every output file is written to a temporary sibling, flushed, then renamed over the target,
//! so a reader sees either the old file or the whole new one, never half of it. A write that fails (a full disk)
//! removes its temporary file and is an error naming the target; the old file stays as it was.

use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    write_atomic_all(&[(path.as_ref(), bytes)])
}

/// Write several files that belong together (a report's JSON, CSV and HTML): every temporary file is written and
/// synced before the first rename, so a failure while writing (a full disk) leaves every old file in place rather
/// than a mix of new and old ones. A crash between two renames can still mix them; each file is whole either way.
pub fn write_atomic_all(files: &[(&Path, &[u8])]) -> Result<()> {
    let mut temps: Vec<PathBuf> = Vec::with_capacity(files.len());
    let written = files.iter().try_for_each(|&(path, bytes)| {
        let tmp = temp_path(path)?;
        temps.push(tmp.clone());
        write_synced(&tmp, bytes).map_err(|e| Error::io(path, e))
    });
    let renamed = written.and_then(|()| {
        files
            .iter()
            .zip(&temps)
            .try_for_each(|(&(path, _), tmp)| std::fs::rename(tmp, path).map_err(|e| Error::io(path, e)))
    });
    if renamed.is_err() {
        for tmp in &temps {
            let _ = std::fs::remove_file(tmp);
        }
    }
    renamed
}

/// `.NAME.tmpPID` beside `path`.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| Error::io(path, "not a file path"))?;
    Ok(dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id())))
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Remove the temporary siblings `write_atomic` left beside `path` when a writer was killed mid-write (names
/// `.<file>.tmp<pid>` whose process no longer runs), and return them. They are never read, only clutter. A
/// process is judged by `/proc/<pid>`; where `/proc` is absent nothing is removed.
pub fn remove_stale_temps(path: impl AsRef<Path>) -> Result<Vec<std::path::PathBuf>> {
    let path = path.as_ref();
    let proc = Path::new("/proc");
    let (Some(name), true) = (path.file_name(), proc.join("self").exists()) else { return Ok(Vec::new()) };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let prefix = format!(".{}.tmp", name.to_string_lossy());
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file.strip_prefix(&prefix) else { continue };
        let dead = !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && pid != std::process::id().to_string()
            && !proc.join(pid).exists();
        if dead {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_set_leaves_the_old_files_and_no_temporaries() {
        let dir = std::env::temp_dir().join(format!("tickgrad-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.json"), dir.join("b.csv"));
        write_atomic_all(&[(&a, b"old a"), (&b, b"old b")]).unwrap();
        // the second target's temporary cannot be created: its directory does not exist
        let missing = dir.join("no_such_dir").join("c.html");
        let err = write_atomic_all(&[(&a, b"new a"), (&missing, b"new c")]).unwrap_err().to_string();
        assert!(err.contains("c.html"), "{err}");
        assert_eq!(std::fs::read(&a).unwrap(), b"old a", "the first file of the set was not replaced");
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["a.json", "b.csv"], "no temporary file is left");
        write_atomic(&b, b"new b").unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
    }

    #[test]
    fn stale_temps_of_dead_writers_are_removed_and_live_ones_kept() {
        let dir = std::env::temp_dir().join(format!("tickgrad-atomic-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("m.safetensors");
        write_atomic(&target, b"whole").unwrap();
        // pid 2^22 + 1 is above Linux's pid_max limit, so no process has it.
        let dead = dir.join(".m.safetensors.tmp4194305");
        let live = dir.join(format!(".m.safetensors.tmp{}", std::process::id()));
        let other = dir.join(".n.safetensors.tmp4194305");
        for p in [&dead, &live, &other] {
            std::fs::write(p, b"torn").unwrap();
        }
        let removed = remove_stale_temps(&target).unwrap();
        let has_proc = Path::new("/proc/self").exists();
        assert_eq!(removed, if has_proc { vec![dead.clone()] } else { vec![] });
        assert_eq!(dead.exists(), !has_proc);
        assert!(live.exists() && other.exists() && target.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
