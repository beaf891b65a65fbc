//! Reductions as plain loops over (o, a, i): the oracle. Sums accumulate in f64.

use super::{padded_target, ReduceDims};
use crate::ops::Real;

fn f64_of<T: Real>(v: T) -> f64 {
    v.to_f64().expect("Real converts to f64")
}

fn check(d: &ReduceDims, x_len: usize, y_len: usize) {
    assert_eq!(x_len, d.in_len(), "reduce: x length");
    assert_eq!(y_len, d.out_len(), "reduce: y length");
}

/// y [outer, inner] = Σ over the axis of x [outer, axis, inner].
pub fn sum_forward<T: Real>(d: &ReduceDims, x: &[T], y: &mut [T]) {
    check(d, x.len(), y.len());
    for o in 0..d.outer {
        for i in 0..d.inner {
            let mut acc = 0.0f64;
            for a in 0..d.axis {
                acc += f64_of(x[(o * d.axis + a) * d.inner + i]);
            }
            y[o * d.inner + i] = T::c(acc);
        }
    }
}

/// dx [outer, axis, inner] = dy [outer, inner] repeated along the axis.
pub fn sum_backward<T: Real>(d: &ReduceDims, dy: &[T], dx: &mut [T]) {
    check(d, dx.len(), dy.len());
    for o in 0..d.outer {
        for a in 0..d.axis {
            for i in 0..d.inner {
                dx[(o * d.axis + a) * d.inner + i] = dy[o * d.inner + i];
            }
        }
    }
}

/// y = sum / axis (NaN for an empty axis, as in PyTorch).
pub fn mean_forward<T: Real>(d: &ReduceDims, x: &[T], y: &mut [T]) {
    check(d, x.len(), y.len());
    for o in 0..d.outer {
        for i in 0..d.inner {
            let mut acc = 0.0f64;
            for a in 0..d.axis {
                acc += f64_of(x[(o * d.axis + a) * d.inner + i]);
            }
            y[o * d.inner + i] = T::c(acc / d.axis as f64);
        }
    }
}

/// dx = dy / axis repeated along the axis.
pub fn mean_backward<T: Real>(d: &ReduceDims, dy: &[T], dx: &mut [T]) {
    check(d, dx.len(), dy.len());
    let n = T::c(d.axis as f64);
    for o in 0..d.outer {
        for a in 0..d.axis {
            for i in 0..d.inner {
                dx[(o * d.axis + a) * d.inner + i] = dy[o * d.inner + i] / n;
            }
        }
    }
}

/// y = max over the axis and idx = its position (first maximum; the first NaN wins, so NaN propagates).
pub fn max_forward<T: Real>(d: &ReduceDims, x: &[T], y: &mut [T], idx: &mut [u32]) {
    check(d, x.len(), y.len());
    assert_eq!(idx.len(), y.len(), "reduce max: idx length");
    assert!(d.axis > 0 || d.out_len() == 0, "reduce max: empty axis has no maximum");
    assert!(d.axis <= u32::MAX as usize, "reduce max: axis too long for u32 indices");
    for o in 0..d.outer {
        for i in 0..d.inner {
            let mut best = x[o * d.axis * d.inner + i];
            let mut best_a = 0;
            for a in 1..d.axis {
                let v = x[(o * d.axis + a) * d.inner + i];
                if !best.is_nan() && (v > best || v.is_nan()) {
                    best = v;
                    best_a = a;
                }
            }
            y[o * d.inner + i] = best;
            idx[o * d.inner + i] = best_a as u32;
        }
    }
}

/// dx = dy at the saved argmax, 0 elsewhere.
pub fn max_backward<T: Real>(d: &ReduceDims, idx: &[u32], dy: &[T], dx: &mut [T]) {
    check(d, dx.len(), dy.len());
    assert_eq!(idx.len(), dy.len(), "reduce max backward: idx length");
    for o in 0..d.outer {
        for a in 0..d.axis {
            for i in 0..d.inner {
                let hit = idx[o * d.inner + i] as usize == a;
                dx[(o * d.axis + a) * d.inner + i] = if hit { dy[o * d.inner + i] } else { T::zero() };
            }
        }
    }
}

/// Σ_j x[j].
pub fn sum_all<T: Real>(x: &[T]) -> T {
    T::c(x.iter().map(|&v| f64_of(v)).sum::<f64>())
}

/// y [to_shape] = x [from_shape] summed over the dims where `to_shape` (left-padded with 1s) is 1.
pub fn sum_to_shape<T: Real>(from_shape: &[usize], to_shape: &[usize], x: &[T], y: &mut [T]) {
    let to = padded_target(from_shape, to_shape);
    assert_eq!(x.len(), from_shape.iter().product::<usize>(), "sum_to_shape: x length");
    assert_eq!(y.len(), to.iter().product::<usize>(), "sum_to_shape: y length");
    // Row-major strides of `to`, 0 on the summed dims, so every source element lands on its target.
    let mut to_strides = vec![0; to.len()];
    let mut s = 1;
    for k in (0..to.len()).rev() {
        to_strides[k] = if to[k] == 1 { 0 } else { s };
        s *= to[k];
    }
    let mut acc = vec![0.0f64; y.len()];
    for (j, &v) in x.iter().enumerate() {
        let (mut rest, mut t) = (j, 0);
        for k in (0..from_shape.len()).rev() {
            t += (rest % from_shape[k]) * to_strides[k];
            rest /= from_shape[k];
        }
        acc[t] += f64_of(v);
    }
    for (yv, a) in y.iter_mut().zip(acc) {
        *yv = T::c(a);
    }
}
