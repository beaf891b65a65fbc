//! Dropout masks are bit-identical to the CPU's (the same SplitMix64 counter hash, emulated with u32 pairs).

use crate::common::{both, cpu, gpu, same, Rng};

#[test]
fn masks_and_values_are_bit_identical() {
    let mut rng = Rng::new(60);
    for (n, p, seed) in
        [(1, 0.5, 0u64), (1000, 0.1, 1234567), (70_001, 0.5, u64::MAX), (5000, 0.0, 9), (4096, 0.9, 1 << 40)]
    {
        let (xc, xg) = both(&rng.vec(n));
        let want = cpu().dropout(&xc, p, seed).unwrap();
        let got = gpu().dropout(&xg, p, seed).unwrap();
        same(&format!("dropout n={n} p={p} seed={seed}"), &got, &want);
        let (dc, dg) = both(&rng.vec(n));
        let want = cpu().dropout_backward(&dc, p, seed).unwrap();
        same(&format!("dropout backward n={n} p={p}"), &gpu().dropout_backward(&dg, p, seed).unwrap(), &want);
    }
}

#[test]
fn invalid_probability_is_an_error() {
    let (_, xg) = both(&[1.0, 2.0]);
    assert!(gpu().dropout(&xg, 1.0, 0).is_err());
    assert!(gpu().dropout(&xg, -0.1, 0).is_err());
}
