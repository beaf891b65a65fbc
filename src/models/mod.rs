//! The model family of docs/MODELS.md, plus the boosted-trees ensemble member.

pub mod body;
pub mod checkpoint;
pub mod config;
pub mod gbdt;
mod lstm_attention;
mod model;
mod multitask;
pub mod pretrained;
mod tcn;
mod transformer;

pub use config::ModelConfig;
pub use lstm_attention::LstmAttention;
pub use model::{Model, Output};
pub use multitask::MultiTask;
pub use tcn::Tcn;
pub use transformer::Transformer;
