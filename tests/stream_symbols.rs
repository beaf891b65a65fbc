//! `tickgrad stream --symbols`: two symbols side by side in one process give, per symbol, exactly what two
//! single-symbol runs on the same files give (answers bit for bit; journals and store rows record for record), a
//! rerun resumes each symbol from its own ledger, the checkpoint files are read once and their weights shared by
//! every symbol's engine, the metrics carry `symbol="…"`, and bad lists are clear errors.

mod trader_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use tickgrad::data::Bars;
use tickgrad::device::Device;
use tickgrad::feed::replay::{ReplayFeed, ReplaySeries};
use tickgrad::feed::runner::{Lane, Runner, Serving, SharedCheckpoint};
use tickgrad::io::npy::read_npy;
use tickgrad::store::{self, SeriesKey, TimeRange};
use tickgrad::trade::journal::Record;
use trader_support::{save_two_members, scrape_until, spy_range};

fn scratch(name: &str) -> PathBuf {
    trader_support::scratch("stream-symbols", name)
}

fn tickgrad(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickgrad")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// `bars` as an OHLCV CSV with prices × `scale` and open times + `shift_ms`.
fn write_csv(path: &Path, bars: &Bars, scale: f64, shift_ms: i64) {
    let mut text = String::from("timestamp,open,high,low,close,volume\n");
    for i in 0..bars.len() {
        let p = |v: &[f64]| v[i] * scale;
        text += &format!(
            "{},{},{},{},{},{}\n",
            bars.timestamp[i] + shift_ms,
            p(&bars.open),
            p(&bars.high),
            p(&bars.low),
            p(&bars.close),
            bars.volume[i]
        );
    }
    std::fs::write(path, text).unwrap();
}

const N: usize = 400;

/// Two different series: SPY daily bars 0..N, and bars 150..150+N scaled by 2.5 and opening an hour later (so the
/// two interleave rather than tie), plus the first `cut` bars of each (a run that stopped early).
struct Files {
    a: PathBuf,
    b: PathBuf,
    a_cut: PathBuf,
    b_cut: PathBuf,
    ck: PathBuf,
    member: PathBuf,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let (a, b) = (spy_range(0..N), spy_range(150..150 + N));
        let f = Files {
            a: scratch("spy.csv"),
            b: scratch("spx.csv"),
            a_cut: scratch("spy_cut.csv"),
            b_cut: scratch("spx_cut.csv"),
            ck: scratch("a.safetensors"),
            member: scratch("b.safetensors"),
        };
        write_csv(&f.a, &a, 1.0, 0);
        write_csv(&f.b, &b, 2.5, 3_600_000);
        write_csv(&f.a_cut, &a.slice(0..230).unwrap(), 1.0, 0);
        write_csv(&f.b_cut, &b.slice(0..170).unwrap(), 2.5, 3_600_000);
        save_two_members(&f.ck, &f.member);
        f
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn both(x: &Path, y: &Path) -> String {
    format!("{},{}", s(x), s(y))
}

#[test]
fn two_symbols_answer_exactly_as_two_single_runs() {
    let f = files();
    let base = ["stream", "--checkpoint", s(&f.ck), "--window", "16"];
    let mut single = Vec::new();
    for (data, name) in [(&f.a, "single_a.npy"), (&f.b, "single_b.npy")] {
        let out = scratch(name);
        let (ok, stdout, stderr) = tickgrad(&[&base[..], &["--data", s(data), "--out", s(&out)]].concat());
        assert!(ok, "{stderr}");
        assert!(!stdout.contains("symbol="), "a single-symbol run's output is unchanged: {stdout}");
        single.push(read_npy(&out).unwrap());
    }
    let (oa, ob) = (scratch("multi_a.npy"), scratch("multi_b.npy"));
    let (ok, stdout, stderr) = tickgrad(
        &[&base[..], &["--symbols", "SPY,SPX", "--data", &both(&f.a, &f.b), "--out", &both(&oa, &ob)]].concat(),
    );
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("symbol=SPY model=transformer ") && lines[0].ends_with(" bars=400 answers=385"));
    assert!(lines[1].starts_with("symbol=SPX model=transformer ") && lines[1].ends_with(" bars=400 answers=385"));
    // One read of the checkpoint file, its weights held by both symbols' engines.
    assert_eq!(lines[2], "weights checkpoints=1 file_loads=1 engines_per_checkpoint=2", "{stdout}");
    assert!(lines[3].starts_with("per_bar_us p50="), "{stdout}");
    for (want, got) in single.iter().zip([read_npy(&oa).unwrap(), read_npy(&ob).unwrap()]) {
        assert_eq!(got.shape, vec![N - 15, 3]);
        assert_eq!(got.shape, want.shape);
        assert_eq!(got.data, want.data, "per-bar answers differ from the single-symbol run");
    }
    assert_ne!(single[0].data, single[1].data, "the two symbols' series must differ for the test to mean anything");
}

/// The journals of single-symbol trading runs over the full files: what every multi-symbol run must match.
fn reference_journals() -> &'static [String; 2] {
    static REFS: OnceLock<[String; 2]> = OnceLock::new();
    REFS.get_or_init(|| {
        let f = files();
        [(&f.a, "ref_a.jsonl"), (&f.b, "ref_b.jsonl")].map(|(data, name)| {
            let j = scratch(name);
            let (ok, stdout, stderr) =
                tickgrad(&[&trade_args()[..], &["--data", s(data), "--journal", s(&j)]].concat());
            assert!(ok, "{stderr}");
            assert!(stdout.starts_with("members=2 bars=400 "), "{stdout}");
            std::fs::read_to_string(&j).unwrap()
        })
    })
}

