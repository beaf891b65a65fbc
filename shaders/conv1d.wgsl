// conv1d.wgsl — dilated, causal-capable 1-d convolution computed directly: no im2col buffer, no padded copy
// of the input (src/ops/conv1d; formulas in its mod.rs). With shift(k) = k·dilation − pad_left:
//
//   conv_fwd:     y[b, o, t]  = bias[o] + Σ_i Σ_k w[o, i, k]·x[b, i, t + shift(k)]     (x = 0 outside [0, t_in))
//   conv_bwd_x:   dx[b, i, s] = Σ_o Σ_k w[o, i, k]·dy[b, o, s − shift(k)]             (dy = 0 outside [0, t_out))
//   conv_bwd_w:   dw[o, i, k] = Σ_b Σ_t dy[b, o, t]·x[b, i, t + shift(k)]
//   conv_bwd_b:   dbias[o]    = Σ_b Σ_t dy[b, o, t]
//
// Launch geometry and why each kernel is shaped as it is:
// - conv_fwd and conv_bwd_x write one output element per thread (256 per workgroup, consecutive threads on
//   consecutive times), gathering over (channel, tap). The input gradient is written in this gather form
//   (rather than scattering each dy into kernel·c_in places) because WGSL has no float atomics; the implicit
//   padding becomes a bounds test on the time index.
// - conv_bwd_w and conv_bwd_b are reductions over (batch, time) for few outputs (c_out·c_in·kernel weights),
//   so each output gets a 64-thread workgroup that strides (b, t) and finishes with a tree reduction.
// Memory traffic: forward reads each x element c_out·kernel times and each w element once per output (from
// cache: w is small); the input gradient likewise reads dy c_in·kernel times; the weight gradient reads x and
// dy once per weight. The redundant reads hit cache for TCN sizes (channels ≤ 128, kernel ≤ 7).

struct ConvParams {
    batch: u32,
    c_in: u32,
    c_out: u32,
    t_in: u32,
    t_out: u32,
    kernel: u32,
    dilation: u32,
    pad_left: u32,
    has_bias: u32,
}

@group(0) @binding(0) var<uniform> fp: ConvParams;
@group(0) @binding(1) var<storage, read> fx: array<f32>;
@group(0) @binding(2) var<storage, read> fw: array<f32>;
@group(0) @binding(3) var<storage, read> fb: array<f32>;
@group(0) @binding(4) var<storage, read_write> fy: array<f32>;

@compute @workgroup_size(256)
fn conv_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= fp.batch * fp.c_out * fp.t_out) {
        return;
    }
    let t = j % fp.t_out;
    let o = (j / fp.t_out) % fp.c_out;
    let b = j / (fp.t_out * fp.c_out);
    var acc = 0.0;
    if (fp.has_bias != 0u) {
        acc = fb[o];
    }
    for (var i = 0u; i < fp.c_in; i++) {
        let xrow = (b * fp.c_in + i) * fp.t_in;
        let wrow = (o * fp.c_in + i) * fp.kernel;
        for (var k = 0u; k < fp.kernel; k++) {
            let s = i32(t + k * fp.dilation) - i32(fp.pad_left);
            if (s >= 0 && s < i32(fp.t_in)) {
                acc = fma(fw[wrow + k], fx[xrow + u32(s)], acc);
            }
        }
    }
    fy[j] = acc;
}

@group(0) @binding(0) var<uniform> xp: ConvParams;
@group(0) @binding(1) var<storage, read> xw: array<f32>;
@group(0) @binding(2) var<storage, read> xdy: array<f32>;
@group(0) @binding(3) var<storage, read_write> xdx: array<f32>;

@compute @workgroup_size(256)
fn conv_bwd_x(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= xp.batch * xp.c_in * xp.t_in) {
        return;
    }
    let s = j % xp.t_in;
    let i = (j / xp.t_in) % xp.c_in;
    let b = j / (xp.t_in * xp.c_in);
    var acc = 0.0;
    for (var o = 0u; o < xp.c_out; o++) {
        let dyrow = (b * xp.c_out + o) * xp.t_out;
        let wrow = (o * xp.c_in + i) * xp.kernel;
        for (var k = 0u; k < xp.kernel; k++) {
            let t = i32(s + xp.pad_left) - i32(k * xp.dilation);
            if (t >= 0 && t < i32(xp.t_out)) {
                acc = fma(xw[wrow + k], xdy[dyrow + u32(t)], acc);
            }
        }
    }
    xdx[j] = acc;
}

@group(0) @binding(0) var<uniform> wp: ConvParams;
@group(0) @binding(1) var<storage, read> wx: array<f32>;
@group(0) @binding(2) var<storage, read> wdy: array<f32>;
@group(0) @binding(3) var<storage, read_write> wdw: array<f32>;

@compute @workgroup_size(64)
fn conv_bwd_w(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = wid.x + wid.y * nwg.x;
    let live = e < wp.c_out * wp.c_in * wp.kernel;
    let k = e % wp.kernel;
    let i = (e / wp.kernel) % wp.c_in;
    let o = e / (wp.kernel * wp.c_in);
    var acc = 0.0;
    if (live) {
        let shift = i32(k * wp.dilation) - i32(wp.pad_left);
        // Only output times whose tap-k input is inside x contribute.
        let lo = u32(clamp(-shift, 0, i32(wp.t_out)));
        let hi = u32(clamp(i32(wp.t_in) - shift, i32(lo), i32(wp.t_out)));
        let span = hi - lo;
        for (var r = lid; r < wp.batch * span; r += 64u) {
            let b = r / span;
            let t = lo + r % span;
            acc = fma(wdy[(b * wp.c_out + o) * wp.t_out + t], wx[(b * wp.c_in + i) * wp.t_in + u32(i32(t) + shift)], acc);
        }
    }
    let total = wg_sum(lid, acc);
    if (live && lid == 0u) {
        wdw[e] = total;
    }
}

@group(0) @binding(0) var<uniform> bp: ConvParams;
@group(0) @binding(1) var<storage, read> bdy: array<f32>;
@group(0) @binding(2) var<storage, read_write> bdb: array<f32>;

@compute @workgroup_size(64)
fn conv_bwd_b(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let o = wid.x + wid.y * nwg.x;
    let live = o < bp.c_out;
    var acc = 0.0;
    if (live) {
        for (var r = lid; r < bp.batch * bp.t_out; r += 64u) {
            let b = r / bp.t_out;
            let t = r % bp.t_out;
            acc += bdy[(b * bp.c_out + o) * bp.t_out + t];
        }
    }
    let total = wg_sum(lid, acc);
    if (live && lid == 0u) {
        bdb[o] = total;
    }
}
