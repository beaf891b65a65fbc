// Softmax and log-softmax along the last axis of [rows, cols], forward and backward.
//
//   forward:  m = max_j x_j,  s = Σ_j exp(x_j − m);  softmax y_j = exp(x_j − m)/s;  log-softmax y_j = x_j − m − ln s
//   backward (from the forward OUTPUT y): softmax dx_j = y_j·(dy_j − Σ_k dy_k·y_k)
//                                         log-softmax dx_j = dy_j − exp(y_j)·Σ_k dy_k
//
// Launch geometry: one block per row, blockDim a multiple of 32 chosen by the host (32 for short rows, up to 256);
// threads stride over the row and block-wide reductions combine (warp shuffles, then one shared slot per warp).
// Memory traffic: forward reads the row twice (max, then exp-sum + write; the second read hits L1/L2) and writes
// it once; backward reads y and dy twice and writes dx once. Attention does not use this kernel: its softmax is
// fused and online (attention.cu).

// NVRTC has no <math.h> macros: −∞ as its bit pattern.
#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ float warp_sum(float v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

// Block-wide sum or max, returned to every thread. `scratch` holds 32 floats; the trailing barrier lets the
// caller reuse it immediately.
__device__ float block_reduce(float v, float* scratch, bool is_max) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    v = is_max ? warp_max(v) : warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = lane < warps ? scratch[lane] : (is_max ? NEG_INF : 0.0f);
    r = is_max ? warp_max(r) : warp_sum(r);
    __syncthreads();
    return r;
}

extern "C" __global__ void softmax_forward(const float* __restrict__ x, float* __restrict__ y, int rows, int cols,
                                           int log_softmax) {
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows) return;
    const float* xr = x + (long long)row * cols;
    float* yr = y + (long long)row * cols;
    float m = NEG_INF;
    bool any_nan = false;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float v = xr[j];
        any_nan |= isnan(v);
        m = fmaxf(m, v);
    }
    m = block_reduce(m, scratch, true);
    // fmaxf drops NaN; a row with a NaN must give NaN everywhere, as the max-subtracted formula does on the CPU.
    float nan_seen = block_reduce(any_nan ? 1.0f : 0.0f, scratch, true);
    if (nan_seen > 0.0f) m = __int_as_float(0x7fc00000);  // quiet NaN
    float s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) s += expf(xr[j] - m);
    s = block_reduce(s, scratch, false);
    if (log_softmax) {
        float ls = logf(s);
        for (int j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = xr[j] - m - ls;
    } else {
        float inv = 1.0f / s;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = expf(xr[j] - m) * inv;
    }
}

extern "C" __global__ void softmax_backward(const float* __restrict__ y, const float* __restrict__ dy,
                                            float* __restrict__ dx, int rows, int cols, int log_softmax) {
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows) return;
    const float* yr = y + (long long)row * cols;
    const float* gr = dy + (long long)row * cols;
    float* dr = dx + (long long)row * cols;
    float acc = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) acc += log_softmax ? gr[j] : gr[j] * yr[j];
    acc = block_reduce(acc, scratch, false);
    if (log_softmax) {
        for (int j = threadIdx.x; j < cols; j += blockDim.x) dr[j] = gr[j] - expf(yr[j]) * acc;
    } else {
        for (int j = threadIdx.x; j < cols; j += blockDim.x) dr[j] = yr[j] * (gr[j] - acc);
    }
}
