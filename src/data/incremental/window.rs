//! Fixed-size trailing-window state for the incremental features: a ring of the last values, a windowed sum,
//! windowed moments and a monotonic max/min deque. All buffers are sized at construction; a push allocates nothing.
//!
//! Rounding. The batch features ([`crate::data::rolling`], [`crate::data::indicators`]) sum every window afresh,
//! in time order. A running total updated by add-and-subtract differs from that by rounding, and the difference
//! can grow when a large value leaves the window (a crash bar leaving a quiet window). Two things keep it at the
//! rounding level of the result: the running sums are compensated (Neumaier), and every `w` pushes the sum is
//! recomputed (compensated) from the ring, so the state never carries error older than two windows. The refresh
//! costs O(w) once per w bars, i.e. O(1) amortised (worst case O(w) on the refreshing bar).

use std::collections::VecDeque;

/// The last `cap` values, oldest overwritten first.
#[derive(Debug, Clone)]
pub struct Ring {
    buf: Vec<f64>,
    head: usize,
    len: usize,
}

impl Ring {
    pub fn new(cap: usize) -> Ring {
        Ring { buf: vec![0.0; cap.max(1)], head: 0, len: 0 }
    }

    pub fn cap(&self) -> usize {
        self.buf.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Store `x`; returns the value it pushed out when the ring was full.
    pub fn push(&mut self, x: f64) -> Option<f64> {
        let old = if self.is_full() { Some(self.buf[self.head]) } else { None };
        self.buf[self.head] = x;
        self.head = (self.head + 1) % self.buf.len();
        self.len = (self.len + 1).min(self.buf.len());
        old
    }

    /// The value `ago` pushes back (0 = newest); `None` beyond what the ring holds.
    pub fn ago(&self, ago: usize) -> Option<f64> {
        if ago >= self.len {
            return None;
        }
        let cap = self.buf.len();
        Some(self.buf[(self.head + cap - 1 - ago) % cap])
    }

    /// Held values, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let cap = self.buf.len();
        let start = self.head + cap - self.len;
        (0..self.len).map(move |i| self.buf[(start + i) % cap])
    }
}

/// Neumaier's compensated sum: `sum + comp` carries the exact total to within a rounding or two of its own size.
#[derive(Debug, Clone, Copy, Default)]
struct Compensated {
    sum: f64,
    comp: f64,
}

impl Compensated {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// Sum of the last `w` values. Non-finite values are counted, not added (a NaN would poison the running sum for
/// good); while one is in the window the sum is NaN, as the batch fold would give. A window of exact zeros sums
/// to exactly 0, so `== 0` tests in the features behave as in the batch code.
#[derive(Debug, Clone)]
pub struct WindowSum {
    ring: Ring,
    sum: Compensated,
    since_refresh: usize,
    nonzero: usize,
    nonfinite: usize,
}

impl WindowSum {
    pub fn new(w: usize) -> WindowSum {
        WindowSum { ring: Ring::new(w), sum: Compensated::default(), since_refresh: 0, nonzero: 0, nonfinite: 0 }
    }

    pub fn is_full(&self) -> bool {
        self.ring.is_full()
    }

    pub fn window(&self) -> &Ring {
        &self.ring
    }

    pub fn push(&mut self, x: f64) {
        self.count(x, 1);
        if let Some(old) = self.ring.push(x) {
            self.count(old, -1);
            if old.is_finite() {
                self.sum.add(-old);
            }
        }
        if x.is_finite() {
            self.sum.add(x);
        }
        self.since_refresh += 1;
        if self.since_refresh >= self.ring.cap() {
            self.refresh();
        }
    }

    fn count(&mut self, x: f64, d: isize) {
        if !x.is_finite() {
            self.nonfinite = self.nonfinite.wrapping_add_signed(d);
        } else if x != 0.0 {
            self.nonzero = self.nonzero.wrapping_add_signed(d);
        }
    }

    /// Recompute the sum from the ring, compensated: a plain fold would bake its own rounding (relative to a
    /// spike still in the window) into the state and carry it on after the spike left.
    fn refresh(&mut self) {
        let mut fresh = Compensated::default();
        for v in self.ring.iter().filter(|v| v.is_finite()) {
            fresh.add(v);
        }
        self.sum = fresh;
        self.since_refresh = 0;
    }

