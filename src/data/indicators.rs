//! Technical indicators that reproduce TA-Lib (and, for the rolling VWAP, the `ta` package) value for value, so
//! that features computed here equal the ones a Python pipeline would feed a model. The oracle files
//! `data/<dataset>.indicators.csv` hold the reference values; `data/PROVENANCE.md` states the conventions.
//!
//! Each function follows TA-Lib's arithmetic order, not just its formula: a running sum for SMA,
//! `(x − prev)·k + prev` for EMA steps, `(prev·(n−1) + x) / n` for Wilder steps,
//! and the seeds (RSI and ATR seeded by the mean of the first `n` values, MACD's fast EMA seeded on the bar where
//! the slow one is). Matching the order keeps the difference at rounding level instead of 1e-9.
//!
//! Every output has the input's length, with `NaN` where TA-Lib writes no value (the warm-up, its "lookback").
//! All of them are causal: the value at bar `t` reads bars `0..=t` only.

use crate::{Error, Result};

/// TA-Lib's zero test (`TA_IS_ZERO` with `TA_EPSILON` in TA-Lib ≥ 0.6): a sum of gains and losses, or a
/// variance, this close to zero counts as zero.
const TA_EPSILON: f64 = 1e-14;

fn nans(n: usize) -> Vec<f64> {
    vec![f64::NAN; n]
}

fn check_period(name: &str, value: usize, min: usize) -> Result<()> {
    if value < min {
        return Err(Error::config(name, format!("expected a period >= {min}, found {value}")));
    }
    Ok(())
}

fn check_lengths(what: &str, n: usize, others: &[(&str, usize)]) -> Result<()> {
    for (name, len) in others {
        if *len != n {
            return Err(Error::shape(format!("{what}: input `{name}`"), [n], [*len]));
        }
    }
    Ok(())
}

/// TA-Lib's smoothing factor `PER_TO_K`.
fn per_to_k(period: usize) -> f64 {
    2.0 / (period as f64 + 1.0)
}

/// Simple moving average as TA-Lib's `TA_INT_SMA` computes it: one running total, add the new value, divide,
/// then subtract the value leaving the window. First value at `period − 1`.
pub fn sma(x: &[f64], period: usize) -> Result<Vec<f64>> {
    check_period("sma period", period, 1)?;
    Ok(sma_unchecked(x, period))
}

fn sma_unchecked(x: &[f64], period: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = nans(n);
    if n < period {
        return out;
    }
    let mut total: f64 = x[..period - 1].iter().fold(0.0, |acc, &v| acc + v);
    for i in period - 1..n {
        total += x[i];
        let window_total = total;
        total -= x[i + 1 - period];
        out[i] = window_total / period as f64;
    }
    out
}

/// TA-Lib's `TA_INT_EMA` with its first output at `start`: seeded with the SMA of the `period` values ending at
/// `start`, then `(x − prev)·k + prev`. Needs `start + 1 >= period`; `NaN` before `start`.
fn ema_from(x: &[f64], period: usize, start: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = nans(n);
    if start >= n || start + 1 < period {
        return out;
    }
    let k = per_to_k(period);
    let seed_sum = x[start + 1 - period..=start].iter().fold(0.0, |acc, &v| acc + v);
    let mut prev = seed_sum / period as f64;
    out[start] = prev;
    for i in start + 1..n {
        prev = ((x[i] - prev) * k) + prev;
        out[i] = prev;
    }
    out
}

/// Wilder's RSI (TA-Lib `RSI`, unstable period 0). Average gain and loss are seeded with the plain mean of the
/// first `period` differences, then smoothed as `(avg·(n−1) + x) / n`. First value at `period`.
pub fn rsi(close: &[f64], period: usize) -> Result<Vec<f64>> {
    check_period("rsi period", period, 2)?;
    let n = close.len();
    let mut out = nans(n);
    if n <= period {
        return Ok(out);
    }
    let p = period as f64;
    let value = |gain: f64, loss: f64| {
        let total = gain + loss;
        if -TA_EPSILON < total && total < TA_EPSILON {
            0.0
        } else {
            100.0 * (gain / total)
        }
    };
    let (mut gain, mut loss) = (0.0f64, 0.0f64);
    for i in 1..=period {
        let d = close[i] - close[i - 1];
        if d < 0.0 {
            loss -= d;
        } else {
            gain += d;
        }
    }
    loss /= p;
    gain /= p;
    out[period] = value(gain, loss);
    for i in period + 1..n {
        let d = close[i] - close[i - 1];
        loss *= p - 1.0;
        gain *= p - 1.0;
        if d < 0.0 {
            loss -= d;
        } else {
            gain += d;
        }
        loss /= p;
        gain /= p;
        out[i] = value(gain, loss);
    }
    Ok(out)
}

