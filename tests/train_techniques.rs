//! The training techniques of issue 13 (items 1, 2 and 6), each shown to do what it says:
//! - curriculum: the first stage holds only the calmest windows (against a realised volatility computed here from
//!   the closes), later stages are supersets, the last is everything, and the trainer runs on exactly those;
//! - FGSM: the adversarial input is x + E·sign(∇ₓL), with ∇ₓL checked against finite differences, the loss is
//!   (1 − A)·L(x) + A·L(x_adv), and its parameter gradients are those of that sum (on the CPU, and on lavapipe
//!   with the `wgpu` feature);
//! - LR schedules: the rate of the first update is the warmup's (read off the AdamW step itself), and a run
//!   resumed from any epoch under a schedule, a curriculum and FGSM ends bit-identical to the uninterrupted one;
//! - the command line refuses incomplete technique flags with a clear message.

mod pipeline_support;

use pipeline_support::{dataset, examples, tickgrad, tiny, train_config, Run};
use tickgrad::device::Device;
use tickgrad::models::Model;
use tickgrad::nn::{self, Module};
use tickgrad::pipeline::curriculum::window_volatility;
use tickgrad::pipeline::Dataset;
use tickgrad::tensor::Tensor;
use tickgrad::train::adversarial::fgsm_batch;
use tickgrad::train::{self, Adversarial, Curriculum, Event, Examples, LrSchedule, Objective, TrainConfig};

const WINDOW: usize = 16;

/// √(Σ (ln c_t − ln c_{t−1})² / (W − 1)) over the window's own bars, written independently of the library.
fn realised_vol(close: &[f64], end: usize, w: usize) -> f64 {
    let logs: Vec<f64> = close[end + 1 - w..=end].iter().map(|c| c.ln()).collect();
    let n = logs.len() - 1;
    (logs.windows(2).map(|p| (p[1] - p[0]) * (p[1] - p[0])).sum::<f64>() / n as f64).sqrt()
}

fn params(model: &mut Model) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    model
        .visit("", &mut |name, kind, t| {
            if kind == nn::Kind::Param {
                out.push((name.to_string(), t.to_vec()?));
            }
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn curriculum_stages_start_with_the_calmest_windows_and_grow_to_all() {
    let ds = dataset(WINDOW, 1);
    let train = ds.split.train.clone();
    let got = window_volatility(&ds, train.clone(), WINDOW).unwrap();
    let want: Vec<f64> = train.clone().map(|s| realised_vol(&ds.bars.close, ds.row(s), WINDOW)).collect();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-12 * w.max(1e-12), "window {i}: {g} vs {w}");
    }
    let c = Curriculum::parse("volatility:3").unwrap();
    let n = want.len();
    let mut sorted = want.clone();
    sorted.sort_by(f64::total_cmp);
    let mut previous: Vec<usize> = Vec::new();
    for epoch in 1..=4 {
        let stage = c.stage_windows(&got, epoch);
        let k = (n * epoch.min(3)).div_ceil(3);
        assert_eq!(stage.len(), k, "epoch {epoch}: stage size");
        // Exactly the k calmest: nothing inside is more volatile than the k-th calmest, nothing outside less.
        let kth = sorted[k - 1];
        assert!(stage.iter().all(|&i| want[i] <= kth), "epoch {epoch}: a volatile window in the stage");
        let outside = (0..n).filter(|i| !stage.contains(i));
        assert!(outside.into_iter().all(|i| want[i] >= kth), "epoch {epoch}: a calm window left out");
        assert!(previous.iter().all(|i| stage.contains(i)), "epoch {epoch}: not a superset of the last stage");
        previous = stage;
    }
    assert_eq!(previous, (0..n).collect::<Vec<_>>(), "the last stage is every window");
    // The first stage really is calmer: its mean volatility is below the whole set's.
    let first = c.stage_windows(&got, 1);
    let mean = |ix: &[usize]| ix.iter().map(|&i| want[i]).sum::<f64>() / ix.len() as f64;
    assert!(mean(&first) < 0.8 * mean(&(0..n).collect::<Vec<_>>()));
}

