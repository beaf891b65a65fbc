//! One Prometheus exposition for several symbols traded in one process (`stream --symbols`): each symbol's
//! [`super::monitor::Monitor::prometheus`] text, merged so that every metric family is declared once (`# HELP`,
//! `# TYPE`) and each of its samples carries `symbol="…"` as its first label. Prometheus rejects a family that is
//! declared twice in one scrape, so concatenating the texts would not do.
//!
//! Symbols are checked names (letters, digits and `_-./:`, [`crate::store::check_name`]), so they need no escaping
//! inside a label value.

/// A metric family: its comment lines and its samples, in the order they came.
struct Family {
    name: String,
    header: Vec<String>,
    samples: Vec<String>,
}

/// `text` (one monitor's exposition) as families; a sample before any `# HELP` forms a family of its own name.
fn families(text: &str) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")) {
            let name = rest.split_whitespace().next().unwrap_or_default();
            match out.last_mut() {
                Some(f) if f.name == name && f.samples.is_empty() => f.header.push(line.to_string()),
                _ => out.push(Family { name: name.to_string(), header: vec![line.to_string()], samples: Vec::new() }),
            }
        } else if !line.starts_with('#') {
            let name = sample_name(line);
            match out.last_mut() {
                Some(f) if name.starts_with(f.name.as_str()) => f.samples.push(line.to_string()),
                _ => out.push(Family { name: name.to_string(), header: Vec::new(), samples: vec![line.to_string()] }),
            }
        }
    }
    out
}

/// The metric name of a sample line (`name{labels} value` or `name value`).
fn sample_name(line: &str) -> &str {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    &line[..end]
}

/// `line` with `symbol="…"` as its first label.
fn with_symbol(line: &str, symbol: &str) -> String {
    let name = sample_name(line);
    let rest = &line[name.len()..];
    match rest.strip_prefix('{') {
        Some(labels) => format!("{name}{{symbol=\"{symbol}\",{labels}"),
        None => format!("{name}{{symbol=\"{symbol}\"}}{rest}"),
    }
}

/// The merged exposition of `(symbol, exposition text)` pairs (module docs). Families appear in the order of
/// their first appearance; within one, samples are grouped by symbol in the given order.
pub fn merge(parts: &[(&str, String)]) -> String {
    let mut merged: Vec<Family> = Vec::new();
    for (symbol, text) in parts {
        for f in families(text) {
            let samples = f.samples.iter().map(|l| with_symbol(l, symbol));
            match merged.iter_mut().find(|m| m.name == f.name) {
                Some(m) => m.samples.extend(samples),
                None => merged.push(Family { samples: samples.collect(), ..f }),
            }
        }
    }
    let mut out = String::new();
    for f in merged {
        for line in f.header.iter().chain(&f.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_declared_once_and_every_sample_names_its_symbol() {
        let text = |bars: u32, psi: f64| {
            format!(
                "# HELP tickgrad_bars_total Bars processed.\n# TYPE tickgrad_bars_total counter\ntickgrad_bars_total {bars}\n\
                 # HELP tickgrad_feature_psi PSI.\n# TYPE tickgrad_feature_psi gauge\n\
                 tickgrad_feature_psi{{feature=\"ret_1\"}} {psi}\ntickgrad_feature_psi{{feature=\"rsi\"}} NaN\n"
            )
        };
        let got = merge(&[("BTCUSDT", text(7, 0.5)), ("ETH-USD", text(9, 0.25))]);
        let want = "# HELP tickgrad_bars_total Bars processed.\n# TYPE tickgrad_bars_total counter\n\
                    tickgrad_bars_total{symbol=\"BTCUSDT\"} 7\ntickgrad_bars_total{symbol=\"ETH-USD\"} 9\n\
                    # HELP tickgrad_feature_psi PSI.\n# TYPE tickgrad_feature_psi gauge\n\
                    tickgrad_feature_psi{symbol=\"BTCUSDT\",feature=\"ret_1\"} 0.5\n\
                    tickgrad_feature_psi{symbol=\"BTCUSDT\",feature=\"rsi\"} NaN\n\
                    tickgrad_feature_psi{symbol=\"ETH-USD\",feature=\"ret_1\"} 0.25\n\
                    tickgrad_feature_psi{symbol=\"ETH-USD\",feature=\"rsi\"} NaN\n";
        assert_eq!(got, want);
        assert_eq!(got.matches("# TYPE").count(), 2);
    }

    #[test]
    fn a_summary_family_keeps_its_suffixed_samples() {
        let text = "# TYPE lat summary\nlat{quantile=\"0.5\"} 3\nlat_count 4\n".to_string();
        let got = merge(&[("A", text)]);
        assert_eq!(got, "# TYPE lat summary\nlat{symbol=\"A\",quantile=\"0.5\"} 3\nlat_count{symbol=\"A\"} 4\n");
    }
}
