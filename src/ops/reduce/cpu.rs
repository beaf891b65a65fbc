//! Fast CPU reductions (f32). See mod.rs for the formulas and the two work shapes (inner == 1: contiguous rows;
//! inner > 1: row-into-row accumulation over column blocks).

use super::ReduceKernel;
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::{Pair, Storage};
use crate::Result;
use rayon::prelude::*;

use super::{padded_target, ReduceDims};

/// Below this many input elements one thread is faster than handing work out.
const PAR_MIN: usize = 1 << 15;
/// Elements per task when a single long row or a flat buffer is split across threads.
const TASK: usize = 1 << 14;
/// Columns of y kept in L1 while the axis streams through (inner > 1).
const COLS: usize = 512;
/// Row-sum block: summed in 8 independent f32 lanes, then added to an f64 total.
const BLOCK: usize = 1024;
/// Parts a few long planes are split into. A constant, not the thread count: every split fixes an order of
/// additions, and a split that followed the threads made the sums (and so training) differ in the last bits
/// between machines with other core counts, which a resumed run (`train --resume`) must not see. 2 is the split
/// the 2-core machines always made, so every model trained and every figure published there stays the same;
/// 8 parts would scale further on many-core CPUs but moves every trained model's bits (the main job's seed-0
/// Sharpe went from 4.80 to 4.11 with 8). `conv1d::cpu::WEIGHT_GRAD_CHUNKS` is the same choice.
const PARTS: usize = 2;

fn check(d: &ReduceDims, x_len: usize, y_len: usize) {
    assert_eq!(x_len, d.in_len(), "reduce: x length");
    assert_eq!(y_len, d.out_len(), "reduce: y length");
}

/// Σ x in f64, from 8-lane f32 partial sums per `BLOCK`: vectorises, and the error grows with BLOCK/8 rather than
/// with the length.
fn sum_contig(x: &[f32]) -> f64 {
    let mut total = 0.0f64;
    for block in x.chunks(BLOCK) {
        let mut lanes = [0.0f32; 8];
        let mut it = block.chunks_exact(8);
        for c in &mut it {
            for (l, &v) in lanes.iter_mut().zip(c) {
                *l += v;
            }
        }
        let rem: f32 = it.remainder().iter().sum();
        total += (((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7])))
            as f64
            + rem as f64;
    }
    total
}

fn par_sum(x: &[f32]) -> f64 {
    if x.len() >= PAR_MIN {
        // Collected, then added in order: rayon's own `sum` combines in a tree shaped by work stealing.
        let parts: Vec<f64> = x.par_chunks(TASK).map(sum_contig).collect();
        parts.iter().sum()
    } else {
        sum_contig(x)
    }
}

