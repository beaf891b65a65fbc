//! The checks cuda-sim (tools/cuda-sim) adds to every CUDA test, each proven able to fail: its count of driver
//! calls agrees with what a test did through the public API; an out-of-bounds write (after the end, before the
//! start) is caught when the buffer is freed and fails the next driver call; a copy past a buffer's end is refused;
//! blocks run in a shuffled, reproducible order; shared memory, static and dynamic, is poisoned before each block.
//!
//! The counters are per process, so the tests here take one lock. They run only on the sim: on a real driver
//! (which lacks the sim's hooks) they say so and pass; on the sim without its hooks (a stale build) they fail.
#![cfg(feature = "cuda")]

mod cuda_common;

use cuda_common::sim::Sim;
use cuda_common::{cuda, down, up};
use cudarc::driver::{CudaContext, CudaFunction, CudaStream, DevicePtr, LaunchConfig, PushKernelArg};
use std::sync::{Arc, Mutex};
use tickgrad::ops::elementwise::Unary;

static LOCK: Mutex<()> = Mutex::new(());

/// The sim, or None after printing why the test does not apply (no CUDA device, or a real one).
fn sim(test: &str) -> Option<Sim> {
    cuda(test)?;
    let info = tickgrad::backend::cuda::warm_up(0).expect("warm-up");
    match Sim::get() {
        Some(s) => Some(s),
        None if info.name.starts_with("tickgrad-sim") => {
            panic!("{test}: cuda:0 is cuda-sim but lacks its test hooks: rebuild it with tools/cuda-sim/build")
        }
        None => {
            println!("{test}: SKIPPED, cuda:0 is {} (a real driver), not cuda-sim", info.name);
            None
        }
    }
}

/// A context and stream of the test's own over the same device, and one of the sim's own test kernels
/// (tools/cuda-sim/test_kernels.cu; the sim ignores the module's text and finds kernels by name).
fn sim_kernel(name: &str) -> (Arc<CudaContext>, Arc<CudaStream>, CudaFunction) {
    let ctx = CudaContext::new(0).expect("context");
    let stream = ctx.default_stream();
    let module = ctx.load_module(cudarc::nvrtc::Ptx::from_src("// cuda-sim test kernels")).expect("module");
    let f = module.load_function(name).unwrap_or_else(|e| panic!("cuda-sim test kernel {name}: {e:?}"));
    (ctx, stream, f)
}

fn cfg(blocks: u32, threads: u32, smem: u32) -> LaunchConfig {
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: smem }
}

#[test]
fn sim_counts_what_the_public_api_asked_for() {
    let Some(sim) = sim("sim_counts") else { return };
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let g = cuda("sim_counts").unwrap();
    let sizes = [5usize, 1000, 192];

    let before = sim.counts();
    let bufs: Vec<_> = sizes.iter().map(|&n| up(g, &vec![0.25f32; n])).collect();
    let after_up = sim.counts();
    assert_eq!(after_up.since(&before, "htod"), 3, "one host-to-device copy per upload");
    assert_eq!(after_up.since(&before, "htod_bytes"), 4 * sizes.iter().sum::<usize>() as u64, "bytes uploaded");
    assert!(after_up.since(&before, "allocs") <= 3, "at most one allocation per upload");
    for quiet in ["launches", "dtoh", "dtod"] {
        assert_eq!(after_up.since(&before, quiet), 0, "{quiet} during uploads");
    }

    let out = g.unary(Unary::Relu, &bufs[0]).expect("relu");
    let after_op = sim.counts();
    assert!(after_op.since(&after_up, "launches") >= 1, "a kernel call launches a kernel");
    assert!(after_op.since(&after_up, "blocks") >= after_op.since(&after_up, "launches"));
    assert_eq!(after_op.since(&after_up, "htod") + after_op.since(&after_up, "dtoh"), 0, "no copies in an op");

    let host = down(g, &out);
    assert_eq!(host, vec![0.25f32; 5]);
    let after_down = sim.counts();
    assert_eq!(after_down.since(&after_op, "dtoh"), 1, "one device-to-host copy per download");
    assert_eq!(after_down.since(&after_op, "dtoh_bytes"), 20);
    assert!(after_down.since(&after_op, "syncs") >= 1, "a download waits for the device");
    assert_eq!(after_down.since(&after_op, "launches"), 0);
    assert_eq!(sim.take_faults(), 0, "no memory faults");
}

