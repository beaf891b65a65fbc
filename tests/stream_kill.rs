//! Crash and resume of a paper-trading stream, through the real command: `tickgrad stream --journal J` killed with
//! SIGKILL while it is processing bars, three times at different points, and rerun each time with the same
//! arguments (it resumes from the journal), ends with a journal byte-identical to an uninterrupted run's. A journal
//! whose last line was cut short (a kill in the middle of an append) is cut back to whole records on the resume
//! with a warning, and the resumed run again ends with the uninterrupted journal.
//!
//! The bars are the bundled SPY daily file, delivered at most one per `--bar-interval-ms 1` (the pacing a replay of
//! a live feed uses), so a run takes several seconds whatever the machine and each kill lands mid-run: the test
//! checks that the child had not exited before the kill and that the journal was shorter than the full one.

mod trader_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use trader_support::save_two_members;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickgrad-stream-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// The stream's arguments (two untrained members over the SPY bars), journaling to `journal`.
fn args(journal: &Path) -> Vec<String> {
    static MEMBERS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let (a, b) = MEMBERS.get_or_init(|| {
        let (a, b) = (scratch("member_a.safetensors"), scratch("member_b.safetensors"));
        save_two_members(&a, &b);
        (a, b)
    });
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join("spy_1d_2008_2021.csv");
    let mut v: Vec<String> = vec![
        "stream".into(),
        "--checkpoint".into(),
        a.display().to_string(),
        "--member".into(),
        b.display().to_string(),
        "--data".into(),
        data.display().to_string(),
        "--journal".into(),
        journal.display().to_string(),
    ];
    let rest = ["--window", "16", "--conf-threshold", "0.34", "--agreement", "0.5", "--max-position", "2"];
    v.extend(rest.iter().chain(&["--size", "2", "--var-limit", "6", "--var-window", "60"]).map(|s| s.to_string()));
    v.extend(["--bar-interval-ms".to_string(), "1".to_string()]);
    v
}

fn tickgrad(args: &[String]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickgrad")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Complete lines in the file (0 when it does not exist yet).
fn lines(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0)
}

/// The journal of an uninterrupted run, made once for both tests.
fn reference() -> &'static str {
    static REF: OnceLock<String> = OnceLock::new();
    REF.get_or_init(|| {
        let j = scratch("reference.jsonl");
        let started = Instant::now();
        let (ok, stdout, stderr) = tickgrad(&args(&j));
        assert!(ok, "{stderr}");
        eprintln!("uninterrupted run: {:.1} s; {}", started.elapsed().as_secs_f64(), stdout.trim_end());
        let text = std::fs::read_to_string(&j).unwrap();
        assert!(text.lines().filter(|l| l.contains("\"type\":\"fill\"")).count() > 20, "the test needs fills");
        text
    })
}

/// Where the first difference between the journals is, for a failure message.
fn first_difference(got: &str, want: &str) -> String {
    match got.lines().zip(want.lines()).enumerate().find(|(_, (a, b))| a != b) {
        Some((i, (a, b))) => format!("line {} differs:\n  resumed       {a}\n  uninterrupted {b}", i + 1),
        None => format!("{} lines vs {} uninterrupted", got.lines().count(), want.lines().count()),
    }
}

#[test]
fn sigkill_mid_stream_then_resume_gives_the_uninterrupted_journal() {
    let want = reference();
    let total = want.lines().count();
    let j = scratch("killed.jsonl");
    let argv = args(&j);
    let mut kept = Vec::new();
    for fraction in [0.2, 0.45, 0.7] {
        let target = (total as f64 * fraction) as usize;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickgrad"))
            .args(&argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(300);
        while lines(&j) < target {
            let exited = child.try_wait().unwrap();
            assert!(exited.is_none(), "the stream exited ({exited:?}) before the kill at {target} journal lines");
            assert!(Instant::now() < deadline, "the journal never reached {target} lines");
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(!status.success(), "killed, not finished: {status:?}");
        let at = lines(&j);
        assert!(at < total, "the kill landed after the last bar ({at} of {total} lines)");
        kept.push(at);
    }
    eprintln!("killed with {kept:?} of {total} journal lines written");
    let (ok, stdout, stderr) = tickgrad(&argv);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("resuming after"), "{stderr}");
    assert!(stdout.contains("members=2"), "{stdout}");
    let got = std::fs::read_to_string(&j).unwrap();
    assert!(got == want, "after 3 kills and a resume: {}", first_difference(&got, want));
}

#[test]
fn a_torn_last_line_is_cut_off_and_the_resume_matches() {
    let want = reference();
    let lines: Vec<&str> = want.split_inclusive('\n').collect();
    let k = lines.len() / 2;
    let whole: usize = lines[..k].iter().map(|l| l.len()).sum();
    // a kill mid-append: half of line k+1; and one that lost only the newline
    for (name, torn) in [("half", lines[k].len() / 2), ("no_newline", lines[k].len() - 1)] {
        let j = scratch(&format!("torn_{name}.jsonl"));
        std::fs::write(&j, &want.as_bytes()[..whole + torn]).unwrap();
        let (ok, _, stderr) = tickgrad(&args(&j));
        assert!(ok, "{stderr}");
        let warning = format!("line {} is a torn write ({torn} bytes); cut off", k + 1);
        assert!(stderr.contains(&warning) && stderr.contains("torn_"), "{name}: no `{warning}` in\n{stderr}");
        assert!(stderr.contains(&format!("resuming after {k} journal records")), "{name}: {stderr}");
        let got = std::fs::read_to_string(&j).unwrap();
        assert!(got == want, "{name}: {}", first_difference(&got, want));
    }
}

#[test]
fn a_bar_interval_that_is_not_a_duration_is_refused() {
    let j = scratch("never.jsonl");
    let mut argv = args(&j);
    argv.truncate(argv.len() - 2);
    argv.push("--bar-interval-ms=-5".into());
    let (ok, _, stderr) = tickgrad(&argv);
    assert!(!ok && stderr.contains("bar-interval-ms") && stderr.contains("-5"), "{stderr}");
    assert_eq!(lines(&j), 0, "nothing was journaled");
}
