//! The store through the real command (SQLite): `db import` then `run --db` prints the same table as `run --data`
//! on the same bars; `finetune --db --last N` trains on the newest N; `stream --db` stores the same decisions and
//! fills as `stream --journal` and resumes from them; wrong series, empty ranges and bad URLs are clear errors.

mod pipeline_support;
mod trader_support;

use pipeline_support::{csv_slice, scratch, tickgrad};
use std::path::Path;
use tickgrad::store::{self, SeriesKey, TimeRange};
use tickgrad::trade::journal::Journal;

/// stdout without the last line (`wrote …; total 12.3s`), whose timing differs between runs.
fn table(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() > 3 && lines.last().unwrap().starts_with("wrote "), "{stdout}");
    lines[..lines.len() - 1].join("\n")
}

fn import(db: &str, data: &Path, symbol: &str, interval: &str) -> String {
    let (ok, stdout, stderr) = tickgrad(&[
        "db",
        "import",
        "--db",
        db,
        "--data",
        data.to_str().unwrap(),
        "--symbol",
        symbol,
        "--interval",
        interval,
    ]);
    assert!(ok, "db import: {stderr}");
    stdout
}

#[test]
fn run_from_the_store_prints_the_table_of_run_from_the_csv() {
    let dir = scratch("store-run");
    let data = csv_slice(&dir, 700);
    let db = format!("sqlite:{}", dir.join("m.db").display());
    let out = import(&db, &data, "BTCUSDT", "1h");
    assert!(out.contains("BTCUSDT 1h: 700 bars added, 0 already stored"), "{out}");
    let again = import(&db, &data, "BTCUSDT", "1h");
    assert!(again.contains("0 bars added, 700 already stored"), "{again}");
    let (ok, listed, _) = tickgrad(&["db", "list", "--db", &db]);
    assert!(ok && listed.contains("BTCUSDT 1h: 700 bars, 2020-01-01 00:00"), "{listed}");

    let common = ["--epochs", "1", "--device", "cpu", "--seed", "3"];
    let csv_out = dir.join("csv");
    let (ok, from_csv, stderr) = tickgrad(
        &[&["run", "--data", data.to_str().unwrap(), "--out-dir", csv_out.to_str().unwrap()][..], &common].concat(),
    );
    assert!(ok, "run --data: {stderr}");
    let db_out = dir.join("db");
    let run_db = ["run", "--db", &db, "--symbol", "BTCUSDT", "--interval", "1h", "--out-dir", db_out.to_str().unwrap()];
    let (ok, from_db, stderr) = tickgrad(&[&run_db[..], &common].concat());
    assert!(ok, "run --db: {stderr}");
    assert!(stderr.contains("BTCUSDT 1h: 700 bars"), "{stderr}");
    assert_eq!(table(&from_db), table(&from_csv));
    assert!(table(&from_db).contains("sharpe"), "{from_db}");

    // The online-learning loop: warm-start a member on the newest 500 bars of the series.
    let member = db_out.join("ensemble").join("tcn.safetensors");
    let tuned = dir.join("tuned.safetensors");
    let ft = ["finetune", "--checkpoint", member.to_str().unwrap(), "--db", &db, "--symbol", "BTCUSDT"];
    let (ok, _, stderr) = tickgrad(
        &[&ft[..], &["--interval", "1h", "--last", "500", "--epochs", "1", "--out", tuned.to_str().unwrap()]].concat(),
    );
    assert!(ok, "finetune --db: {stderr}");
    assert!(stderr.contains("BTCUSDT 1h: 500 bars") && tuned.exists(), "{stderr}");
    let (ok, _, stderr) =
        tickgrad(&[&ft[..3], &["--data", data.to_str().unwrap(), "--last", "5", "--out", "x"]].concat());
    assert!(!ok && stderr.contains("`last`") && stderr.contains("give --db"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wrong_series_empty_ranges_and_bad_urls_are_clear_errors() {
    let dir = scratch("store-errors");
    let data = csv_slice(&dir, 300);
    let path = dir.join("e.db");
    let db = format!("sqlite:{}", path.display());
    import(&db, &data, "BTCUSDT", "1h");
    let out = dir.join("f.csv");
    let features = |more: &[&str]| tickgrad(&[&["features", "--out", out.to_str().unwrap()][..], more].concat());
    let (ok, _, e) = features(&["--db", &db, "--symbol", "ETHUSDT", "--interval", "1h"]);
    assert!(!ok && e.contains("ETHUSDT 1h: no such series") && e.contains("BTCUSDT 1h: 300 bars"), "{e}");
    let (ok, _, e) = features(&["--db", &db, "--symbol", "BTCUSDT", "--interval", "1h", "--from", "2021-01-01"]);
    assert!(!ok && e.contains("no bars in [2021-01-01 00:00 UTC, open)") && e.contains("300 bars"), "{e}");
    let (ok, _, e) = features(&["--db", &db, "--symbol", "BTCUSDT", "--interval", "1h", "--from", "2020-13-01"]);
    assert!(!ok && e.contains("`from`") && e.contains("YYYY-MM-DD"), "{e}");
    let (ok, _, e) = features(&["--db", "mysql://root:pw@h/x", "--symbol", "BTCUSDT", "--interval", "1h"]);
    assert!(!ok && e.contains("expected sqlite:PATH or postgres://") && !e.contains(":pw@"), "{e}");
    let missing = format!("sqlite:{}", dir.join("typo.db").display());
    let (ok, _, e) = features(&["--db", &missing, "--symbol", "BTCUSDT", "--interval", "1h"]);
    assert!(!ok && e.contains("typo.db") && !dir.join("typo.db").exists(), "a reader creates no database: {e}");
    let (ok, _, e) = features(&["--db", &db, "--symbol", "BTCUSDT"]);
    assert!(!ok && e.contains("--symbol and --interval"), "{e}");
    // A range of the store feeds the features: the first 100 bars.
    let (ok, _, e) = features(&["--db", &db, "--symbol", "BTCUSDT", "--interval", "1h", "--to", "1578196800000"]);
    assert!(ok && e.contains("BTCUSDT 1h: 100 bars"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stream_into_the_store_keeps_the_journal_s_records_and_resumes_from_them() {
    let dir = scratch("store-stream");
    let (a, b) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    trader_support::save_two_members(&a, &b);
    let spy = Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join("spy_1d_2008_2021.csv");
    let text = std::fs::read_to_string(&spy).unwrap();
    let data = dir.join("spy.csv");
    std::fs::write(&data, text.lines().take(601).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let db = format!("sqlite:{}", dir.join("s.db").display());
    import(&db, &data, "SPY", "1d");
    let base = ["stream", "--checkpoint", a.to_str().unwrap(), "--member", b.to_str().unwrap(), "--window", "16"];
    let rest = ["--conf-threshold", "0.34", "--agreement", "0.5", "--max-position", "2", "--size", "2"];
    let journal = dir.join("j.jsonl");
    let (ok, via_journal, e) = tickgrad(
        &[&base[..], &rest, &["--data", data.to_str().unwrap(), "--journal", journal.to_str().unwrap()]].concat(),
    );
    assert!(ok, "{e}");
    let store_args = ["--db", db.as_str(), "--symbol", "SPY", "--interval", "1d"];
    let (ok, via_store, e) = tickgrad(&[&base[..], &rest, &store_args].concat());
    assert!(ok, "{e}");
    let summary = |s: &str| s.lines().next().unwrap_or_default().to_string();
    // The per-bar time includes making the bar's records durable: a journal fsync per record, a store commit per bar.
    let last = |s: &str| s.lines().last().unwrap_or_default().to_string();
    eprintln!("--journal: {}\n--db:      {}", last(&via_journal), last(&via_store));
    assert_eq!(summary(&via_store), summary(&via_journal));
    let (_, want, _) = Journal::open(&journal).unwrap();
    assert!(want.iter().filter(|r| matches!(r, tickgrad::trade::journal::Record::Fill { .. })).count() > 5, "fills");
    let key = SeriesKey::new("SPY", "1d").unwrap();
    let got = store::open(&db, false).unwrap().records(&key, TimeRange::ALL).unwrap();
    assert_eq!(got, want, "the store holds the journal's records");
    // A rerun resumes: every bar is already recorded, nothing is added, the summary is the same.
    let (ok, rerun, e) = tickgrad(&[&base[..], &rest, &store_args].concat());
    assert!(ok && e.contains(&format!("resuming after {} journal records", want.len())), "{e}");
    assert_eq!(summary(&rerun), summary(&via_store));
    assert_eq!(store::open(&db, false).unwrap().records(&key, TimeRange::ALL).unwrap(), want);
    // Bars from the CSV with the records into the store works too; a journal beside --db does not.
    let (ok, _, e) = tickgrad(
        &[&base[..], &store_args, &["--data", data.to_str().unwrap(), "--journal", journal.to_str().unwrap()]].concat(),
    );
    assert!(!ok && e.contains("not both"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
