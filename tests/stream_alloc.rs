//! No allocation per bar (MODELS.md, Streaming): a counting global allocator watches pushes after warm-up, for the
//! O(1) TCN step and for every model's recompute path (its batch-1 plan). Counts are per thread, so tests
//! running beside each other do not disturb one another; the plans run on the calling thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use tickgrad::device::Device;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::rng::Rng;
use tickgrad::stream::Predictor;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // try_with: during thread teardown the slot may be gone; such allocations are not a bar's.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `bars` pushes of rows after the window has been filled once (and one more bar, so that
/// lazily sized buffers anywhere have been sized).
fn allocs_per_push(p: &mut Predictor, bars: usize) -> usize {
    let f = p.features();
    let mut r = Rng::new(1);
    let rows: Vec<f32> = (0..(p.window() + 1 + bars) * f).map(|_| r.normal() as f32).collect();
    let mut chunks = rows.chunks(f);
    for row in chunks.by_ref().take(p.window() + 1) {
        p.push(row).unwrap();
    }
    let before = allocs();
    let mut acc = 0.0f32;
    for row in chunks {
        acc += p.push(row).unwrap().expect("window full").values[0];
    }
    assert!(acc.is_finite());
    allocs() - before
}

#[test]
fn tcn_step_allocates_nothing_per_bar() {
    let cfg = ModelConfig::seed("tcn", 10).unwrap();
    let m = Arc::new(Model::new(&cfg, 0, Device::Cpu).unwrap());
    let mut p = Predictor::new(m, 1021).unwrap();
    assert!(p.is_incremental());
    assert_eq!(allocs_per_push(&mut p, 200), 0);
}

#[test]
fn recompute_plans_allocate_nothing_per_bar() {
    let configs = [
        r#"{"kind":"transformer","n_features":6,"d_model":32,"nhead":4,"num_layers":2,"dim_feedforward":48}"#,
        r#"{"kind":"transformer","n_features":6,"d_model":16,"nhead":2,"num_layers":1,"pooling":"mean","causal":true}"#,
        r#"{"kind":"lstm_attention","n_features":4,"hidden_size":24,"num_layers":2,"bidirectional":true}"#,
        r#"{"kind":"tcn","n_features":5,"channels":[8,8,12],"kernel_size":3}"#,
        r#"{"kind":"multitask","n_features":4,"channels":16,"n_blocks":2,"kernel_size":3,"head_hidden":10}"#,
    ];
    for json in configs {
        let cfg = ModelConfig::from_json(json, "alloc test").unwrap();
        let m = Arc::new(Model::new(&cfg, 0, Device::Cpu).unwrap());
        let mut p = Predictor::new(m, 10).unwrap();
        assert!(!p.is_incremental(), "{json}: W = 10 is below every receptive field here");
        let n = allocs_per_push(&mut p, 50);
        assert_eq!(n, 0, "{json}: {n} allocations in 50 bars");
    }
}

#[test]
fn the_counter_counts() {
    let before = allocs();
    let v: Vec<u64> = std::hint::black_box(vec![1, 2, 3]);
    assert!(allocs() > before && v.len() == 3);
}
