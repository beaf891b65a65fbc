//! Issue 13 items 9 and 10 end to end on a tiny network: the trial count in the header and the report, scoring a
//! held-out file (`--split all`) or a date range, funding from a `funding_rate` column, and the horizon table.

mod pipeline_support;

use pipeline_support::{arg as s, backtest, scratch, tickgrad, train_tiny_tcn, DATA, SLICE_ROWS};
use std::path::{Path, PathBuf};

const H8_MS: i64 = 8 * 3_600_000;

/// Lines `rows` of the bundled file under its header, with a constant `funding_rate` column when asked.
fn write_rows(dir: &Path, name: &str, rows: std::ops::Range<usize>, funding: Option<&str>) -> PathBuf {
    let text = std::fs::read_to_string(DATA).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut out = String::new();
    let extra = |l: &str| funding.map_or(l.to_string(), |f| format!("{l},{f}"));
    out.push_str(&funding.map_or(header.to_string(), |_| format!("{header},funding_rate")));
    out.push('\n');
    for l in lines.skip(rows.start).take(rows.len()) {
        out.push_str(&extra(l));
        out.push('\n');
    }
    let p = dir.join(name);
    std::fs::write(&p, out).unwrap();
    p
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn trials_ranges_funding_and_horizons() {
    let dir = scratch("scoring");
    let train = write_rows(&dir, "train.csv", 0..SLICE_ROWS, None);
    let held = write_rows(&dir, "held.csv", SLICE_ROWS..SLICE_ROWS + 700, None);
    let funded = write_rows(&dir, "funded.csv", SLICE_ROWS..SLICE_ROWS + 700, Some("0.0001"));
    let ckpt = dir.join("tcn.safetensors");
    let (ok, _, err) = train_tiny_tcn(&dir, &train, &ckpt, &["--epochs", "1", "--batch", "32"]);
    assert!(ok, "train failed: {err}");

    // The trial count: one network plus the configurations tried outside, in the header and the report.
    let out_dir = dir.join("test");
    let (ok, out, err) = backtest(&ckpt, &train, &out_dir, &["--trials", "2"]);
    assert!(ok, "backtest failed: {err}");
    assert!(out.contains("deflated Sharpe over 3 trials (1 model + 2 from --trials)"), "{out}");
    assert!(out.contains("no funding charged (no funding_rate column)"), "{out}");
    let r = report(&out_dir);
    assert_eq!(r["model"]["n_trials"], 3);
    assert_eq!(r["baselines"]["buy_and_hold"]["n_trials"], 1, "a baseline is not a selected candidate");
    assert!(r["model"]["total_funding"].is_null());

    // A whole held-out file: every sample scored, nothing before it to fit the fitted baselines on.
    let all_dir = dir.join("all");
    let (ok, out, err) = backtest(&ckpt, &held, &all_dir, &["--split", "all"]);
    assert!(ok, "--split all failed: {err}");
    assert!(out.contains("out of sample only if the checkpoint never trained on this file"), "{out}");
    let r = report(&all_dir);
    let n_all = r["model"]["n_bars"].as_u64().unwrap();
    // 700 bars less the feature warm-up and the window, less the last bar (no label).
    assert!(n_all > 400 && n_all < 700, "{n_all}");
    assert!(r["baselines"].get("majority_class").is_none() && r["baselines"].get("boosted_trees").is_none());

    // A date range: the decision bars opening from 2020-03-20 00:00 through 2020-03-25 (6 days of hours).
    let range_dir = dir.join("range");
    let (ok, out, err) = backtest(&ckpt, &held, &range_dir, &["--from", "2020-03-20", "--to", "2020-03-25"]);
    assert!(ok, "--from/--to failed: {err}");
    assert!(out.contains("144 scored bars, from before this file's own test part"), "{out}");
    assert!(out.contains("(2020-03-20 00:00 .. 2020-03-25 23:00 UTC)"), "{out}");
    let r = report(&range_dir);
    assert_eq!(r["model"]["n_bars"], 144);
    assert!(r["baselines"].get("majority_class").is_some(), "earlier bars of the file train the fitted baselines");

    // Empty or impossible ranges are clear errors.
    for (args, want) in [
        (vec!["--from", "2021-01-01"], "no bar to score between 2021-01-01 00:00 UTC and the end"),
        (vec!["--from", "2020-03-25", "--to", "2020-03-20"], "expected --from before --to"),
        (vec!["--from", "2020-02-30"], "not a calendar date"),
        (vec!["--split", "half"], "expected `test` or `all`, found `half`"),
    ] {
        let mut a = vec!["eval", "--checkpoint", s(&ckpt), "--data", s(&held)];
        a.extend(args);
        let (ok, _, err) = tickgrad(&a);
        assert!(!ok && err.contains(want), "{a:?}: {err}");
    }
    let (ok, _, err) =
        tickgrad(&["eval", "--checkpoint", s(&ckpt), "--data", s(&held), "--split", "all", "--walk-forward"]);
    assert!(!ok && err.contains("walk-forward needs samples before the scored bars"), "{err}");

    // Funding: the same held-out bars with a constant +0.01% rate. Buy-and-hold is long from the second scored
    // bar on, so it pays 0.0001 at every funding instant (00:00, 08:00, 16:00 UTC) among those bars.
    let fund_dir = dir.join("funded");
    let (ok, out, err) = backtest(&ckpt, &funded, &fund_dir, &["--split", "all"]);
    assert!(ok, "funded backtest failed: {err}");
    assert!(out.contains("funding charged from the file's funding_rate column"), "{out}");
    let r = report(&fund_dir);
    let csv = std::fs::read_to_string(fund_dir.join("returns.csv")).unwrap();
    let ts: Vec<i64> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    let events = ts[1..].iter().filter(|&&t| t % H8_MS == 0).count();
    let paid = r["baselines"]["buy_and_hold"]["total_funding"].as_f64().unwrap();
    assert!((paid - events as f64 * 1e-4).abs() < 1e-12, "{paid} vs {events} events");
    assert_eq!(r["baselines"]["always_flat"]["total_funding"], 0.0);
    let unfunded = report(&all_dir)["baselines"]["buy_and_hold"]["total_return"].as_f64().unwrap();
    assert!(r["baselines"]["buy_and_hold"]["total_return"].as_f64().unwrap() < unfunded);

    // The horizon table: every horizon on the same decision bars, model and baselines.
    let (ok, out, err) = tickgrad(&["eval", "--checkpoint", s(&ckpt), "--data", s(&train), "--horizons", "1,4,24"]);
    assert!(ok, "eval --horizons failed: {err}");
    assert!(out.contains("horizon table"), "{out}");
    for h in ["1", "4", "24"] {
        for name in ["model", "boosted_trees", "buy_and_hold", "always_flat", "persistence", "majority_class"] {
            assert!(
                out.lines().any(|l| l.split_whitespace().take(2).eq([h, name])),
                "no row for {name} at horizon {h}: {out}"
            );
        }
    }
    let (ok, _, err) = tickgrad(&["eval", "--checkpoint", s(&ckpt), "--data", s(&train), "--horizons", "1,0"]);
    assert!(!ok && err.contains("horizons"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
