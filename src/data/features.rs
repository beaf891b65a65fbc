//! The feature table docs/DATA.md names, computed from validated bars.
//!
//! Every column is causal: its value at row `t` reads bars `0..=t` only (tests append and alter future bars and
//! compare earlier rows bitwise). Rows where a column is still warming up are `NaN`; each column warms up on its
//! own schedule, and [`FeatureFrame::first_valid_row`] says from which row a chosen set is complete.
//!
//! Columns (names carry their parameters; shown with the defaults):
//! - TA-Lib indicators: `rsi_14`, `macd_12_26_9`, `macd_signal_12_26_9`, `macd_hist_12_26_9`, `bb_upper_20_2`,
//!   `bb_middle_20_2`, `bb_lower_20_2`, `atr_14`, `obv`, `stoch_slowk_14_3_3`, `stoch_slowd_14_3_3`, `vwap_cum`,
//!   `vwap_roll_14` (see [`super::indicators`]).
//! - returns and volatility: `ret_<n>` = `ln(c[t] / c[t−n])` for n in 1, 5, 15, 30, 60; `rv_24` = sqrt of the sum of
//!   the last 24 squared one-bar log returns.
//! - volume and flow: `log_volume` = ln(1 + volume) (the 1 keeps zero-volume bars finite); `volume_z_24` = z-score
//!   of `log_volume` over the last 24 bars; `trade_intensity` = trades per bar and `trade_intensity_z_24` = the
//!   z-score of ln(1 + trades), both only when the bars have a `trades` column; `order_flow_imbalance` =
//!   (2·taker_buy_base_volume − volume)/volume (0 on a bar without volume), only when the bars have
//!   `taker_buy_base_volume`; `volume_profile_24_<j>` for j in 0..5 (rule in [`super::rolling::volume_profile`]).
//! - scale-free versions of the price-level indicators, for models: `rsi_scaled_14` = (rsi − 50)/50,
//!   `macd_rel_12_26_9` / `macd_signal_rel_12_26_9` / `macd_hist_rel_12_26_9` = line / close, `bb_pos_20_2` =
//!   (close − lower)/(upper − lower) (0.5 when the bands touch), `bb_width_20_2` = (upper − lower)/middle,
//!   `atr_rel_14` = atr / close, `vwap_dev_14` = ln(close / vwap_roll_14).
//! - regime: `er_24` (efficiency ratio), `rv_ratio_24_120` (volatility ratio) and `regime` (0 trending,
//!   1 ranging, 2 volatile; rule and fitting in [`super::regime`]).
//!
//! Order-book features (`bid_ask_spread`, `depth_imbalance`) need quote data: bar files carry none, so they are
//! not computed here; they belong to a quotes-file reader, which does not exist yet.

use super::indicators;
use super::ohlcv::Bars;
use super::regime::{self, RegimeThresholds};
use super::rolling;
use crate::{Error, Result};

/// Parameters of every feature. The defaults are the periods docs/DATA.md names.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureConfig {
    pub rsi_period: usize,
    pub macd_fast: usize,
    pub macd_slow: usize,
    pub macd_signal: usize,
    pub bb_period: usize,
    pub bb_dev: f64,
    pub atr_period: usize,
    pub stoch_fastk: usize,
    pub stoch_slowk: usize,
    pub stoch_slowd: usize,
    pub vwap_window: usize,
    /// Lags of the `ret_<n>` log returns.
    pub return_lags: Vec<usize>,
    /// Window of `rv_<n>` and the short side of the volatility ratio.
    pub rv_window: usize,
    /// Window of the volume and trade-count z-scores.
    pub volume_window: usize,
    pub profile_window: usize,
    pub profile_buckets: usize,
    /// Window of the efficiency ratio `er_<n>`.
    pub er_window: usize,
    /// Long side of the volatility ratio `rv_ratio_<rv_window>_<n>`.
    pub vol_long_window: usize,
    /// Cut-offs of the `regime` column; fit the volatility one on training rows ([`regime::fit_regime_thresholds`]).
    pub regime: RegimeThresholds,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            rsi_period: 14,
            macd_fast: 12,
            macd_slow: 26,
            macd_signal: 9,
            bb_period: 20,
            bb_dev: 2.0,
            atr_period: 14,
            stoch_fastk: 14,
            stoch_slowk: 3,
            stoch_slowd: 3,
            vwap_window: 14,
            return_lags: vec![1, 5, 15, 30, 60],
            rv_window: 24,
            volume_window: 24,
            profile_window: 24,
            profile_buckets: 5,
            er_window: 24,
            vol_long_window: 120,
            regime: RegimeThresholds::default(),
        }
    }
}

