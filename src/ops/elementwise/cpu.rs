//! Fast CPU elementwise ops (f32). See mod.rs for the formulas and the collapse-then-walk scheme.
//!
//! Each op is a closure handed to a generic walker, so the `match op` happens once per call and the inner loop
//! is monomorphised per op (no per-element dispatch). Work above `PAR_MIN` elements is split into `CHUNK`-sized
//! pieces across rayon's pool.

use super::ElementwiseKernel;
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::{Pair, Storage};
use crate::Result;
use rayon::prelude::*;

use super::{erf, BinaryOp, BroadcastDims, Unary};
use crate::ops::reduce::cpu::sum_to_shape;

/// Below this many elements one thread is faster than handing chunks out.
const PAR_MIN: usize = 1 << 16;
/// 64 KiB of f32 per task: big enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 1 << 14;

/// y[j] = f(x[j]).
fn map1<F: Fn(f32) -> f32 + Sync>(x: &[f32], y: &mut [f32], f: F) {
    let run = |xs: &[f32], ys: &mut [f32]| {
        for (yv, &xv) in ys.iter_mut().zip(xs) {
            *yv = f(xv);
        }
    };
    if y.len() >= PAR_MIN {
        y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(ys, xs)| run(xs, ys));
    } else {
        run(x, y);
    }
}

/// y[j] = f(s[j], g[j]).
fn map2<F: Fn(f32, f32) -> f32 + Sync>(s: &[f32], g: &[f32], y: &mut [f32], f: F) {
    let run = |ss: &[f32], gs: &[f32], ys: &mut [f32]| {
        for ((yv, &sv), &gv) in ys.iter_mut().zip(ss).zip(gs) {
            *yv = f(sv, gv);
        }
    };
    if y.len() >= PAR_MIN {
        y.par_chunks_mut(CHUNK)
            .zip(s.par_chunks(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|((ys, ss), gs)| run(ss, gs, ys));
    } else {
        run(s, g, y);
    }
}

fn gelu(x: f32) -> f32 {
    x * erf::normal_cdf_pdf_for_f32(x as f64).0 as f32
}

fn gelu_grad(x: f32) -> f32 {
    let (cdf, pdf) = erf::normal_cdf_pdf_for_f32(x as f64);
    (cdf + x as f64 * pdf) as f32
}

/// y = op(x).
pub fn unary_forward(op: Unary, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "unary {op:?}: x and y lengths");
    match op {
        Unary::Relu => map1(x, y, |v| if v < 0.0 { 0.0 } else { v }),
        Unary::Tanh => map1(x, y, f32::tanh),
        Unary::Sigmoid => map1(x, y, |v| 1.0 / (1.0 + (-v).exp())),
        Unary::Gelu => map1(x, y, gelu),
        Unary::Exp => map1(x, y, f32::exp),
        Unary::Log => map1(x, y, f32::ln),
        Unary::Neg => map1(x, y, |v| -v),
        Unary::Sqrt => map1(x, y, f32::sqrt),
        Unary::Abs => map1(x, y, f32::abs),
        Unary::Square => map1(x, y, |v| v * v),
        // ±0 and NaN pass through.
        Unary::Sign => map1(x, y, |v| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        }),
    }
}

/// dx = dy·op'(x); x or y may be empty when the op does not read it (see `Unary::backward_needs_input`).
pub fn unary_backward(op: Unary, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(dy.len(), dx.len(), "unary {op:?} backward: dy and dx lengths");
    if op.backward_needs_input() {
        assert_eq!(x.len(), dx.len(), "unary {op:?} backward: x length");
    }
    if op.backward_needs_output() {
        assert_eq!(y.len(), dx.len(), "unary {op:?} backward: y length");
    }
    match op {
        Unary::Relu => map2(x, dy, dx, |v, g| if v > 0.0 { g } else { 0.0 }),
        Unary::Tanh => map2(y, dy, dx, |v, g| g * (1.0 - v * v)),
        Unary::Sigmoid => map2(y, dy, dx, |v, g| g * v * (1.0 - v)),
        Unary::Gelu => map2(x, dy, dx, |v, g| g * gelu_grad(v)),
        Unary::Exp => map2(y, dy, dx, |v, g| g * v),
        Unary::Log => map2(x, dy, dx, |v, g| g / v),
        Unary::Neg => map1(dy, dx, |g| -g),
        Unary::Sqrt => map2(y, dy, dx, |v, g| g / (2.0 * v)),
        Unary::Abs => map2(x, dy, dx, |v, g| {
            if v > 0.0 {
                g
            } else if v < 0.0 {
                -g
            } else {
                0.0
            }
        }),
        Unary::Square => map2(x, dy, dx, |v, g| g * 2.0 * v),
        Unary::Sign => dx.fill(0.0),
    }
}

