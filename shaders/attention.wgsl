// attention.wgsl — fused scaled dot-product attention with an optional causal mask aligned to the end of the
// keys, forward and backward (src/ops/attention; formulas in its mod.rs). Layouts: q [bh, tq, d],
// k [bh, tk, d], v [bh, tk, dv], o [bh, tq, dv], lse [bh, tq]; query i sees keys j < visible_keys(i).
//
//   attn_fwd:       s_ij = scale·q_i·k_j; online softmax over key tiles: per tile the running max m, the running
//                   sum l and the unnormalised output acc are rescaled once by exp(m_old − m_new), so no tq×tk
//                   score matrix exists anywhere. o_i = acc/l, lse_i = m + ln l (o = 0, lse = −∞ for a query
//                   that sees no key).
//   attn_weights:   p_ij = exp(s_ij − lse_i) (0 where masked): the attention map, only when asked for.
//   attn_bwd_delta: D_i = Σ_c do_ic·o_ic.
//   attn_bwd_dq:    dq_i = scale·Σ_j ds_ij·k_j with p_ij recomputed from lse, dp_ij = do_i·v_j,
//                   ds_ij = p_ij·(dp_ij − D_i)       (FlashAttention-2: nothing of size tq×tk is stored)
//   attn_bwd_dkdv:  dv_j = Σ_i p_ij·do_i,  dk_j = scale·Σ_i ds_ij·q_i   (the same recomputation, key-major)
//
// Launch geometry: 64 threads per workgroup, grid (⌈rows/64⌉, bh). attn_fwd and attn_bwd_dq give each thread
// one query row and stream 16-key tiles of K and V through workgroup memory (16·128·2 floats = 16 KiB, the
// WebGPU default limit), so each K/V element is read from device memory once per 64 queries.
// attn_bwd_dkdv gives each thread one key row and streams 8-query tiles of Q, dO, lse and D (8 KiB). Under
// the causal mask the tile loops stop (forward, dq) or start (dk, dv) where the mask says, so masked tiles cost
// nothing. Rows live in per-thread arrays of MAXD = 128 floats: head widths above 128 are refused by the
// launcher.
// Cost: forward 2·bh·tq·tk·(d + dv) flops; backward about twice that plus the recomputation of s. Traffic:
// q, o, dq, lse once per query row; k, v once per 64-query block (forward, dq) and dk, dv once.

const MAXD: u32 = 128u;
const ROWS: u32 = 64u;
const BK: u32 = 16u;
const BQ: u32 = 8u;
// Stands for −∞ in comparisons (WGSL has no infinity literal); exp(NEG_BIG − x) is 0.
const NEG_BIG: f32 = -3.0e38;

struct AttnParams {
    bh: u32,
    tq: u32,
    tk: u32,
    d: u32,
    dv: u32,
    causal: u32,
    scale: f32,
}

// How many keys (a prefix 0..n) query i sees.
fn visible_keys(i: u32, tq: u32, tk: u32, causal: u32) -> u32 {
    if (causal == 0u) {
        return tk;
    }
    if (i + tk >= tq) {
        return min(i + tk + 1u - tq, tk);
    }
    return 0u;
}

fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

var<workgroup> ks: array<f32, 2048>;
var<workgroup> vs: array<f32, 2048>;

// ---- forward ------------------------------------------------------------------------------------------------

@group(0) @binding(0) var<uniform> fp: AttnParams;
@group(0) @binding(1) var<storage, read> fq: array<f32>;
@group(0) @binding(2) var<storage, read> fk: array<f32>;
@group(0) @binding(3) var<storage, read> fv: array<f32>;
@group(0) @binding(4) var<storage, read_write> fo: array<f32>;
@group(0) @binding(5) var<storage, read_write> flse: array<f32>;

