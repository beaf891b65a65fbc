//! Market data in: OHLCV loading and validation, indicators and features, labels, splits.