/// y = a·x + b.
pub fn scale_shift(x: &[f32], a: f32, b: f32, y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "scale_shift: x and y lengths");
    map1(x, y, |v| a * v + b);
}

/// dx = a·dy.
pub fn scale_shift_backward(a: f32, dy: &[f32], dx: &mut [f32]) {
    assert_eq!(dy.len(), dx.len(), "scale_shift backward: dy and dx lengths");
    map1(dy, dx, |g| a * g);
}

/// A broadcast op with its dims collapsed: size-1 dims dropped and neighbours merged wherever both operands are
/// contiguous across them. Rank ≥ 1; the innermost strides are 0 (broadcast) or 1 (contiguous).
struct Plan {
    shape: Vec<usize>,
    sa: Vec<usize>,
    sb: Vec<usize>,
}

impl Plan {
    fn new(d: &BroadcastDims) -> Plan {
        let (sa, sb) = (d.a_strides(), d.b_strides());
        let mut p = Plan { shape: vec![], sa: vec![], sb: vec![] };
        for k in 0..d.rank() {
            let n = d.out_shape[k];
            if n == 1 {
                continue;
            }
            if let Some(l) = p.shape.len().checked_sub(1) {
                if p.sa[l] == sa[k] * n && p.sb[l] == sb[k] * n {
                    p.shape[l] *= n;
                    p.sa[l] = sa[k];
                    p.sb[l] = sb[k];
                    continue;
                }
            }
            p.shape.push(n);
            p.sa.push(sa[k]);
            p.sb.push(sb[k]);
        }
        if p.shape.is_empty() {
            p = Plan { shape: vec![1], sa: vec![0], sb: vec![0] };
        }
        p
    }

    fn inner(&self) -> (usize, usize, usize) {
        let l = self.shape.len() - 1;
        (self.shape[l], self.sa[l], self.sb[l])
    }

    /// Offsets into a and b of the first element of row `r` (rows = all dims but the innermost).
    fn row_offsets(&self, mut r: usize) -> (usize, usize) {
        let (mut ia, mut ib) = (0, 0);
        for k in (0..self.shape.len() - 1).rev() {
            let idx = r % self.shape[k];
            r /= self.shape[k];
            ia += idx * self.sa[k];
            ib += idx * self.sb[k];
        }
        (ia, ib)
    }
}

/// Visits y in runs that stay inside one innermost row: `k(run, j, a_off, b_off)` with j the flat output index of
/// the run's first element and a_off/b_off the matching source offsets.
fn walk<K: Fn(&mut [f32], usize, usize, usize) + Sync>(p: &Plan, y: &mut [f32], k: K) {
    let (n, ia, ib) = p.inner();
    let task = |j0: usize, ys: &mut [f32]| {
        let mut j = j0;
        let mut rest = ys;
        while !rest.is_empty() {
            let (r, c) = (j / n, j % n);
            let len = (n - c).min(rest.len());
            let (run, tail) = std::mem::take(&mut rest).split_at_mut(len);
            let (ao, bo) = p.row_offsets(r);
            k(run, j, ao + c * ia, bo + c * ib);
            j += len;
            rest = tail;
        }
    };
    if y.len() >= PAR_MIN {
        y.par_chunks_mut(CHUNK).enumerate().for_each(|(c, ys)| task(c * CHUNK, ys));
    } else {
        task(0, y);
    }
}

/// One operand's values over a run: a contiguous slice, or one value repeated (inner stride 0).
#[derive(Clone, Copy)]
enum Src<'a> {
    Run(&'a [f32]),
    Splat(f32),
}

fn src(x: &[f32], off: usize, inner_stride: usize, len: usize) -> Src<'_> {
    if inner_stride == 0 {
        Src::Splat(x[off])
    } else {
        Src::Run(&x[off..off + len])
    }
}

