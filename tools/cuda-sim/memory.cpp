// Device memory of the emulated driver: allocations with guard bands, copies and memsets checked against the
// allocation they touch, the default memory pool (stream-ordered allocation is supported, as on every GPU
// tickgrad targets), events, synchronisation, and the driver-call counters tests read.
//
// Guards: every allocation is laid out as [256 guard bytes][the buffer][guard bytes to the next 256 + 256] and
// the guard bytes hold GUARD_BYTE. Freeing a buffer (cuMemFree*, context release, process exit for leaked ones)
// checks both bands: damage means something wrote out of bounds, so the free returns CUDA_ERROR_ILLEGAL_ADDRESS and
// prints which allocation and which side. Each such fault is also remembered until a test takes it
// (`tickgrad_sim_take_faults`), and one not taken by process exit makes the process exit with status 1, so an
// error that cudarc only records (a free in a Drop) still fails the test binary.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unistd.h>

#include "driver.h"

namespace sim {
std::atomic<uint64_t> counters[C_COUNT];
}

namespace {
constexpr size_t GUARD = 256;
constexpr unsigned char GUARD_BYTE = 0xA5;
constexpr unsigned char FRESH_BYTE = 0xFF;  // uninitialised device memory reads as NaN (f32) / 0xFFFF (u16)

// Must follow the order of sim::Counter.
const char* const counter_names =
    "launches,blocks,allocs,frees,htod,htod_bytes,dtoh,dtoh_bytes,dtod,dtod_bytes,memsets,memset_bytes,syncs,"
    "stream_syncs,ctx_syncs,event_syncs,stream_waits,live_allocs,live_bytes,guard_faults,bounds_faults";

struct Alloc {
    size_t bytes;
    size_t total;  // guard + bytes rounded up to 256 + guard
    uint64_t id;   // 1 for the first allocation of the process, and so on
};

std::mutex table_lock;
std::map<uintptr_t, Alloc>& table() {
    static auto* t = new std::map<uintptr_t, Alloc>;  // never destroyed: the exit check reads it
    return *t;
}
uint64_t next_id = 1;
std::atomic<uint64_t> pending_faults{0};
char the_pool;

// Damaged guard bytes of `a` at user pointer `p`, reported on stderr; true when intact.
bool guards_intact(uintptr_t p, const Alloc& a, const char* when) {
    const unsigned char* raw = (const unsigned char*)(p - GUARD);
    size_t before = 0, after = 0, first_before = 0, first_after = 0;
    for (size_t i = 0; i < GUARD; ++i)
        if (raw[i] != GUARD_BYTE) {
            if (before++ == 0) first_before = GUARD - i;  // distance before the start of the last damaged byte
        }
    for (size_t i = GUARD + a.bytes; i < a.total; ++i)
        if (raw[i] != GUARD_BYTE) {
            if (after++ == 0) first_after = i - GUARD - a.bytes;
        }
    if (before == 0 && after == 0) return true;
    if (before)
        std::fprintf(stderr,
                     "cuda-sim: out-of-bounds write: allocation #%llu (%zu bytes at 0x%llx) has %zu damaged guard "
                     "bytes BEFORE its start (farthest %zu bytes before); found %s\n",
                     (unsigned long long)a.id, a.bytes, (unsigned long long)p, before, first_before, when);
    if (after)
        std::fprintf(stderr,
                     "cuda-sim: out-of-bounds write: allocation #%llu (%zu bytes at 0x%llx) has %zu damaged guard "
                     "bytes AFTER its end (first at end+%zu); found %s\n",
                     (unsigned long long)a.id, a.bytes, (unsigned long long)p, after, first_after, when);
    sim::count(sim::C_GUARD_FAULTS);
    pending_faults.fetch_add(1);
    return false;
}

CUresult alloc(CUdeviceptr* p, size_t bytes) {
    size_t total = GUARD + (bytes + 255) / 256 * 256 + GUARD;
    unsigned char* raw = (unsigned char*)std::aligned_alloc(256, total);
    if (!raw) return OUT_OF_MEMORY;
    std::memset(raw, GUARD_BYTE, total);
    std::memset(raw + GUARD, FRESH_BYTE, bytes);
    uintptr_t user = (uintptr_t)(raw + GUARD);
    {
        std::lock_guard<std::mutex> g(table_lock);
        table()[user] = Alloc{bytes, total, next_id++};
    }
    sim::count(sim::C_ALLOCS);
    sim::count(sim::C_LIVE_ALLOCS);
    sim::count(sim::C_LIVE_BYTES, bytes);
    *p = (CUdeviceptr)user;
    return SUCCESS;
}

CUresult free_buffer(CUdeviceptr p) {
    Alloc a;
    {
        std::lock_guard<std::mutex> g(table_lock);
        auto it = table().find((uintptr_t)p);
        if (it == table().end()) {
            std::fprintf(stderr, "cuda-sim: cuMemFree of 0x%llx, which is not a live allocation (double free?)\n", p);
            sim::count(sim::C_BOUNDS_FAULTS);
            pending_faults.fetch_add(1);
            return INVALID_VALUE;
        }
        a = it->second;
        table().erase(it);
    }
    sim::count(sim::C_FREES);
    sim::counters[sim::C_LIVE_ALLOCS].fetch_sub(1);
    sim::counters[sim::C_LIVE_BYTES].fetch_sub(a.bytes);
    bool ok = guards_intact((uintptr_t)p, a, "when it was freed");
    std::free((void*)(p - GUARD));
    return ok ? SUCCESS : ILLEGAL_ADDRESS;
}

// Every live allocation's guards; ILLEGAL_ADDRESS when one is damaged (each reported once: it is re-armed).
CUresult check_all(const char* when) {
    std::lock_guard<std::mutex> g(table_lock);
    CUresult r = SUCCESS;
    for (auto& [p, a] : table())
        if (!guards_intact(p, a, when)) {
            unsigned char* raw = (unsigned char*)(p - GUARD);
            std::memset(raw, GUARD_BYTE, GUARD);
            std::memset(raw + GUARD + a.bytes, GUARD_BYTE, a.total - GUARD - a.bytes);
            r = ILLEGAL_ADDRESS;
        }
    return r;
}

// Device range [p, p + n) must lie inside one live allocation (a copy or memset past a buffer's end would corrupt
// its neighbour on a GPU, or fault).
bool in_bounds(CUdeviceptr p, size_t n, const char* call) {
    if (n == 0) return true;
    std::lock_guard<std::mutex> g(table_lock);
    auto it = table().upper_bound((uintptr_t)p);
    if (it != table().begin()) {
        --it;
        if ((uintptr_t)p >= it->first && (uintptr_t)p + n <= it->first + it->second.bytes) return true;
    }
    std::fprintf(stderr, "cuda-sim: %s of %zu bytes at 0x%llx is not inside one live allocation\n", call, n, p);
    sim::count(sim::C_BOUNDS_FAULTS);
    pending_faults.fetch_add(1);
    return false;
}

// At process exit: leaked buffers' guards, then any fault no test took fails the process.
__attribute__((destructor)) void exit_check() {
    check_all("at process exit (leaked buffer)");
    uint64_t n = pending_faults.load();
    if (n > 0) {
        std::fprintf(stderr, "cuda-sim: %llu memory fault(s) (see above); exiting with status 1\n",
                     (unsigned long long)n);
        std::fflush(nullptr);
        _exit(1);
    }
}

struct Event {
    bool recorded = false;
};
}  // namespace

