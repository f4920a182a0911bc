//! The validators of a file as it is on disk (RFC 9110 §8.8): its strong ETag and its
//! modification time, for GET's conditions and ranges and for PUT's and DELETE's
//! preconditions alike, so that a tag a GET gave is the tag a PUT checks.
//!
//! Pure functions of a `Stat`: no I/O, no allocation (the tag is written into a buffer the
//! caller owns). Weak validators of generated bodies (listings) are the listing's business.

use crate::http::conditional::Validators;
use crate::sys::fs::Stat;

/// The strong ETag of a file (RFC 9110 §8.8.3): inode, size and modification time in
/// nanoseconds, which change whenever the file is replaced or rewritten.
// The nanosecond field is u64 in rustix's raw Linux Stat and i64 in libc's.
#[allow(clippy::unnecessary_cast)]
pub fn etag_of<'b>(buf: &'b mut [u8; 64], st: &Stat) -> &'b [u8] {
    format_etag(
        buf,
        st.st_ino,
        st.st_size.max(0) as u64,
        st.st_mtime.max(0) as u64,
        st.st_mtime_nsec as u64,
    )
}

/// The validators of a file as it is on disk: its strong ETag (in `buf`) and its
/// modification time, for the conditions of RFC 9110 §13.
pub fn validators_of<'b>(buf: &'b mut [u8; 64], st: &Stat) -> Validators<'b> {
    Validators {
        etag: etag_of(buf, st),
        mtime: st.st_mtime.max(0) as u64,
    }
}

/// `"ino-size-mtime_ns"` in hex, written into `buf` without allocating.
fn format_etag(buf: &mut [u8; 64], ino: u64, len: u64, mtime: u64, nsec: u64) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let ns = mtime.wrapping_mul(1_000_000_000).wrapping_add(nsec);
    let mut n = 0;
    buf[n] = b'"';
    n += 1;
    for (i, v) in [ino, len, ns].into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'-';
            n += 1;
        }
        let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
        for k in (0..digits).rev() {
            buf[n] = HEX[((v >> (4 * k)) & 15) as usize];
            n += 1;
        }
    }
    buf[n] = b'"';
    &buf[..n + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_format() {
        let mut b = [0u8; 64];
        assert_eq!(
            format_etag(&mut b, 0x98c0a4, 13, 1, 5),
            b"\"98c0a4-d-3b9aca05\""
        );
        let mut b = [0u8; 64];
        assert_eq!(
            format_etag(&mut b, u64::MAX, u64::MAX, u64::MAX, u64::MAX).len(),
            2 + 3 * 16 + 2
        );
    }
}