/// Sum (or mean) along the axis into y.
fn sum_into(d: &ReduceDims, x: &[f32], y: &mut [f32], mean: bool) {
    check(d, x.len(), y.len());
    if y.is_empty() {
        return;
    }
    let (a, n) = (d.axis, d.inner);
    let big = x.len() >= PAR_MIN;
    if n == 1 {
        let finish = |s: f64| (if mean { s / a as f64 } else { s }) as f32;
        if !big {
            for (o, yv) in y.iter_mut().enumerate() {
                *yv = finish(sum_contig(&x[o * a..(o + 1) * a]));
            }
        } else if d.outer >= PARTS {
            let min_len = (TASK / a.max(1)).max(1);
            y.par_iter_mut().with_min_len(min_len).enumerate().for_each(|(o, yv)| {
                *yv = finish(sum_contig(&x[o * a..(o + 1) * a]));
            });
        } else {
            for (o, yv) in y.iter_mut().enumerate() {
                *yv = finish(par_sum(&x[o * a..(o + 1) * a]));
            }
        }
        return;
    }
    let block = |o: usize, c0: usize, yc: &mut [f32]| {
        yc.fill(0.0);
        for ai in 0..a {
            let xr = &x[(o * a + ai) * n + c0..(o * a + ai) * n + c0 + yc.len()];
            for (yv, &xv) in yc.iter_mut().zip(xr) {
                *yv += xv;
            }
        }
        if mean {
            // An empty axis gives 0/0 = NaN, as PyTorch's mean does.
            let m = a as f32;
            yc.iter_mut().for_each(|v| *v /= m);
        }
    };
    if big && d.outer < PARTS && a >= 2 * PARTS {
        // Few planes (the bias-gradient shape [rows, n] → [n]): each of PARTS tasks sums a contiguous run of
        // rows into a private row, so memory streams front to back; the rows are added in order at the end.
        let per = a.div_ceil(PARTS);
        for (o, yo) in y.chunks_mut(n).enumerate() {
            let parts: Vec<Vec<f32>> = (0..PARTS)
                .into_par_iter()
                .map(|c| {
                    let mut acc = vec![0.0f32; n];
                    for ai in c * per..((c + 1) * per).min(a) {
                        let xr = &x[(o * a + ai) * n..(o * a + ai + 1) * n];
                        acc.iter_mut().zip(xr).for_each(|(s, &v)| *s += v);
                    }
                    acc
                })
                .collect();
            yo.fill(0.0);
            for p in &parts {
                yo.iter_mut().zip(p).for_each(|(s, &v)| *s += v);
            }
            if mean {
                let m = a as f32;
                yo.iter_mut().for_each(|v| *v /= m);
            }
        }
    } else if big {
        let min_len = (TASK / (a * n).max(1)).max(1);
        y.par_chunks_mut(n).with_min_len(min_len).enumerate().for_each(|(o, yo)| {
            yo.par_chunks_mut(COLS).enumerate().for_each(|(cb, yc)| block(o, cb * COLS, yc));
        });
    } else {
        for (o, yo) in y.chunks_mut(n).enumerate() {
            for (cb, yc) in yo.chunks_mut(COLS).enumerate() {
                block(o, cb * COLS, yc);
            }
        }
    }
}

/// y [outer, inner] = Σ over the axis of x [outer, axis, inner].
pub fn sum_forward(d: &ReduceDims, x: &[f32], y: &mut [f32]) {
    sum_into(d, x, y, false);
}

/// y = sum / axis.
pub fn mean_forward(d: &ReduceDims, x: &[f32], y: &mut [f32]) {
    sum_into(d, x, y, true);
}

/// dx[o, a, :] = dy[o, :] (divided by `div` when given, as mean's backward is).
fn spread(d: &ReduceDims, dy: &[f32], dx: &mut [f32], div: Option<f32>) {
    check(d, dx.len(), dy.len());
    if dx.is_empty() {
        return;
    }
    let (a, n) = (d.axis, d.inner);
    let scaled = |g: f32| div.map_or(g, |m| g / m);
    // Units are rows x[o, a, :]; when inner == 1 a row is one element, so a whole plane x[o, :] is the unit.
    let (unit, per_o) = if n == 1 { (a, 1) } else { (n, a) };
    let one = |r: usize, row: &mut [f32]| {
        let o = r / per_o;
        if n == 1 {
            row.fill(scaled(dy[o]));
        } else {
            for (v, &g) in row.iter_mut().zip(&dy[o * n..(o + 1) * n]) {
                *v = scaled(g);
            }
        }
    };
    if dx.len() >= PAR_MIN {
        let min_len = (TASK / unit).max(1);
        dx.par_chunks_mut(unit).with_min_len(min_len).enumerate().for_each(|(r, row)| one(r, row));
    } else {
        dx.chunks_mut(unit).enumerate().for_each(|(r, row)| one(r, row));
    }
}

/// dx [outer, axis, inner] = dy [outer, inner] repeated along the axis.
pub fn sum_backward(d: &ReduceDims, dy: &[f32], dx: &mut [f32]) {
    spread(d, dy, dx, None);
}

/// dx = dy / axis repeated along the axis.
pub fn mean_backward(d: &ReduceDims, dy: &[f32], dx: &mut [f32]) {
    spread(d, dy, dx, Some(d.axis as f32));
}

/// Running max update shared by both work shapes: the first maximum wins ties, the first NaN wins outright.
fn better(best: f32, v: f32) -> bool {
    // Non-short-circuit `&`/`|`, so the column loop compiles to compares and blends.
    !best.is_nan() & ((v > best) | v.is_nan())
}

