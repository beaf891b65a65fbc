// Fused multi-tensor optimizer updates and global-norm clipping (src/ops/optim; formulas and why in its mod.rs).
// PyTorch's single-tensor torch.optim rules in its order of operations; the f32 scalars come from the host
// (AdamStep, SgdStep), rounded once from f64, so every device multiplies by the same numbers.
//
// Multi-tensor launches (PyTorch's multi_tensor_apply): a launch takes a list of up to OPTIM_GROUP_MAX tensors
// as one kernel argument passed by value (a struct of device pointers and lengths, ≤ 4 KiB: the kernel-parameter
// limit of every CUDA device is what bounds the list). Nothing is uploaded for it and no table lives in device
// memory, so it stays right however the caching allocator places the buffers from one step to the next. Each
// thread strides each tensor of the list in turn with the grid's stride.
//
//   optim_squares_partial: partials[at + b] = Σ g² over block b's strided share of every tensor of the list.
//   optim_squares_total:   out[0] = Σ partials, one block in a fixed order. With the partials pass: a two-pass
//                          deterministic reduction (no atomics), the same bits every run.
//   optim_clip_factor:     out[0] = min(1, max_norm/(√total + 1e-6))     one thread.
//   optim_adam_multi:      (p, m, v) → (p', m', v') for every tensor of the list, g scaled by scale[0] read from
//                          device memory (the clip factor: no host branch, no read back).
//   optim_sgd_multi:       (p, b) → (p', b').
//
// Memory traffic per element: Adam 4 reads + 3 writes (28 B), SGD 3 + 2 (20 B), the squared sum 4 B. All memory
// bound; the updates run at copy bandwidth.

#include "common.cuh"

#define OPTIM_GROUP_MAX 48

// Layouts mirrored by `TensorList<I, O>` in src/ops/optim/cuda.rs (unused slots hold null and 0): per tensor I
// input and O output pointers, then the lengths and the count. SquaresList is TensorList<1, 0> there (a
// zero-length array is not C++, so it is spelled out here).
struct SquaresList {
    const float* g[OPTIM_GROUP_MAX];
    long long n[OPTIM_GROUP_MAX];
    int count;
};

template <int I, int O>
struct TensorList {
    const float* in[I][OPTIM_GROUP_MAX];
    float* out[O][OPTIM_GROUP_MAX];
    long long n[OPTIM_GROUP_MAX];
    int count;
};

typedef TensorList<4, 3> AdamList;  // in: p, g, m, v; out: p', m', v'
typedef TensorList<3, 2> SgdList;   // in: p, g, buf; out: p', buf'

extern "C" __global__ void optim_squares_partial(SquaresList l, float* __restrict__ partials, long long at) {
    __shared__ float scratch[32];
    long long stride = (long long)gridDim.x * blockDim.x;
    float s = 0.0f;
    for (int t = 0; t < l.count; ++t) {
        const float* g = l.g[t];
        for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < l.n[t]; j += stride) s += g[j] * g[j];
    }
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) partials[at + blockIdx.x] = s;
}

extern "C" __global__ void optim_squares_total(const float* __restrict__ partials, long long n,
                                               float* __restrict__ out) {
    __shared__ float scratch[32];
    float s = 0.0f;
    for (long long j = threadIdx.x; j < n; j += blockDim.x) s += partials[j];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) out[0] = s;
}

extern "C" __global__ void optim_clip_factor(const float* __restrict__ total, float* __restrict__ out,
                                             float max_norm) {
    if (threadIdx.x == 0 && blockIdx.x == 0) out[0] = fminf(max_norm / (sqrtf(total[0]) + 1e-6f), 1.0f);
}

extern "C" __global__ void optim_adam_multi(AdamList l, const float* __restrict__ scale, float decay, float l2,
                                            float w1, float beta2, float w2, float bc2_sqrt, float neg_step,
                                            float eps) {
    float c = scale[0];
    long long stride = (long long)gridDim.x * blockDim.x;
    for (int t = 0; t < l.count; ++t) {
        const float* __restrict__ p = l.in[0][t];
        const float* __restrict__ g = l.in[1][t];
        const float* __restrict__ m = l.in[2][t];
        const float* __restrict__ v = l.in[3][t];
        float* __restrict__ p_out = l.out[0][t];
        float* __restrict__ m_out = l.out[1][t];
        float* __restrict__ v_out = l.out[2][t];
        for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < l.n[t]; j += stride) {
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
}

extern "C" __global__ void optim_sgd_multi(SgdList l, const float* __restrict__ scale, float neg_lr, float momentum,
                                           float l2, int first) {
    float c = scale[0];
    long long stride = (long long)gridDim.x * blockDim.x;
    for (int t = 0; t < l.count; ++t) {
        const float* __restrict__ p = l.in[0][t];
        const float* __restrict__ g = l.in[1][t];
        const float* __restrict__ buf = l.in[2][t];
        float* __restrict__ p_out = l.out[0][t];
        float* __restrict__ buf_out = l.out[1][t];
        for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < l.n[t]; j += stride) {
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
}
