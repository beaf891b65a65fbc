//! Shape arithmetic shared by the ops.

use crate::{Error, Result};

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Resolve a possibly negative axis.
pub fn axis(shape: &[usize], axis: isize) -> Result<usize> {
    let r = shape.len() as isize;
    let a = if axis < 0 { r + axis } else { axis };
    if a < 0 || a >= r {
        return Err(Error::Invalid(format!("axis {axis} out of range for shape {shape:?}")));
    }
    Ok(a as usize)
}

/// [outer, axis, inner] view of `shape` around axis `a`.
pub fn split3(shape: &[usize], a: usize) -> (usize, usize, usize) {
    (shape[..a].iter().product(), shape[a], shape[a + 1..].iter().product())
}
