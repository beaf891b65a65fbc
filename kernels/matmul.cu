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
// - `gemm_wmma_f16`, `gemm_wmma_bf16`: the same product on tensor cores (WMMA 16×16×16, f32 accumulators): the
//   block's 4 warps each own a 32×32 quarter of the 64×64 tile (2×2 fragments); X and Y tiles are staged in shared
//   memory in their 16-bit type (with the same stride-aware coalesced loads), and the accumulators go through a
//   shared f32 tile so the output can be written with any strides and bounds. f16 needs sm_70, bf16 sm_80; the
//   host picks them on such devices and the SIMT kernels elsewhere (on older architectures these entry points
//   compile to a trap).

#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <mma.h>

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
__device__ __forceinline__ T to_t(float v);
template <>
__device__ __forceinline__ __half to_t<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 to_t<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

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

// Tensor-core tile: 64×64 outputs per block of 128 threads (4 warps in a 2×2 grid, each 2×2 WMMA fragments).
#define WM_THREADS 128
#define WM_LDA (BK + 8)   // 16-bit elements; a multiple of 8 as WMMA requires
#define WM_LDB (BN + 8)
#define WM_LDC (BN + 4)   // f32 elements; a multiple of 4

template <typename T>
__device__ __forceinline__ void gemm_wmma_tile(const T* __restrict__ X, const T* __restrict__ Y, float* __restrict__ C,
                                               const Gemm& g) {
    using namespace nvcuda;
    __shared__ __align__(32) T As[BM * WM_LDA];
    __shared__ __align__(32) T Bs[BK * WM_LDB];
    __shared__ __align__(32) float Cs[BM * WM_LDC];
    const long long z = blockIdx.z;
    const long long row0 = (long long)blockIdx.y * BM, col0 = (long long)blockIdx.x * BN;
    const int warp = threadIdx.x >> 5, wr = warp >> 1, wc = warp & 1;
    const bool x_p_fast = g.xs_p == 1;
    const bool y_j_fast = g.ys_j == 1;
    const T zero = to_t<T>(0.0f);
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    for (long long s = 0; s < g.kbatch; ++s) {
        const T* Xs = X + z * g.x_bz + s * g.x_bs;
        const T* Ys = Y + z * g.y_bz + s * g.y_bs;
        for (long long p0 = 0; p0 < g.k; p0 += BK) {
            for (int e = threadIdx.x; e < BM * BK; e += WM_THREADS) {
                int i, p;
                if (x_p_fast) {
                    i = e / BK;
                    p = e % BK;
                } else {
                    p = e / BM;
                    i = e % BM;
                }
                long long gi = row0 + i, gp = p0 + p;
                As[i * WM_LDA + p] = (gi < g.m && gp < g.k) ? Xs[gi * g.xs_i + gp * g.xs_p] : zero;
            }
            for (int e = threadIdx.x; e < BK * BN; e += WM_THREADS) {
                int p, j;
                if (y_j_fast) {
                    p = e / BN;
                    j = e % BN;
                } else {
                    j = e / BK;
                    p = e % BK;
                }
                long long gp = p0 + p, gj = col0 + j;
                Bs[p * WM_LDB + j] = (gp < g.k && gj < g.n) ? Ys[gp * g.ys_p + gj * g.ys_j] : zero;
            }
            __syncthreads();
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b[2];
            for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], As + (wr * 32 + i * 16) * WM_LDA, WM_LDA);
            for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], Bs + wc * 32 + j * 16, WM_LDB);
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
            __syncthreads();
        }
    }
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
            wmma::store_matrix_sync(Cs + (wr * 32 + i * 16) * WM_LDC + wc * 32 + j * 16, acc[i][j], WM_LDC,
                                    wmma::mem_row_major);
    __syncthreads();
    float* Cz = C + z * g.c_bz;
    for (int e = threadIdx.x; e < BM * BN; e += WM_THREADS) {
        int i = e / BN, j = e % BN;
        long long gi = row0 + i, gj = col0 + j;
        if (gi < g.m && gj < g.n) Cz[gi * g.cs_i + gj * g.cs_j] = Cs[i * WM_LDC + j];
    }
}

extern "C" __global__ void __launch_bounds__(WM_THREADS)
    gemm_wmma_f16(const __half* __restrict__ X, const __half* __restrict__ Y, float* __restrict__ C, Gemm g) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 700
    gemm_wmma_tile<__half>(X, Y, C, g);
#else
    __trap();
#endif
}

extern "C" __global__ void __launch_bounds__(WM_THREADS)
    gemm_wmma_bf16(const __nv_bfloat16* __restrict__ X, const __nv_bfloat16* __restrict__ Y, float* __restrict__ C,
                   Gemm g) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    gemm_wmma_tile<__nv_bfloat16>(X, Y, C, g);
#else
    __trap();
#endif
}
