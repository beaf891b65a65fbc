//! Trading results of a position series, net of costs, with the metrics docs/DATA.md defines.
//!
//! # Alignment
//! Bar `i` runs from the close of bar `i − 1` to the close of bar `i`; its asset simple return is
//! `close[i] / close[i − 1] − 1` (see [`simple_returns`]). A position decided from everything known at the
//! close of bar `i − 1` is held over bar `i`. [`backtest`] takes *held* positions, `positions[i]` = the
//! position held over bar `i`, so strategy gross return is `positions[i] · asset_returns[i]` with no shift
//! inside. The only way to build [`HeldPositions`] from a model's per-bar decisions is
//! [`HeldPositions::from_signals`], which does the one-bar shift; feeding signals in as if they were held
//! positions would trade on the bar's own close and is the look-ahead this type exists to prevent.
//!
//! # Costs
//! Turnover at bar `i` is `|positions[i] − positions[i − 1]|` with a flat position before the first bar; it
//! costs `(fee_bps + half_spread_bps) / 1e4` per unit, charged on bar `i`: net = gross − cost.
//!
//! # Funding
//! A perpetual future's funding, when the bars carry a `funding_rate` column, is charged by
//! [`backtest_funded`]: `funding[i]` is the sum of the rates of the funding events that fall in bar `i` (see
//! `data::funding`), and the position held over bar `i` pays `positions[i] · funding[i]` on bar `i` (a long pays
//! a positive rate, a short receives it): net = gross − cost − funding.
//!
//! # Trades
//! A trade is a maximal run of bars holding the same (exactly equal) non-zero position. Its pnl compounds its
//! bars' returns and carries its own entry and exit costs: on a change from `a` to `b` the part `|a|·c` closes
//! the old trade when `a` and `b` differ in sign (or `b` is flat), and the rest of the bar's cost is the new
//! trade's entry; a resize without a sign change charges the whole cost to the new trade. The exit cost of a
//! trade closed into a flat bar is that flat bar's net return. A trade still open at the last bar is not
//! closed: it counts towards exposure but not towards win rate, profit factor or `n_trades`.

use super::json::{f64_or_null, opt_f64_or_null};
use super::stats::{mean, norm_cdf, norm_ppf, skew_kurtosis, std_ddof1};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

const EULER_MASCHERONI: f64 = 0.577_215_664_901_532_9;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradingConfig {
    /// Exchange fee per side, in basis points of traded notional.
    pub fee_bps: f64,
    /// Half the bid-ask spread, in basis points, paid on every unit traded.
    pub half_spread_bps: f64,
    /// Bars per year: 8760 for hourly 24/7 markets, 252 for daily equities.
    pub periods_per_year: f64,
    /// Configurations tried before this one was picked; 1 means no selection, so the deflated Sharpe ratio
    /// is the plain probabilistic Sharpe ratio against zero.
    pub n_trials: usize,
    /// Variance of the per-bar Sharpe ratios across those trials. `None` uses 1 / (T − 1), the variance of
    /// the Sharpe estimator when every trial is noise.
    pub trial_sharpe_variance: Option<f64>,
}

impl TradingConfig {
    pub fn hourly_24_7(fee_bps: f64, half_spread_bps: f64) -> Self {
        TradingConfig { fee_bps, half_spread_bps, periods_per_year: 8760.0, n_trials: 1, trial_sharpe_variance: None }
    }
    pub fn daily_equities(fee_bps: f64, half_spread_bps: f64) -> Self {
        TradingConfig { fee_bps, half_spread_bps, periods_per_year: 252.0, n_trials: 1, trial_sharpe_variance: None }
    }
    /// Cost per unit of turnover as a fraction.
    pub fn unit_cost(&self) -> f64 {
        (self.fee_bps + self.half_spread_bps) / 1e4
    }
    fn validate(&self) -> Result<()> {
        for (field, v) in [("fee_bps", self.fee_bps), ("half_spread_bps", self.half_spread_bps)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(field, format!("must be a finite number ≥ 0, got {v}")));
            }
        }
        if !(self.periods_per_year.is_finite() && self.periods_per_year > 0.0) {
            return Err(Error::config("periods_per_year", format!("must be > 0, got {}", self.periods_per_year)));
        }
        if self.n_trials == 0 {
            return Err(Error::config("n_trials", "must be at least 1"));
        }
        if let Some(v) = self.trial_sharpe_variance {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config("trial_sharpe_variance", format!("must be ≥ 0, got {v}")));
            }
        }
        Ok(())
    }
}

