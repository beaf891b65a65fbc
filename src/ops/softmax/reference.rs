//! Reference softmax / log-softmax over the last dimension: plain loops, generic over `Real`.

use super::SoftmaxDims;
use crate::ops::Real;

fn check<T>(d: &SoftmaxDims, a: &[T], b: &[T], c: &mut [T]) {
    assert_eq!(a.len(), d.len(), "softmax: first input length");
    assert_eq!(b.len(), d.len(), "softmax: second input length");
    assert_eq!(c.len(), d.len(), "softmax: output length");
}

/// Row max and Σ exp(x − max) of one row.
fn max_and_sum<T: Real>(row: &[T]) -> (T, T) {
    let mut m = T::neg_infinity();
    for &x in row {
        m = m.max(x);
    }
    let mut s = T::zero();
    for &x in row {
        s = s + (x - m).exp();
    }
    (m, s)
}

/// y = softmax(x) along each row.
pub fn softmax_forward<T: Real>(d: &SoftmaxDims, x: &[T], y: &mut [T]) {
    check(d, x, x, y);
    for r in 0..d.rows {
        let row = &x[r * d.cols..(r + 1) * d.cols];
        let (m, s) = max_and_sum(row);
        for c in 0..d.cols {
            y[r * d.cols + c] = (row[c] - m).exp() / s;
        }
    }
}

/// dx = y ∘ (dy − Σ dy∘y), with y the softmax output.
pub fn softmax_backward<T: Real>(d: &SoftmaxDims, y: &[T], dy: &[T], dx: &mut [T]) {
    check(d, y, dy, dx);
    for r in 0..d.rows {
        let base = r * d.cols;
        let mut dot = T::zero();
        for c in 0..d.cols {
            dot = dot + dy[base + c] * y[base + c];
        }
        for c in 0..d.cols {
            dx[base + c] = y[base + c] * (dy[base + c] - dot);
        }
    }
}

/// y = x − max − ln Σ exp(x − max) along each row.
pub fn log_softmax_forward<T: Real>(d: &SoftmaxDims, x: &[T], y: &mut [T]) {
    check(d, x, x, y);
    for r in 0..d.rows {
        let row = &x[r * d.cols..(r + 1) * d.cols];
        let (m, s) = max_and_sum(row);
        let log_s = s.ln();
        for c in 0..d.cols {
            y[r * d.cols + c] = row[c] - m - log_s;
        }
    }
}

/// dx = dy − exp(y) · Σ dy, with y the log-softmax output.
pub fn log_softmax_backward<T: Real>(d: &SoftmaxDims, y: &[T], dy: &[T], dx: &mut [T]) {
    check(d, y, dy, dx);
    for r in 0..d.rows {
        let base = r * d.cols;
        let mut sum = T::zero();
        for c in 0..d.cols {
            sum = sum + dy[base + c];
        }
        for c in 0..d.cols {
            dx[base + c] = dy[base + c] - y[base + c].exp() * sum;
        }
    }
}
