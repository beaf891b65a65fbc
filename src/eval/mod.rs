//! Honest evaluation: classification, regression and trading metrics, the baselines every model must beat
//! on the same bars, and the report files (`report.json`, `returns.csv`, `report.html`).

pub mod baselines;
pub mod classification;
pub mod evaluate;
pub mod horizons;
mod html;
pub mod json;
pub mod regression;
pub mod report;
pub mod stats;
pub mod trading;

pub use baselines::{standard_baselines, Baseline};
pub use classification::{
    class_to_position, classification_metrics, ClassScores, ClassificationMetrics, ConfidenceFilter, DOWN, HOLD,
    N_CLASSES, UP,
};
pub use evaluate::{calibration_bins, evaluate, CalibrationBin, EvalInputs, Evaluation};
pub use horizons::{format_horizon_table, horizon_table, parse_horizons, HorizonInputs, HorizonTable};
pub use html::{days_from_civil, fmt_utc};
pub use regression::{regression_metrics, RegressionMetrics};
pub use report::{format_table, returns_csv, write_report, ClassSummary, Metrics, RegressionSummary, Report};
pub use trading::{
    backtest, backtest_funded, simple_returns, Backtest, HeldPositions, Trade, TradingConfig, TradingMetrics,
};
