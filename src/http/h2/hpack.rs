//! HPACK (RFC 7541): the header compression of HTTP/2. A `Decoder` per connection for the
//! client's header blocks, an `Encoder` per connection for ours.
//!
//! Zero-copy where it can be and allocation-free in steady state: decoded names and values
//! are appended to a buffer the caller owns and reuses, and reported as ranges of it. Each
//! dynamic table keeps its entries' bytes in one buffer, oldest first, appended at the end
//! and compacted (one move of the live bytes to the front) when the end is reached; the
//! buffer is twice the table's largest size, so a compaction moves at most as many bytes as
//! were appended since the last one. Entry metadata sits in a ring sized for the most
//! entries the table can hold (32 bytes of overhead each, §4.1). Both are allocated on the
//! first insertion and never grow after.
//!
//! The HPACK bomb (a small block that names one large table entry many times) is stopped by
//! counting the decoded list before copying each field: past the caller's limit, nothing
//! more is copied, but the rest of the block is still read so that the dynamic table stays
//! in step with the peer's and the connection can go on.
//!
//! This module does not check what the fields say (pseudo-header order, lowercase names,
//! connection-specific fields): that is RFC 9113 §8 and the session's business.

use super::huffman;
use std::collections::VecDeque;
use std::ops::Range;

/// One decoded field: `name` and `value` are ranges of the `out` buffer given to `decode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: Range<usize>,
    pub value: Range<usize>,
    /// Sent as "never indexed" (§6.2.3): an intermediary must not compress it.
    pub never_indexed: bool,
}

/// Why a header block could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A COMPRESSION_ERROR (RFC 9113 §4.3): the block is malformed, or refers to an index
    /// that does not exist, or a table size update is out of place or too large. The
    /// connection cannot continue (its decoding state is lost).
    Compression,
    /// The decoded list is larger than the caller's limit (name + value + 32 per field,
    /// RFC 9113 §6.5.2). The decoder's state is still good: the block was decoded to the
    /// end (so the dynamic table is in step), but the fields were not all kept.
    TooLarge,
}

/// The size a table entry or a listed field counts for beyond its name and value (§4.1,
/// RFC 9113 §6.5.2).
const ENTRY_OVERHEAD: usize = 32;

/// The table size our encoder uses, whatever larger size the peer allows: the default
/// (RFC 9113 §6.5.2), which holds the repeating fields of about 20 distinct responses
/// (`policy`); a larger one would cost memory on every connection for little more.
pub const ENCODER_TABLE_SIZE: usize = 4096;

/// An integer's continuation bytes: five carry 35 bits, enough for any u32 (§5.1 lets a
/// decoder limit integers; a longer run, even of zeros, is an error).
const MAX_INTEGER_BYTES: usize = 5;

/// The static table (RFC 7541 Appendix A); index 1 is the first entry.
static STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// The static index of a name the encoder sends, by its first entry in the table.
fn static_name(name: &[u8]) -> Option<u8> {
    Some(match name {
        b":authority" => 1,
        b":method" => 2,
        b":path" => 4,
        b":scheme" => 6,
        b":status" => 8,
        b"accept-charset" => 15,
        b"accept-encoding" => 16,
        b"accept-language" => 17,
        b"accept-ranges" => 18,
        b"accept" => 19,
        b"access-control-allow-origin" => 20,
        b"age" => 21,
        b"allow" => 22,
        b"authorization" => 23,
        b"cache-control" => 24,
        b"content-disposition" => 25,
        b"content-encoding" => 26,
        b"content-language" => 27,
        b"content-length" => 28,
        b"content-location" => 29,
        b"content-range" => 30,
        b"content-type" => 31,
        b"cookie" => 32,
        b"date" => 33,
        b"etag" => 34,
        b"expect" => 35,
        b"expires" => 36,
        b"from" => 37,
        b"host" => 38,
        b"if-match" => 39,
        b"if-modified-since" => 40,
        b"if-none-match" => 41,
        b"if-range" => 42,
        b"if-unmodified-since" => 43,
        b"last-modified" => 44,
        b"link" => 45,
        b"location" => 46,
        b"max-forwards" => 47,
        b"proxy-authenticate" => 48,
        b"proxy-authorization" => 49,
        b"range" => 50,
        b"referer" => 51,
        b"refresh" => 52,
        b"retry-after" => 53,
        b"server" => 54,
        b"set-cookie" => 55,
        b"strict-transport-security" => 56,
        b"transfer-encoding" => 57,
        b"user-agent" => 58,
        b"vary" => 59,
        b"via" => 60,
        b"www-authenticate" => 61,
        _ => return None,
    })
}

