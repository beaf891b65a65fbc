// What driver.cpp and memory.cpp share: the driver API's types and result codes, the exported-symbol marker and
// the driver-call counters (read by tests through `tickgrad_sim_counters`, see memory.cpp).
#pragma once
#include <atomic>
#include <cstdint>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef void* CUcontext;
typedef void* CUstream;
typedef void* CUmodule;
typedef void* CUfunction;
typedef void* CUevent;
typedef void* CUmemoryPool;

enum : int {
    SUCCESS = 0,
    INVALID_VALUE = 1,
    OUT_OF_MEMORY = 2,
    NO_DEVICE = 100,
    INVALID_DEVICE = 101,
    INVALID_HANDLE = 400,
    NOT_FOUND = 500,
    ILLEGAL_ADDRESS = 700,
    LAUNCH_OUT_OF_RESOURCES = 701,
    NOT_SUPPORTED = 801,
};

// Only the driver API (and the sim's own tickgrad_sim_* hooks) is exported; everything else stays hidden so it
// cannot interpose on symbols of other libraries in the process (libnvrtc has internal functions with the same
// names as the emulation helpers).
#define API __attribute__((visibility("default")))

namespace sim {
// One counter per driver request a backend makes; the order is the order of `counter_names` in memory.cpp.
enum Counter {
    C_LAUNCHES,
    C_BLOCKS,
    C_ALLOCS,
    C_FREES,
    C_HTOD,
    C_HTOD_BYTES,
    C_DTOH,
    C_DTOH_BYTES,
    C_DTOD,
    C_DTOD_BYTES,
    C_MEMSETS,
    C_MEMSET_BYTES,
    C_SYNCS,
    C_STREAM_SYNCS,
    C_CTX_SYNCS,
    C_EVENT_SYNCS,
    C_STREAM_WAITS,
    C_LIVE_ALLOCS,
    C_LIVE_BYTES,
    C_GUARD_FAULTS,
    C_BOUNDS_FAULTS,
    C_COUNT
};
extern std::atomic<uint64_t> counters[C_COUNT];
inline void count(Counter c, uint64_t n = 1) { counters[c].fetch_add(n, std::memory_order_relaxed); }
}  // namespace sim
