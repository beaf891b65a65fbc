//! Serving with decisions over the bundled SPY bars: a crash at any point (including mid-write of a journal line)
//! followed by a restart that is fed the bars from the start leaves the journal byte-identical to an uninterrupted
//! run; orders fill at the next bar's open; the limits hold; the monitor's exposition covers every metric.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use tickgrad::data::incremental::Bar;
use tickgrad::data::{load_csv, Bars};
use tickgrad::device::Device;
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::serve::Engine;
use tickgrad::trade::gate::GateConfig;
use tickgrad::trade::journal::Record;
use tickgrad::trade::monitor::MonitorConfig;
use tickgrad::trade::risk::RiskConfig;
use tickgrad::trade::{Trader, TraderConfig};

/// SPY daily bars `range` (2008 starts at 0; the 2009 low is near bar 295).
fn spy_range(range: std::ops::Range<usize>) -> Bars {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join("spy_1d_2008_2021.csv");
    load_csv(p).unwrap().0.slice(range).unwrap()
}

fn spy() -> Bars {
    spy_range(0..700)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickgrad-trader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// Two members (a 3-class transformer and a regression TCN) on the model feature set of plain OHLCV bars.
fn engines() -> Vec<Engine> {
    let nf = 25; // model_feature_names of a bar file without trades/taker columns
    let member = |json: String, seed: u64| {
        let cfg = ModelConfig::from_json(&json, "test").unwrap();
        let bytes = checkpoint::to_bytes(&mut Model::new(&cfg, seed, Device::Cpu).unwrap(), &BTreeMap::new()).unwrap();
        let ck = checkpoint::load_bytes(&bytes, "mem", Device::Cpu).unwrap();
        Engine::new(ck, false, false, Some(16)).unwrap().0
    };
    vec![
        member(
            format!(
                r#"{{"kind":"transformer","n_features":{nf},"d_model":8,"nhead":2,"num_layers":1,"dim_feedforward":8}}"#
            ),
            1,
        ),
        member(format!(r#"{{"kind":"tcn","n_features":{nf},"channels":[4,4],"kernel_size":2}}"#), 2),
    ]
}

fn config() -> TraderConfig {
    TraderConfig {
        gate: GateConfig { conf_threshold: 0.34, agreement: 0.5, min_history: 10, ..GateConfig::default() },
        risk: RiskConfig { max_position: 5.0, max_loss: 1e9, var_limit: 4.0, var_level: 0.95, var_window: 50 },
        monitor: MonitorConfig { window: 100, min_scored: 50, psi_reference: 200, ..MonitorConfig::default() },
        fee_bps: 5.0,
        cash: 10_000.0,
        size: 3.0,
        horizon: 1,
    }
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
