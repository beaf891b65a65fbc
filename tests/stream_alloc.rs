//! The O(1) TCN path allocates nothing per bar: a counting global allocator watches 200 pushes after warm-up.
//! (The recompute path allocates inside `predict`; the predictor docs say so, and this test does not cover it.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tickgrad::device::Device;
use tickgrad::models::{Model, ModelConfig};
use tickgrad::rng::Rng;
use tickgrad::stream::Predictor;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn tcn_step_allocates_nothing_per_bar() {
    let cfg = ModelConfig::seed("tcn", 10).unwrap();
    let m = Arc::new(Model::new(&cfg, 0, Device::Cpu).unwrap());
    let mut p = Predictor::new(m, 1021).unwrap();
    assert!(p.is_incremental());
    let mut r = Rng::new(1);
    let rows: Vec<f32> = (0..1300 * 10).map(|_| r.normal() as f32).collect();
    let mut chunks = rows.chunks(10);
    for row in chunks.by_ref().take(1100) {
        p.push(row).unwrap();
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut acc = 0.0f32;
    for row in chunks {
        acc += p.push(row).unwrap().expect("window full").values[0];
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert!(acc.is_finite());
    assert_eq!(allocs, 0, "{allocs} allocations in 200 bars");

    // the counter does count: the recompute path (W below the receptive field) allocates in `predict`
    let mut q = Predictor::new(p.model().clone(), 256).unwrap();
    for row in rows.chunks(10).take(256) {
        q.push(row).unwrap();
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    q.push(&rows[..10]).unwrap();
    assert!(ALLOCS.load(Ordering::Relaxed) > before);
}
