//! Per-bar latency samples and their quantiles, preallocated so that recording one costs no allocation.

/// Latency samples in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    us: Vec<f64>,
}

impl Latency {
    /// Room for `n` samples up front.
    pub fn with_capacity(n: usize) -> Latency {
        Latency { us: Vec::with_capacity(n) }
    }

    pub fn record(&mut self, d: std::time::Duration) {
        self.us.push(d.as_secs_f64() * 1e6);
    }

    pub fn len(&self) -> usize {
        self.us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.us.is_empty()
    }

    /// Mean in microseconds; NaN when empty.
    pub fn mean(&self) -> f64 {
        self.us.iter().sum::<f64>() / self.us.len() as f64
    }

    /// (p50, p99, max) by nearest rank; NaN when empty.
    pub fn summary(&self) -> (f64, f64, f64) {
        let mut s = self.us.clone();
        s.sort_by(f64::total_cmp);
        (quantile(&s, 0.5), quantile(&s, 0.99), s.last().copied().unwrap_or(f64::NAN))
    }

    /// The `per_bar_us p50=<x> p99=<y> max=<z>` line of `tickgrad stream`.
    pub fn line(&self) -> String {
        let (p50, p99, max) = self.summary();
        format!("per_bar_us p50={p50:.1} p99={p99:.1} max={max:.1}")
    }
}

/// p-quantile (nearest rank) of sorted samples.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut l = Latency::with_capacity(100);
        for i in (1..=100).rev() {
            l.record(std::time::Duration::from_micros(i));
        }
        let (p50, p99, max) = l.summary();
        assert!((p50 - 50.0).abs() < 1e-9 && (p99 - 99.0).abs() < 1e-9 && (max - 100.0).abs() < 1e-9);
        assert!((l.mean() - 50.5).abs() < 1e-9);
        assert!(Latency::default().summary().0.is_nan() && Latency::default().mean().is_nan());
    }
}
