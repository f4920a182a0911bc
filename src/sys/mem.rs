//! Byte copies and comparisons for the static builds (musl): `memcpy` and `memmove` on
//! x86_64, `memcmp` and `bcmp` on every architecture, which every `extend_from_slice`, struct
//! move and slice comparison in the program ends in.
//!
//! Why the program brings its own: musl's x86_64 `memcpy` is `rep movsq` followed by a
//! loop of single `movsb` instructions, whatever the length, and its `memcmp` compares one
//! byte at a time. A server's copies are short (a field name, a path, a 13-byte body, a
//! 368-byte stream record), where that costs most: perf put musl's `memcpy` and `memcmp`
//! at 41% and 8% of the server's CPU for HTTP/2 13-byte responses (h2load -c50 -m10), and
//! the same requests cost 2.6 µs of CPU in the static build against 1.7 µs in the glibc
//! one. Here, a copy of up to 64 bytes is a few unaligned loads, then as many stores (so
//! overlapping regions are safe, and `memmove` shares it); a longer one is `rep movsb`,
//! which CPUs with ERMS/FSRM (every x86_64 server CPU since 2013/2019) run at full width.
//! Comparisons go eight bytes at a time.
//!
//! The functions are exported under the C names only in the static musl builds (`export`
//! below): the linker then takes them instead of libc's members, for Rust's calls and
//! libc's own alike. musl's aarch64 `memcpy` is already written for the CPU, so only the
//! comparisons are replaced there. Everywhere else (glibc, macOS) libc's are used; the
//! tests exercise these on any host against plain byte loops.
//!
//! A loop that copies or compares memory may be turned by the compiler into a call to
//! `memcpy`, `memmove` or `bcmp`: inside them, that would recurse. So the bulk copy is
//! inline assembly, the word loop in `compare` branches out on the first difference (which
//! no such rewrite matches), and its last bytes are looked at one by one, unrolled. A
//! recursion would overflow the stack at the first call.

#[cfg(target_arch = "x86_64")]
use core::arch::asm;
use core::ptr::read_unaligned as ld;
#[cfg(target_arch = "x86_64")]
use core::ptr::write_unaligned as st;

#[cfg(target_arch = "x86_64")]
/// Copy `n` bytes from `src` to `dst`, which may overlap.
///
/// # Safety
/// `src` is readable and `dst` writable for `n` bytes.
#[inline(always)]
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller keeps the contract above; every access stays within `n` bytes.
    unsafe {
        if n <= 64 {
            small(dst, src, n);
        } else if (dst as usize).wrapping_sub(src as usize) >= n {
            // `dst` is below `src`, or past its end: a forward copy never reads a byte it
            // has already overwritten.
            if n <= MID {
                return medium(dst, src, n);
            }
            asm!(
                "rep movsb",
                inout("rcx") n => _,
                inout("rdi") dst => _,
                inout("rsi") src => _,
                options(nostack, preserves_flags)
            );
        } else {
            // `dst` overlaps the end of `src`: copy from the last byte down. The direction
            // flag is set for the copy alone (the ABI wants it clear at every call).
            asm!(
                "std",
                "rep movsb",
                "cld",
                inout("rcx") n => _,
                inout("rdi") dst.add(n - 1) => _,
                inout("rsi") src.add(n - 1) => _,
                options(nostack)
            );
        }
    }
}

#[cfg(target_arch = "x86_64")]
/// Up to this many bytes, a forward copy is a loop of 32-byte moves: `rep movsb` costs
/// about as much to start as such a loop takes for a few hundred bytes (measured: a
/// 368-byte record's moves were 8% of the server's CPU through `rep movsb`).
const MID: usize = 512;

