//! The Binance kline feed against a websocket server on loopback (127.0.0.1, port 0) that replays
//! `fixtures/binance/kline_1h.jsonl` with faults: a dropped connection after which the server resumes two hours
//! later, a duplicate and an out-of-order closed kline, a ping, and a silent server. The exact event sequence is
//! checked, and the delivered bars, pushed through `serve::Engine`, give the answers of the same bars read from the
//! CSV. Nothing here reaches beyond loopback.

mod feed_support;

use feed_support::{fixture_lines, hour_lines, Server, Step, BTC_CLOSED, ETH_CLOSED};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tickgrad::data::incremental::Bar;
use tickgrad::data::{compute_features, load_csv, model_feature_names, Bars, FeatureConfig, Scaler, ScalerKind};
use tickgrad::device::Device;
use tickgrad::feed::binance::conn::Backoff;
use tickgrad::feed::binance::{BinanceConfig, BinanceFeed};
use tickgrad::feed::{DropReason, Feed, FeedEvent};
use tickgrad::io::npy::read_npy;
use tickgrad::models::checkpoint;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::serve::engine::{FEATURES_KEY, SCALER_KEY};
use tickgrad::serve::Engine;

const HOUR: i64 = 3_600_000;
/// The fixture's ETHUSDT stand-in is this CSV row offset, re-stamped (fixtures/binance/README.md).
const ETH_OFFSET: usize = 4380;

fn csv() -> Bars {
    load_csv(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join("btcusdt_perp_1h_2020.csv")).unwrap().0
}

/// Hour `h` of `symbol` as the CSV has it.
fn csv_bar(bars: &Bars, symbol: &str, h: usize) -> Bar {
    match symbol {
        "BTCUSDT" => Bar::from_bars(bars, h),
        _ => Bar { timestamp: bars.timestamp[h], ..Bar::from_bars(bars, ETH_OFFSET + h) },
    }
}

fn config(server: &Server, max_bars: Option<u64>) -> BinanceConfig {
    let mut c = BinanceConfig::new(vec!["BTCUSDT".into(), "ethusdt".into()], "1h");
    c.base_url = server.base_url();
    c.max_bars = max_bars;
    c.heartbeat_timeout = Duration::from_millis(1500);
    c.connect_timeout = Duration::from_secs(5);
    c.backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(200), attempts: 4 };
    c
}

fn drain(feed: &mut BinanceFeed) -> Vec<FeedEvent> {
    let mut events = Vec::new();
    while let Some(e) = feed.next_event().unwrap() {
        events.push(e);
    }
    events
}

/// The `Reconnected` reasons, replaced by "" so the rest can be compared exactly.
fn take_reasons(events: &mut [FeedEvent]) -> Vec<String> {
    let mut reasons = Vec::new();
    for e in events {
        if let FeedEvent::Reconnected { reason, .. } = e {
            reasons.push(std::mem::take(reason));
        }
    }
    reasons
}

