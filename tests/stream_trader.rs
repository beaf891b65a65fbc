//! Serving with decisions over the bundled SPY bars: a crash at any point (including mid-write of a journal line)
//! followed by a restart that is fed the bars from the start leaves the journal byte-identical to an uninterrupted
//! run; orders fill at the next bar's open; the limits hold; the monitor's exposition covers every metric.

use std::collections::BTreeMap;
use std::io::Write;
use tickgrad::data::incremental::Bar;
use tickgrad::data::Bars;
use tickgrad::trade::journal::Record;
use tickgrad::trade::Trader;

mod trader_support;
use trader_support::{config, engines, spy_range};

fn spy() -> Bars {
    spy_range(0..700)
}

fn scratch(name: &str) -> std::path::PathBuf {
    trader_support::scratch("trader", name)
}

fn run(bars: &Bars, range: std::ops::Range<usize>, journal: &std::path::Path) -> Trader {
    let (mut t, _) = Trader::new(engines(), config(), Some(journal)).unwrap();
    for i in range {
        t.on_bar(&Bar::from_bars(bars, i)).unwrap();
    }
    t
}

#[test]
fn a_restart_resumes_exactly_where_the_journal_ends() {
    let bars = spy();
    let full = scratch("full.jsonl");
    let t = run(&bars, 0..bars.len(), &full);
    let reference = std::fs::read_to_string(&full).unwrap();
    let records: Vec<Record> = reference.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let fills = records.iter().filter(|r| matches!(r, Record::Fill { .. })).count();
    let limited = records.iter().filter(|r| matches!(r, Record::Decision { limit: Some(_), .. })).count();
    assert!(fills > 10 && limited > 0, "{fills} fills, {limited} limited decisions: the test needs both");

    for crash_at in [5, 16, 17, 300, 301, 699] {
        let j = scratch(&format!("crash{crash_at}.jsonl"));
        drop(run(&bars, 0..crash_at, &j));
        // a torn half-line, as a crash during a write leaves
        let mut f = std::fs::OpenOptions::new().append(true).open(&j).unwrap();
        f.write_all(br#"{"type":"decision","timest"#).unwrap();
        drop(f);
        let resumed = run(&bars, 0..bars.len(), &j);
        let got = std::fs::read_to_string(&j).unwrap();
        if let Some((i, (a, b))) = got.lines().zip(reference.lines()).enumerate().find(|(_, (a, b))| a != b) {
            panic!("crash after {crash_at} bars: journal line {} differs:\n  resumed {a}\n  uninterrupted {b}", i + 1);
        }
        assert_eq!(got.lines().count(), reference.lines().count(), "crash after {crash_at} bars: journal length");
        assert_eq!(resumed.broker(), t.broker());
    }
}

#[test]
fn fills_happen_at_the_next_open_and_limits_hold() {
    let bars = spy();
    let j = scratch("limits.jsonl");
    let t = run(&bars, 0..bars.len(), &j);
    let records: Vec<Record> =
        std::fs::read_to_string(&j).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let index: BTreeMap<i64, usize> = bars.timestamp.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let mut last_target = None;
    for r in &records {
        match r {
            Record::Decision { timestamp, target, signal, limit, .. } => {
                assert!(target.abs() <= 5.0 + 1e-12);
                assert!(target.abs() <= signal.abs() + 1e-12, "limits only shrink a signal");
                assert_eq!(limit.is_some(), target != signal);
                last_target = Some((*timestamp, *target));
            }
            Record::Fill { timestamp, price, position, .. } => {
                let (decided, target) = last_target.expect("a fill follows a decision");
                assert_eq!(index[timestamp], index[&decided] + 1, "filled on the bar after the decision");
                assert_eq!(*price, bars.open[index[timestamp]]);
                assert_eq!(*position, target);
            }
            Record::Halt { .. } => panic!("no stop at this max loss"),
        }
    }
    let text = t.monitor().prometheus();
    for metric in
        ["tickgrad_rolling_accuracy 0.", "tickgrad_calibration_ece 0.", "tickgrad_feature_psi{feature=\"ret_1\"}"]
    {
        assert!(text.contains(metric), "{metric} in\n{text}");
    }
}

#[test]
fn the_max_loss_stop_halts_for_good() {
    // these untrained members mostly say `down`: the 2009–2011 rally makes them lose
    let bars = spy_range(290..1000);
    let j = scratch("stop.jsonl");
    let mut cfg = config();
    cfg.risk.max_loss = 20.0;
    cfg.risk.var_limit = f64::INFINITY;
    let (mut t, _) = Trader::new(engines(), cfg, Some(&j)).unwrap();
    for i in 0..bars.len() {
        t.on_bar(&Bar::from_bars(&bars, i)).unwrap();
    }
    let records: Vec<Record> =
        std::fs::read_to_string(&j).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let halt = records.iter().position(|r| matches!(r, Record::Halt { .. })).expect("a 20-unit loss happens");
    for r in &records[halt + 1..] {
        if let Record::Decision { target, .. } = r {
            assert_eq!(*target, 0.0);
        }
    }
    assert_eq!(t.broker().position, 0.0);
}
