//! LayerNorm and BatchNorm1d (train, eval, both backward modes).

use crate::common::{both, close, cpu, gpu, Rng};
use tickgrad::ops::norm::{BatchNormDims, BatchNormParams, BatchNormStats, LayerNormDims};

#[test]
fn layer_norm_matches_cpu() {
    let mut rng = Rng::new(70);
    for (rows, cols) in [(1, 1), (1, 7), (5, 32), (40, 100), (3, 700)] {
        let d = LayerNormDims { rows, cols, eps: 1e-5 };
        let x: Vec<f32> = rng.vec(d.len()).iter().map(|v| v * 3.0 + 0.5).collect();
        let ((xc, xg), (gc, gg), (bc, bg)) = (both(&x), both(&rng.vec(cols)), both(&rng.vec(cols)));
        let (yc, mc, rc) = cpu().layer_norm(&d, &xc, &gc, &bc).unwrap();
        let (yg, mg, rg) = gpu().layer_norm(&d, &xg, &gg, &bg).unwrap();
        close(&format!("layer_norm y {d:?}"), &yg, &yc, 1e-5);
        close(&format!("layer_norm mean {d:?}"), &mg, &mc, 1e-5);
        close(&format!("layer_norm rstd {d:?}"), &rg, &rc, 1e-5);
        let (dc, dg) = both(&rng.vec(d.len()));
        let (dxc, dgc, dbc) = cpu().layer_norm_backward(&d, &xc, &gc, &mc, &rc, &dc).unwrap();
        let (dxg, dgg, dbg) = gpu().layer_norm_backward(&d, &xg, &gg, &mg, &rg, &dg).unwrap();
        close(&format!("layer_norm dx {d:?}"), &dxg, &dxc, 1e-4);
        close(&format!("layer_norm dgamma {d:?}"), &dgg, &dgc, 1e-4);
        close(&format!("layer_norm dbeta {d:?}"), &dbg, &dbc, 1e-4);
    }
}

#[test]
fn batch_norm_matches_cpu() {
    let mut rng = Rng::new(71);
    for (n, c, l) in [(2, 1, 3), (4, 3, 1), (3, 5, 7), (16, 8, 30)] {
        let d = BatchNormDims { n, c, l, eps: 1e-5 };
        let x: Vec<f32> = rng.vec(d.len()).iter().map(|v| v * 2.0 - 0.3).collect();
        let (xc, xg) = both(&x);
        let ((gc, gg), (bc, bg)) = (both(&rng.vec(c)), both(&rng.vec(c)));
        let (rmc, rmg) = both(&rng.vec(c));
        let (rvc, rvg) = both(&rng.range(c, 0.5, 2.0));
        let (yc, mc, sc, rm2c, rv2c) =
            cpu().batch_norm_train(&d, &xc, &BatchNormParams { g: &gc, b: &bc, rm: &rmc, rv: &rvc }, 0.1).unwrap();
        let (yg, mg, sg, rm2g, rv2g) =
            gpu().batch_norm_train(&d, &xg, &BatchNormParams { g: &gg, b: &bg, rm: &rmg, rv: &rvg }, 0.1).unwrap();
        let what = format!("{d:?}");
        close(&format!("batch_norm train y {what}"), &yg, &yc, 1e-5);
        close(&format!("batch_norm mean {what}"), &mg, &mc, 1e-5);
        close(&format!("batch_norm rstd {what}"), &sg, &sc, 1e-5);
        close(&format!("batch_norm running mean {what}"), &rm2g, &rm2c, 1e-5);
        close(&format!("batch_norm running var {what}"), &rv2g, &rv2c, 1e-5);
        close(
            &format!("batch_norm eval y {what}"),
            &gpu().batch_norm_eval(&d, &xg, &BatchNormParams { g: &gg, b: &bg, rm: &rmg, rv: &rvg }).unwrap(),
            &cpu().batch_norm_eval(&d, &xc, &BatchNormParams { g: &gc, b: &bc, rm: &rmc, rv: &rvc }).unwrap(),
            1e-5,
        );
        let (dc, dg) = both(&rng.vec(d.len()));
        for (train, (ac, ag), (bc2, bg2)) in [(true, (&mc, &mg), (&sc, &sg)), (false, (&rmc, &rmg), (&rvc, &rvg))] {
            let (dxc, dgc, dbc) =
                cpu().batch_norm_backward(&d, &BatchNormStats { train, a: ac, b: bc2 }, &xc, &gc, &dc).unwrap();
            let (dxg, dgg, dbg) =
                gpu().batch_norm_backward(&d, &BatchNormStats { train, a: ag, b: bg2 }, &xg, &gg, &dg).unwrap();
            close(&format!("batch_norm dx train={train} {what}"), &dxg, &dxc, 1e-4);
            close(&format!("batch_norm dgamma train={train} {what}"), &dgg, &dgc, 1e-4);
            close(&format!("batch_norm dbeta train={train} {what}"), &dbg, &dbc, 1e-4);
        }
    }
}

#[test]
fn batch_norm_training_on_one_value_per_channel_is_an_error() {
    let d = BatchNormDims { n: 1, c: 2, l: 1, eps: 1e-5 };
    let (_, x) = both(&[1.0, 2.0]);
    assert!(gpu().batch_norm_train(&d, &x, &BatchNormParams { g: &x, b: &x, rm: &x, rv: &x }, 0.1).is_err());
}
