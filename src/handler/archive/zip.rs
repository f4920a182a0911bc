//! The ZIP format (PKWARE's APPNOTE.TXT 6.3.10), written in one pass with no seeking: each
//! file's local header says "sizes and CRC follow" (flag bit 3) and a data descriptor after
//! its data gives them; names are UTF-8 (flag bit 11). Zip64 (APPNOTE §4.5.3, §4.3.14-15) is
//! used only where a value does not fit in 32 bits: for a file whose size at opening could
//! reach 4 GiB (its local header and descriptor), for a central record whose sizes or offset
//! passed it, and for the end records when the archive has more than 65,534 entries or its
//! central directory starts past 4 GiB. Other archives are plain ZIP, which every tool reads.
//!
//! The central directory must come last, so it is kept: each record is rendered as soon as
//! its file is written (about 50 bytes plus the name), and `Writer::full` says when the
//! archive should end because it holds `MAX_ENTRIES` entries or `MAX_CENTRAL_BYTES`.
//!
//! It frames bytes only: the tree, the files, compression and HTTP are `archive`'s.

/// Entries in one archive, at most: the central directory is kept in memory until the end,
/// 46 bytes and the name per entry (and 12 to 28 of zip64 where a value passed 4 GiB).
pub const MAX_ENTRIES: u64 = 1_000_000;
/// Bytes of central directory kept, at most, whatever the names' lengths: a million entries
/// with names of 4 KiB would otherwise hold 4 GB. 48 MiB is a million names of 4 bytes, or
/// about 500,000 of 50.
pub const MAX_CENTRAL_BYTES: usize = 48 * 1024 * 1024;

/// `MAX_ENTRIES`; in debug builds, `BAREHTTPD_TEST_ZIP_MAX_ENTRIES` when it holds a number
/// (read once, at least 1): a test hook like `listing`'s `BAREHTTPD_TEST_LISTING_MAX`, so a
/// test reaches the cap with a few files. Release builds have no trace of it.
fn max_entries() -> u64 {
    #[cfg(debug_assertions)]
    {
        static MAX: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
        let max = MAX.get_or_init(|| {
            let v = std::env::var("BAREHTTPD_TEST_ZIP_MAX_ENTRIES").ok()?;
            v.parse::<u64>().ok().map(|n| n.max(1))
        });
        if let Some(n) = *max {
            return n;
        }
    }
    MAX_ENTRIES
}

/// A file whose size at opening is at least this gets zip64 sizes in its local header and
/// descriptor: deflate may add a few bytes per 64 KiB block to data that does not compress,
/// so the margin keeps a 32-bit descriptor from ever being too small.
const ZIP64_FILE_SIZE: u64 = 0xF000_0000;
/// 32-bit fields set to this defer to the zip64 extra field.
const MAX32: u64 = 0xFFFF_FFFF;

/// Compression methods.
pub const STORED: u16 = 0;
pub const DEFLATED: u16 = 8;

/// Bit 3: sizes and CRC in a data descriptor; bit 11: the name is UTF-8.
const FLAGS: u16 = (1 << 3) | (1 << 11);
/// "Made by": Unix (3), spec 4.5 (zip64).
const MADE_BY: u16 = (3 << 8) | 45;

/// One entry being written.
struct Open {
    name: Vec<u8>,
    offset: u64,
    method: u16,
    zip64: bool,
    dos: u32,
    mode: u32,
    dir: bool,
}

