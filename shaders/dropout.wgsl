// dropout.wgsl — inverted dropout with the counter-based SplitMix64 mask of src/ops/dropout (read its mod.rs):
//
//   keep(i) ⇔ (mix(seed, i) >> 40) ≥ t,   t = ⌈p·2^24⌉
//   y[i] = keep(i) ? x[i]·scale : 0        scale = 1/(1 − p) computed in f32 on the host, as on the CPU
//   mix(seed, i): z = seed + (i+1)·0x9E3779B97F4A7C15; z = (z ^ z>>30)·0xBF58476D1CE4E5B9;
//                 z = (z ^ z>>27)·0x94D049BB133111EB; z ^= z>>31        (wrapping u64 arithmetic)
//
// WGSL has no u64, so z is a vec2<u32> (x = low word, y = high word). A 64×64 → 64 multiply is the full
// 64-bit product of the low words (built from 16-bit halves, since WGSL has no 32×32 → 64 multiply) plus the
// two cross products' low words added to the high word. The mask is integer-only, so it is bit-identical to
// the CPU's; the backward is the same kernel on dy with the same seed (the mask is recomputed, never stored).
//
// Launch geometry: 256 threads per workgroup, one thread per element, 1-d grid folded onto (x, y).
// Memory traffic: one read and one write per element; the hash is ~40 integer ops, below the traffic cost.

struct DropoutParams {
    n: u32,
    seed_lo: u32,
    seed_hi: u32,
    threshold: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: DropoutParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    let carry = select(0u, 1u, lo < a.x);
    return vec2<u32>(lo, a.y + b.y + carry);
}

// The full 64-bit product of two u32.
fn mul32x32(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    let lo = (mid << 16u) | (p00 & 0xffffu);
    let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
    return vec2<u32>(lo, hi);
}

// The low 64 bits of a·b.
fn mul64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let ll = mul32x32(a.x, b.x);
    return vec2<u32>(ll.x, ll.y + a.x * b.y + a.y * b.x);
}

// z ^ (z >> s) for 0 < s < 32.
fn xorshift(z: vec2<u32>, s: u32) -> vec2<u32> {
    let shifted = vec2<u32>((z.x >> s) | (z.y << (32u - s)), z.y >> s);
    return z ^ shifted;
}

fn mix(seed: vec2<u32>, i: u32) -> vec2<u32> {
    // (i + 1) as a u64: i = 0xffffffff carries into the high word.
    let i1 = vec2<u32>(i + 1u, select(0u, 1u, i == 0xffffffffu));
    var z = add64(seed, mul64(i1, vec2<u32>(0x7F4A7C15u, 0x9E3779B9u)));
    z = mul64(xorshift(z, 30u), vec2<u32>(0x1CE4E5B9u, 0xBF58476Du));
    z = mul64(xorshift(z, 27u), vec2<u32>(0x133111EBu, 0x94D049BBu));
    return xorshift(z, 31u);
}

@compute @workgroup_size(256)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let u = mix(vec2<u32>(p.seed_lo, p.seed_hi), i).y >> 8u;
    y[i] = select(0.0, x[i] * p.scale, u >= p.threshold);
}
