//! Elementwise ops as plain loops: the oracle for every fast kernel. Reference broadcasting walks output elements
//! and computes each source offset from the multi-index.

use super::{erf, BinaryOp, BroadcastDims, Unary};
use crate::ops::Real;

fn gelu<T: Real>(x: T) -> T {
    x * T::c(erf::normal_cdf(x.to_f64().expect("Real converts to f64")))
}

/// d/dx x·Φ(x) = Φ(x) + x·φ(x).
fn gelu_grad<T: Real>(x: T) -> T {
    let xf = x.to_f64().expect("Real converts to f64");
    T::c(erf::normal_cdf(xf) + xf * erf::normal_pdf(xf))
}

/// -1, 0 or 1 (`Float::signum` gives 1 at +0, while d|x|/dx at 0 is taken as 0, like PyTorch).
fn sign<T: Real>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

/// The `Sign` op: like [`sign`], but ±0 and NaN pass through (so a NaN gradient is not silently read as "no
/// move", and −0 keeps its sign bit as on every device).
fn sign_or_nan<T: Real>(x: T) -> T {
    if x.is_nan() || x == T::zero() {
        x
    } else {
        sign(x)
    }
}

pub fn unary_value<T: Real>(op: Unary, x: T) -> T {
    match op {
        // Written so NaN propagates, as in PyTorch.
        Unary::Relu => {
            if x < T::zero() {
                T::zero()
            } else {
                x
            }
        }
        Unary::Tanh => x.tanh(),
        Unary::Sigmoid => T::one() / (T::one() + (-x).exp()),
        Unary::Gelu => gelu(x),
        Unary::Exp => x.exp(),
        Unary::Log => x.ln(),
        Unary::Neg => -x,
        Unary::Sqrt => x.sqrt(),
        Unary::Abs => x.abs(),
        Unary::Square => x * x,
        Unary::Sign => sign_or_nan(x),
    }
}

/// y = op(x).
pub fn unary_forward<T: Real>(op: Unary, x: &[T], y: &mut [T]) {
    assert_eq!(x.len(), y.len(), "unary {op:?}: x and y lengths");
    for (yj, &xj) in y.iter_mut().zip(x) {
        *yj = unary_value(op, xj);
    }
}

/// dx = dy·op'(x). x is read only if `op.backward_needs_input()`, y only if `op.backward_needs_output()`; the
/// other may be empty.
pub fn unary_backward<T: Real>(op: Unary, x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
    assert_eq!(dy.len(), dx.len(), "unary {op:?} backward: dy and dx lengths");
    if op.backward_needs_input() {
        assert_eq!(x.len(), dx.len(), "unary {op:?} backward: x length");
    }
    if op.backward_needs_output() {
        assert_eq!(y.len(), dx.len(), "unary {op:?} backward: y length");
    }
    let two = T::c(2.0);
    for j in 0..dx.len() {
        let g = dy[j];
        dx[j] = match op {
            Unary::Relu => {
                if x[j] > T::zero() {
                    g
                } else {
                    T::zero()
                }
            }
            Unary::Tanh => g * (T::one() - y[j] * y[j]),
            Unary::Sigmoid => g * y[j] * (T::one() - y[j]),
            Unary::Gelu => g * gelu_grad(x[j]),
            Unary::Exp => g * y[j],
            Unary::Log => g / x[j],
            Unary::Neg => -g,
            Unary::Sqrt => g / (two * y[j]),
            Unary::Abs => g * sign(x[j]),
            Unary::Square => g * two * x[j],
            Unary::Sign => T::zero(),
        };
    }
}

/// y = a·x + b with scalars a, b.
pub fn scale_shift<T: Real>(x: &[T], a: T, b: T, y: &mut [T]) {
    assert_eq!(x.len(), y.len(), "scale_shift: x and y lengths");
    for (yj, &xj) in y.iter_mut().zip(x) {
        *yj = a * xj + b;
    }
}

/// dx = a·dy (the gradient of `scale_shift` with respect to x).
pub fn scale_shift_backward<T: Real>(a: T, dy: &[T], dx: &mut [T]) {
    assert_eq!(dy.len(), dx.len(), "scale_shift backward: dy and dx lengths");
    for (dxj, &g) in dx.iter_mut().zip(dy) {
        *dxj = a * g;
    }
}

