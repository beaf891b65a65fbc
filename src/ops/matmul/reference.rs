//! Reference batched matmul: plain loops over named indices, generic over `Real` (f64 for gradient checks).

use super::MatmulDims;
use crate::ops::Real;

/// C[b,i,j] = Σ_p op(A)[b,i,p] · op(B)[b,p,j].
pub fn matmul_forward<T: Real>(d: &MatmulDims, a: &[T], b: &[T], c: &mut [T]) {
    assert_eq!(a.len(), d.a_len(), "matmul: a length");
    assert_eq!(b.len(), d.b_len(), "matmul: b length");
    assert_eq!(c.len(), d.c_len(), "matmul: c length");
    for bi in 0..d.batch() {
        for i in 0..d.m {
            for j in 0..d.n {
                let mut s = T::zero();
                for p in 0..d.k {
                    s = s + a[d.a_index(bi, i, p)] * b[d.b_index(bi, p, j)];
                }
                c[(bi * d.m + i) * d.n + j] = s;
            }
        }
    }
}

/// dA and dB for upstream dC. A broadcast operand gets its gradient summed over the output batch.
///
/// Both gradients are overwritten: they are zeroed first and the per-batch contributions summed into them.
pub fn matmul_backward<T: Real>(d: &MatmulDims, a: &[T], b: &[T], dc: &[T], da: &mut [T], db: &mut [T]) {
    assert_eq!(a.len(), d.a_len(), "matmul: a length");
    assert_eq!(b.len(), d.b_len(), "matmul: b length");
    assert_eq!(dc.len(), d.c_len(), "matmul: dc length");
    assert_eq!(da.len(), d.a_len(), "matmul: da length");
    assert_eq!(db.len(), d.b_len(), "matmul: db length");
    da.fill(T::zero());
    db.fill(T::zero());
    for bi in 0..d.batch() {
        // dop(A)[i,p] = Σ_j dC[i,j] · op(B)[p,j]
        for i in 0..d.m {
            for p in 0..d.k {
                let mut s = T::zero();
                for j in 0..d.n {
                    s = s + dc[(bi * d.m + i) * d.n + j] * b[d.b_index(bi, p, j)];
                }
                let ia = d.a_index(bi, i, p);
                da[ia] = da[ia] + s;
            }
        }
        // dop(B)[p,j] = Σ_i op(A)[i,p] · dC[i,j]
        for p in 0..d.k {
            for j in 0..d.n {
                let mut s = T::zero();
                for i in 0..d.m {
                    s = s + a[d.a_index(bi, i, p)] * dc[(bi * d.m + i) * d.n + j];
                }
                let ib = d.b_index(bi, p, j);
                db[ib] = db[ib] + s;
            }
        }
    }
}
