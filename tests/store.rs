//! The market store's behaviour, one suite run against SQLite (always) and a real PostgreSQL server (the URL in
//! `TICKGRAD_TEST_PG`, which `scripts/test` starts on a loopback port). Under `scripts/test`
//! (`TICKGRAD_REQUIRE_PG=1`) a missing or unreachable server fails the PostgreSQL test; in a plain `cargo test`
//! without the variable it prints that it did not run.
//!
//! Bars round-trip bit for bit (random values over the whole double range, extras included), ranges and the
//! last-N query cut exactly where a slice of the same bars does, re-imports are idempotent, a conflicting or
//! unstorable append stores nothing of its batch, and trading records come back in the order they were made.

use tickgrad::data::Bars;
use tickgrad::rng::Rng;
use tickgrad::store::{self, MarketStore, SeriesKey, TimeRange, Trade};
use tickgrad::trade::journal::Record;

/// A series name unique to this process (the PostgreSQL database outlives test runs).
fn key(tag: &str, interval: &str) -> SeriesKey {
    SeriesKey::new(&format!("{tag}-{}", std::process::id()), interval).unwrap()
}

/// A double drawn from the whole range: ordinary prices, whole numbers (SQLite stores those as integers), tiny,
/// huge and subnormal values.
fn value(rng: &mut Rng) -> f64 {
    match rng.below(6) {
        0 => rng.uniform(0.0, 1e5),
        1 => rng.below(1_000_000) as f64,
        2 => rng.uniform(-1.0, 1.0) * 1e-300,
        3 => rng.uniform(-1.0, 1.0) * 1e300,
        4 => f64::from_bits(rng.next_u64() % (1 << 52)), // subnormal or 0.0
        _ => f64::from_bits(rng.next_u64() & !(0x7ff << 52) | (rng.uniform(1.0, 2046.0) as u64) << 52),
    }
}

/// `n` bars from `t0` every `step` ms (with a few missing, as gaps), random values, and two extra columns.
fn random_bars(rng: &mut Rng, t0: i64, step: i64, n: usize) -> Bars {
    let mut b = Bars::default();
    let mut t = t0;
    for _ in 0..n {
        t += step * (1 + i64::from(rng.below(10) == 0));
        b.timestamp.push(t);
        for col in [&mut b.open, &mut b.high, &mut b.low, &mut b.close, &mut b.volume] {
            col.push(value(rng));
        }
    }
    for name in ["quote_volume", "trades"] {
        b.extra.insert(name.into(), (0..n).map(|_| value(rng)).collect());
    }
    b
}

fn bits(b: &Bars) -> Vec<(String, Vec<u64>)> {
    let mut out = vec![("timestamp".to_string(), b.timestamp.iter().map(|&t| t as u64).collect())];
    for name in ["open", "high", "low", "close", "volume"].iter().map(|s| s.to_string()).chain(b.extra.keys().cloned())
    {
        out.push((name.clone(), b.column(&name).unwrap().iter().map(|v| v.to_bits()).collect()));
    }
    out
}

/// Bit-equal bars; no bars are no bars, whatever extra columns an empty slice keeps.
fn assert_same_bars(got: &Bars, want: &Bars, what: &str) {
    if want.is_empty() {
        assert!(got.is_empty(), "{what}: {} bars, expected none", got.len());
        return;
    }
    assert_eq!(bits(got), bits(want), "{what}");
}

/// The rows of `b` with `from <= ts < to`.
fn cut(b: &Bars, r: TimeRange) -> Bars {
    let (lo, hi) = r.bounds();
    let start = b.timestamp.partition_point(|&t| t < lo);
    let end = b.timestamp.partition_point(|&t| t < hi);
    b.slice(start..end.max(start)).unwrap()
}

