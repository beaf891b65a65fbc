//! Meta-learning and masked pretraining (issue 13, items 3 and 4) on a slice of the bundled bars: Reptile moves
//! the weights toward the task solutions by exactly its rule, FOMAML's meta-gradient is the gradient at the
//! adapted weights, pretraining lowers the held-out masked reconstruction loss for every kind, `--init-from`
//! copies the body bit for bit and refuses other shapes, and the two commands write files the others accept.

mod pipeline_support;

use pipeline_support::{csv_slice, dataset, scratch, tickgrad, train_config, SLICE_ROWS};
use tickgrad::device::Device;
use tickgrad::models::body::is_body_tensor;
use tickgrad::models::pretrained::{load_body, save_body};
use tickgrad::models::{checkpoint, Model, ModelConfig};
use tickgrad::nn::{self, Ctx, Kind};
use tickgrad::optim::Adam;
use tickgrad::pipeline::meta_train::{make_tasks, TaskSplit};
use tickgrad::pipeline::{Dataset, TargetScale};
use tickgrad::tensor::Tensor;
use tickgrad::train::meta::{meta_step, task_batches, MetaAlgo, MetaConfig, Task};
use tickgrad::train::pretrain::{new_head, pretrain, reconstruction_loss, PretrainConfig};
use tickgrad::train::weights::HostWeights;
use tickgrad::train::{Examples, Objective, TrainConfig};

const WINDOW: usize = 16;

/// A TCN without dropout, so a forward depends on the weights and the windows only.
fn tcn(n_features: usize, channels: &[usize]) -> ModelConfig {
    let v = serde_json::json!({"channels": channels, "kernel_size": 3, "dropout": 0.0, "n_features": n_features});
    ModelConfig::from_kind_value("tcn", v, "test config").unwrap()
}

fn tiny(kind: &str, n_features: usize) -> ModelConfig {
    if kind == "tcn" {
        return tcn(n_features, &[4, 4]);
    }
    pipeline_support::tiny(kind, n_features)
}

struct Setup {
    ds: Dataset,
    train: Examples,
    tasks: Vec<Task>,
}

fn setup(by: TaskSplit) -> Setup {
    let ds = dataset(WINDOW, 1);
    let scale = TargetScale::fit(&ds).unwrap();
    let train = scale.examples(&ds, ds.split.train.clone()).unwrap();
    let (tasks, _) = make_tasks(&ds, by, ds.split.train.clone()).unwrap();
    Setup { ds, train, tasks }
}

fn meta_config(algo: MetaAlgo) -> MetaConfig {
    MetaConfig { algo, inner_steps: 3, inner_lr: 0.05, meta_lr: 0.5, meta_batch: 2 }
}

#[test]
fn tasks_partition_the_training_windows() {
    for by in [TaskSplit::Regime, TaskSplit::Month] {
        let s = setup(by);
        assert!(s.tasks.len() >= 2, "{by:?}: {} tasks", s.tasks.len());
        let mut all: Vec<usize> = s.tasks.iter().flat_map(|t| t.windows.clone()).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "{by:?}: a window in two tasks");
        assert!(all.iter().all(|&i| i < s.train.len()));
        if by == TaskSplit::Month {
            for t in &s.tasks {
                assert!(t.name.len() == 7 && t.name.starts_with("2020-"), "month name {}", t.name);
                assert!(t.windows.windows(2).all(|w| w[1] == w[0] + 1), "a month is a run of consecutive windows");
            }
        } else {
            let regime = s.ds.frame.column("regime").unwrap();
            for t in &s.tasks {
                let code = regime[s.ds.row(s.ds.split.train.start + t.windows[0])];
                assert!(t.windows.iter().all(|&w| regime[s.ds.row(s.ds.split.train.start + w)] == code), "{}", t.name);
            }
        }
    }
    let b = task_batches(&[7, 8, 9], 3, 2, 1).unwrap();
    assert_eq!(b.len(), 3);
    assert!(b.iter().all(|x| x.len() == 2 && x.iter().all(|i| (7..=9).contains(i))));
    assert_eq!(b[0][0], b[1][1], "a short task wraps around");
}