impl FeatureConfig {
    /// Periods the indicator functions do not check themselves (those report their own errors).
    fn validate(&self) -> Result<()> {
        let windows = [
            ("rv_window", self.rv_window, 1),
            ("volume_window", self.volume_window, 2),
            ("profile_window", self.profile_window, 1),
            ("profile_buckets", self.profile_buckets, 1),
            ("er_window", self.er_window, 1),
        ];
        for (field, v, min) in windows {
            if v < min {
                return Err(Error::config(field, format!("expected a value >= {min}, found {v}")));
            }
        }
        if self.vol_long_window <= self.rv_window {
            return Err(Error::config(
                "vol_long_window",
                format!("expected a window longer than rv_window ({}), found {}", self.rv_window, self.vol_long_window),
            ));
        }
        if let Some(&bad) = self.return_lags.iter().find(|&&l| l == 0) {
            return Err(Error::config("return_lags", format!("expected lags >= 1, found {bad}")));
        }
        Ok(())
    }
}

/// Features by column, aligned with the bars they came from: `columns[j][i]` is feature `names[j]` at bar
/// `timestamp[i]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureFrame {
    pub timestamp: Vec<i64>,
    pub names: Vec<String>,
    pub columns: Vec<Vec<f64>>,
}

impl FeatureFrame {
    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamp.is_empty()
    }

    /// Checks `rows` as the rows a statistic is fitted on: non-empty and within the frame, else an error that
    /// names the fit and the range (`what`: "training range", "row range").
    pub fn check_fit_rows(&self, fit: &str, what: &str, rows: &std::ops::Range<usize>) -> Result<()> {
        if rows.start >= rows.end || rows.end > self.len() {
            return Err(Error::Invalid(format!(
                "{fit}: expected a non-empty {what} within 0..{}, found {}..{}",
                self.len(),
                rows.start,
                rows.end
            )));
        }
        Ok(())
    }

    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.names.iter().position(|n| n == name).map(|j| self.columns[j].as_slice())
    }

    /// Append a column, refusing a duplicate name or a wrong length.
    pub fn push(&mut self, name: impl Into<String>, values: Vec<f64>) -> Result<()> {
        let name = name.into();
        if self.names.contains(&name) {
            return Err(Error::Invalid(format!("feature `{name}` is already in the frame")));
        }
        if values.len() != self.len() {
            return Err(Error::shape(format!("feature `{name}`"), [self.len()], [values.len()]));
        }
        self.names.push(name);
        self.columns.push(values);
        Ok(())
    }

    /// The first row from which every column in `names` is finite, i.e. where their warm-ups are all over.
    /// `Ok(None)` when no row qualifies; an error for a name the frame lacks.
    pub fn first_valid_row(&self, names: &[String]) -> Result<Option<usize>> {
        let cols = names
            .iter()
            .map(|n| self.column(n).ok_or_else(|| Error::Invalid(format!("feature `{n}` is not in the frame"))))
            .collect::<Result<Vec<_>>>()?;
        Ok((0..self.len()).find(|&i| cols.iter().all(|c| c[i].is_finite())))
    }
}

