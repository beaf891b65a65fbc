// LayerNorm over the last axis of [rows, cols] and BatchNorm1d over x [n, c, l] per channel; train, eval, backward.
//
// LayerNorm:  μ = mean(x_row), σ² = mean((x − μ)²), rstd = 1/√(σ² + eps), y = (x − μ)·rstd·γ + β
//             backward with g = dy·γ, x̂ = (x − μ)·rstd:  dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),
//             dγ = Σ_rows dy·x̂,  dβ = Σ_rows dy
// BatchNorm1d (N = n·l values per channel, x[i, ch, t] at (i·c + ch)·l + t):
//   train: batch mean and biased variance normalise; the running statistics move with the UNBIASED variance,
//          recovered from rstd as the CPU does (1/rstd² − eps, clamped at 0, times N/(N−1));
//   eval:  y = (x − running_mean)/√(running_var + eps)·γ + β;
//   backward train: dx = γ·rstd/N·(N·dy − Σdy − x̂·Σ(dy·x̂));  eval: dx = dy·γ/√(running_var + eps);
//   dγ = Σ dy·x̂, dβ = Σ dy in both modes.
//
// Launch geometry and variants:
// - `layer_norm_forward`, `layer_norm_backward_dx`: one block per row (blockDim from the host, ≤ 256); two passes
//   over the row (mean, then centred variance: two-pass for accuracy), the second from L1/L2.
// - `layer_norm_backward_params`: dγ and dβ are column sums over rows, so one thread per column walks the rows
//   (neighbouring threads read neighbouring columns: coalesced), in f64, deterministic (no atomics).
// - `batch_norm_*_train`, `batch_norm_backward`: one block per channel reduces its N values (strided by l inside
//   each sample), then the same block writes the channel's outputs.
// - `batch_norm_forward_eval`: one thread per element.
// Memory traffic: LayerNorm forward reads x twice and writes y once; BatchNorm train reads x three times
// (mean, variance, normalise); the backwards read x and dy twice and write dx once.

#include "common.cuh"

extern "C" __global__ void layer_norm_forward(const float* __restrict__ x, const float* __restrict__ gamma,
                                              const float* __restrict__ beta, float* __restrict__ y,
                                              float* __restrict__ mean, float* __restrict__ rstd, int rows, int cols,
                                              float eps) {
    __shared__ float scratch[32];
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* xr = x + (long long)r * cols;
    float* yr = y + (long long)r * cols;
    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += xr[c];
    float mu = block_sum(s, scratch) / (float)cols;
    float sq = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = xr[c] - mu;
        sq += v * v;
    }
    float rs = 1.0f / sqrtf(block_sum(sq, scratch) / (float)cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
    if (threadIdx.x == 0) {
        mean[r] = mu;
        rstd[r] = rs;
    }
}

extern "C" __global__ void layer_norm_backward_dx(const float* __restrict__ x, const float* __restrict__ gamma,
                                                  const float* __restrict__ mean, const float* __restrict__ rstd,
                                                  const float* __restrict__ dy, float* __restrict__ dx, int rows,
                                                  int cols) {
    __shared__ float scratch[32];
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* xr = x + (long long)r * cols;
    const float* gr = dy + (long long)r * cols;
    float* dr = dx + (long long)r * cols;
    float mu = mean[r], rs = rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float g = gr[c] * gamma[c];
        sg += g;
        sgx += g * (xr[c] - mu) * rs;
    }
    float mean_g = block_sum(sg, scratch) / (float)cols;
    float mean_gx = block_sum(sgx, scratch) / (float)cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float g = gr[c] * gamma[c];
        float xhat = (xr[c] - mu) * rs;
        dr[c] = rs * (g - mean_g - xhat * mean_gx);
    }
}

extern "C" __global__ void layer_norm_backward_params(const float* __restrict__ x, const float* __restrict__ mean,
                                                      const float* __restrict__ rstd, const float* __restrict__ dy,
                                                      float* __restrict__ dgamma, float* __restrict__ dbeta, int rows,
                                                      int cols) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    double dg = 0.0, db = 0.0;
    for (int r = 0; r < rows; ++r) {
        long long at = (long long)r * cols + c;
        float g = dy[at];
        dg += (double)(g * ((x[at] - mean[r]) * rstd[r]));
        db += (double)g;
    }
    dgamma[c] = (float)dg;
    dbeta[c] = (float)db;
}