#[cfg(target_arch = "x86_64")]
/// A forward copy of 65 to `MID` bytes: the last 32 bytes are loaded first, then 32-byte
/// blocks are copied from the start (the last one may run into those 32), then the last 32
/// are stored. With `dst` below `src` no block reads what an earlier one wrote.
#[inline(always)]
unsafe fn medium(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller keeps the contract above; every access stays within `n` bytes.
    unsafe {
        let c: u128 = ld(src.add(n - 32).cast());
        let d: u128 = ld(src.add(n - 16).cast());
        // ceil((n - 32) / 32) blocks, at least one (n > 64).
        let blocks = (n - 1) / 32;
        asm!(
            "2:",
            "movups xmm0, [{s}]",
            "movups xmm1, [{s} + 16]",
            "movups [{d}], xmm0",
            "movups [{d} + 16], xmm1",
            "add {s}, 32",
            "add {d}, 32",
            "dec {k}",
            "jnz 2b",
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            k = inout(reg) blocks => _,
            out("xmm0") _,
            out("xmm1") _,
            options(nostack)
        );
        st(dst.add(n - 32).cast(), c);
        st(dst.add(n - 16).cast(), d);
    }
}

#[cfg(target_arch = "x86_64")]
/// Up to 64 bytes: every byte is loaded before any is stored, so overlap is harmless. Two
/// overlapping words cover any length between one word and two.
#[inline(always)]
unsafe fn small(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller keeps the contract above; every access stays within `n` bytes.
    unsafe {
        if n >= 32 {
            let a: u128 = ld(src.cast());
            let b: u128 = ld(src.add(16).cast());
            let c: u128 = ld(src.add(n - 32).cast());
            let d: u128 = ld(src.add(n - 16).cast());
            st(dst.cast(), a);
            st(dst.add(16).cast(), b);
            st(dst.add(n - 32).cast(), c);
            st(dst.add(n - 16).cast(), d);
        } else if n >= 16 {
            let a: u128 = ld(src.cast());
            let b: u128 = ld(src.add(n - 16).cast());
            st(dst.cast(), a);
            st(dst.add(n - 16).cast(), b);
        } else if n >= 8 {
            let a: u64 = ld(src.cast());
            let b: u64 = ld(src.add(n - 8).cast());
            st(dst.cast(), a);
            st(dst.add(n - 8).cast(), b);
        } else if n >= 4 {
            let a: u32 = ld(src.cast());
            let b: u32 = ld(src.add(n - 4).cast());
            st(dst.cast(), a);
            st(dst.add(n - 4).cast(), b);
        } else if n > 0 {
            // 1, 2 or 3 bytes: the first, the middle and the last cover them.
            let (a, b, c) = (*src, *src.add(n / 2), *src.add(n - 1));
            *dst = a;
            *dst.add(n / 2) = b;
            *dst.add(n - 1) = c;
        }
    }
}

/// Compare `n` bytes as unsigned bytes: negative, zero or positive as `a` sorts before,
/// with or after `b`.
///
/// # Safety
/// Both are readable for `n` bytes.
#[inline(always)]
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller keeps the contract above; every access stays within `n` bytes.
    unsafe {
        if n >= 8 {
            let mut i = 0;
            while i + 8 <= n {
                let (x, y): (u64, u64) = (ld(a.add(i).cast()), ld(b.add(i).cast()));
                if x != y {
                    return order(u64::from_be(x), u64::from_be(y));
                }
                i += 8;
            }
            if i == n {
                return 0;
            }
            // The last word, overlapping what is known equal.
            let (x, y): (u64, u64) = (ld(a.add(n - 8).cast()), ld(b.add(n - 8).cast()));
            return order(u64::from_be(x), u64::from_be(y));
        }
        if n >= 4 {
            let (x, y): (u32, u32) = (ld(a.cast()), ld(b.cast()));
            if x != y {
                return order(u32::from_be(x) as u64, u32::from_be(y) as u64);
            }
            let (x, y): (u32, u32) = (ld(a.add(n - 4).cast()), ld(b.add(n - 4).cast()));
            return order(u32::from_be(x) as u64, u32::from_be(y) as u64);
        }
        // Up to three bytes, each on its own (no loop the compiler could make a call of).
        for i in [0, 1, 2] {
            if i == n {
                break;
            }
            let (x, y) = (*a.add(i), *b.add(i));
            if x != y {
                return x as i32 - y as i32;
            }
        }
        0
    }
}

