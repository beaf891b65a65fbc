// matmul.wgsl — batched C[z] = Σ_r op(A[z, r])·op(B[z, r]), op = identity or transpose (src/ops/matmul).
//
// One kernel covers the forward and both backward products:
//   forward:            C[z] = op(A[z])·op(B[z])   (one r; a broadcast operand has batch stride 0)
//   backward, per batch: dA[z] = dC[z]·op(B[z])ᵀ and dB[z] = op(A[z])ᵀ·dC[z], written straight into A's / B's
//                        storage layout by choosing the transposes (see src/ops/matmul/wgpu.rs)
//   backward, broadcast: a broadcast operand's gradient is the SUM over the batch, so its launch has one output
//                        batch and loops r over the batch inside the k loop: no per-batch scratch, no second
//                        reduction pass.
// Element addressing: op(A)[i][p] is A[a_base + p·m + i] when trans_a else A[a_base + i·k + p] (B alike), with
// a_base = z·a_stride_z + r·a_stride_r.
//
// Launch geometry: 16×16 threads per workgroup computing a 64×64 tile of C (each thread a 4×4 block, rows
// ty + 16·u, columns tx + 16·v, so the workgroup-memory reads of a step hit 16 consecutive words); grid
// (⌈n/64⌉, ⌈m/64⌉, batch). The k loop stages 16-wide slices of op(A) (64×16) and op(B) (16×64) in workgroup
// memory; each global load is coalesced along whichever of the two indices is contiguous in storage.
// Cost: 2·m·n·k flops per product; traffic per tile step 2·64·16 loads for 2·64·64·16 flops, so each global
// float feeds 64 FMAs (global traffic ≈ mnk·(1/64 + 1/64)·4 bytes). Edge tiles load zeros (bounds checked).

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    trans_a: u32,
    trans_b: u32,
    a_stride_z: u32,
    b_stride_z: u32,
    a_stride_r: u32,
    b_stride_r: u32,
    inner_batches: u32,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// As[kk·BM + ii] = op(A)[row0 + ii][k0 + kk];  Bs[kk·BN + jj] = op(B)[k0 + kk][col0 + jj]
var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<f32, 1024>;

fn load_a(base: u32, i: u32, pk: u32) -> f32 {
    if (i >= p.m || pk >= p.k) {
        return 0.0;
    }
    if (p.trans_a != 0u) {
        return a[base + pk * p.m + i];
    }
    return a[base + i * p.k + pk];
}

fn load_b(base: u32, pk: u32, j: u32) -> f32 {
    if (pk >= p.k || j >= p.n) {
        return 0.0;
    }
    if (p.trans_b != 0u) {
        return b[base + j * p.k + pk];
    }
    return b[base + pk * p.n + j];
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let z = wid.z;
    let tid = lid.y * 16u + lid.x;
    var acc: array<f32, 16>;
    for (var r = 0u; r < p.inner_batches; r++) {
        let a_base = z * p.a_stride_z + r * p.a_stride_r;
        let b_base = z * p.b_stride_z + r * p.b_stride_r;
        for (var k0 = 0u; k0 < p.k; k0 += BK) {
            for (var l = 0u; l < 4u; l++) {
                let e = tid + l * 256u;
                // Consecutive threads take consecutive storage addresses.
                var ii = e / BK;
                var kk = e % BK;
                if (p.trans_a != 0u) {
                    ii = e % BM;
                    kk = e / BM;
                }
                As[kk * BM + ii] = load_a(a_base, row0 + ii, k0 + kk);
                var jj = e % BN;
                var kb = e / BN;
                if (p.trans_b != 0u) {
                    jj = e / BK;
                    kb = e % BK;
                }
                Bs[kb * BN + jj] = load_b(b_base, k0 + kb, col0 + jj);
            }
            workgroupBarrier();
            for (var kk = 0u; kk < BK; kk++) {
                var av: array<f32, 4>;
                var bv: array<f32, 4>;
                for (var u = 0u; u < 4u; u++) {
                    av[u] = As[kk * BM + lid.y + 16u * u];
                    bv[u] = Bs[kk * BN + lid.x + 16u * u];
                }
                for (var u = 0u; u < 4u; u++) {
                    for (var v = 0u; v < 4u; v++) {
                        acc[u * 4u + v] = fma(av[u], bv[v], acc[u * 4u + v]);
                    }
                }
            }
            workgroupBarrier();
        }
    }
    for (var u = 0u; u < 4u; u++) {
        let i = row0 + lid.y + 16u * u;
        for (var v = 0u; v < 4u; v++) {
            let j = col0 + lid.x + 16u * v;
            if (i < p.m && j < p.n) {
                c[(z * p.m + i) * p.n + j] = acc[u * 4u + v];
            }
        }
    }
}