    /// The window's sum (whatever the window holds so far; callers check [`WindowSum::is_full`]).
    pub fn sum(&self) -> f64 {
        if self.nonfinite > 0 {
            f64::NAN
        } else if self.nonzero == 0 {
            0.0
        } else {
            self.sum.value()
        }
    }
}

/// Which extreme a [`MonoDeque`] tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    Max,
    Min,
}

/// Maximum or minimum of the last `w` values in O(1) amortised: a deque of (sequence number, value) whose values
/// are monotonic, so the front is the extreme and anything a newer value dominates is dropped for good.
#[derive(Debug, Clone)]
pub struct MonoDeque {
    q: VecDeque<(u64, f64)>,
    w: u64,
    seq: u64,
    kind: Extreme,
}

impl MonoDeque {
    pub fn new(w: usize, kind: Extreme) -> MonoDeque {
        MonoDeque { q: VecDeque::with_capacity(w + 1), w: w.max(1) as u64, seq: 0, kind }
    }

    /// Values must not be NaN (callers check finiteness first).
    pub fn push(&mut self, x: f64) {
        let dominated = |back: f64| match self.kind {
            Extreme::Max => back <= x,
            Extreme::Min => back >= x,
        };
        while self.q.back().is_some_and(|&(_, v)| dominated(v)) {
            self.q.pop_back();
        }
        self.q.push_back((self.seq, x));
        self.seq += 1;
        while self.q.front().is_some_and(|&(s, _)| s + self.w < self.seq) {
            self.q.pop_front();
        }
    }

    /// The extreme of the window (NaN before the first push).
    pub fn get(&self) -> f64 {
        self.q.front().map_or(f64::NAN, |&(_, v)| v)
    }
}

/// Sums of `x − anchor` and `(x − anchor)²` over the last `w` values, for a windowed variance without the
/// cancellation of `E[x²] − E[x]²` at price level (closes near 30 000 with a spread of 100 would lose eight
/// digits). The anchor is re-set to the window's mean at every refresh, so `mean − anchor` stays within the
/// recent drift. A flat window (max == min, tracked by two deques) is handed back to the caller to compute
/// exactly as the batch does, since there the batch's rounding decides the answer (0, or a ratio of two
/// roundings).
#[derive(Debug, Clone)]
pub struct WindowMoments {
    ring: Ring,
    anchor: f64,
    s1: Compensated,
    s2: Compensated,
    since_refresh: usize,
    nonfinite: usize,
    max: MonoDeque,
    min: MonoDeque,
}

impl WindowMoments {
    pub fn new(w: usize) -> WindowMoments {
        WindowMoments {
            ring: Ring::new(w),
            anchor: 0.0,
            s1: Compensated::default(),
            s2: Compensated::default(),
            since_refresh: 0,
            nonfinite: 0,
            max: MonoDeque::new(w, Extreme::Max),
            min: MonoDeque::new(w, Extreme::Min),
        }
    }

    pub fn is_full(&self) -> bool {
        self.ring.is_full()
    }

    pub fn window(&self) -> &Ring {
        &self.ring
    }

