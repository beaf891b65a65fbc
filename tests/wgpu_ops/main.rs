//! Every op of the `Backend` op set on the wgpu device against the CPU backend (itself tested against the
//! plain-loop references and finite differences), with random inputs. Output buffers are NaN-poisoned by the
//! wgpu allocator in debug/test builds, so a kernel that skips an element fails here.
//!
//! Runs on `wgpu:0`: on CI that is Mesa's lavapipe (`apt-get install mesa-vulkan-drivers`), where shaders run
//! at well under 1 GFLOP/s, so sizes stay small. Without an adapter every test fails with the device error.
#![cfg(feature = "wgpu")]

mod common;

mod attention;
mod conv1d;
mod dropout;
mod elementwise;
mod ensemble;
mod infra;
mod layout;
mod lstm;
mod matmul;
mod norm;
mod reduce;
mod softmax;
