//! Load: the streaming engine fed 100,000 bars as fast as it can (a synthetic random walk, a tiny TCN served by its
//! O(1) step) while 50 clients scrape `/metrics` and one client holds an idle connection open. Checked against a
//! quiet run of the same command on the same bars:
//!
//! - per-bar p99 (the `per_bar_us` line, the same figure `tickgrad_bar_latency_us` serves) within 2× of quiet;
//! - resident memory flat: VmRSS sampled from /proc every 25 ms; the samples of the last tenth of the bars are
//!   within a small margin of those just after warm-up (margin below);
//! - nothing dropped: the last scrape of every client shows `tickgrad_bars_total 100000`, and every scrape is
//!   answered with a 200 and the exposition.
//!
//! Scrape rate: each client scrapes every 250 ms, 200 scrapes a second in all (3,000× one Prometheus server at its
//! default 15 s interval). The rate is stated because on 2 cores it decides the answer: the 50 client threads, the
//! endpoint's per-connection threads and the stream share two cores, so the stream's slowest bars are the ones
//! preempted by them. Measured here (quiet p99 13–16 us): 250 ms gave 1.1×, 100 ms 1.8×, 50 ms 2.4–3.9×.
//! `TICKGRAD_LOAD_SCRAPE_MS=50 cargo test --test stream_load -- --nocapture` reruns it at another interval. The
//! idle client reconnects whenever the server drops it (after `IO_TIMEOUT`), so one idle connection is held for
//! the whole run.
//!
//! Robustness of the ratio on 2 shared cores: one quiet and one loaded run; if the loaded p99 is over 2× the
//! quiet one, two more pairs are run (quiet and loaded alternating) and the medians of the three p99s of each
//! kind are compared, so one run disturbed by an unrelated process fails nothing, while a real slowdown under
//! load (every loaded run over 2×) still fails. Each run takes ~7–15 s here (the test profile's binary, opt-level 2; 2 cores).

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickgrad::device::Device;
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::rng::Rng;

const BARS: usize = 100_000;
const CLIENTS: usize = 50;
/// Each client's scrape interval; `TICKGRAD_LOAD_SCRAPE_MS` overrides it (module docs).
fn scrape_every() -> Duration {
    let ms = std::env::var("TICKGRAD_LOAD_SCRAPE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(SCRAPE_MS);
    Duration::from_millis(ms)
}

const SCRAPE_MS: u64 = 250;
const RSS_EVERY: Duration = Duration::from_millis(25);
/// How long the stream keeps serving after its last bar, so every client sees the final count.
const SERVE_SECS: f64 = 1.0;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickgrad-stream-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Hourly bars of a geometric random walk: open at the last close, high and low a little outside both.
fn write_bars(path: &Path) {
    let mut rng = Rng::new(7);
    let mut s = String::with_capacity(BARS * 70);
    s.push_str("timestamp,open,high,low,close,volume\n");
    let (mut close, t0) = (100.0f64, 1_577_836_800_000i64);
    for i in 0..BARS {
        let open = close;
        close = open * (0.002 * rng.normal()).exp();
        let high = open.max(close) * (1.0 + 0.001 * rng.f64());
        let low = open.min(close) * (1.0 - 0.001 * rng.f64());
        let volume = 1000.0 + 500.0 * rng.f64();
        s.push_str(&format!("{},{open:.6},{high:.6},{low:.6},{close:.6},{volume:.3}\n", t0 + i as i64 * 3_600_000));
    }
    std::fs::write(path, s).unwrap();
}

/// A tiny TCN over the 25 model features of a plain OHLCV file; window 16 ≥ its receptive field: the O(1) step.
fn write_model(path: &Path) {
    let cfg =
        ModelConfig::from_json(r#"{"kind":"tcn","n_features":25,"channels":[4,4],"kernel_size":2}"#, "test").unwrap();
    let mut m = Model::new(&cfg, 3, Device::Cpu).unwrap();
    checkpoint::save(path, &mut m, &BTreeMap::new()).unwrap();
}

/// `VmRSS` of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One GET /metrics; the body when the answer is a 200.
fn scrape(addr: &str) -> Result<String, String> {
    let mut c = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").map_err(|e| format!("write: {e}"))?;
    let mut resp = String::new();
    c.read_to_string(&mut resp).map_err(|e| format!("read: {e}"))?;
    match resp.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200 OK") && body.contains("tickgrad_bars_total ") => {
            Ok(body.to_string())
        }
        _ => Err(format!("bad answer: {:?}", resp.lines().next())),
    }
}

