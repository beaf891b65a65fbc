// Fused scaled dot-product attention (FlashAttention-style), forward, backward and attention weights.
//
// Shapes (row-major, bh = batch·heads): q [bh, tq, d], k [bh, tk, d], v [bh, tk, dv], o [bh, tq, dv], lse [bh, tq].
// Query i sees keys j < vis(i): vis(i) = tk, or under the causal mask (aligned to the END of the keys)
// clamp(i + tk − tq + 1, 0, tk). A row that sees nothing gets o = 0, lse = −∞ and no gradient.
//
//   forward:  s_ij = scale·q_i·k_j,  lse_i = log Σ_j exp(s_ij),  o_i = Σ_j exp(s_ij − lse_i)·v_j
//   backward: p_ij = exp(s_ij − lse_i) (recomputed), D_i = Σ_c do_ic·o_ic,  dv_j = Σ_i p_ij·do_i,
//             ds_ij = p_ij·(do_i·v_j − D_i),  dq_i = scale·Σ_j ds_ij·k_j,  dk_j = scale·Σ_i ds_ij·q_i
//
// Kernels and launch geometry (128 threads per block; tiles of BQ query rows × BK keys, BQ = BK ∈ {32,16,8,4}
// chosen by the host as the largest whose shared memory fits 48 KiB; shared rows are padded to d+1 / dv+1
// floats so column walks hit distinct banks):
// - `attention_forward`: grid (⌈tq/BQ⌉, bh). The block keeps its Q tile, the output accumulator and the running
//   max m and sum l of each row in shared memory and streams key tiles through it: scores S = QKᵀ for the tile,
//   then the online softmax (m' = max(m, rowmax S), P = exp(S − m'), l' = l·e^{m−m'} + ΣP, O ← O·e^{m−m'} + PV)
//   with BQ groups of 128/BQ threads combining row maxima and sums by warp shuffles. Key tiles past the last
//   visible key of the tile's last row are skipped (causal masks halve the work). No tq×tk matrix ever
//   reaches device memory; only lse (one float per row) is saved for the backward.
// - `attention_backward_delta`: D_i, one thread per query row.
// - `attention_backward_dkdv`: grid (⌈tk/BK⌉, bh); the block owns a key tile and its dK, dV accumulators and
//   streams the query tiles that can see it, recomputing P and dS per tile.
// - `attention_backward_dq`: grid (⌈tq/BQ⌉, bh); the block owns a query tile and its dQ and streams key tiles.
//   Splitting dQ from dK/dV (FlashAttention-2's two-kernel form) avoids atomics: results are deterministic.
// - `attention_weights`: the tq×tk probabilities for interpretability, one thread per weight, from q, k, lse.
// Memory traffic: forward reads q, o-sized state once and k, v once per query tile (⌈tq/BQ⌉ times, from L2 at
// these sizes); backward about three times that. Flops: forward 2·bh·tq·tk·(d + dv), backward ~2.5× that.

#include "common.cuh"

__device__ __forceinline__ int visible_keys(int i, int tq, int tk, int causal) {
    if (!causal) return tk;
    int v = i + tk - tq + 1;
    return v < 0 ? 0 : (v > tk ? tk : v);
}

// Dot product of two shared-memory rows.
__device__ __forceinline__ float dot_row(const float* a, const float* b, int n) {
    float acc = 0.0f;
    for (int x = 0; x < n; ++x) acc = fmaf(a[x], b[x], acc);
    return acc;
}

// Load `rows` rows of width `width` starting at row `row0` of a [total, width] matrix into shared memory with
// row stride `ld`; rows past `total` are zero.
__device__ __forceinline__ void load_rows(float* dst, const float* src, int row0, int rows, int total, int width,
                                          int ld) {
    for (int e = threadIdx.x; e < rows * width; e += blockDim.x) {
        int r = e / width, c = e - (e / width) * width;
        dst[r * ld + c] = (row0 + r < total) ? src[(long long)(row0 + r) * width + c] : 0.0f;
    }
}