/// Words read big-endian compare as their bytes do, first byte first.
#[inline(always)]
fn order(x: u64, y: u64) -> i32 {
    match x.cmp(&y) {
        core::cmp::Ordering::Less => -1,
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Greater => 1,
    }
}

/// The C names, in the static musl builds only (see the module's comment).
#[cfg(target_env = "musl")]
mod export {
    /// # Safety
    /// As C's `memcpy`.
    #[cfg(target_arch = "x86_64")]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the buffers are live and at least `n` bytes long.
        unsafe { super::copy(dst, src, n) };
        dst
    }

    /// # Safety
    /// As C's `memmove`.
    #[cfg(target_arch = "x86_64")]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the buffers are live and at least `n` bytes long.
        unsafe { super::copy(dst, src, n) };
        dst
    }

    /// # Safety
    /// As C's `memcmp`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: the buffers are live and at least `n` bytes long.
        unsafe { super::compare(a, b, n) }
    }

    /// # Safety
    /// As C's `bcmp`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: the buffers are live and at least `n` bytes long.
        unsafe { super::compare(a, b, n) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pattern no two nearby offsets share, so a byte copied from the wrong place shows.
    fn pattern(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + seed * 13 + 1) as u8).collect()
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn copy_matches_a_byte_loop_for_every_length_and_alignment() {
        for n in 0..600 {
            for (sa, da) in [(0, 0), (1, 0), (0, 3), (5, 7), (15, 1)] {
                let src = pattern(n + 16, n);
                let mut dst = vec![0xAAu8; n + 32];
                // SAFETY: the buffers are live and at least `n` bytes long.
                unsafe { copy(dst.as_mut_ptr().add(da), src.as_ptr().add(sa), n) };
                assert_eq!(&dst[da..da + n], &src[sa..sa + n], "length {n}");
                assert!(dst[..da].iter().all(|&b| b == 0xAA), "before, length {n}");
                assert!(
                    dst[da + n..].iter().all(|&b| b == 0xAA),
                    "after, length {n}"
                );
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn copy_handles_overlap_both_ways() {
        for n in [1, 3, 7, 8, 15, 16, 31, 32, 33, 64, 65, 100, 257, 4096] {
            for shift in [1, 2, 7, 8, 9, 16, 63, 64, 65] {
                // Forward (dst below src) and backward (dst above src).
                for up in [false, true] {
                    let mut buf = pattern(n + shift, n + shift);
                    let want = buf.clone();
                    let (from, to) = if up { (0, shift) } else { (shift, 0) };
                    // SAFETY: `buf` holds `n + shift` bytes; both ranges are within it.
                    unsafe {
                        let p = buf.as_mut_ptr();
                        copy(p.add(to), p.add(from), n);
                    }
                    assert_eq!(
                        &buf[to..to + n],
                        &want[from..from + n],
                        "n {n} shift {shift}"
                    );
                }
            }
        }
    }

    #[test]
    fn compare_orders_as_unsigned_bytes_and_finds_the_first_difference() {
        for n in 0..80 {
            let a = pattern(n, 3);
            // SAFETY: both vectors are at least `n` bytes long.
            assert_eq!(unsafe { compare(a.as_ptr(), a.clone().as_ptr(), n) }, 0);
            for at in 0..n {
                for (x, y) in [(0x01u8, 0xFFu8), (0x80, 0x7F), (0x00, 0x01)] {
                    let (mut p, mut q) = (a.clone(), a.clone());
                    p[at] = x;
                    q[at] = y;
                    // A later difference the other way must not decide.
                    if at + 1 < n {
                        p[n - 1] = 0x00;
                        q[n - 1] = 0xFF;
                        if at + 1 == n - 1 {
                            p[n - 1] = q[n - 1];
                        }
                    }
                    let want = x.cmp(&y) as i32;
                    // SAFETY: both vectors are at least `n` bytes long.
                    let got = unsafe { compare(p.as_ptr(), q.as_ptr(), n) };
                    assert_eq!(got.signum(), want, "n {n} at {at} {x:#x} vs {y:#x}");
                }
            }
        }
    }
}
