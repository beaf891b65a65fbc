// norm.wgsl — LayerNorm over the last axis of [rows, cols] and BatchNorm1d over (n, l) per channel of
// [n, c, l], forward and backward (src/ops/norm; formulas in its mod.rs).
//
// LayerNorm
//   ln_fwd:     per row μ, σ² (biased, two passes over the row for accuracy), rstd = 1/√(σ²+eps);
//               y = (x−μ)·rstd·γ + β; writes mean and rstd [rows] for the backward.
//   ln_bwd_dx:  g = dy·γ;  dx = rstd·(g − mean(g) − x̂·mean(g·x̂)).
//   ln_bwd_dgb: dγ[c] = Σ_rows dy·x̂,  dβ[c] = Σ_rows dy   (a column reduction: its own kernel because rows
//               and columns need different parallel splits).
//   Geometry: ln_fwd / ln_bwd_dx one 64-thread workgroup per row; ln_bwd_dgb one 64-thread workgroup per column,
//   threads striding the rows. Traffic: x read twice per row (the second from cache), y written once; backward
//   reads x and dy twice.
// BatchNorm1d
//   bn_stats:   train: per channel batch mean and biased variance over its N = n·l values (two passes) →
//               mean, rstd; and the running statistics moved with the UNBIASED variance, recovered from rstd
//               exactly as the CPU does (biased = max(1/rstd² − eps, 0), then ·N/(N−1)).
//   bn_apply:   y = (x − a)·s·γ + β: train (a, s) = (batch mean, rstd); eval a = running mean,
//               s = 1/√(running var + eps). One thread per element.
//   bn_bwd_sums: per channel Σdy and Σdy·x̂ (x̂ with the same a, s) → dβ, dγ.
//   bn_bwd_dx:  train dx = γ·rstd/N·(N·dy − Σdy − x̂·Σdy·x̂);  eval dx = dy·γ·s.
//   Geometry: per-channel kernels one 64-thread workgroup per channel; elementwise kernels 256 threads per
//   workgroup. Traffic: x read three times in train forward (mean, variance, normalise), twice backward.

// ---- LayerNorm ----------------------------------------------------------------------------------------------

