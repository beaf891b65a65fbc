//! Every column of [`crate::data::compute_features`], one bar at a time.
//!
//! [`FeatureStream::push`] takes a bar and returns its feature row, in the batch frame's column order and with
//! the batch frame's names (taken from `compute_features` itself on an empty bar set, so they cannot drift). The
//! row equals the batch `features` output for that bar: the TA-Lib indicators bit for bit (their arithmetic is
//! recursive, see [`super::indicators`]), the windowed sums and variances to the rounding of the result (within
//! 1e-9 relative; see [`super::window`] for why they are not bitwise), and the tests check every column over the
//! bundled BTC file.
//!
//! Cost per bar: O(1) amortised for every column but the volume profile, whose bucket edges move with each new
//! close, so each bar re-buckets its window: O(`profile_window`) (24 bars by default), the same loop as the batch
//! code. The windowed sums refresh from their ring every window (O(w) on that bar, O(1) amortised).

use super::indicators::{bands, typical, Atr, Macd, Obv, Rsi, Sma, Stoch};
use super::window::{Extreme, MonoDeque, Ring, WindowMoments, WindowSum};
use crate::data::{compute_features, regime, Bars, FeatureConfig};
use crate::{Error, Result};

/// Why a live bar is refused; [`BarReject::reason`] is its label in `tickgrad_rejected_bars_total{reason=...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BarReject {
    /// A NaN or infinite price, volume or optional column.
    NonFinite,
    /// A price <= 0.
    NonPositivePrice,
    NegativeVolume,
    HighBelowLow,
    /// Open or close outside [low, high].
    OutsideRange,
    /// A timestamp before the previous bar's.
    OutOfOrder,
    /// The previous bar's timestamp again.
    Duplicate,
    /// `trades` / `taker_buy_base_volume` missing, or given to a stream built without them.
    Fields,
}

impl BarReject {
    pub const ALL: [BarReject; 8] = [
        BarReject::NonFinite,
        BarReject::NonPositivePrice,
        BarReject::NegativeVolume,
        BarReject::HighBelowLow,
        BarReject::OutsideRange,
        BarReject::OutOfOrder,
        BarReject::Duplicate,
        BarReject::Fields,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            BarReject::NonFinite => "non_finite",
            BarReject::NonPositivePrice => "non_positive_price",
            BarReject::NegativeVolume => "negative_volume",
            BarReject::HighBelowLow => "high_below_low",
            BarReject::OutsideRange => "outside_range",
            BarReject::OutOfOrder => "out_of_order",
            BarReject::Duplicate => "duplicate",
            BarReject::Fields => "fields",
        }
    }
}

/// One raw bar. `trades` and `taker_buy_base_volume` must be given on every bar when the stream was built with
/// them and never otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub timestamp: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub trades: Option<f64>,
    pub taker_buy_base_volume: Option<f64>,
}

impl Bar {
    /// Bar `i` of a column-major bar set.
    pub fn from_bars(bars: &Bars, i: usize) -> Bar {
        Bar {
            timestamp: bars.timestamp[i],
            open: bars.open[i],
            high: bars.high[i],
            low: bars.low[i],
            close: bars.close[i],
            volume: bars.volume[i],
            trades: bars.column("trades").map(|c| c[i]),
            taker_buy_base_volume: bars.column("taker_buy_base_volume").map(|c| c[i]),
        }
    }
}

/// z-score of the newest value against its window, as `rolling::rolling_z`.
#[derive(Debug, Clone)]
struct RollingZ {
    m: WindowMoments,
}

impl RollingZ {
    fn new(w: usize) -> RollingZ {
        RollingZ { m: WindowMoments::new(w) }
    }

    fn push(&mut self, x: f64) -> f64 {
        self.m.push(x);
        if !self.m.is_full() || self.m.has_nonfinite() {
            return f64::NAN;
        }
        let w = self.m.window().len() as f64;
        let (mean, var) = if self.m.is_flat() {
            // the batch's own arithmetic: a flat window's mean may round away from its value
            let mean = self.m.window().iter().sum::<f64>() / w;
            (mean, self.m.window().iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / w)
        } else {
            let mean = self.m.mean();
            (mean, self.m.var_about(mean))
        };
        if var > 0.0 {
            (x - mean) / var.sqrt()
        } else if var == 0.0 {
            0.0
        } else {
            f64::NAN
        }
    }
}

/// The bars one volume-profile window needs.
#[derive(Debug, Clone)]
struct Profile {
    high: Ring,
    low: Ring,
    close: Ring,
    volume: Ring,
    share: Vec<f64>,
}

