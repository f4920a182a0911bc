//! HTTP/2 frames (RFC 9113 §4 and §6): the 9-byte frame header, each frame type's payload
//! rules, the SETTINGS parameters and the error codes, and the writers of the frames the
//! server sends. Pure functions over bytes: what a frame means for a stream or the
//! connection (states, windows, header blocks) is the session's (`conn/http2/`).
//!
//! `parse` checks every rule of §6 that a single frame can break on its own (lengths, the
//! stream-0 rules, padding, the PRIORITY self-dependency, WINDOW_UPDATE 0, SETTINGS values)
//! and says whether the breach is a connection error or an error of one stream. Unknown
//! frame types parse as `Frame::Unknown`, which the session ignores (§5.5).

/// The connection preface a client sends first (§3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Length of the frame header (§4.1).
pub const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE's initial value and smallest allowed value (§6.5.2).
pub const MIN_MAX_FRAME: u32 = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE allowed (§6.5.2): 2^24 - 1.
pub const MAX_MAX_FRAME: u32 = (1 << 24) - 1;
/// The largest flow-control window (§6.9.1): 2^31 - 1.
pub const MAX_WINDOW: u32 = (1 << 31) - 1;
/// Every window's initial size (§6.9.2).
pub const DEFAULT_WINDOW: u32 = 65_535;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const FLAG_END_STREAM: u8 = 0x1;
pub const FLAG_ACK: u8 = 0x1;
pub const FLAG_END_HEADERS: u8 = 0x4;
pub const FLAG_PADDED: u8 = 0x8;
pub const FLAG_PRIORITY: u8 = 0x20;

/// SETTINGS parameters (§6.5.2).
pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// Error codes (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorCode {
    NoError = 0x0,
    Protocol = 0x1,
    Internal = 0x2,
    FlowControl = 0x3,
    SettingsTimeout = 0x4,
    StreamClosed = 0x5,
    FrameSize = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    Compression = 0x9,
    Connect = 0xa,
    EnhanceYourCalm = 0xb,
    InadequateSecurity = 0xc,
    Http11Required = 0xd,
}

/// A frame that breaks a rule: of the whole connection (GOAWAY and close), or of one stream
/// (RST_STREAM, the connection goes on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    Connection(ErrorCode),
    Stream(u32, ErrorCode),
}

/// The frame header (§4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Payload length.
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    /// The stream identifier, its reserved bit dropped (§4.1: ignored on receipt).
    pub stream: u32,
}

impl Head {
    /// The header at the start of `b` (at least `HEADER_LEN` bytes).
    pub fn parse(b: &[u8]) -> Head {
        Head {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & MAX_WINDOW,
        }
    }
}

/// A PRIORITY frame's or HEADERS frame's priority fields (§5.3.2, deprecated): checked,
/// then ignored, as RFC 9113 §5.3 allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    pub depends_on: u32,
    pub exclusive: bool,
    pub weight: u8,
}

/// A parsed frame; slices borrow the payload.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Data {
        stream: u32,
        end_stream: bool,
        data: &'a [u8],
        /// The whole payload's length, padding included: what counts against the windows
        /// (§6.9.1).
        flow_len: u32,
    },
    Headers {
        stream: u32,
        end_stream: bool,
        end_headers: bool,
        fragment: &'a [u8],
    },
    Priority {
        stream: u32,
    },
    RstStream {
        stream: u32,
        code: u32,
    },
    Settings {
        ack: bool,
        /// Validated pairs, 6 bytes each (`settings`).
        payload: &'a [u8],
    },
    Ping {
        ack: bool,
        data: [u8; 8],
    },
    Goaway {
        last_stream: u32,
        code: u32,
    },
    WindowUpdate {
        stream: u32,
        increment: u32,
    },
    Continuation {
        stream: u32,
        end_headers: bool,
        fragment: &'a [u8],
    },
    /// A type this endpoint does not know: ignored (§5.5).
    Unknown,
}

