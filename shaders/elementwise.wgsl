// elementwise.wgsl — unary maps, the affine scale_shift, and broadcasting binary ops, forward and backward
// (src/ops/elementwise; formulas in its mod.rs).
//
//   unary_fwd:   y = f(x)                   op codes: 0 relu 1 tanh 2 sigmoid 3 gelu 4 exp 5 log 6 neg 7 sqrt
//   unary_bwd:   dx = dy·f'(x)                        8 abs 9 square (the order of `Unary::ALL`)
//                (tanh, sigmoid, exp, sqrt read y; relu, gelu, log, abs, square read x)
//   scale_shift: y = a·x + b
//   binary_fwd:  y[J] = a[J·sa] ∘ b[J·sb]    J a multi-index over out_shape, sa/sb strides with 0 on broadcast
//                dims (rank ≤ 8 after the launcher merges neighbouring dims). op codes: 0 add 1 sub 2 mul 3 div
//                4 max 5 min.
//   binary_bwd_direct: the gradient of an operand that has the output's shape: one thread per element.
//   binary_bwd_reduce: the gradient of a broadcast operand: dX[e] = Σ over the `count = out_len / x_len` output
//                elements that read X[e]; one 64-thread workgroup per element of X, threads stride over the
//                count and finish with a tree reduction in workgroup memory (no float atomics in WGSL).
//   Two backward variants exist because the common case (same shapes) needs no reduction at all, while a bias
//   gradient ([rows, n] → [n]) is a long reduction per element that one thread would serialise.
//
// GELU is exact, x·Φ(x) with Φ(x) = erfc(−x/√2)/2 and W. J. Cody's rational erfc (the same three ranges as
// src/ops/elementwise/erf.rs, evaluated in f32; e^{−y²} split as e^{−ŷ²}·e^{−(y−ŷ)(y+ŷ)}, ŷ = y truncated to
// 1/16, so the rounding of y² costs no accuracy). tanh is Cephes' tanhf (a polynomial below 0.625, the exp form
// above) because a builtin tanh may lose relative accuracy near 0 or overflow for large |x| on some drivers.
//
// Launch geometry: 256 threads per workgroup, one thread per element, 1-d grid folded onto (x, y).
// Memory traffic: one read per input and one write per output element; memory bound except GELU, whose erfc
// costs about as much as the traffic.

// ---- math -------------------------------------------------------------------------------------------------

// erf on |x| ≤ 0.46875: x·A(x²)/B(x²).
fn erf_small(x: f32) -> f32 {
    let s = x * x;
    var num = 1.85777706184603153e-1 * s;
    var den = s;
    num = (num + 3.16112374387056560e00) * s;
    den = (den + 2.36012909523441209e01) * s;
    num = (num + 1.13864154151050156e02) * s;
    den = (den + 2.44024637934444173e02) * s;
    num = (num + 3.77485237685302021e02) * s;
    den = (den + 1.28261652607737228e03) * s;
    return x * (num + 3.20937758913846947e03) / (den + 2.84423683343917062e03);
}

// e^{y²}·erfc(y) for y > 0.46875.
fn erfc_scaled(y: f32) -> f32 {
    if (y <= 4.0) {
        var num = 2.15311535474403846e-8 * y;
        var den = y;
        num = (num + 5.64188496988670089e-1) * y;
        den = (den + 1.57449261107098347e01) * y;
        num = (num + 8.88314979438837594e00) * y;
        den = (den + 1.17693950891312499e02) * y;
        num = (num + 6.61191906371416295e01) * y;
        den = (den + 5.37181101862009858e02) * y;
        num = (num + 2.98635138197400131e02) * y;
        den = (den + 1.62138957456669019e03) * y;
        num = (num + 8.81952221241769090e02) * y;
        den = (den + 3.29079923573345963e03) * y;
        num = (num + 1.71204761263407058e03) * y;
        den = (den + 4.36261909014324716e03) * y;
        num = (num + 2.05107837782607147e03) * y;
        den = (den + 3.43936767414372164e03) * y;
        return (num + 1.23033935479799725e03) / (den + 1.23033935480374942e03);
    }
    let s = 1.0 / (y * y);
    var num = 1.63153871373020978e-2 * s;
    var den = s;
    num = (num + 3.05326634961232344e-1) * s;
    den = (den + 2.56852019228982242e00) * s;
    num = (num + 3.60344899949804439e-1) * s;
    den = (den + 1.87295284992346047e00) * s;
    num = (num + 1.25781726111229246e-1) * s;
    den = (den + 5.27905102951428412e-1) * s;
    num = (num + 1.60837851487422766e-2) * s;
    den = (den + 6.05183413124413191e-2) * s;
    return (5.6418958354775628695e-1 - s * (num + 6.58749161529837803e-4) / (den + 2.33520497626869185e-3)) / y;
}