@compute @workgroup_size(64)
fn attn_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.y;
    let q0 = wid.x * ROWS;
    let i = q0 + lid;
    let live = i < fp.tq;
    let nk_max = visible_keys(min(q0 + ROWS, fp.tq) - 1u, fp.tq, fp.tk, fp.causal);
    var nk = 0u;
    var q: array<f32, 128>;
    var acc: array<f32, 128>;
    if (live) {
        nk = visible_keys(i, fp.tq, fp.tk, fp.causal);
        for (var c = 0u; c < fp.d; c++) {
            q[c] = fq[(h * fp.tq + i) * fp.d + c];
        }
    }
    var m = NEG_BIG;
    var l = 0.0;
    for (var j0 = 0u; j0 < nk_max; j0 += BK) {
        for (var e = lid; e < BK * fp.d; e += 64u) {
            let j = j0 + e / fp.d;
            var val = 0.0;
            if (j < fp.tk) {
                val = fk[(h * fp.tk + j) * fp.d + e % fp.d];
            }
            ks[(e / fp.d) * MAXD + e % fp.d] = val;
        }
        for (var e = lid; e < BK * fp.dv; e += 64u) {
            let j = j0 + e / fp.dv;
            var val = 0.0;
            if (j < fp.tk) {
                val = fv[(h * fp.tk + j) * fp.dv + e % fp.dv];
            }
            vs[(e / fp.dv) * MAXD + e % fp.dv] = val;
        }
        workgroupBarrier();
        if (live && j0 < nk) {
            var s: array<f32, 16>;
            var tmax = NEG_BIG;
            for (var jj = 0u; jj < BK; jj++) {
                var sc = NEG_BIG;
                if (j0 + jj < nk) {
                    var dot = 0.0;
                    for (var c = 0u; c < fp.d; c++) {
                        dot = fma(q[c], ks[jj * MAXD + c], dot);
                    }
                    sc = dot * fp.scale;
                }
                s[jj] = sc;
                tmax = max(tmax, sc);
            }
            let m_new = max(m, tmax);
            let corr = select(exp(m - m_new), 0.0, m == NEG_BIG);
            l *= corr;
            for (var c = 0u; c < fp.dv; c++) {
                acc[c] *= corr;
            }
            for (var jj = 0u; jj < BK; jj++) {
                if (j0 + jj < nk) {
                    let pj = exp(s[jj] - m_new);
                    l += pj;
                    for (var c = 0u; c < fp.dv; c++) {
                        acc[c] = fma(pj, vs[jj * MAXD + c], acc[c]);
                    }
                }
            }
            m = m_new;
        }
        workgroupBarrier();
    }
    if (!live) {
        return;
    }
    let row = h * fp.tq + i;
    if (nk == 0u) {
        for (var c = 0u; c < fp.dv; c++) {
            fo[row * fp.dv + c] = 0.0;
        }
        flse[row] = neg_inf();
        return;
    }
    let inv = 1.0 / l;
    for (var c = 0u; c < fp.dv; c++) {
        fo[row * fp.dv + c] = acc[c] * inv;
    }
    flse[row] = m + log(l);
}

// ---- attention weights --------------------------------------------------------------------------------------

@group(0) @binding(0) var<uniform> wp: AttnParams;
@group(0) @binding(1) var<storage, read> wq: array<f32>;
@group(0) @binding(2) var<storage, read> wk: array<f32>;
@group(0) @binding(3) var<storage, read> wlse: array<f32>;
@group(0) @binding(4) var<storage, read_write> ww: array<f32>;

@compute @workgroup_size(256)
fn attn_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_index(gid, nwg);
    if (e >= wp.bh * wp.tq * wp.tk) {
        return;
    }
    let j = e % wp.tk;
    let row = e / wp.tk;
    let i = row % wp.tq;
    let h = row / wp.tq;
    var w = 0.0;
    if (j < visible_keys(i, wp.tq, wp.tk, wp.causal)) {
        var dot = 0.0;
        for (var c = 0u; c < wp.d; c++) {
            dot = fma(wq[row * wp.d + c], wk[(h * wp.tk + j) * wp.d + c], dot);
        }
        w = exp(dot * wp.scale - wlse[row]);
    }
    ww[e] = w;
}

