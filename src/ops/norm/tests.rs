//! LayerNorm and BatchNorm1d: fast CPU vs reference (forward, saved statistics, backward) at edge and
//! parallel sizes, finite-difference checks of every reference backward in f64 (x, γ, β; both BatchNorm
//! modes), and the running-statistics update against a direct computation.

use super::{cpu, reference, BatchNormDims, BatchNormParams, BatchNormSaved, LayerNormDims, LayerNormSaved};
use crate::ops::testing::{assert_close, close, cpu_backend, devices, gradcheck, poisoned, range32, tol, up, Rng};

/// Random values around a non-zero offset, so mean subtraction is exercised.
fn shifted(rng: &mut Rng, n: usize, offset: f32) -> Vec<f32> {
    rng.vec32(n).iter().map(|v| 2.0 * v + offset).collect()
}

#[test]
fn layer_norm_cpu_matches_reference() {
    let mut rng = Rng::new(31);
    for &(rows, cols) in &[(1, 1), (1, 7), (5, 2), (13, 37), (300, 129), (3000, 17), (2, 20000)] {
        let d = LayerNormDims { rows, cols, eps: 1e-5 };
        let x = shifted(&mut rng, d.len(), 0.7);
        let gamma = shifted(&mut rng, cols, 1.0);
        let beta = rng.vec32(cols);
        let dy = rng.vec32(d.len());
        let (mut y0, mut m0, mut r0) = (poisoned(d.len()), poisoned(rows), poisoned(rows));
        reference::layer_norm_forward(&d, &x, &gamma, &beta, &mut y0, &mut m0, &mut r0);
        let (mut y1, mut m1, mut r1) = (poisoned(d.len()), poisoned(rows), poisoned(rows));
        cpu::layer_norm_forward(&d, &x, &gamma, &beta, &mut y1, &mut m1, &mut r1);
        assert_close(&format!("layer_norm y {d:?}"), &y1, &y0, 1e-5);
        assert_close(&format!("layer_norm mean {d:?}"), &m1, &m0, 1e-5);
        assert_close(&format!("layer_norm rstd {d:?}"), &r1, &r0, 1e-5);
        let (mut dx0, mut dg0, mut db0) = (poisoned(d.len()), poisoned(cols), poisoned(cols));
        reference::layer_norm_backward(&d, &x, &gamma, &m0, &r0, &dy, &mut dx0, &mut dg0, &mut db0);
        let (mut dx1, mut dg1, mut db1) = (poisoned(d.len()), poisoned(cols), poisoned(cols));
        cpu::layer_norm_backward(&d, &x, &gamma, &m0, &r0, &dy, &mut dx1, &mut dg1, &mut db1);
        // With one column x̂ is 0 and dx exactly 0 in both: compare absolutely.
        if cols == 1 {
            assert!(dx1.iter().all(|&g| g == 0.0), "layer_norm one column dx");
        } else {
            assert_close(&format!("layer_norm dx {d:?}"), &dx1, &dx0, 1e-4);
        }
        assert_close(&format!("layer_norm dbeta {d:?}"), &db1, &db0, 1e-4);
        if cols > 1 {
            assert_close(&format!("layer_norm dgamma {d:?}"), &dg1, &dg0, 1e-4);
        }
    }
}

#[test]
fn layer_norm_reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(32);
    for &(rows, cols) in &[(1, 2), (3, 5), (4, 9)] {
        let d = LayerNormDims { rows, cols, eps: 1e-5 };
        let x: Vec<f64> = rng.vec64(d.len()).iter().map(|v| 2.0 * v + 0.3).collect();
        let gamma: Vec<f64> = rng.vec64(cols).iter().map(|v| v + 1.0).collect();
        let beta = rng.vec64(cols);
        let dy = rng.vec64(d.len());
        let (mut y, mut mean, mut rstd) = (vec![0.0; d.len()], vec![0.0; rows], vec![0.0; rows]);
        reference::layer_norm_forward(&d, &x, &gamma, &beta, &mut y, &mut mean, &mut rstd);
        let (mut dx, mut dg, mut db) = (vec![f64::NAN; d.len()], vec![f64::NAN; cols], vec![f64::NAN; cols]);
        reference::layer_norm_backward(&d, &x, &gamma, &mean, &rstd, &dy, &mut dx, &mut dg, &mut db);
        gradcheck(&format!("layer_norm {d:?}"), &[x, gamma, beta], &dy, &[dx, dg, db], |xs| {
            let (mut y, mut m, mut r) = (vec![0.0; d.len()], vec![0.0; rows], vec![0.0; rows]);
            reference::layer_norm_forward(&d, &xs[0], &xs[1], &xs[2], &mut y, &mut m, &mut r);
            y
        });
    }
}

