//! tickgrad: hand-written compute kernels, a small reverse-mode autodiff and the model family of MODELS.md
//! for trading time series. See DESIGN.md for the map.

pub mod error;
pub mod io;
pub use error::{Error, Result};

pub mod data;
pub mod ops;
pub mod models;
pub mod eval;
pub mod cli;
