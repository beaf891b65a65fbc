//! Fast CPU dropout (f32): the reference loop over parallel chunks. Each chunk hashes its own global indices,
//! so the mask does not depend on the chunking.

use super::DropoutKernel;
use crate::backend::cpu::{buf, host, out, CpuBackend};
use crate::backend::Storage;
use crate::Result;
use rayon::prelude::*;

use super::{keep, DropoutDims};

/// Below this many elements one thread is faster than handing chunks out.
const PAR_MIN: usize = 1 << 15;
const CHUNK: usize = 1 << 13;

fn masked_scale(d: &DropoutDims, seed: u64, x: &[f32], y: &mut [f32]) {
    d.check();
    assert_eq!(x.len(), d.len, "dropout: input length");
    assert_eq!(y.len(), d.len, "dropout: output length");
    if d.p == 0.0 {
        y.copy_from_slice(x);
        return;
    }
    let (t, scale) = (d.threshold(), d.scale());
    let run = |j0: usize, xs: &[f32], ys: &mut [f32]| {
        for (k, (yv, &xv)) in ys.iter_mut().zip(xs).enumerate() {
            *yv = if keep(seed, (j0 + k) as u64, t) { xv * scale } else { 0.0 };
        }
    };
    if y.len() >= PAR_MIN {
        y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).enumerate().for_each(|(c, (ys, xs))| run(c * CHUNK, xs, ys));
    } else {
        run(0, x, y);
    }
}

/// y = x·mask/(1 − p).
pub fn dropout_forward(d: &DropoutDims, seed: u64, x: &[f32], y: &mut [f32]) {
    masked_scale(d, seed, x, y);
}

/// dx = dy·mask/(1 − p), the mask recomputed from the same seed.
pub fn dropout_backward(d: &DropoutDims, seed: u64, dy: &[f32], dx: &mut [f32]) {
    masked_scale(d, seed, dy, dx);
}

impl DropoutKernel for CpuBackend {
    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage> {
        let mut y = buf(x.len());
        dropout_forward(&DropoutDims::checked(x.len(), p)?, seed, host(x)?, &mut y);
        Ok(out(y))
    }

    fn dropout_backward(&self, dy: &Storage, p: f32, seed: u64) -> Result<Storage> {
        let mut dx = buf(dy.len());
        dropout_backward(&DropoutDims::checked(dy.len(), p)?, seed, host(dy)?, &mut dx);
        Ok(out(dx))
    }
}