const BN_SHAPES: [(usize, usize, usize); 7] =
    [(2, 1, 1), (1, 3, 5), (7, 4, 1), (5, 3, 11), (64, 33, 1), (9, 8, 300), (300, 16, 7)];

struct BnCase {
    d: BatchNormDims,
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    rmean: Vec<f32>,
    rvar: Vec<f32>,
    dy: Vec<f32>,
}

fn bn_case(rng: &mut Rng, (n, c, l): (usize, usize, usize)) -> BnCase {
    let d = BatchNormDims { n, c, l, eps: 1e-5 };
    BnCase {
        d,
        x: shifted(rng, d.len(), -0.4),
        gamma: shifted(rng, c, 1.0),
        beta: rng.vec32(c),
        rmean: rng.vec32(c),
        rvar: rng.vec32(c).iter().map(|v| v.abs() + 0.5).collect(),
        dy: rng.vec32(d.len()),
    }
}

#[test]
fn batch_norm_train_cpu_matches_reference() {
    let mut rng = Rng::new(33);
    for &shape in &BN_SHAPES {
        let BnCase { d, x, gamma, beta, dy, .. } = bn_case(&mut rng, shape);
        let (len, c) = (d.len(), d.c);
        let (mut y0, mut m0, mut r0) = (poisoned(len), poisoned(c), poisoned(c));
        reference::batch_norm_forward_train(&d, &x, &gamma, &beta, &mut y0, &mut m0, &mut r0);
        let (mut y1, mut m1, mut r1) = (poisoned(len), poisoned(c), poisoned(c));
        cpu::batch_norm_forward_train(&d, &x, &gamma, &beta, &mut y1, &mut m1, &mut r1);
        assert_close(&format!("batch_norm train y {d:?}"), &y1, &y0, 1e-5);
        assert_close(&format!("batch_norm train mean {d:?}"), &m1, &m0, 1e-5);
        assert_close(&format!("batch_norm train rstd {d:?}"), &r1, &r0, 1e-5);
        let (mut dx0, mut dg0, mut db0) = (poisoned(len), poisoned(c), poisoned(c));
        reference::batch_norm_backward_train(&d, &x, &gamma, &m0, &r0, &dy, &mut dx0, &mut dg0, &mut db0);
        let (mut dx1, mut dg1, mut db1) = (poisoned(len), poisoned(c), poisoned(c));
        cpu::batch_norm_backward_train(&d, &x, &gamma, &m0, &r0, &dy, &mut dx1, &mut dg1, &mut db1);
        assert_close(&format!("batch_norm train dx {d:?}"), &dx1, &dx0, 1e-4);
        assert_close(&format!("batch_norm train dgamma {d:?}"), &dg1, &dg0, 1e-4);
        assert_close(&format!("batch_norm train dbeta {d:?}"), &db1, &db0, 1e-4);
    }
}

#[test]
fn batch_norm_eval_cpu_matches_reference() {
    let mut rng = Rng::new(34);
    for &shape in &BN_SHAPES {
        let BnCase { d, x, gamma, beta, rmean, rvar, dy } = bn_case(&mut rng, shape);
        let (len, c) = (d.len(), d.c);
        let mut y0 = poisoned(len);
        reference::batch_norm_forward_eval(&d, &x, &gamma, &beta, &rmean, &rvar, &mut y0);
        let mut y1 = poisoned(len);
        cpu::batch_norm_forward_eval(&d, &x, &gamma, &beta, &rmean, &rvar, &mut y1);
        assert_close(&format!("batch_norm eval y {d:?}"), &y1, &y0, 1e-5);
        let (mut dx0, mut dg0, mut db0) = (poisoned(len), poisoned(c), poisoned(c));
        reference::batch_norm_backward_eval(&d, &x, &gamma, &rmean, &rvar, &dy, &mut dx0, &mut dg0, &mut db0);
        let (mut dx1, mut dg1, mut db1) = (poisoned(len), poisoned(c), poisoned(c));
        cpu::batch_norm_backward_eval(&d, &x, &gamma, &rmean, &rvar, &dy, &mut dx1, &mut dg1, &mut db1);
        assert_close(&format!("batch_norm eval dx {d:?}"), &dx1, &dx0, 1e-5);
        assert_close(&format!("batch_norm eval dgamma {d:?}"), &dg1, &dg0, 1e-4);
        assert_close(&format!("batch_norm eval dbeta {d:?}"), &db1, &db0, 1e-4);
    }
}