/// How the encoder sends a field it does not find in its table.
#[derive(PartialEq)]
enum Policy {
    /// A literal that enters the dynamic table: the next time it is one byte.
    Index,
    /// A literal left out of the table: a value that names one response alone, which would
    /// only push out entries that repeat.
    Literal,
    /// A literal the peer and any proxy must never index either (§7.1.3): a value that may
    /// be a secret, where a shared compression context could reveal it byte by byte.
    Never,
}

/// Every field a response carries is indexed but for these. ETag, Last-Modified and
/// Content-Length differ between files, but repeat whenever a file is asked again (a
/// revalidation, a polled resource, a benchmark): indexed, such a response's block is a
/// dozen bytes (one per field) instead of 60, which the client decodes by lookup instead of
/// by Huffman (h2load spent 3.6 against 3.3 us per 13-byte response from us than from
/// lighttpd, whose blocks were 17 bytes to our 59). A page of distinct files churns the
/// table, which costs an insertion per field and a repeat of Server or Content-Type as a
/// literal when it has been pushed out (`ENCODER_TABLE_SIZE` holds about 20 responses' worth).
fn policy(name: &[u8]) -> Policy {
    match name {
        b"set-cookie" => Policy::Never,
        b"content-range" | b"location" | b"content-location" | b"retry-after" => Policy::Literal,
        _ => Policy::Index,
    }
}

/// Where the name of a new table entry comes from.
enum NameSrc<'a> {
    Bytes(&'a [u8]),
    /// An entry already in this table (which may be evicted by the insertion, §4.4).
    Entry(usize),
}

/// Position of one entry's bytes: `start` counts from the first byte ever stored, so
/// compaction does not have to rewrite it.
#[derive(Clone, Copy)]
struct Entry {
    start: usize,
    name_len: u32,
    value_len: u32,
}

/// A dynamic table (§2.3.2, §4): entries newest first by index, evicted oldest first.
struct Table {
    /// Entry bytes, name then value, oldest first; live from the oldest entry's start on.
    bytes: Vec<u8>,
    /// The position (as `Entry::start` counts) of `bytes[0]`.
    base: usize,
    /// Oldest at the front.
    entries: VecDeque<Entry>,
    /// The table's size as §4.1 counts it.
    size: usize,
    /// The largest size now, as set by the last size update.
    max: usize,
    /// The most `max` may be: bounds both buffers.
    limit: usize,
}

impl Table {
    fn new(limit: usize) -> Table {
        Table {
            bytes: Vec::new(),
            base: 0,
            entries: VecDeque::new(),
            size: 0,
            max: limit,
            limit,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The byte ranges (in `bytes`) of the entry at dynamic index `i` (1 is the newest).
    fn ranges(&self, i: usize) -> Option<(Range<usize>, Range<usize>)> {
        let at = self.entries.len().checked_sub(i)?;
        let e = self.entries.get(at)?;
        let name = e.start - self.base;
        let value = name + e.name_len as usize;
        Some((name..value, value..value + e.value_len as usize))
    }

    fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let (n, v) = self.ranges(i)?;
        Some((&self.bytes[n], &self.bytes[v]))
    }

    fn evict_oldest(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.size -= e.name_len as usize + e.value_len as usize + ENTRY_OVERHEAD;
        }
    }

    /// A size update (§4.3): evict until the table fits.
    fn set_max(&mut self, max: usize) {
        self.max = max;
        while self.size > self.max {
            self.evict_oldest();
        }
    }

