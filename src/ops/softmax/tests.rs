//! Softmax / log-softmax: fast CPU vs reference (forward and backward) at edge and parallel sizes, stability
//! on huge logits, and a finite-difference check of the reference backward in f64.

use super::{cpu, reference, SoftmaxDims};
use crate::ops::testing::{assert_close, close, cpu_backend, devices, gradcheck, poisoned, tol, up, Rng};

/// (rows, cols): single elements, a single row or column, odd sizes, and sizes split over rayon tasks.
const SHAPES: [(usize, usize); 7] = [(1, 1), (1, 7), (5, 1), (13, 37), (300, 129), (2000, 33), (3, 10000)];

type Fwd32 = fn(&SoftmaxDims, &[f32], &mut [f32]);
type Bwd32 = fn(&SoftmaxDims, &[f32], &[f32], &mut [f32]);

fn fast_matches_reference(name: &str, fwd: [Fwd32; 2], bwd: [Bwd32; 2]) {
    let mut rng = Rng::new(21);
    for &(rows, cols) in &SHAPES {
        let d = SoftmaxDims { rows, cols };
        let x: Vec<f32> = rng.vec32(d.len()).iter().map(|v| 4.0 * v).collect();
        let dy = rng.vec32(d.len());
        let mut want = poisoned(d.len());
        fwd[0](&d, &x, &mut want);
        let mut got = poisoned(d.len());
        fwd[1](&d, &x, &mut got);
        assert_close(&format!("{name} forward {d:?}"), &got, &want, 1e-5);
        let mut dx_want = poisoned(d.len());
        bwd[0](&d, &want, &dy, &mut dx_want);
        let mut dx = poisoned(d.len());
        bwd[1](&d, &want, &dy, &mut dx);
        assert_close(&format!("{name} backward {d:?}"), &dx, &dx_want, 1e-5);
    }
}

#[test]
fn softmax_cpu_matches_reference() {
    fast_matches_reference(
        "softmax",
        [reference::softmax_forward, cpu::softmax_forward],
        [reference::softmax_backward, cpu::softmax_backward],
    );
}

#[test]
fn log_softmax_cpu_matches_reference() {
    fast_matches_reference(
        "log_softmax",
        [reference::log_softmax_forward, cpu::log_softmax_forward],
        [reference::log_softmax_backward, cpu::log_softmax_backward],
    );
}

#[test]
fn huge_logits_stay_finite() {
    let d = SoftmaxDims { rows: 2, cols: 3 };
    let x = [1000.0f32, 999.0, -1000.0, -3000.0, -3001.0, -2999.0];
    let mut y = poisoned(6);
    cpu::softmax_forward(&d, &x, &mut y);
    assert!(y.iter().all(|v| v.is_finite()));
    assert!((y[0] + y[1] + y[2] - 1.0).abs() < 1e-6 && (y[0] - 0.731_058_6).abs() < 1e-6);
    let mut ly = poisoned(6);
    cpu::log_softmax_forward(&d, &x, &mut ly);
    // f32 spacing near 3000 is 2.4e-4, which bounds what the second row can resolve.
    assert!((ly[2] - -2_000.313_3).abs() < 1e-3 && (ly[5] - -0.407_606).abs() < 1e-3);
    let mut ry = poisoned(6);
    reference::softmax_forward(&d, &x, &mut ry);
    assert_close("softmax huge logits", &y, &ry, 1e-6);
}

#[test]
fn reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(22);
    for &(rows, cols) in &[(1, 1), (1, 5), (4, 7)] {
        let d = SoftmaxDims { rows, cols };
        let x: Vec<f64> = rng.vec64(d.len()).iter().map(|v| 3.0 * v).collect();
        let dy = rng.vec64(d.len());
        for log in [false, true] {
            let fwd = |xs: &[Vec<f64>]| {
                let mut y = vec![0.0; d.len()];
                if log {
                    reference::log_softmax_forward(&d, &xs[0], &mut y);
                } else {
                    reference::softmax_forward(&d, &xs[0], &mut y);
                }
                y
            };
            let inputs = vec![x.clone()];
            let y = fwd(&inputs);
            let mut dx = vec![f64::NAN; d.len()];
            if log {
                reference::log_softmax_backward(&d, &y, &dy, &mut dx);
            } else {
                reference::softmax_backward(&d, &y, &dy, &mut dx);
            }
            if cols == 1 {
                // A one-element row is constant (softmax 1, log-softmax 0): the gradient is exactly zero.
                assert!(dx.iter().all(|&g| g.abs() < 1e-15), "{d:?}: one-column gradient");
                continue;
            }
            gradcheck(&format!("softmax log={log} {d:?}"), &inputs, &dy, &[dx], fwd);
        }
    }
}

/// Every device against the CPU backend, forward and backward (the shapes of the former wgpu and CUDA suites).
#[test]
fn forward_and_backward_match_cpu_on_every_device() {
    let mut rng = Rng::new(50);
    for be in devices("softmax forward_and_backward_match_cpu_on_every_device") {
        let c = cpu_backend();
        for (rows, cols) in [(1, 1), (3, 5), (17, 64), (4, 1000), (300, 3), (9, 5), (4, 700)] {
            let d = SoftmaxDims { rows, cols };
            let x: Vec<f32> = rng.vec32(d.len()).iter().map(|v| v * 8.0).collect();
            let dy = rng.vec32(d.len());
            for log in [false, true] {
                let what = format!("{}softmax {d:?}", if log { "log-" } else { "" });
                let yc = c.softmax(&d, &up(c, &x), log).unwrap();
                let yg = be.softmax(&d, &up(be, &x), log).unwrap();
                close(&what, &yg, &yc, 1e-5);
                let want = c.softmax_backward(&d, &yc, &up(c, &dy), log).unwrap();
                let got = be.softmax_backward(&d, &yg, &up(be, &dy), log).unwrap();
                close(&format!("{what} backward"), &got, &want, tol(be, 1e-4, 1e-5));
            }
        }
    }
}
