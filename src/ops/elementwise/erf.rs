//! erf / erfc / the standard normal CDF to f64 accuracy, for exact (erf-based) GELU.
//!
//! W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969) 631–638, as in
//! Netlib SPECFUN `calerf`: three rational approximations (|x| ≤ 0.46875 for erf, 0.46875 < |x| ≤ 4 and |x| > 4 for
//! erfc·e^{x²}), relative error below ~1e-16 in each range. e^{−x²} is split as e^{−x̂²}·e^{−(x−x̂)(x+x̂)} with x̂ = x
//! truncated to 1/16, so the large argument x² loses no bits. Short approximations (Abramowitz–Stegun 7.1.26,
//! ~1e-7) are not enough here: the f64 gradient checks resolve 1e-9.

// Coefficients at their published precision; the compiler rounds them to the nearest f64.
#![allow(clippy::excessive_precision)]

/// 1/√π.
const FRAC_1_SQRT_PI: f64 = 5.6418958354775628695e-1;
/// erf on |x| ≤ 0.46875: x·A(x²)/B(x²).
const A: [f64; 5] = [
    3.16112374387056560e00,
    1.13864154151050156e02,
    3.77485237685302021e02,
    3.20937758913846947e03,
    1.85777706184603153e-1,
];
const B: [f64; 4] = [2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03];
/// erfc on 0.46875 < |x| ≤ 4: e^{−x²}·C(x)/D(x).
const C: [f64; 9] = [
    5.64188496988670089e-1,
    8.88314979438837594e00,
    6.61191906371416295e01,
    2.98635138197400131e02,
    8.81952221241769090e02,
    1.71204761263407058e03,
    2.05107837782607147e03,
    1.23033935479799725e03,
    2.15311535474403846e-8,
];
const D: [f64; 8] = [
    1.57449261107098347e01,
    1.17693950891312499e02,
    5.37181101862009858e02,
    1.62138957456669019e03,
    3.29079923573345963e03,
    4.36261909014324716e03,
    3.43936767414372164e03,
    1.23033935480374942e03,
];
/// erfc on |x| > 4: e^{−x²}/|x|·(1/√π − P(1/x²)/(x²·Q(1/x²))).
const P: [f64; 6] = [
    3.05326634961232344e-1,
    3.60344899949804439e-1,
    1.25781726111229246e-1,
    1.60837851487422766e-2,
    6.58749161529837803e-4,
    1.63153871373020978e-2,
];
const Q: [f64; 5] = [
    2.56852019228982242e00,
    1.87295284992346047e00,
    5.27905102951428412e-1,
    6.05183413124413191e-2,
    2.33520497626869185e-3,
];
/// Beyond this erfc(x) underflows to 0 in f64.
const XBIG: f64 = 26.543;

/// erf(x) for |x| ≤ 0.46875.
fn erf_small(x: f64) -> f64 {
    let ysq = x * x;
    let mut num = A[4] * ysq;
    let mut den = ysq;
    for i in 0..3 {
        num = (num + A[i]) * ysq;
        den = (den + B[i]) * ysq;
    }
    x * (num + A[3]) / (den + B[3])
}

/// e^{y²}·erfc(y) for 0.46875 < y < XBIG: the rational part, without the Gaussian factor.
fn erfc_scaled(y: f64) -> f64 {
    if y <= 4.0 {
        let mut num = C[8] * y;
        let mut den = y;
        for i in 0..7 {
            num = (num + C[i]) * y;
            den = (den + D[i]) * y;
        }
        (num + C[7]) / (den + D[7])
    } else {
        let ysq = 1.0 / (y * y);
        let mut num = P[5] * ysq;
        let mut den = ysq;
        for i in 0..4 {
            num = (num + P[i]) * ysq;
            den = (den + Q[i]) * ysq;
        }
        (FRAC_1_SQRT_PI - ysq * (num + P[4]) / (den + Q[4])) / y
    }
}

/// erfc(y) for y > 0.46875.
fn erfc_large(y: f64) -> f64 {
    if y >= XBIG {
        return 0.0;
    }
    let yhat = (y * 16.0).trunc() / 16.0;
    let del = (y - yhat) * (y + yhat);
    (-yhat * yhat).exp() * (-del).exp() * erfc_scaled(y)
}

pub fn erf(x: f64) -> f64 {
    let y = x.abs();
    if y.is_nan() {
        x
    } else if y <= 0.46875 {
        erf_small(x)
    } else {
        let r = 1.0 - erfc_large(y);
        if x < 0.0 {
            -r
        } else {
            r
        }
    }
}

pub fn erfc(x: f64) -> f64 {
    let y = x.abs();
    if y.is_nan() {
        x
    } else if y <= 0.46875 {
        1.0 - erf_small(x)
    } else {
        let r = erfc_large(y);
        if x < 0.0 {
            2.0 - r
        } else {
            r
        }
    }
}

/// Φ(x) = P(Z ≤ x) = erfc(−x/√2)/2, accurate in the far left tail where 1 + erf(x/√2) would cancel to 0.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_677_94;

/// φ(x) = e^{−x²/2}/√(2π).
pub fn normal_pdf(x: f64) -> f64 {
    FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
}

/// (Φ(x), φ(x)) for f32 kernels, with one exp(−x²/2) shared by both (GELU's backward needs both) instead of the
/// split pair that `erfc` uses. The split only protects f64's last few bits for large x (error ~x²·2^-53 <
/// 1e-13 relative here), far below f32's 6e-8, and halves the cost of GELU.
pub fn normal_cdf_pdf_for_f32(x: f64) -> (f64, f64) {
    let e = (-0.5 * x * x).exp();
    // Φ(x) = erfc(z)/2 with z = −x/√2, and e = e^{−z²}.
    let z = -x * std::f64::consts::FRAC_1_SQRT_2;
    let y = z.abs();
    let erfc_z = if y <= 0.46875 {
        1.0 - erf_small(z)
    } else {
        let c = if y >= XBIG { 0.0 } else { e * erfc_scaled(y) };
        if z < 0.0 {
            2.0 - c
        } else {
            c
        }
    };
    (0.5 * erfc_z, FRAC_1_SQRT_2PI * e)
}
