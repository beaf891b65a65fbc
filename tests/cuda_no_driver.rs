//! Without a usable driver, asking for a CUDA device is an `Error::Device` with a clear message, never a panic:
//! (1) in this process when libcuda is absent; (2) in a child process whose libcuda is a stub built here with gcc
//! that exports cuInit returning CUDA_ERROR_NO_DEVICE (a machine with a driver but no GPU).
#![cfg(feature = "cuda")]

use std::path::{Path, PathBuf};
use std::process::Command;
use tickgrad::device::Device;
use tickgrad::tensor::Tensor;
use tickgrad::Error;

#[test]
fn missing_libcuda_is_a_device_error() {
    if tickgrad::backend::cuda::driver_present() {
        println!("missing libcuda: SKIPPED, this process can load a libcuda (a driver or tools/cuda-sim is present)");
        return;
    }
    let err = tickgrad::backend::ensure_available(Device::Cuda(0)).unwrap_err();
    assert!(matches!(&err, Error::Device(m) if m.contains("libcuda")), "{err}");
    let err = Tensor::from_vec(vec![1.0, 2.0], &[2], Device::Cuda(0)).unwrap_err();
    assert!(matches!(err, Error::Device(_)), "{err}");
    let cpu = Tensor::from_vec(vec![1.0, 2.0], &[2], Device::Cpu).unwrap();
    assert!(matches!(cpu.to_device(Device::Cuda(3)), Err(Error::Device(_))));
}

/// Build the stub driver into a fresh folder; None (with the reason printed) when gcc is missing.
fn stub_driver() -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tickgrad-stub-cuda-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("stub.c");
    std::fs::write(
        &src,
        "int cuInit(unsigned int flags) { (void)flags; return 100; }\n\
         int cuDeviceGetCount(int* n) { *n = 0; return 100; }\n\
         int cuGetErrorString(int e, const char** s) { (void)e; *s = \"no CUDA-capable device is detected\"; return 0; }\n\
         int cuGetErrorName(int e, const char** s) { (void)e; *s = \"CUDA_ERROR_NO_DEVICE\"; return 0; }\n",
    )
    .unwrap();
    let lib = dir.join("libcuda.so.1");
    match Command::new("gcc").args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&src).status() {
        Ok(s) if s.success() => {}
        other => panic!("stub driver: gcc could not build it ({other:?}); gcc is a test requirement"),
    }
    std::fs::copy(&lib, dir.join("libcuda.so")).unwrap();
    Some(dir)
}

fn tickgrad_with_stub(dir: &Path, args: &[&str]) -> (bool, String) {
    let path = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    // The stub first, so it wins over any real or emulated libcuda on the path.
    let out = Command::new(env!("CARGO_BIN_EXE_tickgrad"))
        .args(args)
        .env("LD_LIBRARY_PATH", format!("{}:{path}", dir.display()))
        .output()
        .expect("run tickgrad");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn driver_without_device_is_reported_not_panicked() {
    let Some(dir) = stub_driver() else { return };
    let (ok, text) = tickgrad_with_stub(&dir, &["info"]);
    assert!(ok, "info exits 0 when there is no device:\n{text}");
    assert!(text.contains("CUDA_ERROR_NO_DEVICE") && !text.contains("panicked"), "{text}");

    let input = dir.join("x.npy");
    tickgrad::io::npy::write_npy(&input, &[1, 4, 3], &[0.5f32; 12]).unwrap();
    let ck = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tcn_a.safetensors");
    let out = dir.join("y.npy");
    let args = [
        "predict",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cuda",
    ];
    let (ok, text) = tickgrad_with_stub(&dir, &args);
    assert!(!ok, "predict on a missing device must fail:\n{text}");
    assert!(text.contains("device error") && text.contains("cuda:0") && !text.contains("panicked"), "{text}");
    assert!(!out.exists(), "no output is written when the device is missing");
    let _ = std::fs::remove_dir_all(&dir);
}
