//! Fast CPU softmax / log-softmax, f32: the rows are split into rayon tasks of at least `MIN_TASK` elements
//! (one task, no thread hand-off, for small inputs); within a row, separate max, exp, sum and scale passes
//! over slices, each of which vectorises (`ops::fastmath`).

use super::SoftmaxDims;
use super::SoftmaxKernel;
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::Storage;
use crate::ops::fastmath;
use crate::Result;
use rayon::prelude::*;

/// Elements per rayon task: below this the hand-off costs more than the work.
const MIN_TASK: usize = 1 << 14;

fn rows_per_task(d: &SoftmaxDims) -> usize {
    MIN_TASK.div_ceil(d.cols.max(1)).max(1)
}

fn check(d: &SoftmaxDims, a: &[f32], b: &[f32], c: &[f32]) {
    assert_eq!(a.len(), d.len(), "softmax: first input length");
    assert_eq!(b.len(), d.len(), "softmax: second input length");
    assert_eq!(c.len(), d.len(), "softmax: output length");
}

/// Applies `f(in_row, out_row)` to every row, in parallel over tasks of whole rows.
fn rows1(d: &SoftmaxDims, x: &[f32], y: &mut [f32], f: impl Fn(&[f32], &mut [f32]) + Sync + Send) {
    if d.is_empty() {
        return;
    }
    let task = rows_per_task(d) * d.cols;
    y.par_chunks_mut(task).zip(x.par_chunks(task)).for_each(|(yt, xt)| {
        for (yr, xr) in yt.chunks_mut(d.cols).zip(xt.chunks(d.cols)) {
            f(xr, yr);
        }
    });
}

/// Applies `f(y_row, dy_row, dx_row)` to every row, in parallel over tasks of whole rows.
fn rows2(d: &SoftmaxDims, y: &[f32], dy: &[f32], dx: &mut [f32], f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync + Send) {
    if d.is_empty() {
        return;
    }
    let task = rows_per_task(d) * d.cols;
    dx.par_chunks_mut(task).zip(y.par_chunks(task)).zip(dy.par_chunks(task)).for_each(|((dxt, yt), dyt)| {
        for ((dxr, yr), dyr) in dxt.chunks_mut(d.cols).zip(yt.chunks(d.cols)).zip(dyt.chunks(d.cols)) {
            f(yr, dyr, dxr);
        }
    });
}

/// Fast softmax, same contract as `reference::softmax_forward`.
pub fn softmax_forward(d: &SoftmaxDims, x: &[f32], y: &mut [f32]) {
    check(d, x, x, y);
    rows1(d, x, y, softmax_row);
}

/// One row, max-subtracted: the batch-1 plans (`serve::plan`) call it on their own rows, on their own thread.
pub(crate) fn softmax_row(xr: &[f32], yr: &mut [f32]) {
    let m = fastmath::max(xr);
    for (yv, &xv) in yr.iter_mut().zip(xr) {
        *yv = fastmath::exp(xv - m);
    }
    let inv = 1.0 / fastmath::sum(yr);
    yr.iter_mut().for_each(|v| *v *= inv);
}

/// Fast softmax backward, same contract as `reference::softmax_backward`.
pub fn softmax_backward(d: &SoftmaxDims, y: &[f32], dy: &[f32], dx: &mut [f32]) {
    check(d, y, dy, dx);
    rows2(d, y, dy, dx, |yr, dyr, dxr| {
        let dot = fastmath::dot(yr, dyr);
        for ((g, &yv), &dyv) in dxr.iter_mut().zip(yr).zip(dyr) {
            *g = yv * (dyv - dot);
        }
    });
}

/// Fast log-softmax, same contract as `reference::log_softmax_forward`. `y` holds exp(x − max) for a moment
/// so that the exponentials vectorise and the sum runs over a slice.
pub fn log_softmax_forward(d: &SoftmaxDims, x: &[f32], y: &mut [f32]) {
    check(d, x, x, y);
    rows1(d, x, y, |xr, yr| {
        let m = fastmath::max(xr);
        for (yv, &xv) in yr.iter_mut().zip(xr) {
            *yv = fastmath::exp(xv - m);
        }
        let log_s = fastmath::sum(yr).ln();
        for (yv, &xv) in yr.iter_mut().zip(xr) {
            *yv = xv - m - log_s;
        }
    });
}

/// Fast log-softmax backward, same contract as `reference::log_softmax_backward`.
pub fn log_softmax_backward(d: &SoftmaxDims, y: &[f32], dy: &[f32], dx: &mut [f32]) {
    check(d, y, dy, dx);
    rows2(d, y, dy, dx, |yr, dyr, dxr| {
        let total = fastmath::sum(dyr);
        for ((g, &yv), &dyv) in dxr.iter_mut().zip(yr).zip(dyr) {
            *g = dyv - fastmath::exp(yv) * total;
        }
    });
}

impl SoftmaxKernel for CpuBackend {
    fn softmax(&self, d: &SoftmaxDims, x: &Storage, log: bool) -> Result<Storage> {
        let mut y = buf(x.len());
        if log {
            log_softmax_forward(d, host(x)?, &mut y);
        } else {
            softmax_forward(d, host(x)?, &mut y);
        }
        Ok(out(y))
    }

    fn softmax_backward(&self, d: &SoftmaxDims, y: &Storage, dy: &Storage, log: bool) -> Result<Storage> {
        let mut dx = buf(y.len());
        if log {
            log_softmax_backward(d, host(y)?, host(dy)?, &mut dx);
        } else {
            softmax_backward(d, host(y)?, host(dy)?, &mut dx);
        }
        Ok(out(dx))
    }
}
