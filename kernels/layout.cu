// Data movement without arithmetic: permute, narrow / unnarrow (slice along an axis and its adjoint), concat.
//
//   permute:  y[J] = x[Σ_k J_k·src_stride[k]]    (J a multi-index over the output shape; rank ≤ 8)
//   narrow:   y[o, l, i] = x[o, start + l, i]
//   unnarrow: y[o, a, i] = g[o, a − start, i] if start ≤ a < start + len, else 0
//   concat:   one `copy_into` launch per part writes part p [outer, len_p, inner] at offset off_p of the middle axis
//
// Launch geometry: 256 threads per block, one thread per output element in a grid-stride loop. Writes are always
// coalesced; permute's reads are strided along the permuted axis (a tiled transpose would help large 2-D
// transposes, which the models do not have: their permutes are head splits with a contiguous last axis).
// Memory traffic: one read and one write per element.

#define MAX_RANK 8

struct Perm {
    int rank;
    int shape[MAX_RANK];       // output shape
    int src_stride[MAX_RANK];  // stride in x of each output dim
};

extern "C" __global__ void permute_copy(const float* __restrict__ x, float* __restrict__ y, long long n, Perm p) {
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        long long rest = j, src = 0;
        for (int k = p.rank - 1; k >= 0; --k) {
            src += (rest % p.shape[k]) * (long long)p.src_stride[k];
            rest /= p.shape[k];
        }
        y[j] = x[src];
    }
}

extern "C" __global__ void narrow_copy(const float* __restrict__ x, float* __restrict__ y, int outer, int axis,
                                       int inner, int start, int len) {
    long long n = (long long)outer * len * inner;
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        long long i = j % inner, l = (j / inner) % len, o = j / ((long long)len * inner);
        y[j] = x[(o * axis + start + l) * inner + i];
    }
}

extern "C" __global__ void unnarrow_copy(const float* __restrict__ g, float* __restrict__ y, int outer, int axis,
                                         int inner, int start, int len) {
    long long n = (long long)outer * axis * inner;
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        long long i = j % inner, a = (j / inner) % axis, o = j / ((long long)axis * inner);
        long long l = a - start;
        y[j] = (l >= 0 && l < len) ? g[(o * len + l) * inner + i] : 0.0f;
    }
}

// Part [outer, len, inner] into y [outer, total, inner] at middle offset `off`.
extern "C" __global__ void copy_into(const float* __restrict__ part, float* __restrict__ y, int outer, int len,
                                     int inner, int total, int off) {
    long long n = (long long)outer * len * inner;
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        long long i = j % inner, l = (j / inner) % len, o = j / ((long long)len * inner);
        y[(o * total + off + l) * inner + i] = part[j];
    }
}