// ---- backward -----------------------------------------------------------------------------------------------

@group(0) @binding(0) var<uniform> dp: AttnParams;
@group(0) @binding(1) var<storage, read> d_o: array<f32>;
@group(0) @binding(2) var<storage, read> d_do: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_delta: array<f32>;

@compute @workgroup_size(256)
fn attn_bwd_delta(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = linear_index(gid, nwg);
    if (row >= dp.bh * dp.tq) {
        return;
    }
    var s = 0.0;
    for (var c = 0u; c < dp.dv; c++) {
        s = fma(d_do[row * dp.dv + c], d_o[row * dp.dv + c], s);
    }
    d_delta[row] = s;
}

@group(0) @binding(0) var<uniform> qp: AttnParams;
@group(0) @binding(1) var<storage, read> qq: array<f32>;
@group(0) @binding(2) var<storage, read> qk: array<f32>;
@group(0) @binding(3) var<storage, read> qv: array<f32>;
@group(0) @binding(4) var<storage, read> qdo: array<f32>;
@group(0) @binding(5) var<storage, read> qlse: array<f32>;
@group(0) @binding(6) var<storage, read> qdelta: array<f32>;
@group(0) @binding(7) var<storage, read_write> qdq: array<f32>;

@compute @workgroup_size(64)
fn attn_bwd_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.y;
    let q0 = wid.x * ROWS;
    let i = q0 + lid;
    let live = i < qp.tq;
    let row = h * qp.tq + i;
    let nk_max = visible_keys(min(q0 + ROWS, qp.tq) - 1u, qp.tq, qp.tk, qp.causal);
    var nk = 0u;
    var q: array<f32, 128>;
    var g: array<f32, 128>;
    var dq: array<f32, 128>;
    var lse = 0.0;
    var delta = 0.0;
    if (live) {
        nk = visible_keys(i, qp.tq, qp.tk, qp.causal);
        for (var c = 0u; c < qp.d; c++) {
            q[c] = qq[row * qp.d + c];
        }
        for (var c = 0u; c < qp.dv; c++) {
            g[c] = qdo[row * qp.dv + c];
        }
        lse = qlse[row];
        delta = qdelta[row];
    }
    for (var j0 = 0u; j0 < nk_max; j0 += BK) {
        for (var e = lid; e < BK * qp.d; e += 64u) {
            let j = j0 + e / qp.d;
            var val = 0.0;
            if (j < qp.tk) {
                val = qk[(h * qp.tk + j) * qp.d + e % qp.d];
            }
            ks[(e / qp.d) * MAXD + e % qp.d] = val;
        }
        for (var e = lid; e < BK * qp.dv; e += 64u) {
            let j = j0 + e / qp.dv;
            var val = 0.0;
            if (j < qp.tk) {
                val = qv[(h * qp.tk + j) * qp.dv + e % qp.dv];
            }
            vs[(e / qp.dv) * MAXD + e % qp.dv] = val;
        }
        workgroupBarrier();
        if (live) {
            for (var jj = 0u; jj < BK; jj++) {
                if (j0 + jj < nk) {
                    var s = 0.0;
                    for (var c = 0u; c < qp.d; c++) {
                        s = fma(q[c], ks[jj * MAXD + c], s);
                    }
                    let p = exp(s * qp.scale - lse);
                    var dpv = 0.0;
                    for (var c = 0u; c < qp.dv; c++) {
                        dpv = fma(g[c], vs[jj * MAXD + c], dpv);
                    }
                    let ds = p * (dpv - delta);
                    for (var c = 0u; c < qp.d; c++) {
                        dq[c] = fma(ds, ks[jj * MAXD + c], dq[c]);
                    }
                }
            }
        }
        workgroupBarrier();
    }
    if (live) {
        for (var c = 0u; c < qp.d; c++) {
            qdq[row * qp.d + c] = dq[c] * qp.scale;
        }
    }
}

var<workgroup> qs: array<f32, 1024>;
var<workgroup> gs: array<f32, 1024>;
var<workgroup> lses: array<f32, 8>;
var<workgroup> deltas: array<f32, 8>;

