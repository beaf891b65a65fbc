// softmax.wgsl — softmax and log-softmax along the last axis of [rows, cols], forward and backward
// (src/ops/softmax; formulas in its mod.rs).
//
//   softmax_fwd:  m = max_j x_j, s = Σ_j exp(x_j − m);  y_j = exp(x_j − m)/s   or (log) y_j = x_j − m − ln s
//   softmax_bwd:  softmax: dx_j = y_j·(dy_j − Σ_k dy_k·y_k);   log: dx_j = dy_j − exp(y_j)·Σ_k dy_k
//                 (both from the forward OUTPUT, as the autodiff keeps it)
//
// Launch geometry: one 64-thread workgroup per row (rows folded onto (x, y)); threads stride the columns and
// combine with tree reductions in workgroup memory (max, then sum). One kernel serves both variants through
// the `log` flag: they differ only in the final write.
// Memory traffic: forward reads the row twice (max, then exp-sum + write; the second pass hits cache for
// realistic widths) and writes it once; backward reads y and dy twice and writes dx once.

struct SoftmaxParams {
    rows: u32,
    cols: u32,
    log: u32,
}

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn softmax_fwd(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    let live = row < p.rows;
    let base = row * p.cols;
    var m = -3.402823e38;
    if (live) {
        for (var c = lid; c < p.cols; c += 64u) {
            m = max(m, x[base + c]);
        }
    }
    m = wg_max(lid, m);
    var s = 0.0;
    if (live) {
        for (var c = lid; c < p.cols; c += 64u) {
            s += exp(x[base + c] - m);
        }
    }
    s = wg_sum(lid, s);
    if (!live) {
        return;
    }
    let log_s = log(s);
    for (var c = lid; c < p.cols; c += 64u) {
        let v = x[base + c] - m;
        if (p.log != 0u) {
            y[base + c] = v - log_s;
        } else {
            y[base + c] = exp(v) / s;
        }
    }
}

@group(0) @binding(0) var<uniform> bp: SoftmaxParams;
@group(0) @binding(1) var<storage, read> by: array<f32>;
@group(0) @binding(2) var<storage, read> bdy: array<f32>;
@group(0) @binding(3) var<storage, read_write> bdx: array<f32>;

@compute @workgroup_size(64)
fn softmax_bwd(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    let live = row < bp.rows;
    let base = row * bp.cols;
    // softmax: Σ dy·y;  log-softmax: Σ dy
    var acc = 0.0;
    if (live) {
        for (var c = lid; c < bp.cols; c += 64u) {
            let g = bdy[base + c];
            acc += select(g * by[base + c], g, bp.log != 0u);
        }
    }
    acc = wg_sum(lid, acc);
    if (!live) {
        return;
    }
    for (var c = lid; c < bp.cols; c += 64u) {
        let yv = by[base + c];
        let g = bdy[base + c];
        if (bp.log != 0u) {
            bdx[base + c] = g - exp(yv) * acc;
        } else {
            bdx[base + c] = yv * (g - acc);
        }
    }
}