fn bars_round_trip_and_ranges_cut_like_slices(s: &mut dyn MarketStore) {
    let mut rng = Rng::new(1);
    let k = key("roundtrip", "1h");
    let all = random_bars(&mut rng, 1_577_836_800_000, 3_600_000, 600);
    // Appended in two batches: the second continues the first.
    let r = s.append_bars(&k, &all.slice(0..250).unwrap()).unwrap();
    assert_eq!((r.added, r.unchanged), (250, 0));
    s.append_bars(&k, &all.slice(250..600).unwrap()).unwrap();
    assert_same_bars(&s.bars(&k, TimeRange::ALL).unwrap(), &all, "every bar");
    let (first, last) = (all.timestamp[0], all.timestamp[599]);
    for _ in 0..20 {
        let a = first - 7_200_000 + (rng.below(700) as i64) * 3_600_000;
        let b = a + (rng.below(300) as i64) * 3_600_000 + 1;
        let range = TimeRange { from: Some(a), to: Some(b) };
        assert_same_bars(&s.bars(&k, range).unwrap(), &cut(&all, range), &format!("range {range}"));
        for r in [TimeRange { from: Some(a), to: None }, TimeRange { from: None, to: Some(b) }] {
            assert_same_bars(&s.bars(&k, r).unwrap(), &cut(&all, r), &format!("half-open {r}"));
        }
        let n = rng.below(700);
        assert_same_bars(&s.last_bars(&k, n).unwrap(), &all.slice(600 - n.min(600)..600).unwrap(), "last n");
    }
    assert!(s.bars(&k, TimeRange { from: Some(last + 1), to: None }).unwrap().is_empty());
    // Another interval and another symbol of the same span are other series.
    let other = random_bars(&mut rng, 1_577_836_800_000, 3_600_000, 30);
    s.append_bars(&key("roundtrip", "4h"), &other).unwrap();
    s.append_bars(&key("roundtrip-b", "1h"), &other).unwrap();
    assert_same_bars(&s.bars(&k, TimeRange::ALL).unwrap(), &all, "untouched by other series");
    assert_same_bars(&s.bars(&key("roundtrip", "4h"), TimeRange::ALL).unwrap(), &other, "the 4h series");
    let listed = s.series().unwrap();
    let info = listed.iter().find(|i| i.key == k).expect("listed");
    assert_eq!((info.bars, info.first, info.last), (600, first, last));
    assert!(s.bars(&key("nothing-here", "1h"), TimeRange::ALL).unwrap().is_empty());
}

fn reimports_are_idempotent_and_conflicts_store_nothing(s: &mut dyn MarketStore) {
    let mut rng = Rng::new(2);
    let k = key("reimport", "1d");
    let all = random_bars(&mut rng, 1_199_232_000_000, 86_400_000, 200);
    s.append_bars(&k, &all.slice(0..120).unwrap()).unwrap();
    // An overlapping file: 120 bars already there, 80 new.
    let r = s.append_bars(&k, &all).unwrap();
    assert_eq!((r.added, r.unchanged), (80, 120));
    let r = s.append_bars(&k, &all).unwrap();
    assert_eq!((r.added, r.unchanged), (0, 200));
    // A batch of new bars with one stored bar changed in its last bit: an error naming that bar, nothing stored.
    let more = random_bars(&mut rng, all.timestamp[199], 86_400_000, 10);
    let mut bad = all.slice(150..200).unwrap();
    for (k2, v) in more.extra.iter() {
        bad.extra.get_mut(k2).unwrap().extend_from_slice(v);
    }
    bad.timestamp.extend_from_slice(&more.timestamp);
    for (c, m) in [(&mut bad.open, &more.open), (&mut bad.high, &more.high), (&mut bad.low, &more.low)] {
        c.extend_from_slice(m);
    }
    bad.close.extend_from_slice(&more.close);
    bad.volume.extend_from_slice(&more.volume);
    bad.close[7] = f64::from_bits(bad.close[7].to_bits() ^ 1);
    let e = s.append_bars(&k, &bad).unwrap_err().to_string();
    assert!(e.contains("already stored with other values") && e.contains(&bad.timestamp[7].to_string()), "{e}");
    assert_same_bars(&s.bars(&k, TimeRange::ALL).unwrap(), &all, "nothing of the refused batch");
    // An extra column changed is a conflict too.
    let mut bad = all.slice(0..5).unwrap();
    bad.extra.get_mut("trades").unwrap()[4] += 1.0;
    let e = s.append_bars(&k, &bad).unwrap_err().to_string();
    assert!(e.contains("`trades`"), "{e}");
}