#[test]
fn out_of_bounds_writes_fail_the_free_and_the_next_call() {
    let Some(sim) = sim("sim_guards") else { return };
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_ctx, stream, poke) = sim_kernel("tickgrad_sim_poke");
    assert_eq!(sim.take_faults(), 0, "no fault before the test");
    // An 8-float buffer: index 7 is its last element, 8 the first past its end, -1 just before its start, 100
    // well past the end (beyond the rounding to 256 bytes, inside the trailing guard).
    for (offset, faulty) in [(7i64, false), (8, true), (-1, true), (100, true)] {
        let before = sim.counts();
        let mut buf = stream.alloc_zeros::<f32>(8).expect("alloc");
        let mut launch = stream.launch_builder(&poke);
        launch.arg(&mut buf).arg(&offset).arg(&3.0f32);
        // SAFETY: tickgrad_sim_poke(float*, long long, float) writes one float at p[offset] in host memory owned
        // by the sim: in bounds, or inside the guard bytes the sim keeps around every buffer (256 before, at least
        // 256 after), which is the fault under test. Only the sim has this kernel.
        unsafe { launch.launch(cfg(1, 32, 0)) }.expect("launch");
        if !faulty {
            assert_eq!(stream.clone_dtoh(&buf).expect("download")[7], 3.0, "the kernel ran");
        }
        drop(buf);
        let after = sim.counts();
        assert_eq!((after.since(&before, "allocs"), after.since(&before, "frees")), (1, 1), "offset {offset}");
        // cudarc keeps the free's error and returns it from the next call on the context.
        let next = stream.synchronize();
        if faulty {
            let err = format!("{:?}", next.expect_err("an out-of-bounds write must fail the next call"));
            assert!(err.contains("ILLEGAL_ADDRESS"), "offset {offset}: {err}");
            assert_eq!(after.since(&before, "guard_faults"), 1, "offset {offset}");
            assert_eq!(sim.take_faults(), 1, "offset {offset}: one fault");
        } else {
            next.expect("an in-bounds write is fine");
            assert_eq!(sim.take_faults(), 0, "offset {offset}: no fault");
        }
    }
}

#[test]
fn copies_past_a_buffer_are_refused() {
    let Some(sim) = sim("sim_bounds") else { return };
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_ctx, stream, _) = sim_kernel("tickgrad_sim_poke");
    let buf = stream.alloc_zeros::<f32>(8).expect("alloc");
    let (ptr, _sync) = buf.device_ptr(&stream);
    for (start, bytes, ok) in [(0u64, 32usize, true), (4, 28, true), (0, 33, false), (28, 8, false)] {
        // SAFETY: a memset of the sim's host memory; the out-of-range cases are what the sim must refuse before
        // writing anything (it checks the range against its allocation table).
        let r = unsafe { cudarc::driver::sys::cuMemsetD8_v2(ptr + start, 0, bytes) }.result();
        assert_eq!(r.is_ok(), ok, "memset of {bytes} bytes at +{start}: {r:?}");
        assert_eq!(sim.take_faults(), u64::from(!ok), "memset of {bytes} bytes at +{start}");
    }
}

#[test]
fn blocks_run_in_a_shuffled_reproducible_order() {
    let Some(sim) = sim("sim_block_order") else { return };
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_ctx, stream, f) = sim_kernel("tickgrad_sim_block_order");
    let run = || {
        let mut order = stream.alloc_zeros::<i32>(64).expect("alloc");
        let mut next = stream.alloc_zeros::<i32>(1).expect("alloc");
        let mut launch = stream.launch_builder(&f);
        launch.arg(&mut order).arg(&mut next);
        // SAFETY: tickgrad_sim_block_order(int*, int*) writes one int per block (64 blocks) into `order` and
        // counts in next[0].
        unsafe { launch.launch(cfg(64, 32, 0)) }.expect("launch");
        stream.clone_dtoh(&order).expect("download")
    };
    let (first, second) = (run(), run());
    let mut sorted = first.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..64).collect::<Vec<i32>>(), "every block ran once: {first:?}");
    assert_eq!(first, second, "the same launch runs its blocks in the same order");
    let in_order = std::env::var("CUDA_SIM_SEED").is_ok_and(|v| v == "off");
    assert_eq!(first == sorted, in_order, "blocks shuffled unless CUDA_SIM_SEED=off: {first:?}");
    assert_eq!(sim.take_faults(), 0);
}