/// The offsets into a and b of output element `j` (row-major over out_shape), given their broadcast strides.
fn source_offsets(d: &BroadcastDims, sa: &[usize], sb: &[usize], j: usize) -> (usize, usize) {
    let (mut rest, mut ia, mut ib) = (j, 0, 0);
    for k in (0..d.rank()).rev() {
        let idx = rest % d.out_shape[k];
        rest /= d.out_shape[k];
        ia += idx * sa[k];
        ib += idx * sb[k];
    }
    (ia, ib)
}

pub fn binary_value<T: Real>(op: BinaryOp, a: T, b: T) -> T {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => {
            if a.is_nan() || a > b {
                a
            } else {
                b
            }
        }
        BinaryOp::Min => {
            if a.is_nan() || a < b {
                a
            } else {
                b
            }
        }
    }
}

/// (∂(a∘b)/∂a · g, ∂(a∘b)/∂b · g) for one element.
pub fn binary_grads<T: Real>(op: BinaryOp, a: T, b: T, g: T) -> (T, T) {
    let zero = T::zero();
    let half = T::c(0.5);
    match op {
        BinaryOp::Add => (g, g),
        BinaryOp::Sub => (g, -g),
        BinaryOp::Mul => (g * b, g * a),
        BinaryOp::Div => (g / b, -g * a / (b * b)),
        BinaryOp::Max | BinaryOp::Min => {
            let a_wins = if op == BinaryOp::Max { a > b } else { a < b };
            if a == b {
                (g * half, g * half)
            } else if a_wins {
                (g, zero)
            } else {
                (zero, g)
            }
        }
    }
}

/// y [out_shape] = a [a_shape] ∘ b [b_shape], broadcast.
pub fn binary_forward<T: Real>(d: &BroadcastDims, op: BinaryOp, a: &[T], b: &[T], y: &mut [T]) {
    assert_eq!(a.len(), d.a_len(), "binary {op:?}: a length");
    assert_eq!(b.len(), d.b_len(), "binary {op:?}: b length");
    assert_eq!(y.len(), d.out_len(), "binary {op:?}: y length");
    let (sa, sb) = (d.a_strides(), d.b_strides());
    for (j, yj) in y.iter_mut().enumerate() {
        let (ia, ib) = source_offsets(d, &sa, &sb, j);
        *yj = binary_value(op, a[ia], b[ib]);
    }
}

/// da [a_shape] and db [b_shape] (each only when given), summed over the dims the operand was broadcast along.
/// a and b are read only if `op.backward_needs_inputs()`; otherwise they may be empty.
pub fn binary_backward<T: Real>(
    d: &BroadcastDims,
    op: BinaryOp,
    a: &[T],
    b: &[T],
    dy: &[T],
    mut da: Option<&mut [T]>,
    mut db: Option<&mut [T]>,
) {
    let reads = op.backward_needs_inputs();
    if reads {
        assert_eq!(a.len(), d.a_len(), "binary {op:?} backward: a length");
        assert_eq!(b.len(), d.b_len(), "binary {op:?} backward: b length");
    }
    assert_eq!(dy.len(), d.out_len(), "binary {op:?} backward: dy length");
    if let Some(da) = da.as_deref_mut() {
        assert_eq!(da.len(), d.a_len(), "binary {op:?} backward: da length");
        da.fill(T::zero());
    }
    if let Some(db) = db.as_deref_mut() {
        assert_eq!(db.len(), d.b_len(), "binary {op:?} backward: db length");
        db.fill(T::zero());
    }
    let (sa, sb) = (d.a_strides(), d.b_strides());
    for (j, &g) in dy.iter().enumerate() {
        let (ia, ib) = source_offsets(d, &sa, &sb, j);
        let (av, bv) = if reads { (a[ia], b[ib]) } else { (T::zero(), T::zero()) };
        let (ga, gb) = binary_grads(op, av, bv, g);
        if let Some(da) = da.as_deref_mut() {
            da[ia] = da[ia] + ga;
        }
        if let Some(db) = db.as_deref_mut() {
            db[ib] = db[ib] + gb;
        }
    }
}