impl Profile {
    fn new(w: usize, buckets: usize) -> Profile {
        Profile {
            high: Ring::new(w),
            low: Ring::new(w),
            close: Ring::new(w),
            volume: Ring::new(w),
            share: vec![0.0; buckets],
        }
    }

    /// `rolling::volume_profile` for the newest bar, written into `out` (one value per bucket).
    fn push(&mut self, b: &Bar, out: &mut [f64]) {
        self.high.push(b.high);
        self.low.push(b.low);
        self.close.push(b.close);
        self.volume.push(b.volume);
        out.fill(f64::NAN);
        if !self.high.is_full() {
            return;
        }
        let buckets = self.share.len();
        let half = buckets as f64 / 2.0;
        let hi = self.high.iter().fold(f64::NEG_INFINITY, |a, b| a.max(b));
        let lo = self.low.iter().fold(f64::INFINITY, |a, b| a.min(b));
        let width = (hi - lo) / buckets as f64;
        self.share.fill(0.0);
        let mut total = 0.0;
        let rows = self.high.iter().zip(self.low.iter()).zip(self.close.iter()).zip(self.volume.iter());
        for (((h, l), c), v) in rows {
            let tp = (h + l + c) / 3.0;
            let pos = if width > 0.0 { ((tp - b.close) / width + half).floor() } else { half.floor() };
            let j = pos.clamp(0.0, (buckets - 1) as f64) as usize;
            self.share[j] += v;
            total += v;
        }
        if total > 0.0 {
            for (o, s) in out.iter_mut().zip(&self.share) {
                *o = s / total;
            }
        }
    }
}

/// Incremental feature state; see the module docs.
#[derive(Debug, Clone)]
pub struct FeatureStream {
    cfg: FeatureConfig,
    names: Vec<String>,
    has_trades: bool,
    has_taker: bool,
    row: Vec<f64>,
    profile_row: Vec<f64>,
    bars: usize,
    last_timestamp: Option<i64>,
    rsi: Rsi,
    macd: Macd,
    bb_mid: Sma,
    bb_var: WindowMoments,
    atr: Atr,
    obv: Obv,
    stoch: Stoch,
    vwap_pv: f64,
    vwap_v: f64,
    roll_pv: WindowSum,
    roll_v: WindowSum,
    roll_tp_max: MonoDeque,
    roll_tp_min: MonoDeque,
    closes: Ring,
    rv_short: WindowSum,
    rv_long: WindowSum,
    volume_z: RollingZ,
    trades_z: RollingZ,
    profile: Profile,
    er_path: WindowSum,
}

impl FeatureStream {
    /// A stream for bars with (or without) the optional `trades` and `taker_buy_base_volume` columns. Invalid
    /// periods are the same errors `compute_features` gives.
    pub fn new(cfg: &FeatureConfig, has_trades: bool, has_taker: bool) -> Result<FeatureStream> {
        let mut empty = Bars::default();
        if has_trades {
            empty.extra.insert("trades".into(), Vec::new());
        }
        if has_taker {
            empty.extra.insert("taker_buy_base_volume".into(), Vec::new());
        }
        let names = compute_features(&empty, cfg)?.names;
        let max_lag = cfg.return_lags.iter().copied().max().unwrap_or(1);
        Ok(FeatureStream {
            row: vec![f64::NAN; names.len()],
            profile_row: vec![f64::NAN; cfg.profile_buckets],
            names,
            has_trades,
            has_taker,
            bars: 0,
            last_timestamp: None,
            rsi: Rsi::new(cfg.rsi_period),
            macd: Macd::new(cfg.macd_fast, cfg.macd_slow, cfg.macd_signal),
            bb_mid: Sma::new(cfg.bb_period),
            bb_var: WindowMoments::new(cfg.bb_period),
            atr: Atr::new(cfg.atr_period),
            obv: Obv::default(),
            stoch: Stoch::new(cfg.stoch_fastk, cfg.stoch_slowk, cfg.stoch_slowd),
            vwap_pv: 0.0,
            vwap_v: 0.0,
            roll_pv: WindowSum::new(cfg.vwap_window),
            roll_v: WindowSum::new(cfg.vwap_window),
            roll_tp_max: MonoDeque::new(cfg.vwap_window, Extreme::Max),
            roll_tp_min: MonoDeque::new(cfg.vwap_window, Extreme::Min),
            closes: Ring::new(max_lag.max(cfg.er_window) + 1),
            rv_short: WindowSum::new(cfg.rv_window),
            rv_long: WindowSum::new(cfg.vol_long_window),
            volume_z: RollingZ::new(cfg.volume_window),
            trades_z: RollingZ::new(cfg.volume_window),
            profile: Profile::new(cfg.profile_window, cfg.profile_buckets),
            er_path: WindowSum::new(cfg.er_window),
            cfg: cfg.clone(),
        })
    }

