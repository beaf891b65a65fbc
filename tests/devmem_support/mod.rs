//! One test body for the GPU memory contract, run on wgpu (tests/wgpu_devmem.rs) and CUDA (tests/cuda_devmem.rs):
//! the driver-call counters count what a test did, a warm `predict` asks the driver for no memory and makes the
//! same launches every time, and a budget too small for a model is a clear error after which the device works.
//!
//! Counters and budgets belong to the whole device, so the checks of one binary take `serial()` first: nothing
//! else may run on the device while one of them counts.
#![allow(dead_code)]

use crate::common::{fixtures, model_fixtures, rel_err};
use std::sync::{Mutex, MutexGuard};
use tickgrad::backend::{counters, memory_stats, set_memory_budget, DriverCounters};
use tickgrad::device::Device;
use tickgrad::io::npy::read_npy;
use tickgrad::models::checkpoint;
use tickgrad::nn::{self, Ctx};
use tickgrad::optim::{clip_factor, Adam, Optimizer};
use tickgrad::tensor::Tensor;
use tickgrad::train::{Examples, Objective};

pub const PREFIXES: [&str; 4] = ["transformer", "lstm_attention", "tcn", "multitask"];
const FAMILIES: [&str; 10] =
    ["matmul", "attention", "conv1d", "lstm", "norm", "softmax", "elementwise", "reduce", "layout", "dropout"];

/// Holds the device for one check; a failed check (a panic) does not block the others.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn snap(device: Device) -> DriverCounters {
    counters(device).unwrap_or_else(|e| panic!("{device}: counters: {e}"))
}

/// The driver calls `f` makes on `device`.
fn count<T>(device: Device, f: impl FnOnce() -> T) -> (T, DriverCounters) {
    let before = snap(device);
    let out = f();
    (out, snap(device).since(&before))
}

/// Uploads, a kernel and downloads, each counted as what it is: 4 bytes per f32 each way, one launch per kernel,
/// one wait per download, and a second round of the same sizes takes every buffer from the cache.
pub fn counters_match_what_was_done(device: Device) {
    let _g = serial();
    // 12_345 f32 is a size class no other check uses, so the first round must create its buffers.
    let n = 12_345usize;
    let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 7.0).collect();
    for round in 0..2 {
        let (x, c) = count(device, || Tensor::from_vec(data.clone(), &[n], device).unwrap());
        assert_eq!(c.htod_bytes, 4 * n as u64, "{device} round {round}: upload of {n} f32: {c}");
        assert_eq!((c.dtoh_bytes, c.launches, c.syncs), (0, 0, 0), "{device} round {round}: upload only: {c}");
        let (y, c) = count(device, || x.neg().unwrap());
        assert_eq!(c.launches, 1, "{device} round {round}: one kernel for neg: {c}");
        assert_eq!((c.htod_bytes, c.dtoh_bytes, c.syncs), (0, 0, 0), "{device} round {round}: neg: {c}");
        let (back, c) = count(device, || y.to_vec().unwrap());
        assert_eq!(c.dtoh_bytes, 4 * n as u64, "{device} round {round}: download of {n} f32: {c}");
        assert_eq!((c.syncs, c.launches, c.htod_bytes), (1, 0, 0), "{device} round {round}: download: {c}");
        assert!(back.iter().zip(&data).all(|(a, b)| *a == -*b), "{device}: neg round trip");
        drop((x, y));
        let (_, c) = count(device, || {
            let x = Tensor::from_vec(data.clone(), &[n], device).unwrap();
            x.neg().unwrap().to_vec().unwrap()
        });
        // Round 0 and 1 alike: the buffers of x and y were freed into the cache and are reused here.
        assert_eq!(c.allocs, 0, "{device} round {round}: the same sizes again must come from the cache: {c}");
    }
}