/// MACD line, signal line and histogram, each the input's length.
#[derive(Debug, Clone, PartialEq)]
pub struct Macd {
    pub macd: Vec<f64>,
    pub signal: Vec<f64>,
    pub hist: Vec<f64>,
}

/// TA-Lib `MACD`. Both EMAs are seeded on bar `slow − 1` (so the fast one is seeded with the SMA of
/// `close[slow − fast ..= slow − 1]`, not of the first `fast` closes: TA-Lib's quirk). The signal is the EMA of
/// the MACD line seeded at bar `slow + signal − 2`, and all three are output from there on.
pub fn macd(close: &[f64], fast: usize, slow: usize, signal: usize) -> Result<Macd> {
    check_period("macd fast period", fast, 2)?;
    check_period("macd signal period", signal, 1)?;
    if slow <= fast {
        return Err(Error::config("macd slow period", format!("expected a period > fast ({fast}), found {slow}")));
    }
    let n = close.len();
    let start = slow - 1;
    let first = start + signal - 1;
    let mut out = Macd { macd: nans(n), signal: nans(n), hist: nans(n) };
    if n <= first {
        return Ok(out);
    }
    let slow_ema = ema_from(close, slow, start);
    let fast_ema = ema_from(close, fast, start);
    let line: Vec<f64> = (start..n).map(|i| fast_ema[i] - slow_ema[i]).collect();
    let sig = ema_from(&line, signal, signal - 1);
    for i in first..n {
        let (m, s) = (line[i - start], sig[i - start]);
        out.macd[i] = m;
        out.signal[i] = s;
        out.hist[i] = m - s;
    }
    Ok(out)
}

/// Upper, middle and lower Bollinger band, each the input's length.
#[derive(Debug, Clone, PartialEq)]
pub struct Bollinger {
    pub upper: Vec<f64>,
    pub middle: Vec<f64>,
    pub lower: Vec<f64>,
}

/// TA-Lib `BBANDS` with `matype = SMA`: middle = SMA, bands = middle ± dev·σ where σ is the **population** std
/// (divide by N) around the middle band, zero when the variance is below ε.
///
/// σ is summed in two passes over the window. Classic TA-Lib used running sums (`E[x²] − SMA²`), and PROVENANCE.md
/// says so, but the oracle from TA-Lib 0.8.1 is not that: on the BTC file the running-sum form misses the oracle's
/// bands by 5.6e-12 relative (σ by 3e-9), the two-pass form by 1.1e-13, which is the rounding of the bands
/// themselves.
pub fn bbands(close: &[f64], period: usize, dev_up: f64, dev_down: f64) -> Result<Bollinger> {
    check_period("bbands period", period, 2)?;
    for (name, v) in [("bbands dev_up", dev_up), ("bbands dev_down", dev_down)] {
        if !v.is_finite() {
            return Err(Error::config(name, format!("expected a finite multiplier, found {v}")));
        }
    }
    let n = close.len();
    let middle = sma_unchecked(close, period);
    let mut out = Bollinger { upper: nans(n), middle: middle.clone(), lower: nans(n) };
    if n < period {
        return Ok(out);
    }
    let p = period as f64;
    for i in period - 1..n {
        let m = middle[i];
        let var = close[i + 1 - period..=i].iter().fold(0.0, |acc, &x| acc + (x - m) * (x - m)) / p;
        let sd = if var < TA_EPSILON { 0.0 } else { var.sqrt() };
        out.upper[i] = middle[i] + sd * dev_up;
        out.lower[i] = middle[i] - sd * dev_down;
    }
    Ok(out)
}

