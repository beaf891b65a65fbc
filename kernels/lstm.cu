// LSTM recurrence (PyTorch semantics, gate order i, f, g, o), forward and backward through time.
//
//   pre_t = x_t·w_ihᵀ + b_ih + h_{t−1}·w_hhᵀ + b_hh;  i, f, o = σ(pre_i, pre_f, pre_o);  g = tanh(pre_g)
//   c_t = f⊙c_{t−1} + i⊙g;  h_t = o⊙tanh(c_t)
//   backward with dh = dhs_t + dh_carry, dc = dc_carry + dh⊙o⊙(1 − tanh²c_t):
//   dpre = [dc⊙g⊙i(1−i) | dc⊙c_{t−1}⊙f(1−f) | dc⊙i⊙(1−g²) | dh⊙tanh(c_t)⊙o(1−o)],
//   dc_carry ← dc⊙f,  dh_carry ← dpre·w_hh
// Sequences are batch-first: x [B, T, I], hs, cs [B, T, H], gates [B, T, 4H] (post-activation, saved for the
// backward), always in time order; with `reverse` the recurrence runs from t = T−1 down to 0.
//
// What runs where (src/ops/lstm/cuda.rs):
// - The input projection x·w_ihᵀ of every step does not depend on the recurrence: one gemm (matmul.cu) over all
//   B·T rows writes it into `gates` before the recurrence; the kernels here add both biases and the recurrent
//   product and overwrite those entries with the activated gates.
// - `lstm_seq_forward_fused`: the whole recurrence in ONE launch, one block (256 threads) per batch row, with
//   w_hh [4H, H] held in shared memory for all T steps (when 16·H² bytes fit the device's opt-in limit: H ≤ ~118
//   on a 227 KiB H100). Per step: each warp takes gate rows r and reduces w_hh[r]·h over its lanes (consecutive
//   k: conflict-free), a barrier, then each thread updates its hidden units' cell (c stays in shared memory), a
//   barrier. It saves T launches and T re-reads of w_hh from L2 — the latency of batch-1 streaming.
// - `lstm_step_forward`: the per-step cell kernel for larger H: grid (⌈H/4⌉, B), 4 warps per block, one warp per
//   hidden unit j computing its four gate rows' dot products with h_{t−1} (coalesced over k, shuffle-reduced),
//   then the cell update. One launch per step; w_hh streams from L2 each step.
// - Backward: `lstm_seq_backward_fused` (same on-chip scheme, one block per batch row, steps in reverse) or per
//   step `lstm_step_backward_cell` (one thread per (b, j): dpre and the new dc_carry) followed by
//   `lstm_step_backward_dh` (one thread per (b, k): dh_carry = dpre_t·w_hh, coalesced over k). Both write dpre
//   [B, T, 4H]; dx = dpre·w_ih, dw_ih = dpreᵀ·x, dw_hh = dpreᵀ·h_prev and db = Σ dpre are then single big
//   gemms/reductions over all steps, with `lstm_shift_h` building h_prev [B, T, H] (h0 at the first step).
// Memory traffic per step: the per-step kernels read w_hh once (16·H² bytes, L2-resident for H ≤ 512), gates and
// states once; the fused kernels read w_hh once per sequence.

#include "common.cuh"

// Time index of recurrence step `step`.
__device__ __forceinline__ int time_at(int step, int T, int reverse) { return reverse ? T - 1 - step : step; }

extern "C" __global__ void __launch_bounds__(128)
    lstm_step_forward(float* __restrict__ gates, const float* __restrict__ w_hh, const float* __restrict__ b_ih,
                      const float* __restrict__ b_hh, const float* __restrict__ h0, const float* __restrict__ c0,
                      float* __restrict__ hs, float* __restrict__ cs, int B, int T, int H, int t, int t_prev) {
    const int lane = threadIdx.x & 31;
    const int j = blockIdx.x * 4 + (threadIdx.x >> 5);
    const int b = blockIdx.y;
    if (j >= H || b >= B) return;
    const float* h_prev = t_prev < 0 ? h0 + (long long)b * H : hs + ((long long)b * T + t_prev) * H;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = lane; k < H; k += 32) {
        float hv = h_prev[k];
#pragma unroll
        for (int g = 0; g < 4; ++g) acc[g] = fmaf(w_hh[((long long)g * H + j) * H + k], hv, acc[g]);
    }
