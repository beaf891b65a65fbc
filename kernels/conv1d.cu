// Dilated causal-capable 1-D convolution computed directly (no im2col buffer): forward, input grad, weight grad.
//
//   y[b, o, t]  = bias[o] + Σ_i Σ_k w[o, i, k]·x[b, i, t + k·dil − pad]        (x = 0 outside [0, t_in))
//   dx[b, i, s] = Σ_o Σ_k w[o, i, k]·dy[b, o, s − k·dil + pad]                  (dy = 0 outside [0, t_out))
//   dw[o, i, k] = Σ_b Σ_t dy[b, o, t]·x[b, i, t + k·dil − pad],   dbias[o] = Σ_b Σ_t dy[b, o, t]
// x [batch, c_in, t_in], w [c_out, c_in, K] (PyTorch layout), y, dy [batch, c_out, t_out].
//
// Kernels, launch geometry and why each exists:
// - `conv1d_forward_tiled`: grid (⌈t_out/128⌉, ⌈c_out/8⌉, batch), 128 threads; each thread owns one time step
//   and 8 output channels (8 accumulators in registers). Input channels go in chunks of IC (host-chosen so
//   shared memory fits 48 KiB): the block stages x[b, chunk, t0 − pad .. t0 + 127 + (K−1)·dil − pad] (its tile
//   plus the dilated halo) and w[o-tile, chunk, :] in shared memory, so each x value is read from device memory
//   once per 8 output channels instead of once per (output channel, tap). The causal zeros are the halo's
//   out-of-range entries: nothing is padded in memory.
// - `conv1d_forward_direct`: one thread per output, reading x and w from device memory (through L1). Used when
//   the halo of a huge dilation would not fit shared memory, and as the simple form to read the formula from.
// - `conv1d_backward_input`: one thread per dx element; neighbouring threads take neighbouring s, so dy reads are
//   coalesced and w reads are warp-wide broadcasts.
// - `conv1d_backward_weight`: one block of 256 threads per (o, i, k) reducing over (b, t) with a shuffle tree;
//   deterministic (no atomics). `conv1d_backward_bias`: one block per o.
// Memory traffic: tiled forward reads x about ⌈c_out/8⌉ times and w once per block, writes y once; the input
// gradient reads dy once per (i, k) from L2; the weight gradient reads x and dy once per tap.

#include "common.cuh"

#define CONV_TT 128  // time steps per forward block
#define CONV_CO 8    // output channels per forward block

extern "C" __global__ void __launch_bounds__(CONV_TT)
    conv1d_forward_tiled(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
                         float* __restrict__ y, int c_in, int c_out, int t_in, int t_out, int K, int dil, int pad,
                         int has_bias, int ic) {
    extern __shared__ float smem[];
    const int halo = (K - 1) * dil;
    const int span = CONV_TT + halo;
    float* xs = smem;               // [ic][span]
    float* ws = xs + ic * span;     // [CONV_CO][ic][K]
    const int b = blockIdx.z, o0 = blockIdx.y * CONV_CO, t0 = blockIdx.x * CONV_TT, tid = threadIdx.x;
    const float* xb = x + (long long)b * c_in * t_in;
    float acc[CONV_CO];
    for (int oo = 0; oo < CONV_CO; ++oo) acc[oo] = 0.0f;

    for (int i0 = 0; i0 < c_in; i0 += ic) {
        for (int e = tid; e < ic * span; e += CONV_TT) {
            int ii = e / span, u = e - (e / span) * span;
            int s = t0 + u - pad;
            xs[e] = (i0 + ii < c_in && s >= 0 && s < t_in) ? xb[(long long)(i0 + ii) * t_in + s] : 0.0f;
        }
        for (int e = tid; e < CONV_CO * ic * K; e += CONV_TT) {
            int oo = e / (ic * K), rem = e - (e / (ic * K)) * (ic * K);
            int ii = rem / K, kk = rem - (rem / K) * K;
            bool in = o0 + oo < c_out && i0 + ii < c_in;
            ws[e] = in ? w[((long long)(o0 + oo) * c_in + i0 + ii) * K + kk] : 0.0f;
        }
        __syncthreads();
        for (int ii = 0; ii < ic; ++ii) {
            for (int kk = 0; kk < K; ++kk) {
                float xv = xs[ii * span + tid + kk * dil];
#pragma unroll
                for (int oo = 0; oo < CONV_CO; ++oo) acc[oo] = fmaf(ws[(oo * ic + ii) * K + kk], xv, acc[oo]);
            }
        }
        __syncthreads();
    }
    const int t = t0 + tid;
    if (t >= t_out) return;
    for (int oo = 0; oo < CONV_CO; ++oo) {
        int o = o0 + oo;
        if (o < c_out) y[((long long)b * c_out + o) * t_out + t] = acc[oo] + (has_bias ? bias[o] : 0.0f);
    }
}

