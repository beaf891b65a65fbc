//! The CUDA C of every kernel family, embedded in the binary so a deployed executable needs no source tree: the
//! files build.rs finds in `kernels/` (`backend::kernel_sources`).

pub use crate::backend::kernel_sources::{CUDA_HEADERS, CUDA_SOURCES};

/// One `kernels/<family>.cu` file: its family name and its source.
#[derive(Clone, Copy, Debug)]
pub struct KernelFile {
    pub name: &'static str,
    pub source: &'static str,
}

impl KernelFile {
    /// Path of the file in the repository, for messages.
    pub fn path(&self) -> String {
        format!("kernels/{}.cu", self.name)
    }

    /// The source NVRTC compiles: every line `#include "<header>.cuh"` naming one of `kernels/*.cuh` replaced by
    /// that header (recursively, each header once), framed by `#line` directives so NVRTC's messages give the
    /// line in the file it is in (`common.cuh(12)`, `norm.cu(40)`). Other `#include`s are left to NVRTC.
    /// tools/cuda-sim compiles the same files with g++, which reads the `#include` itself (`-iquote kernels`).
    pub fn expanded_source(&self) -> String {
        let mut out = String::with_capacity(self.source.len() + 4096);
        let mut seen = Vec::new();
        expand(&format!("{}.cu", self.name), self.source, &mut seen, &mut out);
        out
    }

    /// Names of the `extern "C" __global__` entry points, in file order (what a module exports).
    pub fn entry_points(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut rest = self.source;
        while let Some(at) = rest.find("extern \"C\" __global__ void") {
            rest = rest[at + "extern \"C\" __global__ void".len()..].trim_start();
            // An optional `__launch_bounds__(N)` sits between the return type and the name.
            if let Some(after) = rest.strip_prefix("__launch_bounds__") {
                rest = after.find(')').map_or("", |close| after[close + 1..].trim_start());
            }
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if end > 0 {
                out.push(&rest[..end]);
            }
            rest = &rest[end..];
        }
        out
    }
}

/// Every kernel file, in file-name order; the backend compiles all of them at warm-up.
pub const FILES: &[KernelFile] = &kernel_files::<{ CUDA_SOURCES.len() }>();

const fn kernel_files<const N: usize>() -> [KernelFile; N] {
    let mut out = [KernelFile { name: "", source: "" }; N];
    let mut i = 0;
    while i < N {
        let (path, source) = CUDA_SOURCES[i];
        out[i] = KernelFile { name: family(path), source };
        i += 1;
    }
    out
}

/// `kernels/<family>.cu` → `<family>` (build.rs writes exactly that form).
const fn family(path: &'static str) -> &'static str {
    let (_, rest) = path.as_bytes().split_at("kernels/".len());
    let (stem, _) = rest.split_at(rest.len() - ".cu".len());
    match std::str::from_utf8(stem) {
        Ok(s) => s,
        Err(_) => panic!("kernel file name is not UTF-8"),
    }
}

fn expand(file: &str, source: &str, seen: &mut Vec<&'static str>, out: &mut String) {
    for (n, line) in source.lines().enumerate() {
        let included = line.trim().strip_prefix("#include").map(str::trim).and_then(|rest| {
            let name = rest.strip_prefix('"')?.strip_suffix('"')?;
            CUDA_HEADERS.iter().find(|(path, _)| path.strip_prefix("kernels/") == Some(name))
        });
        match included {
            Some((path, text)) => {
                let name: &'static str = &path["kernels/".len()..];
                // `#pragma once` semantics: a header already spliced in is not repeated.
                if !seen.contains(&name) {
                    seen.push(name);
                    out.push_str(&format!("#line 1 \"{name}\"\n"));
                    expand(name, text, seen, out);
                }
                out.push_str(&format!("#line {} \"{file}\"\n", n + 2));
            }
            // Once-only is handled above; left in, NVRTC would warn about `#pragma once` in the main file.
            None if line.trim() == "#pragma once" => out.push('\n'),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{KernelFile, FILES};

    #[test]
    fn entry_points_skip_launch_bounds() {
        let f = FILES.iter().find(|f| f.name == "matmul").unwrap();
        let names = f.entry_points();
        assert!(names.contains(&"gemm_f32") && names.contains(&"f32_to_bf16"), "{names:?}");
        let total: usize = FILES.iter().map(|f| f.entry_points().len()).sum();
        // Every `extern "C" __global__` in the sources is a kernel the parser finds.
        let declared: usize = FILES.iter().map(|f| f.source.matches("extern \"C\" __global__").count()).sum();
        assert_eq!(total, declared, "kernels in kernels/*.cu");
    }

    #[test]
    fn the_table_holds_every_kernel_file() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".cu"))
            .collect();
        on_disk.sort();
        let listed: Vec<String> = FILES.iter().map(|f| format!("{}.cu", f.name)).collect();
        assert_eq!(listed, on_disk);
        assert_eq!(FILES.iter().find(|f| f.name == "matmul").unwrap().path(), "kernels/matmul.cu");
    }

    #[test]
    fn headers_are_spliced_with_line_directives() {
        let f = FILES.iter().find(|f| f.name == "norm").unwrap();
        let src = f.expanded_source();
        assert!(!src.lines().any(|l| l.trim() == "#include \"common.cuh\""), "the include is replaced");
        assert!(src.contains("#line 1 \"common.cuh\"") && src.contains("block_sum"));
        // The line after the directive that returns to norm.cu is that file's own next line.
        let at = f.source.lines().position(|l| l.trim() == "#include \"common.cuh\"").unwrap();
        let back = format!("#line {} \"norm.cu\"\n", at + 2);
        let after = &src[src.find(&back).unwrap() + back.len()..];
        assert_eq!(after.lines().next(), f.source.lines().nth(at + 1));
        let plain = KernelFile { name: "plain", source: "a\nb\n" };
        assert_eq!(plain.expanded_source(), "a\nb\n");
    }

    #[test]
    fn every_file_exports_kernels_with_unique_names() {
        let mut seen = std::collections::HashSet::new();
        for f in FILES {
            let names = f.entry_points();
            assert!(!names.is_empty(), "{} exports no kernel", f.path());
            assert!(!names.contains(&"__launch_bounds__"), "{}: {names:?}", f.path());
            for n in names {
                assert!(seen.insert(n), "kernel {n} defined twice (second in {})", f.path());
            }
        }
    }
}
