//! Streaming inference: bars arrive one at a time and each gets the prediction for its trailing window, equal to
//! `predict` on that window (MODELS.md, Streaming: no train/serve skew).
//!
//! - [`features`]: every feature column of `data::compute_features`, updated per bar ([`FeatureStream`]).
//! - [`predictor`]: the per-bar model engine ([`Predictor`]): O(1) ring-buffer steps for a TCN whose window
//!   covers its receptive field ([`tcn`]), a batch-1 window forward for the others; hot model swap.
//! - [`engine`]: the two joined with the checkpoint's feature list and scaler ([`Engine`]).
//! - [`reload`]: a checkpoint file replaced while serving is swapped in between two bars ([`CheckpointWatch`]).
//! - [`latency`]: per-bar timing summaries for `tickgrad stream` and the benches.
//! - [`trader`]: serving with decisions: the ensemble [`gate`], [`risk`] limits, a [`broker`] filling paper
//!   orders at the next open, a crash-safe [`journal`], and the [`monitor`] (rolling accuracy, Sharpe,
//!   calibration, drift) exported by [`metrics_http`] as Prometheus text.

pub mod broker;
pub mod engine;
pub mod features;
pub mod gate;
pub mod indicators;
pub mod journal;
pub mod latency;
pub mod metrics_http;
pub mod monitor;
pub mod plan;
pub mod predictor;
pub mod reload;
pub mod risk;
pub mod tcn;
pub mod trader;
pub mod window;

pub use engine::{Engine, ModelInputs};
pub use features::{Bar, FeatureStream};
pub use latency::Latency;
pub use predictor::{Prediction, Predictor};
pub use reload::CheckpointWatch;
pub use tcn::TcnStream;
pub use trader::{Trader, TraderConfig};