/// Compute every feature in the module docs. Errors on invalid periods or ragged bars; never panics.
pub fn compute_features(bars: &Bars, cfg: &FeatureConfig) -> Result<FeatureFrame> {
    bars.check_aligned()?;
    cfg.validate()?;
    let (h, l, c, v) = (&bars.high[..], &bars.low[..], &bars.close[..], &bars.volume[..]);
    let mut f = FeatureFrame { timestamp: bars.timestamp.clone(), names: Vec::new(), columns: Vec::new() };

    let rsi = indicators::rsi(c, cfg.rsi_period)?;
    let macd = indicators::macd(c, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)?;
    let bb = indicators::bbands(c, cfg.bb_period, cfg.bb_dev, cfg.bb_dev)?;
    let atr = indicators::atr(h, l, c, cfg.atr_period)?;
    let stoch = indicators::stoch(h, l, c, cfg.stoch_fastk, cfg.stoch_slowk, cfg.stoch_slowd)?;
    let vwap_roll = indicators::vwap_roll(h, l, c, v, cfg.vwap_window)?;
    let m = format!("{}_{}_{}", cfg.macd_fast, cfg.macd_slow, cfg.macd_signal);
    let b = format!("{}_{}", cfg.bb_period, cfg.bb_dev);
    let s = format!("{}_{}_{}", cfg.stoch_fastk, cfg.stoch_slowk, cfg.stoch_slowd);

    f.push(format!("rsi_{}", cfg.rsi_period), rsi.clone())?;
    f.push(format!("macd_{m}"), macd.macd.clone())?;
    f.push(format!("macd_signal_{m}"), macd.signal.clone())?;
    f.push(format!("macd_hist_{m}"), macd.hist.clone())?;
    f.push(format!("bb_upper_{b}"), bb.upper.clone())?;
    f.push(format!("bb_middle_{b}"), bb.middle.clone())?;
    f.push(format!("bb_lower_{b}"), bb.lower.clone())?;
    f.push(format!("atr_{}", cfg.atr_period), atr.clone())?;
    f.push("obv", indicators::obv(c, v)?)?;
    f.push(format!("stoch_slowk_{s}"), stoch.slowk.clone())?;
    f.push(format!("stoch_slowd_{s}"), stoch.slowd.clone())?;
    f.push("vwap_cum", indicators::vwap_cum(h, l, c, v)?)?;
    f.push(format!("vwap_roll_{}", cfg.vwap_window), vwap_roll.clone())?;

    for &lag in &cfg.return_lags {
        f.push(format!("ret_{lag}"), rolling::log_return(c, lag))?;
    }
    f.push(format!("rv_{}", cfg.rv_window), rolling::realised_vol(c, cfg.rv_window))?;

    let log_volume: Vec<f64> = v.iter().map(|x| x.ln_1p()).collect();
    let volume_z = rolling::rolling_z(&log_volume, cfg.volume_window);
    f.push("log_volume", log_volume)?;
    f.push(format!("volume_z_{}", cfg.volume_window), volume_z)?;
    if let Some(trades) = bars.column("trades") {
        let log_trades: Vec<f64> = trades.iter().map(|x| x.ln_1p()).collect();
        f.push("trade_intensity", trades.to_vec())?;
        f.push(format!("trade_intensity_z_{}", cfg.volume_window), rolling::rolling_z(&log_trades, cfg.volume_window))?;
    }
    if let Some(taker) = bars.column("taker_buy_base_volume") {
        let ofi = taker.iter().zip(v).map(|(&tb, &vol)| if vol != 0.0 { (2.0 * tb - vol) / vol } else { 0.0 });
        f.push("order_flow_imbalance", ofi.collect())?;
    }
    let profile = rolling::volume_profile(h, l, c, v, cfg.profile_window, cfg.profile_buckets);
    for (j, col) in profile.into_iter().enumerate() {
        f.push(format!("volume_profile_{}_{j}", cfg.profile_window), col)?;
    }

    let per_close = |x: &[f64]| x.iter().zip(c).map(|(a, cl)| a / cl).collect::<Vec<f64>>();
    f.push(format!("rsi_scaled_{}", cfg.rsi_period), rsi.iter().map(|r| (r - 50.0) / 50.0).collect())?;
    f.push(format!("macd_rel_{m}"), per_close(&macd.macd))?;
    f.push(format!("macd_signal_rel_{m}"), per_close(&macd.signal))?;
    f.push(format!("macd_hist_rel_{m}"), per_close(&macd.hist))?;
    let pos = (0..c.len()).map(|i| {
        let width = bb.upper[i] - bb.lower[i];
        if width > 0.0 {
            (c[i] - bb.lower[i]) / width
        } else if width == 0.0 {
            0.5
        } else {
            f64::NAN
        }
    });
    f.push(format!("bb_pos_{b}"), pos.collect())?;
    f.push(format!("bb_width_{b}"), (0..c.len()).map(|i| (bb.upper[i] - bb.lower[i]) / bb.middle[i]).collect())?;
    f.push(format!("atr_rel_{}", cfg.atr_period), per_close(&atr))?;
    f.push(format!("vwap_dev_{}", cfg.vwap_window), c.iter().zip(&vwap_roll).map(|(cl, w)| (cl / w).ln()).collect())?;

    let er = rolling::efficiency_ratio(c, cfg.er_window);
    let vr = rolling::vol_ratio(c, cfg.rv_window, cfg.vol_long_window);
    let reg: Vec<f64> = er.iter().zip(&vr).map(|(&e, &r)| regime::classify(e, r, &cfg.regime)).collect();
    f.push(format!("er_{}", cfg.er_window), er)?;
    f.push(format!("rv_ratio_{}_{}", cfg.rv_window, cfg.vol_long_window), vr)?;
    f.push("regime", reg)?;
    Ok(f)
}

