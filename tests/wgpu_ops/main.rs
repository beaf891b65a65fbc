//! The wgpu device plumbing itself (adapter errors, transfers, poisoning, storage from another device). Every op
//! of the `Backend` op set is checked on wgpu:0 against the CPU backend by the device tests of its family, in
//! src/ops/<family>/tests.rs (`cargo test --all-features --lib`).
//!
//! Runs on `wgpu:0`: on CI that is Mesa's lavapipe (`apt-get install mesa-vulkan-drivers`). Without an adapter
//! every test fails with the device error.
#![cfg(feature = "wgpu")]

mod common;

mod infra;
