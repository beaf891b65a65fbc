// Inverted dropout with a counter-based mask: no mask buffer; every backend draws the same mask, bit for bit.
//
//   keep(i) ⇔ (mix(seed, i) >> 40) ≥ threshold          threshold = ⌈p·2^24⌉ (DropoutDims::threshold, host side)
//   y[i] = keep(i) ? x[i]·scale : 0                     scale = 1.0f/(1.0f − p) (DropoutDims::scale, host side)
//   mix(seed, i) = SplitMix64's (i+1)-th output:         z = seed + (i+1)·0x9E3779B97F4A7C15
//                                                        z = (z ^ (z >> 30))·0xBF58476D1CE4E5B9
//                                                        z = (z ^ (z >> 27))·0x94D049BB133111EB
//                                                        z ^ (z >> 31)
// (unsigned 64-bit, wrapping, exactly src/ops/dropout/mod.rs). The backward is the same kernel applied to dy with
// the same seed: the mask is recomputed, never stored, so forward and backward share `dropout_mask_scale`.
//
// Launch geometry: 256 threads per block, grid-stride loop over elements; i is the flat element index, so the
// grid shape cannot change the mask. Memory traffic: one read and one write per element; the hash is ~10 integer
// ops, below the traffic on any GPU.

__device__ __forceinline__ unsigned long long splitmix64(unsigned long long seed, unsigned long long i) {
    unsigned long long z = seed + (i + 1ull) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

extern "C" __global__ void dropout_mask_scale(const float* __restrict__ x, float* __restrict__ y, long long n,
                                              unsigned long long seed, unsigned int threshold, float scale) {
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        unsigned int u = (unsigned int)(splitmix64(seed, (unsigned long long)j) >> 40);
        y[j] = u >= threshold ? x[j] * scale : 0.0f;
    }
}

// The mask alone (1 kept, 0 dropped) for tests that compare it with the CPU's bit for bit.
extern "C" __global__ void dropout_mask(float* __restrict__ mask, long long n, unsigned long long seed,
                                        unsigned int threshold) {
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n; j += (long long)gridDim.x * blockDim.x) {
        unsigned int u = (unsigned int)(splitmix64(seed, (unsigned long long)j) >> 40);
        mask[j] = u >= threshold ? 1.0f : 0.0f;
    }
}