extern "C" __global__ void conv1d_forward_direct(const float* __restrict__ x, const float* __restrict__ w,
                                                 const float* __restrict__ bias, float* __restrict__ y, int batch,
                                                 int c_in, int c_out, int t_in, int t_out, int K, int dil, int pad,
                                                 int has_bias) {
    long long n = (long long)batch * c_out * t_out;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        int t = (int)(e % t_out);
        int o = (int)((e / t_out) % c_out);
        long long b = e / ((long long)t_out * c_out);
        float acc = has_bias ? bias[o] : 0.0f;
        for (int i = 0; i < c_in; ++i) {
            const float* xr = x + (b * c_in + i) * t_in;
            const float* wr = w + ((long long)o * c_in + i) * K;
            for (int kk = 0; kk < K; ++kk) {
                int s = t + kk * dil - pad;
                if (s >= 0 && s < t_in) acc = fmaf(wr[kk], xr[s], acc);
            }
        }
        y[e] = acc;
    }
}

extern "C" __global__ void conv1d_backward_input(const float* __restrict__ w, const float* __restrict__ dy,
                                                 float* __restrict__ dx, int batch, int c_in, int c_out, int t_in,
                                                 int t_out, int K, int dil, int pad) {
    long long n = (long long)batch * c_in * t_in;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        int s = (int)(e % t_in);
        int i = (int)((e / t_in) % c_in);
        long long b = e / ((long long)t_in * c_in);
        float acc = 0.0f;
        for (int o = 0; o < c_out; ++o) {
            const float* gr = dy + (b * c_out + o) * t_out;
            const float* wr = w + ((long long)o * c_in + i) * K;
            for (int kk = 0; kk < K; ++kk) {
                int t = s - kk * dil + pad;
                if (t >= 0 && t < t_out) acc = fmaf(wr[kk], gr[t], acc);
            }
        }
        dx[e] = acc;
    }
}

extern "C" __global__ void conv1d_backward_weight(const float* __restrict__ x, const float* __restrict__ dy,
                                                  float* __restrict__ dw, int batch, int c_in, int c_out, int t_in,
                                                  int t_out, int K, int dil, int pad) {
    __shared__ float scratch[32];
    const int idx = blockIdx.x;  // (o·c_in + i)·K + k
    if (idx >= c_out * c_in * K) return;
    const int kk = idx % K, i = (idx / K) % c_in, o = idx / (K * c_in);
    const int shift = kk * dil - pad;
    // Output times whose tap kk reads inside x: 0 ≤ t + shift < t_in.
    const int lo = max(0, -shift), hi = min(t_out, t_in - shift);
    const int span = hi > lo ? hi - lo : 0;
    float acc = 0.0f;
    for (long long e = threadIdx.x; e < (long long)batch * span; e += blockDim.x) {
        int b = (int)(e / span), t = lo + (int)(e % span);
        acc = fmaf(dy[((long long)b * c_out + o) * t_out + t], x[((long long)b * c_in + i) * t_in + t + shift], acc);
    }
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) dw[idx] = acc;
}

extern "C" __global__ void conv1d_backward_bias(const float* __restrict__ dy, float* __restrict__ db, int batch,
                                                int c_out, int t_out) {
    __shared__ float scratch[32];
    const int o = blockIdx.x;
    if (o >= c_out) return;
    float acc = 0.0f;
    for (long long e = threadIdx.x; e < (long long)batch * t_out; e += blockDim.x) {
        int b = (int)(e / t_out), t = (int)(e % t_out);
        acc += dy[((long long)b * c_out + o) * t_out + t];
    }
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) db[o] = acc;
}
