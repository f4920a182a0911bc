//! The static (musl) build's allocator: the C library's, with a small cache of large blocks
//! kept per thread.
//!
//! Why: TLS makes and drops a buffer of about 16 KiB for every record it encrypts or
//! decrypts (rustls allocates each record). musl's allocator (mallocng) returns such blocks
//! to the kernel as soon as they are free, so each 64 KiB step of a file sent over HTTPS cost
//! an `mmap` and a `munmap`, and its one lock made two workers wait for each other (`futex`):
//! with 2 workers an 8 MiB HTTPS response cost about 6 ms of CPU against 3 ms with glibc,
//! whose per-thread caches do not have the problem. Here a freed block above 4 KiB (up to
//! 128 KiB) is kept by the thread that freed it, up to `PER_CLASS` blocks of each 4 KiB size
//! class and `MAX_CACHED` bytes in all, and handed out again without a call into the C
//! library.
//!
//! The cache has no destructor (registering one could allocate, from inside the allocator):
//! what a thread holds when it exits stays allocated, at most `MAX_CACHED` bytes per thread,
//! and the server's threads live as long as the process. glibc builds, and static builds
//! without TLS (which allocate nothing per request), use the system allocator as it is.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

/// Size classes are multiples of this.
const GRAIN: usize = 4096;
/// Classes cached: blocks of up to 32 x 4 KiB = 128 KiB (a TLS record's buffer is ~16 KiB;
/// larger blocks are rare and left to the C library).
const CLASSES: usize = 32;
/// Blocks kept per class: enough for a 64 KiB step of records in flight, and one more.
const PER_CLASS: usize = 8;
/// Bytes one thread may keep in all.
const MAX_CACHED: usize = 1 << 20;
/// Alignment of every block handed out from a class.
const ALIGN: usize = 16;

struct Cache {
    blocks: [[*mut u8; PER_CLASS]; CLASSES],
    counts: [u8; CLASSES],
    bytes: usize,
}

thread_local! {
    static CACHE: UnsafeCell<Cache> = const {
        UnsafeCell::new(Cache {
            blocks: [[std::ptr::null_mut(); PER_CLASS]; CLASSES],
            counts: [0; CLASSES],
            bytes: 0,
        })
    };
}

/// The class of a layout, if it is cached: class `c` holds blocks of `(c + 1) * GRAIN` bytes
/// for sizes above `c * GRAIN`.
fn class(layout: &Layout) -> Option<usize> {
    let size = layout.size();
    (layout.align() <= ALIGN && size > GRAIN && size <= GRAIN * CLASSES).then(|| (size - 1) / GRAIN)
}

/// The layout of the blocks of class `c`.
fn block(c: usize) -> Layout {
    // A multiple of GRAIN up to 128 KiB with a power-of-two alignment: always valid.
    Layout::from_size_align((c + 1) * GRAIN, ALIGN).expect("a valid block layout")
}

/// The C library's allocator, with large blocks cached per thread.
pub struct Caching;

impl Caching {
    fn take(c: usize) -> Option<*mut u8> {
        CACHE
            .try_with(|cache| {
                // SAFETY: the cache is this thread's own and no reference to it outlives this
                // closure; the allocator is not re-entered while it is held (nothing here
                // allocates).
                let cache = unsafe { &mut *cache.get() };
                let n = cache.counts[c] as usize;
                if n == 0 {
                    return None;
                }
                cache.counts[c] -= 1;
                cache.bytes -= block(c).size();
                Some(cache.blocks[c][n - 1])
            })
            .ok()
            .flatten()
    }

    /// Keep `ptr` (a block of class `c`); false if the cache is full.
    fn keep(c: usize, ptr: *mut u8) -> bool {
        CACHE
            .try_with(|cache| {
                // SAFETY: as in `take`.
                let cache = unsafe { &mut *cache.get() };
                let n = cache.counts[c] as usize;
                let size = block(c).size();
                if n == PER_CLASS || cache.bytes + size > MAX_CACHED {
                    return false;
                }
                cache.blocks[c][n] = ptr;
                cache.counts[c] += 1;
                cache.bytes += size;
                true
            })
            .unwrap_or(false)
    }
}

// SAFETY: every block handed out is either fresh from `System` with a layout at least as
// large and as aligned as asked (the class's block), or such a block freed before and not
// in use (the cache holds only freed blocks, each once). A block of a class is always
// allocated and freed with that class's layout, whichever thread frees it.
unsafe impl GlobalAlloc for Caching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class(&layout) {
            Some(c) => match Self::take(c) {
                Some(p) => p,
                // SAFETY: a non-zero size, valid layout.
                None => unsafe { System.alloc(block(c)) },
            },
            // SAFETY: the caller's layout, as the contract requires.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match class(&layout) {
            Some(c) => match Self::take(c) {
                Some(p) => {
                    // SAFETY: `p` is a block of at least `layout.size()` bytes, not in use.
                    unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
                    p
                }
                // SAFETY: as in `alloc`.
                None => unsafe { System.alloc_zeroed(block(c)) },
            },
            // SAFETY: as in `alloc`.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class(&layout) {
            Some(c) => {
                if !Self::keep(c, ptr) {
                    // SAFETY: `ptr` came from `System` with the class's layout (see `alloc`).
                    unsafe { System.dealloc(ptr, block(c)) }
                }
            }
            // SAFETY: `ptr` came from `System` with this layout.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the contract guarantees `new_size`, rounded to `layout.align()`, is a
        // valid size.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(&layout), class(&new)) {
            // The block already has room.
            (Some(a), Some(b)) if a == b => ptr,
            // SAFETY: both layouts are the C library's own: as `System` would.
            (None, None) => unsafe { System.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: a fresh block, then the old one's bytes that fit, then the old one
                // freed with the layout it was allocated with.
                unsafe {
                    let fresh = self.alloc(new);
                    if !fresh.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, fresh, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    fresh
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_by_class_and_zeroed_when_asked() {
        let a = Caching;
        let l = Layout::from_size_align(16_406, 8).unwrap();
        // SAFETY: layouts are valid and every block is freed once with its own layout.
        unsafe {
            let p = a.alloc(l);
            assert!(!p.is_null() && (p as usize).is_multiple_of(ALIGN));
            p.write_bytes(0xab, l.size());
            a.dealloc(p, l);
            // 16,406 and 17,000 bytes are both in the 20 KiB class.
            let q = a.alloc_zeroed(Layout::from_size_align(17_000, 8).unwrap());
            assert_eq!(q, p, "the freed block of the same class comes back");
            assert!((0..17_000).all(|i| *q.add(i) == 0));
            let grown = a.realloc(q, Layout::from_size_align(17_000, 8).unwrap(), 20_480);
            assert_eq!(grown, q, "within its class a block keeps its place");
            let big = a.realloc(grown, Layout::from_size_align(20_480, 8).unwrap(), 300_000);
            assert!(!big.is_null());
            a.dealloc(big, Layout::from_size_align(300_000, 8).unwrap());
            // Small and over-aligned layouts go straight to the C library.
            let odd = Layout::from_size_align(8192, 4096).unwrap();
            let r = a.alloc(odd);
            assert!((r as usize).is_multiple_of(4096));
            a.dealloc(r, odd);
        }
    }
}