/// An archive being written: `out` receives its bytes in order.
pub struct Writer {
    /// Bytes of archive written so far (the next entry's offset).
    pub written: u64,
    entries: u64,
    central: Vec<u8>,
    open: Option<Open>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer {
            written: 0,
            entries: 0,
            central: Vec::new(),
            open: None,
        }
    }

    /// The central directory holds as much as it may: the archive should end.
    pub fn full(&self) -> bool {
        self.entries >= max_entries() || self.central.len() >= MAX_CENTRAL_BYTES
    }

    fn put(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
    }

    /// Start an entry: a file of `size` bytes at opening (or a directory, `name` ending in
    /// '/'), modified at `mtime` (Unix seconds), with Unix permissions `mode`.
    pub fn start(
        &mut self,
        out: &mut Vec<u8>,
        name: &[u8],
        size: u64,
        mtime: u64,
        mode: u32,
        method: u16,
    ) {
        let dir = name.ends_with(b"/");
        let zip64 = size >= ZIP64_FILE_SIZE;
        let dos = dos_time(mtime);
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&(if zip64 { 45u16 } else { 20 }).to_le_bytes());
        h.extend_from_slice(&FLAGS.to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&dos.to_le_bytes());
        // CRC and sizes: in the descriptor.
        h.extend_from_slice(&0u32.to_le_bytes());
        let size32: u32 = if zip64 { MAX32 as u32 } else { 0 };
        h.extend_from_slice(&size32.to_le_bytes());
        h.extend_from_slice(&size32.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(if zip64 { 20u16 } else { 0 }).to_le_bytes());
        h.extend_from_slice(name);
        if zip64 {
            // APPNOTE §4.5.3: in a local header, both sizes, here unknown yet (0).
            h.extend_from_slice(&1u16.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&[0; 16]);
        }
        self.open = Some(Open {
            name: name.to_vec(),
            offset: self.written,
            method,
            zip64,
            dos,
            mode,
            dir,
        });
        self.put(out, &h);
    }

    /// Count `n` bytes of the entry's data, which the caller appended to `out`.
    pub fn data(&mut self, n: usize) {
        self.written += n as u64;
    }

    /// End the entry: its data descriptor, and its central record kept for the end.
    pub fn finish(&mut self, out: &mut Vec<u8>, crc: u32, compressed: u64, size: u64) {
        let Some(e) = self.open.take() else {
            return;
        };
        let mut d = Vec::with_capacity(24);
        d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        if e.zip64 {
            d.extend_from_slice(&compressed.to_le_bytes());
            d.extend_from_slice(&size.to_le_bytes());
        } else {
            d.extend_from_slice(&(compressed as u32).to_le_bytes());
            d.extend_from_slice(&(size as u32).to_le_bytes());
        }
        self.put(out, &d);
        // The central record: values past 32 bits go to its zip64 field, in APPNOTE's order.
        let mut extra = Vec::new();
        for v in [size, compressed, e.offset] {
            if v >= MAX32 {
                extra.extend_from_slice(&v.to_le_bytes());
            }
        }
        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&MADE_BY.to_le_bytes());
        let needed: u16 = if e.zip64 || !extra.is_empty() { 45 } else { 20 };
        c.extend_from_slice(&needed.to_le_bytes());
        c.extend_from_slice(&FLAGS.to_le_bytes());
        c.extend_from_slice(&e.method.to_le_bytes());
        c.extend_from_slice(&e.dos.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&(compressed.min(MAX32) as u32).to_le_bytes());
        c.extend_from_slice(&(size.min(MAX32) as u32).to_le_bytes());
        c.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        let extra_len = if extra.is_empty() { 0 } else { 4 + extra.len() };
        c.extend_from_slice(&(extra_len as u16).to_le_bytes());
        // Comment length, disk number, internal attributes.
        c.extend_from_slice(&[0; 6]);
        // External attributes: the Unix mode above, MS-DOS's directory bit below.
        let kind = if e.dir { 0o040_000 } else { 0o100_000 };
        let external = ((kind | (e.mode & 0o7777)) << 16) | if e.dir { 0x10 } else { 0 };
        c.extend_from_slice(&external.to_le_bytes());
        c.extend_from_slice(&(e.offset.min(MAX32) as u32).to_le_bytes());
        c.extend_from_slice(&e.name);
        if !extra.is_empty() {
            c.extend_from_slice(&1u16.to_le_bytes());
            c.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            c.extend_from_slice(&extra);
        }
        self.entries += 1;
    }

    /// The central directory and the end records; the archive is complete after them.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        let start = self.written;
        let central = std::mem::take(&mut self.central);
        self.put(out, &central);
        let size = central.len() as u64;
        let n = self.entries;
        if n >= 0xFFFF || start >= MAX32 || size >= MAX32 {
            // APPNOTE §4.3.14: the zip64 end of central directory record, then its locator.
            let at = self.written;
            let mut z = Vec::with_capacity(76);
            z.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            z.extend_from_slice(&44u64.to_le_bytes());
            z.extend_from_slice(&MADE_BY.to_le_bytes());
            z.extend_from_slice(&45u16.to_le_bytes());
            z.extend_from_slice(&[0; 8]);
            z.extend_from_slice(&n.to_le_bytes());
            z.extend_from_slice(&n.to_le_bytes());
            z.extend_from_slice(&size.to_le_bytes());
            z.extend_from_slice(&start.to_le_bytes());
            z.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            z.extend_from_slice(&0u32.to_le_bytes());
            z.extend_from_slice(&at.to_le_bytes());
            z.extend_from_slice(&1u32.to_le_bytes());
            self.put(out, &z);
        }
        let mut e = Vec::with_capacity(22);
        e.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        e.extend_from_slice(&[0; 4]);
        let n16 = n.min(0xFFFF) as u16;
        e.extend_from_slice(&n16.to_le_bytes());
        e.extend_from_slice(&n16.to_le_bytes());
        e.extend_from_slice(&(size.min(MAX32) as u32).to_le_bytes());
        e.extend_from_slice(&(start.min(MAX32) as u32).to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        self.put(out, &e);
    }
}