fn apply2<F: Fn(f32, f32) -> f32>(y: &mut [f32], a: Src, b: Src, f: &F) {
    match (a, b) {
        (Src::Run(a), Src::Run(b)) => {
            for ((yv, &av), &bv) in y.iter_mut().zip(a).zip(b) {
                *yv = f(av, bv);
            }
        }
        (Src::Run(a), Src::Splat(bv)) => {
            for (yv, &av) in y.iter_mut().zip(a) {
                *yv = f(av, bv);
            }
        }
        (Src::Splat(av), Src::Run(b)) => {
            for (yv, &bv) in y.iter_mut().zip(b) {
                *yv = f(av, bv);
            }
        }
        (Src::Splat(av), Src::Splat(bv)) => y.fill(f(av, bv)),
    }
}

fn apply3<F: Fn(f32, f32, f32) -> f32>(y: &mut [f32], a: Src, b: Src, g: &[f32], f: &F) {
    match (a, b) {
        (Src::Run(a), Src::Run(b)) => {
            for (((yv, &av), &bv), &gv) in y.iter_mut().zip(a).zip(b).zip(g) {
                *yv = f(av, bv, gv);
            }
        }
        (Src::Run(a), Src::Splat(bv)) => {
            for ((yv, &av), &gv) in y.iter_mut().zip(a).zip(g) {
                *yv = f(av, bv, gv);
            }
        }
        (Src::Splat(av), Src::Run(b)) => {
            for ((yv, &bv), &gv) in y.iter_mut().zip(b).zip(g) {
                *yv = f(av, bv, gv);
            }
        }
        (Src::Splat(av), Src::Splat(bv)) => {
            for (yv, &gv) in y.iter_mut().zip(g) {
                *yv = f(av, bv, gv);
            }
        }
    }
}

/// y = f(a, b) over the broadcast output.
fn run2<F: Fn(f32, f32) -> f32 + Sync>(p: &Plan, a: &[f32], b: &[f32], y: &mut [f32], f: F) {
    let (_, ia, ib) = p.inner();
    walk(p, y, |run, _, ao, bo| {
        let len = run.len();
        apply2(run, src(a, ao, ia, len), src(b, bo, ib, len), &f)
    });
}

/// y = f(a, b, dy) over the broadcast output; dy has the output's shape.
fn run3<F: Fn(f32, f32, f32) -> f32 + Sync>(p: &Plan, a: &[f32], b: &[f32], dy: &[f32], y: &mut [f32], f: F) {
    let (_, ia, ib) = p.inner();
    walk(p, y, |run, j, ao, bo| {
        let len = run.len();
        apply3(run, src(a, ao, ia, len), src(b, bo, ib, len), &dy[j..j + len], &f)
    });
}

/// y [out_shape] = a [a_shape] ∘ b [b_shape], broadcast.
pub fn binary_forward(d: &BroadcastDims, op: BinaryOp, a: &[f32], b: &[f32], y: &mut [f32]) {
    assert_eq!(a.len(), d.a_len(), "binary {op:?}: a length");
    assert_eq!(b.len(), d.b_len(), "binary {op:?}: b length");
    assert_eq!(y.len(), d.out_len(), "binary {op:?}: y length");
    if y.is_empty() {
        return;
    }
    let p = Plan::new(d);
    match op {
        BinaryOp::Add => run2(&p, a, b, y, |x, z| x + z),
        BinaryOp::Sub => run2(&p, a, b, y, |x, z| x - z),
        BinaryOp::Mul => run2(&p, a, b, y, |x, z| x * z),
        BinaryOp::Div => run2(&p, a, b, y, |x, z| x / z),
        BinaryOp::Max => run2(&p, a, b, y, |x, z| if x.is_nan() || x > z { x } else { z }),
        BinaryOp::Min => run2(&p, a, b, y, |x, z| if x.is_nan() || x < z { x } else { z }),
    }
}

/// da [a_shape] and db [b_shape] (each only when given), summed over broadcast dims. a and b may be empty for
/// Add and Sub.
pub fn binary_backward(
    d: &BroadcastDims,
    op: BinaryOp,
    a: &[f32],
    b: &[f32],
    dy: &[f32],
    da: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
) {
    if op.backward_needs_inputs() {
        assert_eq!(a.len(), d.a_len(), "binary {op:?} backward: a length");
        assert_eq!(b.len(), d.b_len(), "binary {op:?} backward: b length");
    }
    assert_eq!(dy.len(), d.out_len(), "binary {op:?} backward: dy length");
    if let Some(da) = da {
        assert_eq!(da.len(), d.a_len(), "binary {op:?} backward: da length");
        operand_grad(d, op, true, a, b, dy, da);
    }
    if let Some(db) = db {
        assert_eq!(db.len(), d.b_len(), "binary {op:?} backward: db length");
        operand_grad(d, op, false, a, b, dy, db);
    }
}

