//! Device memory and driver traffic, shared by the GPU backends: the counters of what each backend asks of its
//! driver, the byte budget of a device, and the size-class free lists of the caching allocators.
//!
//! Why a cache: every op writes a fresh output buffer, so a training step or a `predict` call would otherwise ask
//! the driver for memory dozens of times (and, on CUDA without a stream-ordered pool, synchronise on every free).
//! Freed buffers go back to a free list keyed by their size class and the next request of that class takes one,
//! so after a warm-up a loop of identical steps asks the driver for nothing — which the counters let a test check.
//!
//! Why a budget: a device shared with other work (or a test that wants to provoke the fault) must be able to say
//! "no" before the driver does. A request that would take the bytes in use beyond the budget first releases the
//! cached free blocks, then fails with an error naming the op, its dims, the bytes requested, the bytes in use
//! and the budget. The budget comes from `TICKGRAD_GPU_MEMORY_BUDGET` (read when the device is created) and can be
//! changed at any time with [`super::set_memory_budget`].

// A build without GPU backends keeps the public counters and parsing but has no pool to use.
#![cfg_attr(not(any(feature = "cuda", feature = "wgpu")), allow(dead_code))]

use crate::{Error, Result};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The environment variable holding a device memory budget (`64MiB`, `1GiB`, `500MB`, or plain bytes).
pub const BUDGET_ENV: &str = "TICKGRAD_GPU_MEMORY_BUDGET";

/// Cached free bytes above this are released to the driver instead of kept.
const MAX_CACHED_BYTES: u64 = 1 << 30;

/// What a GPU backend asked of its driver, counted where each call is made: kernel launches (wgpu dispatches),
/// buffers created by the driver (reuses from the free lists are not counted), bytes copied host → device and
/// device → host by `upload`/`download` (kernel parameters travel with the launch and are not counted), waits
/// for the device, and device → device copy commands (wgpu's multi-tensor optimizer gathers a group's gradients
/// into one buffer with them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverCounters {
    pub launches: u64,
    pub allocs: u64,
    pub htod_bytes: u64,
    pub dtoh_bytes: u64,
    pub syncs: u64,
    pub copies: u64,
}

impl DriverCounters {
    /// The calls made between `earlier` (a previous snapshot of the same device) and `self`.
    pub fn since(&self, earlier: &DriverCounters) -> DriverCounters {
        DriverCounters {
            launches: self.launches.saturating_sub(earlier.launches),
            allocs: self.allocs.saturating_sub(earlier.allocs),
            htod_bytes: self.htod_bytes.saturating_sub(earlier.htod_bytes),
            dtoh_bytes: self.dtoh_bytes.saturating_sub(earlier.dtoh_bytes),
            syncs: self.syncs.saturating_sub(earlier.syncs),
            copies: self.copies.saturating_sub(earlier.copies),
        }
    }
}

impl fmt::Display for DriverCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "launches={} allocs={} htod_bytes={} dtoh_bytes={} syncs={} copies={}",
            self.launches, self.allocs, self.htod_bytes, self.dtoh_bytes, self.syncs, self.copies
        )
    }
}

/// The live counters of one device (relaxed atomics: they are statistics, not synchronisation).
#[derive(Default)]
pub(crate) struct Counters {
    launches: AtomicU64,
    allocs: AtomicU64,
    htod_bytes: AtomicU64,
    dtoh_bytes: AtomicU64,
    syncs: AtomicU64,
    copies: AtomicU64,
}

impl Counters {
    pub(crate) fn launches(&self, n: u64) {
        self.launches.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn alloc(&self) {
        self.allocs.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn htod(&self, bytes: u64) {
        self.htod_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub(crate) fn dtoh(&self, bytes: u64) {
        self.dtoh_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub(crate) fn sync(&self) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
    }
    #[cfg_attr(not(feature = "wgpu"), allow(dead_code))]
    pub(crate) fn copies(&self, n: u64) {
        self.copies.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn snapshot(&self) -> DriverCounters {
        DriverCounters {
            launches: self.launches.load(Ordering::Relaxed),
            allocs: self.allocs.load(Ordering::Relaxed),
            htod_bytes: self.htod_bytes.load(Ordering::Relaxed),
            dtoh_bytes: self.dtoh_bytes.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            copies: self.copies.load(Ordering::Relaxed),
        }
    }
}

/// Device memory held by one device's allocator, in bytes (rounded up to size classes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes in buffers that are alive (held by tensors, or by a call in flight).
    pub in_use: u64,
    /// Bytes in free buffers kept for reuse.
    pub cached: u64,
    /// The largest `in_use` seen.
    pub peak: u64,
    /// The budget `in_use` may not exceed, if one is set.
    pub budget: Option<u64>,
}

/// What an allocation is for — the op family and output, and the dims of the call — formatted only when an error
/// names it, so the common path costs nothing: `be.alloc(d.len(), For("softmax y", d))`.
#[derive(Clone, Copy)]
pub struct For<'a>(pub &'static str, pub &'a dyn fmt::Debug);

impl fmt::Display for For<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.0, self.1)
    }
}

