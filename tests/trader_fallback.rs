//! Paper trading on wgpu:0 when the device fails: the memory budget is set to the bytes in use once both members
//! are loaded (later 0), so their first window's forward fails. Without a fallback `on_bar` returns the budget error; with
//! one (what `stream --fallback-cpu` installs) each member continues on the CPU from that bar, the journal equals a
//! CPU run's byte for byte and `tickgrad_device_fallbacks_total` counts the two members. One test: it sets the
//! device's budget, so nothing else may use the device meanwhile.
#![cfg(feature = "wgpu")]

mod trader_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tickgrad::backend::{memory_stats, set_memory_budget};
use tickgrad::data::incremental::Bar;
use tickgrad::device::Device;
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::serve::Engine;
use tickgrad::trade::Trader;
use tickgrad::Error;
use trader_support::{config, scratch, spy_range};

const WGPU: Device = Device::Wgpu(0);

/// The checkpoint bytes of trader_support's two members (a transformer and a TCN on the 25 OHLCV features).
fn member_bytes() -> Vec<Vec<u8>> {
    let nf = 25;
    let configs = [
        format!(
            r#"{{"kind":"transformer","n_features":{nf},"d_model":8,"nhead":2,"num_layers":1,"dim_feedforward":8}}"#
        ),
        format!(r#"{{"kind":"tcn","n_features":{nf},"channels":[4,4],"kernel_size":2}}"#),
    ];
    configs
        .iter()
        .zip([1, 2])
        .map(|(json, seed)| {
            let mut m = Model::new(&ModelConfig::from_json(json, "test").unwrap(), seed, Device::Cpu).unwrap();
            checkpoint::to_bytes(&mut m, &BTreeMap::new()).unwrap()
        })
        .collect()
}

fn engines(bytes: &[Vec<u8>], device: Device) -> Vec<Engine> {
    bytes
        .iter()
        .map(|b| Engine::new(checkpoint::load_bytes(b, "mem", device).unwrap(), false, false, Some(16)).unwrap().0)
        .collect()
}

#[test]
fn a_member_whose_device_fails_continues_on_the_cpu() {
    if let Err(e) = tickgrad::backend::ensure_available(WGPU) {
        panic!("wgpu:0 is needed for these tests (without a GPU: apt-get install mesa-vulkan-drivers): {e}");
    }
    let bars = spy_range(0..120);
    let bytes = member_bytes();
    let cpu_journal = scratch("trader-fallback", "cpu.jsonl");
    let (mut cpu, _) = Trader::new(engines(&bytes, Device::Cpu), config(), Some(&cpu_journal)).unwrap();
    for i in 0..bars.len() {
        cpu.on_bar(&Bar::from_bars(&bars, i)).unwrap();
    }
    let want = std::fs::read_to_string(&cpu_journal).unwrap();
    assert!(want.lines().count() > 20, "the CPU run made too few journal lines to compare: {want}");

    // No fallback: the first full window's forward is over budget and on_bar says so.
    let (mut gpu, _) = Trader::new(engines(&bytes, WGPU), config(), None).unwrap();
    let budget = memory_stats(WGPU).unwrap().in_use;
    set_memory_budget(WGPU, Some(budget)).unwrap();
    let failed = (0..bars.len()).find_map(|i| gpu.on_bar(&Bar::from_bars(&bars, i)).err().map(|e| (i, e)));
    set_memory_budget(WGPU, None).unwrap();
    let (at, e) = failed.expect("a trader over its device budget never failed");
    let msg = e.to_string();
    assert!(matches!(e, Error::Device(_)) && msg.contains("out of device memory budget"), "bar {at}: {msg}");
    assert!(msg.contains(&format!("budget is {budget} bytes")), "bar {at}: {msg}");
    drop(gpu);

    // With the fallback: every answer comes from the CPU copies, as in the CPU run.
    let gpu_journal = scratch("trader-fallback", "gpu.jsonl");
    // A budget of 0: the memory the first member frees when it leaves the device must not let the second stay.
    let (mut gpu, _) = Trader::new(engines(&bytes, WGPU), config(), Some(&gpu_journal)).unwrap();
    set_memory_budget(WGPU, Some(0)).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (seen, cpu_bytes) = (calls.clone(), bytes.clone());
    gpu.set_device_fallback(Box::new(move |i, e| {
        seen.fetch_add(1, Ordering::Relaxed);
        assert!(matches!(e, Error::Device(_)), "member {i}: {e}");
        checkpoint::load_bytes(&cpu_bytes[i], "mem", Device::Cpu)
    }));
    let run: Result<(), Error> = (0..bars.len()).try_for_each(|i| gpu.on_bar(&Bar::from_bars(&bars, i)).map(|_| ()));
    set_memory_budget(WGPU, None).unwrap();
    run.unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 2, "each member falls back once");
    assert_eq!(gpu.monitor().device_fallbacks(), 2);
    assert!(gpu.monitor().prometheus().contains("\ntickgrad_device_fallbacks_total 2\n"));
    let got = std::fs::read_to_string(&gpu_journal).unwrap();
    if let Some((n, (a, b))) = got.lines().zip(want.lines()).enumerate().find(|(_, (a, b))| a != b) {
        panic!("journal line {} differs after the fallback:\n  fallback {a}\n  cpu      {b}", n + 1);
    }
    assert_eq!(got.lines().count(), want.lines().count(), "journal length");
}
