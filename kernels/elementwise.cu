// Elementwise ops: unary maps, y = a·x + b, and binary ops with numpy broadcasting, forward and backward.
//
//   unary:       y[j] = f(x[j])                  dx[j] = dy[j]·f'(x[j])  (from y where cheaper, as the CPU kernel)
//   scale_shift: y[j] = a·x[j] + b               (its backward is scale_shift with b = 0, done by the caller)
//   binary:      y[J] = a[J·sa] ∘ b[J·sb]        sa, sb: broadcast strides (0 on a dim the operand has as 1)
//                da[I] = Σ_{J over the dims a was broadcast along} ∂(a∘b)/∂a · dy[J]   (same for db)
//
// The op is a runtime switch (`op` codes below match src/ops/elementwise/cuda.rs), uniform across a launch, so
// the branch costs nothing next to the memory traffic. GELU is the exact one: x·Φ(x), Φ(x) = erfc(−x/√2)/2.
//
// Launch geometry: 256 threads per block, a grid-stride loop over elements (grid capped by the host).
// Memory traffic: one read per input element and one write per output element; everything here is memory
// bound except GELU/tanh/sigmoid/exp/log, whose transcendental is about as costly as the traffic.
//
// Variants and why they exist:
// - `binary_forward`: one thread per output element, source offsets from the multi-index over the (host-
//   collapsed) output shape, rank ≤ 8.
// - `binary_backward_direct`: one thread per element of the operand's gradient that loops over the (few)
//   output elements broadcast onto it: no atomics, deterministic, and for same-shape operands one iteration.
// - `binary_backward_warp`: one warp per operand element when many outputs fold onto it (a bias gradient
//   [rows, n] → [n]): lanes stride over the folded elements and a shuffle tree adds them.

#include "common.cuh"

#define MAX_RANK 8

// Codes shared with src/ops/elementwise/cuda.rs.
#define U_RELU 0
#define U_TANH 1
#define U_SIGMOID 2
#define U_GELU 3
#define U_EXP 4
#define U_LOG 5
#define U_NEG 6
#define U_SQRT 7
#define U_ABS 8
#define U_SQUARE 9
#define U_SIGN 10

#define B_ADD 0
#define B_SUB 1
#define B_MUL 2
#define B_DIV 3
#define B_MAX 4
#define B_MIN 5

// Output shape and the two operands' broadcast strides, collapsed on the host (rank ≤ MAX_RANK).
struct Bcast {
    int rank;
    int shape[MAX_RANK];
    int sa[MAX_RANK];
    int sb[MAX_RANK];
};

__device__ __forceinline__ float unary_value(int op, float x) {
    switch (op) {
    case U_RELU: return x < 0.0f ? 0.0f : x;  // NaN propagates
    case U_TANH: return tanhf(x);
    case U_SIGMOID: return sigmoidf_(x);
    case U_GELU: return x * 0.5f * erfcf(-x * 0.70710678118654752f);
    case U_EXP: return expf(x);
    case U_LOG: return logf(x);
    case U_NEG: return -x;
    case U_SQRT: return sqrtf(x);
    case U_ABS: return fabsf(x);
    case U_SQUARE: return x * x;
    default: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);  // U_SIGN: ±0 and NaN pass through
    }
}

__device__ __forceinline__ float sign_of(float x) {
    return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
}

__device__ __forceinline__ float unary_grad(int op, float x, float y, float g) {
    switch (op) {
    case U_RELU: return x > 0.0f ? g : 0.0f;
    case U_TANH: return g * (1.0f - y * y);
    case U_SIGMOID: return g * y * (1.0f - y);
    case U_GELU: {
        // Φ(x) + x·φ(x)
        float cdf = 0.5f * erfcf(-x * 0.70710678118654752f);
        float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
        return g * (cdf + x * pdf);
    }
    case U_EXP: return g * y;
    case U_LOG: return g / x;
    case U_NEG: return -g;
    case U_SQRT: return g / (2.0f * y);
    case U_ABS: return g * sign_of(x);
    case U_SQUARE: return g * 2.0f * x;
    default: return 0.0f;  // U_SIGN
    }
}

extern "C" __global__ void unary_forward(const float* __restrict__ x, float* __restrict__ y, long long n, int op) {
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        y[j] = unary_value(op, x[j]);
    }
}

// x is read only for ops whose gradient needs the input, y only for those that need the output; the host
// passes a valid (possibly one-element) buffer for the other.
extern "C" __global__ void unary_backward(const float* __restrict__ x, const float* __restrict__ y,
                                          const float* __restrict__ dy, float* __restrict__ dx, long long n, int op,
                                          int read_x, int read_y) {
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        float xv = read_x ? x[j] : 0.0f;
        float yv = read_y ? y[j] : 0.0f;
        dx[j] = unary_grad(op, xv, yv, dy[j]);
    }
}

