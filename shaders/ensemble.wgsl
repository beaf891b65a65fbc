// ensemble.wgsl — the fused ensemble combiner (src/ops/ensemble; formulas in its mod.rs). For batch row b,
// member probabilities p_m [classes], the row's weights w_m (weights are [batch, members]; W is summed here, in
// member order, as the CPU does), confidence c_m = max_k p_m[k]:
//
//   ens_fwd:  combined[k] = Σ_m w_m c_m p_m[k] / S,  S = Σ_m w_m c_m;  confidence = S / W,  W = Σ_m w_m;
//             top = argmax combined (lowest index on ties); share = Σ_{m: argmax p_m = top} w_m / W;
//             class = top if confidence ≥ conf_threshold and share ≥ agreement, else hold_class.
//   ens_bwd:  dp_m[k] = dcombined[k]·w_m c_m/S + [k = argmax p_m]·(w_m/S·Σ_j dcombined[j]·(p_m[j] − combined[j])
//                                                           + dconfidence·w_m/W)
//
// One dispatch each: one thread per batch row does the whole row (members × classes is tiny: the arithmetic
// is in the CPU kernel's order, so the classes agree exactly). The class is written as an f32 (exact).
// 256 threads per workgroup; traffic one read of p (twice backward) and batch·(classes + 2) writes.

const MAX_CLASSES: u32 = 16u;

struct EnsParams {
    batch: u32,
    members: u32,
    classes: u32,
    hold_class: u32,
    conf_threshold: f32,
    agreement: f32,
}

// Both entry points read the parameters, p and the weights at bindings 0–2; their outputs (and the backward's
// output gradients) bind from 3 on.
@group(0) @binding(0) var<uniform> ep: EnsParams;
@group(0) @binding(1) var<storage, read> probs: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;

@group(0) @binding(3) var<storage, read_write> fcombined: array<f32>;
@group(0) @binding(4) var<storage, read_write> fconf: array<f32>;
@group(0) @binding(5) var<storage, read_write> fclass: array<f32>;

@group(0) @binding(3) var<storage, read> bdcomb: array<f32>;
@group(0) @binding(4) var<storage, read> bdconf: array<f32>;
@group(0) @binding(5) var<storage, read_write> bdp: array<f32>;

// First index of the maximum of the probabilities starting at `base` (NaN never wins).
fn member_argmax(base: u32, nc: u32) -> u32 {
    var best = 0u;
    for (var k = 1u; k < nc; k++) {
        if (probs[base + k] > probs[base + best]) {
            best = k;
        }
    }
    return best;
}

// W = Σ_m w_m of row b, in member order.
fn row_weight(b: u32) -> f32 {
    var total_w = 0.0;
    for (var m = 0u; m < ep.members; m++) {
        total_w += weights[b * ep.members + m];
    }
    return total_w;
}

// combined[k] of row b into `out` (in the CPU kernel's order: accumulate, then divide); returns S.
fn combine_row(b: u32, out: ptr<function, array<f32, 16>>) -> f32 {
    let nm = ep.members;
    let nc = ep.classes;
    for (var k = 0u; k < nc; k++) {
        (*out)[k] = 0.0;
    }
    var sum_wc = 0.0;
    for (var m = 0u; m < nm; m++) {
        let base = (b * nm + m) * nc;
        let wc = weights[b * nm + m] * probs[base + member_argmax(base, nc)];
        sum_wc += wc;
        for (var k = 0u; k < nc; k++) {
            (*out)[k] += wc * probs[base + k];
        }
    }
    for (var k = 0u; k < nc; k++) {
        (*out)[k] /= sum_wc;
    }
    return sum_wc;
}

@compute @workgroup_size(256)
fn ens_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = linear_index(gid, nwg);
    if (b >= ep.batch) {
        return;
    }
    let nm = ep.members;
    let nc = ep.classes;
    let total_w = row_weight(b);
    var out: array<f32, 16>;
    let sum_wc = combine_row(b, &out);
    var top = 0u;
    for (var k = 0u; k < nc; k++) {
        fcombined[b * nc + k] = out[k];
        if (out[k] > out[top]) {
            top = k;
        }
    }
    var agreeing_w = 0.0;
    for (var m = 0u; m < nm; m++) {
        if (member_argmax((b * nm + m) * nc, nc) == top) {
            agreeing_w += weights[b * nm + m];
        }
    }
    let conf = sum_wc / total_w;
    fconf[b] = conf;
    let passes = conf >= ep.conf_threshold && agreeing_w / total_w >= ep.agreement;
    fclass[b] = f32(select(ep.hold_class, top, passes));
}

@compute @workgroup_size(256)
fn ens_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = linear_index(gid, nwg);
    if (b >= ep.batch) {
        return;
    }
    let nm = ep.members;
    let nc = ep.classes;
    let total_w = row_weight(b);
    // The row's combined probabilities, recomputed (as the CPU kernel does) rather than saved.
    var comb: array<f32, 16>;
    let sum_wc = combine_row(b, &comb);
    for (var m = 0u; m < nm; m++) {
        let base = (b * nm + m) * nc;
        let top_m = member_argmax(base, nc);
        let w = weights[b * nm + m];
        let wc = w * probs[base + top_m];
        var dot = 0.0;
        for (var k = 0u; k < nc; k++) {
            dot += bdcomb[b * nc + k] * (probs[base + k] - comb[k]);
        }
        let dc = w / sum_wc * dot + bdconf[b] * w / total_w;
        for (var k = 0u; k < nc; k++) {
            var g = bdcomb[b * nc + k] * wc / sum_wc;
            if (k == top_m) {
                g += dc;
            }
            bdp[base + k] = g;
        }
    }
}