    /// Add an entry (§4.4): evict until it fits, or empty the table if it cannot.
    fn insert(&mut self, name: NameSrc, value: &[u8]) {
        let name_len = match name {
            NameSrc::Bytes(b) => b.len(),
            NameSrc::Entry(i) => match self.ranges(i) {
                Some((n, _)) => n.len(),
                None => return,
            },
        };
        let len = name_len + value.len();
        if len + ENTRY_OVERHEAD > self.max {
            while !self.entries.is_empty() {
                self.evict_oldest();
            }
            return;
        }
        if self.bytes.capacity() == 0 {
            self.bytes.reserve_exact(2 * self.limit);
            self.entries.reserve_exact(self.limit / ENTRY_OVERHEAD + 1);
        }
        // Make room at the end before evicting, so that a name taken from an entry about
        // to be evicted is still there to copy. Live bytes are at most `max` <= `limit`, so
        // after compaction `len` (< `max`) fits in the `2 * limit` reserved.
        if self.bytes.len() + len > 2 * self.limit {
            let head = self
                .entries
                .front()
                .map_or(self.bytes.len(), |e| e.start - self.base);
            self.bytes.drain(..head);
            self.base += head;
        }
        let start = self.base + self.bytes.len();
        match name {
            NameSrc::Bytes(b) => self.bytes.extend_from_slice(b),
            NameSrc::Entry(i) => {
                if let Some((n, _)) = self.ranges(i) {
                    self.bytes.extend_from_within(n);
                }
            }
        }
        self.bytes.extend_from_slice(value);
        while self.size + len + ENTRY_OVERHEAD > self.max {
            self.evict_oldest();
        }
        self.entries.push_back(Entry {
            start,
            name_len: name_len as u32,
            value_len: value.len() as u32,
        });
        self.size += len + ENTRY_OVERHEAD;
    }

    /// The dynamic index of an entry with this name and value.
    fn find(&self, name: &[u8], value: &[u8]) -> Option<usize> {
        (1..=self.len()).find(|&i| self.get(i) == Some((name, value)))
    }
}

/// Read an integer with an `n`-bit prefix (§5.1) at `*pos`.
fn integer(block: &[u8], pos: &mut usize, n: u32) -> Result<usize, Error> {
    let mask = (1u32 << n) - 1;
    let first = *block.get(*pos).ok_or(Error::Compression)? as u32 & mask;
    *pos += 1;
    if first < mask {
        return Ok(first as usize);
    }
    let mut value = u64::from(mask);
    for i in 0..MAX_INTEGER_BYTES {
        let b = *block.get(*pos).ok_or(Error::Compression)?;
        *pos += 1;
        value += u64::from(b & 0x7f) << (7 * i);
        if value > u64::from(u32::MAX) {
            return Err(Error::Compression);
        }
        if b & 0x80 == 0 {
            return Ok(value as usize);
        }
    }
    Err(Error::Compression)
}

/// Append an integer with an `n`-bit prefix after the pattern bits `flags` (§5.1).
fn put_integer(out: &mut Vec<u8>, flags: u8, n: u32, value: usize) {
    let mask = (1usize << n) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Append a string literal (§5.2), Huffman-coded when that is shorter.
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    let coded = huffman::encoded_len(s);
    if coded < s.len() {
        put_integer(out, 0x80, 7, coded);
        huffman::encode(s, out);
    } else {
        put_integer(out, 0, 7, s.len());
        out.extend_from_slice(s);
    }
}

/// A string literal in a block: Huffman-coded or not, and where its bytes are.
struct Literal {
    huffman: bool,
    bytes: Range<usize>,
}

fn literal(block: &[u8], pos: &mut usize) -> Result<Literal, Error> {
    let huffman = block.get(*pos).ok_or(Error::Compression)? & 0x80 != 0;
    let len = integer(block, pos, 7)?;
    let end = pos
        .checked_add(len)
        .filter(|&e| e <= block.len())
        .ok_or(Error::Compression)?;
    let bytes = *pos..end;
    *pos = end;
    Ok(Literal { huffman, bytes })
}

/// Where a decoded name or value is, until it is copied out.
#[derive(Clone)]
enum Src {
    Static(&'static [u8]),
    Block(Range<usize>),
    Scratch(Range<usize>),
    Table(Range<usize>),
}

/// The client-to-server direction's decoding state: the dynamic table.
pub struct Decoder {
    table: Table,
    /// Huffman-decoded strings of the field being read; reused.
    scratch: Vec<u8>,
}

/// How a literal field affects the table (§6.2).
#[derive(Clone, Copy, PartialEq)]
enum Indexing {
    Incremental,
    Without,
    Never,
}

impl Decoder {
    /// `max_table`: the SETTINGS_HEADER_TABLE_SIZE we announce (the most a size update may
    /// ask for).
    pub fn new(max_table: usize) -> Decoder {
        Decoder {
            table: Table::new(max_table),
            scratch: Vec::new(),
        }
    }

    /// The dynamic table's size as RFC 7541 §4.1 counts it.
    pub fn table_size(&self) -> usize {
        self.table.size
    }

    /// The dynamic table's entry at `index` (1 is the newest), for tests and checks.
    pub fn table_entry(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.table.get(index)
    }

