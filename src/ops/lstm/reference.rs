//! Plain-loop LSTM: the oracle for the fast kernels. The sequence functions gather one step's slices and call
//! the cell functions, so the cell is the only place the gate math lives.

use super::LstmDims;
use crate::ops::Real;

fn sigmoid<T: Real>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// One step: (x_t, h, c) → (h_out, c_out), saving the post-activation gates [B, 4H] (i, f, g, o).
#[allow(clippy::too_many_arguments)]
pub fn lstm_cell_forward<T: Real>(
    d: &LstmDims,
    x_t: &[T],
    h: &[T],
    c: &[T],
    w_ih: &[T],
    w_hh: &[T],
    b_ih: &[T],
    b_hh: &[T],
    h_out: &mut [T],
    c_out: &mut [T],
    gates: &mut [T],
) {
    let (nb, ni, nh, g4) = (d.batch, d.input, d.hidden, d.gates());
    assert_eq!(x_t.len(), d.step_x_len(), "lstm cell: x_t");
    for s in [h, c] {
        assert_eq!(s.len(), d.state_len(), "lstm cell: h/c");
    }
    assert_eq!(w_ih.len(), d.w_ih_len(), "lstm cell: w_ih");
    assert_eq!(w_hh.len(), d.w_hh_len(), "lstm cell: w_hh");
    assert_eq!(b_ih.len(), g4, "lstm cell: b_ih");
    assert_eq!(b_hh.len(), g4, "lstm cell: b_hh");
    assert_eq!(h_out.len(), d.state_len(), "lstm cell: h_out");
    assert_eq!(c_out.len(), d.state_len(), "lstm cell: c_out");
    assert_eq!(gates.len(), d.step_gates_len(), "lstm cell: gates");
    for b in 0..nb {
        for r in 0..g4 {
            let mut pre = b_ih[r] + b_hh[r];
            for k in 0..ni {
                pre = pre + w_ih[r * ni + k] * x_t[b * ni + k];
            }
            for k in 0..nh {
                pre = pre + w_hh[r * nh + k] * h[b * nh + k];
            }
            let is_cell_gate = r / nh == 2;
            gates[b * g4 + r] = if is_cell_gate { pre.tanh() } else { sigmoid(pre) };
        }
        for j in 0..nh {
            let row = &gates[b * g4..(b + 1) * g4];
            let (i, f, g, o) = (row[j], row[nh + j], row[2 * nh + j], row[3 * nh + j]);
            let c_new = f * c[b * nh + j] + i * g;
            c_out[b * nh + j] = c_new;
            h_out[b * nh + j] = o * c_new.tanh();
        }
    }
}

/// Backward of one step. `dh_out`, `dc_out` reach h_out, c_out; writes dx [B, input], dh, dc [B, H],
/// dw_ih [4H, input], dw_hh [4H, H] and db [4H] (the gradient of b_ih and of b_hh alike).
#[allow(clippy::too_many_arguments)]
pub fn lstm_cell_backward<T: Real>(
    d: &LstmDims,
    x_t: &[T],
    h: &[T],
    c: &[T],
    w_ih: &[T],
    w_hh: &[T],
    gates: &[T],
    c_out: &[T],
    dh_out: &[T],
    dc_out: &[T],
    dx: &mut [T],
    dh: &mut [T],
    dc: &mut [T],
    dw_ih: &mut [T],
    dw_hh: &mut [T],
    db: &mut [T],
) {
    let (nb, ni, nh, g4) = (d.batch, d.input, d.hidden, d.gates());
    assert_eq!(x_t.len(), d.step_x_len(), "lstm cell backward: x_t");
    for s in [h, c, c_out, dh_out, dc_out] {
        assert_eq!(s.len(), d.state_len(), "lstm cell backward: state-shaped input");
    }
    assert_eq!(w_ih.len(), d.w_ih_len(), "lstm cell backward: w_ih");
    assert_eq!(w_hh.len(), d.w_hh_len(), "lstm cell backward: w_hh");
    assert_eq!(gates.len(), d.step_gates_len(), "lstm cell backward: gates");
    assert_eq!(dx.len(), d.step_x_len(), "lstm cell backward: dx");
    assert_eq!(dh.len(), d.state_len(), "lstm cell backward: dh");
    assert_eq!(dc.len(), d.state_len(), "lstm cell backward: dc");
    assert_eq!(dw_ih.len(), d.w_ih_len(), "lstm cell backward: dw_ih");
    assert_eq!(dw_hh.len(), d.w_hh_len(), "lstm cell backward: dw_hh");
    assert_eq!(db.len(), g4, "lstm cell backward: db");

    // Gradient of the pre-activations, [B, 4H].
    let mut dpre = vec![T::zero(); nb * g4];
    for b in 0..nb {
        let row = &gates[b * g4..(b + 1) * g4];
        for j in 0..nh {
            let (i, f, g, o) = (row[j], row[nh + j], row[2 * nh + j], row[3 * nh + j]);
            let s = b * nh + j;
            let tanh_c = c_out[s].tanh();
            let dc_total = dc_out[s] + dh_out[s] * o * (T::one() - tanh_c * tanh_c);
            dpre[b * g4 + j] = dc_total * g * i * (T::one() - i);
            dpre[b * g4 + nh + j] = dc_total * c[s] * f * (T::one() - f);
            dpre[b * g4 + 2 * nh + j] = dc_total * i * (T::one() - g * g);
            dpre[b * g4 + 3 * nh + j] = dh_out[s] * tanh_c * o * (T::one() - o);
            dc[s] = dc_total * f;
        }
    }
    for b in 0..nb {
        for k in 0..ni {
            let mut acc = T::zero();
            for r in 0..g4 {
                acc = acc + dpre[b * g4 + r] * w_ih[r * ni + k];
            }
            dx[b * ni + k] = acc;
        }
        for k in 0..nh {
            let mut acc = T::zero();
            for r in 0..g4 {
                acc = acc + dpre[b * g4 + r] * w_hh[r * nh + k];
            }
            dh[b * nh + k] = acc;
        }
    }
    for r in 0..g4 {
        for k in 0..ni {
            dw_ih[r * ni + k] = (0..nb).map(|b| dpre[b * g4 + r] * x_t[b * ni + k]).sum();
        }
        for k in 0..nh {
            dw_hh[r * nh + k] = (0..nb).map(|b| dpre[b * g4 + r] * h[b * nh + k]).sum();
        }
        db[r] = (0..nb).map(|b| dpre[b * g4 + r]).sum();
    }
}