/// A byte count as written by a person: plain bytes, or a number with `KiB`/`MiB`/`GiB` (powers of 1024) or
/// `KB`/`MB`/`GB` (powers of 1000); `K`/`M`/`G` alone mean the binary units.
pub fn parse_bytes(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(bad_bytes(text)),
    };
    let value: f64 = num.parse().map_err(|_| bad_bytes(text))?;
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad_bytes(text));
    }
    Ok(bytes as u64)
}

fn bad_bytes(text: &str) -> Error {
    Error::config(BUDGET_ENV, format!("expected a byte count such as 67108864, 64MiB or 1GiB, found {text:?}"))
}

/// The budget set by `TICKGRAD_GPU_MEMORY_BUDGET`, or None when the variable is unset or empty.
pub fn budget_from_env() -> Result<Option<u64>> {
    match std::env::var(BUDGET_ENV) {
        Ok(v) if !v.trim().is_empty() => parse_bytes(&v).map(Some),
        _ => Ok(None),
    }
}

/// The answer of [`Pool::take`]: a cached buffer, or permission (already counted as in use) to ask the driver.
pub(crate) enum Grant<B> {
    Reused(B),
    Fresh,
}

struct State<K, B> {
    free: HashMap<(K, u64), Vec<B>>,
    in_use: u64,
    cached: u64,
    peak: u64,
    budget: Option<u64>,
}

/// Free lists by (kind, size class) and the accounting of one device's memory. `B` is the backend's buffer type;
/// dropping one returns its memory to the driver, which happens only when the cache is full or trimmed.
pub(crate) struct Pool<K, B> {
    state: Mutex<State<K, B>>,
}

impl<K: Copy + Eq + Hash, B> Pool<K, B> {
    pub(crate) fn new(budget: Option<u64>) -> Self {
        Pool { state: Mutex::new(State { free: HashMap::new(), in_use: 0, cached: 0, peak: 0, budget }) }
    }

    /// Accounting survives a panic elsewhere: the counters are plain numbers, never left half-updated.
    fn lock(&self) -> MutexGuard<'_, State<K, B>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A buffer of `class` bytes: a cached one of that kind and class, or a grant to create one. Over the budget,
    /// the cached buffers are released first; if the live bytes alone leave no room, `over(in_use, budget)` is
    /// the error.
    pub(crate) fn take(&self, kind: K, class: u64, over: impl FnOnce(u64, u64) -> Error) -> Result<Grant<B>> {
        let mut released = Vec::new();
        let grant = {
            let mut s = self.lock();
            if let Some(b) = s.free.get_mut(&(kind, class)).and_then(|v| v.pop()) {
                s.cached -= class;
                s.in_use += class;
                s.peak = s.peak.max(s.in_use);
                return Ok(Grant::Reused(b));
            }
            if let Some(budget) = s.budget {
                if s.in_use + s.cached + class > budget {
                    released = drain(&mut s);
                }
                if s.in_use + class > budget {
                    let in_use = s.in_use;
                    drop(s);
                    drop(released);
                    return Err(over(in_use, budget));
                }
            }
            s.in_use += class;
            s.peak = s.peak.max(s.in_use);
            Grant::Fresh
        };
        // Freed outside the lock: a driver free may wait for the device.
        drop(released);
        Ok(grant)
    }

    /// A fresh buffer granted by `take` could not be created: it is not in use after all.
    pub(crate) fn not_created(&self, class: u64) {
        let mut s = self.lock();
        s.in_use = s.in_use.saturating_sub(class);
    }

    /// A buffer of `class` bytes is free again: cache it, or release it when the cache is full.
    pub(crate) fn give(&self, kind: K, class: u64, buf: B) {
        let mut s = self.lock();
        s.in_use = s.in_use.saturating_sub(class);
        let room = s.budget.is_none_or(|b| s.in_use + s.cached + class <= b);
        if room && s.cached + class <= MAX_CACHED_BYTES {
            s.cached += class;
            s.free.entry((kind, class)).or_default().push(buf);
        } else {
            drop(s);
            drop(buf);
        }
    }
}

