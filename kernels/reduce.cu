// Reductions along one axis of x viewed as [outer, axis, inner], and their backward scatters.
//
//   sum:  y[o, i] = Σ_a x[o, a, i]            dx[o, a, i] = dy[o, i]            (mean: both divided by axis)
//   max:  y[o, i] = max_a x[o, a, i]          idx[o, i] = first argmax; a NaN wins (the first NaN) and propagates
//                                             dx[o, a, i] = dy[o, i] where a == idx[o, i], else 0
// The argmax is written as f32 (exact below 2^24), the storage type every backend shares.
//
// Variants and launch geometry:
// - `*_rows` (inner == 1, contiguous rows): one block of 256 threads per row; each thread strides over the row
//   and a shuffle + shared-memory tree combines the 256 partials. Reads are coalesced.
// - `*_cols` (inner > 1): one thread per output (o, i) walking the axis; neighbouring threads read neighbouring i,
//   so each step of the walk is one coalesced row read. Sums accumulate in f64 here, since a thread may add a
//   long axis serially (the CPU oracle adds in f64 too).
// - `sum_backward`, `max_backward`: one thread per dx element.
// Memory traffic: every kernel reads its input once and writes its output once; all are memory bound.

#define ROW_THREADS 256

#include "common.cuh"

extern "C" __global__ void sum_rows(const float* __restrict__ x, float* __restrict__ y, int rows, int axis,
                                    int mean) {
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows) return;
    const float* xr = x + (long long)row * axis;
    float acc = 0.0f;
    for (int a = threadIdx.x; a < axis; a += blockDim.x) acc += xr[a];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) y[row] = mean ? acc / (float)axis : acc;
}

extern "C" __global__ void sum_cols(const float* __restrict__ x, float* __restrict__ y, int outer, int axis, int inner,
                                    int mean) {
    long long n = (long long)outer * inner;
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        long long o = j / inner, i = j % inner;
        const float* p = x + o * axis * inner + i;
        double acc = 0.0;
        for (int a = 0; a < axis; ++a) acc += (double)p[(long long)a * inner];
        y[j] = mean ? (float)(acc / (double)axis) : (float)acc;
    }
}

extern "C" __global__ void sum_backward(const float* __restrict__ dy, float* __restrict__ dx, int outer, int axis,
                                        int inner, int mean) {
    long long n = (long long)outer * axis * inner;
    float scale = mean ? 1.0f / (float)axis : 1.0f;
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        long long i = j % inner, o = j / ((long long)axis * inner);
        float g = dy[o * inner + i];
        dx[j] = mean ? g * scale : g;
    }
}

// Does candidate (v, a) beat the current best (bv, ba)? First NaN wins, then the larger value, then the lower index.
__device__ __forceinline__ bool beats(float v, int a, float bv, int ba) {
    bool vn = isnan(v), bn = isnan(bv);
    if (vn || bn) return vn && (!bn || a < ba);
    if (v != bv) return v > bv;
    return a < ba;
}

extern "C" __global__ void max_rows(const float* __restrict__ x, float* __restrict__ y, float* __restrict__ idx,
                                    int rows, int axis) {
    __shared__ float sv[ROW_THREADS];
    __shared__ int si[ROW_THREADS];
    int row = blockIdx.x;
    if (row >= rows) return;
    const float* xr = x + (long long)row * axis;
    float bv = xr[0];
    int ba = 0;
    for (int a = threadIdx.x; a < axis; a += blockDim.x) {
        float v = xr[a];
        if (beats(v, a, bv, ba)) {
            bv = v;
            ba = a;
        }
    }
    sv[threadIdx.x] = bv;
    si[threadIdx.x] = ba;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s && beats(sv[threadIdx.x + s], si[threadIdx.x + s], sv[threadIdx.x], si[threadIdx.x])) {
            sv[threadIdx.x] = sv[threadIdx.x + s];
            si[threadIdx.x] = si[threadIdx.x + s];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        y[row] = sv[0];
        idx[row] = (float)si[0];
    }
}

extern "C" __global__ void max_cols(const float* __restrict__ x, float* __restrict__ y, float* __restrict__ idx,
                                    int outer, int axis, int inner) {
    long long n = (long long)outer * inner;
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        long long o = j / inner, i = j % inner;
        const float* p = x + o * axis * inner + i;
        float bv = p[0];
        int ba = 0;
        for (int a = 1; a < axis; ++a) {
            float v = p[(long long)a * inner];
            if (!isnan(bv) && (v > bv || isnan(v))) {
                bv = v;
                ba = a;
            }
        }
        y[j] = bv;
        idx[j] = (float)ba;
    }
}

extern "C" __global__ void max_backward(const float* __restrict__ idx, const float* __restrict__ dy,
                                        float* __restrict__ dx, int outer, int axis, int inner) {
    long long n = (long long)outer * axis * inner;
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        long long i = j % inner, a = (j / inner) % axis, o = j / ((long long)axis * inner);
        long long at = o * inner + i;
        dx[j] = ((long long)idx[at] == a) ? dy[at] : 0.0f;
    }
}
