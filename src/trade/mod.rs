//! Paper trading on the serving engine's answers ([`Trader`]): the ensemble [`gate`], [`risk`] limits, a
//! [`broker`] filling paper orders at the next open, a crash-safe [`journal`], and the [`monitor`] (rolling
//! accuracy, Sharpe, calibration, drift) exported by [`metrics_http`] as Prometheus text.

pub mod broker;
pub mod by_symbol;
pub mod gate;
pub mod journal;
pub mod ledger;
pub mod metrics_http;
pub mod monitor;
pub mod risk;
pub mod trader;

pub use trader::{Trader, TraderConfig};