/// CRC-32 (the ISO-HDLC one, as ZIP and gzip have it) of an entry's data, as it is written:
/// crc32fast where the build links it anyway (feature `compress`, for flate2), else four
/// tables of 256 words made at compile time (slice-by-4, about 1 GB/s: 4 KiB of binary, a
/// quarter of crc32fast's table).
pub struct Crc {
    #[cfg(feature = "compress")]
    h: crc32fast::Hasher,
    #[cfg(not(feature = "compress"))]
    c: u32,
}

#[cfg(not(feature = "compress"))]
const CRC_TABLES: [[u32; 256]; 4] = crc_tables();

#[cfg(not(feature = "compress"))]
const fn crc_tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        t[1][i] = (t[0][i] >> 8) ^ t[0][(t[0][i] & 0xFF) as usize];
        t[2][i] = (t[1][i] >> 8) ^ t[0][(t[1][i] & 0xFF) as usize];
        t[3][i] = (t[2][i] >> 8) ^ t[0][(t[2][i] & 0xFF) as usize];
        i += 1;
    }
    t
}

impl Crc {
    pub fn new() -> Crc {
        Crc {
            #[cfg(feature = "compress")]
            h: crc32fast::Hasher::new(),
            #[cfg(not(feature = "compress"))]
            c: !0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        #[cfg(feature = "compress")]
        self.h.update(data);
        #[cfg(not(feature = "compress"))]
        {
            let t = &CRC_TABLES;
            let mut c = self.c;
            let mut words = data.chunks_exact(4);
            for w in &mut words {
                c ^= u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                c = t[3][(c & 0xFF) as usize]
                    ^ t[2][((c >> 8) & 0xFF) as usize]
                    ^ t[1][((c >> 16) & 0xFF) as usize]
                    ^ t[0][(c >> 24) as usize];
            }
            for &b in words.remainder() {
                c = t[0][((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
            }
            self.c = c;
        }
    }

    pub fn finish(self) -> u32 {
        #[cfg(feature = "compress")]
        return self.h.finalize();
        #[cfg(not(feature = "compress"))]
        !self.c
    }
}

/// MS-DOS date and time (local time in the format; UTC here, as the server has no zone),
/// 1980 at the earliest, two-second steps.
fn dos_time(mtime: u64) -> u32 {
    let days = (mtime / 86_400) as i64;
    let (y, m, d) = crate::http::date::civil_from_days(days);
    if y < 1980 {
        return ((1 << 5) | 1) << 16;
    }
    let y = (y - 1980).min(127) as u32;
    let secs = (mtime % 86_400) as u32;
    let time = ((secs / 3600) << 11) | (((secs / 60) % 60) << 5) | ((secs % 60) / 2);
    let date = (y << 9) | (m << 5) | d;
    (date << 16) | time
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The CRC catalogue's check value for CRC-32/ISO-HDLC.
        let mut c = Crc::new();
        c.update(b"12345");
        c.update(b"6789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }

    #[test]
    fn dos_time_of_a_known_date() {
        // 2024-02-29 13:45:10 UTC.
        let t = dos_time(1_709_214_310);
        assert_eq!(t >> 16, (44 << 9) | (2 << 5) | 29);
        assert_eq!(t & 0xFFFF, (13 << 11) | (45 << 5) | 5);
        assert_eq!(dos_time(0) >> 16, (1 << 5) | 1);
    }

    #[test]
    fn empty_archive_is_one_end_record() {
        let mut w = Writer::new();
        let mut out = Vec::new();
        w.end(&mut out);
        assert_eq!(out.len(), 22);
        assert_eq!(&out[..4], b"PK\x05\x06");
    }
}
