//! Shared by the trader tests (`stream_trader`, `stream_bad_bars`, `stream_kill`, `full_disk`, `stream_cli`,
//! `stream_symbols`): SPY bars, scratch files, the two-member engine set, the two untrained member checkpoints the
//! stream commands load, the trader configuration they all run, and polling the metrics endpoint.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tickgrad::data::{load_csv, Bars};
use tickgrad::device::Device;
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::nn::Module;
use tickgrad::serve::Engine;
use tickgrad::tensor::Tensor;
use tickgrad::trade::gate::GateConfig;
use tickgrad::trade::monitor::MonitorConfig;
use tickgrad::trade::risk::RiskConfig;
use tickgrad::trade::TraderConfig;

/// SPY daily bars `range` (2008 starts at 0; the 2009 low is near bar 295).
pub fn spy_range(range: std::ops::Range<usize>) -> Bars {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join("spy_1d_2008_2021.csv");
    load_csv(p).unwrap().0.slice(range).unwrap()
}

/// A fresh path `name` in this test process's scratch folder `tag` (any file there before is removed).
pub fn scratch(tag: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickgrad-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// Two members (a 3-class transformer and a regression TCN) on the model feature set of plain OHLCV bars, loaded
/// from their checkpoint bytes as a deployment would.
pub fn engines() -> Vec<Engine> {
    engines_scaled(1.0)
}

/// `engines()` with every weight w replaced by w·scale + scale (a huge scale makes the outputs overflow); a
/// scaled model is served as built, not through its checkpoint bytes.
pub fn engines_scaled(scale: f32) -> Vec<Engine> {
    let nf = 25; // model_feature_names of a bar file without trades/taker columns
    let member = |json: String, seed: u64| {
        let cfg = ModelConfig::from_json(&json, "test").unwrap();
        let mut m = Model::new(&cfg, seed, Device::Cpu).unwrap();
        if scale != 1.0 {
            m.visit("", &mut |_, _, t| {
                let v: Vec<f32> = t.to_vec()?.iter().map(|x| x * scale + scale).collect();
                *t = Tensor::from_vec(v, t.shape(), Device::Cpu)?;
                Ok(())
            })
            .unwrap();
            let ck = checkpoint::Checkpoint { model: m, metadata: BTreeMap::new() };
            return Engine::new(ck, false, false, Some(16)).unwrap().0;
        }
        let bytes = checkpoint::to_bytes(&mut m, &BTreeMap::new()).unwrap();
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

pub fn config() -> TraderConfig {
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

/// Two untrained members for `stream --checkpoint A --member B` on plain OHLCV bars (25 model features): a small
/// 3-class transformer (seed 11) at `a` and a small multi-task CNN (seed 12) at `b`.
pub fn save_two_members(a: &Path, b: &Path) {
    let nf = 25;
    let save = |json: String, path: &Path, seed: u64| {
        let cfg = ModelConfig::from_json(&json, "test").unwrap();
        let mut m = Model::new(&cfg, seed, Device::Cpu).unwrap();
        checkpoint::save(path, &mut m, &BTreeMap::new()).unwrap();
    };
    save(
        format!(
            r#"{{"kind":"transformer","n_features":{nf},"d_model":8,"nhead":2,"num_layers":1,"dim_feedforward":8}}"#
        ),
        a,
        11,
    );
    save(format!(r#"{{"kind":"multitask","n_features":{nf},"channels":4,"n_blocks":1,"head_hidden":4}}"#), b, 12);
}

/// GET /metrics from `addr` until `want` appears in the body (or 60 s pass).
pub fn scrape_until(addr: &str, want: &str) -> String {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let mut body = String::new();
        if let Ok(mut c) = std::net::TcpStream::connect(addr) {
            let _ = c.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
            let _ = c.read_to_string(&mut body);
        }
        if body.contains(want) {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "no `{want}` in the metrics; last scrape:\n{body}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
