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

#include "common.cuh"

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
    m = block_max(m, scratch);
    // fmaxf drops NaN; a row with a NaN must give NaN everywhere, as the max-subtracted formula does on the CPU.
    float nan_seen = block_max(any_nan ? 1.0f : 0.0f, scratch);
    if (nan_seen > 0.0f) m = __int_as_float(0x7fc00000);  // quiet NaN
    float s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) s += expf(xr[j] - m);
    s = block_sum(s, scratch);
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
    acc = block_sum(acc, scratch);
    if (log_softmax) {
        for (int j = threadIdx.x; j < cols; j += blockDim.x) dr[j] = gr[j] - expf(yr[j]) * acc;
    } else {
        for (int j = threadIdx.x; j < cols; j += blockDim.x) dr[j] = yr[j] * (gr[j] - acc);
    }
}