#[test]
fn shared_memory_is_poisoned_before_every_block() {
    let Some(sim) = sim("sim_shared_poison") else { return };
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_ctx, stream, f) = sim_kernel("tickgrad_sim_shared_probe");
    let blocks = 4;
    let mut seen_static = stream.alloc_zeros::<u32>(64 * blocks).expect("alloc");
    let mut seen_dynamic = stream.alloc_zeros::<u32>(64 * blocks).expect("alloc");
    let mut launch = stream.launch_builder(&f);
    launch.arg(&mut seen_static).arg(&mut seen_dynamic);
    // SAFETY: tickgrad_sim_shared_probe(unsigned*, unsigned*) writes 64 words per block into each buffer, which
    // hold 64 per block, and uses 64 floats of dynamic shared memory (256 bytes given).
    unsafe { launch.launch(cfg(blocks as u32, 64, 256)) }.expect("launch");
    // Every block overwrites both with 1.0 after reading, so a block that found no poison saw another's data.
    for (what, buf) in [("static", &seen_static), ("dynamic", &seen_dynamic)] {
        let bits = stream.clone_dtoh(buf).expect("download");
        assert!(bits.iter().all(|&b| b == u32::MAX), "{what} shared memory at block start: {bits:x?}");
    }
    assert_eq!(sim.take_faults(), 0);
}

/// The backend's own driver-call counters (`backend::counters`) against the sim's independent count, over a cold
/// and a warm training step of a small TCN (forward, loss, backward, device clip factor, AdamW on the device) and a
/// `predict`: kernel launches, driver allocations, the bytes copied each way and the synchronisations must agree
/// exactly (measured: 107 launches, 82 then 0 allocations, 2 syncs per round).
#[test]
fn backend_counters_agree_with_the_sims() {
    use tickgrad::device::Device;
    use tickgrad::models::checkpoint;
    use tickgrad::nn::{self, Ctx};
    use tickgrad::optim::{clip_factor, Adam, Optimizer};
    use tickgrad::tensor::Tensor;
    use tickgrad::train::{Examples, Objective};
    let Some(sim) = sim("backend_counters_agree_with_the_sims") else { return };
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dev = Device::Cuda(0);
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tcn_b.safetensors");
    let mut ck = checkpoint::load(&path, dev).expect("load");
    nn::track_parameters(&mut ck.model).unwrap();
    let nf = ck.model.config().n_features();
    let (t, b) = (13, 2);
    let x: Vec<f32> = (0..b * t * nf).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    let ex = Examples {
        ends: (0..b).collect(),
        class: vec![0, 2],
        ret: vec![0.3, -0.2],
        volatility: vec![0.1, 0.2],
        volume: vec![-0.4, 0.5],
        difficulty: Vec::new(),
    };
    let objective = Objective::for_config(&ck.model.config());
    let mut opt = Adam::adamw(1e-3, 1e-2);
    for round in 0..2 {
        let (ours0, sims0) = (tickgrad::backend::counters(dev).unwrap(), sim.counts());
        let xt = Tensor::from_vec(x.clone(), &[b, t, nf], dev).unwrap();
        let pred = ck.model.forward(&xt, &Ctx::train(round), false).unwrap().pred;
        let loss = objective.loss(&ck.model, &pred, &ex, &[0, 1]).unwrap();
        assert!(loss.item().unwrap().is_finite());
        let grads = loss.backward().unwrap();
        let clip = clip_factor(&mut ck.model, &grads, 1.0).unwrap();
        opt.step(&mut ck.model, &grads, clip.as_ref()).unwrap();
        drop((grads, loss, pred, xt, clip));
        let y = ck.model.predict(&Tensor::from_vec(x.clone(), &[b, t, nf], dev).unwrap()).unwrap();
        assert!(y.to_vec().unwrap().iter().all(|v| v.is_finite()));
        let (ours, sims) = (tickgrad::backend::counters(dev).unwrap().since(&ours0), sim.counts());
        println!(
            "round {round}: backend {ours}; sim launches={} allocs={} htod_bytes={} dtoh_bytes={} syncs={}",
            sims.since(&sims0, "launches"),
            sims.since(&sims0, "allocs"),
            sims.since(&sims0, "htod_bytes"),
            sims.since(&sims0, "dtoh_bytes"),
            sims.since(&sims0, "syncs")
        );
        assert_eq!(ours.launches, sims.since(&sims0, "launches"), "round {round}: launches");
        assert_eq!(ours.allocs, sims.since(&sims0, "allocs"), "round {round}: driver allocations");
        assert_eq!(ours.htod_bytes, sims.since(&sims0, "htod_bytes"), "round {round}: host-to-device bytes");
        assert_eq!(ours.dtoh_bytes, sims.since(&sims0, "dtoh_bytes"), "round {round}: device-to-host bytes");
        assert_eq!(ours.syncs, sims.since(&sims0, "syncs"), "round {round}: synchronisations");
        assert_eq!(ours.copies, sims.since(&sims0, "dtod"), "round {round}: device-to-device copies");
        if round == 1 {
            assert_eq!(ours.allocs, 0, "a warm step and predict allocate nothing");
        }
    }
}