@group(0) @binding(0) var<uniform> kp: AttnParams;
@group(0) @binding(1) var<storage, read> kq: array<f32>;
@group(0) @binding(2) var<storage, read> kk: array<f32>;
@group(0) @binding(3) var<storage, read> kv: array<f32>;
@group(0) @binding(4) var<storage, read> kdo: array<f32>;
@group(0) @binding(5) var<storage, read> klse: array<f32>;
@group(0) @binding(6) var<storage, read> kdelta: array<f32>;
@group(0) @binding(7) var<storage, read_write> kdk: array<f32>;
@group(0) @binding(8) var<storage, read_write> kdv: array<f32>;

@compute @workgroup_size(64)
fn attn_bwd_dkdv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.y;
    let j_first = wid.x * ROWS;
    let j = j_first + lid;
    let live = j < kp.tk;
    let key = h * kp.tk + j;
    // The first query that sees the workgroup's first key (the mask is a prefix per query, growing with i).
    var i_start = 0u;
    if (kp.causal != 0u && j_first + kp.tq > kp.tk) {
        i_start = j_first + kp.tq - kp.tk;
    }
    var kr: array<f32, 128>;
    var vr: array<f32, 128>;
    var dk: array<f32, 128>;
    var dv: array<f32, 128>;
    if (live) {
        for (var c = 0u; c < kp.d; c++) {
            kr[c] = kk[key * kp.d + c];
        }
        for (var c = 0u; c < kp.dv; c++) {
            vr[c] = kv[key * kp.dv + c];
        }
    }
    for (var i0 = i_start; i0 < kp.tq; i0 += BQ) {
        for (var e = lid; e < BQ * kp.d; e += 64u) {
            let i = i0 + e / kp.d;
            var val = 0.0;
            if (i < kp.tq) {
                val = kq[(h * kp.tq + i) * kp.d + e % kp.d];
            }
            qs[(e / kp.d) * MAXD + e % kp.d] = val;
        }
        for (var e = lid; e < BQ * kp.dv; e += 64u) {
            let i = i0 + e / kp.dv;
            var val = 0.0;
            if (i < kp.tq) {
                val = kdo[(h * kp.tq + i) * kp.dv + e % kp.dv];
            }
            gs[(e / kp.dv) * MAXD + e % kp.dv] = val;
        }
        if (lid < BQ) {
            let i = i0 + lid;
            var l_i = 0.0;
            var d_i = 0.0;
            if (i < kp.tq) {
                l_i = klse[h * kp.tq + i];
                d_i = kdelta[h * kp.tq + i];
            }
            lses[lid] = l_i;
            deltas[lid] = d_i;
        }
        workgroupBarrier();
        if (live) {
            for (var ii = 0u; ii < BQ; ii++) {
                let i = i0 + ii;
                if (i < kp.tq && j < visible_keys(i, kp.tq, kp.tk, kp.causal)) {
                    var s = 0.0;
                    for (var c = 0u; c < kp.d; c++) {
                        s = fma(qs[ii * MAXD + c], kr[c], s);
                    }
                    let p = exp(s * kp.scale - lses[ii]);
                    var dpv = 0.0;
                    for (var c = 0u; c < kp.dv; c++) {
                        let gc = gs[ii * MAXD + c];
                        dv[c] = fma(p, gc, dv[c]);
                        dpv = fma(gc, vr[c], dpv);
                    }
                    let ds = p * (dpv - deltas[ii]);
                    for (var c = 0u; c < kp.d; c++) {
                        dk[c] = fma(ds, qs[ii * MAXD + c], dk[c]);
                    }
                }
            }
        }
        workgroupBarrier();
    }
    if (live) {
        for (var c = 0u; c < kp.d; c++) {
            kdk[key * kp.d + c] = dk[c] * kp.scale;
        }
        for (var c = 0u; c < kp.dv; c++) {
            kdv[key * kp.dv + c] = dv[c];
        }
    }
}