fn trade_args() -> Vec<&'static str> {
    let f = files();
    vec![
        "stream",
        "--checkpoint",
        s(&f.ck),
        "--member",
        s(&f.member),
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
        "--var-limit",
        "6",
        "--var-window",
        "60",
    ]
}

#[test]
fn two_symbols_trade_journal_resume_and_label_their_metrics_as_two_single_runs() {
    use std::io::BufRead;
    let f = files();
    let refs = reference_journals();
    assert!(refs.iter().all(|r| r.contains("\"type\":\"fill\"")), "the test needs fills in both journals");
    assert_ne!(refs[0], refs[1]);
    let (ja, jb) = (scratch("multi_a.jsonl"), scratch("multi_b.jsonl"));
    let journals = both(&ja, &jb);
    let multi = [&trade_args()[..], &["--symbols", "SPY,SPX", "--journal", &journals]].concat();

    // A run that stopped early (each symbol at a different bar) ...
    let (ok, _, stderr) = tickgrad(&[&multi[..], &["--data", &both(&f.a_cut, &f.b_cut)]].concat());
    assert!(ok, "{stderr}");
    assert!(std::fs::read_to_string(&ja).unwrap().len() < refs[0].len());
    // ... resumed over the full files, serving metrics while it runs.
    let data = both(&f.a, &f.b);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickgrad"))
        .args(&multi)
        .args(["--data", &data, "--metrics-addr", "127.0.0.1:0", "--serve-secs", "60"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = String::new();
    let addr = loop {
        let line = lines.next().expect("stderr open").unwrap();
        if let Some(addr) = line.strip_prefix("metrics listening on ") {
            break addr.to_string();
        }
        before += &line;
        before.push('\n');
    };
    // SPX opens an hour after SPY each day: its last bar is the run's last event.
    let body = scrape_until(&addr, &format!("tickgrad_bars_total{{symbol=\"SPX\"}} {N}\n"));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(before.contains("warning: SPY: ") && before.contains("warning: SPX: "), "{before}");
    assert_eq!(before.matches("resuming after").count(), 2, "{before}");
    for metric in [
        format!("tickgrad_bars_total{{symbol=\"SPY\"}} {N}\n"),
        "tickgrad_rolling_accuracy{symbol=\"SPY\"} 0.".into(),
        "tickgrad_rolling_accuracy{symbol=\"SPX\"} 0.".into(),
        "tickgrad_feature_psi{symbol=\"SPX\",feature=\"ret_1\"} ".into(),
        "tickgrad_bar_latency_us{symbol=\"SPY\",quantile=\"0.99\"} ".into(),
    ] {
        assert!(body.contains(&metric), "{metric} missing from\n{body}");
    }
    assert_eq!(body.matches("# TYPE tickgrad_bars_total counter").count(), 1, "each family declared once");
    let page = body.split_once("\r\n\r\n").map_or(body.as_str(), |(_, page)| page);
    let unlabelled: Vec<&str> = page.lines().filter(|l| !l.starts_with('#') && !l.contains("{symbol=\"")).collect();
    assert!(unlabelled.is_empty(), "every sample names its symbol: {unlabelled:?}");
    assert_eq!(std::fs::read_to_string(&ja).unwrap(), refs[0], "SPY's resumed journal");
    assert_eq!(std::fs::read_to_string(&jb).unwrap(), refs[1], "SPX's resumed journal");

    // A rerun over the same bars adds nothing; the two checkpoints are read once each for both symbols.
    let (ok, stdout, stderr) = tickgrad(&[&multi[..], &["--data", &data]].concat());
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("symbol=SPY members=2 bars=400 ") && lines[1].starts_with("symbol=SPX members=2 "));
    assert_eq!(lines[2], "weights checkpoints=2 file_loads=2 engines_per_checkpoint=2,2", "{stdout}");
    assert_eq!(std::fs::read_to_string(&ja).unwrap(), refs[0]);
    assert_eq!(std::fs::read_to_string(&jb).unwrap(), refs[1]);
}

#[test]
fn two_symbols_from_the_store_record_what_single_runs_journal() {
    let f = files();
    let refs = reference_journals();
    let db = format!("sqlite:{}", scratch("m.db").display());
    for (data, symbol) in [(&f.a, "SPY"), (&f.b, "SPX")] {
        let args = ["db", "import", "--db", &db, "--data", s(data), "--symbol", symbol, "--interval", "1d"];
        let (ok, _, stderr) = tickgrad(&args);
        assert!(ok, "db import: {stderr}");
    }
    let from_store = [&trade_args()[..], &["--db", &db, "--interval", "1d"]].concat();
    let (ok, stdout, stderr) = tickgrad(&[&from_store[..], &["--symbols", "SPY,SPX"]].concat());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("symbol=SPX members=2 bars=400 "), "{stdout}");
    // SPY's weekends are gaps of the 1d interval, reported per symbol, never filled.
    assert!(stderr.contains("feed: SPY: 2 bar(s) missing between"), "{stderr}");
    let mut s = store::open(&db, false).unwrap();
    for (symbol, reference) in ["SPY", "SPX"].iter().zip(refs) {
        let got = s.records(&SeriesKey::new(symbol, "1d").unwrap(), TimeRange::ALL).unwrap();
        let want: Vec<Record> = reference.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(got, want, "{symbol}'s store rows");
    }
    // A symbol the store does not hold is named, with what it does hold.
    let (ok, _, stderr) = tickgrad(&[&from_store[..], &["--symbols", "SPY,ETHUSDT"]].concat());
    assert!(!ok && stderr.contains("ETHUSDT 1d: no such series") && stderr.contains("SPY 1d"), "{stderr}");
    let (ok, _, stderr) = tickgrad(&[&trade_args()[..], &["--db", &db, "--symbols", "SPY,SPX"]].concat());
    assert!(!ok && stderr.contains("`interval`"), "{stderr}");
}

