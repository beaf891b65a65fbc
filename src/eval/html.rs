//! `report.html`: one file with inline SVG and CSS, no scripts, so it opens anywhere and can be archived
//! next to the numbers it shows.

use super::classification::CLASS_NAMES;
use super::evaluate::{CalibrationBin, Evaluation};
use std::fmt::Write as _;

const W: f64 = 1060.0;
const H: f64 = 260.0;
const PAD_L: f64 = 70.0;
/// The legend sits in this right-hand margin, outside the plot, so it never hides a curve.
const PAD_R: f64 = 230.0;
const PAD_T: f64 = 20.0;
const PAD_B: f64 = 30.0;
/// The model is always blue; the baselines take the rest in name order (ColorBrewer's dark diverging hues).
const MODEL_COLOR: &str = "#2166ac";
const SERIES_COLORS: [&str; 8] =
    ["#b2182b", "#1b7837", "#762a83", "#e08214", "#35978f", "#8c510a", "#c51b7d", "#4d4d4d"];
/// An ensemble's members, after the baselines: lighter hues of their own (ColorBrewer's light diverging ends and
/// Set2), so a member is never taken for a baseline.
const MEMBER_COLORS: [&str; 8] =
    ["#67a9cf", "#ef8a62", "#7fbf7b", "#af8dc3", "#fdb863", "#80cdc1", "#de77ae", "#999999"];
/// Vertical space per legend entry; a chart grows taller when its legend needs it.
const LEGEND_STEP: f64 = 16.0;
/// Rows that count things print as integers (`452`, not `452.0000`).
const COUNT_ROWS: [&str; 4] = ["n_trades", "n_bars", "n_trials", "periods_per_year"];

/// Above this many points a curve is reduced to each bucket's min and max, which keeps drawdown troughs.
const MAX_POINTS: usize = 1600;

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Unix milliseconds to `YYYY-MM-DD HH:MM` UTC (Howard Hinnant's civil-from-days).
pub fn fmt_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", sod / 3600, (sod % 3600) / 60)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days-from-civil): the inverse of [`fmt_utc`]'s
/// date part, for the command line's UTC date flags.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn equity(net: &[f64]) -> Vec<f64> {
    let mut e = 1.0;
    net.iter()
        .map(|r| {
            e *= 1.0 + r;
            e
        })
        .collect()
}

fn drawdown(net: &[f64]) -> Vec<f64> {
    let mut peak = 1.0f64;
    equity(net)
        .into_iter()
        .map(|e| {
            peak = peak.max(e);
            e / peak - 1.0
        })
        .collect()
}

fn reduce(y: &[f64]) -> Vec<(usize, f64)> {
    if y.len() <= MAX_POINTS {
        return y.iter().copied().enumerate().collect();
    }
    let bucket = y.len().div_ceil(MAX_POINTS / 2);
    let mut out = Vec::with_capacity(MAX_POINTS + 2);
    for start in (0..y.len()).step_by(bucket) {
        let end = (start + bucket).min(y.len());
        let (mut lo, mut hi) = (start, start);
        for i in start..end {
            if y[i] < y[lo] {
                lo = i;
            }
            if y[i] > y[hi] {
                hi = i;
            }
        }
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push((a, y[a]));
        if b != a {
            out.push((b, y[b]));
        }
    }
    out
}