fn unstorable_values_are_refused_naming_bar_and_column(s: &mut dyn MarketStore) {
    let mut rng = Rng::new(3);
    let k = key("refused", "1h");
    for (col, v) in [("high", f64::NAN), ("volume", f64::INFINITY), ("low", -0.0), ("trades", f64::NEG_INFINITY)] {
        let mut b = random_bars(&mut rng, 1_600_000_000_000, 3_600_000, 20);
        let ts = b.timestamp[13];
        match col {
            "high" => b.high[13] = v,
            "volume" => b.volume[13] = v,
            "low" => b.low[13] = v,
            _ => b.extra.get_mut(col).unwrap()[13] = v,
        }
        let e = s.append_bars(&k, &b).unwrap_err().to_string();
        assert!(e.contains(&format!("`{col}`")) && e.contains(&ts.to_string()), "{col}: {e}");
    }
    let mut b = random_bars(&mut rng, 1_600_000_000_000, 3_600_000, 5);
    b.timestamp.swap(1, 2);
    let e = s.append_bars(&k, &b).unwrap_err().to_string();
    assert!(e.contains("timestamps must increase"), "{e}");
    assert!(s.bars(&k, TimeRange::ALL).unwrap().is_empty(), "nothing stored");
    let e = SeriesKey::new("BTC USDT", "1h").unwrap_err().to_string();
    assert!(e.contains("`symbol`") && e.contains("BTC USDT"), "{e}");
}

fn a_range_missing_an_extra_column_is_an_error(s: &mut dyn MarketStore) {
    let mut rng = Rng::new(4);
    let k = key("ragged", "1h");
    let a = random_bars(&mut rng, 1_600_000_000_000, 3_600_000, 10);
    let mut b = random_bars(&mut rng, a.timestamp[9], 3_600_000, 10);
    b.extra.remove("trades");
    s.append_bars(&k, &a).unwrap();
    s.append_bars(&k, &b).unwrap();
    let e = s.bars(&k, TimeRange::ALL).unwrap_err().to_string();
    assert!(e.contains("`trades`") && e.contains(&b.timestamp[0].to_string()), "{e}");
    // Each part alone reads back whole.
    let first = TimeRange { from: None, to: Some(b.timestamp[0]) };
    assert_same_bars(&s.bars(&k, first).unwrap(), &a, "the part with the column");
    assert_same_bars(&s.last_bars(&k, 10).unwrap(), &b, "the part without it");
}

fn trades_append_and_query_by_time(s: &mut dyn MarketStore) {
    let mut rng = Rng::new(5);
    let sym = format!("trades-{}", std::process::id());
    let mut trades: Vec<Trade> = (0..300)
        .map(|i| Trade {
            id: 1000 + i,
            timestamp: 1_600_000_000_000 + (i / 3) * 250,
            price: value(&mut rng),
            qty: value(&mut rng),
            buyer_maker: rng.below(2) == 0,
        })
        .collect();
    let r = s.append_trades(&sym, &trades[..200]).unwrap();
    assert_eq!((r.added, r.unchanged), (200, 0));
    let r = s.append_trades(&sym, &trades).unwrap();
    assert_eq!((r.added, r.unchanged), (100, 200));
    assert_eq!(s.trades(&sym, TimeRange::ALL).unwrap(), trades);
    let range = TimeRange { from: Some(1_600_000_000_000 + 10 * 250), to: Some(1_600_000_000_000 + 20 * 250) };
    assert_eq!(s.trades(&sym, range).unwrap(), trades[30..60].to_vec());
    trades[5].qty = f64::from_bits(trades[5].qty.to_bits() ^ 1);
    let extra = Trade { id: 99_999, ..trades[0] };
    let e = s.append_trades(&sym, &[extra, trades[5]]).unwrap_err().to_string();
    assert!(e.contains("trade 1005") && e.contains("other values"), "{e}");
    assert_eq!(s.trades(&sym, TimeRange::ALL).unwrap().len(), 300, "the new trade of the refused batch is not stored");
}