#[test]
fn reptile_moves_toward_each_task_solution_by_exactly_its_rule() {
    let s = setup(TaskSplit::Regime);
    let cfg = tcn(s.ds.n_features(), &[4, 4]);
    let mut model = Model::new(&cfg, 2, Device::Cpu).unwrap();
    let sampler = s.ds.sampler(WINDOW).unwrap();
    let mc = meta_config(MetaAlgo::Reptile);
    let tc = train_config(1, 2);
    let picked: Vec<&Task> = s.tasks.iter().take(2).collect();
    let mut outer = Adam::new(1e-3);
    let step = meta_step(&mut model, Objective::Return, &sampler, &s.train, &picked, &mc, &tc, &mut outer, 9).unwrap();
    let after = HostWeights::of(&mut model).unwrap();
    let theta = &step.before;
    assert_ne!(&after, theta, "the meta step must move the weights");
    for (j, (name, _, th)) in theta.tensors.iter().enumerate() {
        let got = &after.tensors[j].2;
        for i in 0..th.len() {
            let sum: f64 = step.tasks.iter().map(|t| t.adapted.tensors[j].2[i] as f64 - th[i] as f64).sum();
            let want = (th[i] as f64 + mc.meta_lr as f64 * (sum / step.tasks.len() as f64)) as f32;
            assert_eq!(got[i].to_bits(), want.to_bits(), "`{name}`[{i}]: {} vs {want}", got[i]);
        }
    }
    for (k, t) in step.tasks.iter().enumerate() {
        let (d0, d1) = (theta.param_distance(&t.adapted).unwrap(), after.param_distance(&t.adapted).unwrap());
        assert!(d0 > 0.0, "task {k}: the inner loop must move the weights");
        assert!(d1 < d0, "task {k}: distance to its solution {d0} -> {d1} must shrink");
    }
}

/// The loss gradient of `model` at `w` on the windows `idx`, computed here from scratch (same windows, same
/// loss), per parameter.
fn gradient_at(cfg: &ModelConfig, w: &HostWeights, s: &Setup, idx: &[usize]) -> Vec<(String, Vec<f32>)> {
    let mut m = Model::new(cfg, 0, Device::Cpu).unwrap();
    w.load_into(&mut m).unwrap();
    nn::track_parameters(&mut m).unwrap();
    let sampler = s.ds.sampler(WINDOW).unwrap();
    let ends: Vec<usize> = idx.iter().map(|&i| s.train.ends[i]).collect();
    let mut buf = vec![0.0; sampler.batch_len(ends.len())];
    sampler.fill(&ends, &mut buf).unwrap();
    let x = Tensor::cpu(buf, &[ends.len(), WINDOW, s.ds.n_features()]);
    let pred = m.forward(&x, &Ctx::train(0), false).unwrap().pred;
    let grads = Objective::Return.loss(&m, &pred, &s.train, idx).unwrap().backward().unwrap();
    nn::parameters(&mut m).unwrap().into_iter().map(|(n, t)| (n, grads.get(&t).unwrap().to_vec().unwrap())).collect()
}