#[test]
fn bad_symbol_lists_are_clear_errors() {
    let f = files();
    let base = ["stream", "--checkpoint", s(&f.ck)];
    let data = both(&f.a, &f.b);
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (vec!["--symbols", "SPY,SPX", "--data", s(&f.a)], &["`data`", "expected 2 comma-separated paths", "found 1"]),
        (vec!["--symbols", "SPY", "--data", &data], &["`data`", "expected 1 comma-separated paths", "found 2"]),
        (vec!["--symbols", "SPY,SPY", "--data", &data], &["`symbols`", "`SPY` is given more than once"]),
        (vec!["--symbols", "SPY,S P", "--data", &data], &["`symbols`", "found `S P`"]),
        (vec!["--symbols", "SPY,", "--data", &data], &["`symbols`", "found ``"]),
        (vec!["--symbols", "SPY,SPX", "--data", &data, "--out", "one.npy"], &["`out`", "found 1"]),
        (vec!["--symbols", "SPY,SPX", "--db", "sqlite:x.db", "--symbol", "SPY", "--interval", "1d"], &["`symbol`"]),
        (vec!["--symbols", "SPY,SPX", "--data", &data, "--interval", "1d"], &["`interval`", "give --db"]),
        (vec!["--symbols", "SPY,SPX", "--data", &data, "--reload-checkpoint"], &["`reload-checkpoint`"]),
    ];
    for (args, wants) in cases {
        let (ok, _, stderr) = tickgrad(&[&base[..], &args[..]].concat());
        assert!(!ok, "{args:?} succeeded");
        for want in wants {
            assert!(stderr.contains(want), "{args:?}: `{want}` missing from {stderr}");
        }
    }
}

