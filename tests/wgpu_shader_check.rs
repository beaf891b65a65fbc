//! build.rs fails the build on an invalid shader by running `build/shader_check.rs` on every `shaders/*.wgsl`
//! (each with `shaders/common.wgsl` appended, as the backend compiles it). These tests run that same function on
//! deliberately broken sources and check that the error names the file, the line and the column (what a
//! developer needs to fix it), and that every shipped shader passes.
#![cfg(feature = "wgpu")]

mod shader_check {
    // The build script's checker, compiled against wgpu's re-export of the same naga.
    use wgpu::naga;
    include!("../build/shader_check.rs");
}

use shader_check::{check_wgsl, check_wgsl_with_common};

const GOOD: &str = "@group(0) @binding(0) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    y[gid.x] = 1.0;
}
";

#[test]
fn a_valid_shader_passes() {
    check_wgsl("shaders/good.wgsl", GOOD).unwrap();
}

#[test]
fn a_syntax_error_names_file_line_and_column() {
    let broken = GOOD.replace("y[gid.x] = 1.0;", "y[gid.x] = 1.0 +;");
    let e = check_wgsl("shaders/broken.wgsl", &broken).unwrap_err();
    assert!(e.starts_with("shaders/broken.wgsl:5:"), "error should start with file:line: {e}");
}

#[test]
fn a_type_error_found_by_validation_names_the_line() {
    // Parses, but assigns an integer to an f32 element: caught by naga's front end or validator.
    let broken = GOOD.replace("y[gid.x] = 1.0;", "y[gid.x] = gid.x;");
    let e = check_wgsl("shaders/typed.wgsl", &broken).unwrap_err();
    assert!(e.starts_with("shaders/typed.wgsl:5:"), "error should start with file:line: {e}");
}

#[test]
fn a_write_to_read_only_storage_names_the_line() {
    let broken = GOOD.replace("array<f32>;", "array<f32>;\n").replace("read_write", "read");
    let e = check_wgsl("shaders/readonly.wgsl", &broken).unwrap_err();
    assert!(e.starts_with("shaders/readonly.wgsl:"), "error names the file: {e}");
    assert!(e.contains("readonly.wgsl:6:"), "error names the line of the store: {e}");
}

#[test]
fn every_shipped_shader_passes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let common_path = dir.join("common.wgsl");
    let common = std::fs::read_to_string(&common_path).unwrap();
    let common_shown = common_path.display().to_string();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "wgsl") {
            let src = std::fs::read_to_string(&path).unwrap();
            // common.wgsl alone, every other shader with it appended (what the device compiles).
            let checked = if path == common_path {
                check_wgsl(&common_shown, &src)
            } else {
                check_wgsl_with_common(&path.display().to_string(), &src, &common_shown, &common)
            };
            checked.unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 11, "one shader per kernel family, found {n}");
}

const COMMON: &str = "fn twice(v: f32) -> f32 {
    return 2.0 * v;
}
";

#[test]
fn with_common_appended_an_error_names_the_shaders_own_line() {
    // The shader calls a helper of the appended common source; its own lines keep their numbers.
    let uses = GOOD.replace("y[gid.x] = 1.0;", "y[gid.x] = twice(1.0);");
    check_wgsl_with_common("shaders/uses.wgsl", &uses, "shaders/common.wgsl", COMMON).unwrap();
    assert!(check_wgsl("shaders/uses.wgsl", &uses).is_err(), "the helper is only in the common source");
    let broken = GOOD.replace("y[gid.x] = 1.0;", "y[gid.x] = twice(1.0) +;");
    let e = check_wgsl_with_common("shaders/broken.wgsl", &broken, "shaders/common.wgsl", COMMON).unwrap_err();
    assert!(e.starts_with("shaders/broken.wgsl:5:"), "error should start with file:line: {e}");
}

#[test]
fn an_error_in_the_common_source_names_its_own_line() {
    let common = COMMON.replace("return 2.0 * v;", "return 2.0 * v +;");
    let e = check_wgsl_with_common("shaders/good.wgsl", GOOD, "shaders/common.wgsl", &common).unwrap_err();
    assert!(e.starts_with("shaders/common.wgsl:2:"), "error should name common.wgsl's own line: {e}");
}