#[test]
fn the_trainer_runs_each_epoch_on_its_curriculum_stage() {
    let ds = dataset(WINDOW, 1);
    let (mut train_ex, val_ex) = examples(&ds);
    let sampler = ds.sampler(WINDOW).unwrap();
    let cfg = tiny("tcn", ds.n_features());
    let curriculum = Curriculum::parse("volatility:3").unwrap();
    // Patience 1 would stop a plain run after one stalled epoch; the curriculum waits for its last stage.
    let tc = TrainConfig { curriculum: Some(curriculum), patience: 1, ..train_config(4, 5) };
    let mut model = Model::new(&cfg, tc.seed, Device::Cpu).unwrap();
    let run = |model: &mut Model, ex: &Examples| {
        let mut batches: Vec<(usize, usize)> = Vec::new();
        let r = train::train(model, Objective::Return, &sampler, ex, &val_ex, &tc, &mut |_, _| Ok(()), &mut |e| {
            if let Event::Batch { epoch, total, done, .. } = e {
                if done == total {
                    batches.push((epoch, total));
                }
            }
        });
        (r, batches)
    };
    let (r, _) = run(&mut model, &train_ex);
    let e = r.expect_err("no difficulty: refused").to_string();
    assert!(e.contains("curriculum needs the difficulty"), "{e}");
    train_ex.difficulty = window_volatility(&ds, ds.split.train.clone(), WINDOW).unwrap();
    let (r, batches) = run(&mut model, &train_ex);
    let o = r.unwrap();
    let n = train_ex.len();
    for (epoch, total) in &batches {
        assert_eq!(*total, curriculum.stage_len(n, *epoch).div_ceil(tc.batch), "epoch {epoch}: batches");
    }
    assert!(o.epochs.len() >= 3, "early stopping waited for the last stage: {} epochs", o.epochs.len());
}

/// One batch of training windows and their example indices.
fn batch(ds: &Dataset, ex: &Examples, b: usize, device: Device) -> (Tensor, Vec<usize>) {
    let sampler = ds.sampler(WINDOW).unwrap();
    let idx: Vec<usize> = (0..b).map(|i| i * 7).collect();
    let ends: Vec<usize> = idx.iter().map(|&i| ex.ends[i]).collect();
    let mut buf = vec![0.0; sampler.batch_len(b)];
    sampler.fill(&ends, &mut buf).unwrap();
    (Tensor::from_vec(buf, &[b, WINDOW, ds.n_features()], device).unwrap(), idx)
}

fn loss_at(model: &Model, x: &[f32], shape: &[usize], ex: &Examples, idx: &[usize], seed: u64) -> f64 {
    let _g = tickgrad::autodiff::no_grad();
    let xt = Tensor::from_vec(x.to_vec(), shape, model.device()).unwrap();
    let pred = model.forward(&xt, &nn::Ctx::train(seed), false).unwrap().pred;
    Objective::Return.loss(model, &pred, ex, idx).unwrap().item().unwrap() as f64
}

