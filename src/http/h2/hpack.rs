//! HPACK (RFC 7541): the header compression of HTTP/2. A `Decoder` per connection for the
//! client's header blocks, an `Encoder` per connection for ours.
//!
//! Zero-copy where it can be and allocation-free in steady state: decoded names and values
//! are appended to a buffer the caller owns and reuses, and reported as ranges of it.

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

/// The client-to-server direction's decoding state: the dynamic table.
pub struct Decoder {}

impl Decoder {
    /// `max_table`: the SETTINGS_HEADER_TABLE_SIZE we announce (the most a size update may
    /// ask for).
    pub fn new(max_table: usize) -> Decoder {
        let _ = max_table;
        todo!("hpack::Decoder::new")
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
        let _ = (block, out, fields, max_list);
        todo!("hpack::Decoder::decode")
    }
}

/// The server-to-client direction's encoding state.
pub struct Encoder {}

impl Encoder {
    pub fn new() -> Encoder {
        todo!("hpack::Encoder::new")
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: the next block starts with a size
    /// update if the table must shrink.
    pub fn set_max_table(&mut self, size: usize) {
        let _ = size;
        todo!("hpack::Encoder::set_max_table")
    }

    /// Append `:status` to a header block being built in `out`.
    pub fn status(&mut self, status: u16, out: &mut Vec<u8>) {
        let _ = (status, out);
        todo!("hpack::Encoder::status")
    }

    /// Append one field; `name` must be lowercase already (RFC 9113 §8.2.1).
    pub fn field(&mut self, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
        let _ = (name, value, out);
        todo!("hpack::Encoder::field")
    }
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}