    /// Decode one whole header block (the HEADERS frame's fragment with its CONTINUATIONs
    /// joined). Each field's name and value are appended to `out`, and a `Field` to `fields`
    /// (neither is cleared first). `max_list`: the most decoded bytes kept, counted as RFC
    /// 9113 §6.5.2 counts them; past it, `Error::TooLarge`.
    pub fn decode(
        &mut self,
        block: &[u8],
        out: &mut Vec<u8>,
        fields: &mut Vec<Field>,
        max_list: usize,
    ) -> Result<(), Error> {
        let mut pos = 0;
        let mut listed = 0usize;
        let mut over = false;
        // §4.2: size updates only before the first field of a block.
        let mut updates_allowed = true;
        while let Some(&first) = block.get(pos) {
            if first & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3).
                if !updates_allowed {
                    return Err(Error::Compression);
                }
                let size = integer(block, &mut pos, 5)?;
                if size > self.table.limit {
                    return Err(Error::Compression);
                }
                self.table.set_max(size);
                continue;
            }
            updates_allowed = false;
            if first & 0x80 != 0 {
                // Indexed field (§6.1).
                let index = integer(block, &mut pos, 7)?;
                let (name, value) = self.source(index)?;
                self.keep(
                    block,
                    &name,
                    &value,
                    false,
                    &mut listed,
                    &mut over,
                    max_list,
                    out,
                    fields,
                );
                continue;
            }
            let (indexing, prefix) = if first & 0x40 != 0 {
                (Indexing::Incremental, 6)
            } else if first & 0x10 != 0 {
                (Indexing::Never, 4)
            } else {
                (Indexing::Without, 4)
            };
            let index = integer(block, &mut pos, prefix)?;
            self.scratch.clear();
            let name = if index == 0 {
                let lit = literal(block, &mut pos)?;
                self.string(block, lit)?
            } else {
                self.source(index)?.0
            };
            let lit = literal(block, &mut pos)?;
            let value = self.string(block, lit)?;
            self.keep(
                block,
                &name,
                &value,
                indexing == Indexing::Never,
                &mut listed,
                &mut over,
                max_list,
                out,
                fields,
            );
            if indexing == Indexing::Incremental {
                // A literal's value is in the block or the scratch buffer, never the table.
                let value = slice(block, &self.scratch, &[], &value);
                let name = match name {
                    Src::Table(_) => NameSrc::Entry(index - STATIC.len()),
                    other => NameSrc::Bytes(slice(block, &self.scratch, &[], &other)),
                };
                self.table.insert(name, value);
            }
        }
        if over { Err(Error::TooLarge) } else { Ok(()) }
    }

    /// The name and value at `index` of the static and dynamic tables together (§2.3.3).
    fn source(&self, index: usize) -> Result<(Src, Src), Error> {
        if index == 0 {
            return Err(Error::Compression);
        }
        if let Some(&(n, v)) = STATIC.get(index - 1) {
            return Ok((Src::Static(n), Src::Static(v)));
        }
        let (n, v) = self
            .table
            .ranges(index - STATIC.len())
            .ok_or(Error::Compression)?;
        Ok((Src::Table(n), Src::Table(v)))
    }

    /// A string literal's bytes: in the block, or Huffman-decoded into the scratch buffer.
    fn string(&mut self, block: &[u8], lit: Literal) -> Result<Src, Error> {
        if !lit.huffman {
            return Ok(Src::Block(lit.bytes));
        }
        let start = self.scratch.len();
        huffman::decode(&block[lit.bytes], &mut self.scratch).map_err(|_| Error::Compression)?;
        Ok(Src::Scratch(start..self.scratch.len()))
    }

    /// Count a field and copy it out if the list is still within `max_list`; once past it,
    /// nothing more is copied (so a block cannot make `out` grow beyond the limit).
    #[allow(clippy::too_many_arguments)]
    fn keep(
        &self,
        block: &[u8],
        name: &Src,
        value: &Src,
        never_indexed: bool,
        listed: &mut usize,
        over: &mut bool,
        max_list: usize,
        out: &mut Vec<u8>,
        fields: &mut Vec<Field>,
    ) {
        if *over {
            return;
        }
        let name = slice(block, &self.scratch, &self.table.bytes, name);
        let value = slice(block, &self.scratch, &self.table.bytes, value);
        *listed = listed.saturating_add(name.len() + value.len() + ENTRY_OVERHEAD);
        if *listed > max_list {
            *over = true;
            return;
        }
        let n = out.len();
        out.extend_from_slice(name);
        let v = out.len();
        out.extend_from_slice(value);
        fields.push(Field {
            name: n..v,
            value: v..out.len(),
            never_indexed,
        });
    }
}

