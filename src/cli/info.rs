//! `tickgrad info [--compile-kernels] [--arch sm_90]`: which devices and backends this build can use, and (with
//! `--compile-kernels`) an NVRTC compile of every CUDA kernel file, which needs no GPU. The exit status is 0 only
//! when every requested check passed.

use crate::device::Device;
use crate::{Error, Result};

/// Print devices; with `compile_kernels`, compile every kernel file for `arch` and print one line per kernel.
pub fn run(compile_kernels: bool, arch: &str) -> Result<()> {
    println!("tickgrad {}", env!("CARGO_PKG_VERSION"));
    println!("cpu: available ({} threads)", rayon::current_num_threads());
    cuda_devices();
    match crate::backend::ensure_available(Device::Wgpu(0)) {
        Ok(()) => println!("wgpu:0: available"),
        Err(e) => println!("wgpu:0: {e}"),
    }
    if compile_kernels {
        compile_all(arch)?;
    }
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn cuda_devices() {
    if let Err(e) = crate::backend::ensure_available(Device::Cuda(0)) {
        println!("cuda: {e}");
    }
}

#[cfg(feature = "cuda")]
fn cuda_devices() {
    use crate::backend::cuda;
    let count = match cuda::device_count() {
        Ok(n) => n,
        Err(e) => {
            println!("cuda: {e}");
            return;
        }
    };
    if count == 0 {
        println!("cuda: the driver reports no device");
    }
    for n in 0..count {
        match cuda::warm_up(n) {
            Ok(i) => println!(
                "cuda:{n}: {} ({}), {:.1} GiB, {} kernels compiled and loaded in {:.0} ms",
                i.name,
                i.arch,
                i.total_mem as f64 / (1u64 << 30) as f64,
                i.kernels,
                i.warm_up.as_secs_f64() * 1e3
            ),
            Err(e) => println!("cuda:{n}: {e}"),
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn compile_all(_arch: &str) -> Result<()> {
    Err(Error::Device("--compile-kernels: this build has no CUDA backend (build with --features cuda)".into()))
}

#[cfg(feature = "cuda")]
fn compile_all(arch: &str) -> Result<()> {
    use crate::backend::cuda::compile::{self, Arch};
    use crate::backend::cuda::sources::FILES;
    let arch = Arch::parse(arch)?;
    compile::require_nvrtc()?;
    let home = compile::cuda_home();
    let ptxas = compile::ptxas_path();
    println!(
        "compiling {} kernel files with NVRTC for {} (headers {}, ptxas {})",
        FILES.len(),
        arch.compute(),
        home.join("include").display(),
        ptxas.as_ref().map_or("not found: no register counts".into(), |p| p.display().to_string())
    );
    let (mut kernels, mut failed) = (0usize, Vec::new());
    for file in FILES {
        let compiled = match compile::compile(file, &arch) {
            Ok(c) => c,
            Err(e) => {
                println!("{}: FAILED\n{e}", file.path());
                failed.push(file.path());
                continue;
            }
        };
        println!("{}: PTX {} bytes in {:.0} ms", file.path(), compiled.ptx.len(), compiled.elapsed.as_secs_f64() * 1e3);
        match compile::ptxas_resources(file, &compiled.ptx, &arch) {
            Some(Ok(res)) => {
                for r in &res {
                    println!(
                        "  {:<28} {}: {:>3} registers, spills {}/{} bytes (store/load), {:>5} bytes smem",
                        r.name,
                        arch.sm(),
                        r.registers,
                        r.spill_stores,
                        r.spill_loads,
                        r.smem_bytes
                    );
                }
                kernels += res.len();
            }
            Some(Err(e)) => {
                println!("  {e}");
                failed.push(file.path());
            }
            None => {
                for name in file.entry_points() {
                    println!("  {name:<28} (no ptxas under {}: registers unknown)", home.display());
                    kernels += 1;
                }
            }
        }
    }
    println!("{} files, {} kernels, {} failed", FILES.len(), kernels, failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Device(format!("kernel compilation failed for {}", failed.join(", "))))
    }
}
