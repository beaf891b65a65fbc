//! permute, narrow, unnarrow, concat: copies, so wgpu must match the CPU bit for bit.

use crate::common::{both, cpu, gpu, same, Rng};
use tickgrad::ops::layout::NarrowDims;

#[test]
fn permute_matches_cpu() {
    let mut rng = Rng::new(10);
    let cases: [(&[usize], &[usize]); 7] = [
        (&[7], &[0]),
        (&[3, 5], &[1, 0]),
        (&[2, 3, 4], &[0, 2, 1]),
        (&[2, 3, 4], &[2, 0, 1]),
        (&[2, 5, 3, 4], &[0, 2, 1, 3]),
        (&[3, 1, 4, 2, 5], &[4, 2, 0, 3, 1]),
        (&[2, 2, 2, 2, 2, 2, 2, 3], &[7, 6, 5, 4, 3, 2, 1, 0]),
    ];
    for (shape, perm) in cases {
        let x = rng.vec(shape.iter().product());
        let (xc, xg) = both(&x);
        let want = cpu().permute(&xc, shape, perm).unwrap();
        let got = gpu().permute(&xg, shape, perm).unwrap();
        same(&format!("permute {shape:?} by {perm:?}"), &got, &want);
    }
}

#[test]
fn narrow_unnarrow_concat_match_cpu() {
    let mut rng = Rng::new(11);
    for (outer, axis, inner) in [(1, 5, 1), (3, 7, 4), (2, 10, 33)] {
        let x = rng.vec(outer * axis * inner);
        let (xc, xg) = both(&x);
        for (start, len) in [(0, axis), (1, 2), (axis - 1, 1), (0, 0)] {
            let what = format!("[{outer},{axis},{inner}] {start}..+{len}");
            let nd = NarrowDims { outer, axis, inner, start, len };
            let want = cpu().narrow(&xc, &nd).unwrap();
            let got = gpu().narrow(&xg, &nd).unwrap();
            same(&format!("narrow {what}"), &got, &want);
            let (gc, gg) = both(&rng.vec(outer * len * inner));
            let want = cpu().unnarrow(&gc, &nd).unwrap();
            let got = gpu().unnarrow(&gg, &nd).unwrap();
            same(&format!("unnarrow {what}"), &got, &want);
        }
        let lens = [axis, 1, 3];
        let parts: Vec<_> = lens.iter().map(|&l| both(&rng.vec(outer * l * inner))).collect();
        let pc: Vec<_> = parts.iter().map(|p| &p.0).collect();
        let pg: Vec<_> = parts.iter().map(|p| &p.1).collect();
        let want = cpu().concat(&pc, outer, &lens, inner).unwrap();
        let got = gpu().concat(&pg, outer, &lens, inner).unwrap();
        same(&format!("concat [{outer},{lens:?},{inner}]"), &got, &want);
    }
}
