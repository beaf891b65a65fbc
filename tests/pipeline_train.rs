//! Training: reproducible from the seed, the checkpoint carries everything a backtest needs and reloads to the
//! same predictions, early stopping stops and keeps the best epoch, and every objective trains.

mod pipeline_support;

use pipeline_support::{dataset, scratch, tiny, train_config};
use tickgrad::device::Device;
use tickgrad::models::checkpoint;
use tickgrad::pipeline::predict::raw_outputs;
use tickgrad::pipeline::{train_model, ModelMeta, TargetScale};
use tickgrad::train::{validation_loss, Objective};

fn losses(o: &tickgrad::train::TrainOutcome) -> Vec<(u64, u64)> {
    o.epochs.iter().map(|e| (e.train_loss.to_bits(), e.val_loss.to_bits())).collect()
}

#[test]
fn same_seed_same_losses() {
    let ds = dataset(16, 1);
    for kind in ["tcn", "transformer"] {
        let cfg = tiny(kind, ds.n_features());
        let run = |seed| {
            let t = train_model(&ds, &cfg, 16, &train_config(2, seed), None, &mut |_| {}).unwrap();
            losses(t.outcome().unwrap())
        };
        let (a, b, c) = (run(7), run(7), run(8));
        assert_eq!(a.len(), 2);
        assert_eq!(a, b, "{kind}: same seed must give bit-identical losses");
        assert_ne!(a, c, "{kind}: another seed should give other losses");
    }
}

#[test]
fn checkpoint_carries_metadata_and_reloads() {
    let ds = dataset(16, 2);
    let dir = scratch("ckpt");
    let path = dir.join("tcn.safetensors");
    let cfg = tiny("tcn", ds.n_features());
    let trained = train_model(&ds, &cfg, 12, &train_config(2, 1), Some(&path), &mut |_| {}).unwrap();

    let ck = checkpoint::load(&path, Device::Cpu).unwrap();
    for key in [
        "tickgrad.config",
        "tickgrad.scaler",
        "tickgrad.features",
        "tickgrad.window",
        "tickgrad.horizon",
        "tickgrad.theta",
        "tickgrad.regime",
        "tickgrad.target",
        "tickgrad.target_scale",
        "tickgrad.residual_std",
        "tickgrad.train_info",
        "tickgrad.drift",
    ] {
        assert!(ck.metadata.contains_key(key), "checkpoint lacks `{key}`");
    }
    let meta = ModelMeta::from_map(&ck.metadata, "test").unwrap();
    assert_eq!(meta, trained.meta);
    assert_eq!(meta.prep.features, ds.prep.features);
    assert_eq!(meta.prep.scaler, ds.prep.scaler);
    let drift = meta.drift.as_ref().unwrap();
    assert_eq!((drift.names(), drift.rows), (ds.prep.features.clone(), ds.fit_rows.len()), "fitted on training rows");
    assert_eq!((meta.window, meta.prep.window, meta.prep.horizon), (12, 16, 2));
    assert_eq!(meta.prep.theta, 0.0008);
    assert_eq!(meta.objective, Objective::Return);
    assert_eq!(meta.target_scale, TargetScale::fit(&ds).unwrap());
    let info = meta.train_info.as_ref().unwrap();
    assert_eq!(info.epochs.len(), 2);
    assert!(info.epochs.iter().all(|e| e.train_loss.is_finite() && e.val_loss.is_finite()));
    let spread = meta.residual_std.unwrap();
    assert!(spread > 0.0 && spread < 0.1, "residual spread {spread} of hourly returns");
    // The scaler was fitted on the training rows only: rows of the validation set are not centred.
    let train_mean = ds.prep.scaler.center[ds.prep.features.iter().position(|f| f == "ret_1").unwrap()];
    let ret1 = ds.frame.column("ret_1").unwrap();
    let fit = ds.fit_rows.clone();
    let mean = ret1[fit.clone()].iter().sum::<f64>() / fit.len() as f64;
    assert!((train_mean - mean).abs() < 1e-15);

    let sampler = ds.sampler(12).unwrap();
    let ends = ds.ends(ds.split.test.clone());
    let before = raw_outputs(&trained.model, &sampler, &ends, Device::Cpu).unwrap();
    let after = raw_outputs(&ck.model, &sampler, &ends, Device::Cpu).unwrap();
    assert_eq!(before, after, "a reloaded checkpoint predicts exactly as the trained model");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn early_stopping_stops_and_keeps_the_best_epoch() {
    let ds = dataset(16, 1);
    let cfg = tiny("tcn", ds.n_features());
    // A large learning rate on a small set: the validation loss soon stops improving.
    let tc = tickgrad::train::TrainConfig { epochs: 25, lr: 0.05, patience: 2, ..train_config(25, 3) };
    let t = train_model(&ds, &cfg, 16, &tc, None, &mut |_| {}).unwrap();
    let o = t.outcome().unwrap();
    assert!(o.stopped_early, "expected an early stop within 25 epochs; val losses {:?}", o.epochs);
    assert_eq!(o.epochs.len(), o.best_epoch + tc.patience, "stops `patience` epochs after the best");
    let best = o.epochs.iter().map(|e| e.val_loss).fold(f64::INFINITY, f64::min);
    assert_eq!(o.best_val_loss, best);
    let scale = TargetScale::fit(&ds).unwrap();
    let val = scale.examples(&ds, ds.split.val.clone()).unwrap();
    let sampler = ds.sampler(16).unwrap();
    let kept = validation_loss(&t.model, Objective::Return, &sampler, &val, 256, Device::Cpu).unwrap();
    assert_eq!(kept, o.best_val_loss, "the returned model holds the best epoch's weights");
}

#[test]
fn every_objective_trains() {
    let ds = dataset(16, 1);
    for (kind, objective) in [
        ("transformer", Objective::Direction),
        ("lstm_attention", Objective::Return),
        ("multitask", Objective::MultiTask),
    ] {
        let t = train_model(&ds, &tiny(kind, ds.n_features()), 16, &train_config(1, 0), None, &mut |_| {}).unwrap();
        assert_eq!(t.meta.objective, objective);
        assert_eq!(t.meta.residual_std.is_some(), objective != Objective::Direction, "{kind}");
        assert!(t.outcome().unwrap().best_val_loss.is_finite(), "{kind}");
    }
}

#[test]
fn multitask_loss_moves_the_uncertainty_weights() {
    let ds = dataset(16, 1);
    let t = train_model(&ds, &tiny("multitask", ds.n_features()), 16, &train_config(1, 0), None, &mut |_| {}).unwrap();
    let tickgrad::models::Model::MultiTask(m) = &t.model else { panic!("multitask model") };
    let s = m.log_vars.to_vec().unwrap();
    assert!(s.iter().all(|v| v.is_finite()) && s.iter().any(|&v| v != 0.0), "log_vars stayed at 0: {s:?}");
}
