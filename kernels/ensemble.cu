// Ensemble combiner: one launch turns the members' class probabilities into the ensemble's probabilities,
// confidence and class (docs/MODELS.md "Ensemble"; src/ops/ensemble/mod.rs has the formulas).
//
//   weights are per row ([batch, members]: each backtest bar has its own rolling weights)
//   c_m = max_k p_m[k],  S = Σ_m w_m c_m,  W = Σ_m w_m   (W summed here, in member order, as the CPU does)
//   combined[k] = Σ_m w_m c_m p_m[k] / S,  confidence = S / W,  top = argmax combined (ties: lowest index)
//   share = Σ_{m: argmax p_m = top} w_m / W,  class = top if confidence ≥ conf_threshold and share ≥ agreement
//                                             else hold_class (a NaN fails both tests)
//   backward (p only): dp_m[k] = dcombined[k]·w_m c_m/S + [k = argmax p_m]·(w_m/S·Σ_j dcombined[j]·(p_m[j] −
//                      combined[j]) + dconfidence·w_m/W)
//
// Launch geometry: one thread per batch row (grid-stride), each walking its members × classes in the same order as
// the CPU reference, with the products and sums written as __fmul_rn/__fadd_rn so the compiler cannot fuse them
// into FMAs: the f32 values round as on the CPU and the classes agree exactly. The backward recomputes
// the row's combined probabilities into a per-thread scratch in device memory (`scratch` [batch, classes]) rather
// than saving them. Memory traffic: one read of p forward (two backward), batch·(classes + 2) writes; member
// counts are tiny, so there is nothing to tile.

__device__ __forceinline__ int argmax_row(const float* v, int n) {
    int best = 0;
    for (int k = 1; k < n; ++k)
        if (v[k] > v[best]) best = k;
    return best;
}

// W = Σ_m w_m of one row, in member order.
__device__ __forceinline__ float row_total(const float* w, int nm) {
    float total = 0.0f;
    for (int m = 0; m < nm; ++m) total = __fadd_rn(total, w[m]);
    return total;
}

// combined row and S = Σ w_m c_m for batch row b.
__device__ __forceinline__ float combine_row(const float* pr, const float* weights, int nm, int nc, float* out) {
    for (int k = 0; k < nc; ++k) out[k] = 0.0f;
    float sum_wc = 0.0f;
    for (int m = 0; m < nm; ++m) {
        const float* pm = pr + (long long)m * nc;
        float wc = __fmul_rn(weights[m], pm[argmax_row(pm, nc)]);
        sum_wc = __fadd_rn(sum_wc, wc);
        for (int k = 0; k < nc; ++k) out[k] = __fadd_rn(out[k], __fmul_rn(wc, pm[k]));
    }
    for (int k = 0; k < nc; ++k) out[k] /= sum_wc;
    return sum_wc;
}

extern "C" __global__ void ensemble_forward(const float* __restrict__ p, const float* __restrict__ weights_all,
                                            float* __restrict__ combined, float* __restrict__ confidence,
                                            float* __restrict__ cls, int batch, int nm, int nc, int hold_class,
                                            float conf_threshold, float agreement) {
    for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < batch; b += gridDim.x * blockDim.x) {
        const float* pr = p + (long long)b * nm * nc;
        const float* weights = weights_all + (long long)b * nm;
        float total_w = row_total(weights, nm);
        float* out = combined + (long long)b * nc;
        float sum_wc = combine_row(pr, weights, nm, nc, out);
        int top = argmax_row(out, nc);
        float agreeing = 0.0f;
        for (int m = 0; m < nm; ++m)
            if (argmax_row(pr + (long long)m * nc, nc) == top) agreeing = __fadd_rn(agreeing, weights[m]);
        float conf = sum_wc / total_w;
        confidence[b] = conf;
        bool passes = conf >= conf_threshold && agreeing / total_w >= agreement;
        cls[b] = (float)(passes ? top : hold_class);
    }
}

extern "C" __global__ void ensemble_backward(const float* __restrict__ p, const float* __restrict__ weights_all,
                                             const float* __restrict__ dcombined, const float* __restrict__ dconfidence,
                                             float* __restrict__ dp, float* __restrict__ scratch, int batch, int nm,
                                             int nc) {
    for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < batch; b += gridDim.x * blockDim.x) {
        const float* pr = p + (long long)b * nm * nc;
        const float* weights = weights_all + (long long)b * nm;
        float total_w = row_total(weights, nm);
        float* comb = scratch + (long long)b * nc;
        float sum_wc = combine_row(pr, weights, nm, nc, comb);
        const float* dcomb = dcombined + (long long)b * nc;
        for (int m = 0; m < nm; ++m) {
            const float* pm = pr + (long long)m * nc;
            float* dpm = dp + ((long long)b * nm + m) * nc;
            int top_m = argmax_row(pm, nc);
            float wc = weights[m] * pm[top_m];
            float dot = 0.0f;
            for (int k = 0; k < nc; ++k) dot = __fadd_rn(dot, __fmul_rn(dcomb[k], pm[k] - comb[k]));
            float dc = weights[m] / sum_wc * dot + dconfidence[b] * weights[m] / total_w;
            for (int k = 0; k < nc; ++k) dpm[k] = dcomb[k] * wc / sum_wc;
            dpm[top_m] += dc;
        }
    }
}