fn slice<'a>(block: &'a [u8], scratch: &'a [u8], table: &'a [u8], src: &Src) -> &'a [u8] {
    match src {
        Src::Static(s) => s,
        Src::Block(r) => &block[r.clone()],
        Src::Scratch(r) => &scratch[r.clone()],
        Src::Table(r) => &table[r.clone()],
    }
}

/// The server-to-client direction's encoding state.
pub struct Encoder {
    table: Table,
    /// Size updates owed at the start of the next block (§4.2): the smallest size the
    /// table went down to since the last block, then the size it is now.
    pending: Option<(usize, usize)>,
    /// Bumped by every change of the table (an insertion, a new size): two blocks encoded
    /// from the same fields with the same count between them are the same bytes.
    changes: u64,
}

impl Encoder {
    pub fn new() -> Encoder {
        // The peer's decoder starts at the default 4096 (RFC 9113 §6.5.2); ours is smaller
        // and must be announced before the table is used.
        let mut table = Table::new(ENCODER_TABLE_SIZE);
        table.set_max(ENCODER_TABLE_SIZE);
        Encoder {
            table,
            pending: Some((ENCODER_TABLE_SIZE, ENCODER_TABLE_SIZE)),
            changes: 0,
        }
    }

    /// Where the encoder's state stands, for a caller that keeps an encoded block to send
    /// again: the same fields encoded at the same `state` give the same block, and a block
    /// encoded without moving the state can be reused while it stays put. `None` while a
    /// size update is owed (the next block carries it).
    pub fn state(&self) -> Option<u64> {
        self.pending.is_none().then_some(self.changes)
    }

    /// The dynamic table's size as RFC 7541 §4.1 counts it.
    pub fn table_size(&self) -> usize {
        self.table.size
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: the next block starts with a size
    /// update if the table must shrink.
    pub fn set_max_table(&mut self, size: usize) {
        let size = size.min(ENCODER_TABLE_SIZE);
        if size == self.table.max && self.pending.is_none() {
            return;
        }
        let low = self.pending.map_or(size, |(low, _)| low.min(size));
        self.pending = Some((low, size));
        self.changes += 1;
        self.table.set_max(size);
    }

    /// Start a header block that does not begin with `:status` (trailers): the size update
    /// owed, if any, goes first. `status` does this itself.
    pub fn begin_block(&mut self, out: &mut Vec<u8>) {
        if let Some((low, now)) = self.pending.take() {
            if low < now {
                put_integer(out, 0x20, 5, low);
            }
            put_integer(out, 0x20, 5, now);
        }
    }

    /// Append `:status` to a header block being built in `out`.
    pub fn status(&mut self, status: u16, out: &mut Vec<u8>) {
        self.begin_block(out);
        let index = match status {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => 0,
        };
        if index != 0 {
            out.push(0x80 | index);
            return;
        }
        // A literal without indexing, with the name of static entry 8: the other codes are
        // too rare on a connection to earn a table entry.
        put_integer(out, 0, 4, 8);
        let digits = [
            b'0' + (status / 100 % 10) as u8,
            b'0' + (status / 10 % 10) as u8,
            b'0' + (status % 10) as u8,
        ];
        put_string(out, &digits);
    }

    /// Append one field; `name` must be lowercase already (RFC 9113 §8.2.1).
    pub fn field(&mut self, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
        let static_index = static_name(name).map_or(0, usize::from);
        // While a size update is owed the peer's table may not match ours: leave it alone.
        // An entry over a quarter of the table would push out the ones that repeat.
        let policy = policy(name);
        let index = self.pending.is_none()
            && policy == Policy::Index
            && (name.len() + value.len() + ENTRY_OVERHEAD) * 4 <= self.table.max;
        if index {
            if let Some(i) = self.table.find(name, value) {
                put_integer(out, 0x80, 7, STATIC.len() + i);
                return;
            }
            put_integer(out, 0x40, 6, static_index);
            self.table.insert(NameSrc::Bytes(name), value);
            self.changes += 1;
        } else if policy == Policy::Never {
            put_integer(out, 0x10, 4, static_index);
        } else {
            put_integer(out, 0, 4, static_index);
        }
        if static_index == 0 {
            put_string(out, name);
        }
        put_string(out, value);
    }
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

#[cfg(test)]
mod tests;
