//! Vectorisable f32 math shared by the CPU kernels: `exp`, `sigmoid`, `tanh` (LSTM gates, softmax, attention)
//! and max / sum / dot row reductions (softmax, attention, layer norm), written so that LLVM vectorises them on
//! baseline x86-64.
//!
//! Why: std's `exp` is a libm call per element, and a float sum in the same loop is a serial dependency
//! chain; together they were over half of the attention forward (perf, 256 heads of 64×64, d = 16). The
//! reductions keep eight independent partial results (a fixed order, so results are deterministic, but
//! not the order of a sequential sum: they differ from the reference by rounding only).
//!
//! `exp` is Cephes' expf (Cody–Waite reduction, degree-6 polynomial), within 2 ulp where the result is a
//! normal float; below −87.3 it returns exactly 0 (true values there are denormal, and a masked −∞ logit
//! must give a weight of exactly 0), above 88 it saturates at e⁸⁸; NaN passes through. Rounding uses the
//! 1.5·2²³ trick and 2ⁿ is built from the bits: no `floor` or float→int casts, which block vectorisation.
//! `tanh` uses an odd polynomial below |x| = 0.625 (where 1 − 2/(e²ˣ+1) would cancel) and the exp form above.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a high part exact in f32 and a low remainder (Cody–Waite reduction).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding 1.5·2²³ rounds a float of magnitude < 2²² to an integer held in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// Lanes of the partial reductions: two SSE or one AVX register.
const LANES: usize = 8;

/// eˣ in f32 (see the module doc for the range and accuracy).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Selects rather than min/max, so that NaN passes through untouched.
    let underflow = x < -87.3;
    let x = if x > 88.0 { 88.0 } else { x };
    let x = if underflow { -87.3 } else { x };
    let shifted = x * LOG2E + ROUND_MAGIC;
    let n = shifted - ROUND_MAGIC;
    let n_bits = shifted.to_bits().wrapping_sub(ROUND_MAGIC.to_bits()) as i32;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = (p * r * r + r + 1.0) * f32::from_bits((n_bits.wrapping_add(127) as u32) << 23);
    if underflow {
        0.0
    } else {
        y
    }
}

/// 1 / (1 + e⁻ˣ).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh: an odd polynomial below |x| = 0.625 (where 1 − 2/(e²ˣ+1) would cancel), the exp form above.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 0.133_314_42) * z - 0.333_332_8) * z * x
            + x;
    let big = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let big = if x < 0.0 { -big } else { big };
    if a < 0.625 {
        small
    } else {
        big
    }
}

/// Largest element (−∞ for an empty row). NaN elements are skipped, like `f32::max`.
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    for c in chunks {
        for l in 0..LANES {
            acc[l] = if c[l] > acc[l] { c[l] } else { acc[l] };
        }
    }
    acc.iter().fold(tail, |m, &v| if v > m { v } else { m })
}

/// Σ x, in eight interleaved partial sums.
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for l in 0..LANES {
            acc[l] += c[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Σ a·b, in eight interleaved partial sums.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    let mut acc = [0.0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_its_range() {
        let mut worst = 0.0f64;
        let mut x = -87.0f64;
        while x < 88.0 {
            let xf = x as f32;
            let want = (xf as f64).exp();
            worst = worst.max((exp(xf) as f64 - want).abs() / want);
            x += if x.abs() < 2.0 { 1.0e-4 } else { 3.7e-3 };
        }
        assert!(worst < 4e-7, "exp relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(f32::INFINITY).is_finite() && exp(100.0) > 1e38);
    }

    #[test]
    fn reductions_match_sequential_loops() {
        let mut rng = crate::ops::testing::Rng::new(51);
        for n in [0, 1, 7, 8, 9, 100, 1027] {
            let a = rng.vec32(n);
            let b = rng.vec32(n);
            let m = a.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            assert_eq!(max(&a), m, "max of {n}");
            let s: f64 = a.iter().map(|&v| v as f64).sum();
            assert!((sum(&a) as f64 - s).abs() < 1e-5 * (1.0 + s.abs()), "sum of {n}");
            let dt: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            assert!((dot(&a, &b) as f64 - dt).abs() < 1e-5 * (1.0 + dt.abs()), "dot of {n}");
        }
        assert_eq!(max(&[1.0, f32::NAN, 3.0]), 3.0);
    }

    /// Relative error against f64 over a dense grid, with the absolute floor tanh and sigmoid need near 0/1.
    #[test]
    fn exp_sigmoid_tanh_accurate_against_f64() {
        let mut worst = [0.0f64; 3];
        let mut x = -90.0f64;
        while x < 90.0 {
            let xf = x as f32;
            let xd = xf as f64;
            let e = super::exp(xf) as f64;
            let e_true = xd.clamp(-87.3f32 as f64, 88.0).exp();
            if xd >= -87.3 {
                worst[0] = worst[0].max((e - e_true).abs() / e_true);
            }
            if xd.abs() < 80.0 {
                let s = super::sigmoid(xf) as f64;
                let s_true = 1.0 / (1.0 + (-xd).exp());
                worst[1] = worst[1].max((s - s_true).abs() / s_true);
            }
            let t = super::tanh(xf) as f64;
            let t_true = xd.tanh();
            worst[2] = worst[2].max((t - t_true).abs() / t_true.abs().max(1e-30));
            x += if x.abs() < 2.0 { 1.0e-4 } else { 3.7e-3 };
        }
        // (sigmoid saturates at the exp clamp: below −87 its tiny value is only absolutely right.)
        assert!(worst[0] < 4e-7, "exp relative error {:e}", worst[0]);
        assert!(worst[1] < 4e-7, "sigmoid relative error {:e}", worst[1]);
        assert!(worst[2] < 4e-7, "tanh relative error {:e}", worst[2]);
        assert!(super::exp(f32::NAN).is_nan() && super::tanh(f32::NAN).is_nan() && super::sigmoid(f32::NAN).is_nan());
        assert_eq!(super::tanh(0.0), 0.0);
        assert_eq!(super::tanh(100.0), 1.0);
        assert_eq!(super::tanh(-100.0), -1.0);
    }
}