// Flat index of the k-th value of channel ch (k in [0, N)): x[i, ch, t] with i = k / l, t = k % l.
__device__ __forceinline__ long long channel_at(int k, int ch, int c, int l) {
    int i = k / l, t = k - (k / l) * l;
    return ((long long)i * c + ch) * l + t;
}

extern "C" __global__ void batch_norm_forward_train(const float* __restrict__ x, const float* __restrict__ gamma,
                                                    const float* __restrict__ beta, const float* __restrict__ rm,
                                                    const float* __restrict__ rv, float* __restrict__ y,
                                                    float* __restrict__ mean, float* __restrict__ rstd,
                                                    float* __restrict__ rm_out, float* __restrict__ rv_out, int n, int c,
                                                    int l, float eps, float momentum) {
    __shared__ float scratch[32];
    int ch = blockIdx.x;
    if (ch >= c) return;
    int count = n * l;
    float s = 0.0f;
    for (int k = threadIdx.x; k < count; k += blockDim.x) s += x[channel_at(k, ch, c, l)];
    float mu = block_sum(s, scratch) / (float)count;
    float sq = 0.0f;
    for (int k = threadIdx.x; k < count; k += blockDim.x) {
        float v = x[channel_at(k, ch, c, l)] - mu;
        sq += v * v;
    }
    float rs = 1.0f / sqrtf(block_sum(sq, scratch) / (float)count + eps);
    float g = gamma[ch], b = beta[ch];
    for (int k = threadIdx.x; k < count; k += blockDim.x) {
        long long at = channel_at(k, ch, c, l);
        y[at] = (x[at] - mu) * rs * g + b;
    }
    if (threadIdx.x == 0) {
        mean[ch] = mu;
        rstd[ch] = rs;
        float biased = fmaxf(1.0f / (rs * rs) - eps, 0.0f);
        float bessel = (float)((double)count / (double)(count - 1));
        rm_out[ch] = (1.0f - momentum) * rm[ch] + momentum * mu;
        rv_out[ch] = (1.0f - momentum) * rv[ch] + momentum * biased * bessel;
    }
}

extern "C" __global__ void batch_norm_forward_eval(const float* __restrict__ x, const float* __restrict__ gamma,
                                                   const float* __restrict__ beta, const float* __restrict__ rm,
                                                   const float* __restrict__ rv, float* __restrict__ y, int n, int c,
                                                   int l, float eps) {
    long long total = (long long)n * c * l;
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < total;
         j += (long long)gridDim.x * blockDim.x) {
        int ch = (int)((j / l) % c);
        float rs = 1.0f / sqrtf(rv[ch] + eps);
        y[j] = (x[j] - rm[ch]) * rs * gamma[ch] + beta[ch];
    }
}

// `train`: stat_a, stat_b are the batch mean and rstd; otherwise the running mean and variance.
extern "C" __global__ void batch_norm_backward(const float* __restrict__ x, const float* __restrict__ gamma,
                                               const float* __restrict__ stat_a, const float* __restrict__ stat_b,
                                               const float* __restrict__ dy, float* __restrict__ dx,
                                               float* __restrict__ dgamma, float* __restrict__ dbeta, int n, int c,
                                               int l, float eps, int train) {
    __shared__ float scratch[32];
    int ch = blockIdx.x;
    if (ch >= c) return;
    int count = n * l;
    float mu = stat_a[ch];
    float rs = train ? stat_b[ch] : 1.0f / sqrtf(stat_b[ch] + eps);
    float sdy = 0.0f, sdyx = 0.0f;
    for (int k = threadIdx.x; k < count; k += blockDim.x) {
        long long at = channel_at(k, ch, c, l);
        float g = dy[at];
        sdy += g;
        sdyx += g * (x[at] - mu) * rs;
    }
    sdy = block_sum(sdy, scratch);
    sdyx = block_sum(sdyx, scratch);
    float g = gamma[ch];
    float nf = (float)count;
    float k_train = g * rs / nf;
    for (int k = threadIdx.x; k < count; k += blockDim.x) {
        long long at = channel_at(k, ch, c, l);
        if (train) {
            float xhat = (x[at] - mu) * rs;
            dx[at] = k_train * (nf * dy[at] - sdy - xhat * sdyx);
        } else {
            dx[at] = dy[at] * g * rs;
        }
    }
    if (threadIdx.x == 0) {
        dgamma[ch] = sdyx;
        dbeta[ch] = sdy;
    }
}