#[test]
fn faults_give_the_exact_event_sequence_and_the_csv_answers() {
    let lines = fixture_lines();
    let plan = vec![
        // hours 0..=11, a ping in between, then hour 11's BTC bar again and hour 10's ETH bar late, then the
        // connection drops without a close frame
        vec![
            Step::Send(hour_lines(0..10)),
            Step::Ping(b"hb".to_vec()),
            Step::Send(hour_lines(10..12)),
            Step::Send(vec![6 * 11 + BTC_CLOSED, 6 * 10 + ETH_CLOSED]),
            Step::Drop,
        ],
        // the server comes back at hour 14: hours 12 and 13 are never sent; after hour 19 it goes silent
        vec![Step::Send(hour_lines(14..20)), Step::Hold],
        vec![Step::Send(hour_lines(20..96)), Step::Hold],
    ];
    let server = Server::start(lines, plan);
    let delivered_hours: Vec<usize> = (0..12).chain(14..96).collect();
    let mut feed = BinanceFeed::new(config(&server, Some(2 * delivered_hours.len() as u64))).unwrap();
    let t0 = Instant::now();
    let mut events = drain(&mut feed);
    let took = t0.elapsed();
    let log = server.finish();

    let bars = csv();
    let ts = |h: usize| bars.timestamp[h];
    let bar = |s: &str, h: usize| FeedEvent::Bar { symbol: s.to_string(), bar: csv_bar(&bars, s, h) };
    let both = |h: usize| [bar("BTCUSDT", h), bar("ETHUSDT", h)];
    let mut want: Vec<FeedEvent> = (0..12).flat_map(both).collect();
    want.push(FeedEvent::Dropped {
        symbol: "BTCUSDT".into(),
        timestamp: ts(11),
        last: ts(11),
        why: DropReason::Duplicate,
    });
    want.push(FeedEvent::Dropped {
        symbol: "ETHUSDT".into(),
        timestamp: ts(10),
        last: ts(11),
        why: DropReason::OutOfOrder,
    });
    want.push(FeedEvent::Reconnected { attempt: 1, reason: String::new() });
    for s in ["BTCUSDT", "ETHUSDT"] {
        want.push(FeedEvent::Gap { symbol: s.into(), last: ts(11), next: ts(14), missing: 2 });
        want.push(bar(s, 14));
    }
    want.extend((15..20).flat_map(both));
    want.push(FeedEvent::Reconnected { attempt: 1, reason: String::new() });
    want.extend((20..96).flat_map(both));

    let reasons = take_reasons(&mut events);
    assert_eq!(events.len(), want.len());
    for (i, (g, w)) in events.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "event {i}");
    }
    assert!(reasons[0].starts_with("connection lost"), "{reasons:?}");
    assert_eq!(reasons[1], "no message for 1500 ms (heartbeat timeout)");
    assert_eq!(ts(14) - ts(11), 3 * HOUR);
    // every connection asked for the combined stream of both symbols; the ping was answered with its payload
    let url = "/stream?streams=btcusdt@kline_1h/ethusdt@kline_1h";
    assert_eq!(log.paths, vec![url; 3]);
    assert_eq!(log.pongs, vec![b"hb".to_vec()]);
    assert!(took >= Duration::from_millis(1500), "the silent server was waited out: {took:?}");
    assert!(feed.next_event().unwrap().is_none(), "the feed stays finished after --max-bars");

    // the delivered bars through an engine per symbol = the same hours replayed from the CSV
    let (ck, w) = tcn_checkpoint(&bars);
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let live: Vec<Bar> = events
            .iter()
            .filter_map(|e| match e {
                FeedEvent::Bar { symbol: s, bar } if s == symbol => Some(*bar),
                _ => None,
            })
            .collect();
        let replay: Vec<Bar> = delivered_hours.iter().map(|&h| csv_bar(&bars, symbol, h)).collect();
        let (a, b) = (answers(&ck, w, &live), answers(&ck, w, &replay));
        assert_eq!(a.len(), delivered_hours.len() - w + 1, "{symbol}: one answer per full window");
        assert_eq!(a, b, "{symbol}: live answers = CSV replay answers");
    }
}