extern "C" __global__ void __launch_bounds__(128)
    attention_forward(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                      float* __restrict__ o, float* __restrict__ lse, int bh, int tq, int tk, int d, int dv,
                      int causal, float scale, int bq, int bk) {
    extern __shared__ float smem[];
    const int ldq = d + 1, ldv = dv + 1;
    float* Qs = smem;                 // [bq][ldq]
    float* Ks = Qs + bq * ldq;        // [bk][ldq]
    float* Vs = Ks + bk * ldq;        // [bk][ldv]
    float* S = Vs + bk * ldv;         // [bq][bk]
    float* Os = S + bq * bk;          // [bq][ldv]
    float* M = Os + bq * ldv;         // [bq]
    float* L = M + bq;                // [bq]
    float* A = L + bq;                // [bq] rescale factor of this tile

    const int h = blockIdx.y, r0 = blockIdx.x * bq, tid = threadIdx.x;
    const float* qh = q + (long long)h * tq * d;
    const float* kh = k + (long long)h * tk * d;
    const float* vh = v + (long long)h * tk * dv;

    load_rows(Qs, qh, r0, bq, tq, d, ldq);
    for (int e = tid; e < bq * dv; e += blockDim.x) Os[(e / dv) * ldv + e % dv] = 0.0f;
    for (int r = tid; r < bq; r += blockDim.x) {
        M[r] = NEG_INF;
        L[r] = 0.0f;
    }
    const int last_row = min(r0 + bq, tq) - 1;
    const int kmax = visible_keys(last_row, tq, tk, causal);
    const int tpr = blockDim.x / bq;  // threads per row in the softmax step
    __syncthreads();

    for (int k0 = 0; k0 < kmax; k0 += bk) {
        load_rows(Ks, kh, k0, bk, tk, d, ldq);
        load_rows(Vs, vh, k0, bk, tk, dv, ldv);
        __syncthreads();
        for (int e = tid; e < bq * bk; e += blockDim.x) {
            int r = e / bk, c = e - (e / bk) * bk, i = r0 + r, j = k0 + c;
            float s = NEG_INF;
            if (i < tq && j < visible_keys(i, tq, tk, causal)) s = scale * dot_row(Qs + r * ldq, Ks + c * ldq, d);
            S[e] = s;
        }
        __syncthreads();
        {
            const int r = tid / tpr, part = tid - (tid / tpr) * tpr;
            const float m_old = M[r];
            float mx = NEG_INF;
            for (int c = part; c < bk; c += tpr) mx = fmaxf(mx, S[r * bk + c]);
            for (int off = tpr / 2; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            const float m_new = fmaxf(m_old, mx);
            float sum = 0.0f;
            for (int c = part; c < bk; c += tpr) {
                float p = (m_new == NEG_INF) ? 0.0f : expf(S[r * bk + c] - m_new);
                S[r * bk + c] = p;
                sum += p;
            }
            for (int off = tpr / 2; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
            __syncwarp();  // every lane of the row has read M[r] before lane 0 overwrites it
            if (part == 0) {
                const float alpha = (m_old == NEG_INF) ? 0.0f : expf(m_old - m_new);
                L[r] = L[r] * alpha + sum;
                M[r] = m_new;
                A[r] = alpha;
            }
        }
        __syncthreads();
        for (int e = tid; e < bq * dv; e += blockDim.x) {
            int r = e / dv, c = e - (e / dv) * dv;
            float acc = Os[r * ldv + c] * A[r];
            for (int j = 0; j < bk; ++j) acc = fmaf(S[r * bk + j], Vs[j * ldv + c], acc);
            Os[r * ldv + c] = acc;
        }
        __syncthreads();
    }
    for (int e = tid; e < bq * dv; e += blockDim.x) {
        int r = e / dv, c = e - (e / dv) * dv, i = r0 + r;
        if (i < tq) o[((long long)h * tq + i) * dv + c] = L[r] > 0.0f ? Os[r * ldv + c] / L[r] : 0.0f;
    }
    for (int r = tid; r < bq; r += blockDim.x) {
        int i = r0 + r;
        if (i < tq) lse[(long long)h * tq + i] = L[r] > 0.0f ? M[r] + logf(L[r]) : NEG_INF;
    }
}

extern "C" __global__ void attention_weights(const float* __restrict__ q, const float* __restrict__ k,
                                             const float* __restrict__ lse, float* __restrict__ w, int bh, int tq,
                                             int tk, int d, int causal, float scale) {
    long long n = (long long)bh * tq * tk;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        int j = (int)(e % tk);
        long long hi = e / tk;  // h·tq + i
        int i = (int)(hi % tq);
        long long h = hi / tq;
        float out = 0.0f;
        if (j < visible_keys(i, tq, tk, causal)) {
            const float* qi = q + hi * d;
            const float* kj = k + (h * tk + j) * d;
            float acc = 0.0f;
            for (int x = 0; x < d; ++x) acc = fmaf(qi[x], kj[x], acc);
            out = expf(scale * acc - lse[hi]);
        }
        w[e] = out;
    }
}

extern "C" __global__ void attention_backward_delta(const float* __restrict__ o, const float* __restrict__ dout,
                                                    float* __restrict__ delta, long long rows, int dv) {
    for (long long r = blockIdx.x * (long long)blockDim.x + threadIdx.x; r < rows; r += (long long)gridDim.x * blockDim.x) {
        float acc = 0.0f;
        for (int c = 0; c < dv; ++c) acc = fmaf(dout[r * dv + c], o[r * dv + c], acc);
        delta[r] = acc;
    }
}

// P and dS of one (query tile, key tile) pair into shared memory. Qs/dOs rows are query rows q0.., Ks/Vs rows are
// keys k0..; Ls and Ds hold lse and D of the query rows.
__device__ __forceinline__ void probs_and_dscores(float* P, float* dS, const float* Qs, const float* dOs,
                                                  const float* Ks, const float* Vs, const float* Ls, const float* Ds,
                                                  int q0, int k0, int bq, int bk, int tq, int tk, int d, int dv,
                                                  int causal, float scale) {
    const int ldq = d + 1, ldv = dv + 1;
    for (int e = threadIdx.x; e < bq * bk; e += blockDim.x) {
        int r = e / bk, c = e - (e / bk) * bk, i = q0 + r, j = k0 + c;
        float p = 0.0f, ds = 0.0f;
        if (i < tq && j < visible_keys(i, tq, tk, causal)) {
            p = expf(scale * dot_row(Qs + r * ldq, Ks + c * ldq, d) - Ls[r]);
            float dp = dot_row(dOs + r * ldv, Vs + c * ldv, dv);
            ds = p * (dp - Ds[r]);
        }
        if (P) P[e] = p;
        dS[e] = ds;
    }
}

extern "C" __global__ void __launch_bounds__(128)
    attention_backward_dkdv(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                            const float* __restrict__ dout, const float* __restrict__ lse,
                            const float* __restrict__ delta, float* __restrict__ dk, float* __restrict__ dv_out, int bh,
                            int tq, int tk, int d, int dv, int causal, float scale, int bq, int bk) {
    extern __shared__ float smem[];
    const int ldq = d + 1, ldv = dv + 1;
    float* Ks = smem;               // [bk][ldq]
    float* Vs = Ks + bk * ldq;      // [bk][ldv]
    float* dKs = Vs + bk * ldv;     // [bk][ldq]
    float* dVs = dKs + bk * ldq;    // [bk][ldv]
    float* Qs = dVs + bk * ldv;     // [bq][ldq]
    float* dOs = Qs + bq * ldq;     // [bq][ldv]
    float* P = dOs + bq * ldv;      // [bq][bk]
    float* dS = P + bq * bk;        // [bq][bk]
    float* Ls = dS + bq * bk;       // [bq]
    float* Ds = Ls + bq;            // [bq]

    const int h = blockIdx.y, k0 = blockIdx.x * bk, tid = threadIdx.x;
    const long long qoff = (long long)h * tq, koff = (long long)h * tk;
    load_rows(Ks, k + koff * d, k0, bk, tk, d, ldq);
    load_rows(Vs, v + koff * dv, k0, bk, tk, dv, ldv);
    for (int e = tid; e < bk * d; e += blockDim.x) dKs[(e / d) * ldq + e % d] = 0.0f;
    for (int e = tid; e < bk * dv; e += blockDim.x) dVs[(e / dv) * ldv + e % dv] = 0.0f;
    // The first query row that sees key k0: every earlier query tile contributes nothing.
    int i_start = causal ? k0 - (tk - tq) : 0;
    if (i_start < 0) i_start = 0;
    __syncthreads();

    for (int q0 = (i_start / bq) * bq; q0 < tq; q0 += bq) {
        load_rows(Qs, q + qoff * d, q0, bq, tq, d, ldq);
        load_rows(dOs, dout + qoff * dv, q0, bq, tq, dv, ldv);
        for (int r = tid; r < bq; r += blockDim.x) {
            bool in = q0 + r < tq;
            Ls[r] = in ? lse[qoff + q0 + r] : 0.0f;
            Ds[r] = in ? delta[qoff + q0 + r] : 0.0f;
        }
        __syncthreads();
        probs_and_dscores(P, dS, Qs, dOs, Ks, Vs, Ls, Ds, q0, k0, bq, bk, tq, tk, d, dv, causal, scale);
        __syncthreads();
        for (int e = tid; e < bk * dv; e += blockDim.x) {
            int c = e / dv, x = e - (e / dv) * dv;
            float acc = 0.0f;
            for (int r = 0; r < bq; ++r) acc = fmaf(P[r * bk + c], dOs[r * ldv + x], acc);
            dVs[c * ldv + x] += acc;
        }
        for (int e = tid; e < bk * d; e += blockDim.x) {
            int c = e / d, x = e - (e / d) * d;
            float acc = 0.0f;
            for (int r = 0; r < bq; ++r) acc = fmaf(dS[r * bk + c], Qs[r * ldq + x], acc);
            dKs[c * ldq + x] += scale * acc;
        }
        __syncthreads();
    }
    for (int e = tid; e < bk * d; e += blockDim.x) {
        int c = e / d, x = e - (e / d) * d;
        if (k0 + c < tk) dk[(koff + k0 + c) * d + x] = dKs[c * ldq + x];
    }
    for (int e = tid; e < bk * dv; e += blockDim.x) {
        int c = e / dv, x = e - (e / dv) * dv;
        if (k0 + c < tk) dv_out[(koff + k0 + c) * dv + x] = dVs[c * ldv + x];
    }
}

extern "C" __global__ void __launch_bounds__(128)
    attention_backward_dq(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                          const float* __restrict__ dout, const float* __restrict__ lse,
                          const float* __restrict__ delta, float* __restrict__ dq, int bh, int tq, int tk, int d,
                          int dv, int causal, float scale, int bq, int bk) {
    extern __shared__ float smem[];
    const int ldq = d + 1, ldv = dv + 1;
    float* Qs = smem;               // [bq][ldq]
    float* dOs = Qs + bq * ldq;     // [bq][ldv]
    float* dQs = dOs + bq * ldv;    // [bq][ldq]
    float* Ks = dQs + bq * ldq;     // [bk][ldq]
    float* Vs = Ks + bk * ldq;      // [bk][ldv]
    float* dS = Vs + bk * ldv;      // [bq][bk]
    float* Ls = dS + bq * bk;       // [bq]
    float* Ds = Ls + bq;            // [bq]

    const int h = blockIdx.y, q0 = blockIdx.x * bq, tid = threadIdx.x;
    const long long qoff = (long long)h * tq, koff = (long long)h * tk;
    load_rows(Qs, q + qoff * d, q0, bq, tq, d, ldq);
    load_rows(dOs, dout + qoff * dv, q0, bq, tq, dv, ldv);
    for (int e = tid; e < bq * d; e += blockDim.x) dQs[(e / d) * ldq + e % d] = 0.0f;
    for (int r = tid; r < bq; r += blockDim.x) {
        bool in = q0 + r < tq;
        Ls[r] = in ? lse[qoff + q0 + r] : 0.0f;
        Ds[r] = in ? delta[qoff + q0 + r] : 0.0f;
    }
    const int last_row = min(q0 + bq, tq) - 1;
    const int kmax = visible_keys(last_row, tq, tk, causal);
    __syncthreads();

    for (int k0 = 0; k0 < kmax; k0 += bk) {
        load_rows(Ks, k + koff * d, k0, bk, tk, d, ldq);
        load_rows(Vs, v + koff * dv, k0, bk, tk, dv, ldv);
        __syncthreads();
        probs_and_dscores(nullptr, dS, Qs, dOs, Ks, Vs, Ls, Ds, q0, k0, bq, bk, tq, tk, d, dv, causal, scale);
        __syncthreads();
        for (int e = tid; e < bq * d; e += blockDim.x) {
            int r = e / d, x = e - (e / d) * d;
            float acc = 0.0f;
            for (int c = 0; c < bk; ++c) acc = fmaf(dS[r * bk + c], Ks[c * ldq + x], acc);
            dQs[r * ldq + x] += scale * acc;
        }
        __syncthreads();
    }
    for (int e = tid; e < bq * d; e += blockDim.x) {
        int r = e / d, x = e - (e / d) * d;
        if (q0 + r < tq) dq[(qoff + q0 + r) * d + x] = dQs[r * ldq + x];
    }
}