fn bn64(rng: &mut Rng, d: &BatchNormDims) -> [Vec<f64>; 6] {
    let x: Vec<f64> = rng.vec64(d.len()).iter().map(|v| 2.0 * v - 0.2).collect();
    let gamma: Vec<f64> = rng.vec64(d.c).iter().map(|v| v + 1.0).collect();
    let beta = rng.vec64(d.c);
    let rmean = rng.vec64(d.c);
    let rvar: Vec<f64> = rng.vec64(d.c).iter().map(|v| v.abs() + 0.5).collect();
    let dy = rng.vec64(d.len());
    [x, gamma, beta, rmean, rvar, dy]
}

#[test]
fn batch_norm_train_reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(35);
    for &(n, c, l) in &[(2, 1, 1), (4, 3, 1), (3, 2, 5)] {
        let d = BatchNormDims { n, c, l, eps: 1e-5 };
        let [x, gamma, beta, _, _, dy] = bn64(&mut rng, &d);
        let (mut y, mut mean, mut rstd) = (vec![0.0; d.len()], vec![0.0; c], vec![0.0; c]);
        reference::batch_norm_forward_train(&d, &x, &gamma, &beta, &mut y, &mut mean, &mut rstd);
        let (mut dx, mut dg, mut db) = (vec![f64::NAN; d.len()], vec![f64::NAN; c], vec![f64::NAN; c]);
        reference::batch_norm_backward_train(&d, &x, &gamma, &mean, &rstd, &dy, &mut dx, &mut dg, &mut db);
        gradcheck(&format!("batch_norm train {d:?}"), &[x, gamma, beta], &dy, &[dx, dg, db], |xs| {
            let (mut y, mut m, mut r) = (vec![0.0; d.len()], vec![0.0; c], vec![0.0; c]);
            reference::batch_norm_forward_train(&d, &xs[0], &xs[1], &xs[2], &mut y, &mut m, &mut r);
            y
        });
    }
}

#[test]
fn batch_norm_eval_reference_backward_matches_finite_differences() {
    let mut rng = Rng::new(36);
    for &(n, c, l) in &[(1, 1, 1), (4, 3, 1), (3, 2, 5)] {
        let d = BatchNormDims { n, c, l, eps: 1e-5 };
        let [x, gamma, beta, rmean, rvar, dy] = bn64(&mut rng, &d);
        let (mut dx, mut dg, mut db) = (vec![f64::NAN; d.len()], vec![f64::NAN; c], vec![f64::NAN; c]);
        reference::batch_norm_backward_eval(&d, &x, &gamma, &rmean, &rvar, &dy, &mut dx, &mut dg, &mut db);
        gradcheck(&format!("batch_norm eval {d:?}"), &[x, gamma, beta], &dy, &[dx, dg, db], |xs| {
            let mut y = vec![0.0; d.len()];
            reference::batch_norm_forward_eval(&d, &xs[0], &xs[1], &xs[2], &rmean, &rvar, &mut y);
            y
        });
    }
}

