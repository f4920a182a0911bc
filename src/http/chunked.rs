//! The chunked transfer coding of request bodies (RFC 9112 §7.1), decoded incrementally.
//!
//! The decoder is a small state machine fed whatever bytes have arrived; it never buffers and
//! never allocates. Each call consumes framing bytes and hands back the range of the input that
//! is body data, so the caller can discard it (a static GET with a body), stream it to a file
//! or to a CGI program, and stop whenever the consumer cannot take more. Limits guard against
//! hostile framing: chunk sizes that overflow, endless extensions, and endless trailers.

use core::ops::Range;

/// Longest chunk-size line after the digits (extensions), per chunk.
const MAX_EXTENSION_BYTES: usize = 4096;
/// Most hex digits in a chunk size (leading zeros included).
const MAX_SIZE_DIGITS: usize = 32;
/// Largest trailer section; trailers are read and dropped.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// The last chunk of a chunked response, with no trailer (RFC 9112 §7.1).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Append `data` to `out` as one chunk of a chunked response (RFC 9112 §7.1): its size in
/// hex, CRLF, the data, CRLF. Returns the framing bytes added (not counting `data`).
pub fn push_chunk(out: &mut Vec<u8>, data: &[u8]) -> u64 {
    let before = out.len();
    crate::http::response::push_hex(out, data.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    (out.len() - before - data.len()) as u64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// The framing is malformed or over a limit: answer 400 and close.
    Malformed(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Size {
        digits: usize,
    },
    /// In the extensions after the size; `len` bytes of them so far.
    Ext {
        at: Ext,
        len: usize,
    },
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
    Done,
}

/// Where in `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`
/// (RFC 9112 §7.1.1) the decoder is; `chunk-ext-val = token / quoted-string`. Only what the
/// grammar allows passes: a parser that accepts more (a space and then anything, a bare
/// word without `;`) can disagree with another about where a chunk ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ext {
    /// Whitespace after the size: `;` must come.
    AfterSize,
    /// After `;`: whitespace, then the name's first byte.
    NameStart,
    /// In the name.
    Name,
    /// Whitespace after the name: `=` or `;` must come.
    AfterName,
    /// After `=`: whitespace, then a token or a quoted string.
    ValueStart,
    Token,
    Quoted,
    QuotedPair,
    /// Just after a quoted string's closing quote.
    Closed,
    /// Whitespace after a value: `;` must come (BWS stands only before `;` and `=`).
    AfterValue,
}

#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    remaining: u64,
    trailer_bytes: usize,
    /// Body bytes decoded so far.
    pub total: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            size: 0,
            remaining: 0,
            trailer_bytes: 0,
            total: 0,
        }
    }

    /// The last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decode from `input`. Returns how many bytes of `input` were consumed and, if the
    /// consumed bytes end with body data, its range within `input`. Call again with the rest
    /// while the consumed count is non-zero and the decoder is not done.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Range<usize>>), ChunkError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Size { digits } => {
                    if let Some(d) = hex_value(b) {
                        if digits == MAX_SIZE_DIGITS || self.size > (u64::MAX >> 4) {
                            return Err(ChunkError::Malformed("chunk size too large"));
                        }
                        self.size = (self.size << 4) | u64::from(d);
                        self.state = State::Size { digits: digits + 1 };
                    } else if digits == 0 {
                        return Err(ChunkError::Malformed("chunk size is not hex"));
                    } else if b == b'\r' {
                        self.state = State::SizeLf;
                    } else if b == b';' {
                        self.state = State::Ext {
                            at: Ext::NameStart,
                            len: 1,
                        };
                    } else if b == b' ' || b == b'\t' {
                        self.state = State::Ext {
                            at: Ext::AfterSize,
                            len: 1,
                        };
                    } else {
                        return Err(ChunkError::Malformed("bad byte after chunk size"));
                    }
                }
                State::Ext { at, len } => {
                    self.state = match ext_step(at, b) {
                        None => return Err(ChunkError::Malformed("malformed chunk extension")),
                        Some(None) => State::SizeLf,
                        Some(Some(_)) if len >= MAX_EXTENSION_BYTES => {
                            return Err(ChunkError::Malformed("chunk extension too long"));
                        }
                        Some(Some(at)) => State::Ext { at, len: len + 1 },
                    };
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed("chunk size line without CRLF"));
                    }
                    if self.size == 0 {
                        self.state = State::TrailerStart;
                    } else {
                        self.remaining = self.size;
                        self.state = State::Data;
                    }
                    self.size = 0;
                }
                State::Data => {
                    let avail = (input.len() - i) as u64;
                    let n = avail.min(self.remaining) as usize;
                    self.remaining -= n as u64;
                    self.total += n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok((i + n, Some(i..i + n)));
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError::Malformed("chunk data not followed by CRLF"));
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed("chunk data not followed by CRLF"));
                    }
                    self.state = State::Size { digits: 0 };
                }
                State::TrailerStart => {
                    self.state = if b == b'\r' {
                        State::EndLf
                    } else {
                        State::Trailer
                    };
                    if self.state == State::Trailer {
                        if !crate::http::parse::is_tchar(b) {
                            return Err(ChunkError::Malformed("bad trailer field"));
                        }
                        self.trailer_bytes += 1;
                    }
                }
                State::Trailer => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > MAX_TRAILER_BYTES {
                        return Err(ChunkError::Malformed("trailer section too large"));
                    }
                    if b == b'\r' {
                        self.state = State::TrailerLf;
                    } else if !(b == b'\t' || (b >= 0x20 && b != 0x7f)) {
                        return Err(ChunkError::Malformed("control byte in trailer"));
                    }
                }
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed("trailer line without CRLF"));
                    }
                    self.state = State::TrailerStart;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed("last chunk without final CRLF"));
                    }
                    self.state = State::Done;
                    return Ok((i + 1, None));
                }
                State::Done => return Ok((i, None)),
            }
            i += 1;
        }
        Ok((i, None))
    }
}

