//! Launches `kernels/elementwise.cu`. Broadcast shapes are collapsed here (size-1 output dims dropped, neighbours
//! merged when both operands are contiguous or both broadcast across them), so most calls reach the kernel with
//! rank 1 or 2 and the per-element index arithmetic stays short.

use super::ElementwiseKernel;
use super::{BinaryOp, BroadcastDims, Unary};
use crate::backend::cuda::{grid_1d, CudaBackend};
use crate::backend::For;
use crate::backend::{Pair, Storage};
use crate::{Error, Result};
use cudarc::driver::{LaunchConfig, PushKernelArg};

const MAX_RANK: usize = 8;

/// Op codes shared with kernels/elementwise.cu.
fn unary_code(op: Unary) -> i32 {
    match op {
        Unary::Relu => 0,
        Unary::Tanh => 1,
        Unary::Sigmoid => 2,
        Unary::Gelu => 3,
        Unary::Exp => 4,
        Unary::Log => 5,
        Unary::Neg => 6,
        Unary::Sqrt => 7,
        Unary::Abs => 8,
        Unary::Square => 9,
        Unary::Sign => 10,
    }
}

fn binary_code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Max => 4,
        BinaryOp::Min => 5,
    }
}

/// The kernel's `Bcast` struct: rank, then shape, a strides and b strides, each padded to MAX_RANK.
fn bcast_arg(shape: &[usize], sa: &[usize], sb: &[usize]) -> Result<[i32; 1 + 3 * MAX_RANK]> {
    if shape.len() > MAX_RANK {
        return Err(Error::Invalid(format!(
            "cuda binary op: broadcast shape {shape:?} has rank {} after collapsing; the kernel takes at most \
             {MAX_RANK}",
            shape.len()
        )));
    }
    let mut out = [0i32; 1 + 3 * MAX_RANK];
    out[0] = shape.len() as i32;
    for k in 0..shape.len() {
        let fit = |v: usize| i32::try_from(v).map_err(|_| Error::Invalid(format!("cuda binary op: {v} exceeds i32")));
        out[1 + k] = fit(shape[k])?;
        out[1 + MAX_RANK + k] = fit(sa[k])?;
        out[1 + 2 * MAX_RANK + k] = fit(sb[k])?;
    }
    Ok(out)
}

/// Collapse the broadcast: drop output dims of size 1, then merge dim k into k+1 when, for each operand, the
/// two dims are both broadcast (stride 0) or contiguous with each other (stride_k = stride_{k+1}·shape_{k+1}).
fn collapse(d: &BroadcastDims) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let (sa_all, sb_all) = (d.a_strides(), d.b_strides());
    let mut shape = Vec::new();
    let mut sa = Vec::new();
    let mut sb = Vec::new();
    for k in 0..d.rank() {
        if d.out_shape[k] == 1 {
            continue;
        }
        shape.push(d.out_shape[k]);
        sa.push(sa_all[k]);
        sb.push(sb_all[k]);
    }
    let mut k = shape.len();
    while k >= 2 {
        let (i, j) = (k - 2, k - 1);
        let mergeable = |s: &[usize]| (s[i] == 0 && s[j] == 0) || (s[j] != 0 && s[i] == s[j] * shape[j]);
        if mergeable(&sa) && mergeable(&sb) {
            shape[j] *= shape[i];
            shape.remove(i);
            sa.remove(i);
            sb.remove(i);
        }
        k -= 1;
    }
    (shape, sa, sb)
}

impl ElementwiseKernel for CudaBackend {
    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage> {
        let n = x.len();
        let xs = self.input(x, n, "x")?;
        let mut y = self.alloc(n, For("elementwise unary", &n))?;
        let (n64, code) = (n as i64, unary_code(op));
        let mut l = self.kernel("unary_forward")?;
        l.arg(xs.slice()).arg(&mut *y).arg(&n64).arg(&code);
        // SAFETY: unary_forward(const float* x, float* y, long long n, int op); x and y hold n values.
        unsafe { self.launch(l, grid_1d(n), "unary_forward")? };
        Ok(self.wrap(y, n))
    }

    fn unary_backward(&self, op: Unary, x: &Storage, y: &Storage, dy: &Storage) -> Result<Storage> {
        let n = dy.len();
        let gs = self.input(dy, n, "dy")?;
        let (read_x, read_y) = (op.backward_needs_input(), op.backward_needs_output());
        // An operand the gradient does not read may self empty; the kernel never touches it.
        let xs = self.input(x, if read_x { n } else { x.len() }, "x")?;
        let ys = self.input(y, if read_y { n } else { y.len() }, "y")?;
        let mut dx = self.alloc(n, For("elementwise unary_backward", &n))?;
        let (n64, code, rx, ry) = (n as i64, unary_code(op), read_x as i32, read_y as i32);
        let mut l = self.kernel("unary_backward")?;
        l.arg(xs.slice()).arg(ys.slice()).arg(gs.slice()).arg(&mut *dx).arg(&n64).arg(&code).arg(&rx).arg(&ry);
        // SAFETY: unary_backward(const float* x, const float* y, const float* dy, float* dx, long long n, int op,
        // int read_x, int read_y); dy, dx hold n values, and x / y hold n whenever the flag says they are read.
        unsafe { self.launch(l, grid_1d(n), "unary_backward")? };
        Ok(self.wrap(dx, n))
    }

