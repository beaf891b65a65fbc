use super::{cpu, reference, Conv1dDims};
use crate::ops::testing::{assert_close, close, cpu_backend, devices, gradcheck, poisoned, to64, tol, up, Rng};

fn dims(
    batch: usize,
    c_in: usize,
    c_out: usize,
    t_in: usize,
    kernel: usize,
    dilation: usize,
    pad: usize,
) -> Conv1dDims {
    Conv1dDims { batch, c_in, c_out, t_in, kernel, dilation, pad_left: pad }
}

/// Kernel 1, dilation 1 and 8, causal and not, padding wider than the receptive field, t_in shorter than the
/// receptive field, c_in ≠ c_out, and a size with nothing a multiple of a block size.
fn cases() -> Vec<Conv1dDims> {
    vec![
        dims(1, 1, 1, 1, 1, 1, 0),
        Conv1dDims::causal(2, 3, 5, 17, 3, 2),
        Conv1dDims::causal(3, 4, 2, 5, 2, 8), // t_in 5 < receptive field 9
        dims(2, 5, 3, 20, 1, 1, 0),           // kernel 1
        dims(2, 3, 4, 12, 3, 1, 0),           // no padding: t_out = 10
        dims(1, 2, 3, 10, 3, 2, 1),           // partial padding
        dims(2, 2, 3, 4, 3, 1, 5),            // padding wider than the receptive field: t_out 7 > t_in
        Conv1dDims::causal(2, 3, 2, 6, 2, 8),
        Conv1dDims::causal(5, 17, 23, 71, 3, 4),
        Conv1dDims::causal(1, 33, 20, 129, 2, 1),
        Conv1dDims::causal(3, 100, 90, 45, 2, 3), // c_out·c_in big enough that tap windows are split in pieces
    ]
}

#[test]
fn dims_helpers() {
    let d = Conv1dDims::causal(2, 3, 4, 10, 3, 8);
    assert_eq!(d.pad_left, 16);
    assert_eq!(d.receptive_field(), 17);
    assert_eq!(d.t_out(), 10);
    assert_eq!(dims(1, 1, 1, 3, 4, 2, 0).t_out(), 0);
    assert_eq!(dims(1, 1, 1, 12, 3, 1, 0).t_out(), 10);
    // tap 0 of a causal conv reads x[t − 16], valid from t = 16 on: empty for t_out = 10.
    assert!(d.tap_range(0).is_empty());
    assert_eq!(d.tap_range(2), 0..10);
}

#[test]
fn forward_cpu_matches_reference() {
    let mut rng = Rng::new(11);
    for d in cases() {
        let x = rng.vec32(d.x_len());
        let w = rng.vec32(d.w_len());
        let b = rng.vec32(d.c_out);
        for bias in [Some(&b[..]), None] {
            let mut want = poisoned(d.y_len());
            reference::conv1d_forward(&d, &x, &w, bias, &mut want);
            let mut got = poisoned(d.y_len());
            cpu::conv1d_forward(&d, &x, &w, bias, &mut got);
            assert_close(&format!("conv1d forward {d:?} bias {}", bias.is_some()), &got, &want, 1e-5);
        }
    }
}

#[test]
fn empty_output_when_input_shorter_than_receptive_field_without_padding() {
    let d = dims(2, 3, 3, 3, 4, 2, 0);
    assert_eq!(d.y_len(), 0);
    let mut rng = Rng::new(12);
    let (x, w) = (rng.vec32(d.x_len()), rng.vec32(d.w_len()));
    cpu::conv1d_forward(&d, &x, &w, None, &mut []);
    let mut dx = poisoned(d.x_len());
    cpu::conv1d_backward_input(&d, &w, &[], &mut dx);
    assert!(dx.iter().all(|&v| v == 0.0));
    let (mut dw, mut db) = (poisoned(d.w_len()), poisoned(d.c_out));
    cpu::conv1d_backward_weight(&d, &x, &[], &mut dw, Some(&mut db));
    assert!(dw.iter().chain(&db).all(|&v| v == 0.0));
}

