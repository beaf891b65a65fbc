// A fake libcuda.so.1 over sim.h: the driver API calls cudarc makes, with host memory as device memory and
// kernels looked up by name among the emulated kernels linked into this library (the PTX handed to
// cuModuleLoadData is ignored: NVRTC still compiles it for real, which is checked separately).
// TICKGRAD_SIM_NO_DEVICE=1 makes cuInit fail with CUDA_ERROR_NO_DEVICE, as a machine with a driver but no GPU.
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "driver.h"
#include "sim.h"

CUresult sim_check_all_allocations(const char* when);  // memory.cpp

namespace sim {
thread_local Thread self;

Block::Block(int threads, size_t smem_bytes) : bar(threads), smem(smem_bytes + 16) {
    for (int w = 0; w * 32 < threads; ++w) warps.emplace_back(new Warp(std::min(32, threads - w * 32)));
}

struct Kernel {
    std::string name;
    void* fn;
    Invoker inv;
    SharedVars* shared;  // the static `__shared__` variables of the kernel's source file
    int max_dynamic_smem = 48 * 1024;
};

static std::map<std::string, Kernel>& registry() {
    static std::map<std::string, Kernel> r;
    return r;
}

void register_kernel(const char* name, void* fn, Invoker inv, SharedVars* shared) {
    registry()[name] = Kernel{name, fn, inv, shared};
}
}  // namespace sim

static std::mutex launch_lock;
static thread_local CUcontext current_ctx = nullptr;
static char the_context;
static char the_module;


