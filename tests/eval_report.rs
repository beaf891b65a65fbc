//! The report files agree with an independent recomputation from `returns.csv`.

use tickgrad::eval::{
    evaluate, format_table, write_report, ConfidenceFilter, EvalInputs, Report, TradingConfig, DOWN, HOLD, UP,
};

struct Lcg(u64);
impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Fixture {
    timestamps: Vec<i64>,
    returns: Vec<f64>,
    labels: Vec<usize>,
    predictions: Vec<usize>,
    confidence: Vec<f64>,
    train_labels: Vec<usize>,
    gbdt: Vec<usize>,
}

fn fixture(n: usize) -> Fixture {
    let mut r = Lcg(12345);
    let returns: Vec<f64> = (0..n).map(|_| (r.uniform() - 0.49) * 0.02).collect();
    let theta = 0.001;
    // label[t]: direction of the bar after t, the bar a call made at t's close is held over.
    let labels: Vec<usize> = (0..n)
        .map(|t| match returns.get(t + 1) {
            Some(&x) if x > theta => UP,
            Some(&x) if x < -theta => DOWN,
            _ => HOLD,
        })
        .collect();
    let predictions: Vec<usize> =
        labels.iter().map(|&l| if r.uniform() < 0.55 { l } else { (r.uniform() * 3.0) as usize % 3 }).collect();
    let confidence: Vec<f64> = (0..n).map(|_| 0.34 + 0.66 * r.uniform()).collect();
    let train_labels: Vec<usize> = (0..500).map(|_| (r.uniform() * 3.0) as usize % 3).collect();
    let gbdt: Vec<usize> = (0..n).map(|_| (r.uniform() * 3.0) as usize % 3).collect();
    let timestamps = (0..n as i64).map(|i| 1_577_836_800_000 + 3_600_000 * i).collect();
    Fixture { timestamps, returns, labels, predictions, confidence, train_labels, gbdt }
}

fn rel_eq(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
}

fn sign(x: f64) -> i32 {
    (x > 0.0) as i32 - (x < 0.0) as i32
}

