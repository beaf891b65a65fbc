//! The device plumbing itself: adapter errors, transfers, poisoning, buffer reuse.

use crate::common::{gpu, Rng};
use tickgrad::backend::wgpu::Gpu;
use tickgrad::device::Device;
use tickgrad::ops::prelude::*;
use tickgrad::Error;

#[test]
fn upload_download_round_trip_is_exact() {
    let mut rng = Rng::new(1);
    for n in [0, 1, 3, 64, 1000, 65_537] {
        let v = rng.vec(n);
        let s = gpu().upload(v.clone()).unwrap();
        assert_eq!(s.device(), Device::Wgpu(0));
        assert_eq!(s.len(), n);
        let back = gpu().download(&s).unwrap();
        assert!(back.iter().zip(&v).all(|(a, b)| a.to_bits() == b.to_bits()), "round trip of {n} values");
    }
}

#[test]
fn fresh_buffers_are_poisoned_in_test_builds() {
    let g = Gpu::get(0).unwrap();
    // Free a buffer full of finite values, then take one of the same size class: it must come back as NaN.
    drop(g.buffer_from(&[1.0; 1000]).unwrap());
    let b = g.alloc(1000, tickgrad::backend::For("test buffer", &1000)).unwrap();
    let v = g.read_buffer(&b).unwrap();
    assert!(v.iter().all(|x| x.is_nan()), "alloc must poison its buffer in debug builds");
}

#[test]
fn missing_adapter_is_an_error_not_a_panic() {
    let e = backend(Device::Wgpu(99)).err().expect("there is no 100th adapter");
    match &e {
        Error::Device(m) => assert!(m.contains("wgpu:99"), "message names the device: {m}"),
        other => panic!("expected a device error, got {other:?}"),
    }
    assert!(tickgrad::backend::ensure_available(Device::Wgpu(99)).is_err());
    assert!(tickgrad::backend::ensure_available(Device::Wgpu(0)).is_ok());
}

#[test]
fn cpu_storage_handed_to_the_gpu_backend_is_an_error() {
    let host = backend(Device::Cpu).unwrap().upload(vec![1.0, 2.0]).unwrap();
    let e = gpu().unary(tickgrad::ops::elementwise::Unary::Neg, &host).expect_err("cpu storage on wgpu");
    assert!(matches!(e, Error::Device(_)), "{e:?}");
    assert!(gpu().download(&host).is_err());
}
