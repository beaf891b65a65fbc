//! The GPU memory contract on cuda:0 (tools/cuda-sim in CI): driver-call counters, the caching allocator (a warm
//! `predict` asks the driver for no memory) and the memory budget. The checks are in tests/devmem_support; the
//! tests skip (with the reason printed) only when libcuda or a device is absent, and `TICKGRAD_REQUIRE_CUDA=1`
//! makes that a failure.
#![cfg(feature = "cuda")]

mod common;
mod cuda_common;
mod devmem_support;

use tickgrad::device::Device;

const CUDA: Device = Device::Cuda(0);

#[test]
fn counters_match_what_was_done() {
    if cuda_common::cuda("counters_match_what_was_done").is_some() {
        devmem_support::counters_match_what_was_done(CUDA);
    }
}

#[test]
fn warm_predict_allocates_nothing() {
    if cuda_common::cuda("warm_predict_allocates_nothing").is_some() {
        devmem_support::warm_predict_allocates_nothing(CUDA);
    }
}

#[test]
fn budget_too_small_is_a_clear_error() {
    if cuda_common::cuda("budget_too_small_is_a_clear_error").is_some() {
        devmem_support::budget_too_small_is_a_clear_error(CUDA);
    }
}

#[test]
fn warm_training_step_allocates_nothing() {
    if cuda_common::cuda("warm_training_step_allocates_nothing").is_some() {
        devmem_support::warm_training_step_allocates_nothing(CUDA);
    }
}