struct LnParams {
    rows: u32,
    cols: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> lp: LnParams;
@group(0) @binding(1) var<storage, read> lx: array<f32>;
@group(0) @binding(2) var<storage, read> lg: array<f32>;
@group(0) @binding(3) var<storage, read> lb: array<f32>;
@group(0) @binding(4) var<storage, read_write> ly: array<f32>;
@group(0) @binding(5) var<storage, read_write> lmean: array<f32>;
@group(0) @binding(6) var<storage, read_write> lrstd: array<f32>;

@compute @workgroup_size(64)
fn ln_fwd(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    let live = row < lp.rows;
    let base = row * lp.cols;
    let count = f32(lp.cols);
    var s = 0.0;
    if (live) {
        for (var c = lid; c < lp.cols; c += 64u) {
            s += lx[base + c];
        }
    }
    let mu = wg_sum(lid, s) / count;
    var sq = 0.0;
    if (live) {
        for (var c = lid; c < lp.cols; c += 64u) {
            let v = lx[base + c] - mu;
            sq += v * v;
        }
    }
    let rs = 1.0 / sqrt(wg_sum(lid, sq) / count + lp.eps);
    if (!live) {
        return;
    }
    for (var c = lid; c < lp.cols; c += 64u) {
        ly[base + c] = (lx[base + c] - mu) * rs * lg[c] + lb[c];
    }
    if (lid == 0u) {
        lmean[row] = mu;
        lrstd[row] = rs;
    }
}

@group(0) @binding(0) var<uniform> dp: LnParams;
@group(0) @binding(1) var<storage, read> dx_x: array<f32>;
@group(0) @binding(2) var<storage, read> dx_g: array<f32>;
@group(0) @binding(3) var<storage, read> dx_mean: array<f32>;
@group(0) @binding(4) var<storage, read> dx_rstd: array<f32>;
@group(0) @binding(5) var<storage, read> dx_dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx_out: array<f32>;

@compute @workgroup_size(64)
fn ln_bwd_dx(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    let live = row < dp.rows;
    let base = row * dp.cols;
    let count = f32(dp.cols);
    var mu = 0.0;
    var rs = 0.0;
    var sg = 0.0;
    var sgx = 0.0;
    if (live) {
        mu = dx_mean[row];
        rs = dx_rstd[row];
        for (var c = lid; c < dp.cols; c += 64u) {
            let g = dx_dy[base + c] * dx_g[c];
            sg += g;
            sgx += g * (dx_x[base + c] - mu) * rs;
        }
    }
    sg = wg_sum(lid, sg);
    sgx = wg_sum(lid, sgx);
    if (!live) {
        return;
    }
    for (var c = lid; c < dp.cols; c += 64u) {
        let g = dx_dy[base + c] * dx_g[c];
        let xhat = (dx_x[base + c] - mu) * rs;
        dx_out[base + c] = rs * (g - sg / count - xhat * sgx / count);
    }
}

@group(0) @binding(0) var<uniform> gp: LnParams;
@group(0) @binding(1) var<storage, read> g_x: array<f32>;
@group(0) @binding(2) var<storage, read> g_mean: array<f32>;
@group(0) @binding(3) var<storage, read> g_rstd: array<f32>;
@group(0) @binding(4) var<storage, read> g_dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> g_dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> g_dbeta: array<f32>;

@compute @workgroup_size(64)
fn ln_bwd_dgb(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let col = wid.x + wid.y * nwg.x;
    let live = col < gp.cols;
    var sg = 0.0;
    var sb = 0.0;
    if (live) {
        for (var r = lid; r < gp.rows; r += 64u) {
            let at = r * gp.cols + col;
            let dy = g_dy[at];
            sg += dy * (g_x[at] - g_mean[r]) * g_rstd[r];
            sb += dy;
        }
    }
    sg = wg_sum(lid, sg);
    sb = wg_sum(lid, sb);
    if (live && lid == 0u) {
        g_dgamma[col] = sg;
        g_dbeta[col] = sb;
    }
}

// ---- BatchNorm1d --------------------------------------------------------------------------------------------

struct BnParams {
    n: u32,
    c: u32,
    l: u32,
    eps: f32,
    momentum: f32,
    // N/(N−1) in f32, computed on the host as the CPU does
    bessel: f32,
    // 1: (a, s) are the running mean and variance (eval); 0: the batch mean and rstd (train)
    eval: u32,
}

// Index of the j-th value of channel ch (j over (i, t) in storage order).
fn bn_index(j: u32, ch: u32, c: u32, l: u32) -> u32 {
    let i = j / l;
    let t = j % l;
    return (i * c + ch) * l + t;
}

@group(0) @binding(0) var<uniform> sp: BnParams;
@group(0) @binding(1) var<storage, read> s_x: array<f32>;
@group(0) @binding(2) var<storage, read> s_rm: array<f32>;
@group(0) @binding(3) var<storage, read> s_rv: array<f32>;
@group(0) @binding(4) var<storage, read_write> s_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> s_rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> s_rm_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> s_rv_out: array<f32>;

@compute @workgroup_size(64)
fn bn_stats(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let ch = wid.x + wid.y * nwg.x;
    let live = ch < sp.c;
    let total = sp.n * sp.l;
    let count = f32(total);
    var s = 0.0;
    if (live) {
        for (var j = lid; j < total; j += 64u) {
            s += s_x[bn_index(j, ch, sp.c, sp.l)];
        }
    }
    let mu = wg_sum(lid, s) / count;
    var sq = 0.0;
    if (live) {
        for (var j = lid; j < total; j += 64u) {
            let v = s_x[bn_index(j, ch, sp.c, sp.l)] - mu;
            sq += v * v;
        }
    }
    let rs = 1.0 / sqrt(wg_sum(lid, sq) / count + sp.eps);
    if (live && lid == 0u) {
        s_mean[ch] = mu;
        s_rstd[ch] = rs;
        let m = sp.momentum;
        let biased = max(1.0 / (rs * rs) - sp.eps, 0.0);
        s_rm_out[ch] = (1.0 - m) * s_rm[ch] + m * mu;
        s_rv_out[ch] = (1.0 - m) * s_rv[ch] + m * biased * sp.bessel;
    }
}

// (a, s) of channel ch: the shift and the scale that normalise it.
fn bn_shift_scale(a: f32, b: f32, eps: f32, eval: u32) -> vec2<f32> {
    if (eval != 0u) {
        return vec2<f32>(a, 1.0 / sqrt(b + eps));
    }
    return vec2<f32>(a, b);
}

@group(0) @binding(0) var<uniform> ap: BnParams;
@group(0) @binding(1) var<storage, read> a_x: array<f32>;
@group(0) @binding(2) var<storage, read> a_g: array<f32>;
@group(0) @binding(3) var<storage, read> a_b: array<f32>;
@group(0) @binding(4) var<storage, read> a_stat_a: array<f32>;
@group(0) @binding(5) var<storage, read> a_stat_b: array<f32>;
@group(0) @binding(6) var<storage, read_write> a_y: array<f32>;

@compute @workgroup_size(256)
fn bn_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= ap.n * ap.c * ap.l) {
        return;
    }
    let ch = (j / ap.l) % ap.c;
    let ss = bn_shift_scale(a_stat_a[ch], a_stat_b[ch], ap.eps, ap.eval);
    a_y[j] = (a_x[j] - ss.x) * ss.y * a_g[ch] + a_b[ch];
}

