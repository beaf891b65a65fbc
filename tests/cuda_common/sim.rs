//! The hooks cuda-sim (tools/cuda-sim) exports beside the driver API: its own count of the driver calls this
//! process made (launches, allocations, frees, copies and their bytes, synchronisations) and the memory faults its
//! allocation guards found. A real libcuda has none of them, which is how a test tells the sim from a GPU. The
//! counts are the independent side for checking what the backend says it asked of the driver.

use libloading::Library;
use std::collections::HashMap;
use std::ffi::{c_char, CStr};

/// The loaded cuda-sim library.
pub struct Sim {
    lib: Library,
    names: Vec<String>,
}

/// A snapshot of the sim's counters, by the names `tickgrad_sim_counter_names` gives.
#[derive(Clone, Debug)]
pub struct Counts(HashMap<String, u64>);

impl Counts {
    /// The counter `name`; a name the sim does not have is a bug in the test.
    #[track_caller]
    pub fn get(&self, name: &str) -> u64 {
        *self.0.get(name).unwrap_or_else(|| panic!("cuda-sim has no counter {name:?} (it has {:?})", self.0.keys()))
    }

    /// How much counter `name` grew since `before` (the cumulative counters only: not `live_*`).
    #[track_caller]
    pub fn since(&self, before: &Counts, name: &str) -> u64 {
        self.get(name) - before.get(name)
    }
}

impl Sim {
    /// The sim when the libcuda this process loaded is cuda-sim; None for a real driver (or none at all).
    pub fn get() -> Option<Sim> {
        // SAFETY: opens the libcuda.so.1 the CUDA backend already loaded (the dynamic loader hands back the same,
        // initialised library); nothing of it runs here.
        let lib = unsafe { Library::new("libcuda.so.1") }.ok()?;
        // SAFETY: the sim exports this name with exactly this signature (tools/cuda-sim/memory.cpp); a real driver
        // does not export it, and then `get` fails before any call.
        let names: libloading::Symbol<unsafe extern "C" fn() -> *const c_char> =
            unsafe { lib.get(b"tickgrad_sim_counter_names\0") }.ok()?;
        // SAFETY: the sim returns a pointer to a static NUL-terminated string.
        let names = unsafe { CStr::from_ptr(names()) }.to_string_lossy().split(',').map(str::to_owned).collect();
        Some(Sim { lib, names })
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        // SAFETY: the signature of tickgrad_sim_counters in tools/cuda-sim/memory.cpp; it writes at most `cap`
        // values into the buffer it is given, which holds `cap`.
        unsafe {
            let f: libloading::Symbol<unsafe extern "C" fn(*mut u64, usize) -> usize> =
                self.lib.get(b"tickgrad_sim_counters\0").expect("cuda-sim exports tickgrad_sim_counters");
            let mut values = vec![0u64; self.names.len()];
            let n = f(values.as_mut_ptr(), values.len());
            assert_eq!(n, self.names.len(), "cuda-sim: counter names and values disagree");
            Counts(self.names.iter().cloned().zip(values).collect())
        }
    }

    /// Memory faults (damaged guards, copies out of bounds, bad frees) since the last call; taking them keeps a
    /// fault provoked on purpose from failing the process at exit.
    pub fn take_faults(&self) -> u64 {
        // SAFETY: the signature of tickgrad_sim_take_faults in tools/cuda-sim/memory.cpp.
        unsafe {
            let f: libloading::Symbol<unsafe extern "C" fn() -> u64> =
                self.lib.get(b"tickgrad_sim_take_faults\0").expect("cuda-sim exports tickgrad_sim_take_faults");
            f()
        }
    }
}
