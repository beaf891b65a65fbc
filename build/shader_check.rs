// naga parse + validation of one WGSL source, shared by build.rs (which fails the build on an error) and by
// tests/wgpu_shader_check.rs (which feeds it a broken shader). Plain `//` comments: this file is `include!`d.

/// What went wrong and where: `path:line:column: message`, followed by naga's annotated source excerpt.
pub fn check_wgsl(path: &str, source: &str) -> Result<(), String> {
    check_module(path, source).map_err(|f| {
        let at = f.at.map_or(String::new(), |(line, col)| format!("{line}:{col}: "));
        format!("{path}:{at}{}\n{}", f.message, f.excerpt)
    })
}

/// The source the backend compiles for one shader: the file, a newline, then `shaders/common.wgsl` (the shared
/// helpers). WGSL declarations may come in any order, so appending (not prepending) keeps every line of the
/// shader at its own number; the helpers start at line (newlines in `source`) + 2.
pub fn with_common(source: &str, common: &str) -> String {
    format!("{source}\n{common}")
}

/// `check_wgsl` of `with_common(source, common)`, with the error's place given in the file it is in: a line of
/// the shader as `path:line:column`, a line of the appended helpers as `common_path:line:column` (its own line).
/// The annotated excerpt after the message numbers the lines of the combined source.
pub fn check_wgsl_with_common(path: &str, source: &str, common_path: &str, common: &str) -> Result<(), String> {
    let own_lines = source.matches('\n').count() as u32 + 1;
    check_module(path, &with_common(source, common)).map_err(|f| {
        let at = match f.at {
            Some((line, col)) if line > own_lines => format!("{common_path}:{}:{col}: ", line - own_lines),
            Some((line, col)) => format!("{path}:{line}:{col}: "),
            None => format!("{path}: "),
        };
        format!("{at}{}\n{}", f.message, f.excerpt)
    })
}

/// A parse or validation error: its (line, column) in the checked source, message, and naga's excerpt.
struct Failure {
    at: Option<(u32, u32)>,
    message: String,
    excerpt: String,
}

fn check_module(path: &str, source: &str) -> Result<(), Failure> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| Failure {
        at: e.location(source).map(|l| (l.line_number, l.line_position)),
        message: e.message().to_string(),
        excerpt: e.emit_to_string_with_path(source, path),
    })?;
    // The capabilities the backend asks of an adapter: none beyond core WebGPU.
    let caps = naga::valid::Capabilities::empty();
    let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
    validator.validate(&module).map_err(|e| Failure {
        at: e.location(source).map(|l| (l.line_number, l.line_position)),
        message: e.to_string(),
        excerpt: e.emit_to_string_with_path(source, path),
    })?;
    Ok(())
}
