// Kernels only cuda-sim has, for the tests of the sim itself (tests/cuda_sim.rs): tools/cuda-sim/build links them
// into the fake libcuda beside kernels/*.cu; NVRTC never compiles them and no GPU has them.

// Writes `v` at p[offset] from one thread: with an offset outside the buffer it is the out-of-bounds write the
// allocation guards must catch.
extern "C" __global__ void tickgrad_sim_poke(float* p, long long offset, float v) {
    if (threadIdx.x == 0 && blockIdx.x == 0) p[offset] = v;
}

// Thread 0 of each block appends the block's index at out[*next]: the order blocks ran in (the sim runs one block
// at a time, so the unsynchronised counter is safe there; on a GPU this would race).
extern "C" __global__ void tickgrad_sim_block_order(int* out, int* next) {
    if (threadIdx.x == 0) out[(*next)++] = (int)blockIdx.x;
}

// Each of 64 threads stores the bits of its word of a static and of the dynamic shared memory as it finds them
// at block start, then overwrites both with 1.0f: a block that finds 1.0f saw the previous block's data, one that
// finds 0xffffffff saw the poison.
extern "C" __global__ void tickgrad_sim_shared_probe(unsigned* out_static, unsigned* out_dynamic) {
    __shared__ float probe[64];
    extern __shared__ float smem[];
    int t = threadIdx.x;
    unsigned bits;
    std::memcpy(&bits, &probe[t], 4);
    out_static[blockIdx.x * 64 + t] = bits;
    std::memcpy(&bits, &smem[t], 4);
    out_dynamic[blockIdx.x * 64 + t] = bits;
    __syncthreads();
    probe[t] = 1.0f;
    smem[t] = 1.0f;
}
