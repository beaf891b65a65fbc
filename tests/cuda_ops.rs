//! What only the CUDA device has or does, beyond the op set: the half-precision matmul (f16 / bf16, SIMT and
//! tensor cores) against the f32 CPU product, and the error paths of wrong inputs. Every op of the `Backend` op
//! set is checked on cuda:0 against the CPU backend by the device tests of its family, in
//! src/ops/<family>/tests.rs (`cargo test --all-features --lib`). Without a CUDA device each test prints why it
//! is skipped and passes (`TICKGRAD_REQUIRE_CUDA=1` makes that a failure); on a GPU machine (or the CPU
//! emulation of tools/cuda-sim) they run for real.
#![cfg(feature = "cuda")]

mod cuda_common;

use cuda_common::{close, cpu, cuda, down, up, Rng};
use tickgrad::ops::elementwise::Unary;
use tickgrad::ops::matmul::cuda::{has_tensor_cores, matmul_half, matmul_half_with, to_half, HalfKind};
use tickgrad::ops::matmul::MatmulDims;
use tickgrad::ops::reduce::ReduceDims;

#[test]
fn matmul_half_precision_inference_within_rounding() {
    let Some(g) = cuda("matmul_half") else { return };
    let c = cpu();
    let be = tickgrad::backend::cuda::backend(0).unwrap();
    let mut rng = Rng::new(3);
    for (kind, tol) in [(HalfKind::F16, 2e-3), (HalfKind::Bf16, 1.5e-2)] {
        for trans_b in [false, true] {
            let d = MatmulDims { batch_a: 2, batch_b: 1, m: 33, k: 72, n: 70, trans_a: false, trans_b };
            let (a, b) = (rng.vec(d.a_len()), rng.vec(d.b_len()));
            let (ha, hb) = (to_half(be, &up(g, &a), kind).unwrap(), to_half(be, &up(g, &b), kind).unwrap());
            let want = c.matmul(&d, &up(c, &a), &up(c, &b)).unwrap();
            let got = matmul_half(be, &d, &ha, &hb).unwrap();
            close(&format!("matmul {kind:?} {d:?}"), g, &got, c, &want, tol);
            let simt = matmul_half_with(be, &d, &ha, &hb, false).unwrap();
            close(&format!("matmul {kind:?} SIMT {d:?}"), g, &simt, c, &want, tol);
            if has_tensor_cores(be, kind) {
                let wmma = matmul_half_with(be, &d, &ha, &hb, true).unwrap();
                close(&format!("matmul {kind:?} tensor cores {d:?}"), g, &wmma, c, &want, tol);
            }
        }
    }
}

#[test]
fn wrong_inputs_are_errors_not_panics() {
    let Some(g) = cuda("errors") else { return };
    let c = cpu();
    let d = MatmulDims { batch_a: 1, batch_b: 1, m: 2, k: 3, n: 4, trans_a: false, trans_b: false };
    let (a, b) = (vec![0.5f32; 6], vec![0.5f32; 12]);
    // A host buffer handed to the CUDA backend names the device it lives on.
    let err = g.matmul(&d, &up(c, &a), &up(g, &b)).unwrap_err().to_string();
    assert!(err.contains("cpu") && err.contains("to_device"), "{err}");
    // A buffer of the wrong length is a shape error naming the input, before any kernel runs.
    let err = g.matmul(&d, &up(g, &a[..5]), &up(g, &b)).unwrap_err().to_string();
    assert!(err.contains("kernel input a") && err.contains('6') && err.contains('5'), "{err}");
    let bad = MatmulDims { batch_a: 2, batch_b: 3, ..d };
    assert!(g.matmul(&bad, &up(g, &[0.5; 12]), &up(g, &[0.5; 36])).is_err(), "batches 2 and 3 do not broadcast");
    // Reducing an empty axis to a maximum has no answer.
    let empty = ReduceDims { outer: 2, axis: 0, inner: 1 };
    assert!(g.max(&empty, &up(g, &[])).is_err());
    // Empty tensors are fine.
    let z = g.unary(Unary::Relu, &up(g, &[])).unwrap();
    assert_eq!(down(g, &z), Vec::<f32>::new());
}
