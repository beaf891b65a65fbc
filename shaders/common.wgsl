// common.wgsl — helpers shared by every shader in this folder. WGSL has no #include: the backend appends this
// file (after a newline) to each shader's source when it creates the shader module, and build.rs validates
// each shader the same way (`with_common` in build/shader_check.rs). WGSL declarations may come in any order, so
// the shaders call these before they appear, and every line of a shader keeps its own number in messages; a
// message about a line past the shader's end is about this file (the build reports it at this file's own line).
// Names declared here (`linear_index`, `tanh_f32`, `sigmoid_f32`, `red`, `wg_sum`, `wg_max`) are taken in every
// shader.

// Flat index of a thread in a 1-d grid of 256-thread workgroups folded onto (x, y) (a dimension holds at most
// 65 535 workgroups): the launch geometry `grid` in src/backend/wgpu/launch.rs sets up.
fn linear_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// tanh as Cephes' tanhf: a polynomial below 0.625, the exp form above, because a builtin tanh may lose relative
// accuracy near 0 or overflow for large |x| on some drivers.
fn tanh_f32(x: f32) -> f32 {
    let z = abs(x);
    if (z < 0.625) {
        let s = x * x;
        let p = (((-5.70498872745e-3 * s + 2.06390887954e-2) * s - 5.37397155531e-2) * s + 1.33314422036e-1) * s
            - 3.33332819422e-1;
        return x + x * s * p;
    }
    // e^{2z} overflows to +inf for z > 44, and 1 − 2/inf = 1: no NaN.
    let r = 1.0 - 2.0 / (exp(2.0 * z) + 1.0);
    return select(r, -r, x < 0.0);
}

fn sigmoid_f32(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// Workgroup-wide sum and max for 64-thread workgroups (`lid` = local_invocation_index), returned to every
// thread: a shared-memory tree over `red`. Every thread of the workgroup must call (they hold barriers); the
// trailing barrier lets the caller reduce again right away.
var<workgroup> red: array<f32, 64>;

fn wg_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = red[lid] + red[lid + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn wg_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = max(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}