/// The gradient of operand a (`of_a`) or b: the per-element rule evaluated over the output, then summed down to
/// the operand's shape (skipped when the operand already has the output's shape).
fn operand_grad(d: &BroadcastDims, op: BinaryOp, of_a: bool, a: &[f32], b: &[f32], dy: &[f32], grad: &mut [f32]) {
    let shape = if of_a { &d.a_shape } else { &d.b_shape };
    let negate = op == BinaryOp::Sub && !of_a;
    if !op.backward_needs_inputs() {
        if *shape == d.out_shape {
            grad.copy_from_slice(dy);
        } else {
            sum_to_shape(&d.out_shape, shape, dy, grad);
        }
        if negate {
            map1_in_place(grad, |g| -g);
        }
        return;
    }
    let mut scratch = Vec::new();
    let full: &mut [f32] = if *shape == d.out_shape {
        grad
    } else {
        scratch.resize(d.out_len(), 0.0);
        &mut scratch
    };
    if !full.is_empty() {
        let p = Plan::new(d);
        match (op, of_a) {
            (BinaryOp::Mul, true) => run3(&p, a, b, dy, full, |_, bv, g| g * bv),
            (BinaryOp::Mul, false) => run3(&p, a, b, dy, full, |av, _, g| g * av),
            (BinaryOp::Div, true) => run3(&p, a, b, dy, full, |_, bv, g| g / bv),
            (BinaryOp::Div, false) => run3(&p, a, b, dy, full, |av, bv, g| -g * av / (bv * bv)),
            // Ties split the gradient; otherwise it goes to the winner (NaN compares false: b gets it).
            (BinaryOp::Max, _) => run3(&p, a, b, dy, full, |av, bv, g| share(av, bv, g, av > bv, of_a)),
            (BinaryOp::Min, _) => run3(&p, a, b, dy, full, |av, bv, g| share(av, bv, g, av < bv, of_a)),
            (BinaryOp::Add | BinaryOp::Sub, _) => unreachable!("handled above"),
        }
    }
    if *shape != d.out_shape {
        sum_to_shape(&d.out_shape, shape, &scratch, grad);
    }
}

/// Max/Min gradient share of operand a (`for_a`) or b: g/2 on a tie, else g to the winner, else 0.
fn share(a: f32, b: f32, g: f32, a_wins: bool, for_a: bool) -> f32 {
    if a == b {
        0.5 * g
    } else if a_wins == for_a {
        g
    } else {
        0.0
    }
}

fn map1_in_place<F: Fn(f32) -> f32 + Sync>(y: &mut [f32], f: F) {
    if y.len() >= PAR_MIN {
        y.par_chunks_mut(CHUNK).for_each(|ys| ys.iter_mut().for_each(|v| *v = f(*v)));
    } else {
        y.iter_mut().for_each(|v| *v = f(*v));
    }
}

impl ElementwiseKernel for CpuBackend {
    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage> {
        let mut y = buf(x.len());
        unary_forward(op, host(x)?, &mut y);
        Ok(out(y))
    }

    fn unary_backward(&self, op: Unary, x: &Storage, y: &Storage, dy: &Storage) -> Result<Storage> {
        let mut dx = buf(x.len());
        unary_backward(op, host(x)?, host(y)?, host(dy)?, &mut dx);
        Ok(out(dx))
    }

    fn scale_shift(&self, x: &Storage, a: f32, b: f32) -> Result<Storage> {
        let mut y = buf(x.len());
        scale_shift(host(x)?, a, b, &mut y);
        Ok(out(y))
    }

    fn binary(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage> {
        let mut y = buf(d.out_shape.iter().product());
        binary_forward(d, op, host(a)?, host(b)?, &mut y);
        Ok(out(y))
    }

    fn binary_backward(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage, dy: &Storage) -> Result<Pair> {
        let (mut da, mut db) = (buf(a.len()), buf(b.len()));
        binary_backward(d, op, host(a)?, host(b)?, host(dy)?, Some(&mut da), Some(&mut db));
        Ok((out(da), out(db)))
    }
}
