//! Small numerical helpers shared by the metric modules, written out so every convention (ddof, tie handling,
//! tail accuracy of the normal distribution) is visible in one place rather than inherited from a crate.

use std::f64::consts::PI;

/// Arithmetic mean; NaN for an empty slice so callers cannot mistake "no data" for zero.
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (ddof = 1), the convention docs/DATA.md fixes for Sharpe; NaN below two points.
pub fn std_ddof1(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    let m = mean(x);
    let ss: f64 = x.iter().map(|v| (v - m) * (v - m)).sum();
    (ss / (x.len() - 1) as f64).sqrt()
}

/// Population skewness and (non-excess) kurtosis, the moments Bailey & López de Prado plug into the
/// Sharpe-ratio variance; NaN when the series has no spread.
pub fn skew_kurtosis(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = mean(x);
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for v in x {
        let d = v - m;
        let d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    m2 /= n;
    m3 /= n;
    m4 /= n;
    if m2.is_nan() || m2 <= 0.0 {
        return (f64::NAN, f64::NAN);
    }
    (m3 / m2.powf(1.5), m4 / (m2 * m2))
}

/// Pearson correlation; NaN when either side is constant (correlation is undefined, not zero).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    if x.len() != y.len() || x.len() < 2 {
        return f64::NAN;
    }
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (da, db) = (a - mx, b - my);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

/// 1-based ranks with ties given the average of the ranks they span (the usual Spearman convention).
/// Inputs must be NaN-free; callers validate first.
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// Complementary error function to near machine precision: a positive-term series below 1.5 (little
/// cancellation there) and Laplace's continued fraction above, because the deflated Sharpe ratio lives in the tails.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 1.5 {
        // erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        let mut n = 0.0;
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
        }
        1.0 - 2.0 / PI.sqrt() * (-x2).exp() * sum
    } else {
        let mut t = x;
        for k in (1..=100).rev() {
            t = x + (k as f64 / 2.0) / t;
        }
        (-x * x).exp() / (PI.sqrt() * t)
    }
}

/// Standard normal CDF.
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal quantile: Acklam's rational approximation refined by one Halley step against
/// [`norm_cdf`], which brings it to full double precision.
pub fn norm_ppf(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let p_low = 0.02425;
    let mut x = if p < p_low {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - p_low {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let e = norm_cdf(x) - p;
    let u = e * (2.0 * PI).sqrt() * (x * x / 2.0).exp();
    x -= u / (1.0 + x * u / 2.0);
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_stats_normal_reference_values() {
        // Values from Python's math.erfc and statistics.NormalDist.
        assert!((erfc(0.5) - 0.4795001221869535).abs() < 1e-15);
        assert!((erfc(3.0) - 2.2090496998585438e-05).abs() < 1e-19);
        assert!((erfc(5.0) / 1.5374597944280351e-12 - 1.0).abs() < 1e-12);
        assert!((norm_cdf(1.96) - 0.9750021048517796).abs() < 1e-15);
        assert!((norm_cdf(-4.0) / 3.167124183311998e-05 - 1.0).abs() < 1e-12);
        for p in [1e-10, 0.001, 0.02, 0.3, 0.5, 0.8, 0.99, 1.0 - 1e-9] {
            let x = norm_ppf(p);
            assert!((norm_cdf(x) / p - 1.0).abs() < 1e-12, "p={p} x={x}");
        }
        assert!((norm_ppf(0.975) - 1.9599639845400536).abs() < 1e-13);
    }

    #[test]
    fn eval_stats_ranks_average_ties() {
        assert_eq!(average_ranks(&[10.0, 20.0, 10.0, 30.0]), vec![1.5, 3.0, 1.5, 4.0]);
        assert_eq!(average_ranks(&[1.0, 1.0, 1.0]), vec![2.0, 2.0, 2.0]);
    }

    #[test]
    fn eval_stats_moments() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((std_ddof1(&x) - 1.2909944487358056).abs() < 1e-15);
        let (s, k) = skew_kurtosis(&x);
        assert!(s.abs() < 1e-15);
        assert!((k - 1.64).abs() < 1e-12);
        assert!(std_ddof1(&[1.0]).is_nan());
        assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
    }
}