/// Name prefixes of the model-input columns; see [`model_feature_names`] for the choice.
const MODEL_PREFIXES: [&str; 18] = [
    "ret_",
    "rv_",
    "rsi_scaled_",
    "macd_rel_",
    "macd_signal_rel_",
    "macd_hist_rel_",
    "bb_pos_",
    "bb_width_",
    "atr_rel_",
    "stoch_slowk_",
    "stoch_slowd_",
    "vwap_dev_",
    "volume_z_",
    "trade_intensity_z_",
    "order_flow_imbalance",
    "volume_profile_",
    "er_",
    "regime",
];

/// The subset of `frame`'s columns used as model inputs, in frame order. Columns are matched by name prefix, so
/// the periods in the names do not matter.
///
/// In: stationary or bounded columns whose scale does not drift with the price level: log returns, realised
/// volatility and its ratio, RSI rescaled to [−1, 1], MACD lines and ATR divided by the close, the position and
/// width of the Bollinger bands, the stochastics (0..100), the log distance to the rolling VWAP, volume and trade
/// z-scores, order-flow imbalance, volume-profile shares, efficiency ratio and the regime code.
/// Out: price-level columns (raw MACD, bands, ATR, both VWAPs), OBV and `log_volume` (they trend with the sample,
/// so a scaler fitted on the training years misplaces the test years), and raw `trade_intensity` (its z-score is in).
pub fn model_feature_names(frame: &FeatureFrame) -> Vec<String> {
    frame.names.iter().filter(|n| MODEL_PREFIXES.iter().any(|p| n.starts_with(p))).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize) -> Bars {
        let close: Vec<f64> = (0..n).map(|i| 100.0 + (i as f64 * 0.3).sin() * 5.0 + i as f64 * 0.05).collect();
        Bars {
            timestamp: (0..n as i64).map(|i| i * 60_000).collect(),
            open: close.clone(),
            high: close.iter().map(|c| c + 1.0).collect(),
            low: close.iter().map(|c| c - 1.0).collect(),
            volume: (0..n).map(|i| 10.0 + (i % 7) as f64).collect(),
            close,
            extra: Default::default(),
        }
    }

    #[test]
    fn optional_columns_follow_the_data() {
        let mut b = bars(200);
        let f = compute_features(&b, &FeatureConfig::default()).unwrap();
        assert!(f.column("trade_intensity").is_none() && f.column("order_flow_imbalance").is_none());
        b.extra.insert("trades".into(), vec![5.0; 200]);
        b.extra.insert("taker_buy_base_volume".into(), b.volume.iter().map(|v| v * 0.75).collect());
        let f = compute_features(&b, &FeatureConfig::default()).unwrap();
        assert_eq!(f.column("trade_intensity").unwrap()[3], 5.0);
        assert_eq!(f.column("order_flow_imbalance").unwrap()[3], 0.5);
        assert!(model_feature_names(&f).contains(&"order_flow_imbalance".to_string()));
    }

    #[test]
    fn model_subset_excludes_price_levels() {
        let f = compute_features(&bars(200), &FeatureConfig::default()).unwrap();
        let m = model_feature_names(&f);
        for bad in ["bb_upper_20_2", "macd_12_26_9", "atr_14", "obv", "vwap_cum", "log_volume", "rsi_14"] {
            assert!(!m.contains(&bad.to_string()), "{bad}");
        }
        for good in ["ret_1", "rv_24", "bb_pos_20_2", "atr_rel_14", "macd_rel_12_26_9", "regime", "volume_z_24"] {
            assert!(m.contains(&good.to_string()), "{good}");
        }
        let first = f.first_valid_row(&m).unwrap().unwrap();
        assert_eq!(first, 120, "the volatility ratio's long window is the last to warm up");
    }

    #[test]
    fn tiny_and_empty_inputs_give_nan_not_panics() {
        for n in [0, 1, 2, 30] {
            let f = compute_features(&bars(n), &FeatureConfig::default()).unwrap();
            assert_eq!(f.len(), n);
            assert!(f.column("regime").unwrap().iter().all(|x| x.is_nan()));
        }
    }

    #[test]
    fn bad_config_is_an_error() {
        let cfg = FeatureConfig { vol_long_window: 10, ..FeatureConfig::default() };
        assert!(compute_features(&bars(50), &cfg).is_err());
        let cfg = FeatureConfig { return_lags: vec![0], ..FeatureConfig::default() };
        assert!(compute_features(&bars(50), &cfg).is_err());
    }
}
