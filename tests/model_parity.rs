//! Every model against PyTorch: fixtures made by `scripts/make_fixtures.py` (see fixtures/README.md) from the
//! reference classes of `scripts/torch_models.py` at several configs, windows and batches.

mod common;

use common::{check_fixture_grads, fixtures, model_fixtures, rel_err};
use tickgrad::device::Device;
use tickgrad::io::npy::read_npy;
use tickgrad::models::checkpoint;
use tickgrad::serve::plan::Plan;
use tickgrad::tensor::Tensor;

fn check_predict(prefix: &str) {
    let names = model_fixtures(prefix);
    assert!(names.len() >= 2, "expected several {prefix} fixtures, found {names:?}");
    for name in names {
        let dir = fixtures();
        let ck = checkpoint::load(dir.join(format!("{name}.safetensors")), Device::Cpu).unwrap();
        let x = read_npy(dir.join(format!("{name}_input.npy"))).unwrap();
        let want = read_npy(dir.join(format!("{name}_expected.npy"))).unwrap();
        let xt = Tensor::from_vec(x.data.clone(), &x.shape, Device::Cpu).unwrap();
        let y = ck.model.predict(&xt).unwrap();
        assert_eq!(y.shape(), &want.shape[..], "{name}: output shape");
        let e = rel_err(&y.to_vec().unwrap(), &want.data);
        println!("{name}: predict relative error {e:.2e}");
        assert!(e < 1e-4, "{name}: predict relative error {e:.3e} ≥ 1e-4");

        // the batch-1 plan (streaming, and `tickgrad predict`/`bench` at batch 1) window by window
        let (b, t, k) = (x.shape[0], x.shape[1], want.shape[1]);
        let mut plan = Plan::new(&ck.model, t).unwrap();
        let mut got = vec![f32::NAN; b * k];
        for (xw, yw) in x.data.chunks_exact(x.data.len() / b).zip(got.chunks_exact_mut(k)) {
            plan.run(xw, yw);
        }
        let e = rel_err(&got, &want.data);
        println!("{name}: batch-1 plan relative error {e:.2e}");
        assert!(e < 1e-4, "{name}: batch-1 plan relative error {e:.3e} ≥ 1e-4");
    }
}

/// One backward of Σ pred·G in eval mode; every parameter's gradient and the input's match PyTorch.
fn check_grads(prefix: &str) {
    check_fixture_grads(prefix, Device::Cpu);
}

#[test]
fn transformer_predict_matches_pytorch() {
    check_predict("transformer");
}
#[test]
fn lstm_attention_predict_matches_pytorch() {
    check_predict("lstm_attention");
}
#[test]
fn tcn_predict_matches_pytorch() {
    check_predict("tcn");
}
#[test]
fn multitask_predict_matches_pytorch() {
    check_predict("multitask");
}
#[test]
fn transformer_gradients_match_pytorch() {
    check_grads("transformer");
}
#[test]
fn lstm_attention_gradients_match_pytorch() {
    check_grads("lstm_attention");
}
#[test]
fn tcn_gradients_match_pytorch() {
    check_grads("tcn");
}
#[test]
fn multitask_gradients_match_pytorch() {
    check_grads("multitask");
}

/// `tickgrad predict` on a single window (the CLI's batch-1 plan path) against PyTorch, for every fixture.
#[test]
fn predict_cli_on_one_window_matches_pytorch() {
    let tmp = std::env::temp_dir().join(format!("tickgrad-parity-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for prefix in ["transformer", "lstm_attention", "tcn", "multitask"] {
        for name in model_fixtures(prefix) {
            let dir = fixtures();
            let x = read_npy(dir.join(format!("{name}_input.npy"))).unwrap();
            let want = read_npy(dir.join(format!("{name}_expected.npy"))).unwrap();
            let (b, t, f, k) = (x.shape[0], x.shape[1], x.shape[2], want.shape[1]);
            let last = &x.data[(b - 1) * t * f..];
            let (input, out) = (tmp.join(format!("{name}_x.npy")), tmp.join(format!("{name}_y.npy")));
            tickgrad::io::npy::write_npy(&input, &[1, t, f], last).unwrap();
            let status = std::process::Command::new(env!("CARGO_BIN_EXE_tickgrad"))
                .args(["predict", "--checkpoint"])
                .arg(dir.join(format!("{name}.safetensors")))
                .arg("--input")
                .arg(&input)
                .arg("--out")
                .arg(&out)
                .status()
                .unwrap();
            assert!(status.success(), "{name}: tickgrad predict failed");
            let y = read_npy(&out).unwrap();
            assert_eq!(y.shape, vec![1, k], "{name}: output shape");
            let e = rel_err(&y.data, &want.data[(b - 1) * k..]);
            assert!(e < 1e-4, "{name}: CLI single-window relative error {e:.3e}");
        }
    }
    std::fs::remove_dir_all(&tmp).ok();
}
