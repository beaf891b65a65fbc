//! `tickgrad explain` end to end on the bundled SPY file: every CSV has one row per time step (or feature) and one
//! column per feature, the PNGs are PNGs of the right size, attention files exist exactly for the models that
//! have attention, and bad arguments fail with a message.

mod common;

use common::{data_path, scratch_file};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tickgrad::data::{compute_features, load_csv, model_feature_names, FeatureConfig};
use tickgrad::device::Device;
use tickgrad::models::{checkpoint, Model, ModelConfig};

fn spy() -> PathBuf {
    data_path("spy_1d_2008_2021.csv")
}

fn scratch(name: &str) -> PathBuf {
    scratch_file("explain-cli", name)
}

fn n_features() -> usize {
    model_feature_names(&compute_features(&load_csv(spy()).unwrap().0, &FeatureConfig::default()).unwrap()).len()
}

fn explain(json: &str, name: &str, extra: &[&str]) -> (bool, String, String, PathBuf) {
    let ck = scratch(&format!("{name}.safetensors"));
    let cfg = ModelConfig::from_json(&json.replace("NF", &n_features().to_string()), "test").unwrap();
    checkpoint::save(&ck, &mut Model::new(&cfg, 2, Device::Cpu).unwrap(), &BTreeMap::new()).unwrap();
    let dir = scratch(&format!("{name}_out"));
    let data = spy();
    let args = [
        "explain",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out-dir",
        dir.to_str().unwrap(),
        "--window",
        "12",
        "--n",
        "3",
        "--val",
        "24",
        "--steps",
        "8",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_tickgrad")).args(args).args(extra).output().unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), s(&out.stdout), s(&out.stderr), dir)
}

/// (rows, columns) of a CSV with a header, every row as wide as the header and every value a number.
fn csv_shape(path: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let cols = lines.next().unwrap().split(',').count();
    let mut rows = 0;
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        assert_eq!(cells.len(), cols, "{}: ragged row {l}", path.display());
        for c in &cells[1..] {
            assert!(c.parse::<f64>().is_ok_and(f64::is_finite), "{}: {c}", path.display());
        }
        rows += 1;
    }
    (rows, cols)
}

/// The size of a PNG the CLI wrote, decoded in full by the `png` crate (checksums verified), so a file that only
/// looks like a PNG in its header fails here.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    let mut decoder = png::Decoder::new(std::io::Cursor::new(&b[..]));
    decoder.ignore_checksums(false);
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Rgb, png::BitDepth::Eight), "{}", path.display());
    (info.width, info.height)
}

#[test]
fn explain_writes_attributions_importance_and_attention() {
    let nf = n_features();
    let tr = r#"{"kind":"transformer","n_features":NF,"d_model":8,"nhead":2,"num_layers":2,"dim_feedforward":16}"#;
    let (ok, stdout, stderr, dir) = explain(tr, "transformer", &["--baseline", "mean"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("accuracy=") && stdout.contains("worst_completeness_gap="), "{stdout}");
    for f in ["attributions_ig.csv", "attributions_ig_abs.csv", "attributions_grad_input.csv"] {
        assert_eq!(csv_shape(&dir.join(f)), (12, nf + 1), "{f}");
    }
    assert_eq!(csv_shape(&dir.join("importance.csv")), (nf, 5));
    for l in 0..2 {
        assert_eq!(csv_shape(&dir.join(format!("attention_layer{l}.csv"))), (12, 13));
        assert_eq!(png_size(&dir.join(format!("attention_layer{l}.png"))), (12 * 24, 12 * 24));
    }
    let cell = |n: u32| (800 / n).clamp(1, 24);
    assert_eq!(png_size(&dir.join("attributions_ig.png")), (12 * cell(12), nf as u32 * cell(nf as u32)));
    assert!(!dir.join("attention.csv").exists());
    // explain.html: two attribution maps and one per attention layer, every feature named on its row
    let html = std::fs::read_to_string(dir.join("explain.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 4);
    let imp = std::fs::read_to_string(dir.join("importance.csv")).unwrap();
    for name in imp.lines().skip(1).map(|l| l.split(',').next().unwrap()) {
        assert_eq!(html.matches(&format!("text-anchor=\"end\">{name}</text>")).count(), 2, "row {name}");
    }

    let lstm = r#"{"kind":"lstm_attention","n_features":NF,"hidden_size":4,"num_layers":1}"#;
    let (ok, stdout, stderr, dir) = explain(lstm, "lstm", &[]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("neg_mse="), "{stdout}");
    assert_eq!(csv_shape(&dir.join("attention.csv")), (12, 2));
    assert!(!dir.join("attention_layer0.csv").exists());
    let html = std::fs::read_to_string(dir.join("explain.html")).unwrap();
    assert!(html.matches("<svg").count() == 3 && html.contains("Attention over time"));

    let tcn = r#"{"kind":"tcn","n_features":NF,"channels":[4],"kernel_size":2}"#;
    let (ok, _, stderr, dir) = explain(tcn, "tcn", &[]);
    assert!(ok, "{stderr}");
    assert!(dir.join("importance.csv").exists() && !dir.join("attention.csv").exists());

    let (ok, _, stderr, _) = explain(tcn, "tcn_bad", &["--baseline", "median"]);
    assert!(!ok && stderr.contains("baseline"), "{stderr}");
    let (ok, _, stderr, _) = explain(tcn, "tcn_bad_target", &["--target", "3"]);
    assert!(!ok && stderr.contains("target"), "{stderr}");
}
