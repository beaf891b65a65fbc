// layout.wgsl — data movement without arithmetic (src/ops/layout): permute, narrow, its inverse, concat.
//
//   permute:     y[J] = x[Σ_k J_k · src_stride_k]   J a multi-index over the output shape, src_stride_k the stride
//                in x of the dimension that becomes output dimension k (rank ≤ 8).
//   copy_block:  y[o, dst_off + l, i] = x[o, src_off + l, i]  for l < len: `narrow` (src_off = start,
//                dst_axis = len) and one launch per part of `concat` (src_axis = part length, dst_off = running
//                offset), all parts in one submit.
//   unnarrow:    y[o, a, i] = g[o, a − start, i] if start ≤ a < start + len else 0. Written in gather form (one
//                thread per output element) so there is no separate zero-fill pass.
//
// Launch geometry: 256 threads per workgroup, one thread per output element; the 1-d grid is folded onto
// (x, y) because a dimension holds at most 65 535 workgroups, and threads past the end return.
// Memory traffic: one 4-byte read and one 4-byte write per element (unnarrow: one write per zero). permute's
// reads are strided (gathers); the writes are always contiguous.

struct PermuteParams {
    out_shape: array<vec4<u32>, 2>,
    src_strides: array<vec4<u32>, 2>,
    rank: u32,
    n: u32,
}

@group(0) @binding(0) var<uniform> pp: PermuteParams;
@group(0) @binding(1) var<storage, read> px: array<f32>;
@group(0) @binding(2) var<storage, read_write> py: array<f32>;

@compute @workgroup_size(256)
fn permute(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= pp.n) {
        return;
    }
    var rest = j;
    var src = 0u;
    for (var k = i32(pp.rank) - 1; k >= 0; k--) {
        let kk = u32(k);
        let size = pp.out_shape[kk / 4u][kk % 4u];
        src += (rest % size) * pp.src_strides[kk / 4u][kk % 4u];
        rest /= size;
    }
    py[j] = px[src];
}

struct BlockParams {
    outer: u32,
    len: u32,
    inner: u32,
    src_axis: u32,
    src_off: u32,
    dst_axis: u32,
    dst_off: u32,
    n: u32,
}

@group(0) @binding(0) var<uniform> bp: BlockParams;
@group(0) @binding(1) var<storage, read> bx: array<f32>;
@group(0) @binding(2) var<storage, read_write> by: array<f32>;

@compute @workgroup_size(256)
fn copy_block(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= bp.n) {
        return;
    }
    let i = j % bp.inner;
    let l = (j / bp.inner) % bp.len;
    let o = j / (bp.inner * bp.len);
    by[(o * bp.dst_axis + bp.dst_off + l) * bp.inner + i] = bx[(o * bp.src_axis + bp.src_off + l) * bp.inner + i];
}

struct UnnarrowParams {
    axis: u32,
    inner: u32,
    start: u32,
    len: u32,
    n: u32,
}

@group(0) @binding(0) var<uniform> up: UnnarrowParams;
@group(0) @binding(1) var<storage, read> ug: array<f32>;
@group(0) @binding(2) var<storage, read_write> uy: array<f32>;

@compute @workgroup_size(256)
fn unnarrow(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= up.n) {
        return;
    }
    let i = j % up.inner;
    let a = (j / up.inner) % up.axis;
    let o = j / (up.inner * up.axis);
    var v = 0.0;
    if (a >= up.start && a < up.start + up.len) {
        v = ug[(o * up.len + a - up.start) * up.inner + i];
    }
    uy[j] = v;
}
