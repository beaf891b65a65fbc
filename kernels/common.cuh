// Helpers shared by the kernel files: warp and block reductions, −∞, the logistic function.
//
// A kernel file includes this with `#include "common.cuh"`. NVRTC gets it spliced in by the backend
// (`KernelFile::expanded_source` in src/backend/cuda/sources.rs, with `#line` directives so messages name
// common.cuh and the file's own lines); tools/cuda-sim compiles the same include with g++ (`-iquote kernels`).
// Everything here is `__forceinline__` (inline in the simulator, where every file is linked into one library).
#pragma once

// NVRTC has no <math.h> macros: −∞ as its bit pattern.
#define NEG_INF __int_as_float(0xff800000)

// The logistic function 1/(1 + e^−x), as the CPU computes it in f32.
__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

// The two reductions, as function objects for the templates below.
struct SumOp {
    __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Reduction over the 32 lanes of a warp (butterfly: every lane gets the result). All lanes must call.
template <typename Op>
__device__ __forceinline__ float warp_reduce(float v, Op op) {
    for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

// Block-wide reduction returned to every thread: each warp reduces, lane 0 of each warp writes its partial to one
// slot of `scratch` (32 floats of shared memory), then every warp reduces the partials (`identity` fills the slots
// past the last warp). blockDim.x must be a multiple of 32 and every thread of the block must call (the calls hold
// barriers). The trailing barrier lets the caller reuse `scratch` right after the call.
template <typename Op>
__device__ __forceinline__ float block_reduce(float v, float* scratch, float identity, Op op) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    v = warp_reduce(v, op);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = lane < warps ? scratch[lane] : identity;
    r = warp_reduce(r, op);
    __syncthreads();
    return r;
}

__device__ __forceinline__ float warp_sum(float v) { return warp_reduce(v, SumOp()); }
__device__ __forceinline__ float warp_max(float v) { return warp_reduce(v, MaxOp()); }
__device__ __forceinline__ float block_sum(float v, float* scratch) { return block_reduce(v, scratch, 0.0f, SumOp()); }
__device__ __forceinline__ float block_max(float v, float* scratch) { return block_reduce(v, scratch, NEG_INF, MaxOp()); }
