//! Dilated causal conv1d: forward (with and without bias), input gradient, weight and bias gradients.

use crate::common::{both, close, cpu, gpu, Rng};
use tickgrad::ops::conv1d::Conv1dDims;

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

/// The CPU test's cases: causal, no padding, partial padding, padding wider than the receptive field, input
/// shorter than the receptive field, kernel 1.
fn cases() -> Vec<Conv1dDims> {
    vec![
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
    ]
}

#[test]
fn forward_and_backward_match_cpu() {
    let mut rng = Rng::new(80);
    for d in cases() {
        let ((xc, xg), (wc, wg), (bc, bg)) =
            (both(&rng.vec(d.x_len())), both(&rng.vec(d.w_len())), both(&rng.vec(d.c_out)));
        let what = format!("{d:?}");
        close(
            &format!("conv1d {what}"),
            &gpu().conv1d(&d, &xg, &wg, Some(&bg)).unwrap(),
            &cpu().conv1d(&d, &xc, &wc, Some(&bc)).unwrap(),
            1e-5,
        );
        close(
            &format!("conv1d no bias {what}"),
            &gpu().conv1d(&d, &xg, &wg, None).unwrap(),
            &cpu().conv1d(&d, &xc, &wc, None).unwrap(),
            1e-5,
        );
        let (dc, dg) = both(&rng.vec(d.y_len()));
        let want = cpu().conv1d_backward_input(&d, &wc, &dc).unwrap();
        close(&format!("conv1d dx {what}"), &gpu().conv1d_backward_input(&d, &wg, &dg).unwrap(), &want, 1e-4);
        let (dwc, dbc) = cpu().conv1d_backward_weight(&d, &xc, &dc).unwrap();
        let (dwg, dbg) = gpu().conv1d_backward_weight(&d, &xg, &dg).unwrap();
        close(&format!("conv1d dw {what}"), &dwg, &dwc, 1e-4);
        close(&format!("conv1d dbias {what}"), &dbg, &dbc, 1e-4);
    }
}