#[test]
fn backward_cpu_matches_reference() {
    let mut rng = Rng::new(13);
    for d in cases() {
        let x = rng.vec32(d.x_len());
        let w = rng.vec32(d.w_len());
        let dy = rng.vec32(d.y_len());
        let mut want_dx = poisoned(d.x_len());
        reference::conv1d_backward_input(&d, &w, &dy, &mut want_dx);
        let mut got_dx = poisoned(d.x_len());
        cpu::conv1d_backward_input(&d, &w, &dy, &mut got_dx);
        assert_close(&format!("conv1d dx {d:?}"), &got_dx, &want_dx, 1e-5);

        let (mut want_dw, mut want_db) = (poisoned(d.w_len()), poisoned(d.c_out));
        reference::conv1d_backward_weight(&d, &x, &dy, &mut want_dw, Some(&mut want_db));
        let (mut got_dw, mut got_db) = (poisoned(d.w_len()), poisoned(d.c_out));
        cpu::conv1d_backward_weight(&d, &x, &dy, &mut got_dw, Some(&mut got_db));
        assert_close(&format!("conv1d dw {d:?}"), &got_dw, &want_dw, 1e-4);
        assert_close(&format!("conv1d dbias {d:?}"), &got_db, &want_db, 1e-4);
        let mut got_dw_only = poisoned(d.w_len());
        cpu::conv1d_backward_weight(&d, &x, &dy, &mut got_dw_only, None);
        assert_close(&format!("conv1d dw without dbias {d:?}"), &got_dw_only, &want_dw, 1e-4);
    }
}

#[test]
fn gradcheck_reference() {
    let mut rng = Rng::new(14);
    let small = [
        Conv1dDims::causal(2, 2, 3, 7, 3, 2),
        dims(1, 3, 2, 5, 2, 1, 0),
        Conv1dDims::causal(2, 2, 2, 4, 2, 8), // t_in < receptive field
        dims(2, 2, 3, 4, 3, 1, 5),
        dims(1, 2, 2, 6, 1, 1, 0),
    ];
    for d in small {
        let inputs = vec![rng.vec64(d.x_len()), rng.vec64(d.w_len()), rng.vec64(d.c_out)];
        let dy = rng.vec64(d.y_len());
        let mut dx = vec![f64::NAN; d.x_len()];
        reference::conv1d_backward_input(&d, &inputs[1], &dy, &mut dx);
        let (mut dw, mut db) = (vec![f64::NAN; d.w_len()], vec![f64::NAN; d.c_out]);
        reference::conv1d_backward_weight(&d, &inputs[0], &dy, &mut dw, Some(&mut db));
        gradcheck(&format!("conv1d {d:?}"), &inputs, &dy, &[dx, dw, db], |xs| {
            let mut y = vec![0.0; d.y_len()];
            reference::conv1d_forward(&d, &xs[0], &xs[1], Some(&xs[2]), &mut y);
            y
        });
    }
}

/// hist for `conv1d_step`: the last receptive_field columns of x, with zeros for times before the input starts.
fn last_window(d: &Conv1dDims, x: &[f32]) -> Vec<f32> {
    let rf = d.receptive_field();
    let mut hist = vec![0.0f32; d.hist_len()];
    for row in 0..d.batch * d.c_in {
        for j in 0..rf {
            let s = d.t_in as isize - rf as isize + j as isize;
            if s >= 0 {
                hist[row * rf + j] = x[row * d.t_in + s as usize];
            }
        }
    }
    hist
}

#[test]
fn step_equals_last_column_of_forward() {
    let mut rng = Rng::new(15);
    let step_cases = [
        Conv1dDims::causal(1, 3, 4, 12, 3, 2),
        Conv1dDims::causal(3, 4, 2, 5, 2, 8), // hist reaches before the input: implicit zeros
        Conv1dDims::causal(2, 5, 3, 20, 1, 1),
        dims(2, 3, 4, 12, 3, 1, 0),
        dims(1, 2, 3, 10, 3, 2, 1),
        Conv1dDims::causal(4, 17, 23, 40, 3, 4),
    ];
    for d in step_cases {
        let x = rng.vec32(d.x_len());
        let w = rng.vec32(d.w_len());
        let b = rng.vec32(d.c_out);
        let t_out = d.t_out();
        let mut y = poisoned(d.y_len());
        reference::conv1d_forward(&d, &x, &w, Some(&b), &mut y);
        let want: Vec<f32> = y.chunks(t_out).map(|row| row[t_out - 1]).collect();
        let hist = last_window(&d, &x);
        let mut got_ref = poisoned(d.step_len());
        reference::conv1d_step(&d, &hist, &w, Some(&b), &mut got_ref);
        assert_close(&format!("conv1d_step reference {d:?}"), &got_ref, &want, 1e-6);
        let mut got = poisoned(d.step_len());
        cpu::conv1d_step(&d, &hist, &w, Some(&b), &mut got);
        assert_close(&format!("conv1d_step cpu {d:?}"), &got, &want, 1e-5);
        let mut got_nobias = poisoned(d.step_len());
        cpu::conv1d_step(&d, &hist, &w, None, &mut got_nobias);
        let want_nobias: Vec<f32> = want.iter().enumerate().map(|(j, v)| v - b[j % d.c_out]).collect();
        assert_close(&format!("conv1d_step cpu no bias {d:?}"), &got_nobias, &want_nobias, 1e-5);
    }
}