/// (max, first index of it) of a non-empty row, or the first NaN. A vectorised pass finds the maximum value
/// and whether there is a NaN; a second pass stops at the first element equal to it.
fn row_argmax(xr: &[f32]) -> (f32, usize) {
    let mut lanes = [xr[0]; 8];
    let mut nan = xr[0].is_nan();
    let mut it = xr.chunks_exact(8);
    for c in &mut it {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = if v > *l { v } else { *l };
            nan |= v.is_nan();
        }
    }
    let mut m = lanes.iter().fold(lanes[0], |m, &v| if v > m { v } else { m });
    for &v in it.remainder() {
        m = if v > m { v } else { m };
        nan |= v.is_nan();
    }
    let i = if nan {
        xr.iter().position(|v| v.is_nan())
    } else {
        // With no NaN, lanes[0] starts at xr[0] and only grows, so m is a value of the row.
        xr.iter().position(|&v| v == m)
    };
    let i = i.expect("the maximum (or NaN) occurs in the row");
    (xr[i], i)
}

/// y = max over the axis, idx = its position.
pub fn max_forward(d: &ReduceDims, x: &[f32], y: &mut [f32], idx: &mut [u32]) {
    check(d, x.len(), y.len());
    assert_eq!(idx.len(), y.len(), "reduce max: idx length");
    assert!(d.axis > 0 || d.out_len() == 0, "reduce max: empty axis has no maximum");
    assert!(d.axis <= u32::MAX as usize, "reduce max: axis too long for u32 indices");
    if y.is_empty() {
        return;
    }
    let (a, n) = (d.axis, d.inner);
    let big = x.len() >= PAR_MIN;
    if n == 1 {
        let row = |o: usize, yv: &mut f32, iv: &mut u32| {
            let (best, best_a) = row_argmax(&x[o * a..(o + 1) * a]);
            *yv = best;
            *iv = best_a as u32;
        };
        if big {
            let min_len = (TASK / a).max(1);
            y.par_iter_mut().zip(idx.par_iter_mut()).with_min_len(min_len).enumerate().for_each(|(o, (yv, iv))| {
                row(o, yv, iv);
            });
        } else {
            y.iter_mut().zip(idx.iter_mut()).enumerate().for_each(|(o, (yv, iv))| row(o, yv, iv));
        }
        return;
    }
    let block = |o: usize, c0: usize, yc: &mut [f32], ic: &mut [u32]| {
        let len = yc.len();
        yc.copy_from_slice(&x[o * a * n + c0..o * a * n + c0 + len]);
        ic.fill(0);
        for ai in 1..a {
            let xr = &x[(o * a + ai) * n + c0..(o * a + ai) * n + c0 + len];
            let ai = ai as u32;
            for ((yv, iv), &v) in yc.iter_mut().zip(ic.iter_mut()).zip(xr) {
                let take = better(*yv, v);
                *yv = if take { v } else { *yv };
                *iv = if take { ai } else { *iv };
            }
        }
    };
    if big {
        let min_len = (TASK / (a * n)).max(1);
        y.par_chunks_mut(n).zip(idx.par_chunks_mut(n)).with_min_len(min_len).enumerate().for_each(|(o, (yo, io))| {
            yo.par_chunks_mut(COLS)
                .zip(io.par_chunks_mut(COLS))
                .enumerate()
                .for_each(|(cb, (yc, ic))| block(o, cb * COLS, yc, ic));
        });
    } else {
        for (o, (yo, io)) in y.chunks_mut(n).zip(idx.chunks_mut(n)).enumerate() {
            for (cb, (yc, ic)) in yo.chunks_mut(COLS).zip(io.chunks_mut(COLS)).enumerate() {
                block(o, cb * COLS, yc, ic);
            }
        }
    }
}

