//! The script's limits as the engine measures them: memory through a counting allocator,
//! CPU time through the engine thread's own clock, both read by QuickJS's interrupt handler.
//!
//! QuickJS's own memory limit throws an ordinary `InternalError` that a script can catch and
//! ignore; counting here lets the interrupt handler end the script for good once it tripped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use rquickjs::allocator::{Allocator, RustAllocator};

/// Why the interrupt handler stopped the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tripped {
    Memory,
    Cpu,
    /// The run was stopped from outside (the supervisor, a budget, the process ending).
    Stopped,
}

/// Shared between the allocator, the interrupt handler and the engine's caller.
#[derive(Debug, Default)]
pub struct Meter {
    /// 0: nothing; 1 memory; 2 CPU; 3 stopped. The first reason wins.
    tripped: AtomicU8,
    memory_hit: AtomicBool,
    peak: AtomicUsize,
    /// Woken when something trips, so the engine can stop waiting on a script that no longer runs.
    pub wake: tokio::sync::Notify,
}

impl Meter {
    pub fn trip(&self, why: Tripped) {
        let code = match why {
            Tripped::Memory => 1,
            Tripped::Cpu => 2,
            Tripped::Stopped => 3,
        };
        if self.tripped.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.wake.notify_one();
        }
    }

    pub fn tripped(&self) -> Option<Tripped> {
        match self.tripped.load(Ordering::SeqCst) {
            1 => Some(Tripped::Memory),
            2 => Some(Tripped::Cpu),
            3 => Some(Tripped::Stopped),
            _ => None,
        }
    }

    /// The most memory the script held at once, in bytes.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

/// QuickJS's allocator, counting what it holds and refusing past `limit`.
pub struct MeteredAllocator {
    inner: RustAllocator,
    used: usize,
    limit: usize,
    meter: Arc<Meter>,
}

impl MeteredAllocator {
    pub fn new(limit: usize, meter: Arc<Meter>) -> MeteredAllocator {
        MeteredAllocator { inner: RustAllocator, used: 0, limit, meter }
    }

    fn admit(&mut self, more: usize) -> bool {
        if self.used.saturating_add(more) > self.limit {
            // Recorded for the interrupt handler: the script may catch QuickJS's out-of-memory
            // error, but it does not get to run on.
            self.meter.memory_hit.store(true, Ordering::SeqCst);
            self.meter.trip(Tripped::Memory);
            return false;
        }
        true
    }

    fn note(&mut self) {
        self.meter.peak.fetch_max(self.used, Ordering::Relaxed);
    }
}

// SAFETY: every pointer handed out comes from `RustAllocator`, which keeps the size in a header
// that `usable_size` reads; this type only adds bookkeeping around its calls.
unsafe impl Allocator for MeteredAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.admit(size) {
            return std::ptr::null_mut();
        }
        let p = self.inner.alloc(size);
        if !p.is_null() {
            // SAFETY: `p` was just allocated by `inner`.
            self.used += unsafe { RustAllocator::usable_size(p) };
            self.note();
        }
        p
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else { return std::ptr::null_mut() };
        if !self.admit(total) {
            return std::ptr::null_mut();
        }
        let p = self.inner.calloc(count, size);
        if !p.is_null() {
            // SAFETY: `p` was just allocated by `inner`.
            self.used += unsafe { RustAllocator::usable_size(p) };
            self.note();
        }
        p
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if !ptr.is_null() {
            // SAFETY: the caller passes a pointer from this allocator.
            self.used = self.used.saturating_sub(unsafe { RustAllocator::usable_size(ptr) });
        }
        // SAFETY: as above.
        unsafe { self.inner.dealloc(ptr) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a pointer from this allocator (or null).
        let old = if ptr.is_null() { 0 } else { unsafe { RustAllocator::usable_size(ptr) } };
        if new_size > old && !self.admit(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let p = unsafe { self.inner.realloc(ptr, new_size) };
        if !p.is_null() || new_size == 0 {
            self.used = self.used.saturating_sub(old);
            if !p.is_null() {
                // SAFETY: `p` was just allocated by `inner`.
                self.used += unsafe { RustAllocator::usable_size(p) };
            }
            self.note();
        }
        p
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: the caller passes a pointer from this allocator.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}

/// CPU time the calling thread has used. The engine runs on its own thread, which sleeps while
/// the script waits for agents, so this is the script's own CPU time.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}