/// After one warm-up `predict` of each model, a second asks the driver for no memory, copies the input in (and
/// nothing else but the LSTM's zero initial states) and the answer out with one wait, and makes exactly the driver
/// calls of the third.
pub fn warm_predict_allocates_nothing(device: Device) {
    let _g = serial();
    for prefix in PREFIXES {
        let name = &model_fixtures(prefix)[0];
        let dir = fixtures();
        let x = read_npy(dir.join(format!("{name}_input.npy"))).unwrap();
        let ck = checkpoint::load(dir.join(format!("{name}.safetensors")), device).unwrap();
        let run = || {
            let xt = Tensor::from_vec(x.data.clone(), &x.shape, device).unwrap();
            ck.model.predict(&xt).unwrap().to_vec().unwrap()
        };
        let warm = run();
        let (second, c2) = count(device, run);
        let (third, c3) = count(device, run);
        println!("{device} {name}: warm predict: {c2}");
        assert_eq!(c2.allocs, 0, "{device} {name}: a warm predict asked the driver for memory: {c2}");
        // The LSTM uploads its zero initial state [batch, hidden] (shared by every layer) from the host each call.
        let states = match &ck.model {
            tickgrad::models::Model::LstmAttention(m) => 4 * (x.shape[0] * m.cfg.hidden_size) as u64,
            _ => 0,
        };
        assert_eq!(c2.htod_bytes, 4 * x.data.len() as u64 + states, "{device} {name}: only the input goes in: {c2}");
        assert_eq!(c2.dtoh_bytes, 4 * warm.len() as u64, "{device} {name}: only the answer comes out: {c2}");
        assert_eq!(c2.syncs, 1, "{device} {name}: one wait, for the answer: {c2}");
        assert!(c2.launches > 0, "{device} {name}: no kernel launched: {c2}");
        assert_eq!(c2, c3, "{device} {name}: two warm predicts differ in driver calls");
        assert_eq!(second, warm, "{device} {name}: a warm predict changed the answer");
        assert_eq!(third, warm, "{device} {name}: a warm predict changed the answer");
    }
}

/// A budget below what a model needs: loading it fails cleanly, and with the model loaded a predict fails with
/// the op, the sizes and the budget in the message; the bytes in use return to what they were and, with the
/// budget lifted, the same predict gives the answer it gives without any budget.
pub fn budget_too_small_is_a_clear_error(device: Device) {
    let _g = serial();
    let lift = || set_memory_budget(device, None).unwrap();
    for prefix in PREFIXES {
        let name = &model_fixtures(prefix)[0];
        let dir = fixtures();
        let path = dir.join(format!("{name}.safetensors"));
        let x = read_npy(dir.join(format!("{name}_input.npy"))).unwrap();
        let want = {
            let ck = checkpoint::load(&path, device).unwrap();
            let xt = Tensor::from_vec(x.data.clone(), &x.shape, device).unwrap();
            ck.model.predict(&xt).unwrap().to_vec().unwrap()
        };

        let base = memory_stats(device).unwrap().in_use;
        set_memory_budget(device, Some(base + 512)).unwrap();
        let e = checkpoint::load(&path, device).err().unwrap_or_else(|| {
            lift();
            panic!("{device} {name}: loading under a {}-byte budget succeeded", base + 512)
        });
        let msg = e.to_string();
        lift();
        println!("{device} {name}: load under a tiny budget: {msg}");
        assert!(msg.contains("out of device memory budget") && msg.contains("upload"), "{device} {name}: {msg}");
        assert_eq!(memory_stats(device).unwrap().in_use, base, "{device} {name}: a failed load leaked");

        let ck = checkpoint::load(&path, device).unwrap();
        let xt = Tensor::from_vec(x.data.clone(), &x.shape, device).unwrap();
        let before = memory_stats(device).unwrap().in_use;
        let budget = before + 1024;
        set_memory_budget(device, Some(budget)).unwrap();
        let r = ck.model.predict(&xt);
        lift();
        let msg = match r {
            Ok(_) => panic!("{device} {name}: predict under a budget of in-use + 1 KiB succeeded"),
            Err(e) => e.to_string(),
        };
        println!("{device} {name}: predict under a tiny budget: {msg}");
        assert!(msg.contains("out of device memory budget"), "{device} {name}: {msg}");
        assert!(FAMILIES.iter().any(|f| msg.contains(f)), "{device} {name}: the message names no op family: {msg}");
        assert!(msg.contains(&format!("budget is {budget} bytes")), "{device} {name}: budget missing: {msg}");
        assert!(msg.contains("bytes are in use") && msg.contains("needs"), "{device} {name}: sizes missing: {msg}");
        assert_eq!(memory_stats(device).unwrap().in_use, before, "{device} {name}: the failed predict leaked");

        let after = ck.model.predict(&xt).unwrap().to_vec().unwrap();
        let e = rel_err(&after, &want);
        assert!(e == 0.0, "{device} {name}: predict after the budget error differs by {e:.3e}");
    }
}

/// Driver calls of the optimizer part of a training step (global norm, clip factor, AdamW update) on `device`,
/// whatever the number of parameter tensors: 2 launches for the squared norm (partial sums, then one total), 1 for
/// the clip factor and 1 for the update of the whole group. CUDA passes the tensors' addresses with the launch;
/// wgpu gathers the gradients into one buffer with one device → device copy each (src/ops/optim/wgpu.rs).
fn optimizer_calls(device: Device, tensors: usize) -> (u64, u64) {
    match device {
        Device::Wgpu(_) => (4, tensors as u64),
        _ => (4, 0),
    }
}