#[test]
fn fomaml_meta_gradient_is_the_gradient_at_the_adapted_weights() {
    let s = setup(TaskSplit::Month);
    let cfg = tcn(s.ds.n_features(), &[4, 4]);
    let mut model = Model::new(&cfg, 4, Device::Cpu).unwrap();
    let sampler = s.ds.sampler(WINDOW).unwrap();
    let mc = MetaConfig { meta_lr: 1e-3, ..meta_config(MetaAlgo::Fomaml) };
    let tc = TrainConfig { weight_decay: 1e-2, ..train_config(1, 4) };
    let picked: Vec<&Task> = s.tasks.iter().take(2).collect();
    let mut outer = Adam::adamw(mc.meta_lr, tc.weight_decay);
    let step = meta_step(&mut model, Objective::Return, &sampler, &s.train, &picked, &mc, &tc, &mut outer, 5).unwrap();
    let meta_grad = step.meta_grad.as_ref().expect("FOMAML reports its meta-gradient");
    let per_task: Vec<_> = step
        .tasks
        .iter()
        .map(|t| {
            let q = t.query.as_ref().expect("a query batch");
            gradient_at(&cfg, &t.adapted, &s, q)
        })
        .collect();
    let q0 = step.tasks[0].query.as_ref().unwrap();
    let at_theta = gradient_at(&cfg, &step.before, &s, q0);
    let (mut far_from_theta, mut scale) = (0.0f64, 0.0f64);
    for (j, (name, _)) in per_task[0].iter().enumerate() {
        let got = meta_grad.get(name).unwrap();
        assert_eq!(got.len(), at_theta[j].1.len(), "`{name}`");
        for (i, &got) in got.iter().enumerate() {
            let want = per_task.iter().map(|p| p[j].1[i] as f64).sum::<f64>() / per_task.len() as f64;
            assert!((got as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()), "`{name}`[{i}]: {got} vs {want}");
            far_from_theta += (per_task[0][j].1[i] as f64 - at_theta[j].1[i] as f64).abs();
            scale += at_theta[j].1[i].abs() as f64;
        }
    }
    assert!(far_from_theta > 1e-3 * scale, "the gradient at φ should differ from the gradient at θ");
    // The outer step is AdamW's first step on that gradient: θ(1 − lr·wd) − lr·g/(|g| + eps) per parameter.
    let after = HostWeights::of(&mut model).unwrap();
    let (lr, wd) = (mc.meta_lr as f64, tc.weight_decay as f64);
    let mut checked = 0;
    for (name, kind, th) in &step.before.tensors {
        if *kind != Kind::Param {
            continue;
        }
        let (g, new) = (meta_grad.get(name).unwrap(), after.get(name).unwrap());
        for i in 0..th.len() {
            if g[i].abs() > 1e-3 {
                let moved = new[i] as f64 - th[i] as f64 * (1.0 - lr * wd);
                assert!((moved + lr * (g[i] as f64).signum()).abs() < 2e-5, "`{name}`[{i}] moved {moved}");
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "too few parameters with a clear gradient: {checked}");
}

#[test]
fn pretraining_lowers_the_heldout_masked_reconstruction_loss_for_every_kind() {
    let ds = dataset(WINDOW, 1);
    let sampler = ds.sampler(WINDOW).unwrap();
    let (train, val) = (ds.ends(ds.split.train.clone()), ds.ends(ds.split.val.clone()));
    for kind in ["tcn", "transformer", "lstm_attention", "multitask"] {
        let cfg = tiny(kind, ds.n_features());
        let mut model = Model::new(&cfg, 1, Device::Cpu).unwrap();
        let mut head = new_head(&model, 1).unwrap();
        let heads_before: Vec<(String, Vec<f32>)> = HostWeights::of(&mut model)
            .unwrap()
            .tensors
            .into_iter()
            .filter(|(n, _, _)| !is_body_tensor(&cfg, n))
            .map(|(n, _, v)| (n, v))
            .collect();
        let pc = PretrainConfig { mask_ratio: 0.15, train: TrainConfig { lr: 3e-3, ..train_config(3, 1) } };
        let seed = 77;
        let before = reconstruction_loss(&model, &head, &sampler, &val, 0.15, seed, 256, Device::Cpu).unwrap();
        let o = pretrain(&mut model, &mut head, &sampler, &train, &val, &pc, &mut |_| {}).unwrap();
        let after = reconstruction_loss(&model, &head, &sampler, &val, 0.15, seed, 256, Device::Cpu).unwrap();
        assert!(after < 0.95 * before, "{kind}: held-out masked reconstruction loss {before} -> {after}");
        assert!(o.best_val_loss < o.initial_val_loss, "{kind}: {o:?}");
        let now = HostWeights::of(&mut model).unwrap();
        for (n, v) in &heads_before {
            assert_eq!(now.get(n).unwrap(), v.as_slice(), "{kind}: head tensor `{n}` must keep its init");
        }
    }
}

#[test]
fn init_from_loads_the_body_bit_exactly_and_refuses_other_shapes() {
    let dir = scratch("init-from");
    let nf = dataset(WINDOW, 1).n_features();
    let cfg = tcn(nf, &[4, 4]);
    let mut source = Model::new(&cfg, 11, Device::Cpu).unwrap();
    let p = dir.join("body.safetensors");
    save_body(&p, &mut source, &[], &Default::default()).unwrap();
    let src = HostWeights::of(&mut source).unwrap();

    let mut model = Model::new(&cfg, 3, Device::Cpu).unwrap();
    let fresh = HostWeights::of(&mut model).unwrap();
    let got = load_body(&p, &mut model).unwrap();
    assert!(!got.loaded.is_empty());
    let now = HostWeights::of(&mut model).unwrap();
    for (name, _, v) in &now.tensors {
        let want = if is_body_tensor(&cfg, name) { src.get(name) } else { fresh.get(name) };
        let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(v), bits(want.unwrap()), "`{name}`");
    }

    let mut wider = Model::new(&tcn(nf, &[4, 6]), 3, Device::Cpu).unwrap();
    let before = HostWeights::of(&mut wider).unwrap();
    let e = load_body(&p, &mut wider).unwrap_err().to_string();
    assert!(e.contains("body.safetensors: tensor blocks.1.conv1.weight"), "{e}");
    assert!(e.contains("[4, 4, 3]") && e.contains("[6, 4, 3]"), "expected and found shapes: {e}");
    assert_eq!(HostWeights::of(&mut wider).unwrap(), before, "a refused file changes nothing");
    let mut other = Model::new(&tiny("multitask", nf), 3, Device::Cpu).unwrap();
    let e = load_body(&p, &mut other).unwrap_err().to_string();
    assert!(e.contains("tcn body") && e.contains("multitask"), "{e}");
    // A trained checkpoint is a source too; its head is not taken.
    let ck = dir.join("full.safetensors");
    checkpoint::save(&ck, &mut source, &Default::default()).unwrap();
    let mut m2 = Model::new(&cfg, 3, Device::Cpu).unwrap();
    load_body(&ck, &mut m2).unwrap();
    assert_eq!(HostWeights::of(&mut m2).unwrap(), now);
}

#[test]
fn the_commands_write_files_that_train_and_finetune_take() {
    let dir = scratch("meta-pretrain-cli");
    let data = csv_slice(&dir, SLICE_ROWS);
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let cfg = dir.join("tcn.json");
    std::fs::write(&cfg, r#"{"channels": [4, 4], "dropout": 0.0}"#).unwrap();
    let common = |out: &std::path::Path| -> Vec<String> {
        ["--data", &s(&data), "--model", "tcn", "--config", &s(&cfg), "--window", "16", "--epochs", "1"]
            .iter()
            .map(|x| x.to_string())
            .chain(["--out".to_string(), s(out)])
            .collect()
    };
    let run = |cmd: &str, out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![cmd.to_string()];
        args.extend(common(out));
        args.extend(extra.iter().map(|x| x.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        tickgrad(&refs)
    };

    let body = dir.join("P.safetensors");
    let (ok, out, err) = run("pretrain", &body, &["--mask-ratio", "0.2"]);
    assert!(ok, "pretrain failed: {err}");
    assert!(out.contains("masked reconstruction loss on validation"), "{out}");
    let (ok, _, err) = run("train", &dir.join("init.safetensors"), &["--init-from", &s(&body)]);
    assert!(ok, "train --init-from failed: {err}");
    assert!(err.contains("body tensors loaded from"), "{err}");
    let wide = dir.join("wide.json");
    std::fs::write(&wide, r#"{"channels": [4, 6], "dropout": 0.0}"#).unwrap();
    let mut args: Vec<String> = vec!["train".into()];
    args.extend(common(&dir.join("wide.safetensors")));
    let at = args.iter().position(|a| a == "--config").unwrap() + 1;
    args[at] = s(&wide);
    args.extend(["--init-from".to_string(), s(&body)]);
    let (ok, _, err) = tickgrad(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!ok && err.contains("tensor blocks.1.conv1.weight") && err.contains("[6, 4, 3]"), "{err}");
    let (ok, _, err) = tickgrad(&["finetune", "--checkpoint", &s(&body), "--data", &s(&data), "--out", "x"]);
    assert!(!ok && err.contains("not a tickgrad checkpoint"), "a body file is no checkpoint: {err}");

    for (algo, tasks) in [("fomaml", "month"), ("reptile", "regime")] {
        let m = dir.join(format!("{algo}.safetensors"));
        let (ok, out, err) = run("meta-train", &m, &["--algo", algo, "--tasks", tasks, "--inner-steps", "2"]);
        assert!(ok, "meta-train {algo} failed: {err}");
        assert!(out.contains(&format!("tcn {algo}: best meta epoch")), "{out}");
        let ck = checkpoint::load(&m, Device::Cpu).unwrap();
        assert!(ck.metadata.get("tickgrad.meta_train").is_some_and(|v| v.contains(algo)));
        let tuned = dir.join(format!("{algo}-tuned.safetensors"));
        let (ok, _, err) =
            tickgrad(&["finetune", "--checkpoint", &s(&m), "--data", &s(&data), "--epochs", "1", "--out", &s(&tuned)]);
        assert!(ok, "finetune of the {algo} checkpoint failed: {err}");
    }
    let (ok, _, err) = run("meta-train", &dir.join("bad.safetensors"), &["--algo", "maml"]);
    assert!(!ok && err.contains("expected fomaml or reptile"), "{err}");
    let (ok, _, err) = run("pretrain", &dir.join("bad.safetensors"), &["--mask-ratio", "1.5"]);
    assert!(!ok && err.contains("mask_ratio"), "{err}");
}