/// One byte of chunk extensions: the next place in the grammar (`Some(None)`: the CR that
/// ends the line), or None when the byte is not allowed there.
fn ext_step(at: Ext, b: u8) -> Option<Option<Ext>> {
    use crate::http::parse::is_tchar;
    let ws = b == b' ' || b == b'\t';
    let next = match at {
        Ext::AfterSize if ws => Ext::AfterSize,
        Ext::NameStart if ws => Ext::NameStart,
        Ext::NameStart | Ext::Name if is_tchar(b) => Ext::Name,
        Ext::Name | Ext::AfterName if ws => Ext::AfterName,
        Ext::Name | Ext::AfterName if b == b'=' => Ext::ValueStart,
        Ext::ValueStart if ws => Ext::ValueStart,
        Ext::ValueStart if b == b'"' => Ext::Quoted,
        Ext::ValueStart | Ext::Token if is_tchar(b) => Ext::Token,
        Ext::Token | Ext::Closed | Ext::AfterValue if ws => Ext::AfterValue,
        // qdtext: HTAB, SP, visible bytes but `"` and `\`, obs-text.
        Ext::Quoted if b == b'"' => Ext::Closed,
        Ext::Quoted if b == b'\\' => Ext::QuotedPair,
        Ext::Quoted | Ext::QuotedPair if ws || (b >= 0x21 && b != 0x7f) => Ext::Quoted,
        Ext::AfterSize
        | Ext::Name
        | Ext::AfterName
        | Ext::Token
        | Ext::Closed
        | Ext::AfterValue
            if b == b';' =>
        {
            Ext::NameStart
        }
        // The line ends right after a name or a value, never after whitespace.
        Ext::Name | Ext::Token | Ext::Closed if b == b'\r' => return Some(None),
        _ => return None,
    };
    Some(Some(next))
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `input` fed in pieces of `step` bytes; return the body and the bytes left over.
    fn run(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut pos = 0;
        while !d.is_done() && pos < input.len() {
            let end = (pos + step).min(input.len());
            let mut piece = &input[pos..end];
            while !piece.is_empty() && !d.is_done() {
                let (n, data) = d.decode(piece)?;
                if let Some(r) = data {
                    body.extend_from_slice(&piece[r]);
                }
                piece = &piece[n..];
                pos += n;
            }
        }
        assert!(d.is_done(), "decoder not done");
        assert_eq!(d.total as usize, body.len());
        Ok((body, input.len() - pos))
    }

    #[test]
    fn rfc9112_7_1_chunks_extensions_and_trailers() {
        let msg = b"5;name=\"v\"\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET";
        for step in [1, 2, 3, 7, 100] {
            let (body, left) = run(msg, step).unwrap();
            assert_eq!(body, b"hello world");
            assert_eq!(left, 3, "the next request stays in the buffer");
        }
    }

    #[test]
    fn rfc9112_7_1_size_overflow_refused() {
        assert!(run(b"10000000000000000\r\n", 100).is_err());
        assert!(run(b"000000000000000000000001\r\nx\r\n0\r\n\r\n", 100).is_ok());
    }

    #[test]
    fn malformed_framing_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"0\r\nX: y\n\r\n",
            b"5;a\x01\r\nhello\r\n0\r\n\r\n",
            b"-1\r\n",
        ] {
            assert!(run(bad, 100).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// RFC 9112 §7.1.1: extensions as the grammar has them pass, with whitespace where it
    /// allows BWS; anything else is refused, split into pieces of any size.
    #[test]
    fn rfc9112_7_1_1_chunk_extension_grammar() {
        for ext in [
            &b""[..],
            b";a",
            b";a=b",
            b" ;a = b ; c",
            b";a=\"\"",
            b";a=\"x;y\\\"z \\\\\"",
            b";a=\"\xe9\"",
            b";!#$%&'*+-.^_`|~09azAZ=!#$%&'*+-.^_`|~",
            b"\t;\ta\t=\t\"v\"\t;b",
        ] {
            let msg = [&b"3"[..], ext, b"\r\nabc\r\n0\r\n\r\n"].concat();
            for step in [1, 2, 100] {
                let got = run(&msg, step);
                assert!(got.is_ok(), "{:?}: {got:?}", String::from_utf8_lossy(ext));
                assert_eq!(got.unwrap().0, b"abc");
            }
        }
        for ext in [
            &b" "[..],
            b" x",
            b";",
            b";;a",
            b";=b",
            b";a=",
            b";a=b c",
            b";a b",
            b";a=\"unclosed",
            b";a=\"x\"y",
            b";a=\"\x01\"",
            b";a\x80",
            b";a=b,c",
            b";a=\"x\" ;",
            b"\x0b;a",
            b";a ",
            b";a=b ",
            b";a=\"b\" ",
        ] {
            let msg = [&b"3"[..], ext, b"\r\nabc\r\n0\r\n\r\n"].concat();
            for step in [1, 100] {
                assert!(
                    run(&msg, step).is_err(),
                    "{:?}",
                    String::from_utf8_lossy(ext)
                );
            }
        }
    }

    #[test]
    fn endless_extension_and_trailer_refused() {
        let mut ext = b"1;".to_vec();
        ext.extend(std::iter::repeat_n(b'a', MAX_EXTENSION_BYTES + 1));
        assert!(run(&ext, 100).is_err());
        // At the limit exactly (`;` and the name count), the line still ends.
        let mut ext = b"1;".to_vec();
        ext.extend(std::iter::repeat_n(b'a', MAX_EXTENSION_BYTES - 1));
        ext.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert!(run(&ext, 100).is_ok());
        let mut trailer = b"0\r\nX: ".to_vec();
        trailer.extend(std::iter::repeat_n(b'a', MAX_TRAILER_BYTES + 1));
        assert!(run(&trailer, 1000).is_err());
    }
}
