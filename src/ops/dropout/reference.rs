//! Dropout as one loop over elements: the oracle. Forward and backward are the same masked scaling.

use super::{keep, DropoutDims};
use crate::ops::Real;

fn masked_scale<T: Real>(d: &DropoutDims, seed: u64, x: &[T], y: &mut [T]) {
    d.check();
    assert_eq!(x.len(), d.len, "dropout: input length");
    assert_eq!(y.len(), d.len, "dropout: output length");
    let t = d.threshold();
    let scale = T::one() / (T::one() - T::c(d.p as f64));
    for (i, (yi, &xi)) in y.iter_mut().zip(x).enumerate() {
        *yi = if keep(seed, i as u64, t) { xi * scale } else { T::zero() };
    }
}

/// y = x·mask/(1 − p).
pub fn dropout_forward<T: Real>(d: &DropoutDims, seed: u64, x: &[T], y: &mut [T]) {
    masked_scale(d, seed, x, y);
}

/// dx = dy·mask/(1 − p), the mask recomputed from the same seed.
pub fn dropout_backward<T: Real>(d: &DropoutDims, seed: u64, dy: &[T], dx: &mut [T]) {
    masked_scale(d, seed, dy, dx);
}
