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
        while let Some(at) = rest.find("extern \"C\" __global__") {
            rest = &rest[at..];
            let paren = rest.find('(').unwrap_or(rest.len());
            let head = &rest[..paren];
            if let Some(name) = head.split_whitespace().last() {
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    out.push(name);
                }
            }
            rest = &rest[paren.min(rest.len())..];
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
    fn every_file_exports_kernels_with_unique_names() {
        let mut seen = std::collections::HashSet::new();
        for f in FILES {
            let names = f.entry_points();
            assert!(!names.is_empty(), "{} exports no kernel", f.path());
            for n in names {
                assert!(seen.insert(n), "kernel {n} defined twice (second in {})", f.path());
            }
        }
    }
}
