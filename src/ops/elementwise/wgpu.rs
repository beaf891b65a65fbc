//! Launchers for `shaders/elementwise.wgsl`: unary maps, scale_shift and broadcasting binary ops.

use super::ElementwiseKernel;
use super::{BinaryOp, BroadcastDims, Unary};
use crate::backend::wgpu::{grid, store, Arg, Gpu, Launch, Params, Shader};
use crate::backend::For;
use crate::backend::{expect_len, Pair, Storage};
use crate::Result;

static SHADER: Shader = Shader::named("elementwise");

/// The shader's op code: the position in `Unary::ALL` / `BinaryOp::ALL`.
fn unary_code(op: Unary) -> usize {
    Unary::ALL.iter().position(|&u| u == op).unwrap_or(0)
}

fn binary_code(op: BinaryOp) -> usize {
    BinaryOp::ALL.iter().position(|&u| u == op).unwrap_or(0)
}

/// The broadcast reduced to as few dims as possible: size-1 output dims dropped, and neighbours merged when
/// each operand is broadcast along both or along neither (so same-shape ops become one flat dim).
pub fn collapse(d: &BroadcastDims) -> BroadcastDims {
    let mut out: Vec<(usize, usize, usize)> = Vec::new();
    for k in 0..d.rank() {
        let (o, a, b) = (d.out_shape[k], d.a_shape[k], d.b_shape[k]);
        if o == 1 {
            continue;
        }
        if let Some(last) = out.last_mut() {
            if (last.1 == 1) == (a == 1) && (last.2 == 1) == (b == 1) {
                *last = (last.0 * o, last.1 * a, last.2 * b);
                continue;
            }
        }
        out.push((o, a, b));
    }
    if out.is_empty() {
        out.push((1, 1, 1));
    }
    BroadcastDims {
        out_shape: out.iter().map(|t| t.0).collect(),
        a_shape: out.iter().map(|t| t.1).collect(),
        b_shape: out.iter().map(|t| t.2).collect(),
    }
}

fn binary_params(c: &BroadcastDims) -> Params {
    Params::new().dims(&c.out_shape, 2, 1).dims(&c.a_strides(), 2, 0).dims(&c.b_strides(), 2, 0).u(c.rank())
}

impl ElementwiseKernel for Gpu {
    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage> {
        let gpu = self.handle()?;
        let xb = gpu.buf(x)?;
        let n = xb.len();
        let y = gpu.alloc(n, For("elementwise unary", &n))?;
        let params = Params::new().u(n).u(unary_code(op)).f(0.0).f(0.0).u(1).u(0);
        gpu.run(&[Launch::new(&SHADER, "unary_fwd", params, vec![Arg::R(xb), Arg::W(&y)], grid(n, 256))])?;
        Ok(store(y))
    }

    /// dx = dy·op'(x); x or y may be empty when the op does not read it.
    fn unary_backward(&self, op: Unary, x: &Storage, y: &Storage, dy: &Storage) -> Result<Storage> {
        let gpu = self.handle()?;
        let (xb, yb, dyb) = (gpu.buf(x)?, gpu.buf(y)?, gpu.buf(dy)?);
        let n = dyb.len();
        let (has_x, has_y) = (op.backward_needs_input(), op.backward_needs_output());
        if has_x {
            expect_len(&format!("unary {op:?} backward x"), xb.len(), n)?;
        }
        if has_y {
            expect_len(&format!("unary {op:?} backward y"), yb.len(), n)?;
        }
        let dx = gpu.alloc(n, For("elementwise unary_backward", &n))?;
        let params = Params::new().u(n).u(unary_code(op)).f(0.0).f(0.0).flag(has_x).flag(has_y);
        let args = vec![Arg::R(xb), Arg::R(yb), Arg::R(dyb), Arg::W(&dx)];
        gpu.run(&[Launch::new(&SHADER, "unary_bwd", params, args, grid(n, 256))])?;
        Ok(store(dx))
    }

    fn scale_shift(&self, x: &Storage, a: f32, b: f32) -> Result<Storage> {
        let gpu = self.handle()?;
        let xb = gpu.buf(x)?;
        let n = xb.len();
        let y = gpu.alloc(n, For("elementwise scale_shift", &n))?;
        let params = Params::new().u(n).u(0).f(a).f(b).u(1).u(0);
        gpu.run(&[Launch::new(&SHADER, "scale_shift", params, vec![Arg::R(xb), Arg::W(&y)], grid(n, 256))])?;
        Ok(store(y))
    }

    fn binary(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage> {
        let gpu = self.handle()?;
        let (ab, bb) = (gpu.buf(a)?, gpu.buf(b)?);
        expect_len(&format!("binary {op:?} a"), ab.len(), d.a_len())?;
        expect_len(&format!("binary {op:?} b"), bb.len(), d.b_len())?;
        let c = collapse(d);
        let n = d.out_len();
        let y = gpu.alloc(n, For("elementwise binary", d))?;
        let params = binary_params(&c).u(n).u(binary_code(op)).u(0).u(0).u(0);
        gpu.run(&[Launch::new(&SHADER, "binary_fwd", params, vec![Arg::R(ab), Arg::R(bb), Arg::W(&y)], grid(n, 256))])?;
        Ok(store(y))
    }

    /// (da, db), each summed over the dims its operand was broadcast along. An operand with the output's shape
    /// gets the one-thread-per-element kernel, a broadcast one the workgroup-per-element reduction; both are
    /// launched in one submit.
    fn binary_backward(&self, d: &BroadcastDims, op: BinaryOp, a: &Storage, b: &Storage, dy: &Storage) -> Result<Pair> {
        let gpu = self.handle()?;
        let (ab, bb, dyb) = (gpu.buf(a)?, gpu.buf(b)?, gpu.buf(dy)?);
        let reads = op.backward_needs_inputs();
        if reads {
            expect_len(&format!("binary {op:?} backward a"), ab.len(), d.a_len())?;
            expect_len(&format!("binary {op:?} backward b"), bb.len(), d.b_len())?;
        }
        expect_len(&format!("binary {op:?} backward dy"), dyb.len(), d.out_len())?;
        let c = collapse(d);
        let out_len = d.out_len();
        let (da, db) = (
            gpu.alloc(d.a_len(), For("elementwise binary_backward", d))?,
            gpu.alloc(d.b_len(), For("elementwise binary_backward", d))?,
        );
        let mut launches = Vec::with_capacity(2);
        for (which, x_shape, dx) in [(0, &c.a_shape, &da), (1, &c.b_shape, &db)] {
            let x_len = dx.len();
            if x_len == 0 {
                continue;
            }
            let count = out_len / x_len;
            let params = binary_params(&c);
            let args = vec![Arg::R(ab), Arg::R(bb), Arg::R(dyb), Arg::W(dx)];
            if *x_shape == c.out_shape {
                let params = params.u(out_len).u(binary_code(op)).u(which).u(1).flag(reads);
                launches.push(Launch::new(&SHADER, "binary_bwd_direct", params, args, grid(out_len, 256)));
            } else {
                let params = params.u(x_len).u(binary_code(op)).u(which).u(count).flag(reads);
                launches.push(Launch::new(&SHADER, "binary_bwd_reduce", params, args, grid(x_len, 1)));
            }
        }
        gpu.run(&launches)?;
        Ok((store(da), store(db)))
    }
}
