//! Every kernel file compiles with NVRTC (no GPU needed), for the architectures the project targets, and where
//! ptxas is found (under $CUDA_HOME/bin) the hot kernels assemble without register spills. A missing libnvrtc or
//! ptxas is a failure, not a skip: these checks need no GPU, only what `scripts/cuda-env` installs.
#![cfg(feature = "cuda")]

use tickgrad::backend::cuda::compile::{self, Arch};
use tickgrad::backend::cuda::sources::FILES;

fn nvrtc(test: &str) -> bool {
    assert!(
        compile::nvrtc_present(),
        "{test}: libnvrtc is not on the library path (run `eval \"$(scripts/cuda-env)\"` first)"
    );
    true
}

#[test]
fn every_kernel_file_compiles_for_sm75_and_sm90() {
    if !nvrtc("nvrtc compile") {
        return;
    }
    for arch in ["sm_75", "sm_90"] {
        let arch = Arch::parse(arch).unwrap();
        for file in FILES {
            let c = compile::compile(file, &arch).unwrap_or_else(|e| panic!("{e}"));
            for entry in file.entry_points() {
                assert!(
                    c.ptx.contains(&format!(".entry {entry}(")),
                    "{}: no PTX entry {entry} for {}",
                    file.path(),
                    arch.compute()
                );
            }
            println!("{} {}: {} bytes of PTX", file.path(), arch.compute(), c.ptx.len());
        }
    }
}

#[test]
fn a_broken_kernel_reports_file_and_line() {
    if !nvrtc("nvrtc error") {
        return;
    }
    let bad = tickgrad::backend::cuda::sources::KernelFile {
        name: "broken",
        source: "extern \"C\" __global__ void k(float* x) {\n  x[0] = undefined_name;\n}\n",
    };
    let err = compile::compile(&bad, &Arch(90)).err().expect("compiling nonsense fails").to_string();
    assert!(
        err.contains("kernels/broken.cu") && err.contains("broken.cu(2)") && err.contains("undefined_name"),
        "{err}"
    );
}

#[test]
fn hot_kernels_do_not_spill_on_sm90() {
    if !nvrtc("ptxas spills") {
        return;
    }
    assert!(
        compile::ptxas_path().is_some(),
        "ptxas spills: no ptxas under {} (run `eval \"$(scripts/cuda-env)\"` first)",
        compile::cuda_home().display()
    );
    let arch = Arch(90);
    let mut seen = 0;
    for file in FILES {
        let c = compile::compile(file, &arch).unwrap();
        let res = compile::ptxas_resources(file, &c.ptx, &arch).unwrap().unwrap();
        assert_eq!(res.len(), file.entry_points().len(), "{}: one ptxas report per kernel", file.path());
        for r in res {
            assert!(r.registers > 0 && r.registers <= 255, "{}: {} registers", r.name, r.registers);
            assert_eq!((r.spill_stores, r.spill_loads), (0, 0), "{} spills registers", r.name);
            seen += 1;
        }
    }
    assert_eq!(seen, FILES.iter().map(|f| f.entry_points().len()).sum::<usize>());
}