/// True range of bar `i >= 1`, in TA-Lib's comparison order.
fn true_range(high: &[f64], low: &[f64], close: &[f64], i: usize) -> f64 {
    let prev = close[i - 1];
    let mut greatest = high[i] - low[i];
    let up = (prev - high[i]).abs();
    if up > greatest {
        greatest = up;
    }
    let down = (prev - low[i]).abs();
    if down > greatest {
        greatest = down;
    }
    greatest
}

/// TA-Lib `ATR`: true range from bar 1 (bar 0 has no previous close and is not used), seeded at bar `period`
/// with the mean of `TR[1..=period]`, then Wilder-smoothed. With `period == 1` it is the true range itself.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Result<Vec<f64>> {
    check_period("atr period", period, 1)?;
    let n = close.len();
    check_lengths("atr", n, &[("high", high.len()), ("low", low.len())])?;
    let mut out = nans(n);
    if n <= period {
        return Ok(out);
    }
    if period == 1 {
        for (i, o) in out.iter_mut().enumerate().skip(1) {
            *o = true_range(high, low, close, i);
        }
        return Ok(out);
    }
    let p = period as f64;
    let seed_sum = (1..=period).fold(0.0, |acc, i| acc + true_range(high, low, close, i));
    let mut prev = seed_sum / p;
    out[period] = prev;
    for (i, o) in out.iter_mut().enumerate().skip(period + 1) {
        prev *= p - 1.0;
        prev += true_range(high, low, close, i);
        prev /= p;
        *o = prev;
    }
    Ok(out)
}

/// TA-Lib `OBV`: starts at `volume[0]`, adds the volume on an up close, subtracts it on a down close, and leaves
/// it unchanged when the close is unchanged (where the `ta` package adds it).
pub fn obv(close: &[f64], volume: &[f64]) -> Result<Vec<f64>> {
    let n = close.len();
    check_lengths("obv", n, &[("volume", volume.len())])?;
    let mut out = Vec::with_capacity(n);
    let Some((&c0, &v0)) = close.first().zip(volume.first()) else {
        return Ok(out);
    };
    let (mut acc, mut prev) = (v0, c0);
    for (&c, &v) in close.iter().zip(volume) {
        if c > prev {
            acc += v;
        } else if c < prev {
            acc -= v;
        }
        out.push(acc);
        prev = c;
    }
    Ok(out)
}

/// Slow %K and slow %D, each the input's length.
#[derive(Debug, Clone, PartialEq)]
pub struct Stoch {
    pub slowk: Vec<f64>,
    pub slowd: Vec<f64>,
}

/// TA-Lib `STOCH` with SMA smoothing: fast %K = (c − LL)/((HH − LL)/100) over the last `fastk` bars (0 when
/// HH = LL), slow %K = SMA(fast %K, `slowk`), slow %D = SMA(slow %K, `slowd`). Both outputs start at bar
/// `(fastk − 1) + (slowk − 1) + (slowd − 1)`, even though slow %K exists earlier: TA-Lib aligns them.
pub fn stoch(high: &[f64], low: &[f64], close: &[f64], fastk: usize, slowk: usize, slowd: usize) -> Result<Stoch> {
    check_period("stoch fastk period", fastk, 1)?;
    check_period("stoch slowk period", slowk, 1)?;
    check_period("stoch slowd period", slowd, 1)?;
    let n = close.len();
    check_lengths("stoch", n, &[("high", high.len()), ("low", low.len())])?;
    let first = (fastk - 1) + (slowk - 1) + (slowd - 1);
    let mut out = Stoch { slowk: nans(n), slowd: nans(n) };
    if n <= first {
        return Ok(out);
    }
    let fast: Vec<f64> = (fastk - 1..n)
        .map(|t| {
            let w = t + 1 - fastk..=t;
            let highest = high[w.clone()].iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            let lowest = low[w].iter().fold(f64::INFINITY, |a, &b| a.min(b));
            let diff = (highest - lowest) / 100.0;
            if diff != 0.0 {
                (close[t] - lowest) / diff
            } else {
                0.0
            }
        })
        .collect();
    let k = sma_unchecked(&fast, slowk);
    let d = sma_unchecked(&k[slowk - 1..], slowd);
    for t in first..n {
        let j = t - (fastk - 1);
        out.slowk[t] = k[j];
        out.slowd[t] = d[j - (slowk - 1)];
    }
    Ok(out)
}

