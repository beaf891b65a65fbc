//! Bad bars in a live stream (issue 15), delivered one at a time through `Trader::on_bar` as a feed would: NaN,
//! infinite or non-positive prices, negative volume, high below low, open or close outside the range, a bar out of
//! order or repeated. Each is refused before anything sees it — no fill, no decision, no journal line — and counted
//! in `tickgrad_rejected_bars_total{reason=...}`; the stream then goes on exactly as if the bad bar had never come
//! (its journal is byte-identical to a clean run's). A gap is accepted and counted. Model outputs that are not
//! finite never become a decision.

use tickgrad::data::incremental::{Bar, BarReject};
use tickgrad::data::Bars;
use tickgrad::trade::Trader;

mod trader_support;
use trader_support::{config, engines, engines_scaled, spy_range};

fn spy() -> Bars {
    spy_range(0..160)
}

fn scratch(name: &str) -> std::path::PathBuf {
    trader_support::scratch("bad-bars", name)
}

/// The bad variants of `good` (the bar that should come next after `prev`), each with the reason it must get.
fn bad_variants(good: &Bar, prev: &Bar) -> Vec<(Bar, BarReject)> {
    let with = |f: &dyn Fn(&mut Bar)| {
        let mut b = *good;
        f(&mut b);
        b
    };
    vec![
        (with(&|b| b.close = f64::NAN), BarReject::NonFinite),
        (with(&|b| b.open = f64::INFINITY), BarReject::NonFinite),
        (with(&|b| b.high = f64::NEG_INFINITY), BarReject::NonFinite),
        (with(&|b| b.volume = f64::NAN), BarReject::NonFinite),
        (with(&|b| b.low = 0.0), BarReject::NonPositivePrice),
        (with(&|b| b.close = -3.0), BarReject::NonPositivePrice),
        (with(&|b| b.volume = -1.0), BarReject::NegativeVolume),
        (with(&|b| std::mem::swap(&mut b.high, &mut b.low)), BarReject::HighBelowLow),
        (with(&|b| b.close = b.high * 1.01), BarReject::OutsideRange),
        (with(&|b| b.open = b.low * 0.99), BarReject::OutsideRange),
        (with(&|b| b.trades = Some(3.0)), BarReject::Fields),
        (*prev, BarReject::Duplicate),
        (with(&|b| b.timestamp = prev.timestamp), BarReject::Duplicate),
        (with(&|b| b.timestamp = prev.timestamp - 86_400_000), BarReject::OutOfOrder),
    ]
}

/// Feed bars `0..n`, with every bad variant of bar `i` delivered before it when `i` is in `bad_at`; checks that
/// each bad bar was refused and changed nothing, and that no decision is ever non-finite.
fn run(bars: &Bars, n: usize, bad_at: &[usize], skip: Option<usize>, journal: &std::path::Path) -> Trader {
    let (mut t, _) = Trader::new(engines(), config(), Some(journal)).unwrap();
    let mut prev: Option<Bar> = None;
    for i in 0..n {
        if Some(i) == skip {
            continue;
        }
        let good = Bar::from_bars(bars, i);
        if let (Some(p), true) = (prev, bad_at.contains(&i)) {
            for (bad, why) in bad_variants(&good, &p) {
                let before = (t.broker().position, t.broker().cash, std::fs::read(journal).unwrap());
                let counted = t.monitor().rejected(why.reason());
                let r = t.on_bar(&bad).unwrap();
                assert_eq!(r.rejected, Some(why), "bar {i}: {bad:?}");
                assert!(r.decision.is_none() && r.target.is_none() && !r.live);
                assert_eq!(t.monitor().rejected(why.reason()), counted + 1);
                let after = (t.broker().position, t.broker().cash, std::fs::read(journal).unwrap());
                assert!(before == after, "bar {i}: a refused bar changed the position, cash or journal");
            }
        }
        let r = t.on_bar(&good).unwrap();
        assert_eq!(r.rejected, None, "bar {i}");
        if let Some(d) = &r.decision {
            assert!(d.confidence.is_finite() && d.combined.iter().all(|p| p.is_finite()), "bar {i}: {d:?}");
        }
        prev = Some(good);
    }
    t
}

