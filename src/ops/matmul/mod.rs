//! Batched matrix multiply C[b] = op(A[b]) · op(B[b]), op = identity or transpose; a batch of 1 broadcasts.

pub mod cpu;