    fn scale_shift(&self, x: &Storage, a: f32, b: f32) -> Result<Storage> {
        let n = x.len();
        let xs = self.input(x, n, "x")?;
        let mut y = self.alloc(n, For("elementwise scale_shift", &n))?;
        let n64 = n as i64;
        let mut l = self.kernel("scale_shift")?;
        l.arg(xs.slice()).arg(&mut *y).arg(&n64).arg(&a).arg(&b);
        // SAFETY: scale_shift(const float* x, float* y, long long n, float a, float b); x and y hold n values.
        unsafe { self.launch(l, grid_1d(n), "scale_shift")? };
        Ok(self.wrap(y, n))
    }

    fn binary(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage> {
        let n = d.out_len();
        let (as_, bs) = (self.input(a, d.a_len(), "a")?, self.input(b, d.b_len(), "b")?);
        let (shape, sa, sb) = collapse(d);
        let bc = bcast_arg(&shape, &sa, &sb)?;
        let mut y = self.alloc(n, For("elementwise binary", d))?;
        let (n64, code) = (n as i64, binary_code(op));
        let mut l = self.kernel("binary_forward")?;
        l.arg(as_.slice()).arg(bs.slice()).arg(&mut *y).arg(&n64).arg(&code).arg(&bc);
        // SAFETY: binary_forward(const float* a, const float* b, float* y, long long n, int op, Bcast d); Bcast is 25
        // ints (rank, shape[8], sa[8], sb[8]); every offset the strides produce stays inside a and b because the
        // collapsed strides come from their own shapes, and y holds n = Π shape values.
        unsafe { self.launch(l, grid_1d(n), "binary_forward")? };
        Ok(self.wrap(y, n))
    }

    fn binary_backward(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage, dy: &Storage) -> Result<Pair> {
        let read_ab = op.backward_needs_inputs();
        let as_ = self.input(a, if read_ab { d.a_len() } else { a.len() }, "a")?;
        let bs = self.input(b, if read_ab { d.b_len() } else { b.len() }, "b")?;
        let gs = self.input(dy, d.out_len(), "dy")?;
        // No collapsing here: the fold loop needs each operand's own dims, which merging could mix.
        let bc = bcast_arg(&d.out_shape, &d.a_strides(), &d.b_strides())?;
        let code = binary_code(op);
        let mut grads = Vec::with_capacity(2);
        for (wrt_b, n_op) in [(0i32, d.a_len()), (1i32, d.b_len())] {
            let mut dx = self.alloc(n_op, For("elementwise binary_backward", d))?;
            let folds = d.out_len().checked_div(n_op).unwrap_or(0);
            let (n64, f64_, rab) = (n_op as i64, folds as i64, read_ab as i32);
            let (name, cfg) = if folds >= 64 {
                let blocks = (n_op * 32).div_ceil(256).clamp(1, 1 << 16) as u32;
                (
                    "binary_backward_warp",
                    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 },
                )
            } else {
                ("binary_backward_direct", grid_1d(n_op))
            };
            let mut l = self.kernel(name)?;
            l.arg(as_.slice())
                .arg(bs.slice())
                .arg(gs.slice())
                .arg(&mut *dx)
                .arg(&n64)
                .arg(&f64_)
                .arg(&code)
                .arg(&wrt_b);
            l.arg(&rab).arg(&bc);
            // SAFETY: binary_backward_{direct,warp}(const float* a, const float* b, const float* dy, float* dx,
            // long long n_op, long long folds, int op, int wrt_b, int read_ab, Bcast d); dx holds n_op values, every
            // folded output offset is < out_len = n_op·folds (dy's length), and a, b are read only when read_ab, in
            // which case they hold their full shapes.
            unsafe { self.launch(l, cfg, name)? };
            grads.push(self.wrap(dx, n_op));
        }
        let db = grads.pop().expect("two gradients");
        let da = grads.pop().expect("two gradients");
        Ok((da, db))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_merges_contiguous_and_broadcast_runs() {
        // [4, 5, 6] + [6]: a contiguous everywhere, b broadcast over the first two dims → [20, 6].
        let d = BroadcastDims::new(&[4, 5, 6], &[6]).unwrap();
        let (shape, sa, sb) = collapse(&d);
        assert_eq!((shape, sa, sb), (vec![20, 6], vec![6, 1], vec![0, 1]));
        // Same shapes collapse to one flat run.
        let d = BroadcastDims::new(&[2, 3, 4], &[2, 3, 4]).unwrap();
        assert_eq!(collapse(&d), (vec![24], vec![1], vec![1]));
        // A middle broadcast dim stays separate.
        let d = BroadcastDims::new(&[2, 3, 4], &[2, 1, 4]).unwrap();
        assert_eq!(collapse(&d), (vec![2, 3, 4], vec![12, 4, 1], vec![4, 0, 1]));
    }
}