#pragma unroll
    for (int g = 0; g < 4; ++g) acc[g] = warp_sum(acc[g]);
    if (lane != 0) return;
    float* gr = gates + ((long long)b * T + t) * 4 * H;
    float pre[4];
#pragma unroll
    for (int g = 0; g < 4; ++g) pre[g] = gr[g * H + j] + b_ih[g * H + j] + b_hh[g * H + j] + acc[g];
    float ig = sigmoidf_(pre[0]), fg = sigmoidf_(pre[1]), gg = tanhf(pre[2]), og = sigmoidf_(pre[3]);
    float c_prev = t_prev < 0 ? c0[(long long)b * H + j] : cs[((long long)b * T + t_prev) * H + j];
    float c_new = fg * c_prev + ig * gg;
    gr[j] = ig;
    gr[H + j] = fg;
    gr[2 * H + j] = gg;
    gr[3 * H + j] = og;
    cs[((long long)b * T + t) * H + j] = c_new;
    hs[((long long)b * T + t) * H + j] = og * tanhf(c_new);
}

extern "C" __global__ void __launch_bounds__(256)
    lstm_seq_forward_fused(float* __restrict__ gates, const float* __restrict__ w_hh, const float* __restrict__ b_ih,
                           const float* __restrict__ b_hh, const float* __restrict__ h0, const float* __restrict__ c0,
                           float* __restrict__ hs, float* __restrict__ cs, int B, int T, int H, int reverse) {
    extern __shared__ float smem[];
    float* W = smem;              // [4H][H]
    float* h = W + 4 * H * H;     // [H]
    float* c = h + H;             // [H]
    float* rec = c + H;           // [4H] recurrent products of this step
    const int b = blockIdx.x, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, warps = blockDim.x >> 5;
    for (int e = tid; e < 4 * H * H; e += blockDim.x) W[e] = w_hh[e];
    for (int j = tid; j < H; j += blockDim.x) {
        h[j] = h0[(long long)b * H + j];
        c[j] = c0[(long long)b * H + j];
    }
    __syncthreads();
    for (int step = 0; step < T; ++step) {
        const int t = time_at(step, T, reverse);
        for (int r = warp; r < 4 * H; r += warps) {
            float acc = 0.0f;
            for (int k = lane; k < H; k += 32) acc = fmaf(W[r * H + k], h[k], acc);
            acc = warp_sum(acc);
            if (lane == 0) rec[r] = acc;
        }
        __syncthreads();
        float* gr = gates + ((long long)b * T + t) * 4 * H;
        for (int j = tid; j < H; j += blockDim.x) {
            float ig = sigmoidf_(gr[j] + b_ih[j] + b_hh[j] + rec[j]);
            float fg = sigmoidf_(gr[H + j] + b_ih[H + j] + b_hh[H + j] + rec[H + j]);
            float gg = tanhf(gr[2 * H + j] + b_ih[2 * H + j] + b_hh[2 * H + j] + rec[2 * H + j]);
            float og = sigmoidf_(gr[3 * H + j] + b_ih[3 * H + j] + b_hh[3 * H + j] + rec[3 * H + j]);
            float c_new = fg * c[j] + ig * gg;
            float h_new = og * tanhf(c_new);
            gr[j] = ig;
            gr[H + j] = fg;
            gr[2 * H + j] = gg;
            gr[3 * H + j] = og;
            c[j] = c_new;
            h[j] = h_new;
            cs[((long long)b * T + t) * H + j] = c_new;
            hs[((long long)b * T + t) * H + j] = h_new;
        }
        __syncthreads();
    }
}

// dpre for one (b, j) at time t; returns the new dc carry. `gr` is the gates row [4H] of (b, t).
__device__ __forceinline__ float cell_backward(const float* gr, float* dpr, int H, int j, float c_t, float c_prev,
                                               float dh, float dc_in) {
    float ig = gr[j], fg = gr[H + j], gg = gr[2 * H + j], og = gr[3 * H + j];
    float tc = tanhf(c_t);
    float dc = dc_in + dh * og * (1.0f - tc * tc);
    dpr[j] = dc * gg * ig * (1.0f - ig);
    dpr[H + j] = dc * c_prev * fg * (1.0f - fg);
    dpr[2 * H + j] = dc * ig * (1.0f - gg * gg);
    dpr[3 * H + j] = dh * tc * og * (1.0f - og);
    return dc * fg;
}

