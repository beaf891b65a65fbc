//! The batch features of [`crate::data::compute_features`], one bar at a time, for serving (docs/MODELS.md,
//! Streaming: no train/serve skew).
//!
//! - [`features`]: every feature column, updated per bar ([`FeatureStream`], fed [`Bar`]s).
//! - [`indicators`]: the TA-Lib indicators as per-bar state machines, bit for bit the batch code's arithmetic.
//! - [`window`]: fixed-size trailing-window state (rings, compensated windowed sums and moments, monotonic
//!   max/min deques); nothing allocates per push.

pub mod features;
pub mod indicators;
pub mod window;

pub use features::{Bar, BarReject, FeatureStream};
