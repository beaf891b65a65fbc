//! `tickgrad explain --shap` end to end on the bundled SPY file: a network gets GradientSHAP and KernelSHAP files
//! whose rows add up (Σ φ + E[f] = f(x)), an ensemble directory gets TreeSHAP of its boosted trees that adds up
//! exactly, and the flags' bad values fail with a message.

mod common;

use common::{data_path, scratch_file};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tickgrad::data::{compute_features, load_csv, model_feature_names, FeatureConfig, SplitFractions};
use tickgrad::device::Device;
use tickgrad::models::gbdt::GbdtConfig;
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::pipeline::dataset::{Dataset, DatasetSpec};
use tickgrad::pipeline::ensemble::{Manifest, RollingSpec, FORMAT, MANIFEST_NAME};
use tickgrad::pipeline::tabular;

fn spy() -> PathBuf {
    data_path("spy_1d_2008_2021.csv")
}

fn scratch(name: &str) -> PathBuf {
    scratch_file("explain-shap", name)
}

fn explain(checkpoint: &Path, out: &Path, extra: &[&str]) -> (bool, String, String) {
    let data = spy();
    let args = ["explain", "--checkpoint", checkpoint.to_str().unwrap(), "--data", data.to_str().unwrap()];
    let out = Command::new(env!("CARGO_BIN_EXE_tickgrad"))
        .args(args)
        .args(["--out-dir", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), s(&out.stdout), s(&out.stderr))
}

/// Header and numeric rows of a CSV whose first column is a label.
fn csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let rows = lines
        .map(|l| {
            let r: Vec<f64> = l.split(',').map(|c| c.parse::<f64>().unwrap()).collect();
            assert_eq!(r.len(), header.len(), "{}: ragged row {l}", path.display());
            assert!(r.iter().all(|v| v.is_finite()), "{}: {l}", path.display());
            r
        })
        .collect();
    (header, rows)
}

/// The SVG section of `explain.html` whose title starts with `title`.
fn section<'a>(html: &'a str, title: &str) -> &'a str {
    let start = html.find(&format!("<h2>{title}")).unwrap_or_else(|| panic!("no map titled {title}"));
    &html[start..start + html[start..].find("</svg>").unwrap()]
}

/// The texts of one class (row, col, axis, scale) of a heatmap section, unescaped.
fn texts(svg: &str, class: &str) -> Vec<String> {
    svg.split(&format!("<text class=\"{class}\""))
        .skip(1)
        .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].replace("&amp;", "&").replace("&lt;", "<"))
        .collect()
}

/// A labelled map: its rows named `rows`, column labels that `col_ok` accepts (the first and last column among
/// them), the axis named, and both ends of the colour scale printed.
fn check_map(svg: &str, rows: &[String], n_cols: usize, col_ok: &dyn Fn(&str) -> bool, axis: &str) {
    assert_eq!(texts(svg, "row"), rows);
    assert_eq!(svg.matches("<rect x=").count(), rows.len() * n_cols, "one cell per row and column");
    let cols = texts(svg, "col");
    assert!(!cols.is_empty() && cols.iter().all(|c| col_ok(c)), "{cols:?}");
    assert_eq!(texts(svg, "axis"), [axis]);
    let scale = texts(svg, "scale");
    assert_eq!(scale.len(), 2, "{scale:?}");
    assert!(scale.iter().all(|v| v.parse::<f64>().is_ok_and(f64::is_finite)), "{scale:?}");
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && s.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() })
}

fn png_magic(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(b"\x89PNG\r\n\x1a\n"))
}

