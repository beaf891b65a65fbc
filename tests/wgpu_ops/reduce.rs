//! sum / mean / max over one axis (both kernel geometries), and their backward.

use crate::common::{both, close, cpu, gpu, same, Rng};
use tickgrad::ops::reduce::ReduceDims;

const DIMS: [(usize, usize, usize); 8] =
    [(1, 1, 1), (1, 7, 1), (5, 3, 4), (1, 1000, 1), (3, 300, 1), (2, 100, 3), (4, 10, 200), (1, 5000, 2)];

#[test]
fn sum_and_mean_match_cpu() {
    let mut rng = Rng::new(30);
    for (outer, axis, inner) in DIMS {
        let d = ReduceDims { outer, axis, inner };
        let (xc, xg) = both(&rng.vec(d.in_len()));
        let (dc, dg) = both(&rng.vec(d.out_len()));
        for mean in [false, true] {
            let what = format!("{} {d:?}", if mean { "mean" } else { "sum" });
            close(&what, &gpu().sum(&d, &xg, mean).unwrap(), &cpu().sum(&d, &xc, mean).unwrap(), 1e-4);
            let want = cpu().sum_backward(&d, &dc, mean).unwrap();
            close(&format!("{what} backward"), &gpu().sum_backward(&d, &dg, mean).unwrap(), &want, 1e-6);
        }
    }
}

#[test]
fn max_and_argmax_match_cpu_exactly() {
    let mut rng = Rng::new(31);
    for (outer, axis, inner) in DIMS {
        let d = ReduceDims { outer, axis, inner };
        // Coarse values make ties common, which checks the first-index rule.
        let x: Vec<f32> = rng.vec(d.in_len()).iter().map(|v| (v * 4.0).round()).collect();
        let (xc, xg) = both(&x);
        let (yc, ic) = cpu().max(&d, &xc).unwrap();
        let (yg, ig) = gpu().max(&d, &xg).unwrap();
        same(&format!("max {d:?}"), &yg, &yc);
        same(&format!("argmax {d:?}"), &ig, &ic);
        let (dc, dg) = both(&rng.vec(d.out_len()));
        same(
            &format!("max backward {d:?}"),
            &gpu().max_backward(&d, &ig, &dg).unwrap(),
            &cpu().max_backward(&d, &ic, &dc).unwrap(),
        );
    }
}
