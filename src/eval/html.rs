//! `report.html`: one file with inline SVG and CSS, no scripts, so it opens anywhere and can be archived
//! next to the numbers it shows.

use super::baselines::BUY_AND_HOLD;
use super::classification::CLASS_NAMES;
use super::evaluate::{CalibrationBin, Evaluation};
use std::fmt::Write as _;

const W: f64 = 860.0;
const H: f64 = 260.0;
const PAD_L: f64 = 70.0;
const PAD_R: f64 = 20.0;
const PAD_T: f64 = 20.0;
const PAD_B: f64 = 30.0;
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
    let px = |i: usize| PAD_L + (W - PAD_L - PAD_R) * i as f64 / (n.max(2) - 1) as f64;
    let py = |v: f64| PAD_T + (H - PAD_T - PAD_B) * (hi - v) / (hi - lo);
    let mut s = String::new();
    let scale = if log { ", log scale" } else { "" };
    let _ = write!(s, "<h2>{}{scale}</h2>\n<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\">", escape(title));
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
            H - 8.0,
            fmt_utc(*first),
            W - PAD_R,
            H - 8.0,
            fmt_utc(*last)
        );
    }
    for (k, (name, y, color)) in series.iter().enumerate() {
        let pts: Vec<String> = reduce(y)
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| format!("{:.1},{:.1}", px(i), py(v)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.3\" points=\"{}\"/>\
             <rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{color}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
            pts.join(" "),
            PAD_L + 10.0,
            PAD_T + 8.0 + 16.0 * k as f64,
            PAD_L + 26.0,
            PAD_T + 12.0 + 16.0 * k as f64,
            escape(name)
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

fn metrics_table(eval: &Evaluation) -> String {
    let r = &eval.report;
    let mut cols = vec![("model", r.model.rows())];
    cols.extend(r.baselines.iter().map(|(k, m)| (k.as_str(), m.rows())));
    let mut s = String::from("<h2>Metrics</h2>\n<table class=\"m\"><tr><th>metric</th>");
    for (name, _) in &cols {
        let _ = write!(s, "<th>{}</th>", escape(name));
    }
    s.push_str("</tr>");
    for i in 0..cols[0].1.len() {
        let _ = write!(s, "<tr><td>{}</td>", cols[0].1[i].0);
        for (_, rows) in &cols {
            match rows[i].1 {
                Some(v) => {
                    let _ = write!(s, "<td>{v:.4}</td>");
                }
                None => s.push_str("<td>n/a</td>"),
            }
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
    let model_eq = equity(&eval.model.net);
    let bh_eq = eval.baselines.get(BUY_AND_HOLD).map(|b| equity(&b.net));
    let mut series: Vec<(&str, &[f64], &str)> = vec![("model", &model_eq, "#2166ac")];
    if let Some(b) = &bh_eq {
        series.push(("buy and hold", b, "#b2182b"));
    }
    s.push_str(&line_chart("Equity (net of costs)", &series, &eval.timestamps, |v| format!("{v:.3}"), true));
    let dd = drawdown(&eval.model.net);
    s.push_str(&line_chart(
        "Model drawdown",
        &[("drawdown", &dd, "#b2182b")],
        &eval.timestamps,
        |v| format!("{:.1}%", 100.0 * v),
        false,
    ));
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
    use super::*;

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