CUresult sim_check_all_allocations(const char* when) { return check_all(when); }

extern "C" {

API CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) { return alloc(p, bytes); }
API CUresult cuMemFree_v2(CUdeviceptr p) { return free_buffer(p); }
API CUresult cuMemAllocAsync(CUdeviceptr* p, size_t bytes, CUstream) { return alloc(p, bytes); }
API CUresult cuMemFreeAsync(CUdeviceptr p, CUstream) { return free_buffer(p); }
API CUresult cuMemAllocFromPoolAsync(CUdeviceptr* p, size_t bytes, CUmemoryPool pool, CUstream) {
    return pool == &the_pool ? alloc(p, bytes) : INVALID_HANDLE;
}

// One default pool. Stream-ordered allocation needs nothing more here: the emulated stream runs every request
// to completion before returning, so a buffer freed "in stream order" is free at once.
API CUresult cuDeviceGetDefaultMemPool(CUmemoryPool* pool, int dev) {
    if (dev != 0) return INVALID_DEVICE;
    *pool = &the_pool;
    return SUCCESS;
}
API CUresult cuDeviceGetMemPool(CUmemoryPool* pool, int dev) { return cuDeviceGetDefaultMemPool(pool, dev); }
API CUresult cuMemPoolSetAttribute(CUmemoryPool pool, int attr, void* value) {
    if (pool != &the_pool || !value || attr < 1 || attr > 8) return INVALID_VALUE;
    return SUCCESS;
}
API CUresult cuMemPoolGetAttribute(CUmemoryPool pool, int attr, void* value) {
    if (pool != &the_pool || !value || attr < 1 || attr > 8) return INVALID_VALUE;
    if (attr <= 3)
        *(int*)value = 1;  // the reuse policies are all on
    else
        *(uint64_t*)value = 0;  // threshold and byte counts: nothing kept
    return SUCCESS;
}
API CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t) { return pool == &the_pool ? SUCCESS : INVALID_VALUE; }

