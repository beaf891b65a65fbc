//! Trailing-window statistics behind the non-indicator features (returns, realised volatility, z-scores,
//! efficiency ratio, volume profile). Every value at row `t` is computed afresh from rows `t − w + 1 ..= t`, never
//! from a running total, so a row's bits depend only on its own window: appending or dropping later bars cannot
//! change it, and the causality tests can compare bitwise. Warm-up rows are `NaN`.

/// `ln(x[t] / x[t − lag])`, from row `lag`.
pub fn log_return(x: &[f64], lag: usize) -> Vec<f64> {
    (0..x.len()).map(|t| if t >= lag && lag > 0 { (x[t] / x[t - lag]).ln() } else { f64::NAN }).collect()
}

/// Realised volatility `sqrt(Σ r²)` of the last `window` one-bar log returns (not annualised), from row `window`.
pub fn realised_vol(close: &[f64], window: usize) -> Vec<f64> {
    let r = log_return(close, 1);
    (0..close.len())
        .map(|t| {
            if t < window || window == 0 {
                return f64::NAN;
            }
            r[t + 1 - window..=t].iter().fold(0.0, |acc, &x| acc + x * x).sqrt()
        })
        .collect()
}

/// z-score of `x[t]` against the last `window` values including itself (population std); 0 when the window is
/// flat. From row `window − 1`; a window holding a NaN gives NaN.
pub fn rolling_z(x: &[f64], window: usize) -> Vec<f64> {
    (0..x.len())
        .map(|t| {
            if window == 0 || t + 1 < window {
                return f64::NAN;
            }
            let w = &x[t + 1 - window..=t];
            let mean = w.iter().sum::<f64>() / window as f64;
            let var = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / window as f64;
            if var > 0.0 {
                (x[t] - mean) / var.sqrt()
            } else if var == 0.0 {
                0.0
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// Kaufman's efficiency ratio `|c[t] − c[t − w]| / Σ |c[i] − c[i − 1]|` over the last `window` moves: 1 for a
/// straight line, near 0 for chop; 0 when the price did not move at all. From row `window`.
pub fn efficiency_ratio(close: &[f64], window: usize) -> Vec<f64> {
    (0..close.len())
        .map(|t| {
            if window == 0 || t < window {
                return f64::NAN;
            }
            let path: f64 = (t + 1 - window..=t).map(|i| (close[i] - close[i - 1]).abs()).sum();
            if path > 0.0 {
                (close[t] - close[t - window]).abs() / path
            } else {
                0.0
            }
        })
        .collect()
}

/// Realised volatility of the last `short` bars relative to that of the last `long` bars, both scaled to the same
/// horizon: `rv_short / (rv_long · sqrt(short / long))`. About 1 in a steady market, above 1 when volatility
/// picks up; scale-free, so one threshold works for hourly crypto and daily equities alike. From row `long`;
/// NaN when the long window had no movement.
pub fn vol_ratio(close: &[f64], short: usize, long: usize) -> Vec<f64> {
    let s = realised_vol(close, short);
    let l = realised_vol(close, long);
    let k = (short as f64 / long as f64).sqrt();
    s.iter().zip(&l).map(|(&a, &b)| if b > 0.0 { a / (b * k) } else { f64::NAN }).collect()
}

/// Volume profile: for each row `t`, the share of the last `window` bars' volume that traded in each of
/// `buckets` price buckets centred on the current close.
///
/// Rule: the bucket width is the window's price range `(max high − min low) / buckets`; bucket `j` covers
/// `close[t] + (j − buckets/2)·width .. close[t] + (j − buckets/2 + 1)·width`, so the middle bucket (for an odd
/// count) holds prices within half a width of the close, lower buckets hold volume below it, higher ones above.
/// Each bar's whole volume is placed at its typical price `(h + l + c) / 3`; prices beyond the outer buckets
/// count in the outer buckets. A flat window puts everything in the middle bucket. Shares sum to 1; a window
/// without volume gives NaN. Output: `buckets` columns, lowest bucket first, from row `window − 1`.
pub fn volume_profile(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    window: usize,
    buckets: usize,
) -> Vec<Vec<f64>> {
    let n = close.len();
    let mut out = vec![vec![f64::NAN; n]; buckets];
    if window == 0 || buckets == 0 {
        return out;
    }
    let mut share = vec![0.0f64; buckets];
    let half = buckets as f64 / 2.0;
    for t in window.saturating_sub(1)..n {
        let w = t + 1 - window..=t;
        let hi = high[w.clone()].iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let lo = low[w.clone()].iter().fold(f64::INFINITY, |a, &b| a.min(b));
        let width = (hi - lo) / buckets as f64;
        share.iter_mut().for_each(|s| *s = 0.0);
        let mut total = 0.0;
        for i in w {
            let tp = (high[i] + low[i] + close[i]) / 3.0;
            let pos = if width > 0.0 { ((tp - close[t]) / width + half).floor() } else { half.floor() };
            let j = pos.clamp(0.0, (buckets - 1) as f64) as usize;
            share[j] += volume[i];
            total += volume[i];
        }
        if total > 0.0 {
            for (col, s) in out.iter_mut().zip(&share) {
                col[t] = s / total;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_and_vol() {
        let c = [1.0, std::f64::consts::E, 1.0];
        let r = log_return(&c, 1);
        assert!(r[0].is_nan());
        assert!((r[1] - 1.0).abs() < 1e-15 && (r[2] + 1.0).abs() < 1e-15);
        let v = realised_vol(&c, 2);
        assert!((v[2] - 2f64.sqrt()).abs() < 1e-15);
        assert!(v[1].is_nan());
    }

    #[test]
    fn efficiency_ratio_of_a_line_is_one() {
        let c: Vec<f64> = (1..20).map(|i| i as f64).collect();
        assert_eq!(efficiency_ratio(&c, 5)[10], 1.0);
        let zig: Vec<f64> = (0..20).map(|i| if i % 2 == 0 { 1.0 } else { 2.0 }).collect();
        assert_eq!(efficiency_ratio(&zig, 4)[10], 0.0);
    }

    #[test]
    fn volume_profile_shares_sum_to_one_and_centre_on_close() {
        let n = 30;
        let c: Vec<f64> = (0..n).map(|i| 100.0 + (i as f64).sin()).collect();
        let h: Vec<f64> = c.iter().map(|x| x + 0.5).collect();
        let l: Vec<f64> = c.iter().map(|x| x - 0.5).collect();
        let v = vec![1.0; n];
        let p = volume_profile(&h, &l, &c, &v, 10, 5);
        for t in 9..n {
            let s: f64 = p.iter().map(|col| col[t]).sum();
            assert!((s - 1.0).abs() < 1e-12);
        }
        assert!(p[0][8].is_nan());
        let flat = vec![1.0; n];
        let q = volume_profile(&flat, &flat, &flat, &v, 10, 5);
        assert_eq!(q[2][20], 1.0);
    }
}
