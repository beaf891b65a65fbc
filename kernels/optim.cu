// Fused optimizer updates and global-norm clipping (src/ops/optim; formulas and why in its mod.rs). PyTorch's
// single-tensor torch.optim rules in its order of operations; the f32 scalars come from the host (AdamStep,
// SgdStep), rounded once from f64, so every device multiplies by the same numbers.
//
//   optim_sum_squares: out[0] = acc[0] + Σ g²     one block of 1024 threads striding the tensor, block_sum:
//                                                 deterministic (no atomics) and one launch per tensor. A tensor
//                                                 of millions of elements would want a two-pass grid instead.
//   optim_clip_factor: out[0] = min(1, max_norm/(√total + 1e-6))     one thread.
//   optim_adam:        (p, m, v) → (p', m', v'), g scaled by scale[0] read from device memory (the clip factor:
//                      no host branch, no read back). One thread per element, grid-stride.
//   optim_sgd:         (p, b) → (p', b').
//
// Memory traffic per element: Adam 4 reads + 3 writes (28 B), SGD 3 + 2 (20 B), the squared sum 4 B. All memory
// bound; the updates run at copy bandwidth.

#include "common.cuh"

extern "C" __global__ void optim_sum_squares(const float* __restrict__ g, const float* __restrict__ acc,
                                             float* __restrict__ out, long long n) {
    __shared__ float scratch[32];
    float s = 0.0f;
    for (long long j = threadIdx.x; j < n; j += blockDim.x) s += g[j] * g[j];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) out[0] = acc[0] + s;
}

extern "C" __global__ void optim_clip_factor(const float* __restrict__ total, float* __restrict__ out,
                                             float max_norm) {
    if (threadIdx.x == 0 && blockIdx.x == 0) out[0] = fminf(max_norm / (sqrtf(total[0]) + 1e-6f), 1.0f);
}

extern "C" __global__ void optim_adam(const float* __restrict__ p, const float* __restrict__ g,
                                      const float* __restrict__ m, const float* __restrict__ v,
                                      const float* __restrict__ scale, float* __restrict__ p_out,
                                      float* __restrict__ m_out, float* __restrict__ v_out, long long n, float decay,
                                      float l2, float w1, float beta2, float w2, float bc2_sqrt, float neg_step,
                                      float eps) {
    float c = scale[0];
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        float gi = g[j] * c + l2 * p[j];
        float pi = p[j] * decay;
        float mi = m[j] + w1 * (gi - m[j]);
        float vi = v[j] * beta2 + w2 * gi * gi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        m_out[j] = mi;
        v_out[j] = vi;
        p_out[j] = pi + neg_step * mi / denom;
    }
}

extern "C" __global__ void optim_sgd(const float* __restrict__ p, const float* __restrict__ g,
                                     const float* __restrict__ buf, const float* __restrict__ scale,
                                     float* __restrict__ p_out, float* __restrict__ buf_out, long long n, float neg_lr,
                                     float momentum, float l2, int first) {
    float c = scale[0];
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        float gi = g[j] * c + l2 * p[j];
        float step = gi;
        float b = buf[j];
        if (momentum != 0.0f) {
            b = first ? gi : b * momentum + gi;
            step = b;
        }
        buf_out[j] = b;
        p_out[j] = p[j] + neg_lr * step;
    }
}