/// A device's allocator seen without its buffer type: what `backend::{memory_stats, set_memory_budget, trim_memory,
/// reset_memory_peak}` ask of every GPU backend's pool through one function (`backend::gpu_memory`).
pub(crate) trait PoolControl: Sync {
    /// Release every cached buffer to the driver (the memory in use is untouched).
    fn trim(&self);
    /// Set or clear the budget; cached buffers are released when they no longer fit under it.
    fn set_budget(&self, budget: Option<u64>);
    /// Start a new peak from the bytes in use now.
    fn reset_peak(&self);
    fn stats(&self) -> MemoryStats;
}

impl<K: Copy + Eq + Hash + Send, B: Send> PoolControl for Pool<K, B> {
    fn trim(&self) {
        let released = drain(&mut self.lock());
        drop(released);
    }

    fn set_budget(&self, budget: Option<u64>) {
        let mut s = self.lock();
        s.budget = budget;
        let released = if budget.is_some_and(|b| s.in_use + s.cached > b) { drain(&mut s) } else { Vec::new() };
        drop(s);
        drop(released);
    }

    fn reset_peak(&self) {
        let mut s = self.lock();
        s.peak = s.in_use;
    }

    fn stats(&self) -> MemoryStats {
        let s = self.lock();
        MemoryStats { in_use: s.in_use, cached: s.cached, peak: s.peak, budget: s.budget }
    }
}

fn drain<K, B>(s: &mut State<K, B>) -> Vec<B> {
    s.cached = 0;
    s.free.drain().flat_map(|(_, v)| v).collect()
}

/// The error of a request beyond the budget, the same wording on every device.
pub(crate) fn over_budget(device: &str, what: For, bytes: u64, in_use: u64, budget: u64) -> Error {
    Error::Device(format!(
        "{device}: out of device memory budget: {what} needs {bytes} bytes, {in_use} bytes are in use and the \
         budget is {budget} bytes (cached free blocks were released first; raise {BUDGET_ENV} or \
         backend::set_memory_budget)"
    ))
}

/// Byte size a request is rounded up to: at least 256, then steps of an eighth of the next power of two, so a
/// reused buffer wastes under 25 % while similar shapes (a growing batch) still share a class.
pub fn size_class(bytes: u64) -> u64 {
    if bytes <= 256 {
        return 256;
    }
    let p = bytes.next_power_of_two();
    let step = (p / 8).max(256);
    bytes.div_ceil(step) * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_parse_with_units_and_reject_junk() {
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes(" 1GiB ").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("2MB").unwrap(), 2_000_000);
        for bad in ["", "MiB", "12 parsecs", "-3", "1e999"] {
            let e = parse_bytes(bad).unwrap_err().to_string();
            assert!(e.contains(BUDGET_ENV) && e.contains("64MiB"), "{bad}: {e}");
        }
    }

    #[test]
    fn pool_reuses_by_class_releases_cache_then_fails_over_budget() {
        let pool: Pool<u8, Vec<u8>> = Pool::new(Some(1024));
        assert!(matches!(pool.take(0, 512, |_, _| unreachable!()).unwrap(), Grant::Fresh));
        pool.give(0, 512, vec![7]);
        assert_eq!(pool.stats(), MemoryStats { in_use: 0, cached: 512, peak: 512, budget: Some(1024) });
        // Same class: the cached buffer comes back.
        assert!(matches!(pool.take(0, 512, |_, _| unreachable!()).unwrap(), Grant::Reused(v) if v == vec![7]));
        pool.give(0, 512, vec![7]);
        // Another class that fits only once the cache is released.
        assert!(matches!(pool.take(0, 768, |_, _| unreachable!()).unwrap(), Grant::Fresh));
        assert_eq!(pool.stats().cached, 0);
        let e = pool.take(0, 512, |in_use, budget| Error::Invalid(format!("{in_use} {budget}"))).err().unwrap();
        assert_eq!(e, Error::Invalid("768 1024".into()));
        pool.not_created(768);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn size_classes_round_up_by_an_eighth() {
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(1000), 1024);
        assert_eq!(size_class(1100), 1280);
        assert!((1..100_000u64).all(|b| size_class(b) >= b && size_class(b) < b.max(205) * 5 / 4 + 256));
    }
}
