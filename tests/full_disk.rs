//! A full disk: checkpoints (`train --out`), reports (`backtest --out-dir`), the main job's output (`run
//! --out-dir`: an ensemble directory and a report) and the stream's journal written into
//! a small tmpfs that a filler file has nearly filled. Each must end in a clear error naming the file (never a
//! panic), the previous file at that path intact, no temporary file left behind, and the stream must stop trading
//! (exit with an error naming the journal, its journal a whole-line prefix of an unhindered run's) rather than
//! trade without a journal; freed space, the rerun resumes and ends with the unhindered journal.
//!
//! Mounting needs root (CI runs as root). Elsewhere, or where `mount` fails (a container without CAP_SYS_ADMIN),
//! each test prints why it was skipped and passes. The mount is undone by a guard, also when a check fails.

mod trader_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use tickgrad::device::Device;
use tickgrad::models::checkpoint;
use trader_support::save_two_members;

const PAGE: u64 = 4096;
const NO_SPACE: &str = "No space left on device";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickgrad-full-disk-{}", std::process::id())).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tickgrad<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickgrad")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// A tmpfs mounted for one test, unmounted (and its mount point removed) on drop.
struct Tmpfs {
    dir: PathBuf,
    filler: PathBuf,
}

impl Tmpfs {
    /// Mount `kib` KiB of tmpfs, or say why not (printed by the caller as the reason to skip).
    fn mount(name: &str, kib: u64) -> Result<Tmpfs, String> {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("Uid:").map(|r| r.split_whitespace().next().map(str::to_owned)))
            })
            .flatten();
        if uid.as_deref() != Some("0") {
            return Err(format!(
                "not running as root (uid {}): cannot mount a tmpfs",
                uid.as_deref().unwrap_or("unknown")
            ));
        }
        let dir = scratch(&format!("mnt-{name}"));
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let filler = dir.join("filler");
        Ok(Tmpfs { dir, filler })
    }

    /// Grow the filler until the disk is full, then give back `free` bytes (whole pages).
    fn fill_leaving(&self, free: u64) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.filler).unwrap();
        let page = [0u8; PAGE as usize];
        loop {
            match f.write(&page) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling {}: {e}", self.filler.display()),
            }
        }
        let len = f.metadata().unwrap().len();
        f.set_len(len - free.min(len)).unwrap();
    }

    fn unfill(&self) {
        std::fs::remove_file(&self.filler).unwrap();
    }

    /// Names in the mount, the filler left out, sorted.
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = walk(&self.dir)
            .into_iter()
            .map(|p| p.strip_prefix(&self.dir).unwrap().display().to_string())
            .filter(|n| n != "filler")
            .collect();
        v.sort();
        v
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount").arg(&self.dir).status().is_ok_and(|s| s.success());
        if !ok {
            // busy (a child still running after a failed check): detach it now, it goes when released
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Mount or print why the test is skipped.
fn mount_or_skip(test: &str, kib: u64) -> Option<Tmpfs> {
    match Tmpfs::mount(test, kib) {
        Ok(t) => Some(t),
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// The failure a full disk must give: non-zero exit, the file's path and ENOSPC in the message, no panic.
fn assert_clean_failure(what: &str, (ok, stdout, stderr): &(bool, String, String), file: &Path) {
    assert!(!ok, "{what} succeeded on a full disk: {stdout}");
    assert!(!stderr.contains("panicked"), "{what} panicked: {stderr}");
    let named = format!("{}: ", file.display());
    assert!(stderr.contains(&named) && stderr.contains(NO_SPACE), "{what}: no `{named}…{NO_SPACE}` in\n{stderr}");
}

fn pages(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(PAGE)
}

const BTC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/btcusdt_perp_1h_2020.csv");

/// The first 1,500 bars of the bundled BTCUSDT file, and a tiny TCN trained on them (on the ordinary disk).
fn trained(dir: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(BTC).unwrap();
    let data = dir.join("slice.csv");
    std::fs::write(&data, text.lines().take(1501).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let cfg = dir.join("tcn.json");
    std::fs::write(&cfg, r#"{"channels": [4, 4], "dropout": 0.0}"#).unwrap();
    let ck = dir.join("tcn.safetensors");
    let (ok, _, err) = tickgrad(&train_args(&data, &cfg, &ck, "1"));
    assert!(ok, "train: {err}");
    (data, ck)
}

fn train_args(data: &Path, cfg: &Path, out: &Path, seed: &str) -> Vec<String> {
    let (d, c, o) = (data.display().to_string(), cfg.display().to_string(), out.display().to_string());
    [
        "train", "--data", &d, "--model", "tcn", "--config", &c, "--window", "16", "--epochs", "1", "--seed", seed,
        "--out", &o,
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn a_checkpoint_on_a_full_disk_is_an_error_and_the_old_one_stays() {
    let Some(fs) = mount_or_skip("checkpoint", 256) else { return };
    let dir = scratch("checkpoint");
    let (data, previous) = trained(&dir);
    let old = std::fs::read(&previous).unwrap();
    let target = fs.dir.join("tcn.safetensors");
    std::fs::write(&target, &old).unwrap();
    // room for less than a checkpoint
    fs.fill_leaving((pages(old.len()) - 1) * PAGE);
    let cfg = dir.join("tcn.json");
    let args = train_args(&data, &cfg, &target, "2");
    let result = tickgrad(&args);
    assert_clean_failure("train --out", &result, &target);
    eprintln!("train on a full disk: {}", result.2.lines().last().unwrap_or_default());
    assert!(std::fs::read(&target).unwrap() == old, "the previous checkpoint changed");
    assert_eq!(fs.names(), ["tcn.safetensors"], "a temporary file was left");
    assert!(checkpoint::load(&target, Device::Cpu).is_ok(), "the previous checkpoint still loads");
}

#[test]
fn reports_on_a_full_disk_leave_the_previous_set() {
    let Some(fs) = mount_or_skip("reports", 512) else { return };
    let dir = scratch("reports");
    let (data, ck) = trained(&dir);
    let out = fs.dir.join("report");
    let (d, c, o) = (data.display().to_string(), ck.display().to_string(), out.display().to_string());
    let backtest =
        |fee: &str| tickgrad(&["backtest", "--checkpoint", &c, "--data", &d, "--out-dir", &o, "--fee-bps", fee]);
    let (ok, _, err) = backtest("2");
    assert!(ok, "backtest with room: {err}");
    let names = ["report.json", "returns.csv", "report.html"];
    let old: Vec<Vec<u8>> = names.iter().map(|n| std::fs::read(out.join(n)).unwrap()).collect();
    // room for a new report.json but not for the whole set: the set is written before any file is replaced
    fs.fill_leaving(pages(old[0].len()) * PAGE);
    let result = backtest("7");
    assert!(!result.0 && result.2.contains(NO_SPACE), "{result:?}");
    let file = names.iter().map(|n| out.join(n)).find(|p| result.2.contains(&p.display().to_string()));
    let file = file.unwrap_or_else(|| panic!("no report file named in {}", result.2));
    assert_clean_failure("backtest --out-dir", &result, &file);
    eprintln!("backtest on a full disk: {}", result.2.lines().last().unwrap_or_default());
    for (n, want) in names.iter().zip(&old) {
        assert!(&std::fs::read(out.join(n)).unwrap() == want, "{n} changed");
    }
    let mut want: Vec<String> = names.iter().map(|n| format!("report/{n}")).collect();
    want.sort();
    assert_eq!(fs.names(), want, "a temporary file was left");
}

/// `run` (the whole job: an ensemble directory and a report) over a previous run's output, on a disk with no room
/// left: the error names the first file it could not write, and every previous file is as it was.
#[test]
fn the_main_job_on_a_full_disk_leaves_the_previous_output() {
    let Some(fs) = mount_or_skip("run", 1024) else { return };
    let dir = scratch("run");
    let text = std::fs::read_to_string(BTC).unwrap();
    let data = dir.join("slice.csv");
    std::fs::write(&data, text.lines().take(1501).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let out = fs.dir.join("out");
    let (d, o) = (data.display().to_string(), out.display().to_string());
    let run = |seed: &str| tickgrad(&["run", "--data", &d, "--out-dir", &o, "--epochs", "1", "--seed", seed]);
    let (ok, _, err) = run("0");
    assert!(ok, "run with room: {err}");
    let before = fs.names();
    assert!(before.len() >= 9, "an ensemble and a report: {before:?}");
    let old: Vec<Vec<u8>> = before.iter().map(|n| std::fs::read(fs.dir.join(n)).unwrap()).collect();
    fs.fill_leaving(0);
    let result = run("1");
    let file = before.iter().map(|n| fs.dir.join(n)).find(|p| result.2.contains(&format!("{}: ", p.display())));
    let file = file.unwrap_or_else(|| panic!("no output file named in {}", result.2));
    assert_clean_failure("run --out-dir", &result, &file);
    eprintln!("run on a full disk: {}", result.2.lines().last().unwrap_or_default());
    for (n, want) in before.iter().zip(&old) {
        assert!(&std::fs::read(fs.dir.join(n)).unwrap() == want, "{n} changed");
    }
    assert_eq!(fs.names(), before, "a temporary file was left");
}

#[test]
fn a_stream_whose_journal_fills_the_disk_stops_trading() {
    let Some(fs) = mount_or_skip("journal", 1024) else { return };
    let dir = scratch("journal");
    let (a, b) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    save_two_members(&a, &b);
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join("spy_1d_2008_2021.csv");
    let (a, b, data) = (a.display().to_string(), b.display().to_string(), data.display().to_string());
    let stream = |journal: &Path| {
        let j = journal.display().to_string();
        tickgrad(&[
            "stream",
            "--checkpoint",
            &a,
            "--member",
            &b,
            "--data",
            &data,
            "--journal",
            &j,
            "--window",
            "16",
            "--conf-threshold",
            "0.34",
            "--agreement",
            "0.5",
            "--max-position",
            "2",
            "--size",
            "2",
        ])
    };
    let free = dir.join("free.jsonl");
    let (ok, _, err) = stream(&free);
    assert!(ok, "{err}");
    let want = std::fs::read_to_string(&free).unwrap();

    let journal = fs.dir.join("trade.jsonl");
    fs.fill_leaving(2 * PAGE); // ~50 of the journal's ~5,500 lines
    let result = stream(&journal);
    assert_clean_failure("stream --journal", &result, &journal);
    assert!(!result.1.contains("members="), "the stream went on to its summary: {}", result.1);
    let got = std::fs::read_to_string(&journal).unwrap();
    assert!(got.is_empty() || got.ends_with('\n'), "a partial line was left: {:?}", got.lines().last());
    assert!(want.starts_with(&got) && got.len() < want.len(), "not a prefix of the unhindered journal");
    assert!(got.lines().count() > 10, "the journal should have filled two pages first");
    let error = result.2.lines().last().unwrap_or_default();
    eprintln!("journal stopped at {} of {} lines: {error}", got.lines().count(), want.lines().count());

    // with room again, the rerun resumes and nothing is lost
    fs.unfill();
    let (ok, _, err) = stream(&journal);
    assert!(ok && err.contains("resuming after"), "{err}");
    assert!(std::fs::read_to_string(&journal).unwrap() == want, "the resumed journal differs");
    assert_eq!(fs.names(), ["trade.jsonl"]);
}
