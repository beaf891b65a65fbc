// Batched matrix multiply with arbitrary strides: C[z] = Σ_{s < kbatch} X[z, s] · Y[z, s], f32 accumulation.
//
//   X[z, s] element (i, p) at  X + z·x_bz + s·x_bs + i·xs_i + p·xs_p        i < m, p < k
//   Y[z, s] element (p, j) at  Y + z·y_bz + s·y_bs + p·ys_p + j·ys_j        j < n
//   C[z]    element (i, j) at  C + z·c_bz + i·cs_i + j·cs_j                 (overwritten, never accumulated)
//
// Strides cover every case of the op without copies (src/ops/matmul/cuda.rs builds them):
// - forward: op(A)·op(B), transposes are swapped strides, a broadcast operand has batch stride 0, z = batch;
// - backward: dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC are the same kernel with other strides, and the result
//   is written transposed back into A's or B's layout through cs_i/cs_j;
// - a broadcast operand's gradient is the SUM over the batch: kbatch = batch folds the batch into the k loop
//   of a single output matrix (deterministic, no atomics, no scratch).
//
// Launch geometry: 64×64 output tile per block (grid.x over n, grid.y over m, grid.z over z), 256 threads, each
// owning a 4×4 micro-tile at rows ty + 16r and columns tx + 16c (stride-16 so shared-memory reads are conflict-
// free broadcasts). The k loop stages 64×16 tiles of X and Y in shared memory; each tile load picks its thread
// mapping from which stride is 1, so global reads are coalesced whether or not the operand is transposed.
// Memory traffic: each X element is read n/64 times and each Y element m/64 times (from L2 mostly); C once.
// Arithmetic intensity 2·64·64·16 / ((64+64)·16·4 B) = 16 flop/B per tile step.
//
// Variants:
// - `gemm_f32`: training and inference in f32.
// - `gemm_f16`, `gemm_bf16`: inference with half-precision operands (half the bytes of X and Y), converted to
//   f32 when staged in shared memory, f32 accumulation and f32 output, so the only extra error is the operands'
//   rounding. `f32_to_f16` / `f32_to_bf16` convert weights or activations once (round to nearest even).
// All three share `gemm_tile`, a template over the operand type (one body, three entry points).

#include <cuda_fp16.h>
#include <cuda_bf16.h>

#define BM 64
#define BN 64
#define BK 16
#define GEMM_THREADS 256

// Field order shared with src/ops/matmul/cuda.rs (passed as 15 i64 values).
struct Gemm {
    long long m, n, k, kbatch;
    long long xs_i, xs_p, ys_p, ys_j, cs_i, cs_j;
    long long x_bz, y_bz, c_bz, x_bs, y_bs;
};

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ void gemm_tile(const T* __restrict__ X, const T* __restrict__ Y, float* __restrict__ C,
                                          const Gemm& g) {
    __shared__ float As[BK][BM + 4];
    __shared__ float Bs[BK][BN + 4];
    const long long z = blockIdx.z;
    const long long row0 = (long long)blockIdx.y * BM, col0 = (long long)blockIdx.x * BN;
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const bool x_p_fast = g.xs_p == 1;
    const bool y_j_fast = g.ys_j == 1;
    float acc[4][4];
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) acc[r][c] = 0.0f;

    for (long long s = 0; s < g.kbatch; ++s) {
        const T* Xs = X + z * g.x_bz + s * g.x_bs;
        const T* Ys = Y + z * g.y_bz + s * g.y_bs;
        for (long long p0 = 0; p0 < g.k; p0 += BK) {
            for (int e = threadIdx.x; e < BM * BK; e += GEMM_THREADS) {
                int i, p;
                if (x_p_fast) {
                    i = e / BK;
                    p = e % BK;
                } else {
                    p = e / BM;
                    i = e % BM;
                }
                long long gi = row0 + i, gp = p0 + p;
                As[p][i] = (gi < g.m && gp < g.k) ? to_f32(Xs[gi * g.xs_i + gp * g.xs_p]) : 0.0f;
            }
            for (int e = threadIdx.x; e < BK * BN; e += GEMM_THREADS) {
                int p, j;
                if (y_j_fast) {
                    p = e / BN;
                    j = e % BN;
                } else {
                    j = e / BK;
                    p = e % BK;
                }
                long long gp = p0 + p, gj = col0 + j;
                Bs[p][j] = (gp < g.k && gj < g.n) ? to_f32(Ys[gp * g.ys_p + gj * g.ys_j]) : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int p = 0; p < BK; ++p) {
                float a[4], b[4];
#pragma unroll
                for (int r = 0; r < 4; ++r) a[r] = As[p][ty + 16 * r];
#pragma unroll
                for (int c = 0; c < 4; ++c) b[c] = Bs[p][tx + 16 * c];
#pragma unroll
                for (int r = 0; r < 4; ++r)
#pragma unroll
                    for (int c = 0; c < 4; ++c) acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
            }
            __syncthreads();
        }
    }
    float* Cz = C + z * g.c_bz;
    for (int r = 0; r < 4; ++r) {
        long long gi = row0 + ty + 16 * r;
        if (gi >= g.m) continue;
        for (int c = 0; c < 4; ++c) {
            long long gj = col0 + tx + 16 * c;
            if (gj < g.n) Cz[gi * g.cs_i + gj * g.cs_j] = acc[r][c];
        }
    }
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
    gemm_f32(const float* __restrict__ X, const float* __restrict__ Y, float* __restrict__ C, Gemm g) {
    gemm_tile<float>(X, Y, C, g);
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
    gemm_f16(const __half* __restrict__ X, const __half* __restrict__ Y, float* __restrict__ C, Gemm g) {
    gemm_tile<__half>(X, Y, C, g);
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
    gemm_bf16(const __nv_bfloat16* __restrict__ X, const __nv_bfloat16* __restrict__ Y, float* __restrict__ C, Gemm g) {
    gemm_tile<__nv_bfloat16>(X, Y, C, g);
}

extern "C" __global__ void f32_to_f16(const float* __restrict__ x, __half* __restrict__ y, long long n) {
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        y[j] = __float2half_rn(x[j]);
    }
}

extern "C" __global__ void f32_to_bf16(const float* __restrict__ x, __nv_bfloat16* __restrict__ y, long long n) {
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        y[j] = __float2bfloat16_rn(x[j]);
    }
}