    /// A stream for the columns `bars` has.
    pub fn for_bars(cfg: &FeatureConfig, bars: &Bars) -> Result<FeatureStream> {
        FeatureStream::new(cfg, bars.column("trades").is_some(), bars.column("taker_buy_base_volume").is_some())
    }

    /// Column names, in row order (the batch frame's order).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Bars pushed so far.
    pub fn bars(&self) -> usize {
        self.bars
    }

    /// Whether `b` may follow the bars pushed so far, without changing anything: `Err((reason, message))` for a
    /// bar the stream refuses (the rules are in the module docs of `trade::trader`). `push` refuses the same bars.
    pub fn validate(&self, b: &Bar) -> std::result::Result<(), (BarReject, String)> {
        let at = format!("bar {} (timestamp {})", self.bars, b.timestamp);
        let no = |why: BarReject, m: String| Err((why, format!("{at}: {m}")));
        for (name, v) in [("open", b.open), ("high", b.high), ("low", b.low), ("close", b.close)] {
            if !v.is_finite() {
                return no(BarReject::NonFinite, format!("`{name}` must be a positive finite price, found {v}"));
            }
            if v <= 0.0 {
                return no(BarReject::NonPositivePrice, format!("`{name}` must be a positive finite price, found {v}"));
            }
        }
        if !b.volume.is_finite() {
            return no(BarReject::NonFinite, format!("`volume` must be finite and >= 0, found {}", b.volume));
        }
        if b.volume < 0.0 {
            return no(BarReject::NegativeVolume, format!("`volume` must be finite and >= 0, found {}", b.volume));
        }
        if b.high < b.low {
            return no(BarReject::HighBelowLow, format!("high {} is below low {}", b.high, b.low));
        }
        if b.high < b.open.max(b.close) || b.low > b.open.min(b.close) {
            return no(
                BarReject::OutsideRange,
                format!("open {} and close {} must lie within [low {}, high {}]", b.open, b.close, b.low, b.high),
            );
        }
        for (name, want, got) in
            [("trades", self.has_trades, b.trades), ("taker_buy_base_volume", self.has_taker, b.taker_buy_base_volume)]
        {
            match (want, got) {
                (true, None) => return no(BarReject::Fields, format!("`{name}` is missing; the stream has it")),
                (false, Some(_)) => {
                    return no(BarReject::Fields, format!("`{name}` given, but the stream was built without it"))
                }
                (_, Some(v)) if !v.is_finite() => {
                    return no(BarReject::NonFinite, format!("`{name}` must be finite, found {v}"))
                }
                _ => {}
            }
        }
        if let Some(prev) = self.last_timestamp {
            if b.timestamp == prev {
                return no(BarReject::Duplicate, format!("repeats the previous bar's timestamp {prev}"));
            }
            if b.timestamp < prev {
                return no(
                    BarReject::OutOfOrder,
                    format!("timestamps must increase strictly, previous bar was at {prev}"),
                );
            }
        }
        Ok(())
    }

