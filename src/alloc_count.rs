//! Heap-allocation counter for benchmarks, compiled only with `--features count-alloc`.
//!
//! It wraps the system allocator and counts calls in relaxed atomics; `bench/lean.sh` reads
//! the counts by sending SIGUSR1, on which a thread prints one line to stderr:
//! `alloc-count: allocs=N reallocs=N deallocs=N bytes=N`. Two snapshots taken around a known
//! number of requests give allocations per request in steady state, with the start-up and
//! warm-up allocations left out.
//!
//! It does not track live bytes or peaks, and it is never in a normal build: the counting
//! costs an atomic add per allocation.
//!
//! An exception to "every `unsafe` lives in `sys`": a global allocator is `unsafe` by its
//! trait, and keeping it in this one feature-gated file leaves `sys` free of benchmark code.
//! The signal calls are here for the same reason.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static DEALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting.
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `System`, which upholds the GlobalAlloc
// contract; the counters are plain atomics that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: same layout the caller gave us, as the contract requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        DEALLOCS.fetch_add(1, Relaxed);
        // SAFETY: `ptr` came from `System` through this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: as in `dealloc`; `new_size` is passed through unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counts so far: (allocs, reallocs, deallocs, bytes requested).
pub fn counts() -> (u64, u64, u64, u64) {
    (
        ALLOCS.load(Relaxed),
        REALLOCS.load(Relaxed),
        DEALLOCS.load(Relaxed),
        BYTES.load(Relaxed),
    )
}

/// Print the counts to stderr on every SIGUSR1. Call from the main thread before any other
/// thread starts, so that every thread inherits SIGUSR1 blocked and only the reporter takes it.
pub fn report_on_sigusr1() {
    // SAFETY: the sigset is initialised by sigemptyset before use; pthread_sigmask and
    // sigwait get valid pointers.
    let set = unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut());
        set
    };
    std::thread::Builder::new()
        .name("alloc-count".into())
        .spawn(move || {
            loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: as above.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    continue;
                }
                // Read before printing, so that the print's own allocations (if any) land
                // in the next snapshot, identically each time.
                let (a, r, d, b) = counts();
                eprintln!("alloc-count: allocs={a} reallocs={r} deallocs={d} bytes={b}");
            }
        })
        .expect("cannot start the alloc-count thread");
}
