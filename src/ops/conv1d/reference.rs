//! Conv1d as plain loops over named indices: the oracle for every fast kernel. Out-of-range input times are
//! skipped, which is the same as reading the implicit zero padding.

use super::Conv1dDims;
use crate::ops::Real;

fn check(d: &Conv1dDims) {
    assert!(d.kernel >= 1, "conv1d: kernel must be at least 1");
    assert!(d.dilation >= 1, "conv1d: dilation must be at least 1");
}

/// The input time read by output time `t` through tap `k`, if it lies inside the input.
fn input_time(d: &Conv1dDims, t: usize, k: usize) -> Option<usize> {
    let s = t as isize + d.shift(k);
    (s >= 0 && s < d.t_in as isize).then_some(s as usize)
}

/// y [batch, c_out, t_out] = conv(x [batch, c_in, t_in], w [c_out, c_in, kernel]) + bias [c_out].
pub fn conv1d_forward<T: Real>(d: &Conv1dDims, x: &[T], w: &[T], bias: Option<&[T]>, y: &mut [T]) {
    check(d);
    let t_out = d.t_out();
    assert_eq!(x.len(), d.x_len(), "conv1d: x length");
    assert_eq!(w.len(), d.w_len(), "conv1d: w length");
    assert_eq!(y.len(), d.y_len(), "conv1d: y length");
    if let Some(b) = bias {
        assert_eq!(b.len(), d.c_out, "conv1d: bias length");
    }
    for b in 0..d.batch {
        for o in 0..d.c_out {
            for t in 0..t_out {
                let mut acc = bias.map_or(T::zero(), |bias| bias[o]);
                for i in 0..d.c_in {
                    for k in 0..d.kernel {
                        if let Some(s) = input_time(d, t, k) {
                            acc = acc + w[(o * d.c_in + i) * d.kernel + k] * x[(b * d.c_in + i) * d.t_in + s];
                        }
                    }
                }
                y[(b * d.c_out + o) * t_out + t] = acc;
            }
        }
    }
}

/// dx [batch, c_in, t_in] from w and dy [batch, c_out, t_out].
pub fn conv1d_backward_input<T: Real>(d: &Conv1dDims, w: &[T], dy: &[T], dx: &mut [T]) {
    check(d);
    let t_out = d.t_out();
    assert_eq!(w.len(), d.w_len(), "conv1d: w length");
    assert_eq!(dy.len(), d.y_len(), "conv1d: dy length");
    assert_eq!(dx.len(), d.x_len(), "conv1d: dx length");
    dx.fill(T::zero());
    for b in 0..d.batch {
        for o in 0..d.c_out {
            for t in 0..t_out {
                let g = dy[(b * d.c_out + o) * t_out + t];
                for i in 0..d.c_in {
                    for k in 0..d.kernel {
                        if let Some(s) = input_time(d, t, k) {
                            let xi = (b * d.c_in + i) * d.t_in + s;
                            dx[xi] = dx[xi] + w[(o * d.c_in + i) * d.kernel + k] * g;
                        }
                    }
                }
            }
        }
    }
}

/// dw [c_out, c_in, kernel] and, when asked, dbias [c_out] from x and dy.
pub fn conv1d_backward_weight<T: Real>(d: &Conv1dDims, x: &[T], dy: &[T], dw: &mut [T], dbias: Option<&mut [T]>) {
    check(d);
    let t_out = d.t_out();
    assert_eq!(x.len(), d.x_len(), "conv1d: x length");
    assert_eq!(dy.len(), d.y_len(), "conv1d: dy length");
    assert_eq!(dw.len(), d.w_len(), "conv1d: dw length");
    for o in 0..d.c_out {
        for i in 0..d.c_in {
            for k in 0..d.kernel {
                let mut acc = T::zero();
                for b in 0..d.batch {
                    for t in 0..t_out {
                        if let Some(s) = input_time(d, t, k) {
                            acc = acc + dy[(b * d.c_out + o) * t_out + t] * x[(b * d.c_in + i) * d.t_in + s];
                        }
                    }
                }
                dw[(o * d.c_in + i) * d.kernel + k] = acc;
            }
        }
    }
    if let Some(db) = dbias {
        assert_eq!(db.len(), d.c_out, "conv1d: dbias length");
        for (o, dbo) in db.iter_mut().enumerate() {
            let mut acc = T::zero();
            for b in 0..d.batch {
                for t in 0..t_out {
                    acc = acc + dy[(b * d.c_out + o) * t_out + t];
                }
            }
            *dbo = acc;
        }
    }
}

/// Newest output column y [batch, c_out] from the last `receptive_field()` inputs hist [batch, c_in, rf]
/// (oldest first). Tap k reads hist column `k·dilation`; `t_in` and `pad_left` are ignored.
pub fn conv1d_step<T: Real>(d: &Conv1dDims, hist: &[T], w: &[T], bias: Option<&[T]>, y: &mut [T]) {
    check(d);
    let rf = d.receptive_field();
    assert_eq!(hist.len(), d.hist_len(), "conv1d_step: hist length");
    assert_eq!(w.len(), d.w_len(), "conv1d_step: w length");
    assert_eq!(y.len(), d.step_len(), "conv1d_step: y length");
    if let Some(b) = bias {
        assert_eq!(b.len(), d.c_out, "conv1d_step: bias length");
    }
    for b in 0..d.batch {
        for o in 0..d.c_out {
            let mut acc = bias.map_or(T::zero(), |bias| bias[o]);
            for i in 0..d.c_in {
                for k in 0..d.kernel {
                    acc = acc + w[(o * d.c_in + i) * d.kernel + k] * hist[(b * d.c_in + i) * rf + k * d.dilation];
                }
            }
            y[b * d.c_out + o] = acc;
        }
    }
}