fn erfc_f32(x: f32) -> f32 {
    let y = abs(x);
    if (y <= 0.46875) {
        return 1.0 - erf_small(x);
    }
    var r = 0.0;
    // erfc(y) underflows f32 beyond ~10.05.
    if (y < 10.1) {
        let yhat = trunc(y * 16.0) / 16.0;
        let del = (y - yhat) * (y + yhat);
        r = exp(-yhat * yhat) * exp(-del) * erfc_scaled(y);
    }
    return select(r, 2.0 - r, x < 0.0);
}

const FRAC_1_SQRT_2: f32 = 0.70710678118654752440;
const FRAC_1_SQRT_2PI: f32 = 0.39894228040143267794;

fn normal_cdf(x: f32) -> f32 {
    return 0.5 * erfc_f32(-x * FRAC_1_SQRT_2);
}

fn unary_value(op: u32, x: f32) -> f32 {
    switch op {
        case 0u: { return select(x, 0.0, x < 0.0); }
        case 1u: { return tanh_f32(x); }
        case 2u: { return sigmoid_f32(x); }
        case 3u: { return x * normal_cdf(x); }
        case 4u: { return exp(x); }
        case 5u: { return log(x); }
        case 6u: { return -x; }
        case 7u: { return sqrt(x); }
        case 8u: { return abs(x); }
        case 9u: { return x * x; }
        // 10u, sign: ±0 and NaN pass through (WGSL's sign() leaves NaN unspecified).
        default: { return select(select(x, -1.0, x < 0.0), 1.0, x > 0.0); }
    }
}

fn unary_grad(op: u32, x: f32, y: f32, g: f32) -> f32 {
    switch op {
        case 0u: { return select(0.0, g, x > 0.0); }
        case 1u: { return g * (1.0 - y * y); }
        case 2u: { return g * y * (1.0 - y); }
        case 3u: { return g * (normal_cdf(x) + x * FRAC_1_SQRT_2PI * exp(-0.5 * x * x)); }
        case 4u: { return g * y; }
        case 5u: { return g / x; }
        case 6u: { return -g; }
        case 7u: { return g / (2.0 * y); }
        case 8u: { return g * sign(x); }
        case 9u: { return g * 2.0 * x; }
        default: { return 0.0; }
    }
}

// ---- unary ------------------------------------------------------------------------------------------------

struct UnaryParams {
    n: u32,
    op: u32,
    // scale_shift's a and b
    a: f32,
    b: f32,
    // unary_bwd: whether x and y are real inputs (an op that does not read one gets a placeholder)
    has_x: u32,
    has_y: u32,
}

@group(0) @binding(0) var<uniform> up: UnaryParams;
@group(0) @binding(1) var<storage, read> ux: array<f32>;
@group(0) @binding(2) var<storage, read_write> uy: array<f32>;

@compute @workgroup_size(256)
fn unary_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= up.n) {
        return;
    }
    uy[j] = unary_value(up.op, ux[j]);
}

@compute @workgroup_size(256)
fn scale_shift(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= up.n) {
        return;
    }
    uy[j] = up.a * ux[j] + up.b;
}

@group(0) @binding(0) var<uniform> ubp: UnaryParams;
@group(0) @binding(1) var<storage, read> ubx: array<f32>;
@group(0) @binding(2) var<storage, read> uby: array<f32>;
@group(0) @binding(3) var<storage, read> ubdy: array<f32>;
@group(0) @binding(4) var<storage, read_write> ubdx: array<f32>;

@compute @workgroup_size(256)
fn unary_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= ubp.n) {
        return;
    }
    var x = 0.0;
    var y = 0.0;
    if (ubp.has_x != 0u) {
        x = ubx[j];
    }
    if (ubp.has_y != 0u) {
        y = uby[j];
    }
    ubdx[j] = unary_grad(ubp.op, x, y, ubdy[j]);
}

// ---- binary -----------------------------------------------------------------------------------------------

struct BinaryParams {
    out_shape: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
    rank: u32,
    // forward / direct: output elements; reduce: elements of the operand
    n: u32,
    op: u32,
    // backward: 0 = gradient of a, 1 = gradient of b
    which: u32,
    // reduce: output elements per operand element
    count: u32,
    // backward: whether a and b are read (add and sub do not need them)
    reads: u32,
}

fn binary_value(op: u32, a: f32, b: f32) -> f32 {
    switch op {
        case 0u: { return a + b; }
        case 1u: { return a - b; }
        case 2u: { return a * b; }
        case 3u: { return a / b; }
        case 4u: { return select(b, a, a != a || a > b); }
        default: { return select(b, a, a != a || a < b); }
    }
}