fn trading_records_come_back_in_the_order_they_were_made(s: &mut dyn MarketStore) {
    let mut rng = Rng::new(6);
    let k = key("records", "1h");
    let mut made = Vec::new();
    for bar in 0..50i64 {
        let ts = 1_600_000_000_000 + bar * 3_600_000;
        let mut batch = Vec::new();
        if bar % 3 != 0 {
            batch.push(Record::Fill {
                timestamp: ts,
                price: value(&mut rng),
                qty: rng.uniform(-3.0, 3.0),
                fee: value(&mut rng),
                position: rng.uniform(-3.0, 3.0),
                cash: value(&mut rng),
            });
        }
        if bar == 40 {
            batch.push(Record::Halt { timestamp: ts, reason: "max loss: équité 'quoted' \"text\"".into() });
        }
        if bar % 5 != 4 {
            batch.push(Record::Decision {
                timestamp: ts,
                class: rng.below(3) as u32,
                confidence: rng.f64(),
                signal: rng.uniform(-2.0, 2.0),
                target: rng.uniform(-2.0, 2.0),
                limit: (bar % 7 == 0).then(|| "var".to_string()),
                model: (bar % 4 != 0).then(|| "tf+lstm".to_string()),
                top_class: (bar % 6 != 0).then(|| rng.below(3) as u32),
                top_prob: (bar % 6 != 0).then(|| rng.f64()),
            });
        }
        s.append_records(&k, &batch).unwrap();
        made.extend(batch);
    }
    assert_eq!(s.records(&k, TimeRange::ALL).unwrap(), made);
    let range =
        TimeRange { from: Some(1_600_000_000_000 + 10 * 3_600_000), to: Some(1_600_000_000_000 + 20 * 3_600_000) };
    let want: Vec<Record> =
        made.iter().filter(|r| (range.from.unwrap()..range.to.unwrap()).contains(&r.timestamp())).cloned().collect();
    assert_eq!(s.records(&k, range).unwrap(), want);
    // A second decision for a bar that has one: an error, and the fill beside it in the batch is not stored.
    let ts = 1_600_000_000_000 + 51 * 3_600_000;
    let dup = Record::Decision {
        timestamp: 1_600_000_000_000,
        class: 0,
        confidence: 0.5,
        signal: 0.0,
        target: 0.0,
        limit: None,
        model: None,
        top_class: None,
        top_prob: None,
    };
    let fill = Record::Fill { timestamp: ts, price: 1.0, qty: 1.0, fee: 0.0, position: 1.0, cash: 1.0 };
    assert!(s.append_records(&k, &[fill, dup]).is_err());
    assert_eq!(s.records(&k, TimeRange::ALL).unwrap(), made, "nothing of the refused batch");
    assert!(s.records(&key("records-none", "1h"), TimeRange::ALL).unwrap().is_empty());
}

/// The monitor's read: the newest N decisions, of one model or all, oldest first; fills and halts left out.
fn decisions_by_model_and_limit(s: &mut dyn MarketStore) {
    let k = key("decisions", "1h");
    let decision = |bar: i64, model: Option<&str>| Record::Decision {
        timestamp: 1_600_000_000_000 + bar * 3_600_000,
        class: (bar % 3) as u32,
        confidence: 0.25 + bar as f64 / 100.0,
        signal: 1.0,
        target: -0.5,
        limit: None,
        model: model.map(str::to_string),
        top_class: Some((bar % 2) as u32),
        top_prob: Some(0.5 + bar as f64 / 1000.0),
    };
    let mut made = Vec::new();
    for bar in 0..30i64 {
        // Models `a` and `b` take turns; bar 7 has none (a decision written before models were named).
        let model = [Some("a"), Some("b")][bar as usize % 2].filter(|_| bar != 7);
        let d = decision(bar, model);
        let fill = Record::Fill { timestamp: d.timestamp(), price: 1.0, qty: 1.0, fee: 0.0, position: 1.0, cash: 1.0 };
        s.append_records(&k, &[fill, d.clone()]).unwrap();
        made.push(d);
    }
    assert_eq!(s.decisions(&k, None, None).unwrap(), made);
    assert_eq!(s.decisions(&k, None, Some(5)).unwrap(), made[25..].to_vec());
    let of = |m: &str| -> Vec<Record> {
        made.iter().filter(|r| matches!(r, Record::Decision { model: Some(x), .. } if x == m)).cloned().collect()
    };
    assert_eq!(s.decisions(&k, Some("b"), None).unwrap(), of("b"));
    assert_eq!(of("b").len(), 14, "bar 7 has no model");
    assert_eq!(s.decisions(&k, Some("a"), Some(3)).unwrap(), of("a")[12..].to_vec());
    assert_eq!(s.decisions(&k, Some("a"), Some(0)).unwrap(), vec![]);
    assert_eq!(s.decisions(&k, Some("c"), None).unwrap(), vec![]);
    assert_eq!(s.decisions(&key("decisions-none", "1h"), None, None).unwrap(), vec![]);
}