#[test]
fn fgsm_moves_the_input_by_epsilon_times_the_gradient_sign_and_weights_the_two_losses() {
    let ds = dataset(WINDOW, 1);
    let (ex, _) = examples(&ds);
    // No dropout, so both forwards and the finite differences see one function.
    let cfg = tiny("lstm_attention", ds.n_features());
    let adv = Adversarial { epsilon: 0.05, weight: 0.3 };
    let seed = 9;
    let mut cpu_signs = Vec::new();
    let mut devices = vec![Device::Cpu];
    if cfg!(feature = "wgpu") {
        devices.push(Device::Wgpu(0));
    }
    for device in devices {
        let mut model = Model::new(&cfg, 3, device).unwrap();
        nn::track_parameters(&mut model).unwrap();
        let (x, idx) = batch(&ds, &ex, 6, device);
        let shape = x.shape().to_vec();
        let b = fgsm_batch(&model, Objective::Return, &x, &ex, &idx, seed, &adv).unwrap();
        let (xs, xa, g) = (x.to_vec().unwrap(), b.x_adv.to_vec().unwrap(), b.input_grad.to_vec().unwrap());
        let sign = |v: f32| {
            if v > 0.0 {
                1.0f32
            } else if v < 0.0 {
                -1.0
            } else {
                0.0
            }
        };
        for (i, ((a, x), g)) in xa.iter().zip(&xs).zip(&g).enumerate() {
            assert_eq!(a.to_bits(), (x + adv.epsilon * sign(*g)).to_bits(), "{device}: element {i}");
        }
        assert!(g.iter().filter(|v| **v != 0.0).count() > xs.len() / 2, "{device}: the gradient is mostly nonzero");
        // The gradient against central differences of the f32 loss, on the 30 largest entries.
        let mut order: Vec<usize> = (0..g.len()).collect();
        order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        let h = 1e-2f32;
        for &i in &order[..30] {
            let (mut up, mut down) = (xs.clone(), xs.clone());
            up[i] += h;
            down[i] -= h;
            let fd = (loss_at(&model, &up, &shape, &ex, &idx, seed) - loss_at(&model, &down, &shape, &ex, &idx, seed))
                / (2.0 * h as f64);
            let rel = (fd - g[i] as f64).abs() / (g[i] as f64).abs();
            assert!(rel < 0.05 && fd.signum() == (g[i] as f64).signum(), "{device}: dL/dx[{i}] {} vs fd {fd}", g[i]);
        }
        // The combined loss is the formula, with each loss recomputed from scratch.
        let clean = loss_at(&model, &xs, &shape, &ex, &idx, seed);
        let moved = loss_at(&model, &xa, &shape, &ex, &idx, seed);
        let want = (1.0 - adv.weight as f64) * clean + adv.weight as f64 * moved;
        let got = b.loss.item().unwrap() as f64;
        assert!((got - want).abs() < 1e-6 * want.abs(), "{device}: loss {got} vs formula {want}");
        assert!((moved - clean) > 0.0, "{device}: the sign step raises the loss ({clean} -> {moved})");
        // Its parameter gradients are those of the explicit sum (one graph, one backward).
        let xt = b.x_adv.detach();
        let l1 =
            Objective::Return.loss(&model, &model.forward(&x, &nn::Ctx::train(seed), false).unwrap().pred, &ex, &idx);
        let l2 =
            Objective::Return.loss(&model, &model.forward(&xt, &nn::Ctx::train(seed), false).unwrap().pred, &ex, &idx);
        let total = l1.unwrap().scale(1.0 - adv.weight).unwrap().add(&l2.unwrap().scale(adv.weight).unwrap()).unwrap();
        let direct = total.backward().unwrap();
        let mut checked = 0;
        model
            .visit("", &mut |name, kind, t| {
                if kind != nn::Kind::Param {
                    return Ok(());
                }
                let (a, w) = (b.grads.get(t).unwrap().to_vec()?, direct.get(t).unwrap().to_vec()?);
                for (j, (a, w)) in a.iter().zip(&w).enumerate() {
                    assert!((a - w).abs() <= 1e-5 * (1.0 + w.abs()), "{device}: grad {name}[{j}] {a} vs {w}");
                }
                checked += 1;
                Ok(())
            })
            .unwrap();
        assert!(checked > 3, "{device}: every parameter compared");
        if device == Device::Cpu {
            cpu_signs = g.iter().map(|v| sign(*v)).collect();
        } else {
            // The same model and batch on the GPU: the same perturbation wherever the gradient is clearly nonzero.
            let g_big = order[..g.len() / 2].iter().filter(|&&i| cpu_signs[i] != sign(g[i])).count();
            assert_eq!(g_big, 0, "{device}: gradient signs differ from the CPU's");
        }
    }
}

/// AdamW's first step moves every parameter by lr·g/(|g| + eps) ≈ lr (after the decay): the rate the optimizer
/// used can be read off the weights.
fn first_step_rate(tc: &TrainConfig) -> f64 {
    let ds = dataset(WINDOW, 1);
    let (train_ex, val_ex) = examples(&ds);
    let sampler = ds.sampler(WINDOW).unwrap();
    let cfg = tiny("tcn", ds.n_features());
    let mut model = Model::new(&cfg, tc.seed, Device::Cpu).unwrap();
    let before = params(&mut model);
    train::train(&mut model, Objective::Return, &sampler, &train_ex, &val_ex, tc, &mut |_, _| Ok(()), &mut |_| {})
        .unwrap();
    let after = params(&mut model);
    let mut moves: Vec<f64> = Vec::new();
    for ((_, b), (_, a)) in before.iter().zip(&after) {
        for (p0, p1) in b.iter().zip(a) {
            let decayed = *p0 as f64; // decay lr·wd·p is below 1e-4 of lr here (wd 0)
            moves.push((*p1 as f64 - decayed).abs());
        }
    }
    moves.sort_by(f64::total_cmp);
    moves[moves.len() / 2]
}

