// reduce.wgsl — sum / mean / max along the middle axis of x [outer, axis, inner], and their backward
// (src/ops/reduce; formulas in its mod.rs). y and idx are [outer, inner].
//
//   sum_cols:  y[o, i] = scale·Σ_a x[o, a, i]          one thread per output; neighbouring threads read
//              neighbouring i, so every step of the axis loop is one coalesced row read. For inner ≥ 64 or
//              short axes.
//   sum_rows:  the same sum with one 64-thread workgroup per output, threads striding the axis and a tree
//              reduction in workgroup memory. For long axes with little inner parallelism (inner = 1 is a row
//              sum: the loss mean, sum_all).
//   sum_bwd:   dx[o, a, i] = scale·dy[o, i]            one thread per dx element.
//   max_cols / max_rows: y = max_a x, idx = the first a attaining it (NaN wins, as in the CPU kernel), idx
//              written as f32 (exact below 2^24). Same two geometries as the sums; the row variant reduces
//              (value, index) pairs, preferring the lower index on ties.
//   max_bwd:   dx[o, a, i] = dy[o, i] if a == idx[o, i] else 0 (gather form: no zero-fill pass).
//
// scale is 1 for sum and 1/axis for mean. Sums accumulate in f32 (the CPU reference adds blocks in f64; the
// tests allow 1e-4 relative).
// Memory traffic: x read once, y written once; backward reads dy once per dx element (from cache) and writes
// dx once. All memory bound.

struct ReduceParams {
    outer: u32,
    axis: u32,
    inner: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn sum_cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= p.outer * p.inner) {
        return;
    }
    let o = j / p.inner;
    let i = j % p.inner;
    var acc = 0.0;
    for (var a = 0u; a < p.axis; a++) {
        acc += x[(o * p.axis + a) * p.inner + i];
    }
    y[j] = acc * p.scale;
}

var<workgroup> partial: array<f32, 64>;
var<workgroup> partial_idx: array<u32, 64>;

@compute @workgroup_size(64)
fn sum_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let j = wid.x + wid.y * nwg.x;
    var acc = 0.0;
    if (j < p.outer * p.inner) {
        let o = j / p.inner;
        let i = j % p.inner;
        for (var a = lid; a < p.axis; a += 64u) {
            acc += x[(o * p.axis + a) * p.inner + i];
        }
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u && j < p.outer * p.inner) {
        y[j] = partial[0] * p.scale;
    }
}

@group(0) @binding(0) var<uniform> bp: ReduceParams;
@group(0) @binding(1) var<storage, read> bdy: array<f32>;
@group(0) @binding(2) var<storage, read_write> bdx: array<f32>;

@compute @workgroup_size(256)
fn sum_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= bp.outer * bp.axis * bp.inner) {
        return;
    }
    let i = j % bp.inner;
    let o = j / (bp.inner * bp.axis);
    bdx[j] = bdy[o * bp.inner + i] * bp.scale;
}

@group(0) @binding(0) var<uniform> mp: ReduceParams;
@group(0) @binding(1) var<storage, read> mx: array<f32>;
@group(0) @binding(2) var<storage, read_write> my: array<f32>;
@group(0) @binding(3) var<storage, read_write> midx: array<f32>;

// Whether candidate v at index a replaces the current best (bv at ba): greater, or NaN over a non-NaN,
// or equal/NaN-vs-NaN with a lower index.
fn better(v: f32, a: u32, bv: f32, ba: u32) -> bool {
    let v_nan = v != v;
    let b_nan = bv != bv;
    if (v_nan != b_nan) {
        return v_nan;
    }
    if (v_nan || v == bv) {
        return a < ba;
    }
    return v > bv;
}

@compute @workgroup_size(256)
fn max_cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= mp.outer * mp.inner) {
        return;
    }
    let o = j / mp.inner;
    let i = j % mp.inner;
    var best = mx[o * mp.axis * mp.inner + i];
    var best_a = 0u;
    for (var a = 1u; a < mp.axis; a++) {
        let v = mx[(o * mp.axis + a) * mp.inner + i];
        if (better(v, a, best, best_a)) {
            best = v;
            best_a = a;
        }
    }
    my[j] = best;
    midx[j] = f32(best_a);
}

@compute @workgroup_size(64)
fn max_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let j = wid.x + wid.y * nwg.x;
    let live = j < mp.outer * mp.inner && lid < mp.axis;
    var best = 0.0;
    var best_a = 0xffffffffu;
    if (live) {
        let o = j / mp.inner;
        let i = j % mp.inner;
        best = mx[(o * mp.axis + lid) * mp.inner + i];
        best_a = lid;
        for (var a = lid + 64u; a < mp.axis; a += 64u) {
            let v = mx[(o * mp.axis + a) * mp.inner + i];
            if (better(v, a, best, best_a)) {
                best = v;
                best_a = a;
            }
        }
    }
    partial[lid] = best;
    partial_idx[lid] = best_a;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let other_a = partial_idx[lid + s];
            // An empty slot (index 0xffffffff, from threads past the axis) never wins.
            if (other_a != 0xffffffffu
                && (partial_idx[lid] == 0xffffffffu || better(partial[lid + s], other_a, partial[lid], partial_idx[lid]))) {
                partial[lid] = partial[lid + s];
                partial_idx[lid] = other_a;
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u && j < mp.outer * mp.inner) {
        my[j] = partial[0];
        midx[j] = f32(partial_idx[0]);
    }
}

@group(0) @binding(0) var<uniform> gp: ReduceParams;
@group(0) @binding(1) var<storage, read> gidx: array<f32>;
@group(0) @binding(2) var<storage, read> gdy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gdx: array<f32>;

@compute @workgroup_size(256)
fn max_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= gp.outer * gp.axis * gp.inner) {
        return;
    }
    let i = j % gp.inner;
    let a = (j / gp.inner) % gp.axis;
    let o = j / (gp.inner * gp.axis);
    let k = o * gp.inner + i;
    gdx[j] = select(0.0, gdy[k], u32(gidx[k]) == a);
}
