//! NVRTC compilation of the embedded kernel files to PTX, and `ptxas -v` resource reports for `tickgrad info`.
//!
//! Convention (README): the CUDA headers and `ptxas` are found under `$CUDA_HOME`, else `$CUDA_PATH`, else
//! `/usr/local/cuda`; `libnvrtc` through the library path. Compiling needs no GPU and no driver.

use super::sources::KernelFile;
use crate::{Error, Result};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The toolkit folder: `$CUDA_HOME`, else `$CUDA_PATH`, else `/usr/local/cuda`.
pub fn cuda_home() -> PathBuf {
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(v) = std::env::var_os(var) {
            if !v.is_empty() {
                return PathBuf::from(v);
            }
        }
    }
    PathBuf::from("/usr/local/cuda")
}

/// Whether libnvrtc can be loaded in this process.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen libnvrtc by its usual names and reports whether one loaded; no NVRTC call.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Error unless libnvrtc loads; cudarc panics on the first NVRTC call otherwise.
pub fn require_nvrtc() -> Result<()> {
    if nvrtc_present() {
        Ok(())
    } else {
        Err(Error::Device(
            "libnvrtc (libnvrtc.so.13) was not found on the library path: put $CUDA_HOME/lib on LD_LIBRARY_PATH \
             (scripts/cuda-env installs the pinned NVRTC 13.0 wheels and prints the variables)"
                .into(),
        ))
    }
}

/// A GPU architecture given as `sm_90`, `compute_90` or `90`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arch(pub u32);

impl Arch {
    pub fn parse(s: &str) -> Result<Arch> {
        let digits = s.trim_start_matches("sm_").trim_start_matches("compute_");
        match digits.parse::<u32>() {
            Ok(v) if (50..=200).contains(&v) => Ok(Arch(v)),
            _ => Err(Error::config("arch", format!("expected an architecture like sm_90, found {s:?}"))),
        }
    }
    /// The virtual architecture NVRTC compiles PTX for.
    pub fn compute(&self) -> String {
        format!("compute_{}", self.0)
    }
    /// The real architecture ptxas assembles for.
    pub fn sm(&self) -> String {
        format!("sm_{}", self.0)
    }
}

/// PTX of one kernel file and how long NVRTC took.
pub struct Compiled {
    pub ptx: String,
    pub elapsed: Duration,
}

/// Compile one file to PTX for `arch` with NVRTC. The error carries NVRTC's log with file and line.
pub fn compile(file: &KernelFile, arch: &Arch) -> Result<Compiled> {
    require_nvrtc()?;
    let include = cuda_home().join("include");
    let opts = cudarc::nvrtc::CompileOptions {
        include_paths: vec![include.display().to_string()],
        options: vec![format!("--gpu-architecture={}", arch.compute()), "--std=c++17".into()],
        name: Some(format!("{}.cu", file.name)),
        ..Default::default()
    };
    let start = Instant::now();
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(file.expanded_source(), opts).map_err(|e| {
        let log = match &e {
            cudarc::nvrtc::CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
            other => format!("{other:?}"),
        };
        Error::Device(format!(
            "{}: NVRTC compile for {} failed (headers from {}):\n{log}",
            file.path(),
            arch.compute(),
            include.display()
        ))
    })?;
    Ok(Compiled { ptx: ptx.to_src(), elapsed: start.elapsed() })
}

/// Registers and memory of one kernel, from `ptxas -v`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelResources {
    pub name: String,
    pub registers: u32,
    pub spill_stores: u32,
    pub spill_loads: u32,
    pub smem_bytes: u32,
}

/// `$CUDA_HOME/bin/ptxas`, when it exists.
pub fn ptxas_path() -> Option<PathBuf> {
    let p = cuda_home().join("bin").join("ptxas");
    p.is_file().then_some(p)
}

/// Assemble `ptx` with `ptxas -arch=<sm> -v` and parse its per-kernel report. None when ptxas is not found.
pub fn ptxas_resources(file: &KernelFile, ptx: &str, arch: &Arch) -> Option<Result<Vec<KernelResources>>> {
    let ptxas = ptxas_path()?;
    let dir = std::env::temp_dir();
    let src = dir.join(format!("tickgrad-{}-{}.ptx", std::process::id(), file.name));
    let out = dir.join(format!("tickgrad-{}-{}.cubin", std::process::id(), file.name));
    let run = || -> Result<Vec<KernelResources>> {
        std::fs::write(&src, ptx).map_err(|e| Error::io(&src, e))?;
        let res = Command::new(&ptxas)
            .arg(format!("-arch={}", arch.sm()))
            .arg("-v")
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .output()
            .map_err(|e| Error::io(&ptxas, e))?;
        let text = String::from_utf8_lossy(&res.stderr).into_owned() + &String::from_utf8_lossy(&res.stdout);
        if !res.status.success() {
            return Err(Error::Device(format!("{}: ptxas -arch={} failed:\n{text}", file.path(), arch.sm())));
        }
        Ok(parse_ptxas(&text))
    };
    let r = run();
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_file(&out);
    Some(r)
}

/// Parse `ptxas -v` output into one entry per kernel, in report order.
pub fn parse_ptxas(text: &str) -> Vec<KernelResources> {
    let mut out: Vec<KernelResources> = Vec::new();
    let number_before = |line: &str, unit: &str| -> Option<u32> {
        let at = line.find(unit)?;
        line[..at].split(|c: char| !c.is_ascii_digit()).rfind(|s| !s.is_empty())?.parse().ok()
    };
    for line in text.lines() {
        if let Some(at) = line.find("Compiling entry function '") {
            let rest = &line[at + "Compiling entry function '".len()..];
            let name = rest.split('\'').next().unwrap_or("").to_string();
            out.push(KernelResources { name, ..Default::default() });
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        if line.contains("bytes spill stores") {
            cur.spill_stores = number_before(line, "bytes spill stores").unwrap_or(0);
            cur.spill_loads = number_before(line, "bytes spill loads").unwrap_or(0);
        }
        if line.contains("registers") {
            cur.registers = number_before(line, "registers").unwrap_or(0);
            cur.smem_bytes = number_before(line, "bytes smem").unwrap_or(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptxas_report_is_parsed_per_kernel() {
        let text = "ptxas info    : 0 bytes gmem\n\
            ptxas info    : Compiling entry function 'gemm_f32' for 'sm_90'\n\
            ptxas info    : Function properties for gemm_f32\n\
            \x20   8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
            ptxas info    : Used 40 registers, used 1 barriers, 8704 bytes smem, 472 bytes cmem[0]\n\
            ptxas info    : Compiling entry function 'f32_to_f16' for 'sm_90'\n\
            ptxas info    : Function properties for f32_to_f16\n\
            \x20   0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
            ptxas info    : Used 10 registers, used 0 barriers, 376 bytes cmem[0]\n";
        let r = parse_ptxas(text);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            KernelResources {
                name: "gemm_f32".into(),
                registers: 40,
                spill_stores: 4,
                spill_loads: 12,
                smem_bytes: 8704
            }
        );
        assert_eq!((r[1].name.as_str(), r[1].registers, r[1].smem_bytes), ("f32_to_f16", 10, 0));
    }

    #[test]
    fn arch_accepts_sm_compute_and_digits() {
        assert_eq!(Arch::parse("sm_90").unwrap(), Arch(90));
        assert_eq!(Arch::parse("compute_86").unwrap().sm(), "sm_86");
        assert_eq!(Arch::parse("75").unwrap().compute(), "compute_75");
        assert!(Arch::parse("sm_x").is_err());
    }
}