use ErrorCode as E;
use FrameError::{Connection as Conn, Stream as Strm};

/// Parse one frame whose header is `h` and payload `p` (`p.len() == h.len`). `max_frame` is
/// the SETTINGS_MAX_FRAME_SIZE we announced: a larger frame is a FRAME_SIZE_ERROR, of the
/// connection (§4.2: we do not try to tell which frames could have changed its state).
pub fn parse<'a>(h: &Head, p: &'a [u8], max_frame: u32) -> Result<Frame<'a>, FrameError> {
    debug_assert_eq!(p.len(), h.len as usize);
    if h.len > max_frame {
        return Err(Conn(E::FrameSize));
    }
    let s = h.stream;
    match h.kind {
        DATA => {
            if s == 0 {
                return Err(Conn(E::Protocol));
            }
            let data = unpad(h, p)?;
            Ok(Frame::Data {
                stream: s,
                end_stream: h.flags & FLAG_END_STREAM != 0,
                data,
                flow_len: h.len,
            })
        }
        HEADERS => {
            if s == 0 {
                return Err(Conn(E::Protocol));
            }
            let mut rest = unpad(h, p)?;
            if h.flags & FLAG_PRIORITY != 0 {
                if rest.len() < 5 {
                    return Err(Conn(E::FrameSize));
                }
                let pr = priority(&rest[..5]);
                if pr.depends_on == s {
                    // §5.3.1: a stream cannot depend on itself.
                    return Err(Strm(s, E::Protocol));
                }
                rest = &rest[5..];
            }
            Ok(Frame::Headers {
                stream: s,
                end_stream: h.flags & FLAG_END_STREAM != 0,
                end_headers: h.flags & FLAG_END_HEADERS != 0,
                fragment: rest,
            })
        }
        PRIORITY => {
            if s == 0 {
                return Err(Conn(E::Protocol));
            }
            if p.len() != 5 {
                return Err(Strm(s, E::FrameSize));
            }
            if priority(p).depends_on == s {
                return Err(Strm(s, E::Protocol));
            }
            Ok(Frame::Priority { stream: s })
        }
        RST_STREAM => {
            if s == 0 {
                return Err(Conn(E::Protocol));
            }
            if p.len() != 4 {
                return Err(Conn(E::FrameSize));
            }
            Ok(Frame::RstStream {
                stream: s,
                code: u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
            })
        }
        SETTINGS => {
            if s != 0 {
                return Err(Conn(E::Protocol));
            }
            let ack = h.flags & FLAG_ACK != 0;
            if ack && !p.is_empty() {
                return Err(Conn(E::FrameSize));
            }
            if !p.len().is_multiple_of(6) {
                return Err(Conn(E::FrameSize));
            }
            for (id, value) in settings(p) {
                check_setting(id, value)?;
            }
            Ok(Frame::Settings { ack, payload: p })
        }
        // A server never receives a promise (§8.4: a client cannot push).
        PUSH_PROMISE => Err(Conn(E::Protocol)),
        PING => {
            if s != 0 {
                return Err(Conn(E::Protocol));
            }
            if p.len() != 8 {
                return Err(Conn(E::FrameSize));
            }
            let mut data = [0u8; 8];
            data.copy_from_slice(p);
            Ok(Frame::Ping {
                ack: h.flags & FLAG_ACK != 0,
                data,
            })
        }
        GOAWAY => {
            if s != 0 {
                return Err(Conn(E::Protocol));
            }
            if p.len() < 8 {
                return Err(Conn(E::FrameSize));
            }
            Ok(Frame::Goaway {
                last_stream: u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & MAX_WINDOW,
                code: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
            })
        }
        WINDOW_UPDATE => {
            if p.len() != 4 {
                return Err(Conn(E::FrameSize));
            }
            let increment = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & MAX_WINDOW;
            if increment == 0 {
                // §6.9: an increment of 0 is an error of what it was sent for.
                return Err(if s == 0 {
                    Conn(E::Protocol)
                } else {
                    Strm(s, E::Protocol)
                });
            }
            Ok(Frame::WindowUpdate {
                stream: s,
                increment,
            })
        }
        CONTINUATION => {
            if s == 0 {
                return Err(Conn(E::Protocol));
            }
            Ok(Frame::Continuation {
                stream: s,
                end_headers: h.flags & FLAG_END_HEADERS != 0,
                fragment: p,
            })
        }
        _ => Ok(Frame::Unknown),
    }
}

