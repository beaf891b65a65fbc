// CPU emulation of the CUDA C subset that kernels/*.cu use, so the kernels can run without a GPU.
//
// Every thread of a block is a std::thread; __syncthreads is a std::barrier over the block, warp shuffles
// exchange through per-warp slots between two warp-wide barriers, and `__shared__` variables are function
// statics (blocks run one after another and launches are serialised, so one copy per kernel is the block's
// shared memory). Each static registers itself with its file's `SharedVars` (a rewrite by the build), which the
// driver fills with 0xff bytes before every block. It checks semantics, not speed: it is the test double for a GPU in CI (see
// README.md here).
#pragma once
#include <math.h>

#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

using std::isnan;

struct sim_dim3 {
    unsigned int x, y, z;
};

namespace sim {

struct Warp {
    explicit Warp(std::ptrdiff_t n) : bar(n) {}
    std::barrier<> bar;
    uint64_t slots[32];
};

struct Block {
    Block(int threads, size_t smem_bytes);
    std::barrier<> bar;
    std::vector<std::unique_ptr<Warp>> warps;
    std::vector<unsigned char> smem;
};

struct Thread {
    sim_dim3 tid, bid, bdim, gdim;
    int linear;
    Block* block;
};

extern thread_local Thread self;

inline void syncthreads() { self.block->bar.arrive_and_wait(); }
inline void syncwarp() { self.block->warps[self.linear / 32]->bar.arrive_and_wait(); }

template <typename T>
T shfl_xor(T v, int off) {
    static_assert(sizeof(T) <= 8, "shuffle of a value wider than 8 bytes");
    Warp& w = *self.block->warps[self.linear / 32];
    int lane = self.linear % 32;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    w.slots[lane] = bits;
    w.bar.arrive_and_wait();
    uint64_t got = w.slots[(lane ^ off) & 31];
    w.bar.arrive_and_wait();
    T r;
    std::memcpy(&r, &got, sizeof(T));
    return r;
}

template <typename T>
T* dynamic_smem() {
    return reinterpret_cast<T*>(self.block->smem.data());
}

// The static `__shared__` variables of one source file, poisoned (0xff bytes: NaN as f32, -1 as int) when they
// register and again before every block, since a GPU leaves shared memory undefined at block start.
class SharedVars {
  public:
    bool add(void* p, size_t n) {
        std::memset(p, 0xff, n);
        std::lock_guard<std::mutex> g(m_);
        vars_.emplace_back(p, n);
        return true;
    }
    void poison() {
        std::lock_guard<std::mutex> g(m_);
        for (auto& [p, n] : vars_) std::memset(p, 0xff, n);
    }

  private:
    std::mutex m_;
    std::vector<std::pair<void*, size_t>> vars_;
};

// Registers a kernel under its name with an invoker that unpacks cuLaunchKernel's argument array, and its source
// file's static `__shared__` variables.
using Invoker = void (*)(void* fn, void** params);
void register_kernel(const char* name, void* fn, Invoker inv, SharedVars* shared);

template <typename... Args, size_t... I>
void invoke_with(void (*f)(Args...), void** params, std::index_sequence<I...>) {
    f(*static_cast<std::remove_reference_t<Args>*>(params[I])...);
}

template <typename... Args>
struct Registrar {
    Registrar(const char* name, void (*f)(Args...), SharedVars* shared) {
        register_kernel(
            name, reinterpret_cast<void*>(f),
            [](void* fn, void** params) {
                invoke_with(reinterpret_cast<void (*)(Args...)>(fn), params, std::index_sequence_for<Args...>{});
            },
            shared);
    }
};

}  // namespace sim

#define threadIdx (sim::self.tid)
#define blockIdx (sim::self.bid)
#define blockDim (sim::self.bdim)
#define gridDim (sim::self.gdim)
#define __syncthreads() sim::syncthreads()
#define __syncwarp(...) sim::syncwarp()
#define __shfl_xor_sync(mask, v, off) sim::shfl_xor((v), (off))

inline float __int_as_float(uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

// cuda_fp16.h / cuda_bf16.h stand-ins: storage types and round-to-nearest-even conversions.
struct __half {
    uint16_t bits;
};
struct __nv_bfloat16 {
    uint16_t bits;
};
inline __half __float2half_rn(float f) {
    _Float16 h = (_Float16)f;
    __half r;
    std::memcpy(&r.bits, &h, 2);
    return r;
}
inline float __half2float(__half h) {
    _Float16 v;
    std::memcpy(&v, &h.bits, 2);
    return (float)v;
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    __nv_bfloat16 r;
    if (std::isnan(f)) {
        r.bits = 0x7fc0;
    } else {
        r.bits = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
    return r;
}
inline float __bfloat162float(__nv_bfloat16 h) {
    uint32_t u = (uint32_t)h.bits << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

inline void __trap() { std::abort(); }

// <mma.h> stand-in. A fragment holds its whole 16×16 tile in every thread (the hardware spreads it over the warp in
// an unspecified layout, which no kernel may depend on); loads and products are done by each thread, stores by
// lane 0 only, so the warp-collective calls have their documented effect.
inline float sim_to_float(float v) { return v; }
inline float sim_to_float(__half v) { return __half2float(v); }
inline float sim_to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
    static_assert(M == 16 && N == 16 && K == 16, "the emulation has 16x16x16 fragments only");
    float x[256];
};

template <typename Use, typename T, typename L>
void fill_fragment(fragment<Use, 16, 16, 16, T, L>& f, float v) {
    for (float& e : f.x) e = v;
}

template <typename Use, typename T>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, row_major>& f, const T* p, unsigned ldm) {
    for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 16; ++c) f.x[r * 16 + c] = sim_to_float(p[(size_t)r * ldm + c]);
}

template <typename T>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, T, row_major>& a,
              const fragment<matrix_b, 16, 16, 16, T, row_major>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
    float out[256];
    for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 16; ++j) {
            float acc = c.x[i * 16 + j];
            for (int k = 0; k < 16; ++k) acc += a.x[i * 16 + k] * b.x[k * 16 + j];
            out[i * 16 + j] = acc;
        }
    std::memcpy(d.x, out, sizeof out);
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t) {
    if (sim::self.linear % 32 != 0) return;
    for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 16; ++c) p[(size_t)r * ldm + c] = f.x[r * 16 + c];
}
}  // namespace wmma
}  // namespace nvcuda
