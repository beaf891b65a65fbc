//! The TA-Lib indicators of [`crate::data::indicators`] as per-bar state machines. TA-Lib's own arithmetic is
//! recursive (running SMA totals, EMA and Wilder steps), so each state here repeats the batch code's operations in
//! the batch code's order and gives the same bits; only the seeds need the last few values, kept in rings.
//! The windowed max/min of the stochastic come from monotonic deques. Every push is O(1) (the EMA seeds sum a
//! ring once, on the seeding bar).

use super::window::{Extreme, MonoDeque, Ring};

/// TA-Lib's zero test, as in the batch code.
const TA_EPSILON: f64 = 1e-14;

fn per_to_k(period: usize) -> f64 {
    2.0 / (period as f64 + 1.0)
}

/// `TA_INT_SMA`'s running total: add the new value, divide, subtract the value leaving the window.
#[derive(Debug, Clone)]
pub struct Sma {
    ring: Ring,
    total: f64,
}

impl Sma {
    pub fn new(period: usize) -> Sma {
        Sma { ring: Ring::new(period), total: 0.0 }
    }

    /// The SMA including `x`, NaN until `period` values have been pushed.
    pub fn push(&mut self, x: f64) -> f64 {
        self.ring.push(x);
        self.total += x;
        if !self.ring.is_full() {
            return f64::NAN;
        }
        let out = self.total / self.ring.cap() as f64;
        self.total -= self.ring.ago(self.ring.cap() - 1).unwrap_or(0.0);
        out
    }
}

/// `ema_from`: seeded with the mean of the `period` values ending at the seeding bar (summed from 0.0 in time
/// order), then `(x − prev)·k + prev`.
#[derive(Debug, Clone)]
struct Ema {
    period: usize,
    k: f64,
    prev: f64,
    seeded: bool,
}

impl Ema {
    fn new(period: usize) -> Ema {
        Ema { period, k: per_to_k(period), prev: f64::NAN, seeded: false }
    }

    /// Seed from the ring's last `period` values (the ring holds at least that many).
    fn seed(&mut self, ring: &Ring) -> f64 {
        let skip = ring.len() - self.period;
        self.prev = ring.iter().skip(skip).fold(0.0, |acc, v| acc + v) / self.period as f64;
        self.seeded = true;
        self.prev
    }

    fn step(&mut self, x: f64) -> f64 {
        self.prev = ((x - self.prev) * self.k) + self.prev;
        self.prev
    }
}

/// Wilder's RSI.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    diffs: usize,
    gain: f64,
    loss: f64,
    prev: Option<f64>,
}

impl Rsi {
    pub fn new(period: usize) -> Rsi {
        Rsi { period, diffs: 0, gain: 0.0, loss: 0.0, prev: None }
    }

    pub fn push(&mut self, close: f64) -> f64 {
        let Some(prev) = self.prev.replace(close) else { return f64::NAN };
        let d = close - prev;
        self.diffs += 1;
        let p = self.period as f64;
        if self.diffs > self.period {
            self.loss *= p - 1.0;
            self.gain *= p - 1.0;
        }
        if d < 0.0 {
            self.loss -= d;
        } else {
            self.gain += d;
        }
        if self.diffs < self.period {
            return f64::NAN;
        }
        self.loss /= p;
        self.gain /= p;
        let total = self.gain + self.loss;
        if -TA_EPSILON < total && total < TA_EPSILON {
            0.0
        } else {
            100.0 * (self.gain / total)
        }
    }
}

/// MACD line, signal and histogram of one bar.
#[derive(Debug, Clone, Copy)]
pub struct MacdRow {
    pub macd: f64,
    pub signal: f64,
    pub hist: f64,
}

/// TA-Lib `MACD`: both EMAs seeded on bar `slow − 1`, the signal seeded `signal − 1` line values later.
#[derive(Debug, Clone)]
pub struct Macd {
    closes: Ring,
    lines: Ring,
    fast: Ema,
    slow: Ema,
    signal: Ema,
    bars: usize,
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Macd {
        Macd {
            closes: Ring::new(slow),
            lines: Ring::new(signal),
            fast: Ema::new(fast),
            slow: Ema::new(slow),
            signal: Ema::new(signal),
            bars: 0,
        }
    }