#[test]
fn step_matches_in_f64() {
    let mut rng = Rng::new(16);
    let d = Conv1dDims::causal(2, 3, 2, 9, 3, 4);
    let x = rng.vec32(d.x_len());
    let w = to64(&rng.vec32(d.w_len()));
    let mut y = vec![f64::NAN; d.y_len()];
    reference::conv1d_forward(&d, &to64(&x), &w, None, &mut y);
    let mut got = vec![f64::NAN; d.step_len()];
    reference::conv1d_step(&d, &to64(&last_window(&d, &x)), &w, None, &mut got);
    for (j, g) in got.iter().enumerate() {
        let want = y[j * d.t_out() + d.t_out() - 1];
        assert!((g - want).abs() < 1e-12, "step f64 [{j}]: {g} vs {want}");
    }
}

/// The device cases: the former wgpu suite's (causal, no padding, partial padding, padding wider than the receptive
/// field, input shorter than the receptive field, kernel 1) and the former CUDA suite's, among them a dilation
/// whose halo does not fit shared memory (the direct CUDA kernel).
fn device_cases() -> Vec<Conv1dDims> {
    let mut v = vec![
        dims(1, 1, 1, 1, 1, 1, 0),
        Conv1dDims::causal(2, 3, 5, 17, 3, 2),
        Conv1dDims::causal(3, 4, 2, 5, 2, 8),
        dims(2, 5, 3, 20, 1, 1, 0),
        dims(2, 3, 4, 12, 3, 1, 0),
        dims(1, 2, 3, 10, 3, 2, 1),
        dims(2, 2, 3, 4, 3, 1, 5),
        dims(2, 3, 3, 3, 4, 2, 0),
        Conv1dDims::causal(5, 17, 23, 71, 3, 4),
        Conv1dDims::causal(3, 32, 24, 45, 2, 3),
    ];
    v.extend([
        Conv1dDims::causal(2, 3, 5, 20, 3, 1),
        Conv1dDims::causal(3, 17, 9, 150, 3, 4),
        Conv1dDims::causal(1, 2, 3, 40, 2, 16),
        dims(2, 4, 3, 30, 5, 2, 3),
        Conv1dDims::causal(1, 2, 2, 30, 2, 20000),
    ]);
    v
}

/// Every device against the CPU backend: forward with and without bias, input gradient, weight and bias gradients.
#[test]
fn forward_and_backward_match_cpu_on_every_device() {
    let mut rng = Rng::new(80);
    for be in devices("conv1d forward_and_backward_match_cpu_on_every_device") {
        let c = cpu_backend();
        for d in device_cases() {
            let (x, w, b, dy) = (rng.vec32(d.x_len()), rng.vec32(d.w_len()), rng.vec32(d.c_out), rng.vec32(d.y_len()));
            let ((xc, xg), (wc, wg), (bc, bg)) =
                ((up(c, &x), up(be, &x)), (up(c, &w), up(be, &w)), (up(c, &b), up(be, &b)));
            let what = format!("{d:?}");
            let want = c.conv1d(&d, &xc, &wc, Some(&bc)).unwrap();
            close(&format!("conv1d {what}"), &be.conv1d(&d, &xg, &wg, Some(&bg)).unwrap(), &want, 1e-5);
            let want = c.conv1d(&d, &xc, &wc, None).unwrap();
            close(&format!("conv1d no bias {what}"), &be.conv1d(&d, &xg, &wg, None).unwrap(), &want, 1e-5);
            let t = tol(be, 1e-4, 1e-5);
            let (dc, dg) = (up(c, &dy), up(be, &dy));
            let want = c.conv1d_backward_input(&d, &wc, &dc).unwrap();
            close(&format!("conv1d dx {what}"), &be.conv1d_backward_input(&d, &wg, &dg).unwrap(), &want, t);
            let (dwc, dbc) = c.conv1d_backward_weight(&d, &xc, &dc).unwrap();
            let (dwg, dbg) = be.conv1d_backward_weight(&d, &xg, &dg).unwrap();
            close(&format!("conv1d dw {what}"), &dwg, &dwc, t);
            close(&format!("conv1d dbias {what}"), &dbg, &dbc, t);
        }
    }
}