/// One case of the suite, run on a fresh connection.
type Case = fn(&mut dyn MarketStore);

/// Every case of the suite, on stores from `open` (a fresh connection each, so nothing lives only in one).
fn suite(open: &dyn Fn() -> Box<dyn MarketStore>) {
    let cases: [(&str, Case); 7] = [
        ("bars_round_trip_and_ranges_cut_like_slices", bars_round_trip_and_ranges_cut_like_slices),
        ("reimports_are_idempotent_and_conflicts_store_nothing", reimports_are_idempotent_and_conflicts_store_nothing),
        ("unstorable_values_are_refused_naming_bar_and_column", unstorable_values_are_refused_naming_bar_and_column),
        ("a_range_missing_an_extra_column_is_an_error", a_range_missing_an_extra_column_is_an_error),
        ("trades_append_and_query_by_time", trades_append_and_query_by_time),
        (
            "trading_records_come_back_in_the_order_they_were_made",
            trading_records_come_back_in_the_order_they_were_made,
        ),
        ("decisions_by_model_and_limit", decisions_by_model_and_limit),
    ];
    for (name, case) in cases {
        eprintln!("store suite: {name}");
        case(open().as_mut());
    }
    // What one connection wrote, another reads.
    let k = key("roundtrip", "1h");
    assert_eq!(open().bars(&k, TimeRange::ALL).unwrap().len(), 600);
}

#[test]
fn sqlite_store_passes_the_suite() {
    let dir = std::env::temp_dir().join(format!("tickgrad-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("suite.db");
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite:{}", path.display());
    suite(&|| store::open(&url, true).unwrap());
    let e = store::open(&format!("sqlite:{}", dir.join("missing.db").display()), false).err().unwrap().to_string();
    assert!(e.contains("missing.db") && e.contains("no such SQLite database"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The PostgreSQL URL to test against, or None (with a printed reason) where that is allowed.
fn postgres_url() -> Option<String> {
    let required = std::env::var("TICKGRAD_REQUIRE_PG").is_ok_and(|v| v == "1");
    let url = std::env::var("TICKGRAD_TEST_PG").ok().filter(|u| !u.is_empty());
    if cfg!(not(feature = "postgres")) {
        assert!(!required, "TICKGRAD_REQUIRE_PG=1 but this build has no `postgres` feature");
        println!("SKIPPED: the PostgreSQL store suite did not run (build with --features postgres)");
        return None;
    }
    if url.is_none() {
        assert!(!required, "TICKGRAD_REQUIRE_PG=1 but TICKGRAD_TEST_PG (the server's URL) is not set");
        println!(
            "SKIPPED: the PostgreSQL store suite did not run (set TICKGRAD_TEST_PG=postgres://…; scripts/test does)"
        );
    }
    url
}

#[test]
fn postgres_store_passes_the_suite() {
    let Some(url) = postgres_url() else { return };
    if let Err(e) = store::open(&url, true) {
        panic!("TICKGRAD_TEST_PG is set but the server cannot be used: {e}");
    }
    suite(&|| store::open(&url, true).unwrap());
}

#[test]
fn bad_urls_say_what_was_expected() {
    for bad in ["m.db", "mysql://root:secret@h/db", "sqlite:"] {
        let e = store::open(bad, true).err().unwrap().to_string();
        assert!(e.contains("expected sqlite:PATH or postgres://") && !e.contains("secret"), "{bad}: {e}");
    }
    if cfg!(feature = "postgres") {
        // Nothing listens on port 1: a connection error naming the (password-less) URL, not a hang or a panic.
        let e = store::open("postgres://u:pw@127.0.0.1:1/db?connect_timeout=5", true).err().unwrap().to_string();
        assert!(e.contains("127.0.0.1:1") && e.contains("connecting") && !e.contains("pw@"), "{e}");
    }
}
