//! Branch-free f32 exp, sigmoid and tanh that LLVM vectorises inside plain loops (std's `exp`/`tanh` are
//! libm calls, one element at a time, and were ~40 % of a batch-1 LSTM step). Cephes' polynomials: exp within
//! 2 ulp over its range, tanh within ~3 ulp; NaN in gives NaN out. No `floor` or float→int casts, which would
//! stop vectorisation on baseline x86-64: rounding uses the 1.5·2²³ trick and 2ⁿ is built from the bits.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a high part exact in f32 and a low remainder (Cody–Waite reduction).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding 1.5·2²³ rounds a float of magnitude < 2²² to an integer held in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// eˣ for x in [−87.3, 88] (where 2ⁿ stays a normal float); inputs outside are clamped into that range.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // `if` selects rather than min/max so that a NaN passes through untouched.
    let x = if x > 88.0 { 88.0 } else { x };
    let x = if x < -87.3 { -87.3 } else { x };
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
    let y = p * r * r + r + 1.0;
    y * f32::from_bits((n_bits.wrapping_add(127) as u32) << 23)
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

#[cfg(test)]
mod tests {
    /// Relative error against f64 over a dense grid, with the absolute floor tanh and sigmoid need near 0/1.
    #[test]
    fn accurate_against_f64() {
        let mut worst = [0.0f64; 3];
        let mut x = -90.0f64;
        while x < 90.0 {
            let xf = x as f32;
            let xd = xf as f64;
            let e = super::exp(xf) as f64;
            let e_true = xd.clamp(-87.3f32 as f64, 88.0).exp();
            worst[0] = worst[0].max((e - e_true).abs() / e_true);
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