extern "C" __global__ void scale_shift(const float* __restrict__ x, float* __restrict__ y, long long n, float a,
                                       float b) {
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        y[j] = a * x[j] + b;
    }
}

__device__ __forceinline__ float binary_value(int op, float a, float b) {
    switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_MAX: return (isnan(a) || a > b) ? a : b;
    default: return (isnan(a) || a < b) ? a : b;  // B_MIN
    }
}

// ∂(a∘b)/∂a·g when `wrt_b` is 0, ∂(a∘b)/∂b·g otherwise. Ties of max/min split the gradient equally.
__device__ __forceinline__ float binary_grad(int op, float a, float b, float g, int wrt_b) {
    switch (op) {
    case B_ADD: return g;
    case B_SUB: return wrt_b ? -g : g;
    case B_MUL: return wrt_b ? g * a : g * b;
    case B_DIV: return wrt_b ? -g * a / (b * b) : g / b;
    default: {
        bool a_wins = op == B_MAX ? (a > b) : (a < b);
        if (a == b) return 0.5f * g;
        return (a_wins != (wrt_b != 0)) ? g : 0.0f;
    }
    }
}

// Offsets into a and b of output element j.
__device__ __forceinline__ void source_offsets(const Bcast& d, long long j, long long* ia, long long* ib) {
    long long oa = 0, ob = 0;
    for (int k = d.rank - 1; k >= 0; --k) {
        long long c = j % d.shape[k];
        j /= d.shape[k];
        oa += c * d.sa[k];
        ob += c * d.sb[k];
    }
    *ia = oa;
    *ib = ob;
}

extern "C" __global__ void binary_forward(const float* __restrict__ a, const float* __restrict__ b,
                                          float* __restrict__ y, long long n, int op, Bcast d) {
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        long long ia, ib;
        source_offsets(d, j, &ia, &ib);
        y[j] = binary_value(op, a[ia], b[ib]);
    }
}

// Offset into the output of the r-th element folded onto operand element i. A dim is folded (reduced) when the
// operand's stride there is 0 and the output is longer than 1; otherwise it is one of the operand's own dims.
__device__ __forceinline__ long long folded_out_offset(const Bcast& d, const int* s_op, long long i, long long r) {
    long long off = 0, stride = 1;
    for (int k = d.rank - 1; k >= 0; --k) {
        long long c;
        if (s_op[k] == 0 && d.shape[k] > 1) {
            c = r % d.shape[k];
            r /= d.shape[k];
        } else {
            c = i % d.shape[k];
            i /= d.shape[k];
        }
        off += c * stride;
        stride *= d.shape[k];
    }
    return off;
}

// The gradient of one operand element i: Σ over its `folds` output elements. a and b are read only when
// `read_ab` (Mul, Div, Max, Min).
__device__ __forceinline__ float fold_grad(const Bcast& d, const float* a, const float* b, const float* dy, int op,
                                           int wrt_b, int read_ab, long long i, long long r) {
    long long j = folded_out_offset(d, wrt_b ? d.sb : d.sa, i, r);
    float av = 0.0f, bv = 0.0f;
    if (read_ab) {
        long long ia, ib;
        source_offsets(d, j, &ia, &ib);
        av = a[ia];
        bv = b[ib];
    }
    return binary_grad(op, av, bv, dy[j], wrt_b);
}

extern "C" __global__ void binary_backward_direct(const float* __restrict__ a, const float* __restrict__ b,
                                                  const float* __restrict__ dy, float* __restrict__ dx, long long n_op,
                                                  long long folds, int op, int wrt_b, int read_ab, Bcast d) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n_op;
         i += (long long)gridDim.x * blockDim.x) {
        float acc = 0.0f;
        for (long long r = 0; r < folds; ++r) acc += fold_grad(d, a, b, dy, op, wrt_b, read_ab, i, r);
        dx[i] = acc;
    }
}

extern "C" __global__ void binary_backward_warp(const float* __restrict__ a, const float* __restrict__ b,
                                                const float* __restrict__ dy, float* __restrict__ dx, long long n_op,
                                                long long folds, int op, int wrt_b, int read_ab, Bcast d) {
    int lane = threadIdx.x & 31;
    long long warp = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5;
    long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long i = warp; i < n_op; i += warps) {
        float acc = 0.0f;
        for (long long r = lane; r < folds; r += 32) acc += fold_grad(d, a, b, dy, op, wrt_b, read_ab, i, r);
        acc = warp_sum(acc);
        if (lane == 0) dx[i] = acc;
    }
}