#[test]
fn batch_norm_running_update_uses_unbiased_variance() {
    let mut rng = Rng::new(37);
    for &shape in &[(2, 1, 1), (5, 3, 11), (64, 4, 1)] {
        let BnCase { d, x, gamma, beta, rmean, rvar, .. } = bn_case(&mut rng, shape);
        let (mut y, mut mean, mut rstd) = (poisoned(d.len()), poisoned(d.c), poisoned(d.c));
        cpu::batch_norm_forward_train(&d, &x, &gamma, &beta, &mut y, &mut mean, &mut rstd);
        let (mut rm, mut rv) = (rmean.clone(), rvar.clone());
        cpu::batch_norm_update_running(&d, &mean, &rstd, &mut rm, &mut rv, 0.1);
        // Direct two-pass statistics in f64, as torch.var(unbiased=True) would give.
        let count = d.count() as f64;
        let (mut want_m, mut want_v) = (Vec::new(), Vec::new());
        for ch in 0..d.c {
            let vals: Vec<f64> = (0..d.n)
                .flat_map(|i| (0..d.l).map(move |t| (i, t)))
                .map(|(i, t)| x[d.index(i, ch, t)] as f64)
                .collect();
            let mu = vals.iter().sum::<f64>() / count;
            let var = vals.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / (count - 1.0);
            want_m.push((0.9 * rmean[ch] as f64 + 0.1 * mu) as f32);
            want_v.push((0.9 * rvar[ch] as f64 + 0.1 * var) as f32);
        }
        assert_close(&format!("running_mean {d:?}"), &rm, &want_m, 1e-6);
        assert_close(&format!("running_var {d:?}"), &rv, &want_v, 1e-5);
    }
}

#[test]
fn batch_norm_constant_channel_is_finite() {
    // Zero variance: rstd = 1/√eps, y = β, and the recovered variance must not go negative.
    let d = BatchNormDims { n: 4, c: 1, l: 2, eps: 1e-5 };
    let x = [3.25f32; 8];
    let (mut y, mut mean, mut rstd) = (poisoned(8), poisoned(1), poisoned(1));
    cpu::batch_norm_forward_train(&d, &x, &[2.0], &[0.5], &mut y, &mut mean, &mut rstd);
    assert!(y.iter().all(|&v| (v - 0.5).abs() < 1e-6));
    let (mut rm, mut rv) = ([0.0f32], [1.0f32]);
    cpu::batch_norm_update_running(&d, &mean, &rstd, &mut rm, &mut rv, 0.1);
    assert!((rm[0] - 0.325).abs() < 1e-6 && (rv[0] - 0.9).abs() < 1e-6 && rv[0] >= 0.9 - 1e-6);
}

/// Every device against the CPU backend: LayerNorm forward (y, mean, rstd) and backward (the former wgpu and
/// CUDA suites' shapes).
#[test]
fn layer_norm_matches_cpu_on_every_device() {
    let mut rng = Rng::new(70);
    for be in devices("layer_norm_matches_cpu_on_every_device") {
        let c = cpu_backend();
        for (rows, cols) in [(1, 1), (1, 7), (5, 32), (40, 100), (3, 700), (37, 64), (5, 300)] {
            let d = LayerNormDims { rows, cols, eps: 1e-5 };
            let x: Vec<f32> = rng.vec32(d.len()).iter().map(|v| v * 3.0 + 0.5).collect();
            let (ga, beta, dy) = (rng.vec32(cols), rng.vec32(cols), rng.vec32(d.len()));
            let ((xc, xg), (gc, gg), (bc, bg)) =
                ((up(c, &x), up(be, &x)), (up(c, &ga), up(be, &ga)), (up(c, &beta), up(be, &beta)));
            let (yc, mc, rc) = c.layer_norm(&d, &xc, &gc, &bc).unwrap();
            let (yg, mg, rg) = be.layer_norm(&d, &xg, &gg, &bg).unwrap();
            close(&format!("layer_norm y {d:?}"), &yg, &yc, 1e-5);
            close(&format!("layer_norm mean {d:?}"), &mg, &mc, 1e-5);
            close(&format!("layer_norm rstd {d:?}"), &rg, &rc, 1e-5);
            let (dxc, dgc, dbc) = c
                .layer_norm_backward(&d, &LayerNormSaved { x: &xc, g: &gc, mean: &mc, rstd: &rc }, &up(c, &dy))
                .unwrap();
            let (dxg, dgg, dbg) = be
                .layer_norm_backward(&d, &LayerNormSaved { x: &xg, g: &gg, mean: &mg, rstd: &rg }, &up(be, &dy))
                .unwrap();
            let t = tol(be, 1e-4, 1e-5);
            close(&format!("layer_norm dx {d:?}"), &dxg, &dxc, t);
            close(&format!("layer_norm dgamma {d:?}"), &dgg, &dgc, t);
            close(&format!("layer_norm dbeta {d:?}"), &dbg, &dbc, t);
        }
    }
}