/// Positions in the held convention (see the module docs). Any finite size is allowed: ±1 for
/// all-in calls, fractions for sized ones.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldPositions(Vec<f64>);

impl HeldPositions {
    /// `positions[i]` is the position held over bar `i`, decided at the close of bar `i − 1`.
    pub fn held(positions: Vec<f64>) -> Result<Self> {
        if let Some(i) = positions.iter().position(|p| !p.is_finite()) {
            return Err(Error::Invalid(format!("position[{i}] = {} is not finite", positions[i])));
        }
        Ok(HeldPositions(positions))
    }

    /// `signals[t]` is the position decided at the close of bar `t`; it is held over bar `t + 1`. The
    /// result covers the same bars: bar 0 is flat (nothing was decided before it) and the last signal,
    /// which has no bar left to be held over, is dropped.
    pub fn from_signals(signals: &[f64]) -> Result<Self> {
        if let Some(i) = signals.iter().position(|p| !p.is_finite()) {
            return Err(Error::Invalid(format!("signal[{i}] = {} is not finite", signals[i])));
        }
        let mut held = Vec::with_capacity(signals.len());
        if !signals.is_empty() {
            held.push(0.0);
            held.extend_from_slice(&signals[..signals.len() - 1]);
        }
        Ok(HeldPositions(held))
    }

    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Simple returns of bars 1..n from n closes: `out[i − 1] = close[i] / close[i − 1] − 1`, i.e. the returns
/// of bars `1..n`, so `out` pairs with positions held over those bars.
pub fn simple_returns(closes: &[f64]) -> Result<Vec<f64>> {
    if let Some(i) = closes.iter().position(|c| !(c.is_finite() && *c > 0.0)) {
        return Err(Error::Invalid(format!("close[{i}] = {} is not a positive price", closes[i])));
    }
    Ok(closes.windows(2).map(|w| w[1] / w[0] - 1.0).collect())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    /// First bar held.
    pub start: usize,
    /// Last bar held (inclusive).
    pub end: usize,
    pub position: f64,
    /// Compounded net return of the trade including its entry and exit costs.
    pub pnl: f64,
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradingMetrics {
    pub n_bars: usize,
    pub periods_per_year: f64,
    /// E_T − 1 on the compounded equity curve E_t = Π(1 + r_s).
    #[serde(with = "f64_or_null")]
    pub total_return: f64,
    /// E_T^(P / T) − 1; −1 when equity ended at or below zero.
    #[serde(with = "f64_or_null")]
    pub cagr: f64,
    /// std(r, ddof = 1) · √P.
    #[serde(with = "f64_or_null")]
    pub volatility: f64,
    /// mean(r) / std(r, ddof = 1) · √P.
    #[serde(with = "f64_or_null")]
    pub sharpe: f64,
    /// mean(r) / sqrt(mean(min(r, 0)²)) · √P: downside deviation against a zero target, averaged over all
    /// bars (not only the losing ones).
    #[serde(with = "f64_or_null")]
    pub sortino: f64,
    /// min_t E_t / max_{s ≤ t} E_s − 1 with E = 1 before the first bar, so a loss on bar 0 counts.
    #[serde(with = "f64_or_null")]
    pub max_drawdown: f64,
    /// Closed trades with pnl > 0 over closed trades; null without closed trades.
    #[serde(with = "opt_f64_or_null")]
    pub win_rate: Option<f64>,
    /// Sum of winning closed-trade pnl over |sum of losing closed-trade pnl|; null without a loss.
    #[serde(with = "opt_f64_or_null")]
    pub profit_factor: Option<f64>,
    pub n_trades: usize,
    /// Mean |Δ position| per bar.
    #[serde(with = "f64_or_null")]
    pub turnover: f64,
    /// Share of bars with a non-zero position.
    #[serde(with = "f64_or_null")]
    pub exposure: f64,
    /// Sum of per-bar costs, as a fraction of equity per bar (not compounded).
    #[serde(with = "f64_or_null")]
    pub total_costs: f64,
    /// Probability that the true Sharpe ratio exceeds the best one expected from `n_trials` noise trials
    /// (Bailey & López de Prado 2014).
    #[serde(with = "f64_or_null")]
    pub deflated_sharpe: f64,
    pub n_trials: usize,
    /// Sum of per-bar funding payments (positive: paid); null when no funding rates were given, so a report
    /// says whether funding was charged at all.
    #[serde(default, with = "opt_f64_or_null")]
    pub total_funding: Option<f64>,
}

/// Per-bar series and trades of one backtest; `metrics` summarises them.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    pub positions: Vec<f64>,
    pub gross: Vec<f64>,
    pub costs: Vec<f64>,
    /// Funding paid on each bar (0 without funding rates).
    pub funding: Vec<f64>,
    pub net: Vec<f64>,
    pub trades: Vec<Trade>,
    pub metrics: TradingMetrics,
}

/// `asset_returns[i]` is the asset's simple return over bar `i` (see the module docs for alignment).
pub fn backtest(positions: &HeldPositions, asset_returns: &[f64], cfg: &TradingConfig) -> Result<Backtest> {
    backtest_funded(positions, asset_returns, None, cfg)
}

/// [`backtest`] with funding: `funding[i]` is the summed rate of the funding events in bar `i` (module docs).
pub fn backtest_funded(
    positions: &HeldPositions,
    asset_returns: &[f64],
    funding: Option<&[f64]>,
    cfg: &TradingConfig,
) -> Result<Backtest> {
    cfg.validate()?;
    let n = asset_returns.len();
    if n == 0 {
        return Err(Error::Invalid("a backtest needs at least one bar, got none".into()));
    }
    if positions.len() != n {
        return Err(Error::shape("positions (one per bar of asset_returns)", [n], [positions.len()]));
    }
    if let Some(i) = asset_returns.iter().position(|r| !(r.is_finite() && *r >= -1.0)) {
        return Err(Error::Invalid(format!(
            "asset_returns[{i}] = {} is not a simple return (finite, ≥ −1)",
            asset_returns[i]
        )));
    }
    if let Some(f) = funding {
        if f.len() != n {
            return Err(Error::shape("funding (one per bar of asset_returns)", [n], [f.len()]));
        }
        if let Some(i) = f.iter().position(|r| !r.is_finite()) {
            return Err(Error::Invalid(format!("funding[{i}] = {} is not finite", f[i])));
        }
    }
    let pos = positions.as_slice();
    let c = cfg.unit_cost();
    let mut gross = Vec::with_capacity(n);
    let mut costs = Vec::with_capacity(n);
    let mut paid = Vec::with_capacity(n);
    let mut net = Vec::with_capacity(n);
    let mut prev = 0.0;
    for (i, (&p, &r)) in pos.iter().zip(asset_returns).enumerate() {
        // `+ 0.0` turns the −0 of a flat bar on a falling asset into 0 for the CSV.
        let g = p * r + 0.0;
        let k = (p - prev).abs() * c;
        let f = funding.map_or(0.0, |f| p * f[i] + 0.0);
        gross.push(g);
        costs.push(k);
        paid.push(f);
        net.push(g - k - f);
        prev = p;
    }
    // Funding is part of a trade's carry, so the trade walk sees it as a cost of the bar it is paid on.
    let carry: Vec<f64> = costs.iter().zip(&paid).map(|(k, f)| k + f).collect();
    let trades = extract_trades(pos, &gross, &carry, c);
    let mut metrics = trading_metrics(&net, pos, &costs, &trades, cfg);
    metrics.total_funding = funding.map(|_| paid.iter().sum());
    Ok(Backtest { positions: pos.to_vec(), gross, costs, funding: paid, net, trades, metrics })
}

/// -1, 0 or 1; unlike `f64::signum`, zero is its own sign.
fn sign(x: f64) -> i8 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

fn extract_trades(pos: &[f64], gross: &[f64], costs: &[f64], c: f64) -> Vec<Trade> {
    let mut trades = Vec::new();
    // (start, position, growth) of the open trade.
    let mut open: Option<(usize, f64, f64)> = None;
    let mut prev = 0.0;
    for i in 0..pos.len() {
        let p = pos[i];
        if p == prev {
            if let Some((_, _, growth)) = open.as_mut() {
                *growth *= 1.0 + gross[i] - costs[i];
            }
            continue;
        }
        let exit = if prev != 0.0 && sign(p) != sign(prev) { prev.abs() * c } else { 0.0 };
        if let Some((start, position, growth)) = open.take() {
            trades.push(Trade { start, end: i - 1, position, pnl: growth * (1.0 - exit) - 1.0, closed: true });
        }
        if p != 0.0 {
            open = Some((i, p, 1.0 + gross[i] - (costs[i] - exit)));
        }
        prev = p;
    }
    if let Some((start, position, growth)) = open {
        trades.push(Trade { start, end: pos.len() - 1, position, pnl: growth - 1.0, closed: false });
    }
    trades
}

/// Max drawdown of the compounded equity curve, starting from equity 1 before the first bar.
pub fn max_drawdown(net: &[f64]) -> f64 {
    let (mut equity, mut peak, mut worst) = (1.0f64, 1.0f64, 0.0f64);
    for r in net {
        equity *= 1.0 + r;
        peak = peak.max(equity);
        worst = worst.min(equity / peak - 1.0);
    }
    worst
}

/// Per-bar Sharpe ratio mean / std(ddof = 1), not annualised.
pub fn sharpe_per_bar(net: &[f64]) -> f64 {
    mean(net) / std_ddof1(net)
}

/// Deflated Sharpe ratio of Bailey & López de Prado (2014), eq. (1)–(2), on per-bar returns:
/// SR₀ = √V · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e))) is the expected maximum Sharpe ratio of N
/// noise trials, and DSR = Φ((SR − SR₀) √(T − 1) / √(1 − γ₃ SR + (γ₄ − 1)/4 · SR²)) with skewness γ₃ and
/// (non-excess) kurtosis γ₄ of the returns. NaN when the returns have no spread.
pub fn deflated_sharpe(net: &[f64], n_trials: usize, trial_sharpe_variance: Option<f64>) -> f64 {
    let t = net.len() as f64;
    if net.len() < 2 || n_trials == 0 {
        return f64::NAN;
    }
    let sr = sharpe_per_bar(net);
    let (skew, kurt) = skew_kurtosis(net);
    let v = trial_sharpe_variance.unwrap_or(1.0 / (t - 1.0));
    let sr0 = expected_max_sharpe(n_trials, v);
    let denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr;
    if denom.is_nan() || denom <= 0.0 {
        return f64::NAN;
    }
    norm_cdf((sr - sr0) * (t - 1.0).sqrt() / denom.sqrt())
}

/// SR₀ of [`deflated_sharpe`]: the expected maximum of `n_trials` per-bar Sharpe ratios that are pure noise with
/// variance `variance` across trials, √V · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e))); 0 for one trial.
pub fn expected_max_sharpe(n_trials: usize, variance: f64) -> f64 {
    if n_trials <= 1 {
        return 0.0;
    }
    let nt = n_trials as f64;
    variance.sqrt()
        * ((1.0 - EULER_MASCHERONI) * norm_ppf(1.0 - 1.0 / nt)
            + EULER_MASCHERONI * norm_ppf(1.0 - 1.0 / (nt * std::f64::consts::E)))
}

fn trading_metrics(net: &[f64], pos: &[f64], costs: &[f64], trades: &[Trade], cfg: &TradingConfig) -> TradingMetrics {
    let n = net.len();
    let p = cfg.periods_per_year;
    let m = mean(net);
    let sd = std_ddof1(net);
    let downside = (net.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n as f64).sqrt();
    let equity: f64 = net.iter().map(|r| 1.0 + r).product();
    let cagr = if equity > 0.0 { equity.powf(p / n as f64) - 1.0 } else { -1.0 };
    let closed: Vec<f64> = trades.iter().filter(|t| t.closed).map(|t| t.pnl).collect();
    let wins: f64 = closed.iter().filter(|&&x| x > 0.0).sum();
    let losses: f64 = closed.iter().filter(|&&x| x < 0.0).sum();
    let n_wins = closed.iter().filter(|&&x| x > 0.0).count();
    let mut prev = 0.0;
    let mut turnover = 0.0;
    for &q in pos {
        turnover += (q - prev).abs();
        prev = q;
    }
    TradingMetrics {
        n_bars: n,
        periods_per_year: p,
        total_return: equity - 1.0,
        cagr,
        volatility: sd * p.sqrt(),
        sharpe: m / sd * p.sqrt(),
        sortino: m / downside * p.sqrt(),
        max_drawdown: max_drawdown(net),
        win_rate: (!closed.is_empty()).then(|| n_wins as f64 / closed.len() as f64),
        profit_factor: (losses < 0.0).then(|| wins / losses.abs()),
        n_trades: closed.len(),
        turnover: turnover / n as f64,
        exposure: pos.iter().filter(|&&q| q != 0.0).count() as f64 / n as f64,
        total_costs: costs.iter().sum(),
        deflated_sharpe: deflated_sharpe(net, cfg.n_trials, cfg.trial_sharpe_variance),
        n_trials: cfg.n_trials,
        total_funding: None,
    }
}

#[cfg(test)]
#[path = "trading_tests.rs"]
mod tests;