#[test]
fn explain_shap_of_a_network_adds_up() {
    let nf =
        model_feature_names(&compute_features(&load_csv(spy()).unwrap().0, &FeatureConfig::default()).unwrap()).len();
    let json = format!(r#"{{"kind":"tcn","n_features":{nf},"channels":[4],"kernel_size":2}}"#);
    let ck = scratch("tcn.safetensors");
    let cfg = ModelConfig::from_json(&json, "test").unwrap();
    checkpoint::save(&ck, &mut Model::new(&cfg, 2, Device::Cpu).unwrap(), &BTreeMap::new()).unwrap();
    let dir = scratch("tcn_out");
    let small = ["--window", "12", "--n", "3", "--val", "24", "--steps", "4", "--background", "4"];
    let (ok, stdout, stderr) =
        explain(&ck, &dir, &[&small[..], &["--shap", "--shap-groups", "5", "--shap-steps", "6"]].concat());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("shap background=4 groups=5"), "{stdout}");
    for f in ["shap_gradient.csv", "shap_gradient_abs.csv"] {
        let (h, rows) = csv(&dir.join(f));
        assert_eq!((rows.len(), h.len()), (12, nf + 1), "{f}");
    }
    let (h, rows) = csv(&dir.join("shap_kernel.csv"));
    assert_eq!(&h[..3], ["bar", "expected", "output"]);
    assert_eq!((rows.len(), h.len()), (3, 3 + 5));
    assert!(h[3].contains('+'), "adjacent columns grouped: {h:?}");
    for r in &rows {
        let total: f64 = r[3..].iter().sum::<f64>() + r[1];
        assert!((total - r[2]).abs() < 1e-4, "KernelSHAP row {r:?} adds up to {total}");
    }
    for f in ["shap_gradient.png", "shap_gradient_abs.png", "shap_kernel.png"] {
        assert!(png_magic(&dir.join(f)), "{f}");
    }
    // explain.html draws the SHAP maps labelled as the attributions are: feature names down, lags or the explained
    // bars' dates across, the colour scale's ends.
    let html = std::fs::read_to_string(dir.join("explain.html")).unwrap();
    let features = csv(&dir.join("shap_gradient.csv")).0[1..].to_vec();
    let lag = |c: &str| c.parse::<usize>().is_ok_and(|l| l < 12);
    let lag_axis = "bars before the prediction (0 = newest)";
    check_map(section(&html, "GradientSHAP (signed"), &features, 12, &lag, lag_axis);
    check_map(section(&html, "GradientSHAP |mean|"), &features, 12, &lag, lag_axis);
    let kernel = section(&html, "KernelSHAP per explained window");
    check_map(kernel, &h[3..], 3, &is_date, "explained window, by its last bar (UTC)");
    // The last explained window ends at the last bar with a label at horizon 1: the file's last bar but one.
    let text = std::fs::read_to_string(spy()).unwrap();
    let ts: i64 = text.lines().rev().nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    let want = tickgrad::eval::fmt_utc(ts)[..10].to_string();
    assert_eq!(texts(kernel, "col").last(), Some(&want), "the last explained bar");
    assert!(section(&html, "Integrated gradients").contains("<text class=\"row\""), "the attributions stay");
    let (ok, _, stderr) = explain(&ck, &scratch("bad"), &[&small[..], &["--shap", "--shap-groups", "17"]].concat());
    assert!(!ok && stderr.contains("shap groups"), "{stderr}");
    let (ok, _, stderr) = explain(&ck, &scratch("bad"), &[&small[..], &["--shap", "--background", "0"]].concat());
    assert!(!ok && stderr.contains("background"), "{stderr}");
}

#[test]
fn explain_shap_of_an_ensemble_gives_tree_shap_that_adds_up() {
    let (bars, _) = load_csv(spy()).unwrap();
    let spec = DatasetSpec { window: 12, horizon: 1, theta: 0.0, fractions: SplitFractions::default() };
    let ds = Dataset::fit(bars, &spec).unwrap();
    let cfg = GbdtConfig { n_estimators: 6, ..tabular::default_config(0) };
    let gbdt = tabular::fit(&ds, ds.split.train.clone(), None, &cfg).unwrap();
    let dir = scratch("ensemble");
    std::fs::create_dir_all(&dir).unwrap();
    gbdt.save(dir.join("gbdt.json")).unwrap();
    let manifest = Manifest {
        format: FORMAT.into(),
        members: vec![],
        gbdt: "gbdt.json".into(),
        prep: ds.prep.clone(),
        confidence_threshold: 0.5,
        agreement: 0.7,
        target_coverage: 0.5,
        rolling: RollingSpec::default(),
    };
    std::fs::write(dir.join(MANIFEST_NAME), manifest.to_json().unwrap()).unwrap();
    let out = scratch("ensemble_out");
    let (ok, stdout, stderr) = explain(&dir, &out, &["--shap", "--n", "5"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("model=gbdt rounds=6 explained=5"), "{stdout}");
    let (h, rows) = csv(&out.join("shap_trees.csv"));
    let nf = ds.prep.features.len();
    assert_eq!((rows.len(), h.len()), (5 * 3, 4 + nf));
    for r in &rows {
        let total: f64 = r[4..].iter().sum::<f64>() + r[2];
        assert!((total - r[3]).abs() < 1e-9, "TreeSHAP row {r:?} adds up to {total}");
    }
    assert!(rows.iter().any(|r| r[4..].iter().any(|v| v.abs() > 1e-6)));
    assert!(png_magic(&out.join("shap_trees.png")));
    let html = std::fs::read_to_string(out.join("explain.html")).unwrap();
    let map = section(&html, "TreeSHAP of the boosted trees");
    check_map(map, &ds.prep.features, 5, &is_date, "explained window, by its last bar (UTC)");
    let (ok, _, stderr) = explain(&dir, &out, &["--n", "5"]);
    assert!(!ok && stderr.contains("--shap"), "{stderr}");
}
