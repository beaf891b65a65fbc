// naga parse + validation of one WGSL source, shared by build.rs (which fails the build on an error) and by
// tests/wgpu_shader_check.rs (which feeds it a broken shader). Plain `//` comments: this file is `include!`d.

/// What went wrong and where: `path:line:column: message`, followed by naga's annotated source excerpt.
pub fn check_wgsl(path: &str, source: &str) -> Result<(), String> {
    let module = match naga::front::wgsl::parse_str(source) {
        Ok(m) => m,
        Err(e) => {
            let at = e.location(source).map_or(String::new(), |l| format!("{}:{}: ", l.line_number, l.line_position));
            return Err(format!("{path}:{at}{}\n{}", e.message(), e.emit_to_string_with_path(source, path)));
        }
    };
    // The capabilities the backend asks of an adapter: none beyond core WebGPU.
    let caps = naga::valid::Capabilities::empty();
    let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
    if let Err(e) = validator.validate(&module) {
        let at = e.location(source).map_or(String::new(), |l| format!("{}:{}: ", l.line_number, l.line_position));
        return Err(format!("{path}:{at}{}\n{}", e, e.emit_to_string_with_path(source, path)));
    }
    Ok(())
}