/// Every device against the CPU backend: BatchNorm1d training (y, batch statistics, running statistics), eval,
/// and the backward in both modes; training on one value per channel is an error.
#[test]
fn batch_norm_matches_cpu_on_every_device() {
    let mut rng = Rng::new(71);
    for be in devices("batch_norm_matches_cpu_on_every_device") {
        let c = cpu_backend();
        for (n, ch, l) in [(2, 1, 3), (4, 3, 1), (3, 5, 7), (16, 8, 30), (3, 5, 17)] {
            let d = BatchNormDims { n, c: ch, l, eps: 1e-5 };
            let x: Vec<f32> = rng.vec32(d.len()).iter().map(|v| v * 2.0 - 0.3).collect();
            let (ga, beta, rm) = (rng.vec32(ch), rng.vec32(ch), rng.vec32(ch));
            let rv = range32(&mut rng, ch, 0.5, 2.0);
            let dy = rng.vec32(d.len());
            let (xc, xg) = (up(c, &x), up(be, &x));
            let ((gc, gg), (bc, bg)) = ((up(c, &ga), up(be, &ga)), (up(c, &beta), up(be, &beta)));
            let ((rmc, rmg), (rvc, rvg)) = ((up(c, &rm), up(be, &rm)), (up(c, &rv), up(be, &rv)));
            let pc = BatchNormParams { g: &gc, b: &bc, rm: &rmc, rv: &rvc };
            let pg = BatchNormParams { g: &gg, b: &bg, rm: &rmg, rv: &rvg };
            let [yc, mc, sc, rm2c, rv2c] = c.batch_norm_train(&d, &xc, &pc, 0.1).unwrap();
            let [yg, mg, sg, rm2g, rv2g] = be.batch_norm_train(&d, &xg, &pg, 0.1).unwrap();
            let what = format!("{d:?}");
            close(&format!("batch_norm train y {what}"), &yg, &yc, 1e-5);
            close(&format!("batch_norm mean {what}"), &mg, &mc, 1e-5);
            close(&format!("batch_norm rstd {what}"), &sg, &sc, 1e-5);
            close(&format!("batch_norm running mean {what}"), &rm2g, &rm2c, 1e-5);
            close(&format!("batch_norm running var {what}"), &rv2g, &rv2c, 1e-5);
            let want = c.batch_norm_eval(&d, &xc, &pc).unwrap();
            close(&format!("batch_norm eval y {what}"), &be.batch_norm_eval(&d, &xg, &pg).unwrap(), &want, 1e-5);
            let (dc, dg) = (up(c, &dy), up(be, &dy));
            let t = tol(be, 1e-4, 1e-5);
            for (train, (ac, ag), (bc2, bg2)) in [(true, (&mc, &mg), (&sc, &sg)), (false, (&rmc, &rmg), (&rvc, &rvg))] {
                let (dxc, dgc, dbc) =
                    c.batch_norm_backward(&d, &BatchNormSaved { train, x: &xc, g: &gc, a: ac, b: bc2 }, &dc).unwrap();
                let (dxg, dgg, dbg) =
                    be.batch_norm_backward(&d, &BatchNormSaved { train, x: &xg, g: &gg, a: ag, b: bg2 }, &dg).unwrap();
                close(&format!("batch_norm dx train={train} {what}"), &dxg, &dxc, t);
                close(&format!("batch_norm dgamma train={train} {what}"), &dgg, &dgc, t);
                close(&format!("batch_norm dbeta train={train} {what}"), &dbg, &dbc, t);
            }
        }
        // One value per channel cannot be trained on: an error on every device, not a panic.
        let d = BatchNormDims { n: 1, c: 2, l: 1, eps: 1e-5 };
        let x = up(be, &[1.0, 2.0]);
        let p = BatchNormParams { g: &x, b: &x, rm: &x, rv: &x };
        assert!(be.batch_norm_train(&d, &x, &p, 0.1).is_err(), "one value per channel on {}", be.device());
    }
}
