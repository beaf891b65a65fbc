// lstm.wgsl — one LSTM direction over a batch-first sequence, PyTorch's gate order i, f, g, o
// (src/ops/lstm; formulas in its mod.rs). x [B, T, in], h0/c0 [B, H], w_ih [4H, in], w_hh [4H, H];
// outputs hs, cs [B, T, H] and the post-activation gates [B, T, 4H], all in time order (with `reverse` the
// recurrence runs t = T−1 … 0).
//
// Forward, one submit (src/ops/lstm/wgpu.rs):
//   1. the input projection x·w_ihᵀ of every step at once, written into `gates` by the matmul kernel
//      (it does not depend on the recurrence, so it is one big product instead of T small ones);
//   2. lstm_step, ONE DISPATCH PER TIME STEP, fused: pre = gates[b,t] + b_ih + b_hh + h_prev·w_hhᵀ (the
//      recurrent matmul), the four activations, c' = f⊙c + i⊙g, h' = o⊙tanh(c'); the gates are kept (in place
//      of the projection) for the backward. One thread per (b, j) computes the four gate rows of unit j, so
//      the cell update needs no exchange between threads; consecutive dispatches order the steps.
// Backward, one submit:
//   1. lstm_bwd_step, one dispatch per step in reverse processing order, fused: the carried
//      dh = dhs[b,t] + dgates[b,t_next]·w_hh (the recurrent matmul of the step processed after this one,
//      read by the thread that needs it, so no separate carry kernel), dc = dc_carry + dh⊙o⊙(1 − tanh²c'),
//      the four pre-activation gradients into dgates[b,t], and dc_carry ← dc⊙f.
//   2. lstm_bwd_state: dh0 = dgates[first step]·w_hh, dc0 = dc_carry.
//   3. lstm_prev_h: the h each step started from ([B, T, H], h0 at the first step), then three products with
//      the matmul kernel — dx = dgates·w_ih, dw_ih = dgatesᵀ·x, dw_hh = dgatesᵀ·h_prev — and db = Σ_{b,t}
//      dgates with the reduce kernel: big products over all steps instead of T small accumulations.
// Launch geometry: 256 threads per workgroup, one thread per (b, j) (steps) or per element (lstm_prev_h).
// Traffic per step: w_hh (4H·H floats) is read by every batch row, from cache after the first; h_prev and the
// step's gates once. tanh is Cephes' tanhf, as in elementwise.wgsl.

struct StepParams {
    batch: u32,
    t_len: u32,
    hidden: u32,
    // the time index this dispatch processes, and the neighbouring step's (previous forward, next backward)
    t: u32,
    t_other: u32,
    // 1 for the first processed step (forward) / the last processed step (backward, nothing carried in)
    edge: u32,
    // backward: the time processed before t in the forward (whose c this step started from), and whether t is
    // the first processed step (then it started from c0)
    t_prev: u32,
    first: u32,
}

// ---- forward ------------------------------------------------------------------------------------------------

@group(0) @binding(0) var<uniform> fp: StepParams;
@group(0) @binding(1) var<storage, read> fh0: array<f32>;
@group(0) @binding(2) var<storage, read> fc0: array<f32>;
@group(0) @binding(3) var<storage, read> fw_hh: array<f32>;
@group(0) @binding(4) var<storage, read> fb_ih: array<f32>;
@group(0) @binding(5) var<storage, read> fb_hh: array<f32>;
@group(0) @binding(6) var<storage, read_write> fhs: array<f32>;
@group(0) @binding(7) var<storage, read_write> fcs: array<f32>;
@group(0) @binding(8) var<storage, read_write> fgates: array<f32>;

@compute @workgroup_size(256)
fn lstm_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_index(gid, nwg);
    let nh = fp.hidden;
    if (e >= fp.batch * nh) {
        return;
    }
    let b = e / nh;
    let j = e % nh;
    let first = fp.edge != 0u;
    let prev = (b * fp.t_len + fp.t_other) * nh;
    let grow = (b * fp.t_len + fp.t) * 4u * nh;
    var pre: array<f32, 4>;
    for (var q = 0u; q < 4u; q++) {
        let r = q * nh + j;
        var acc = fgates[grow + r] + fb_ih[r] + fb_hh[r];
        for (var k = 0u; k < nh; k++) {
            var hk = 0.0;
            if (first) {
                hk = fh0[b * nh + k];
            } else {
                hk = fhs[prev + k];
            }
            acc = fma(fw_hh[r * nh + k], hk, acc);
        }
        pre[q] = acc;
    }
    let i = sigmoid_f32(pre[0]);
    let f = sigmoid_f32(pre[1]);
    let g = tanh_f32(pre[2]);
    let o = sigmoid_f32(pre[3]);
    var c_prev = 0.0;
    if (first) {
        c_prev = fc0[e];
    } else {
        c_prev = fcs[prev + j];
    }
    let c_new = f * c_prev + i * g;
    fgates[grow + j] = i;
    fgates[grow + nh + j] = f;
    fgates[grow + 2u * nh + j] = g;
    fgates[grow + 3u * nh + j] = o;
    fcs[(b * fp.t_len + fp.t) * nh + j] = c_new;
    fhs[(b * fp.t_len + fp.t) * nh + j] = o * tanh_f32(c_new);
}

