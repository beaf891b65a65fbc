//! `tickgrad monitor` against what `tickgrad stream --db` wrote (SQLite): reading only the store, it reports the
//! metrics the stream's own monitor reported at its end (same numbers), by model and for the newest N decisions,
//! as text, JSON and Prometheus text; an unknown series, an empty store and an unknown model are clear errors.

mod pipeline_support;
mod trader_support;

use pipeline_support::{scratch, tickgrad};
use std::path::Path;

/// The `position=… degraded=…` part of a summary line (the stream's first stdout line, the monitor's second).
fn metrics(line: &str) -> String {
    let at = line.find("position=").unwrap_or_else(|| panic!("no metrics in {line:?}"));
    line[at..].trim().to_string()
}

/// A `name value` line of a Prometheus exposition, as a number.
fn sample(text: &str, name: &str) -> f64 {
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {text}"));
    line[name.len() + 1..].parse().unwrap()
}

#[test]
fn monitor_from_the_store_reports_the_stream_s_metrics() {
    let dir = scratch("monitor-cli");
    let (a, b) = (dir.join("tf.safetensors"), dir.join("cnn.safetensors"));
    trader_support::save_two_members(&a, &b);
    let spy = Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join("spy_1d_2008_2021.csv");
    let text = std::fs::read_to_string(&spy).unwrap();
    let data = dir.join("spy.csv");
    std::fs::write(&data, text.lines().take(401).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let db = format!("sqlite:{}", dir.join("s.db").display());
    let (ok, _, e) = tickgrad(&[
        "db",
        "import",
        "--db",
        &db,
        "--data",
        data.to_str().unwrap(),
        "--symbol",
        "SPY",
        "--interval",
        "1d",
    ]);
    assert!(ok, "{e}");
    // Two members, so the gate's confidence differs from the top class's combined probability the monitor scores;
    // a short monitor window, so the rolling windows are full and cut; horizon 2 and a hold band.
    let flags = ["--monitor-window", "120", "--horizon", "2", "--theta", "0.002", "--fee-bps", "5", "--size", "2"];
    let stream = [
        "stream",
        "--checkpoint",
        a.to_str().unwrap(),
        "--member",
        b.to_str().unwrap(),
        "--window",
        "16",
        "--conf-threshold",
        "0.34",
        "--agreement",
        "0.5",
        "--max-position",
        "2",
        "--db",
        &db,
        "--symbol",
        "SPY",
        "--interval",
        "1d",
    ];
    let (ok, streamed, e) = tickgrad(&[&stream[..], &flags].concat());
    assert!(ok, "{e}");
    let summary = streamed.lines().next().unwrap();
    assert!(summary.contains("decisions=385") && !summary.contains("accuracy=NaN"), "{summary}");

    let series = ["monitor", "--db", &db, "--symbol", "SPY", "--interval", "1d"];
    let same = ["--window", "120", "--horizon", "2", "--theta", "0.002", "--fee-bps", "5", "--size", "2"];
    let (ok, out, e) = tickgrad(&[&series[..], &same].concat());
    assert!(ok, "{e}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(metrics(lines[1]), metrics(summary), "the monitor from the store vs the stream's\n{out}");
    assert!(lines[0].contains("bars=400 decisions=385") && lines[0].contains("scored=3"), "{out}");

    // By model: the stream names its model by the checkpoints' file names.
    let (ok, by_model, e) = tickgrad(&[&series[..], &same, &["--model", "tf+cnn"]].concat());
    assert!(ok, "{e}");
    assert_eq!(metrics(by_model.lines().nth(1).unwrap()), metrics(summary));
    assert!(by_model.starts_with(&format!("{db} SPY 1d model tf+cnn: ")), "{by_model}");

    // Other flags than the stream's give other numbers: the replay is not a copy of a stored summary.
    let (ok, other, _) = tickgrad(&[&series[..], &["--horizon", "1"]].concat());
    assert!(ok && metrics(other.lines().nth(1).unwrap()) != metrics(summary), "{other}");

    // The newest 50 decisions as JSON: 50 counted, 48 of them scored (horizon 2), the same position and equity.
    let (ok, json, e) = tickgrad(&[&series[..], &same, &["--last", "50", "--format", "json"]].concat());
    assert!(ok, "{e}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["decisions"]["total"], 50, "{json}");
    assert_eq!(v["bars"], 50, "{json}");
    assert_eq!(v["scored"], 48, "{json}");
    let acc = v["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{json}");
    let want_equity: f64 = summary.split("equity=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((v["equity"].as_f64().unwrap() - want_equity).abs() < 0.006, "{json}");

    // Prometheus: the monitor's gauges and the store's counts.
    let (ok, prom, e) = tickgrad(&[&series[..], &same, &["--format", "prometheus"]].concat());
    assert!(ok, "{e}");
    let acc: f64 = summary.split("accuracy=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((sample(&prom, "tickgrad_rolling_accuracy") - acc).abs() < 5e-5, "{prom}");
    let classes: f64 = ["up", "down", "hold"]
        .iter()
        .map(|c| sample(&prom, &format!("tickgrad_decisions_total{{class=\"{c}\"}}")))
        .sum();
    assert_eq!(classes, 385.0, "{prom}");
    assert_eq!(sample(&prom, "tickgrad_bars_total"), 400.0, "{prom}");
    assert!(sample(&prom, "tickgrad_fills_total") > 5.0, "{prom}");

    // Clear errors: an unknown model, an unknown series, an empty store, a store that does not exist.
    let (ok, _, e) = tickgrad(&[&series[..], &["--model", "lstm"]].concat());
    assert!(!ok && e.contains("no decisions of model `lstm`") && e.contains("decisions of tf+cnn"), "{e}");
    let (ok, _, e) = tickgrad(&["monitor", "--db", &db, "--symbol", "BTCUSDT", "--interval", "1d"]);
    assert!(!ok && e.contains("BTCUSDT 1d: no such series") && e.contains("SPY 1d: 400 bars"), "{e}");
    let empty = format!("sqlite:{}", dir.join("empty.db").display());
    drop(tickgrad::store::open(&empty, true).unwrap());
    let (ok, _, e) = tickgrad(&["monitor", "--db", &empty, "--symbol", "SPY", "--interval", "1d"]);
    assert!(!ok && e.contains("empty.db SPY 1d: the store is empty"), "{e}");
    let missing = format!("sqlite:{}", dir.join("typo.db").display());
    let (ok, _, e) = tickgrad(&["monitor", "--db", &missing, "--symbol", "SPY", "--interval", "1d"]);
    assert!(!ok && e.contains("no such SQLite database") && !dir.join("typo.db").exists(), "{e}");
    let (ok, _, e) = tickgrad(&[&series[..], &["--horizon", "0"]].concat());
    assert!(!ok && e.contains("`horizon`"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