#[test]
fn bad_bars_are_refused_counted_and_change_nothing() {
    let bars = spy();
    let n = bars.len();
    let clean_j = scratch("clean.jsonl");
    let clean = run(&bars, n, &[], None, &clean_j);
    let bad_j = scratch("bad.jsonl");
    // Bad bars during warm-up, right after it, and while trading live.
    let bad_at = [1, 5, 40, 41, 100, 150];
    let t = run(&bars, n, &bad_at, None, &bad_j);
    let (clean_text, bad_text) = (std::fs::read_to_string(&clean_j).unwrap(), std::fs::read_to_string(&bad_j).unwrap());
    for kind in ["\"type\":\"decision\"", "\"type\":\"fill\""] {
        assert!(clean_text.contains(kind), "the clean run traded: {kind} in\n{clean_text}");
    }
    assert_eq!(bad_text, clean_text, "the refused bars left a trace in the journal");
    assert_eq!((t.broker().position, t.broker().cash), (clean.broker().position, clean.broker().cash));

    let text = t.monitor().prometheus();
    assert!(text.contains("# TYPE tickgrad_rejected_bars_total counter"), "{text}");
    let per = bad_at.len();
    for (reason, times) in [
        ("non_finite", 4),
        ("non_positive_price", 2),
        ("negative_volume", 1),
        ("high_below_low", 1),
        ("outside_range", 2),
        ("fields", 1),
        ("duplicate", 2),
        ("out_of_order", 1),
        ("non_finite_prediction", 0),
    ] {
        let line = format!("tickgrad_rejected_bars_total{{reason=\"{reason}\"}} {}\n", times * per);
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    assert!(clean.monitor().prometheus().contains("tickgrad_rejected_bars_total{reason=\"duplicate\"} 0\n"));
}

#[test]
fn a_gap_is_accepted_and_counted() {
    let bars = spy();
    let day = 86_400_000;
    // A mid-week bar whose neighbours are one day away: dropping it makes a two-day step, one gap more.
    let i = (60..bars.len() - 1)
        .find(|&i| bars.timestamp[i] - bars.timestamp[i - 1] == day && bars.timestamp[i + 1] - bars.timestamp[i] == day)
        .unwrap();
    let clean = run(&bars, bars.len(), &[], None, &scratch("gap-clean.jsonl"));
    let gapped = run(&bars, bars.len(), &[], Some(i), &scratch("gap.jsonl"));
    assert!(clean.monitor().gaps() > 0, "weekends are gaps in daily bars");
    assert_eq!(gapped.monitor().gaps(), clean.monitor().gaps() + 1);
    assert!(gapped.monitor().prometheus().contains(&format!("tickgrad_bar_gaps_total {}\n", gapped.monitor().gaps())));
    assert_eq!(gapped.monitor().rejected("non_finite"), 0);
}

#[test]
fn non_finite_model_outputs_never_become_a_decision() {
    let bars = spy();
    let j = scratch("overflow.jsonl");
    let (mut t, _) = Trader::new(engines_scaled(1e30), config(), Some(&j)).unwrap();
    let mut skipped = 0;
    for i in 0..60 {
        let r = t.on_bar(&Bar::from_bars(&bars, i)).unwrap();
        assert_eq!(r.rejected, None);
        match &r.decision {
            Some(d) => assert!(d.confidence.is_finite() && d.combined.iter().all(|p| p.is_finite()), "{d:?}"),
            None => skipped += 1,
        }
    }
    let counted = t.monitor().rejected("non_finite_prediction");
    assert!(counted > 0, "weights of 1e30 overflow the outputs");
    assert!(skipped as u64 >= counted);
    assert!(t.broker().position == 0.0, "no trade on a non-finite prediction");
    let journal = std::fs::read_to_string(&j).unwrap();
    assert!(journal.is_empty(), "no decision journaled: {journal}");
}
