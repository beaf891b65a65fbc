//! Honest evaluation: classification, regression and trading metrics, baselines, reports.
