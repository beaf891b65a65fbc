//! permute, narrow, unnarrow, concat on every device against the CPU backend: copies, so bit for bit.

use super::NarrowDims;
use crate::ops::testing::{cpu_backend, devices, same, up, Rng};

#[test]
fn permute_matches_cpu_on_every_device() {
    let mut rng = Rng::new(10);
    let cases: [(&[usize], &[usize]); 11] = [
        (&[7], &[0]),
        (&[3, 5], &[1, 0]),
        (&[2, 3, 4], &[0, 2, 1]),
        (&[2, 3, 4], &[2, 0, 1]),
        (&[2, 5, 3, 4], &[0, 2, 1, 3]),
        (&[3, 1, 4, 2, 5], &[4, 2, 0, 3, 1]),
        (&[2, 2, 2, 2, 2, 2, 2, 3], &[7, 6, 5, 4, 3, 2, 1, 0]),
        (&[3, 5, 4, 6], &[0, 1, 2, 3]),
        (&[3, 5, 4, 6], &[0, 2, 1, 3]),
        (&[3, 5, 4, 6], &[3, 2, 1, 0]),
        (&[3, 5, 4, 6], &[1, 3, 0, 2]),
    ];
    for be in devices("permute_matches_cpu_on_every_device") {
        for (shape, perm) in cases {
            let x = rng.vec32(shape.iter().product());
            let want = cpu_backend().permute(&up(cpu_backend(), &x), shape, perm).unwrap();
            let got = be.permute(&up(be, &x), shape, perm).unwrap();
            same(&format!("permute {shape:?} by {perm:?}"), &got, &want);
        }
    }
}

#[test]
fn narrow_unnarrow_concat_match_cpu_on_every_device() {
    let mut rng = Rng::new(11);
    for be in devices("narrow_unnarrow_concat_match_cpu_on_every_device") {
        let c = cpu_backend();
        for (outer, axis, inner) in [(1, 5, 1), (3, 7, 4), (2, 10, 33), (15, 4, 6)] {
            let x = rng.vec32(outer * axis * inner);
            let (xc, xg) = (up(c, &x), up(be, &x));
            for (start, len) in [(0, axis), (1, 2), (2, 2), (axis - 1, 1), (0, 0)] {
                let what = format!("[{outer},{axis},{inner}] {start}..+{len}");
                let nd = NarrowDims { outer, axis, inner, start, len };
                same(&format!("narrow {what}"), &be.narrow(&xg, &nd).unwrap(), &c.narrow(&xc, &nd).unwrap());
                let g = rng.vec32(outer * len * inner);
                let want = c.unnarrow(&up(c, &g), &nd).unwrap();
                same(&format!("unnarrow {what}"), &be.unnarrow(&up(be, &g), &nd).unwrap(), &want);
            }
            let lens = [axis, 1, 3];
            let parts: Vec<_> = lens.iter().map(|&l| rng.vec32(outer * l * inner)).collect();
            let pc: Vec<_> = parts.iter().map(|p| up(c, p)).collect();
            let pg: Vec<_> = parts.iter().map(|p| up(be, p)).collect();
            let want = c.concat(&pc.iter().collect::<Vec<_>>(), outer, &lens, inner).unwrap();
            let got = be.concat(&pg.iter().collect::<Vec<_>>(), outer, &lens, inner).unwrap();
            same(&format!("concat [{outer},{lens:?},{inner}]"), &got, &want);
        }
        // Two parts of different lengths.
        let (a, b) = (rng.vec32(7 * 3 * 5), rng.vec32(7 * 2 * 5));
        let want = c.concat(&[&up(c, &a), &up(c, &b)], 7, &[3, 2], 5).unwrap();
        let got = be.concat(&[&up(be, &a), &up(be, &b)], 7, &[3, 2], 5).unwrap();
        same("concat [7,[3, 2],5]", &got, &want);
    }
}