fn bars_total(body: &str) -> Option<u64> {
    body.lines().find_map(|l| l.strip_prefix("tickgrad_bars_total ")).and_then(|v| v.trim().parse().ok())
}

struct RunFigures {
    p99: f64,
    wall_s: f64,
    /// (seconds since the first bar, VmRSS KiB).
    rss: Vec<(f64, u64)>,
    /// Seconds of bars: from "metrics listening" to the exit, less the serving after the last bar.
    bars_s: f64,
    scrapes: u64,
    /// Idle connections opened in turn (the server drops each after its read timeout).
    idle_held: usize,
}

/// Run the stream once; with `load`, 50 paced scrapers and an idle connection run beside it.
fn run(args: &[String], load: bool) -> RunFigures {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickgrad"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = stderr.next().expect("stderr open").unwrap();
        if let Some(a) = line.strip_prefix("metrics listening on ") {
            break a.to_string();
        }
    };
    let listening = Instant::now();
    let rest_of_stderr = std::thread::spawn(move || stderr.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    v.push((listening.elapsed().as_secs_f64(), kib));
                }
                std::thread::sleep(RSS_EVERY);
            }
            v
        })
    };
    let answered = Arc::new(AtomicU64::new(0));
    let (mut clients, mut idle_client) = (Vec::new(), None);
    if load {
        for i in 0..CLIENTS {
            let (addr, answered) = (addr.clone(), answered.clone());
            clients.push(std::thread::spawn(move || {
                // spread the clients over one interval
                std::thread::sleep(scrape_every() * i as u32 / CLIENTS as u32);
                let mut last = 0;
                while last < BARS as u64 {
                    let t = Instant::now();
                    let body = scrape(&addr).unwrap_or_else(|e| panic!("client {i}: a scrape failed: {e}"));
                    answered.fetch_add(1, Ordering::Relaxed);
                    let n = bars_total(&body).expect("tickgrad_bars_total parses");
                    assert!(n >= last, "client {i}: bars_total went back from {last} to {n}");
                    last = n;
                    std::thread::sleep(scrape_every().saturating_sub(t.elapsed()));
                }
            }));
        }
        let (addr, done) = (addr.clone(), done.clone());
        idle_client = Some(std::thread::spawn(move || {
            let mut held = 0;
            while !done.load(Ordering::Relaxed) {
                let Ok(mut idle) = TcpStream::connect(&addr) else { break };
                held += 1;
                idle.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                let mut buf = [0u8; 64];
                // hold it until the server drops it (read returns 0) or the run ends
                while !done.load(Ordering::Relaxed) {
                    match idle.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => panic!("the server answered a client that sent nothing"),
                        Err(_) => {} // timeout: still held
                    }
                }
            }
            held
        }));
    }
    let out = child.wait_with_output().unwrap();
    let (wall_s, bars_s) = (started.elapsed().as_secs_f64(), listening.elapsed().as_secs_f64() - SERVE_SECS);
    done.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("a client failed");
    }
    let idle_held = idle_client.map_or(0, |c| c.join().expect("the idle client failed"));
    assert!(!load || idle_held >= 1, "the idle connection was never opened");
    let rss = sampler.join().unwrap();
    let stderr = rest_of_stderr.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(&format!("bars={BARS} ")), "{stdout}");
    let p99: f64 = stdout
        .lines()
        .last()
        .and_then(|l| l.split(' ').find_map(|kv| kv.strip_prefix("p99=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no per_bar_us p99 in {stdout}"));
    RunFigures { p99, wall_s, rss, bars_s, scrapes: answered.load(Ordering::Relaxed), idle_held }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn fifty_scrapers_and_an_idle_client_do_not_slow_or_grow_the_stream() {
    let (data, model) = (scratch("bars.csv"), scratch("tcn.safetensors"));
    write_bars(&data);
    write_model(&model);
    let args: Vec<String> = [
        "stream",
        "--checkpoint",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--window",
        "16",
        "--metrics-addr",
        "127.0.0.1:0",
        "--serve-secs",
        &SERVE_SECS.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let (mut quiet, mut loaded) = (vec![run(&args, false)], vec![run(&args, true)]);
    if loaded[0].p99 > 2.0 * quiet[0].p99 {
        eprintln!("loaded p99 {:.1} us > 2× quiet {:.1} us: two more pairs", loaded[0].p99, quiet[0].p99);
        for _ in 0..2 {
            quiet.push(run(&args, false));
            loaded.push(run(&args, true));
        }
    }
    let show = |name: &str, runs: &[RunFigures]| {
        for r in runs {
            let kib: Vec<u64> = r.rss.iter().step_by((r.rss.len() / 8).max(1)).map(|s| s.1).collect();
            eprintln!(
                "{name}: p99 {:.1} us, {:.2} s of bars ({:.0} bars/s), {:.1} s wall, {} scrapes answered, {} idle connections held in turn, VmRSS KiB {kib:?}",
                r.p99,
                r.bars_s,
                BARS as f64 / r.bars_s,
                r.wall_s,
                r.scrapes,
                r.idle_held
            );
        }
    };
    show("quiet", &quiet);
    show("loaded", &loaded);
    for r in &loaded {
        assert!(r.scrapes as f64 >= 0.5 * CLIENTS as f64 * r.bars_s / scrape_every().as_secs_f64(), "too few scrapes");
    }
    let (q, l) = (median(quiet.iter().map(|r| r.p99).collect()), median(loaded.iter().map(|r| r.p99).collect()));
    eprintln!("median per-bar p99: quiet {q:.1} us, loaded {l:.1} us ({:.2}×)", l / q);
    assert!(l <= 2.0 * q, "loaded p99 {l:.1} us is more than 2× the quiet {q:.1} us");

    // Flat memory: the samples of the last tenth of the bars stay within 1 MiB plus 8 bytes per bar of the highest
    // sample just after warm-up (20–30% of the bars). The 8 bytes are the one sample per bar that the exact
    // `per_bar_us` summary keeps (0.8 MB per 100,000 bars, the only state that grows with the bars; measured
    // growth from warm-up to the end was 0.6–0.9 MB); more than 1 MiB on top of it over the run fails.
    for r in loaded.iter().chain(&quiet) {
        let phase = |from: f64, to: f64| -> Vec<u64> {
            r.rss.iter().filter(|(t, _)| *t >= from * r.bars_s && *t <= to * r.bars_s).map(|s| s.1).collect()
        };
        let (early, late) = (phase(0.2, 0.3), phase(0.9, 1.0));
        assert!(!early.is_empty() && !late.is_empty(), "too few RSS samples: {:?}", r.rss);
        let (base, end) = (*early.iter().max().unwrap(), *late.iter().max().unwrap());
        let margin_kib = 1024 + (8 * BARS as u64) / 1024;
        eprintln!("VmRSS after warm-up {base} KiB, at the end {end} KiB (allowed {})", base + margin_kib);
        assert!(end <= base + margin_kib, "VmRSS grew from {base} KiB after warm-up to {end} KiB at the end");
    }
}