extern "C" {

API CUresult cuInit(unsigned int) {
    const char* v = std::getenv("TICKGRAD_SIM_NO_DEVICE");
    return (v && *v && *v != '0') ? NO_DEVICE : SUCCESS;
}
API CUresult cuDriverGetVersion(int* v) {
    *v = 13000;
    return SUCCESS;
}
API CUresult cuDeviceGetCount(int* n) {
    *n = cuInit(0) == SUCCESS ? 1 : 0;
    return SUCCESS;
}
API CUresult cuDeviceGet(int* dev, int ordinal) {
    if (ordinal != 0) return INVALID_DEVICE;
    *dev = 0;
    return SUCCESS;
}
API CUresult cuDeviceGetAttribute(int* v, int attrib, int) {
    switch (attrib) {
    case 75: *v = 9; break;        // compute capability major
    case 76: *v = 0; break;        // minor
    case 97: *v = 232448; break;   // max shared memory per block (opt-in), as an H100
    case 8: *v = 49152; break;     // max shared memory per block
    case 1: *v = 1024; break;      // max threads per block
    case 115: *v = 1; break;       // memory pools supported (memory.cpp): cudarc uses cuMemAllocAsync / cuMemFreeAsync
    default: *v = 0; break;
    }
    return SUCCESS;
}
API CUresult cuDeviceGetName(char* name, int len, int) {
    std::snprintf(name, (size_t)len, "tickgrad-sim (CPU emulation of a CUDA device)");
    return SUCCESS;
}
API CUresult cuDeviceTotalMem_v2(size_t* bytes, int) {
    *bytes = (size_t)1 << 32;
    return SUCCESS;
}
API CUresult cuDevicePrimaryCtxRetain(CUcontext* c, int) {
    *c = &the_context;
    return SUCCESS;
}
// Releasing the context checks every live buffer's guards (memory.cpp).
API CUresult cuDevicePrimaryCtxRelease_v2(int) { return sim_check_all_allocations("when the context was released"); }
API CUresult cuCtxGetCurrent(CUcontext* c) {
    *c = current_ctx;
    return SUCCESS;
}
API CUresult cuCtxSetCurrent(CUcontext c) {
    current_ctx = c;
    return SUCCESS;
}
API CUresult cuModuleLoadData(CUmodule* m, const void*) {
    *m = &the_module;
    return SUCCESS;
}
API CUresult cuModuleUnload(CUmodule) { return SUCCESS; }
API CUresult cuModuleGetFunction(CUfunction* f, CUmodule, const char* name) {
    auto it = sim::registry().find(name);
    if (it == sim::registry().end()) return NOT_FOUND;
    *f = &it->second;
    return SUCCESS;
}
API CUresult cuFuncSetAttribute(CUfunction f, int attrib, int value) {
    if (attrib == 8) ((sim::Kernel*)f)->max_dynamic_smem = value;  // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    return SUCCESS;
}
API CUresult cuFuncGetAttribute(int* v, int, CUfunction) {
    *v = 0;
    return SUCCESS;
}

// Persistent workers, one per thread of the largest block seen: a launch wakes the first `threads` of them, which
// walk the grid block by block; a barrier over the launch separates blocks, and its completion step (run by one
// thread while the others wait) builds the next block's barriers and poisons its shared memory, static and dynamic
// (0xff bytes: NaN as f32, -1 as int), since a GPU leaves it undefined.
//
// Blocks run in a shuffled order: a GPU gives no order, so a kernel whose result depends on block 0 running before
// block 1 must fail here too. The permutation comes from CUDA_SIM_SEED (default 0x5eed; `off` runs blocks in
// order), the kernel's name and the launch geometry, so it does not depend on which test thread launched first:
// runs are reproducible. (Blocks cannot run concurrently: static `__shared__` variables are one copy per file.)
namespace {
uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// The seed of the block order, or nothing when CUDA_SIM_SEED=off.
const uint64_t* order_seed() {
    static const uint64_t* seed = [] {
        static uint64_t s = 0x5eed;
        const char* v = std::getenv("CUDA_SIM_SEED");
        if (v && std::strcmp(v, "off") == 0) return (const uint64_t*)nullptr;
        if (v && *v) s = std::strtoull(v, nullptr, 0);
        return (const uint64_t*)&s;
    }();
    return seed;
}

// Fills `order` with the launch's block indices, shuffled (Fisher-Yates) unless the order is switched off.
void block_order(std::vector<uint32_t>& order, size_t blocks, const std::string& name, const unsigned dims[6]) {
    order.resize(blocks);
    for (size_t i = 0; i < blocks; ++i) order[i] = (uint32_t)i;
    const uint64_t* seed = order_seed();
    if (!seed || blocks < 2) return;
    uint64_t s = *seed;
    for (char c : name) s = (s ^ (unsigned char)c) * 0x100000001b3ull;
    for (int i = 0; i < 6; ++i) s = (s ^ dims[i]) * 0x100000001b3ull;
    for (size_t i = blocks - 1; i > 0; --i) std::swap(order[i], order[splitmix(s) % (i + 1)]);
}

struct Job {
    sim::Kernel* k;
    void** params;
    unsigned gx, gy, gz, bx, by, bz, smem;
    int threads;
};

class Pool {
  public:
    void run(const Job& j) {
        std::unique_lock<std::mutex> lock(m_);
        while ((int)workers_.size() < j.threads) {
            int id = (int)workers_.size();
            workers_.emplace_back([this, id] { work(id); });
        }
        job_ = j;
        next_ = 0;
        blocks_ = (size_t)j.gx * j.gy * j.gz;
        const unsigned dims[6] = {j.gx, j.gy, j.gz, j.bx, j.by, j.bz};
        block_order(order_, blocks_, j.k->name, dims);
        make_block();
        launch_bar_.reset(new std::barrier<Step>(j.threads, Step{this}));
        remaining_ = j.threads;
        ++generation_;
        start_.notify_all();
        done_.wait(lock, [this] { return remaining_ == 0; });
    }

  private:
    struct Step {
        Pool* pool;
        void operator()() noexcept { pool->make_block(); }
    };

    // Called with every worker of the launch waiting (or before any runs).
    void make_block() {
        if (next_ >= blocks_) return;
        index_ = order_[next_++];
        block_.reset(new sim::Block(job_.threads, job_.smem));
        std::memset(block_->smem.data(), 0xff, block_->smem.size());
        job_.k->shared->poison();
    }

    void work(int id) {
        uint64_t seen = 0;
        for (;;) {
            {
                std::unique_lock<std::mutex> lock(m_);
                start_.wait(lock, [&] { return generation_ != seen; });
                seen = generation_;
                if (id >= job_.threads) continue;
            }
            const Job j = job_;
            for (size_t b = 0; b < blocks_; ++b) {
                sim::Block* block = block_.get();
                size_t idx = index_;
                sim::self.tid = {(unsigned)(id % j.bx), (unsigned)(id / j.bx % j.by), (unsigned)(id / (j.bx * j.by))};
                sim::self.bid = {(unsigned)(idx % j.gx), (unsigned)(idx / j.gx % j.gy), (unsigned)(idx / ((size_t)j.gx * j.gy))};
                sim::self.bdim = {j.bx, j.by, j.bz};
                sim::self.gdim = {j.gx, j.gy, j.gz};
                sim::self.linear = id;
                sim::self.block = block;
                j.k->inv(j.k->fn, j.params);
                block->warps[id / 32]->bar.arrive_and_drop();
                block->bar.arrive_and_drop();
                launch_bar_->arrive_and_wait();
            }
            std::lock_guard<std::mutex> lock(m_);
            if (--remaining_ == 0) done_.notify_all();
        }
    }

    std::mutex m_;
    std::condition_variable start_, done_;
    std::vector<std::thread> workers_;
    uint64_t generation_ = 0;
    int remaining_ = 0;
    Job job_{};
    size_t blocks_ = 0, next_ = 0, index_ = 0;
    std::vector<uint32_t> order_;
    std::unique_ptr<sim::Block> block_;
    std::unique_ptr<std::barrier<Step>> launch_bar_;
};

Pool& pool() {
    // Never destroyed: its workers sleep until the process exits.
    static Pool* p = new Pool;
    return *p;
}
}  // namespace

API CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                            unsigned smem, CUstream, void** params, void**) {
    sim::Kernel* k = (sim::Kernel*)f;
    int threads = (int)(bx * by * bz);
    if (threads <= 0 || threads > 1024 || gx == 0 || gy == 0 || gz == 0) return INVALID_VALUE;
    if ((int)smem > k->max_dynamic_smem) return LAUNCH_OUT_OF_RESOURCES;
    std::lock_guard<std::mutex> guard(launch_lock);
    sim::count(sim::C_LAUNCHES);
    sim::count(sim::C_BLOCKS, (uint64_t)gx * gy * gz);
    pool().run(Job{k, params, gx, gy, gz, bx, by, bz, smem, threads});
    return SUCCESS;
}