/// dx = dy at the saved argmax, 0 elsewhere. Written row by row (dx[o, a, i] = dy[o, i] where idx[o, i] == a),
/// so every element is written once and rows split across threads without a scatter.
pub fn max_backward(d: &ReduceDims, idx: &[u32], dy: &[f32], dx: &mut [f32]) {
    check(d, dx.len(), dy.len());
    assert_eq!(idx.len(), dy.len(), "reduce max backward: idx length");
    if dx.is_empty() {
        return;
    }
    let (a, n) = (d.axis, d.inner);
    let (unit, per_o) = if n == 1 { (a, 1) } else { (n, a) };
    let one = |r: usize, row: &mut [f32]| {
        if n == 1 {
            row.fill(0.0);
            row[idx[r] as usize] = dy[r];
        } else {
            let (o, ai) = (r / per_o, (r % per_o) as u32);
            let (io, go) = (&idx[o * n..(o + 1) * n], &dy[o * n..(o + 1) * n]);
            for ((v, &i), &g) in row.iter_mut().zip(io).zip(go) {
                *v = if i == ai { g } else { 0.0 };
            }
        }
    };
    if dx.len() >= PAR_MIN {
        let min_len = (TASK / unit).max(1);
        dx.par_chunks_mut(unit).with_min_len(min_len).enumerate().for_each(|(r, row)| one(r, row));
    } else {
        dx.chunks_mut(unit).enumerate().for_each(|(r, row)| one(r, row));
    }
}

/// Σ_j x[j].
pub fn sum_all(x: &[f32]) -> f32 {
    par_sum(x) as f32
}

/// y [to_shape] = x [from_shape] summed over the dims where `to_shape` (left-padded with 1s) is 1.
///
/// Dims are collapsed into alternating kept/reduced groups (size-1 dims dropped); each reduced group is then one
/// [outer, axis, inner] sum, innermost group first, through a scratch buffer until the last lands in y.
pub fn sum_to_shape(from_shape: &[usize], to_shape: &[usize], x: &[f32], y: &mut [f32]) {
    let to = padded_target(from_shape, to_shape);
    assert_eq!(x.len(), from_shape.iter().product::<usize>(), "sum_to_shape: x length");
    assert_eq!(y.len(), to.iter().product::<usize>(), "sum_to_shape: y length");
    if x.is_empty() {
        y.fill(0.0);
        return;
    }
    let mut groups: Vec<(usize, bool)> = Vec::new();
    for (&f, &t) in from_shape.iter().zip(&to) {
        if f == 1 {
            continue;
        }
        let reduced = t == 1;
        match groups.last_mut() {
            Some(g) if g.1 == reduced => g.0 *= f,
            _ => groups.push((f, reduced)),
        }
    }
    let mut cur: Option<Vec<f32>> = None;
    while let Some(g) = groups.iter().rposition(|g| g.1) {
        let d = ReduceDims {
            outer: groups[..g].iter().map(|g| g.0).product(),
            axis: groups[g].0,
            inner: groups[g + 1..].iter().map(|g| g.0).product(),
        };
        groups.remove(g);
        let src = cur.as_deref().unwrap_or(x);
        if groups.iter().any(|g| g.1) {
            let mut next = vec![0.0f32; d.out_len()];
            sum_forward(&d, src, &mut next);
            cur = Some(next);
        } else {
            sum_forward(&d, src, y);
            return;
        }
    }
    y.copy_from_slice(x);
}

impl ReduceKernel for CpuBackend {
    fn sum(&self, d: &ReduceDims, x: &Storage, mean: bool) -> Result<Storage> {
        let mut y = buf(d.outer * d.inner);
        if mean {
            mean_forward(d, host(x)?, &mut y);
        } else {
            sum_forward(d, host(x)?, &mut y);
        }
        Ok(out(y))
    }

    fn sum_backward(&self, d: &ReduceDims, dy: &Storage, mean: bool) -> Result<Storage> {
        let mut dx = buf(d.outer * d.axis * d.inner);
        if mean {
            mean_backward(d, host(dy)?, &mut dx);
        } else {
            sum_backward(d, host(dy)?, &mut dx);
        }
        Ok(out(dx))
    }

    fn max(&self, d: &ReduceDims, x: &Storage) -> Result<Pair> {
        let mut y = buf(d.outer * d.inner);
        let mut idx = vec![0u32; d.outer * d.inner];
        max_forward(d, host(x)?, &mut y, &mut idx);
        Ok((out(y), out(idx.iter().map(|&i| i as f32).collect())))
    }

    fn max_backward(&self, d: &ReduceDims, idx: &Storage, dy: &Storage) -> Result<Storage> {
        let idx: Vec<u32> = host(idx)?.iter().map(|&i| i as u32).collect();
        let mut dx = buf(d.outer * d.axis * d.inner);
        max_backward(d, &idx, host(dy)?, &mut dx);
        Ok(out(dx))
    }
}