@group(0) @binding(0) var<uniform> bp: BnParams;
@group(0) @binding(1) var<storage, read> b_x: array<f32>;
@group(0) @binding(2) var<storage, read> b_stat_a: array<f32>;
@group(0) @binding(3) var<storage, read> b_stat_b: array<f32>;
@group(0) @binding(4) var<storage, read> b_dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> b_dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> b_dbeta: array<f32>;

@compute @workgroup_size(64)
fn bn_bwd_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let ch = wid.x + wid.y * nwg.x;
    let live = ch < bp.c;
    let total = bp.n * bp.l;
    var sdy = 0.0;
    var sdyx = 0.0;
    if (live) {
        let ss = bn_shift_scale(b_stat_a[ch], b_stat_b[ch], bp.eps, bp.eval);
        for (var j = lid; j < total; j += 64u) {
            let at = bn_index(j, ch, bp.c, bp.l);
            let dy = b_dy[at];
            sdy += dy;
            sdyx += dy * (b_x[at] - ss.x) * ss.y;
        }
    }
    sdy = wg_sum(lid, sdy);
    sdyx = wg_sum(lid, sdyx);
    if (live && lid == 0u) {
        b_dgamma[ch] = sdyx;
        b_dbeta[ch] = sdy;
    }
}

@group(0) @binding(0) var<uniform> xp: BnParams;
@group(0) @binding(1) var<storage, read> x_x: array<f32>;
@group(0) @binding(2) var<storage, read> x_g: array<f32>;
@group(0) @binding(3) var<storage, read> x_stat_a: array<f32>;
@group(0) @binding(4) var<storage, read> x_stat_b: array<f32>;
@group(0) @binding(5) var<storage, read> x_dy: array<f32>;
@group(0) @binding(6) var<storage, read> x_dgamma: array<f32>;
@group(0) @binding(7) var<storage, read> x_dbeta: array<f32>;
@group(0) @binding(8) var<storage, read_write> x_dx: array<f32>;

@compute @workgroup_size(256)
fn bn_bwd_dx(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= xp.n * xp.c * xp.l) {
        return;
    }
    let ch = (j / xp.l) % xp.c;
    let ss = bn_shift_scale(x_stat_a[ch], x_stat_b[ch], xp.eps, xp.eval);
    if (xp.eval != 0u) {
        x_dx[j] = x_dy[j] * x_g[ch] * ss.y;
        return;
    }
    let count = f32(xp.n * xp.l);
    let k = x_g[ch] * ss.y / count;
    let xhat = (x_x[j] - ss.x) * ss.y;
    x_dx[j] = k * (count * x_dy[j] - x_dbeta[ch] - xhat * x_dgamma[ch]);
}