/// The library path a live feed plugs into: engines built from one [`SharedCheckpoint`] hold the same weights
/// (one `Arc`, counted), and a [`Runner`] over a [`ReplayFeed`] serves each symbol's bars to its own engine.
#[test]
fn lanes_share_one_copy_of_the_weights_and_keep_their_own_state() {
    let f = files();
    let ck = SharedCheckpoint::load(&f.ck, Device::Cpu).unwrap();
    let engine = || ck.engine(false, false, Some(16), 1).unwrap().0;
    let (a, b) = (engine(), engine());
    assert!(Arc::ptr_eq(a.predictor().model(), b.predictor().model()), "one model for both symbols");
    assert_eq!(ck.engines_sharing(), 2);
    let lanes = vec![
        Lane::new("SPY", Serving::Predict { engine: Box::new(a), answers: Vec::new() }),
        Lane::new("SPX", Serving::Predict { engine: Box::new(b), answers: Vec::new() }),
    ];
    let mut runner = Runner::new(lanes).unwrap();
    let series = |symbol: &str, bars: Bars| ReplaySeries { symbol: symbol.into(), bars, interval_ms: 86_400_000 };
    let mut feed = ReplayFeed::new(vec![series("SPY", spy_range(0..40)), series("SPX", spy_range(0..25))]).unwrap();
    runner.run(&mut feed).unwrap();
    let counts: Vec<(usize, usize)> = runner.lanes().iter().map(|l| (l.bars, l.answered)).collect();
    assert_eq!(counts, [(40, 25), (25, 10)], "each symbol warms up on its own bars");
    let lanes = runner.into_lanes();
    let answers: Vec<&Vec<f32>> = lanes
        .iter()
        .map(|l| match &l.serving {
            Serving::Predict { answers, .. } => answers,
            Serving::Trade(_) => unreachable!(),
        })
        .collect();
    // The same bars give the same answers whichever symbol they stream under.
    assert_eq!(answers[0][..answers[1].len()], answers[1][..]);
    let gaps: u64 = lanes.iter().map(|l| l.gaps).sum();
    assert!(gaps > 0 && lanes.iter().all(|l| l.dropped == 0), "weekends are gaps of a daily series");

    let dup = Runner::new(vec![
        Lane::new("SPY", Serving::Predict { engine: Box::new(engine()), answers: Vec::new() }),
        Lane::new("SPY", Serving::Predict { engine: Box::new(engine()), answers: Vec::new() }),
    ]);
    assert!(dup.err().unwrap().to_string().contains("`SPY` is given more than once"));
}