// (∂(a∘b)/∂a·g, ∂(a∘b)/∂b·g); max/min split ties equally, as PyTorch does.
fn binary_grads(op: u32, a: f32, b: f32, g: f32) -> vec2<f32> {
    switch op {
        case 0u: { return vec2<f32>(g, g); }
        case 1u: { return vec2<f32>(g, -g); }
        case 2u: { return vec2<f32>(g * b, g * a); }
        case 3u: { return vec2<f32>(g / b, -g * a / (b * b)); }
        default: {
            if (a == b) {
                return vec2<f32>(0.5 * g, 0.5 * g);
            }
            let a_wins = select((a < b), (a > b), op == 4u);
            return select(vec2<f32>(0.0, g), vec2<f32>(g, 0.0), a_wins);
        }
    }
}

@group(0) @binding(0) var<uniform> bp: BinaryParams;
@group(0) @binding(1) var<storage, read> ba: array<f32>;
@group(0) @binding(2) var<storage, read> bb: array<f32>;
@group(0) @binding(3) var<storage, read_write> by: array<f32>;

// Offsets into a and b of output element j.
fn source_offsets(j: u32) -> vec2<u32> {
    var rest = j;
    var ia = 0u;
    var ib = 0u;
    for (var k = i32(bp.rank) - 1; k >= 0; k--) {
        let kk = u32(k);
        let size = bp.out_shape[kk / 4u][kk % 4u];
        let idx = rest % size;
        rest /= size;
        ia += idx * bp.a_strides[kk / 4u][kk % 4u];
        ib += idx * bp.b_strides[kk / 4u][kk % 4u];
    }
    return vec2<u32>(ia, ib);
}

@compute @workgroup_size(256)
fn binary_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= bp.n) {
        return;
    }
    let o = source_offsets(j);
    by[j] = binary_value(bp.op, ba[o.x], bb[o.y]);
}

@group(0) @binding(0) var<uniform> gp: BinaryParams;
@group(0) @binding(1) var<storage, read> ga: array<f32>;
@group(0) @binding(2) var<storage, read> gb: array<f32>;
@group(0) @binding(3) var<storage, read> gdy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gdx: array<f32>;

fn grad_offsets(j: u32) -> vec2<u32> {
    var rest = j;
    var ia = 0u;
    var ib = 0u;
    for (var k = i32(gp.rank) - 1; k >= 0; k--) {
        let kk = u32(k);
        let size = gp.out_shape[kk / 4u][kk % 4u];
        let idx = rest % size;
        rest /= size;
        ia += idx * gp.a_strides[kk / 4u][kk % 4u];
        ib += idx * gp.b_strides[kk / 4u][kk % 4u];
    }
    return vec2<u32>(ia, ib);
}

// The selected operand's share of dy[j].
fn grad_at(j: u32) -> f32 {
    var av = 0.0;
    var bv = 0.0;
    if (gp.reads != 0u) {
        let o = grad_offsets(j);
        av = ga[o.x];
        bv = gb[o.y];
    }
    let g = binary_grads(gp.op, av, bv, gdy[j]);
    return select(g.x, g.y, gp.which == 1u);
}

@compute @workgroup_size(256)
fn binary_bwd_direct(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = linear_index(gid, nwg);
    if (j >= gp.n) {
        return;
    }
    gdx[j] = grad_at(j);
}

var<workgroup> partial: array<f32, 64>;

// Output index of the r-th output element that reads operand element e.
fn broadcast_source(e: u32, r: u32) -> u32 {
    var rest_r = r;
    var j = 0u;
    var out_stride = 1u;
    for (var k = i32(gp.rank) - 1; k >= 0; k--) {
        let kk = u32(k);
        let size = gp.out_shape[kk / 4u][kk % 4u];
        let xs = select(gp.a_strides[kk / 4u][kk % 4u], gp.b_strides[kk / 4u][kk % 4u], gp.which == 1u);
        var idx = 0u;
        if (xs == 0u) {
            idx = rest_r % size;
            rest_r /= size;
        } else {
            idx = (e / xs) % size;
        }
        j += idx * out_stride;
        out_stride *= size;
    }
    return j;
}

@compute @workgroup_size(64)
fn binary_bwd_reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = wid.x + wid.y * nwg.x;
    var acc = 0.0;
    if (e < gp.n) {
        for (var r = lid; r < gp.count; r += 64u) {
            acc += grad_at(broadcast_source(e, r));
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
    if (lid == 0u && e < gp.n) {
        gdx[e] = partial[0];
    }
}