#[test]
fn the_scheduled_rate_reaches_the_optimizer() {
    // One epoch of one batch: a single AdamW update.
    let one = TrainConfig { epochs: 1, batch: 100_000, weight_decay: 0.0, lr: 1e-2, ..train_config(1, 2) };
    let plain = first_step_rate(&one);
    assert!((plain - 1e-2).abs() < 1e-4, "constant: first move {plain}");
    let warm = first_step_rate(&TrainConfig { warmup: 3, lr_schedule: LrSchedule::Cosine, ..one.clone() });
    assert!((warm - 1e-2 / 4.0).abs() < 1e-4, "warmup 3: first move {warm}, expected lr/4");
}

#[test]
fn resuming_under_every_technique_ends_bit_identical() {
    let ds = dataset(WINDOW, 1);
    let (mut train_ex, val_ex) = examples(&ds);
    train_ex.difficulty = window_volatility(&ds, ds.split.train.clone(), WINDOW).unwrap();
    let sampler = ds.sampler(WINDOW).unwrap();
    let cfg = tiny("tcn", ds.n_features());
    let objective = Objective::Return;
    for (schedule, warmup) in [(LrSchedule::Plateau, 5), (LrSchedule::Cosine, 0)] {
        let tc = TrainConfig {
            lr_schedule: schedule,
            warmup,
            curriculum: Some(Curriculum::parse("volatility:2").unwrap()),
            adversarial: Some(Adversarial { epsilon: 0.05, weight: 0.5 }),
            patience: 2,
            lr: 2e-2,
            ..train_config(4, 8)
        };
        let mut model = Model::new(&cfg, tc.seed, Device::Cpu).unwrap();
        let run = Run { objective, sampler: &sampler, train: &train_ex, val: &val_ex, tc: &tc };
        let fp = run.fingerprint(&model);
        let (full, states) = run.full(&mut model, &fp);
        let want = params(&mut model);
        for (k, bytes) in states.iter().enumerate() {
            let (mut resumed, o, _) = run.resume(&cfg, bytes, &fp, &mut |_, _| Ok(()));
            let losses = |o: &train::TrainOutcome| o.epochs.iter().map(|e| e.val_loss.to_bits()).collect::<Vec<_>>();
            assert_eq!(losses(&o), losses(&full), "{schedule:?}: history resumed after epoch {}", k + 1);
            assert!(params(&mut resumed) == want, "{schedule:?}: weights resumed after epoch {} differ", k + 1);
        }
        // A state of this run does not resume a run with another schedule: the fingerprint names the field.
        let other = TrainConfig { lr_schedule: LrSchedule::Constant, ..tc.clone() };
        let fp2 = train::resume::fingerprint(&model, objective, &sampler, &train_ex, &val_ex, &other).unwrap();
        let e = fp2.check(&fp, "state").unwrap_err().to_string();
        assert!(e.contains("train.lr_schedule"), "{e}");
    }
}

#[test]
fn incomplete_technique_flags_are_refused_with_a_clear_message() {
    let base = ["train", "--data", pipeline_support::DATA, "--model", "tcn", "--out", "/nonexistent/m.safetensors"];
    for (extra, needle) in [
        (&["--adversarial", "fgsm"][..], "--epsilon"),
        (&["--epsilon", "0.1"][..], "--adversarial fgsm"),
        (&["--adversarial", "pgd", "--epsilon", "0.1"][..], "unknown method \"pgd\""),
        (&["--adversarial", "fgsm", "--epsilon", "0.1", "--adv-weight", "1.5"][..], "adv-weight"),
        (&["--lr-schedule", "step"][..], "unknown schedule \"step\""),
        (&["--curriculum", "volume"][..], "unknown curriculum \"volume\""),
        (&["--curriculum", "volatility:30"][..], "30 stages"),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (ok, _, err) = tickgrad(&args);
        assert!(!ok, "{extra:?} accepted");
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
}
