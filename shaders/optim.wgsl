// optim.wgsl — fused optimizer updates and global-norm clipping (src/ops/optim; formulas and why in its mod.rs).
// PyTorch's single-tensor torch.optim rules in its order of operations; the f32 scalars come from the host
// (AdamStep, SgdStep), rounded once from f64, so every device multiplies by the same numbers.
//
// Multi-tensor: the launcher (src/ops/optim/wgpu.rs) packs a group's tensors into slabs, one buffer per role with
// each tensor at an aligned offset and zeros between them, so every entry point below runs over a whole group.
//
//   squares_partial: out[at + w] = Σ g² over workgroup w's strided share of the slab (64 threads, wg_sum).
//   squares_total:   out[0] = Σ partials, one workgroup in a fixed order: with squares_partial a two-pass
//                    deterministic reduction (no atomics).
//   clip_factor:     out[0] = min(1, max_norm/(√total + 1e-6))   one thread.
//   adam:            (p, m, v) → (p', m', v'), g scaled by scale[0] read from device memory (no host branch).
//   sgd:             (p, b) → (p', b').
//   Geometry: the updates one thread per element, 256 per workgroup, 1-d grid folded onto (x, y).
//   Memory traffic per element: Adam 28 B, SGD 20 B, the squared sum 4 B: all memory bound.

struct PartialParams {
    n: u32,
    at: u32,
}

@group(0) @binding(0) var<uniform> pp: PartialParams;
@group(0) @binding(1) var<storage, read> pp_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> pp_out: array<f32>;

// Workgroup w sums the squares of its strided share of the slab into pp_out[at + w].
@compute @workgroup_size(64)
fn squares_partial(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
    var s = 0.0;
    for (var j = wid.x * 64u + lid; j < pp.n; j += nwg.x * 64u) {
        s += pp_g[j] * pp_g[j];
    }
    let total = wg_sum(lid, s);
    if (lid == 0u) {
        pp_out[pp.at + wid.x] = total;
    }
}

struct TotalParams {
    n: u32,
}

@group(0) @binding(0) var<uniform> tp: TotalParams;
@group(0) @binding(1) var<storage, read> tp_partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> tp_out: array<f32>;

// One workgroup adds the partials in a fixed order.
@compute @workgroup_size(64)
fn squares_total(@builtin(local_invocation_index) lid: u32) {
    var s = 0.0;
    for (var j = lid; j < tp.n; j += 64u) {
        s += tp_partials[j];
    }
    let total = wg_sum(lid, s);
    if (lid == 0u) {
        tp_out[0] = total;
    }
}

struct ClipParams {
    max_norm: f32,
}

@group(0) @binding(0) var<uniform> cp: ClipParams;
@group(0) @binding(1) var<storage, read> clip_total: array<f32>;
@group(0) @binding(2) var<storage, read_write> clip_out: array<f32>;

@compute @workgroup_size(1)
fn clip_factor() {
    clip_out[0] = min(cp.max_norm / (sqrt(clip_total[0]) + 1e-6), 1.0);
}

struct AdamParams {
    n: u32,
    decay: f32,
    l2: f32,
    w1: f32,
    beta2: f32,
    w2: f32,
    bc2_sqrt: f32,
    neg_step: f32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> ap: AdamParams;
@group(0) @binding(1) var<storage, read> a_p: array<f32>;
@group(0) @binding(2) var<storage, read> a_g: array<f32>;
@group(0) @binding(3) var<storage, read> a_m: array<f32>;
@group(0) @binding(4) var<storage, read> a_v: array<f32>;
@group(0) @binding(5) var<storage, read> a_scale: array<f32>;
@group(0) @binding(6) var<storage, read_write> a_p_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> a_m_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> a_v_out: array<f32>;

@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= ap.n) {
        return;
    }
    let g = a_g[j] * a_scale[0] + ap.l2 * a_p[j];
    let p = a_p[j] * ap.decay;
    let m = a_m[j] + ap.w1 * (g - a_m[j]);
    let v = a_v[j] * ap.beta2 + ap.w2 * g * g;
    let denom = sqrt(v) / ap.bc2_sqrt + ap.eps;
    a_m_out[j] = m;
    a_v_out[j] = v;
    a_p_out[j] = p + ap.neg_step * m / denom;
}

struct SgdParams {
    n: u32,
    neg_lr: f32,
    momentum: f32,
    l2: f32,
    first: u32,
}

@group(0) @binding(0) var<uniform> gp: SgdParams;
@group(0) @binding(1) var<storage, read> s_p: array<f32>;
@group(0) @binding(2) var<storage, read> s_g: array<f32>;
@group(0) @binding(3) var<storage, read> s_buf: array<f32>;
@group(0) @binding(4) var<storage, read> s_scale: array<f32>;
@group(0) @binding(5) var<storage, read_write> s_p_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> s_buf_out: array<f32>;

@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= gp.n) {
        return;
    }
    let g = s_g[j] * s_scale[0] + gp.l2 * s_p[j];
    var b = s_buf[j];
    var step = g;
    if (gp.momentum != 0.0) {
        b = select(b * gp.momentum + g, g, gp.first != 0u);
        step = b;
    }
    s_buf_out[j] = b;
    s_p_out[j] = s_p[j] + gp.neg_lr * step;
}