/// After one warm-up training step of each model (forward in training mode, its objective, backward, global norm,
/// clipping, AdamW — the trainer's sequence), the next steps ask the driver for no memory and make the same calls
/// as each other, and the optimizer part makes a fixed number of launches, the same for every model whatever its
/// number of parameter tensors.
pub fn warm_training_step_allocates_nothing(device: Device) {
    let _g = serial();
    let mut tensor_counts = Vec::new();
    for prefix in PREFIXES {
        let name = &model_fixtures(prefix)[0];
        let dir = fixtures();
        let x = read_npy(dir.join(format!("{name}_input.npy"))).unwrap();
        let mut ck = checkpoint::load(dir.join(format!("{name}.safetensors")), device).unwrap();
        nn::track_parameters(&mut ck.model).unwrap();
        // One window (the fixture's first): cuda-sim runs each GPU thread as a CPU thread, so a step costs it
        // seconds per window; the counts do not depend on the batch.
        let (b, window) = (1, x.shape[1] * x.shape[2]);
        let first = x.data[..window].to_vec();
        let shape = [1, x.shape[1], x.shape[2]];
        let ex = Examples {
            ends: (0..b).collect(),
            class: (0..b).map(|i| i % 3).collect(),
            ret: vec![0.5; b],
            volatility: vec![-0.5; b],
            volume: vec![0.25; b],
            difficulty: Vec::new(),
        };
        let idx: Vec<usize> = (0..b).collect();
        let objective = Objective::for_config(&ck.model.config());
        let mut opt = Adam::adamw(1e-3, 1e-2);
        let mut tensors = 0;
        let mut step = |seed: u64| {
            let xt = Tensor::from_vec(first.clone(), &shape, device).unwrap();
            let pred = ck.model.forward(&xt, &Ctx::train(seed), false).unwrap().pred;
            let loss = objective.loss(&ck.model, &pred, &ex, &idx).unwrap();
            assert!(loss.item().unwrap().is_finite(), "{device} {name}: loss");
            let grads = loss.backward().unwrap();
            tensors = nn::parameters(&mut ck.model).unwrap().iter().filter(|(_, t)| grads.get(t).is_some()).count();
            count(device, || {
                let clip = clip_factor(&mut ck.model, &grads, 1.0).unwrap();
                opt.step(&mut ck.model, &grads, clip.as_ref()).unwrap();
            })
            .1
        };
        step(0);
        let (o1, c1) = count(device, || step(1));
        let (o2, c2) = count(device, || step(2));
        println!("{device} {name}: warm training step: {c1}; its optimizer part ({tensors} tensors): {o1}");
        tensor_counts.push(tensors);
        assert_eq!(c1.allocs, 0, "{device} {name}: a warm training step asked the driver for memory: {c1}");
        assert!(c1.launches > 0, "{device} {name}: no kernel launched: {c1}");
        // What goes in is the batch and its targets, nothing of the optimizer. The margin (32 values per window)
        // also covers the LSTM's zero initial states, which it still uploads per call (76 bytes for
        // lstm_attention_a: a memset on the device would save that copy).
        let batch_bytes = 4 * first.len() as u64;
        assert!(
            c1.htod_bytes >= batch_bytes && c1.htod_bytes <= batch_bytes + 128 * b as u64,
            "{device} {name}: a warm training step uploaded more than its batch ({batch_bytes} bytes) and targets: {c1}"
        );
        // The optimizer and the clip decision stay on the device: the only read back is the loss scalar.
        assert_eq!(c1.dtoh_bytes, 4, "{device} {name}: a warm training step read back more than its loss: {c1}");
        assert_eq!(c1, c2, "{device} {name}: two warm training steps differ in driver calls");
        assert_eq!(o1, o2, "{device} {name}: two warm optimizer steps differ in driver calls");
        let (launches, copies) = optimizer_calls(device, tensors);
        assert_eq!(
            (o1.launches, o1.copies, o1.allocs, o1.htod_bytes, o1.dtoh_bytes, o1.syncs),
            (launches, copies, 0, 0, 0, 0),
            "{device} {name}: the optimizer part of a warm step over {tensors} tensors: {o1}"
        );
    }
    // The four models have different numbers of parameter tensors, and the same optimizer launches.
    tensor_counts.sort();
    tensor_counts.dedup();
    assert!(tensor_counts.len() > 1, "{device}: the models should differ in tensor count: {tensor_counts:?}");
}
