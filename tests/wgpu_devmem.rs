//! The GPU memory contract on wgpu:0 (Mesa lavapipe in CI): driver-call counters, the caching allocator (a warm
//! `predict` creates no buffer) and the memory budget. The checks are in tests/devmem_support.
#![cfg(feature = "wgpu")]

mod common;
mod devmem_support;

use tickgrad::device::Device;

const WGPU: Device = Device::Wgpu(0);

fn require_wgpu() {
    if let Err(e) = tickgrad::backend::ensure_available(WGPU) {
        panic!("wgpu:0 is needed for these tests (without a GPU: apt-get install mesa-vulkan-drivers): {e}");
    }
}

#[test]
fn counters_match_what_was_done() {
    require_wgpu();
    devmem_support::counters_match_what_was_done(WGPU);
}

#[test]
fn warm_predict_allocates_nothing() {
    require_wgpu();
    devmem_support::warm_predict_allocates_nothing(WGPU);
}

#[test]
fn budget_too_small_is_a_clear_error() {
    require_wgpu();
    devmem_support::budget_too_small_is_a_clear_error(WGPU);
}

#[test]
fn warm_training_step_allocates_nothing() {
    require_wgpu();
    devmem_support::warm_training_step_allocates_nothing(WGPU);
}
