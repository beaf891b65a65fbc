//! softmax and log-softmax over the last axis, forward and backward.

use crate::common::{both, close, cpu, gpu, Rng};
use tickgrad::ops::softmax::SoftmaxDims;

#[test]
fn forward_and_backward_match_cpu() {
    let mut rng = Rng::new(50);
    for (rows, cols) in [(1, 1), (3, 5), (17, 64), (4, 1000), (300, 3)] {
        let d = SoftmaxDims { rows, cols };
        let x: Vec<f32> = rng.vec(d.len()).iter().map(|v| v * 8.0).collect();
        let (xc, xg) = both(&x);
        let (dc, dg) = both(&rng.vec(d.len()));
        for log in [false, true] {
            let what = format!("{}softmax {d:?}", if log { "log-" } else { "" });
            let yc = cpu().softmax(&d, &xc, log).unwrap();
            let yg = gpu().softmax(&d, &xg, log).unwrap();
            close(&what, &yg, &yc, 1e-5);
            let want = cpu().softmax_backward(&d, &yc, &dc, log).unwrap();
            close(&format!("{what} backward"), &gpu().softmax_backward(&d, &yg, &dg, log).unwrap(), &want, 1e-4);
        }
    }
}