/// The payload without its padding (§6.1, §6.2): a pad length that leaves no room is a
/// PROTOCOL_ERROR of the connection.
fn unpad<'a>(h: &Head, p: &'a [u8]) -> Result<&'a [u8], FrameError> {
    if h.flags & FLAG_PADDED == 0 {
        return Ok(p);
    }
    let Some((&pad, rest)) = p.split_first() else {
        return Err(Conn(E::FrameSize));
    };
    if pad as usize > rest.len() {
        return Err(Conn(E::Protocol));
    }
    Ok(&rest[..rest.len() - pad as usize])
}

fn priority(p: &[u8]) -> Priority {
    let dep = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
    Priority {
        depends_on: dep & MAX_WINDOW,
        exclusive: dep & !MAX_WINDOW != 0,
        weight: p[4],
    }
}

/// The (identifier, value) pairs of a SETTINGS payload (a multiple of 6 bytes).
pub fn settings(p: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    p.chunks_exact(6).map(|c| {
        (
            u16::from_be_bytes([c[0], c[1]]),
            u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
        )
    })
}

/// §6.5.2: the values a SETTINGS parameter may not take. Unknown identifiers are ignored.
fn check_setting(id: u16, value: u32) -> Result<(), FrameError> {
    match id {
        SETTINGS_ENABLE_PUSH if value > 1 => Err(Conn(E::Protocol)),
        SETTINGS_INITIAL_WINDOW_SIZE if value > MAX_WINDOW => Err(Conn(E::FlowControl)),
        SETTINGS_MAX_FRAME_SIZE if !(MIN_MAX_FRAME..=MAX_MAX_FRAME).contains(&value) => {
            Err(Conn(E::Protocol))
        }
        _ => Ok(()),
    }
}

// ---- writing ----

/// A frame header's bytes.
pub fn head_bytes(len: usize, kind: u8, flags: u8, stream: u32) -> [u8; HEADER_LEN] {
    debug_assert!(len <= MAX_MAX_FRAME as usize);
    let l = (len as u32).to_be_bytes();
    let s = (stream & MAX_WINDOW).to_be_bytes();
    [l[1], l[2], l[3], kind, flags, s[0], s[1], s[2], s[3]]
}

/// Append a frame header.
pub fn write_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&head_bytes(len, kind, flags, stream));
}

/// A SETTINGS frame with these parameters.
pub fn write_settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    write_head(out, params.len() * 6, SETTINGS, 0, 0);
    for (id, v) in params {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }
}

pub fn write_settings_ack(out: &mut Vec<u8>) {
    write_head(out, 0, SETTINGS, FLAG_ACK, 0);
}

pub fn write_ping_ack(out: &mut Vec<u8>, data: &[u8; 8]) {
    write_head(out, 8, PING, FLAG_ACK, 0);
    out.extend_from_slice(data);
}

pub fn write_goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode) {
    write_head(out, 8, GOAWAY, 0, 0);
    out.extend_from_slice(&(last_stream & MAX_WINDOW).to_be_bytes());
    out.extend_from_slice(&(code as u32).to_be_bytes());
}

pub fn write_rst(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    write_head(out, 4, RST_STREAM, 0, stream);
    out.extend_from_slice(&(code as u32).to_be_bytes());
}

pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    debug_assert!(increment > 0 && increment <= MAX_WINDOW);
    write_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&increment.to_be_bytes());
}

/// A header block as HEADERS and, past `max_frame` bytes, CONTINUATION frames (§4.3).
pub fn write_headers(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: usize,
) {
    let mut chunks = block.chunks(max_frame.max(1));
    let first = chunks.next().unwrap_or(&[]);
    let mut flags = if end_stream { FLAG_END_STREAM } else { 0 };
    let more = block.len() > first.len();
    if !more {
        flags |= FLAG_END_HEADERS;
    }
    write_head(out, first.len(), HEADERS, flags, stream);
    out.extend_from_slice(first);
    let mut left = block.len() - first.len();
    for c in chunks {
        left -= c.len();
        let f = if left == 0 { FLAG_END_HEADERS } else { 0 };
        write_head(out, c.len(), CONTINUATION, f, stream);
        out.extend_from_slice(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        write_head(&mut v, payload.len(), kind, flags, stream);
        v.extend_from_slice(payload);
        v
    }

    fn p(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
        let h = Head::parse(bytes);
        parse(&h, &bytes[HEADER_LEN..], MIN_MAX_FRAME)
    }

    #[test]
    fn header_round_trips_and_drops_the_reserved_bit() {
        let mut v = Vec::new();
        write_head(&mut v, 0x123456, 7, 0xab, 5);
        v[5] |= 0x80;
        assert_eq!(
            Head::parse(&v),
            Head {
                len: 0x123456,
                kind: 7,
                flags: 0xab,
                stream: 5
            }
        );
    }

    #[test]
    fn data_padding_and_stream_zero() {
        let f = frame(
            DATA,
            FLAG_PADDED | FLAG_END_STREAM,
            1,
            &[2, b'h', b'i', 0, 0],
        );
        assert_eq!(
            p(&f),
            Ok(Frame::Data {
                stream: 1,
                end_stream: true,
                data: b"hi",
                flow_len: 5
            })
        );
        assert_eq!(p(&frame(DATA, 0, 0, b"x")), Err(Conn(E::Protocol)));
        // Padding as long as the payload: no room for the pad length itself.
        assert_eq!(
            p(&frame(DATA, FLAG_PADDED, 1, &[4, 0, 0, 0])),
            Err(Conn(E::Protocol))
        );
        assert_eq!(
            p(&frame(DATA, FLAG_PADDED, 1, &[])),
            Err(Conn(E::FrameSize))
        );
    }

    #[test]
    fn headers_with_priority_and_self_dependency() {
        let f = frame(
            HEADERS,
            FLAG_PRIORITY | FLAG_END_HEADERS,
            3,
            &[0, 0, 0, 1, 16, 0x82],
        );
        assert_eq!(
            p(&f),
            Ok(Frame::Headers {
                stream: 3,
                end_stream: false,
                end_headers: true,
                fragment: &[0x82]
            })
        );
        let f = frame(HEADERS, FLAG_PRIORITY, 3, &[0, 0, 0, 3, 16]);
        assert_eq!(p(&f), Err(Strm(3, E::Protocol)));
        assert_eq!(
            p(&frame(PRIORITY, 0, 5, &[0, 0, 0, 5, 1])),
            Err(Strm(5, E::Protocol))
        );
        assert_eq!(
            p(&frame(PRIORITY, 0, 5, &[0, 0, 0, 1])),
            Err(Strm(5, E::FrameSize))
        );
        assert_eq!(p(&frame(PRIORITY, 0, 0, &[0; 5])), Err(Conn(E::Protocol)));
    }

    #[test]
    fn settings_rules() {
        assert_eq!(p(&frame(SETTINGS, 0, 1, &[])), Err(Conn(E::Protocol)));
        assert_eq!(
            p(&frame(SETTINGS, FLAG_ACK, 0, &[0; 6])),
            Err(Conn(E::FrameSize))
        );
        assert_eq!(p(&frame(SETTINGS, 0, 0, &[0; 5])), Err(Conn(E::FrameSize)));
        let bad = |id: u16, v: u32| {
            let mut pl = id.to_be_bytes().to_vec();
            pl.extend_from_slice(&v.to_be_bytes());
            p(&frame(SETTINGS, 0, 0, &pl)).err()
        };
        assert_eq!(bad(SETTINGS_ENABLE_PUSH, 2), Some(Conn(E::Protocol)));
        assert_eq!(
            bad(SETTINGS_INITIAL_WINDOW_SIZE, 1 << 31),
            Some(Conn(E::FlowControl))
        );
        assert_eq!(
            bad(SETTINGS_MAX_FRAME_SIZE, 16_383),
            Some(Conn(E::Protocol))
        );
        assert_eq!(
            bad(SETTINGS_MAX_FRAME_SIZE, 1 << 24),
            Some(Conn(E::Protocol))
        );
        assert_eq!(bad(SETTINGS_MAX_FRAME_SIZE, 16_384), None);
        assert_eq!(bad(0xff, u32::MAX), None, "unknown settings are ignored");
    }

    #[test]
    fn ping_goaway_rst_window_update_rules() {
        assert_eq!(p(&frame(PING, 0, 0, &[0; 7])), Err(Conn(E::FrameSize)));
        assert_eq!(p(&frame(PING, 0, 1, &[0; 8])), Err(Conn(E::Protocol)));
        assert_eq!(p(&frame(GOAWAY, 0, 0, &[0; 7])), Err(Conn(E::FrameSize)));
        assert_eq!(p(&frame(RST_STREAM, 0, 0, &[0; 4])), Err(Conn(E::Protocol)));
        assert_eq!(
            p(&frame(RST_STREAM, 0, 1, &[0; 3])),
            Err(Conn(E::FrameSize))
        );
        assert_eq!(
            p(&frame(WINDOW_UPDATE, 0, 0, &[0; 4])),
            Err(Conn(E::Protocol))
        );
        assert_eq!(
            p(&frame(WINDOW_UPDATE, 0, 1, &[0; 4])),
            Err(Strm(1, E::Protocol))
        );
        assert_eq!(
            p(&frame(WINDOW_UPDATE, 0, 1, &[0; 5])),
            Err(Conn(E::FrameSize))
        );
        assert_eq!(
            p(&frame(WINDOW_UPDATE, 0, 1, &[0x80, 0, 0, 9])),
            Ok(Frame::WindowUpdate {
                stream: 1,
                increment: 9
            })
        );
        assert_eq!(
            p(&frame(PUSH_PROMISE, 0, 1, &[0; 4])),
            Err(Conn(E::Protocol))
        );
        assert_eq!(p(&frame(0x42, 0, 0, b"whatever")), Ok(Frame::Unknown));
        let big = vec![0u8; MIN_MAX_FRAME as usize + 1];
        assert_eq!(p(&frame(0x42, 0, 0, &big)), Err(Conn(E::FrameSize)));
    }

    #[test]
    fn a_large_block_is_split_into_continuations() {
        let block = vec![7u8; 40];
        let mut out = Vec::new();
        write_headers(&mut out, 1, &block, true, 16);
        let kinds: Vec<(u8, u8, u32)> = {
            let mut v = Vec::new();
            let mut at = 0;
            while at < out.len() {
                let h = Head::parse(&out[at..]);
                v.push((h.kind, h.flags, h.len));
                at += HEADER_LEN + h.len as usize;
            }
            v
        };
        assert_eq!(
            kinds,
            vec![
                (HEADERS, FLAG_END_STREAM, 16),
                (CONTINUATION, 0, 16),
                (CONTINUATION, FLAG_END_HEADERS, 8)
            ]
        );
    }
}