// ---- backward -----------------------------------------------------------------------------------------------

@group(0) @binding(0) var<uniform> bp: StepParams;
@group(0) @binding(1) var<storage, read> bdhs: array<f32>;
@group(0) @binding(2) var<storage, read> bcs: array<f32>;
@group(0) @binding(3) var<storage, read> bgates: array<f32>;
@group(0) @binding(4) var<storage, read> bc0: array<f32>;
@group(0) @binding(5) var<storage, read> bw_hh: array<f32>;
@group(0) @binding(6) var<storage, read_write> bdgates: array<f32>;
@group(0) @binding(7) var<storage, read_write> bdc: array<f32>;

@compute @workgroup_size(256)
fn lstm_bwd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_index(gid, nwg);
    let nh = bp.hidden;
    if (e >= bp.batch * nh) {
        return;
    }
    let b = e / nh;
    let j = e % nh;
    let srow = (b * bp.t_len + bp.t) * nh;
    var dh = bdhs[srow + j];
    var dc_carry = 0.0;
    if (bp.edge == 0u) {
        let nrow = (b * bp.t_len + bp.t_other) * 4u * nh;
        for (var r = 0u; r < 4u * nh; r++) {
            dh = fma(bdgates[nrow + r], bw_hh[r * nh + j], dh);
        }
        dc_carry = bdc[e];
    }
    let grow = (b * bp.t_len + bp.t) * 4u * nh;
    let i = bgates[grow + j];
    let f = bgates[grow + nh + j];
    let g = bgates[grow + 2u * nh + j];
    let o = bgates[grow + 3u * nh + j];
    var c_prev = 0.0;
    if (bp.first != 0u) {
        c_prev = bc0[e];
    } else {
        c_prev = bcs[(b * bp.t_len + bp.t_prev) * nh + j];
    }
    let tanh_c = tanh_f32(bcs[srow + j]);
    let dc = dc_carry + dh * o * (1.0 - tanh_c * tanh_c);
    bdgates[grow + j] = dc * g * i * (1.0 - i);
    bdgates[grow + nh + j] = dc * c_prev * f * (1.0 - f);
    bdgates[grow + 2u * nh + j] = dc * i * (1.0 - g * g);
    bdgates[grow + 3u * nh + j] = dh * tanh_c * o * (1.0 - o);
    bdc[e] = dc * f;
}

@group(0) @binding(0) var<uniform> sp: StepParams;
@group(0) @binding(1) var<storage, read> sdgates: array<f32>;
@group(0) @binding(2) var<storage, read> sw_hh: array<f32>;
@group(0) @binding(3) var<storage, read> sdc: array<f32>;
@group(0) @binding(4) var<storage, read_write> sdh0: array<f32>;
@group(0) @binding(5) var<storage, read_write> sdc0: array<f32>;

// dh0 = dgates[first processed step]·w_hh, dc0 = the carried dc (sp.t is the first processed time).
@compute @workgroup_size(256)
fn lstm_bwd_state(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_index(gid, nwg);
    let nh = sp.hidden;
    if (e >= sp.batch * nh) {
        return;
    }
    let b = e / nh;
    let j = e % nh;
    let row = (b * sp.t_len + sp.t) * 4u * nh;
    var dh = 0.0;
    for (var r = 0u; r < 4u * nh; r++) {
        dh = fma(sdgates[row + r], sw_hh[r * nh + j], dh);
    }
    sdh0[e] = dh;
    sdc0[e] = sdc[e];
}

@group(0) @binding(0) var<uniform> pp: StepParams;
@group(0) @binding(1) var<storage, read> phs: array<f32>;
@group(0) @binding(2) var<storage, read> ph0: array<f32>;
@group(0) @binding(3) var<storage, read_write> phprev: array<f32>;

// hprev[b, t] = the h step t started from: hs at the previous processed time, h0 at the first (pp.edge = 1
// when the recurrence is reversed).
@compute @workgroup_size(256)
fn lstm_prev_h(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_index(gid, nwg);
    let nh = pp.hidden;
    if (e >= pp.batch * pp.t_len * nh) {
        return;
    }
    let k = e % nh;
    let t = (e / nh) % pp.t_len;
    let b = e / (nh * pp.t_len);
    let reverse = pp.edge != 0u;
    var v = 0.0;
    if ((!reverse && t == 0u) || (reverse && t == pp.t_len - 1u)) {
        v = ph0[b * nh + k];
    } else {
        let tp = select(t - 1u, t + 1u, reverse);
        v = phs[(b * pp.t_len + tp) * nh + k];
    }
    phprev[e] = v;
}
