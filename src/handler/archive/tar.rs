//! The tar format: POSIX.1-2001 "pax" (ustar headers, 512-byte blocks), written in one pass.
//! A name that does not fit ustar's 100 bytes or is not ASCII, and a size that does not fit
//! its 11 octal digits (8 GiB), goes in a pax extended header before the entry (`path`,
//! `size`, UTF-8 as pax requires); the archive ends with two zero blocks.
//!
//! A tar header states the size before the data, so the caller takes it when the file is
//! opened and writes exactly that many bytes: a file that shrank meanwhile is padded with
//! zeros, one that grew is cut (`archive` does both), and the archive stays valid.
//!
//! It frames bytes only: the tree, the files and HTTP are `archive`'s.

pub const BLOCK: usize = 512;

/// Largest size ustar's 11 octal digits hold.
const USTAR_MAX_SIZE: u64 = 0o77_777_777_777;

/// Append the header(s) of an entry: a regular file of `size` bytes, or a directory when
/// `name` ends in '/'.
pub fn header(out: &mut Vec<u8>, name: &[u8], size: u64, mtime: u64, mode: u32) {
    let dir = name.ends_with(b"/");
    let long = name.len() > 100 || !name.is_ascii();
    let big = size > USTAR_MAX_SIZE;
    if long || big {
        let mut records = Vec::with_capacity(name.len() + 64);
        if long {
            pax_record(&mut records, b"path", name);
        }
        if big {
            let mut v = Vec::new();
            crate::http::response::push_u64(&mut v, size);
            pax_record(&mut records, b"size", &v);
        }
        // The extended header's own name: ignored by readers that know pax.
        block(
            out,
            b"././@PaxHeader",
            records.len() as u64,
            mtime,
            0o644,
            b'x',
        );
        out.extend_from_slice(&records);
        pad(out, records.len() as u64);
    }
    // The ustar name: the name itself, or its first bytes for readers that know no pax (cut
    // at a character's start, so it stays UTF-8).
    let mut cut = name.len().min(100);
    while cut > 0 && cut < name.len() && (name[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    let size_field = if big { 0 } else { size };
    let kind = if dir { b'5' } else { b'0' };
    block(out, &name[..cut], size_field, mtime, mode & 0o7777, kind);
}

/// Zeros after `len` bytes of data, to the next block.
pub fn pad(out: &mut Vec<u8>, len: u64) {
    let rem = (len % BLOCK as u64) as usize;
    if rem != 0 {
        out.resize(out.len() + BLOCK - rem, 0);
    }
}

/// The end of the archive: two zero blocks.
pub fn end(out: &mut Vec<u8>) {
    out.resize(out.len() + 2 * BLOCK, 0);
}

/// One pax record: "LEN KEY=VALUE\n", LEN counting itself.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + 1;
    while len != rest + decimal_digits(len) {
        len = rest + decimal_digits(len);
    }
    crate::http::response::push_u64(out, len as u64);
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn decimal_digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// One ustar header block.
fn block(out: &mut Vec<u8>, name: &[u8], size: u64, mtime: u64, mode: u32, kind: u8) {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime.min(0o77_777_777_777));
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h[155] = b' ';
    out.extend_from_slice(&h);
}

/// `v` in octal, zero-padded, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], mut v: u64) {
    let n = field.len() - 1;
    for i in (0..n).rev() {
        field[i] = b'0' + (v & 7) as u8;
        v >>= 3;
    }
    field[n] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut r = Vec::new();
        pax_record(&mut r, b"path", b"abc");
        assert_eq!(r, b"12 path=abc\n");
        let mut r = Vec::new();
        pax_record(&mut r, b"path", &[b'a'; 92]);
        assert_eq!(r.len(), 102);
        assert!(r.starts_with(b"102 path="));
    }

    #[test]
    fn headers_are_whole_blocks() {
        let mut out = Vec::new();
        header(&mut out, "é".repeat(80).as_bytes(), 10, 0, 0o644);
        assert_eq!(out.len() % BLOCK, 0);
        header(&mut out, b"d/", 0, 0, 0o755);
        assert_eq!(out.len() % BLOCK, 0);
    }
}
