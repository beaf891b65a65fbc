//! Nothing is lost: every output file is written to a temporary sibling, flushed, then renamed over the target,
//! so a reader sees either the old file or the whole new one, never half of it.

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| Error::io(path, "not a file path"))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
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
    fn stale_temps_of_dead_writers_are_removed_and_live_ones_kept() {
        let dir = std::env::temp_dir().join(format!("tickgrad-atomic-{}", std::process::id()));
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
