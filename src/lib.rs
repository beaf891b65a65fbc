//! tickgrad: hand-written compute kernels, a small reverse-mode autodiff and the model family of docs/MODELS.md
//! for trading time series. See docs/DESIGN.md for the map.

pub mod autodiff;
pub mod backend;
pub mod cli;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod explain;
pub mod feed;
pub mod io;
pub mod models;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod pipeline;
pub mod rng;
pub mod serve;
pub mod store;
pub mod tensor;
pub mod trade;
pub mod train;

pub use device::Device;
pub use error::{Error, Result};
pub use tensor::Tensor;