API CUresult cuMemsetD8Async(CUdeviceptr p, unsigned char v, size_t n, CUstream) {
    if (!in_bounds(p, n, "cuMemsetD8")) return INVALID_VALUE;
    sim::count(sim::C_MEMSETS);
    sim::count(sim::C_MEMSET_BYTES, n);
    std::memset((void*)p, v, n);
    return SUCCESS;
}
API CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) { return cuMemsetD8Async(p, v, n, nullptr); }
API CUresult cuMemsetD32Async(CUdeviceptr p, unsigned int v, size_t n, CUstream) {
    if (!in_bounds(p, n * 4, "cuMemsetD32")) return INVALID_VALUE;
    sim::count(sim::C_MEMSETS);
    sim::count(sim::C_MEMSET_BYTES, n * 4);
    unsigned int* d = (unsigned int*)p;
    for (size_t i = 0; i < n; ++i) d[i] = v;
    return SUCCESS;
}
API CUresult cuMemsetD32_v2(CUdeviceptr p, unsigned int v, size_t n) { return cuMemsetD32Async(p, v, n, nullptr); }
API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream) {
    if (!in_bounds(dst, n, "cuMemcpyHtoD")) return INVALID_VALUE;
    sim::count(sim::C_HTOD);
    sim::count(sim::C_HTOD_BYTES, n);
    std::memcpy((void*)dst, src, n);
    return SUCCESS;
}
API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) { return cuMemcpyHtoDAsync_v2(dst, src, n, nullptr); }
API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream) {
    if (!in_bounds(src, n, "cuMemcpyDtoH")) return INVALID_VALUE;
    sim::count(sim::C_DTOH);
    sim::count(sim::C_DTOH_BYTES, n);
    std::memcpy(dst, (const void*)src, n);
    return SUCCESS;
}
API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) { return cuMemcpyDtoHAsync_v2(dst, src, n, nullptr); }
API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream) {
    if (!in_bounds(dst, n, "cuMemcpyDtoD (destination)") || !in_bounds(src, n, "cuMemcpyDtoD (source)"))
        return INVALID_VALUE;
    sim::count(sim::C_DTOD);
    sim::count(sim::C_DTOD_BYTES, n);
    std::memmove((void*)dst, (const void*)src, n);
    return SUCCESS;
}
API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { return cuMemcpyDtoDAsync_v2(dst, src, n, nullptr); }
API CUresult cuMemGetInfo_v2(size_t* free_b, size_t* total) {
    *total = (size_t)1 << 32;
    uint64_t live = sim::counters[sim::C_LIVE_BYTES].load();
    *free_b = live < *total ? *total - live : 0;
    return SUCCESS;
}

// Work runs to completion inside each call, so waiting is only counted.
API CUresult cuCtxSynchronize() {
    sim::count(sim::C_SYNCS);
    sim::count(sim::C_CTX_SYNCS);
    return SUCCESS;
}
API CUresult cuStreamSynchronize(CUstream) {
    sim::count(sim::C_SYNCS);
    sim::count(sim::C_STREAM_SYNCS);
    return SUCCESS;
}
API CUresult cuEventCreate(CUevent* e, unsigned int) {
    *e = new Event;
    return SUCCESS;
}
API CUresult cuEventDestroy_v2(CUevent e) {
    delete (Event*)e;
    return SUCCESS;
}
API CUresult cuEventDestroy(CUevent e) { return cuEventDestroy_v2(e); }
API CUresult cuEventRecord(CUevent e, CUstream) {
    ((Event*)e)->recorded = true;
    return SUCCESS;
}
API CUresult cuEventRecordWithFlags(CUevent e, CUstream s, unsigned int) { return cuEventRecord(e, s); }
API CUresult cuEventSynchronize(CUevent) {
    sim::count(sim::C_SYNCS);
    sim::count(sim::C_EVENT_SYNCS);
    return SUCCESS;
}
API CUresult cuEventQuery(CUevent) { return SUCCESS; }
API CUresult cuEventElapsedTime(float* ms, CUevent, CUevent) {
    *ms = 0.0f;
    return SUCCESS;
}
API CUresult cuEventElapsedTime_v2(float* ms, CUevent a, CUevent b) { return cuEventElapsedTime(ms, a, b); }
API CUresult cuStreamWaitEvent(CUstream, CUevent, unsigned int) {
    sim::count(sim::C_STREAM_WAITS);
    return SUCCESS;
}

// The sim's own hooks for tests (absent from a real libcuda, which is how a test tells the two apart).
// Copies up to `cap` counters into `out` in the order of `tickgrad_sim_counter_names` and returns how many exist.
API size_t tickgrad_sim_counters(uint64_t* out, size_t cap) {
    for (size_t i = 0; i < cap && i < sim::C_COUNT; ++i) out[i] = sim::counters[i].load();
    return sim::C_COUNT;
}
// Comma-separated names of the counters.
API const char* tickgrad_sim_counter_names() { return counter_names; }
// Memory faults (damaged guards, copies out of bounds, bad frees) since the last call; taking them clears them,
// so a test that provokes one on purpose does not fail the process at exit.
API uint64_t tickgrad_sim_take_faults() { return pending_faults.exchange(0); }
}
