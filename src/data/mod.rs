//! Market data in: OHLCV loading and validation, indicators and features (whole series, or per bar in
//! [`incremental`]), labels, splits, scaling and windows.
//!
//! Data flows one way: CSV ([`load_csv`]) → [`Bars`] → [`compute_features`] → [`Scaler`] → [`WindowSampler`],
//! with [`make_labels`] and the split functions cutting the same row axis. docs/DATA.md is the contract.

pub mod csv;
pub mod drift;
pub mod features;
pub mod frame_csv;
pub mod funding;
pub mod incremental;
pub mod indicators;
pub mod labels;
pub mod ohlcv;
pub mod regime;
pub mod rolling;
pub mod scaler;
pub mod splits;
pub mod windows;

pub use csv::{load_csv, parse_csv_bytes, parse_csv_str, FUNDING_RATE, MAX_FUNDING_RATE, REQUIRED_COLUMNS};
pub use drift::{DriftReference, FeatureBins};
pub use features::{compute_features, model_feature_names, FeatureConfig, FeatureFrame};
pub use frame_csv::{read_features_csv, write_features_csv};
pub use funding::funding_per_bar;
pub use labels::{make_labels, Labels};
pub use ohlcv::{Bars, GapReport};
pub use regime::{apply_regime, fit_regime_thresholds, RegimeThresholds};
pub use scaler::{Scaler, ScalerKind};
pub use splits::{
    chronological_split, out_of_sample_range, purged_kfold, walk_forward, Embargo, Fold, PurgedFold, Split,
    SplitFractions, TrainWindow, WalkForward,
};
pub use windows::{valid_ends, WindowSampler};