// Internal tables other NVIDIA libraries (libnvrtc) ask the driver for; the emulation has none.
API CUresult cuGetExportTable(const void** table, const void*) {
    *table = nullptr;
    return NOT_SUPPORTED;
}
API CUresult cuGetErrorString(int e, const char** s) {
    switch (e) {
    case NO_DEVICE: *s = "no CUDA-capable device is detected"; break;
    case INVALID_DEVICE: *s = "invalid device ordinal"; break;
    case NOT_FOUND: *s = "named symbol not found"; break;
    case LAUNCH_OUT_OF_RESOURCES: *s = "too many resources requested for launch"; break;
    case ILLEGAL_ADDRESS: *s = "an illegal memory access was encountered (cuda-sim: a buffer's guard was damaged)"; break;
    case INVALID_VALUE: *s = "invalid argument"; break;
    default: *s = "tickgrad-sim error"; break;
    }
    return SUCCESS;
}
API CUresult cuGetErrorName(int e, const char** s) {
    switch (e) {
    case NO_DEVICE: *s = "CUDA_ERROR_NO_DEVICE"; break;
    case INVALID_DEVICE: *s = "CUDA_ERROR_INVALID_DEVICE"; break;
    case NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; break;
    case ILLEGAL_ADDRESS: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; break;
    case INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; break;
    case LAUNCH_OUT_OF_RESOURCES: *s = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"; break;
    default: *s = "CUDA_ERROR_UNKNOWN"; break;
    }
    return SUCCESS;
}
}