/// A TCN checkpoint with the feature list and a z-score scaler of the first 500 CSV rows (as tests/stream_features.rs
/// makes one), and its window.
fn tcn_checkpoint(bars: &Bars) -> (Vec<u8>, usize) {
    let frame = compute_features(&bars.slice(0..500).unwrap(), &FeatureConfig::default()).unwrap();
    let names = model_feature_names(&frame);
    let scaler = Scaler::fit(&frame, &names, 0..500, ScalerKind::ZScore).unwrap();
    let json = format!(r#"{{"kind":"tcn","n_features":{},"channels":[8,8],"kernel_size":3}}"#, names.len());
    let mut model = Model::new(&ModelConfig::from_json(&json, "test").unwrap(), 3, Device::Cpu).unwrap();
    let mut meta = BTreeMap::new();
    meta.insert(FEATURES_KEY.to_string(), serde_json::to_string(&names).unwrap());
    meta.insert(SCALER_KEY.to_string(), scaler.to_json().unwrap());
    (checkpoint::to_bytes(&mut model, &meta).unwrap(), 13)
}

/// Every answer of a fresh engine fed `bars`, as bits (so equality is exact).
fn answers(ck: &[u8], w: usize, bars: &[Bar]) -> Vec<Vec<u32>> {
    let ck = checkpoint::load_bytes(ck, "in-memory", Device::Cpu).unwrap();
    let (mut engine, warnings) = Engine::new(ck, true, true, Some(w)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut out = Vec::new();
    for b in bars {
        if let Some(ans) = engine.push(b).unwrap() {
            out.push(ans.values.iter().map(|v| v.to_bits()).collect());
        }
    }
    out
}

#[test]
fn a_server_that_stays_away_ends_the_feed_with_an_error_after_the_attempts() {
    let lines = fixture_lines();
    // one connection that sends two hours and drops; then nobody accepts
    let server = Server::start(lines, vec![vec![Step::Send(hour_lines(0..2)), Step::Drop]]);
    let mut cfg = config(&server, None);
    let url = format!("{}/stream?streams=btcusdt@kline_1h/ethusdt@kline_1h", cfg.base_url);
    let mut feed = BinanceFeed::new(cfg.clone()).unwrap();
    for _ in 0..4 {
        assert!(matches!(feed.next_event().unwrap(), Some(FeedEvent::Bar { .. })));
    }
    server.finish(); // the listener is closed: every try is refused
    let t0 = Instant::now();
    let e = feed.next_event().unwrap_err().to_string();
    let took = t0.elapsed();
    assert!(e.contains(&url) && e.contains("after 4 attempts in a row") && e.contains("refused"), "{e}");
    // tries at 0, 50, 100 and 200 ms (capped): at least 350 ms of backoff
    assert!(took >= Duration::from_millis(350), "{took:?}");

    // the first connection is retried the same way, without a Reconnected event
    cfg.backoff.attempts = 2;
    let e = BinanceFeed::new(cfg).unwrap().next_event().unwrap_err().to_string();
    assert!(e.contains("after 2 attempts in a row"), "{e}");
}

#[test]
fn malformed_and_unexpected_messages_are_errors_naming_the_message() {
    let cases = [
        (
            r#"{"stream":"x","data":{"e":"kline","s":"BTCUSDT","k":{"t":1}}}"#.to_string(),
            "message 3: field `data.k.s` is missing",
        ),
        (fixture_lines()[4].replace("BTCUSDT", "SOLUSDT"), "message 3: a kline of SOLUSDT, which was not asked for"),
        (
            fixture_lines()[4].replace(r#""i":"1h""#, r#""i":"1m""#),
            "message 3: field `k.i`: expected interval 1h, found 1m",
        ),
        ("not json".to_string(), "message 3: not JSON"),
    ];
    for (bad, want) in cases {
        let mut lines = fixture_lines();
        lines.push(bad);
        let last = lines.len() - 1;
        // a subscription reply and an open update carry no bar; the third message is the bad one
        lines.push(r#"{"result":null,"id":1}"#.to_string());
        let server = Server::start(lines, vec![vec![Step::Send(vec![last + 1, 0, last]), Step::Hold]]);
        let mut feed = BinanceFeed::new(config(&server, None)).unwrap();
        let e = feed.next_event().unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("ws://127.0.0.1:"), "{want:?} in {e}");
        drop(feed);
        server.finish();
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickgrad-feed-binance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn tickgrad(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickgrad")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The first `hours` bars of the fixture's `symbol` as a CSV file (ETHUSDT: the re-stamped rows).
fn write_csv(symbol: &str, hours: usize) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join("btcusdt_perp_1h_2020.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = vec![lines[0].to_string()];
    for h in 0..hours {
        let stamp: Vec<&str> = lines[1 + h].split(',').collect();
        let mut row: Vec<&str> = lines[1 + h + if symbol == "BTCUSDT" { 0 } else { ETH_OFFSET }].split(',').collect();
        (row[0], row[6]) = (stamp[0], stamp[6]); // open and close time
        out.push(row.join(","));
    }
    let path = scratch(&format!("{symbol}.csv"));
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
    path
}

#[test]
fn stream_feed_binance_serves_two_symbols_and_stops_at_max_bars() {
    // the connection drops after hour 19 and the server resumes where it stopped (no bar lost)
    let plan = vec![vec![Step::Send(hour_lines(0..20)), Step::Drop], vec![Step::Send(hour_lines(20..96)), Step::Hold]];
    let server = Server::start(fixture_lines(), plan);
    let bars = csv();
    let (bytes, w) = tcn_checkpoint(&bars);
    let ck = scratch("tcn.safetensors");
    std::fs::write(&ck, bytes).unwrap();
    let ck = ck.to_str().unwrap();
    let (w, url) = (w.to_string(), server.base_url());
    let outs = |tag: &str| [scratch(&format!("{tag}_btc.npy")), scratch(&format!("{tag}_eth.npy"))];
    let (live, replay) = (outs("live"), outs("replay"));
    let joined = |p: &[PathBuf; 2]| format!("{},{}", p[0].display(), p[1].display());
    let common = ["stream", "--checkpoint", ck, "--window", &w];
    let feed = ["--feed", "binance", "--symbols", "btcusdt,ETHUSDT", "--interval", "1h", "--url", &url];
    let (ok, stdout, stderr) =
        tickgrad(&[&common[..], &feed[..], &["--max-bars", "100", "--out", &joined(&live)]].concat());
    assert!(ok, "{stderr}");
    // 100 closed bars: hours 0..50 of both symbols, then the feed closes the connection
    for s in ["BTCUSDT", "ETHUSDT"] {
        assert!(
            stdout.contains(&format!("symbol={s} model=tcn mode=step window=13 threads=1 bars=50 answers=38")),
            "{stdout}"
        );
    }
    assert!(stderr.contains(&format!("feed: {url}/stream?streams=btcusdt@kline_1h/ethusdt@kline_1h")), "{stderr}");
    assert!(stderr.contains("feed: reconnected after 1 tries (connection lost"), "{stderr}");
    assert!(!stderr.contains("missing"), "no gap: {stderr}");
    assert_eq!(server.finish().paths.len(), 2, "a reconnect, then closed by the client at --max-bars");

    // the same 50 hours of each symbol replayed from CSV files give the same answers, bit for bit
    let data = format!("{},{}", write_csv("BTCUSDT", 50).display(), write_csv("ETHUSDT", 50).display());
    let (ok, _, stderr) = tickgrad(
        &[&common[..], &["--symbols", "BTCUSDT,ETHUSDT", "--data", &data, "--out", &joined(&replay)]].concat(),
    );
    assert!(ok, "{stderr}");
    for (a, b) in live.iter().zip(&replay) {
        let (a, b) = (read_npy(a).unwrap(), read_npy(b).unwrap());
        assert_eq!(a.shape, vec![38, 1]);
        assert_eq!(
            (a.shape, a.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()),
            (b.shape, b.data.iter().map(|v| v.to_bits()).collect())
        );
    }

    // flags that do not fit are refused by name before anything is opened
    let bad = [
        (vec!["--feed", "binance", "--interval", "1h", "--url", "ws://127.0.0.1:9"], "give --symbols"),
        (vec!["--symbols", "BTCUSDT", "--data", "x.csv", "--max-bars", "3"], "`max-bars`: belongs to a live feed"),
        (vec!["--feed", "binance", "--symbols", "BTCUSDT", "--interval", "1h"], "no TLS"),
        (vec!["--feed", "binance", "--symbols", "BTCUSDT", "--url", "ws://127.0.0.1:9"], "needs the kline interval"),
        (feed.iter().copied().chain(["--data", "x.csv,y.csv"]).collect(), "`data`: replays files"),
    ];
    for (args, want) in bad {
        let (ok, _, stderr) = tickgrad(&[&common[..], &args[..]].concat());
        assert!(!ok && stderr.contains(want), "{args:?}: {want:?} in {stderr}");
    }
}