    pub fn push(&mut self, close: f64) -> MacdRow {
        let nan = MacdRow { macd: f64::NAN, signal: f64::NAN, hist: f64::NAN };
        self.closes.push(close);
        self.bars += 1;
        if self.bars < self.slow.period {
            return nan;
        }
        let (f, s) = if self.slow.seeded {
            (self.fast.step(close), self.slow.step(close))
        } else {
            (self.fast.seed(&self.closes), self.slow.seed(&self.closes))
        };
        let line = f - s;
        self.lines.push(line);
        if self.lines.len() < self.signal.period {
            return nan;
        }
        let sig = if self.signal.seeded { self.signal.step(line) } else { self.signal.seed(&self.lines) };
        MacdRow { macd: line, signal: sig, hist: line - sig }
    }
}

/// Bollinger middle band (SMA) and the two bands from a σ the caller computes (see `WindowMoments`).
pub fn bands(middle: f64, var: f64, dev_up: f64, dev_down: f64) -> (f64, f64) {
    let sd = if var < TA_EPSILON { 0.0 } else { var.sqrt() };
    (middle + sd * dev_up, middle - sd * dev_down)
}

/// TA-Lib `ATR` (bar 0 has no true range; seeded at bar `period`).
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    bars: usize,
    prev_close: f64,
    seed_sum: f64,
    prev: f64,
}

impl Atr {
    pub fn new(period: usize) -> Atr {
        Atr { period, bars: 0, prev_close: f64::NAN, seed_sum: 0.0, prev: f64::NAN }
    }

    pub fn push(&mut self, high: f64, low: f64, close: f64) -> f64 {
        let i = self.bars;
        self.bars += 1;
        let prev = std::mem::replace(&mut self.prev_close, close);
        if i == 0 {
            return f64::NAN;
        }
        let tr = true_range(high, low, prev);
        let p = self.period as f64;
        if self.period == 1 {
            return tr;
        }
        if i < self.period {
            self.seed_sum += tr;
            return f64::NAN;
        }
        if i == self.period {
            self.seed_sum += tr;
            self.prev = self.seed_sum / p;
        } else {
            self.prev *= p - 1.0;
            self.prev += tr;
            self.prev /= p;
        }
        self.prev
    }
}

fn true_range(high: f64, low: f64, prev: f64) -> f64 {
    let mut greatest = high - low;
    let up = (prev - high).abs();
    if up > greatest {
        greatest = up;
    }
    let down = (prev - low).abs();
    if down > greatest {
        greatest = down;
    }
    greatest
}

/// TA-Lib `OBV`.
#[derive(Debug, Clone, Default)]
pub struct Obv {
    acc: f64,
    prev: Option<f64>,
}

impl Obv {
    pub fn push(&mut self, close: f64, volume: f64) -> f64 {
        match self.prev {
            None => self.acc = volume,
            Some(p) if close > p => self.acc += volume,
            Some(p) if close < p => self.acc -= volume,
            Some(_) => {}
        }
        self.prev = Some(close);
        self.acc
    }
}

/// TA-Lib `STOCH` with SMA smoothing; both outputs start on the same bar, as TA-Lib aligns them.
#[derive(Debug, Clone)]
pub struct Stoch {
    high: MonoDeque,
    low: MonoDeque,
    fastk: usize,
    slowk: Sma,
    slowd: Sma,
    first: usize,
    bars: usize,
}

impl Stoch {
    pub fn new(fastk: usize, slowk: usize, slowd: usize) -> Stoch {
        Stoch {
            high: MonoDeque::new(fastk, Extreme::Max),
            low: MonoDeque::new(fastk, Extreme::Min),
            fastk,
            slowk: Sma::new(slowk),
            slowd: Sma::new(slowd),
            first: (fastk - 1) + (slowk - 1) + (slowd - 1),
            bars: 0,
        }
    }

    /// (slow %K, slow %D).
    pub fn push(&mut self, high: f64, low: f64, close: f64) -> (f64, f64) {
        self.high.push(high);
        self.low.push(low);
        let t = self.bars;
        self.bars += 1;
        if t + 1 < self.fastk {
            return (f64::NAN, f64::NAN);
        }
        let (highest, lowest) = (self.high.get(), self.low.get());
        let diff = (highest - lowest) / 100.0;
        let fast = if diff != 0.0 { (close - lowest) / diff } else { 0.0 };
        let k = self.slowk.push(fast);
        let d = if k.is_nan() { f64::NAN } else { self.slowd.push(k) };
        if t < self.first {
            (f64::NAN, f64::NAN)
        } else {
            (k, d)
        }
    }
}

/// Typical price `(h + l + c) / 3`, as the batch VWAPs weight it.
pub fn typical(high: f64, low: f64, close: f64) -> f64 {
    (high + low + close) / 3.0
}