    /// The timestamp of the last bar pushed.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.last_timestamp
    }

    fn check(&mut self, b: &Bar) -> Result<()> {
        self.validate(b).map_err(|(_, m)| Error::Invalid(m))?;
        self.last_timestamp = Some(b.timestamp);
        Ok(())
    }

    /// Push the next bar; returns its feature row (NaN where a column is still warming up).
    pub fn push(&mut self, b: &Bar) -> Result<&[f64]> {
        self.check(b)?;
        let cfg = &self.cfg;
        let (h, l, c, v) = (b.high, b.low, b.close, b.volume);
        let mut out = RowWriter { row: &mut self.row, at: 0 };

        let rsi = self.rsi.push(c);
        let macd = self.macd.push(c);
        let mid = self.bb_mid.push(c);
        self.bb_var.push(c);
        let var = if !self.bb_var.is_full() {
            f64::NAN
        } else if self.bb_var.is_flat() {
            self.bb_var.window().iter().fold(0.0, |acc, x| acc + (x - mid) * (x - mid)) / cfg.bb_period as f64
        } else {
            self.bb_var.var_about(mid)
        };
        let (upper, lower) = if mid.is_nan() { (f64::NAN, f64::NAN) } else { bands(mid, var, cfg.bb_dev, cfg.bb_dev) };
        let atr = self.atr.push(h, l, c);
        let (slowk, slowd) = self.stoch.push(h, l, c);
        let tp = typical(h, l, c);
        self.vwap_pv += tp * v;
        self.vwap_v += v;
        let vwap_cum = if self.vwap_v != 0.0 { self.vwap_pv / self.vwap_v } else { f64::NAN };
        self.roll_pv.push(tp * v);
        self.roll_v.push(v);
        self.roll_tp_max.push(tp);
        self.roll_tp_min.push(tp);
        let vwap_roll = if !self.roll_v.is_full() {
            f64::NAN
        } else if self.roll_tp_max.get() == self.roll_tp_min.get() {
            // one price all window: the batch's rounding of Σ(tp·v)/Σv decides whether `vwap_dev` is 0 or an ulp
            let num = self.roll_pv.window().iter().fold(0.0, |a, b| a + b);
            let den = self.roll_v.window().iter().fold(0.0, |a, b| a + b);
            if den != 0.0 {
                num / den
            } else {
                f64::NAN
            }
        } else {
            let den = self.roll_v.sum();
            if den != 0.0 {
                self.roll_pv.sum() / den
            } else {
                f64::NAN
            }
        };

        out.put(rsi);
        out.put(macd.macd);
        out.put(macd.signal);
        out.put(macd.hist);
        out.put(upper);
        out.put(mid);
        out.put(lower);
        out.put(atr);
        out.put(self.obv.push(c, v));
        out.put(slowk);
        out.put(slowd);
        out.put(vwap_cum);
        out.put(vwap_roll);

        let prev_close = self.closes.ago(0);
        self.closes.push(c);
        for &lag in &cfg.return_lags {
            out.put(self.closes.ago(lag).map_or(f64::NAN, |old| (c / old).ln()));
        }
        if let Some(p) = prev_close {
            let r = (c / p).ln();
            self.rv_short.push(r * r);
            self.rv_long.push(r * r);
            self.er_path.push((c - p).abs());
        }
        let rv = |s: &WindowSum| if s.is_full() { s.sum().sqrt() } else { f64::NAN };
        let (rv_short, rv_long) = (rv(&self.rv_short), rv(&self.rv_long));
        out.put(rv_short);

        let log_volume = v.ln_1p();
        out.put(log_volume);
        out.put(self.volume_z.push(log_volume));
        if let Some(trades) = b.trades {
            out.put(trades);
            out.put(self.trades_z.push(trades.ln_1p()));
        }
        if let Some(tb) = b.taker_buy_base_volume {
            out.put(if v != 0.0 { (2.0 * tb - v) / v } else { 0.0 });
        }
        self.profile.push(b, &mut self.profile_row);
        for &p in &self.profile_row {
            out.put(p);
        }

        out.put((rsi - 50.0) / 50.0);
        out.put(macd.macd / c);
        out.put(macd.signal / c);
        out.put(macd.hist / c);
        let width = upper - lower;
        out.put(if width > 0.0 {
            (c - lower) / width
        } else if width == 0.0 {
            0.5
        } else {
            f64::NAN
        });
        out.put((upper - lower) / mid);
        out.put(atr / c);
        out.put((c / vwap_roll).ln());

        let er = match self.closes.ago(cfg.er_window) {
            Some(old) if self.er_path.is_full() => {
                let path = self.er_path.sum();
                if path > 0.0 {
                    (c - old).abs() / path
                } else {
                    0.0
                }
            }
            _ => f64::NAN,
        };
        let k = (cfg.rv_window as f64 / cfg.vol_long_window as f64).sqrt();
        let vr = if rv_long > 0.0 { rv_short / (rv_long * k) } else { f64::NAN };
        out.put(er);
        out.put(vr);
        out.put(regime::classify(er, vr, &cfg.regime));
        let written = out.at;
        if written != self.names.len() {
            return Err(Error::Invalid(format!(
                "FeatureStream: wrote {written} columns for {} names (the batch feature list changed; update the \
                 stream)",
                self.names.len()
            )));
        }
        self.bars += 1;
        Ok(&self.row)
    }
}

/// Writes a row left to right; extra values beyond the row are dropped and reported by the length check.
struct RowWriter<'a> {
    row: &'a mut [f64],
    at: usize,
}

impl RowWriter<'_> {
    fn put(&mut self, v: f64) {
        if let Some(slot) = self.row.get_mut(self.at) {
            *slot = v;
        }
        self.at += 1;
    }
}