/// Copy time slice `t` of a [B, T, n] array into a [B, n] buffer.
fn gather<T: Real>(src: &[T], nb: usize, nt: usize, n: usize, t: usize, dst: &mut [T]) {
    for b in 0..nb {
        dst[b * n..(b + 1) * n].copy_from_slice(&src[(b * nt + t) * n..(b * nt + t + 1) * n]);
    }
}

/// Write a [B, n] buffer into time slice `t` of a [B, T, n] array.
fn scatter<T: Real>(src: &[T], nb: usize, nt: usize, n: usize, t: usize, dst: &mut [T]) {
    for b in 0..nb {
        dst[(b * nt + t) * n..(b * nt + t + 1) * n].copy_from_slice(&src[b * n..(b + 1) * n]);
    }
}

/// The whole sequence: hs, cs [B, T, H] and gates [B, T, 4H] in time order; see the module doc for `reverse`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_seq_forward<T: Real>(
    d: &LstmDims,
    x: &[T],
    h0: &[T],
    c0: &[T],
    w_ih: &[T],
    w_hh: &[T],
    b_ih: &[T],
    b_hh: &[T],
    hs: &mut [T],
    cs: &mut [T],
    gates: &mut [T],
) {
    let (nb, nt, ni, nh, g4) = (d.batch, d.t, d.input, d.hidden, d.gates());
    assert_eq!(x.len(), d.x_len(), "lstm seq: x");
    assert_eq!(h0.len(), d.state_len(), "lstm seq: h0");
    assert_eq!(c0.len(), d.state_len(), "lstm seq: c0");
    assert_eq!(hs.len(), d.seq_len(), "lstm seq: hs");
    assert_eq!(cs.len(), d.seq_len(), "lstm seq: cs");
    assert_eq!(gates.len(), d.seq_gates_len(), "lstm seq: gates");
    let mut x_t = vec![T::zero(); nb * ni];
    let mut h = h0.to_vec();
    let mut c = c0.to_vec();
    let mut h_new = vec![T::zero(); nb * nh];
    let mut c_new = vec![T::zero(); nb * nh];
    let mut g_t = vec![T::zero(); nb * g4];
    for step in 0..nt {
        let t = d.time_at(step);
        gather(x, nb, nt, ni, t, &mut x_t);
        lstm_cell_forward(d, &x_t, &h, &c, w_ih, w_hh, b_ih, b_hh, &mut h_new, &mut c_new, &mut g_t);
        scatter(&h_new, nb, nt, nh, t, hs);
        scatter(&c_new, nb, nt, nh, t, cs);
        scatter(&g_t, nb, nt, g4, t, gates);
        std::mem::swap(&mut h, &mut h_new);
        std::mem::swap(&mut c, &mut c_new);
    }
}