#[test]
fn eval_report_numbers_recompute_from_returns_csv() {
    let n = 3000;
    let f = fixture(n);
    let cfg = TradingConfig { n_trials: 20, ..TradingConfig::hourly_24_7(4.0, 1.0) };
    let mut inputs = EvalInputs::new(&f.timestamps, &f.returns, cfg.clone());
    inputs.labels = Some(&f.labels);
    inputs.predictions = Some(&f.predictions);
    inputs.confidence = Some(ConfidenceFilter { confidence: &f.confidence, threshold: 0.7 });
    inputs.train_labels = Some(&f.train_labels);
    inputs.boosted_trees = Some(&f.gbdt);
    let eval = evaluate(&inputs).unwrap();
    let dir = std::env::temp_dir().join(format!("tickgrad_eval_report_{}", std::process::id()));
    write_report(&dir, &eval).unwrap();

    let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
    assert!(!json.contains("NaN") && !json.contains("inf"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in [
        "sharpe",
        "sortino",
        "max_drawdown",
        "win_rate",
        "profit_factor",
        "accuracy",
        "balanced_accuracy",
        "coverage",
        "total_return",
        "n_trades",
        "turnover",
        "exposure",
        "deflated_sharpe",
    ] {
        assert!(v["model"].get(key).is_some(), "model lacks {key}");
        assert!(v["baselines"]["buy_and_hold"].get(key).is_some(), "buy_and_hold lacks {key}");
    }
    let names: Vec<&str> = v["baselines"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["always_flat", "boosted_trees", "buy_and_hold", "majority_class", "persistence"]);
    assert!(v["baselines"]["always_flat"]["sharpe"].is_null());
    let report = Report::from_json(&json).unwrap();

    // Independent recomputation from the CSV.
    let csv = std::fs::read_to_string(dir.join("returns.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "timestamp,position,gross_return,net_return");
    let rows: Vec<(i64, f64, f64, f64)> = lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[0].parse().unwrap(), c[1].parse().unwrap(), c[2].parse().unwrap(), c[3].parse().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), n);
    assert_eq!(rows[0].0, f.timestamps[0]);
    let net: Vec<f64> = rows.iter().map(|r| r.3).collect();
    let mu = net.iter().sum::<f64>() / n as f64;
    let var = net.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>() / (n as f64 - 1.0);
    let sharpe = mu / var.sqrt() * 8760f64.sqrt();
    let m = &report.model.trading;
    assert!(rel_eq(sharpe, m.sharpe), "{sharpe} vs {}", m.sharpe);
    assert_eq!(sharpe.to_bits(), eval.report.model.trading.sharpe.to_bits(), "CSV Sharpe not bit-exact");

    let (mut eq, mut peak, mut mdd) = (1.0f64, 1.0f64, 0.0f64);
    for x in &net {
        eq *= 1.0 + x;
        if eq > peak {
            peak = eq;
        }
        if eq / peak - 1.0 < mdd {
            mdd = eq / peak - 1.0;
        }
    }
    assert!(rel_eq(mdd, m.max_drawdown), "{mdd} vs {}", m.max_drawdown);
    assert!(rel_eq(eq - 1.0, m.total_return));

    // Trades: runs of the same non-zero position; the exit share |old|·c of a closing or reversing bar
    // belongs to the old trade, the rest of that bar's cost to the new one.
    let c = cfg.unit_cost();
    let mut closed = Vec::new();
    let mut cur: Option<f64> = None;
    let mut prev = 0.0;
    for &(_, p, g, x) in &rows {
        if p != prev {
            let cost = (p - prev).abs() * c;
            let exit = if prev != 0.0 && sign(p) != sign(prev) { prev.abs() * c } else { 0.0 };
            if let Some(growth) = cur.take() {
                closed.push(growth * (1.0 - exit) - 1.0);
            }
            if p != 0.0 {
                cur = Some(1.0 + g - (cost - exit));
            }
        } else if let Some(growth) = cur.as_mut() {
            *growth *= 1.0 + x;
        }
        prev = p;
    }
    let wins: Vec<f64> = closed.iter().copied().filter(|x| *x > 0.0).collect();
    let losses: f64 = closed.iter().copied().filter(|x| *x < 0.0).sum();
    assert!(closed.len() > 100, "fixture should trade a lot: {}", closed.len());
    assert_eq!(m.n_trades, closed.len());
    let win_rate = wins.len() as f64 / closed.len() as f64;
    assert!(rel_eq(win_rate, m.win_rate.unwrap()));
    let pf = wins.iter().sum::<f64>() / losses.abs();
    assert!(rel_eq(pf, m.profit_factor.unwrap()), "{pf} vs {:?}", m.profit_factor);

    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Confusion matrix") && html.contains("Calibration"));
    assert!(!html.contains("<script"));
    let table = format_table(&report);
    let header = table.lines().next().unwrap();
    assert!(header.contains("model") && header.contains("buy_and_hold"));
    assert!(table.lines().any(|l| l.starts_with("sharpe ")));
    let widths: Vec<usize> = table.lines().filter(|l| !l.starts_with('-')).map(|l| l.chars().count()).collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "table rows differ in width");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_report_rejects_misaligned_inputs() {
    let f = fixture(50);
    let cfg = TradingConfig::daily_equities(1.0, 1.0);
    let mut inputs = EvalInputs::new(&f.timestamps[..49], &f.returns, cfg.clone());
    inputs.predictions = Some(&f.predictions);
    assert!(evaluate(&inputs).is_err());
    let mut inputs = EvalInputs::new(&f.timestamps, &f.returns, cfg.clone());
    assert!(evaluate(&inputs).is_err(), "no signals and no predictions");
    inputs.predictions = Some(&f.predictions[..10]);
    assert!(evaluate(&inputs).is_err());
    inputs.predictions = Some(&f.predictions);
    inputs.labels = Some(&f.labels[1..]);
    assert!(evaluate(&inputs).is_err());
    inputs.labels = None;
    inputs.boosted_trees = Some(&f.gbdt[..3]);
    assert!(evaluate(&inputs).is_err());
    inputs.boosted_trees = None;
    let eval = evaluate(&inputs).unwrap();
    assert!(eval.report.model.classification.accuracy.is_none());
    assert!(eval.report.model.classification.coverage.is_some());
    assert!(!eval.report.baselines.contains_key("majority_class"));
}