/// `log` plots ln(y) (labels still show y) when every value is positive: equity curves that compound over
/// years are unreadable on a linear axis.
fn line_chart(
    title: &str,
    series: &[(&str, &[f64], &str)],
    timestamps: &[i64],
    fmt: fn(f64) -> String,
    log: bool,
) -> String {
    let log = log && series.iter().all(|s| s.1.iter().all(|v| *v > 0.0));
    let logged: Vec<Vec<f64>> =
        series.iter().map(|s| if log { s.1.iter().map(|v| v.ln()).collect() } else { s.1.to_vec() }).collect();
    let series: Vec<(&str, &[f64], &str)> = series.iter().zip(&logged).map(|(s, y)| (s.0, y.as_slice(), s.2)).collect();
    let label = |v: f64| if log { fmt(v.exp()) } else { fmt(v) };
    let n = series.iter().map(|s| s.1.len()).max().unwrap_or(0);
    let vals = series.iter().flat_map(|s| s.1.iter().copied()).filter(|v| v.is_finite());
    let (mut lo, mut hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        (lo, hi) = (lo - 0.5 * lo.abs().max(1e-3), hi + 0.5 * hi.abs().max(1e-3));
    }
    let pad = (hi - lo) * 0.05;
    let (lo, hi) = (lo - pad, hi + pad);
    // Tall enough for one legend line per series in the right margin (the model, every baseline and member).
    let h = H.max(PAD_T + 8.0 + LEGEND_STEP * series.len() as f64 + PAD_B);
    let px = |i: usize| PAD_L + (W - PAD_L - PAD_R) * i as f64 / (n.max(2) - 1) as f64;
    let py = |v: f64| PAD_T + (h - PAD_T - PAD_B) * (hi - v) / (hi - lo);
    let mut s = String::new();
    let scale = if log { ", log scale" } else { "" };
    let _ = write!(s, "<h2>{}{scale}</h2>\n<svg width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\">", escape(title));
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let y = py(v);
        let _ = write!(
            s,
            "<line x1=\"{PAD_L}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            W - PAD_R,
            PAD_L - 6.0,
            y + 4.0,
            escape(&label(v))
        );
    }
    if let (Some(first), Some(last)) = (timestamps.first(), timestamps.last()) {
        let _ = write!(
            s,
            "<text x=\"{PAD_L}\" y=\"{}\" font-size=\"11\">{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            h - 8.0,
            fmt_utc(*first),
            W - PAD_R,
            h - 8.0,
            fmt_utc(*last)
        );
    }
    for (k, (name, y, color)) in series.iter().enumerate() {
        let pts: Vec<String> = reduce(y)
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| format!("{:.1},{:.1}", px(i), py(v)))
            .collect();
        let width = if k == 0 { 2.0 } else { 1.2 };
        // A curve identical to an earlier one (majority class = buy and hold when most bars go up) would hide it:
        // it is dashed so both show, and the legend says so.
        let twin = series[..k].iter().find(|s| s.1 == *y).map(|s| s.0);
        let dash = if twin.is_some() { " stroke-dasharray=\"7 5\"" } else { "" };
        let name = match twin {
            Some(t) => format!("{name} (= {t})"),
            None => name.to_string(),
        };
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\"{dash} points=\"{}\"/>\
             <g class=\"legend\"><rect x=\"{}\" y=\"{}\" width=\"14\" height=\"3\" fill=\"{color}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text></g>",
            pts.join(" "),
            W - PAD_R + 12.0,
            PAD_T + 8.0 + LEGEND_STEP * k as f64,
            W - PAD_R + 30.0,
            PAD_T + 12.0 + LEGEND_STEP * k as f64,
            escape(&name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn confusion_table(cm: &[[u64; 3]; 3]) -> String {
    let mut s = String::from("<h2>Confusion matrix</h2>\n<table class=\"cm\"><tr><th>true \\ predicted</th>");
    for name in CLASS_NAMES {
        let _ = write!(s, "<th>{name}</th>");
    }
    s.push_str("</tr>");
    for (t, row) in cm.iter().enumerate() {
        let total: u64 = row.iter().sum();
        let _ = write!(s, "<tr><th>{}</th>", CLASS_NAMES[t]);
        for &c in row {
            let share = if total > 0 { c as f64 / total as f64 } else { 0.0 };
            let _ = write!(
                s,
                "<td style=\"background:rgba(33,102,172,{share:.3});color:{}\">{c}<br><small>{:.1}%</small></td>",
                if share > 0.55 { "#fff" } else { "#000" },
                100.0 * share
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>\n");
    s
}

fn calibration_chart(bins: &[CalibrationBin]) -> String {
    let size = 320.0;
    let p = 40.0;
    let sc = |v: f64| p + (size - 2.0 * p) * v;
    let sy = |v: f64| size - p - (size - 2.0 * p) * v;
    let mut s = format!(
        "<h2>Calibration</h2>\n<svg width=\"{size}\" height=\"{size}\" viewBox=\"0 0 {size} {size}\">\
         <rect x=\"{p}\" y=\"{p}\" width=\"{w}\" height=\"{w}\" fill=\"none\" stroke=\"#999\"/>\
         <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">confidence</text>\
         <text x=\"12\" y=\"{}\" font-size=\"11\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">accuracy</text>",
        sc(0.0),
        sy(0.0),
        sc(1.0),
        sy(1.0),
        size / 2.0,
        size - 10.0,
        size / 2.0,
        size / 2.0,
        w = size - 2.0 * p
    );
    for k in 0..=5 {
        let v = k as f64 / 5.0;
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#999\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{v:.1}</text>\
             <line x1=\"{}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#999\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{v:.1}</text>",
            size - p,
            size - p + 4.0,
            size - p + 15.0,
            p - 4.0,
            p,
            p - 6.0,
            sy(v) + 3.5,
            x = sc(v),
            y = sy(v),
        );
    }
    let max_count = bins.iter().map(|b| b.count).max().unwrap_or(1) as f64;
    let pts: Vec<String> = bins.iter().map(|b| format!("{:.1},{:.1}", sc(b.mean_confidence), sy(b.accuracy))).collect();
    let _ = write!(s, "<polyline fill=\"none\" stroke=\"#2166ac\" points=\"{}\"/>", pts.join(" "));
    for b in bins {
        let r = 2.5 + 5.0 * (b.count as f64 / max_count).sqrt();
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r:.1}\" fill=\"#2166ac\"><title>[{:.1}, {:.1}): {} bars, \
             accuracy {:.3}</title></circle>",
            sc(b.mean_confidence),
            sy(b.accuracy),
            b.lo,
            b.hi,
            b.count,
            b.accuracy
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Counts as integers, everything else to four decimals; `n/a` where undefined.
fn fmt_metric(name: &str, v: Option<f64>) -> String {
    match v {
        Some(v) if COUNT_ROWS.contains(&name) && v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        Some(v) => format!("{v:.4}"),
        None => "n/a".into(),
    }
}

fn metrics_table(eval: &Evaluation) -> String {
    let r = &eval.report;
    let mut cols = vec![("model".to_string(), r.model.rows())];
    cols.extend(r.baselines.iter().map(|(k, m)| (k.clone(), m.rows())));
    // Members in the ensemble's order (the evaluation's), their metrics from the report.
    cols.extend(eval.members.iter().filter_map(|(k, _)| Some((format!("member {k}"), r.members.get(k)?.rows()))));
    let mut s = String::from("<h2>Metrics</h2>\n<table class=\"m\"><tr><th>metric</th>");
    for (name, _) in &cols {
        let _ = write!(s, "<th>{}</th>", escape(name));
    }
    s.push_str("</tr>");
    for i in 0..cols[0].1.len() {
        let _ = write!(s, "<tr><td>{}</td>", cols[0].1[i].0);
        for (_, rows) in &cols {
            let _ = write!(s, "<td>{}</td>", fmt_metric(rows[i].0, rows[i].1));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>\n");
    s
}

pub(crate) fn render(eval: &Evaluation) -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>tickgrad report</title><style>\
         body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin-bottom:16px}\
         td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}table.m td{text-align:right}\
         table.m td:first-child{text-align:left}table.cm td{text-align:center;min-width:70px}\
         </style></head><body>\n<h1>tickgrad evaluation</h1>\n",
    );
    // The model first, then every baseline the evaluation scored, then every ensemble member, each with its own
    // colour.
    let runs: Vec<(String, &[f64], &str)> =
        std::iter::once(("model".to_string(), eval.model.net.as_slice(), MODEL_COLOR))
            .chain(
                eval.baselines
                    .iter()
                    .zip(SERIES_COLORS.iter().cycle())
                    .map(|((name, b), c)| (name.replace('_', " "), b.net.as_slice(), *c)),
            )
            .chain(
                eval.members
                    .iter()
                    .zip(MEMBER_COLORS.iter().cycle())
                    .map(|((name, b), c)| (format!("member {name}"), b.net.as_slice(), *c)),
            )
            .collect();
    let curves = |f: fn(&[f64]) -> Vec<f64>| -> Vec<(String, Vec<f64>, &str)> {
        runs.iter().map(|(name, net, c)| (name.clone(), f(net), *c)).collect()
    };
    let eq = curves(equity);
    let eq_series: Vec<(&str, &[f64], &str)> = eq.iter().map(|(n, y, c)| (n.as_str(), y.as_slice(), *c)).collect();
    s.push_str(&line_chart("Equity (net of costs)", &eq_series, &eval.timestamps, |v| format!("{v:.3}"), true));
    let dd = curves(drawdown);
    let dd_series: Vec<(&str, &[f64], &str)> = dd.iter().map(|(n, y, c)| (n.as_str(), y.as_slice(), *c)).collect();
    s.push_str(&line_chart("Drawdown", &dd_series, &eval.timestamps, |v| format!("{:.1}%", 100.0 * v), false));
    if let Some(c) = &eval.classification {
        s.push_str(&confusion_table(&c.all.confusion_matrix));
    }
    if !eval.calibration.is_empty() {
        s.push_str(&calibration_chart(&eval.calibration));
    }
    s.push_str(&metrics_table(eval));
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::super::classification::ConfidenceFilter;
    use super::super::evaluate::{evaluate, EvalInputs};
    use super::super::trading::TradingConfig;
    use super::*;

    /// A random classifier's evaluation over `n` hourly bars, with every baseline the inputs allow.
    fn random_eval(n: usize, seed: u64) -> Evaluation {
        random_ensemble_eval(n, seed, 0)
    }

    /// The same with `members` ensemble members (random calls, the last one the boosted trees' own calls, as in
    /// `run`'s ensemble, whose gbdt member is the `boosted_trees` baseline).
    fn random_ensemble_eval(n: usize, seed: u64, members: usize) -> Evaluation {
        let mut state = seed;
        let mut u = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let returns: Vec<f64> = (0..n).map(|_| (u() - 0.49) * 0.02).collect();
        let labels: Vec<usize> = (0..n).map(|_| (u() * 3.0) as usize % 3).collect();
        let predictions: Vec<usize> = (0..n).map(|_| (u() * 3.0) as usize % 3).collect();
        let gbdt: Vec<usize> = (0..n).map(|_| (u() * 3.0) as usize % 3).collect();
        let confidence: Vec<f64> = (0..n).map(|_| 0.34 + 0.66 * u()).collect();
        let timestamps: Vec<i64> = (0..n as i64).map(|i| 1_577_836_800_000 + 3_600_000 * i).collect();
        let mut inputs = EvalInputs::new(&timestamps, &returns, TradingConfig::hourly_24_7(4.0, 1.0));
        inputs.labels = Some(&labels);
        inputs.predictions = Some(&predictions);
        inputs.confidence = Some(ConfidenceFilter { confidence: &confidence, threshold: 0.7 });
        inputs.train_labels = Some(&labels);
        inputs.boosted_trees = Some(&gbdt);
        let calls: Vec<Vec<usize>> = (0..members)
            .map(|m| if m + 1 == members { gbdt.clone() } else { (0..n).map(|_| (u() * 3.0) as usize % 3).collect() })
            .collect();
        let names: Vec<String> =
            (0..members).map(|m| if m + 1 == members { "gbdt".into() } else { format!("net_{m}") }).collect();
        inputs.members = names.iter().zip(&calls).map(|(name, c)| (name.as_str(), c.as_slice())).collect();
        evaluate(&inputs).unwrap()
    }

    /// The cells of the metrics table's row `name`, model first.
    fn metric_cells(html: &str, name: &str) -> Vec<String> {
        let start = html.find(&format!("<tr><td>{name}</td>")).unwrap_or_else(|| panic!("no row {name}"));
        let row = &html[start..start + html[start..].find("</tr>").unwrap()];
        row.split("<td>").skip(2).map(|c| c.trim_end_matches("</td>").to_string()).collect()
    }

    /// Each chart's SVG, in order.
    fn svgs(html: &str) -> Vec<&str> {
        html.split("<svg").skip(1).map(|s| &s[..s.find("</svg>").unwrap()]).collect()
    }

    fn attr(tag: &str, name: &str) -> f64 {
        let i = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        tag[i..i + tag[i..].find('"').unwrap()].parse().unwrap()
    }

    #[test]
    fn eval_html_counts_print_as_integers() {
        for seed in [1, 2] {
            let eval = random_eval(500 + 37 * seed as usize, seed);
            let html = render(&eval);
            let t = &eval.report.model.trading;
            let n_cols = 1 + eval.report.baselines.len();
            for (name, want) in [
                ("n_trades", t.n_trades.to_string()),
                ("n_bars", t.n_bars.to_string()),
                ("periods_per_year", "8760".into()),
            ] {
                let cells = metric_cells(&html, name);
                assert_eq!(cells.len(), n_cols, "{name}: {cells:?}");
                assert_eq!(cells[0], want, "{name}");
                assert!(cells.iter().all(|c| c.parse::<u64>().is_ok()), "{name} not integers: {cells:?}");
            }
            // a ratio still prints to four decimals
            let sharpe = metric_cells(&html, "sharpe");
            assert_eq!(sharpe[0], format!("{:.4}", t.sharpe));
        }
        assert_eq!(fmt_metric("n_trials", Some(20.0)), "20");
        assert_eq!(fmt_metric("periods_per_year", Some(252.5)), "252.5000");
        assert_eq!(fmt_metric("exposure", Some(3.0)), "3.0000");
        assert_eq!(fmt_metric("n_trades", None), "n/a");
    }

    #[test]
    fn eval_html_draws_every_baseline_with_a_legend_outside_the_plot() {
        let eval = random_eval(700, 7);
        assert!(eval.baselines.len() >= 4, "fixture should score several baselines: {:?}", eval.baselines.keys());
        assert!(eval.members.is_empty() && !eval.report.to_json().unwrap().contains("\"members\""));
        check_line_charts(&eval);
    }

    #[test]
    fn eval_html_draws_every_member_beside_the_baselines() {
        // Eight members (one per member colour): with the model and five baselines, more legend lines than the
        // default height holds.
        let eval = random_ensemble_eval(700, 8, 8);
        assert_eq!(eval.members.len(), 8);
        let html = render(&eval);
        check_line_charts(&eval);
        for chart in &svgs(&html)[..2] {
            // The gbdt member is the boosted-trees baseline: dashed over it and named so.
            assert!(chart.contains(">member gbdt (= boosted trees)</text>"), "{chart}");
            let height = attr(chart, "height");
            let last_legend = chart.split("<g class=\"legend\">").last().unwrap();
            assert!(height > H && attr(last_legend, "y") + 10.0 < height, "legend past the chart's {height} px");
        }
        // The metrics table has a column per member, counts as integers; report.json holds the members' metrics.
        let n_cols = 1 + eval.baselines.len() + eval.members.len();
        let trades = metric_cells(&html, "n_trades");
        assert_eq!(trades.len(), n_cols, "{trades:?}");
        assert_eq!(trades[n_cols - 1], eval.report.members["gbdt"].trading.n_trades.to_string());
        assert!(html.contains("<th>member net_0</th>") && html.contains("<th>member gbdt</th>"));
        let back = super::super::report::Report::from_json(&eval.report.to_json().unwrap()).unwrap();
        assert_eq!(back.members.len(), 8);
        assert_eq!(back.members["gbdt"].trading.sharpe, eval.report.baselines["boosted_trees"].trading.sharpe);
    }

    /// The equity and drawdown charts draw the model, every baseline and every member, each in its own colour,
    /// each with one legend entry to the right of every curve.
    fn check_line_charts(eval: &Evaluation) {
        let html = render(eval);
        let charts = svgs(&html);
        // equity, drawdown, calibration
        assert_eq!(charts.len(), 3);
        for chart in &charts[..2] {
            let n_lines = chart.matches("<polyline").count();
            assert_eq!(n_lines, 1 + eval.baselines.len() + eval.members.len());
            let legends: Vec<&str> = chart.split("<g class=\"legend\">").skip(1).collect();
            assert_eq!(legends.len(), n_lines, "one legend entry per series");
            assert!(legends[0].contains(">model</text>"));
            for name in eval.baselines.keys() {
                let label = format!(">{}", name.replace('_', " "));
                assert_eq!(legends.iter().filter(|l| l.contains(&label)).count(), 1, "legend for {name}");
            }
            for (name, _) in &eval.members {
                let label = format!(">member {name}");
                assert_eq!(legends.iter().filter(|l| l.contains(&label)).count(), 1, "legend for member {name}");
            }
            // every curve point lies left of every legend swatch
            let right = chart
                .split(" points=\"")
                .skip(1)
                .flat_map(|p| p[..p.find('"').unwrap()].split(' ').map(|xy| xy.split(',').next().unwrap()))
                .map(|x| x.parse::<f64>().unwrap())
                .fold(f64::NEG_INFINITY, f64::max);
            for l in &legends {
                assert!(attr(l, "x") > right, "legend at x={} overlaps curves reaching x={right}", attr(l, "x"));
            }
            // distinct colours
            let mut colours: Vec<&str> =
                chart.split("<polyline fill=\"none\" stroke=\"").skip(1).map(|p| &p[..7]).collect();
            colours.sort_unstable();
            colours.dedup();
            assert_eq!(colours.len(), n_lines);
        }
    }

    #[test]
    fn eval_html_identical_curves_are_dashed_and_named() {
        let a: Vec<f64> = (0..50).map(|i| 1.0 + (i as f64 * 0.3).sin() * 0.1).collect();
        let b: Vec<f64> = a.iter().map(|v| v * 1.01).collect();
        let svg =
            line_chart("t", &[("m", &a, "#000001"), ("x", &b, "#000002"), ("y", &a, "#000003")], &[], fmt_unit, false);
        let lines: Vec<&str> = svg.split("<polyline").skip(1).collect();
        assert_eq!(lines.len(), 3);
        assert!(!lines[0].contains("dasharray") && !lines[1].contains("dasharray"));
        assert!(lines[2].contains("stroke-dasharray"));
        assert!(svg.contains(">y (= m)</text>") && svg.contains(">x</text>"));
    }

    fn fmt_unit(v: f64) -> String {
        format!("{v:.2}")
    }

    #[test]
    fn eval_html_calibration_has_tick_labels() {
        let eval = random_eval(400, 3);
        assert!(!eval.calibration.is_empty());
        let html = render(&eval);
        let cal = svgs(&html)[2];
        let ticks: Vec<&str> = cal
            .split("<text class=\"tick\"")
            .skip(1)
            .map(|t| &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()])
            .collect();
        let want: Vec<String> = (0..=5).map(|k| format!("{:.1}", k as f64 / 5.0)).collect();
        assert_eq!(ticks.len(), 12, "six ticks on each axis: {ticks:?}");
        for w in &want {
            assert_eq!(ticks.iter().filter(|t| *t == w).count(), 2, "tick {w} on both axes");
        }
    }

    #[test]
    fn eval_html_helpers() {
        assert_eq!(fmt_utc(1_577_836_800_000), "2020-01-01 00:00");
        assert_eq!(fmt_utc(1_609_459_199_000), "2020-12-31 23:59");
        assert_eq!(escape("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
        let y: Vec<f64> = (0..10_000).map(|i| if i == 4321 { -5.0 } else { (i as f64).sin() }).collect();
        let r = reduce(&y);
        assert!(r.len() <= MAX_POINTS + 2);
        assert!(r.iter().any(|&(i, v)| i == 4321 && v == -5.0));
    }
}
