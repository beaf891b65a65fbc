//! The CUDA C of every kernel family, embedded in the binary so a deployed executable needs no source tree.

/// One `kernels/<family>.cu` file: its family name and its source.
pub struct KernelFile {
    pub name: &'static str,
    pub source: &'static str,
}

impl KernelFile {
    /// Path of the file in the repository, for messages.
    pub fn path(&self) -> String {
        format!("kernels/{}.cu", self.name)
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

/// Every kernel file; the backend compiles all of them at warm-up.
pub const FILES: &[KernelFile] = &[
    KernelFile { name: "matmul", source: include_str!("../../../kernels/matmul.cu") },
    KernelFile { name: "attention", source: include_str!("../../../kernels/attention.cu") },
    KernelFile { name: "conv1d", source: include_str!("../../../kernels/conv1d.cu") },
    KernelFile { name: "lstm", source: include_str!("../../../kernels/lstm.cu") },
    KernelFile { name: "ensemble", source: include_str!("../../../kernels/ensemble.cu") },
    KernelFile { name: "norm", source: include_str!("../../../kernels/norm.cu") },
    KernelFile { name: "softmax", source: include_str!("../../../kernels/softmax.cu") },
    KernelFile { name: "elementwise", source: include_str!("../../../kernels/elementwise.cu") },
    KernelFile { name: "reduce", source: include_str!("../../../kernels/reduce.cu") },
    KernelFile { name: "layout", source: include_str!("../../../kernels/layout.cu") },
    KernelFile { name: "dropout", source: include_str!("../../../kernels/dropout.cu") },
];

#[cfg(test)]
mod tests {
    use super::FILES;

    #[test]
    fn entry_points_skip_launch_bounds() {
        let f = FILES.iter().find(|f| f.name == "matmul").unwrap();
        let names = f.entry_points();
        assert!(names.contains(&"gemm_f32") && names.contains(&"f32_to_bf16"), "{names:?}");
        let total: usize = FILES.iter().map(|f| f.entry_points().len()).sum();
        assert_eq!(total, 51, "kernels in kernels/*.cu");
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
