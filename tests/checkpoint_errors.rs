//! Bad checkpoints and inputs give one-line errors that name the file and the tensor or field, and
//! `tickgrad predict` exits non-zero without panicking.

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use tickgrad::device::Device;
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::nn::Module;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tickgrad-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn small_tcn() -> Model {
    let cfg =
        ModelConfig::from_json(r#"{"kind":"tcn","n_features":3,"channels":[4,4],"kernel_size":2}"#, "test").unwrap();
    Model::new(&cfg, 1, Device::Cpu).unwrap()
}

/// Rewrite a checkpoint through `edit` over (name → (dtype, shape, bytes)) and the metadata.
fn rewrite(
    bytes: &[u8],
    edit: impl FnOnce(&mut BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>, &mut HashMap<String, String>),
) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let mut t: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> =
        st.tensors().into_iter().map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec()))).collect();
    let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let mut m = meta.metadata().clone().unwrap_or_default();
    edit(&mut t, &mut m);
    let views: Vec<(String, TensorView)> =
        t.iter().map(|(n, (d, s, b))| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, Some(m)).unwrap()
}

fn load_err(bytes: &[u8]) -> String {
    match checkpoint::load_bytes(bytes, "ck.safetensors", Device::Cpu) {
        Ok(_) => panic!("loading should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn checkpoint_roundtrip_and_every_bad_file() {
    let mut m = small_tcn();
    let good = checkpoint::to_bytes(&mut m, &BTreeMap::new()).unwrap();
    assert!(checkpoint::load_bytes(&good, "ck", Device::Cpu).is_ok());

    let e = load_err(&good[..good.len() / 2]);
    assert!(e.contains("ck.safetensors") && e.contains("not a valid safetensors"), "{e}");
    let e = load_err(b"this is not a checkpoint at all");
    assert!(e.contains("not a valid safetensors"), "{e}");

    let missing = rewrite(&good, |t, _| {
        t.remove("blocks.1.conv2.weight");
    });
    let e = load_err(&missing);
    assert!(e.contains("blocks.1.conv2.weight") && e.contains("missing"), "{e}");

    let extra = rewrite(&good, |t, _| {
        t.insert("blocks.9.conv1.weight".into(), (Dtype::F32, vec![1], vec![0; 4]));
    });
    let e = load_err(&extra);
    assert!(e.contains("blocks.9.conv1.weight") && e.contains("unexpected"), "{e}");

    let shape = rewrite(&good, |t, _| {
        t.insert("head.weight".into(), (Dtype::F32, vec![1, 3], vec![0; 12]));
    });
    let e = load_err(&shape);
    assert!(e.contains("head.weight") && e.contains("[1, 3]") && e.contains("[1, 4]"), "{e}");

    let dtype = rewrite(&good, |t, _| {
        let (_, s, b) = t["head.bias"].clone();
        t.insert("head.bias".into(), (Dtype::I32, s, b));
    });
    let e = load_err(&dtype);
    assert!(e.contains("head.bias") && e.contains("I32"), "{e}");

    let bad_json = rewrite(&good, |_, m| {
        m.insert("tickgrad.config".into(), "{not json".into());
    });
    assert!(load_err(&bad_json).contains("tickgrad.config"));
    let bad_field = rewrite(&good, |_, m| {
        m.insert("tickgrad.config".into(), r#"{"kind":"tcn","n_features":3,"kernel":2}"#.into());
    });
    let e = load_err(&bad_field);
    assert!(e.contains("kernel"), "{e}");
    let bad_kind = rewrite(&good, |_, m| {
        m.insert("tickgrad.config".into(), r#"{"kind":"mlp"}"#.into());
    });
    assert!(load_err(&bad_kind).contains("mlp"));
    let no_cfg = rewrite(&good, |_, m| {
        m.remove("tickgrad.config");
    });
    assert!(load_err(&no_cfg).contains("tickgrad.config"));

    // Found by tests/fuzz_loaders.rs: a config far larger than the file's tensors was allocated before the
    // tensors were compared (a 128 GiB allocation aborted the process). Now a clean error, before any allocation.
    for cfg in [
        r#"{"kind":"tcn","n_features":3,"channels":[4,4000000000000],"kernel_size":2}"#,
        r#"{"kind":"transformer","n_features":3,"d_model":1000000000,"nhead":1}"#,
        r#"{"kind":"transformer","n_features":3,"d_model":8,"nhead":1,"num_layers":1,"dim_feedforward":8,"max_len":100000000000}"#,
        r#"{"kind":"lstm_attention","n_features":3,"hidden_size":100000000}"#,
        r#"{"kind":"multitask","n_features":3,"channels":100000000}"#,
    ] {
        let huge = rewrite(&good, |_, m| {
            m.insert("tickgrad.config".into(), cfg.into());
        });
        let e = load_err(&huge);
        assert!(e.contains("tickgrad.config") && (e.contains("weights") || e.contains("positional")), "{e}");
    }
}

/// `ModelConfig::weight_bounds` is a lower bound on the stored weights (so no real checkpoint is refused) and not
/// a loose one (within 4×, so the allocation it lets through stays near the file's size).
#[test]
fn weight_bounds_are_tight_lower_bounds() {
    for json in [
        r#"{"kind":"tcn","n_features":3,"channels":[4,4],"kernel_size":2}"#,
        r#"{"kind":"tcn","n_features":7,"channels":[16,8,32],"kernel_size":3,"n_outputs":3}"#,
        r#"{"kind":"transformer","n_features":6,"d_model":16,"nhead":2,"num_layers":2,"dim_feedforward":24,"max_len":64}"#,
        r#"{"kind":"transformer","n_features":30,"d_model":8,"nhead":2,"num_layers":1,"dim_feedforward":16,"max_len":32}"#,
        r#"{"kind":"lstm_attention","n_features":4,"hidden_size":24,"num_layers":2,"bidirectional":true}"#,
        r#"{"kind":"lstm_attention","n_features":9,"hidden_size":5,"num_layers":1,"bidirectional":false}"#,
        r#"{"kind":"multitask","n_features":4,"channels":16,"n_blocks":2,"kernel_size":3,"head_hidden":10}"#,
        r#"{"kind":"multitask","n_features":30,"channels":4,"n_blocks":1,"head_hidden":8}"#,
    ] {
        let cfg = ModelConfig::from_json(json, "test").unwrap();
        let mut m = Model::new(&cfg, 0, Device::Cpu).unwrap();
        let mut n = 0u128;
        m.visit("", &mut |_, _, t| {
            n += t.shape().iter().product::<usize>() as u128;
            Ok(())
        })
        .unwrap();
        let (stored, _) = cfg.weight_bounds();
        assert!(stored <= n && 4 * stored >= n, "{json}: bound {stored}, model has {n}");
    }
}

fn predict(ck: &Path, input: &Path, out: &Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tickgrad"))
        .args(["predict", "--checkpoint"])
        .arg(ck)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!stderr.contains("panicked"), "predict panicked: {stderr}");
    (o.status.success(), stderr)
}

#[test]
fn predict_cli_reports_bad_inputs() {
    let dir = tmpdir("predict");
    let mut m = small_tcn();
    let ck = dir.join("m.safetensors");
    checkpoint::save(&ck, &mut m, &BTreeMap::new()).unwrap();
    let out = dir.join("y.npy");

    let good = dir.join("x.npy");
    tickgrad::io::npy::write_npy(&good, &[2, 5, 3], &(0..30).map(|i| (i as f32).sin()).collect::<Vec<_>>()).unwrap();
    let (ok, err) = predict(&ck, &good, &out);
    assert!(ok, "{err}");
    let y = tickgrad::io::npy::read_npy(&out).unwrap();
    assert_eq!(y.shape, vec![2, 1]);

    let wrong_f = dir.join("xf.npy");
    tickgrad::io::npy::write_npy(&wrong_f, &[2, 5, 4], &[0.5; 40]).unwrap();
    let (ok, err) = predict(&ck, &wrong_f, &out);
    assert!(!ok && err.contains("xf.npy") && err.contains("4 features") && err.contains("expects 3"), "{err}");

    let wrong_rank = dir.join("xr.npy");
    tickgrad::io::npy::write_npy(&wrong_rank, &[5, 3], &[0.5; 15]).unwrap();
    let (ok, err) = predict(&ck, &wrong_rank, &out);
    assert!(!ok && err.contains("xr.npy") && err.contains("[5, 3]"), "{err}");

    let garbage = dir.join("g.safetensors");
    std::fs::write(&garbage, b"\x10\x00\x00\x00\x00\x00\x00\x00{}").unwrap();
    let (ok, err) = predict(&garbage, &good, &out);
    assert!(!ok && err.contains("g.safetensors"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");

    let (ok, err) = predict(&dir.join("absent.safetensors"), &good, &out);
    assert!(!ok && err.contains("absent.safetensors"), "{err}");
}
