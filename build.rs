//! Validates every `shaders/*.wgsl` with naga (the version wgpu uses) so a broken shader fails the build with
//! its file, line and column, instead of failing at run time on the first device that compiles it.

mod shader_check {
    include!("build/shader_check.rs");
}

use std::fs;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/shader_check.rs");
    println!("cargo:rerun-if-changed=shaders");
    let dir = Path::new("shaders");
    let mut files: Vec<_> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(e) => panic!("shaders/: cannot list the shader folder: {e}"),
    };
    files.retain(|p| p.extension().is_some_and(|x| x == "wgsl"));
    files.sort();
    let mut errors = Vec::new();
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let shown = path.display().to_string();
        match fs::read_to_string(path) {
            Ok(src) => {
                if let Err(e) = shader_check::check_wgsl(&shown, &src) {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(format!("{shown}: cannot read: {e}")),
        }
    }
    if !errors.is_empty() {
        // A failing build script's stderr is what cargo shows; exit(1) fails the build without a backtrace.
        eprintln!("invalid WGSL shader(s):\n{}", errors.join("\n"));
        std::process::exit(1);
    }
}