/// Typical price `(h + l + c) / 3`, the price both VWAPs weight.
fn typical(high: f64, low: f64, close: f64) -> f64 {
    (high + low + close) / 3.0
}

/// VWAP accumulated from the first bar with **no** session reset (TA-Lib `VWAP`): Σ(tp·v) / Σv. `NaN` while no
/// volume has traded yet.
pub fn vwap_cum(high: &[f64], low: &[f64], close: &[f64], volume: &[f64]) -> Result<Vec<f64>> {
    let n = close.len();
    check_lengths("vwap_cum", n, &[("high", high.len()), ("low", low.len()), ("volume", volume.len())])?;
    let (mut pv, mut v) = (0.0f64, 0.0f64);
    Ok((0..n)
        .map(|i| {
            pv += typical(high[i], low[i], close[i]) * volume[i];
            v += volume[i];
            if v != 0.0 {
                pv / v
            } else {
                f64::NAN
            }
        })
        .collect())
}

/// VWAP over the last `window` bars (the `ta` package's `VolumeWeightedAveragePrice`): Σ(tp·v) / Σv over the
/// window, first value at `window − 1`, `NaN` for a window without volume. Each window is summed afresh so the
/// value never carries rounding from bars that left it.
pub fn vwap_roll(high: &[f64], low: &[f64], close: &[f64], volume: &[f64], window: usize) -> Result<Vec<f64>> {
    check_period("vwap window", window, 1)?;
    let n = close.len();
    check_lengths("vwap_roll", n, &[("high", high.len()), ("low", low.len()), ("volume", volume.len())])?;
    let pv: Vec<f64> = (0..n).map(|i| typical(high[i], low[i], close[i]) * volume[i]).collect();
    let mut out = nans(n);
    for (t, o) in out.iter_mut().enumerate().skip(window - 1) {
        let w = t + 1 - window..=t;
        let num = pv[w.clone()].iter().fold(0.0, |a, &b| a + b);
        let den = volume[w].iter().fold(0.0, |a, &b| a + b);
        if den != 0.0 {
            *o = num / den;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_lengths_follow_ta_lib() {
        let c: Vec<f64> = (0..60).map(|i| 100.0 + (i as f64 * 0.7).sin() * 3.0 + i as f64 * 0.1).collect();
        let h: Vec<f64> = c.iter().map(|x| x + 1.0).collect();
        let l: Vec<f64> = c.iter().map(|x| x - 1.0).collect();
        let first = |v: &[f64]| v.iter().position(|x| !x.is_nan()).unwrap();
        assert_eq!(first(&rsi(&c, 14).unwrap()), 14);
        assert_eq!(first(&macd(&c, 12, 26, 9).unwrap().hist), 33);
        assert_eq!(first(&bbands(&c, 20, 2.0, 2.0).unwrap().upper), 19);
        assert_eq!(first(&atr(&h, &l, &c, 14).unwrap()), 14);
        let s = stoch(&h, &l, &c, 14, 3, 3).unwrap();
        assert_eq!((first(&s.slowk), first(&s.slowd)), (17, 17));
        assert_eq!(first(&vwap_roll(&h, &l, &c, &c, 14).unwrap()), 13);
    }

    #[test]
    fn flat_prices_do_not_divide_by_zero() {
        let c = vec![5.0; 40];
        assert!(rsi(&c, 14).unwrap()[14..].iter().all(|&x| x == 0.0));
        let s = stoch(&c, &c, &c, 14, 3, 3).unwrap();
        assert!(s.slowk[17..].iter().all(|&x| x == 0.0));
        let b = bbands(&c, 20, 2.0, 2.0).unwrap();
        assert_eq!(b.upper[30], 5.0);
        assert!(vwap_cum(&c, &c, &c, &[0.0; 40]).unwrap().iter().all(|x| x.is_nan()));
    }

    #[test]
    fn bad_arguments_are_errors() {
        let c = vec![1.0; 10];
        assert!(rsi(&c, 1).is_err());
        assert!(macd(&c, 26, 12, 9).is_err());
        assert!(atr(&c, &c[..5], &c, 14).is_err());
        assert!(stoch(&c, &c, &c, 0, 3, 3).is_err());
        assert!(rsi(&c, 14).unwrap().iter().all(|x| x.is_nan()));
    }
}
