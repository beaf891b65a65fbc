//! Serving: bars arrive one at a time and each gets the prediction for its trailing window, equal to `predict`
//! on that window (docs/MODELS.md, Streaming: no train/serve skew).
//!
//! - [`predictor`]: the per-bar model engine ([`StreamPredictor`]): O(1) ring-buffer steps for a TCN whose
//!   window covers its receptive field ([`tcn`]), the batch-1 [`plan`] of the window for the others; hot model
//!   swap.
//! - [`engine`]: raw bars in, through the incremental features ([`crate::data::incremental`]) and the
//!   checkpoint's feature list and scaler, into a predictor ([`Engine`]).
//! - [`reload`]: a checkpoint file replaced while serving is swapped in between two bars ([`CheckpointWatch`]).
//! - [`regime`]: per-regime networks (`run --per-regime`) served with each bar routed to its regime's network.
//! - [`latency`]: per-bar timing summaries for `tickgrad stream` and the benches.
//!
//! Trading on the answers (gate, risk, broker, journal, monitor) is [`crate::trade`].

pub mod engine;
pub mod latency;
pub mod plan;
pub mod predictor;
pub mod regime;
pub mod reload;
pub mod tcn;

pub use engine::{Engine, ModelInputs};
pub use latency::Latency;
pub use predictor::{Prediction, StreamPredictor};
pub use reload::CheckpointWatch;
pub use tcn::TcnStream;