/// Backpropagation through time. `dhs` [B, T, H] reaches every output hs; `dh_n`, `dc_n` (when given) reach
/// the final state. Writes dx [B, T, input], dh0, dc0 [B, H], dw_ih, dw_hh and db (of b_ih and b_hh alike).
#[allow(clippy::too_many_arguments)]
pub fn lstm_seq_backward<T: Real>(
    d: &LstmDims,
    x: &[T],
    h0: &[T],
    c0: &[T],
    w_ih: &[T],
    w_hh: &[T],
    hs: &[T],
    cs: &[T],
    gates: &[T],
    dhs: &[T],
    dh_n: Option<&[T]>,
    dc_n: Option<&[T]>,
    dx: &mut [T],
    dh0: &mut [T],
    dc0: &mut [T],
    dw_ih: &mut [T],
    dw_hh: &mut [T],
    db: &mut [T],
) {
    let (nb, nt, ni, nh, g4) = (d.batch, d.t, d.input, d.hidden, d.gates());
    assert_eq!(x.len(), d.x_len(), "lstm seq backward: x");
    for s in [hs, cs, dhs] {
        assert_eq!(s.len(), d.seq_len(), "lstm seq backward: [B, T, H] input");
    }
    assert_eq!(gates.len(), d.seq_gates_len(), "lstm seq backward: gates");
    assert_eq!(dx.len(), d.x_len(), "lstm seq backward: dx");
    assert_eq!(dw_ih.len(), d.w_ih_len(), "lstm seq backward: dw_ih");
    assert_eq!(dw_hh.len(), d.w_hh_len(), "lstm seq backward: dw_hh");
    assert_eq!(db.len(), g4, "lstm seq backward: db");
    // Gradients carried from step s+1 back to step s; they start as the final state's gradients.
    let mut dh_carry = dh_n.map_or_else(|| vec![T::zero(); nb * nh], <[T]>::to_vec);
    let mut dc_carry = dc_n.map_or_else(|| vec![T::zero(); nb * nh], <[T]>::to_vec);
    assert_eq!(dh_carry.len(), d.state_len(), "lstm seq backward: dh_n");
    assert_eq!(dc_carry.len(), d.state_len(), "lstm seq backward: dc_n");
    dw_ih.fill(T::zero());
    dw_hh.fill(T::zero());
    db.fill(T::zero());

    let (mut x_t, mut g_t) = (vec![T::zero(); nb * ni], vec![T::zero(); nb * g4]);
    let (mut h_prev, mut c_prev) = (vec![T::zero(); nb * nh], vec![T::zero(); nb * nh]);
    let (mut c_t, mut dh_out) = (vec![T::zero(); nb * nh], vec![T::zero(); nb * nh]);
    let (mut dx_t, mut dh, mut dc) = (vec![T::zero(); nb * ni], vec![T::zero(); nb * nh], vec![T::zero(); nb * nh]);
    let (mut dw_ih_t, mut dw_hh_t, mut db_t) =
        (vec![T::zero(); g4 * ni], vec![T::zero(); g4 * nh], vec![T::zero(); g4]);
    for step in (0..nt).rev() {
        let t = d.time_at(step);
        gather(x, nb, nt, ni, t, &mut x_t);
        gather(gates, nb, nt, g4, t, &mut g_t);
        gather(cs, nb, nt, nh, t, &mut c_t);
        if step == 0 {
            h_prev.copy_from_slice(h0);
            c_prev.copy_from_slice(c0);
        } else {
            gather(hs, nb, nt, nh, d.time_at(step - 1), &mut h_prev);
            gather(cs, nb, nt, nh, d.time_at(step - 1), &mut c_prev);
        }
        gather(dhs, nb, nt, nh, t, &mut dh_out);
        for (a, &b) in dh_out.iter_mut().zip(&dh_carry) {
            *a = *a + b;
        }
        lstm_cell_backward(
            d,
            &x_t,
            &h_prev,
            &c_prev,
            w_ih,
            w_hh,
            &g_t,
            &c_t,
            &dh_out,
            &dc_carry,
            &mut dx_t,
            &mut dh,
            &mut dc,
            &mut dw_ih_t,
            &mut dw_hh_t,
            &mut db_t,
        );
        scatter(&dx_t, nb, nt, ni, t, dx);
        for (acc, part) in [(&mut *dw_ih, &dw_ih_t), (&mut *dw_hh, &dw_hh_t), (&mut *db, &db_t)] {
            for (a, &p) in acc.iter_mut().zip(part.iter()) {
                *a = *a + p;
            }
        }
        std::mem::swap(&mut dh_carry, &mut dh);
        std::mem::swap(&mut dc_carry, &mut dc);
    }
    dh0.copy_from_slice(&dh_carry);
    dc0.copy_from_slice(&dc_carry);
}