    pub fn push(&mut self, x: f64) {
        if !x.is_finite() {
            self.nonfinite += 1;
        } else {
            self.max.push(x);
            self.min.push(x);
        }
        if let Some(old) = self.ring.push(x) {
            if old.is_finite() {
                let d = old - self.anchor;
                self.s1.add(-d);
                self.s2.add(-(d * d));
            } else {
                self.nonfinite -= 1;
            }
        }
        if x.is_finite() {
            let d = x - self.anchor;
            self.s1.add(d);
            self.s2.add(d * d);
        } else {
            // a non-finite value leaves the deques stale for the window; mark them by forcing `is_flat` false
            self.max = MonoDeque::new(self.ring.cap(), Extreme::Max);
            self.min = MonoDeque::new(self.ring.cap(), Extreme::Min);
        }
        self.since_refresh += 1;
        if self.since_refresh >= self.ring.cap() {
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        let (n, total) = self.ring.iter().filter(|v| v.is_finite()).fold((0usize, 0.0), |(n, s), v| (n + 1, s + v));
        self.anchor = if n > 0 { total / n as f64 } else { 0.0 };
        let a = self.anchor;
        let mut s1 = Compensated::default();
        let mut s2 = Compensated::default();
        for v in self.ring.iter().filter(|v| v.is_finite()) {
            s1.add(v - a);
            s2.add((v - a) * (v - a));
        }
        self.s1 = s1;
        self.s2 = s2;
        self.since_refresh = 0;
    }

    /// Whether a non-finite value is in the window.
    pub fn has_nonfinite(&self) -> bool {
        self.nonfinite > 0
    }

    /// Every value in the (full, finite) window is the same.
    pub fn is_flat(&self) -> bool {
        self.nonfinite == 0 && self.ring.is_full() && self.max.get() == self.min.get()
    }

    /// Mean of the window's values.
    pub fn mean(&self) -> f64 {
        self.anchor + self.s1.value() / self.ring.len().max(1) as f64
    }

    /// `Σ (x − m)² / w` about a given centre m (the mean, or an SMA computed elsewhere).
    pub fn var_about(&self, m: f64) -> f64 {
        let w = self.ring.len().max(1) as f64;
        let c = m - self.anchor;
        (self.s2.value() - 2.0 * c * self.s1.value() + w * c * c) / w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn ring_keeps_the_last_values_in_order() {
        let mut r = Ring::new(3);
        assert_eq!(r.push(1.0), None);
        r.push(2.0);
        r.push(3.0);
        assert_eq!(r.push(4.0), Some(1.0));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![2.0, 3.0, 4.0]);
        assert_eq!((r.ago(0), r.ago(2), r.ago(3)), (Some(4.0), Some(2.0), None));
    }

    #[test]
    fn window_sum_tracks_a_fresh_sum_through_spikes() {
        let mut rng = Rng::new(3);
        let w = 24;
        let mut s = WindowSum::new(w);
        let mut xs = Vec::new();
        for i in 0..2000 {
            // a spike every 300 bars, four orders of magnitude above the rest
            let x = if i % 300 == 0 { 1e4 } else { rng.uniform(0.0, 1.0) };
            xs.push(x);
            s.push(x);
            if xs.len() >= w {
                let fresh = xs[xs.len() - w..].iter().fold(0.0, |a, v| a + v);
                assert!((s.sum() - fresh).abs() <= 1e-13 * fresh, "row {i}: {} vs {fresh}", s.sum());
            }
        }
        let mut z = WindowSum::new(3);
        for x in [5.0, 0.0, 0.0, 0.0] {
            z.push(x);
        }
        assert_eq!(z.sum().to_bits(), 0.0f64.to_bits());
        z.push(f64::NAN);
        assert!(z.sum().is_nan());
        for _ in 0..3 {
            z.push(1.0);
        }
        assert_eq!(z.sum(), 3.0);
    }

    #[test]
    fn deques_give_window_extremes() {
        let mut rng = Rng::new(5);
        let xs: Vec<f64> = (0..500).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let mut hi = MonoDeque::new(7, Extreme::Max);
        let mut lo = MonoDeque::new(7, Extreme::Min);
        for (i, &x) in xs.iter().enumerate() {
            hi.push(x);
            lo.push(x);
            let w = &xs[i.saturating_sub(6)..=i];
            assert_eq!(hi.get(), w.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)));
            assert_eq!(lo.get(), w.iter().fold(f64::INFINITY, |a, &b| a.min(b)));
        }
    }

    #[test]
    fn moments_at_price_level_keep_their_digits() {
        let mut rng = Rng::new(9);
        let w = 20;
        let mut m = WindowMoments::new(w);
        let mut xs = Vec::new();
        let mut p = 30_000.0f64;
        for i in 0..3000 {
            p += rng.normal() * 50.0;
            xs.push(p);
            m.push(p);
            if xs.len() >= w {
                let win = &xs[xs.len() - w..];
                let mean = win.iter().sum::<f64>() / w as f64;
                let var = win.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / w as f64;
                assert!((m.mean() - mean).abs() <= 1e-14 * mean, "row {i}");
                assert!((m.var_about(mean) - var).abs() <= 1e-11 * var, "row {i}: {} vs {var}", m.var_about(mean));
            }
        }
        assert!(!m.is_flat());
        for _ in 0..w {
            m.push(7.5);
        }
        assert!(m.is_flat());
    }
}
