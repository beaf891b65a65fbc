//! The commands end to end on a slice of the bundled data: `train` then `backtest` / `eval` of one network, a
//! tiny ensemble through the same backtest, and the report files with the keys issue 5 asks for.

mod pipeline_support;

use pipeline_support::{backtest, bars, csv_slice, scratch, tickgrad, train_config, train_tiny_tcn, SLICE_ROWS};
use std::path::Path;
use tickgrad::device::Device;
use tickgrad::pipeline::{
    combine, train_ensemble, BacktestPredictor, EnsembleRecipe, MemberPredictions, MemberRecipe, RollingSpec, Rule,
};

const KEYS: [&str; 7] =
    ["sharpe", "max_drawdown", "win_rate", "profit_factor", "accuracy", "balanced_accuracy", "coverage"];
const BASELINES: [&str; 5] = ["buy_and_hold", "always_flat", "majority_class", "persistence", "boosted_trees"];

/// report.json has every key for the model and every baseline; returns.csv has one row per test bar and its
/// Sharpe ratio is the one in the report.
fn check_report(dir: &Path) -> serde_json::Value {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    for key in KEYS {
        assert!(report["model"].get(key).is_some(), "model lacks `{key}`");
        for b in BASELINES {
            assert!(report["baselines"][b].get(key).is_some(), "baseline {b} lacks `{key}`");
        }
    }
    let csv = std::fs::read_to_string(dir.join("returns.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("timestamp,position,gross_return,net_return"));
    let net: Vec<f64> = lines.map(|l| l.split(',').nth(3).unwrap().parse().unwrap()).collect();
    assert_eq!(net.len() as f64, report["model"]["n_bars"].as_f64().unwrap());
    let mean = net.iter().sum::<f64>() / net.len() as f64;
    let var = net.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (net.len() - 1) as f64;
    let sharpe = mean / var.sqrt() * 8760f64.sqrt();
    let reported = report["model"]["sharpe"].as_f64().unwrap();
    assert!((sharpe - reported).abs() <= 1e-9 * sharpe.abs().max(1.0), "{sharpe} vs {reported}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.len() > 1000 && html.contains("<html"));
    report
}

#[test]
fn train_then_backtest_and_eval_one_network() {
    let dir = scratch("cli");
    let data = csv_slice(&dir, SLICE_ROWS);
    let ckpt = dir.join("models/tcn.safetensors");
    let (ok, out, err) = train_tiny_tcn(&dir, &data, &ckpt, &["--epochs", "2", "--batch", "32", "--seed", "3"]);
    assert!(ok, "train failed: {err}");
    assert!(out.contains("best epoch"), "{out}");
    assert!(err.contains("epoch  1/2") && err.contains("win/s"), "a progress line per epoch: {err}");
    assert!(ckpt.exists());

    let report_dir = dir.join("report");
    let (ok, out, err) = backtest(&ckpt, &data, &report_dir, &["--fee-bps", "2"]);
    assert!(ok, "backtest failed: {err}");
    assert!(out.contains("sharpe") && out.contains("buy_and_hold"), "{out}");
    let report = check_report(&report_dir);
    assert!(report["model"]["rmse"].is_number(), "a regression model reports regression metrics");

    let (ok, table, err) =
        tickgrad(&["eval", "--checkpoint", ckpt.to_str().unwrap(), "--data", data.to_str().unwrap(), "--fee-bps", "2"]);
    assert!(ok, "eval failed: {err}");
    let rows = |s: &str| s.lines().filter(|l| l.starts_with("sharpe")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(rows(&table), rows(&out), "eval prints the backtest's numbers");

    let wf_dir = dir.join("wf");
    let (ok, out, err) = backtest(&ckpt, &data, &wf_dir, &["--walk-forward", "--retrain-every", "60"]);
    assert!(ok, "walk-forward backtest failed: {err}");
    assert!(out.contains("walk-forward"), "{out}");
    check_report(&wf_dir);
    let _ = std::fs::remove_dir_all(dir);
}

fn tiny_recipe() -> EnsembleRecipe {
    let member =
        |kind: &str, args: serde_json::Value| MemberRecipe { name: kind.into(), kind: kind.into(), args, window: 16 };
    let mut recipe = EnsembleRecipe::small(1, 0.0008, 0);
    recipe.members = vec![
        member(
            "transformer",
            serde_json::json!({"d_model": 8, "nhead": 2, "num_layers": 1, "dim_feedforward": 16, "max_len": 32}),
        ),
        member("tcn", serde_json::json!({"channels": [4, 4]})),
        member("multitask", serde_json::json!({"channels": 4, "n_blocks": 1, "head_hidden": 8})),
    ];
    recipe.members[1].window = 12;
    recipe
}

#[test]
fn ensemble_directory_backtests_like_a_checkpoint() {
    let dir = scratch("ensemble");
    let data = csv_slice(&dir, SLICE_ROWS);
    let ens = dir.join("ens");
    let bundle = train_ensemble(bars(SLICE_ROWS), &tiny_recipe(), &train_config(1, 0), &ens, &mut |_, _| {}).unwrap();
    let m = &bundle.manifest;
    assert_eq!(m.members.len(), 3);
    assert_eq!(m.prep.window, 16, "the longest member window lays out the samples");
    assert!(m.confidence_threshold > 0.0 && m.confidence_threshold < 1.0);
    assert!(
        ens.join("ensemble.json").exists() && ens.join("gbdt.json").exists() && ens.join("tcn.safetensors").exists()
    );
    let loaded = BacktestPredictor::load(&ens, Device::Cpu).unwrap();
    assert!(matches!(loaded, BacktestPredictor::Ensemble(_)));

    let report_dir = dir.join("report");
    let (ok, out, err) = backtest(&ens.join("ensemble.json"), &data, &report_dir, &[]);
    assert!(ok, "ensemble backtest failed: {err}");
    assert!(out.contains("ensemble of transformer, tcn, multitask + gbdt"), "{out}");
    let report = check_report(&report_dir);
    let cov = report["model"]["coverage"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&cov));
    assert!(report["model"]["confident_share"].is_number(), "the ensemble reports confidence-filtered scores");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ensemble_weights_use_only_realised_labels() {
    // Two members over 40 samples, horizon 3: member 0 is always right, member 1 always wrong.
    let labels: Vec<usize> = (0..40).map(|i| i % 2).collect();
    let right = MemberPredictions {
        probs: labels.iter().map(|&l| if l == 0 { [0.8, 0.1, 0.1] } else { [0.1, 0.8, 0.1] }).collect(),
        ret: None,
    };
    let wrong = MemberPredictions {
        probs: labels.iter().map(|&l| if l == 0 { [0.1, 0.8, 0.1] } else { [0.8, 0.1, 0.1] }).collect(),
        ret: None,
    };
    let rule = Rule {
        horizon: 3,
        rolling: RollingSpec { window: 10, temperature: 0.1, min_history: 5 },
        confidence_threshold: 0.0,
        agreement: 0.0,
    };
    let c = combine(&[right.clone(), wrong.clone()], &labels, 100..140, 100..140, &rule, Device::Cpu).unwrap();
    // At sample t, the hits of samples <= t − 3 are known: 5 of them first at t = 107 (index 7).
    for i in 0..7 {
        assert_eq!(c.weights[i], vec![0.5, 0.5], "equal weights before min_history realised labels (i = {i})");
    }
    assert!(c.weights[7][0] > 0.99, "{:?}", c.weights[7]);
    assert!(c.class[10..].iter().zip(&labels[10..]).all(|(a, b)| a == b), "the right member carries the vote");
    // Changing labels that are not realised yet (the last 3) changes no weight.
    let mut late = labels.clone();
    for l in &mut late[37..] {
        *l = 2;
    }
    let c2 = combine(&[right, wrong], &late, 100..140, 100..140, &rule, Device::Cpu).unwrap();
    assert_eq!(c2.weights, c.weights);
}

/// `combine` on wgpu (lavapipe on CI) against the CPU for a backtest-sized input: 5 members over 3000 samples, 2000
/// decided in one call with per-bar rolling weights (the default spec: window 500, 50 scored bars first). The
/// classes must agree exactly and the probabilities and confidences to f32 rounding; the weights are host
/// bookkeeping and equal. Members are right with different rates, so the weights move and all classes occur.
#[cfg(feature = "wgpu")]
#[test]
fn combine_on_wgpu_matches_the_cpu() {
    let mut rng = tickgrad::rng::Rng::new(41);
    let n = 3000;
    let labels: Vec<usize> = (0..n).map(|_| rng.below(3)).collect();
    let members: Vec<MemberPredictions> = [0.7, 0.55, 0.45, 0.4, 0.35]
        .iter()
        .map(|&skill| MemberPredictions {
            probs: labels
                .iter()
                .map(|&l| {
                    let mut logits = [rng.normal(), rng.normal(), rng.normal()];
                    if rng.f64() < skill {
                        logits[l] += 2.0;
                    }
                    let e = logits.map(f64::exp);
                    let s: f64 = e.iter().sum();
                    e.map(|v| v / s)
                })
                .collect(),
            ret: None,
        })
        .collect();
    let rule = Rule { horizon: 3, rolling: RollingSpec::default(), confidence_threshold: 0.55, agreement: 0.7 };
    let (covered, decide) = (5000..5000 + n, 6000..5000 + n);
    let cpu = combine(&members, &labels, covered.clone(), decide.clone(), &rule, Device::Cpu).unwrap();
    let gpu = combine(&members, &labels, covered, decide, &rule, Device::Wgpu(0)).unwrap();
    assert_eq!(gpu.class.len(), 2000);
    assert_eq!(gpu.class, cpu.class, "classes on wgpu vs the CPU");
    assert_eq!(gpu.weights, cpu.weights);
    for (i, ((g, c), (gc, cc))) in
        gpu.probs.iter().zip(&cpu.probs).zip(gpu.confidence.iter().zip(&cpu.confidence)).enumerate()
    {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1e-6);
        assert!(g.iter().zip(c).all(|(a, b)| close(*a, *b)) && close(*gc, *cc), "sample {i}: {g:?} {gc} vs {c:?} {cc}");
    }
    let count = |k: usize| cpu.class.iter().filter(|&&c| c == k).count();
    assert!((0..3).all(|k| count(k) > 20), "every class occurs: {:?}", [count(0), count(1), count(2)]);
    let first = &cpu.weights[0];
    assert!(cpu.weights.iter().any(|w| w != first), "the rolling weights move over the test bars");
}