extern "C" __global__ void lstm_step_backward_cell(const float* __restrict__ gates, const float* __restrict__ cs,
                                                   const float* __restrict__ c0, const float* __restrict__ dhs,
                                                   const float* __restrict__ dh_carry, float* __restrict__ dc_carry,
                                                   float* __restrict__ dpre, int B, int T, int H, int t, int t_prev) {
    long long n = (long long)B * H;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        int j = (int)(e % H);
        long long b = e / H;
        long long bt = b * T + t;
        float c_prev = t_prev < 0 ? c0[e] : cs[(b * T + t_prev) * H + j];
        float dh = dhs[bt * H + j] + dh_carry[e];
        dc_carry[e] = cell_backward(gates + bt * 4 * H, dpre + bt * 4 * H, H, j, cs[bt * H + j], c_prev, dh, dc_carry[e]);
    }
}

extern "C" __global__ void lstm_step_backward_dh(const float* __restrict__ dpre, const float* __restrict__ w_hh,
                                                 float* __restrict__ dh_carry, int B, int T, int H, int t) {
    long long n = (long long)B * H;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        int k = (int)(e % H);
        long long b = e / H;
        const float* dp = dpre + (b * T + t) * 4 * H;
        float acc = 0.0f;
        for (int r = 0; r < 4 * H; ++r) acc = fmaf(dp[r], w_hh[(long long)r * H + k], acc);
        dh_carry[e] = acc;
    }
}

extern "C" __global__ void __launch_bounds__(256)
    lstm_seq_backward_fused(const float* __restrict__ gates, const float* __restrict__ cs, const float* __restrict__ c0,
                            const float* __restrict__ dhs, const float* __restrict__ w_hh, float* __restrict__ dpre,
                            float* __restrict__ dh0, float* __restrict__ dc0, int B, int T, int H, int reverse) {
    extern __shared__ float smem[];
    float* W = smem;              // [4H][H]
    float* dh = W + 4 * H * H;    // [H] carry into the current step
    float* dc = dh + H;           // [H]
    float* dps = dc + H;          // [4H] dpre of the current step
    const int b = blockIdx.x, tid = threadIdx.x;
    for (int e = tid; e < 4 * H * H; e += blockDim.x) W[e] = w_hh[e];
    for (int j = tid; j < H; j += blockDim.x) {
        dh[j] = 0.0f;
        dc[j] = 0.0f;
    }
    __syncthreads();
    for (int step = T - 1; step >= 0; --step) {
        const int t = time_at(step, T, reverse);
        const int t_prev = step == 0 ? -1 : time_at(step - 1, T, reverse);
        const long long bt = (long long)b * T + t;
        for (int j = tid; j < H; j += blockDim.x) {
            float c_prev = t_prev < 0 ? c0[(long long)b * H + j] : cs[((long long)b * T + t_prev) * H + j];
            float dh_in = dhs[bt * H + j] + dh[j];
            dc[j] = cell_backward(gates + bt * 4 * H, dps, H, j, cs[bt * H + j], c_prev, dh_in, dc[j]);
        }
        __syncthreads();
        for (int r = tid; r < 4 * H; r += blockDim.x) dpre[bt * 4 * H + r] = dps[r];
        for (int k = tid; k < H; k += blockDim.x) {
            float acc = 0.0f;
            for (int r = 0; r < 4 * H; ++r) acc = fmaf(dps[r], W[r * H + k], acc);
            dh[k] = acc;
        }
        __syncthreads();
    }
    for (int j = tid; j < H; j += blockDim.x) {
        dh0[(long long)b * H + j] = dh[j];
        dc0[(long long)b * H + j] = dc[j];
    }
}

// h_prev[b, t] = the hidden state the step at time t started from (h0 at the first processed step).
extern "C" __global__ void lstm_shift_h(const float* __restrict__ hs, const float* __restrict__ h0,
                                        float* __restrict__ h_prev, int B, int T, int H, int reverse) {
    long long n = (long long)B * T * H;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        int j = (int)(e % H);
        int t = (int)((e / H) % T);
        long long b = e / ((long long)H * T);
        int src = reverse ? t + 1 : t - 1;
        h_prev[e] = (src < 0 || src >= T) ? h0[b * H + j] : hs[(b * T + src) * H + j];
    }
}
