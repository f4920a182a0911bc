//! A raw HTTP/2 client for the tests: frames built as bytes by hand (RFC 9113 §4.1, §6) and
//! written to a plain TCP socket, so a test can send what no well-behaved client would
//! (floods, resets, endless header blocks) and see exactly what the server sends back.
//!
//! Request header blocks are built by hand from static-table indices and literals (RFC 7541
//! §6), without the server's encoder. Response header blocks are read with the server's own
//! HPACK decoder (checked on its own against RFC 7541 Appendix C), only to find `:status`.
//! Every read has a deadline.
#![allow(dead_code)]

use barehttpd::http::h2::hpack::Decoder;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Frame types (§6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

// Flags.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

// Settings (§6.5.2).
pub const HEADER_TABLE_SIZE: u16 = 0x1;
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;

// Error codes (§7).
pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame's bytes.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in pairs {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

pub fn settings_ack() -> Vec<u8> {
    frame(SETTINGS, ACK, 0, &[])
}

pub fn headers(stream: u32, block: &[u8], end_stream: bool, end_headers: bool) -> Vec<u8> {
    let flags = if end_stream { END_STREAM } else { 0 } | if end_headers { END_HEADERS } else { 0 };
    frame(HEADERS, flags, stream, block)
}

pub fn continuation(stream: u32, fragment: &[u8], end_headers: bool) -> Vec<u8> {
    frame(
        CONTINUATION,
        if end_headers { END_HEADERS } else { 0 },
        stream,
        fragment,
    )
}

pub fn data(stream: u32, bytes: &[u8], end_stream: bool) -> Vec<u8> {
    frame(DATA, if end_stream { END_STREAM } else { 0 }, stream, bytes)
}

pub fn rst(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

pub fn ping(opaque: [u8; 8]) -> Vec<u8> {
    frame(PING, 0, 0, &opaque)
}

pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

/// An HPACK integer with an `n`-bit prefix after the pattern bits `flags` (RFC 7541 §5.1).
pub fn hpack_int(out: &mut Vec<u8>, flags: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// A raw (not Huffman-coded) string literal (RFC 7541 §5.2).
pub fn hpack_str(out: &mut Vec<u8>, s: &[u8]) {
    hpack_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// The header block of `GET path`: `:method GET` and `:scheme http` by static index (2, 6),
/// `:path` and `:authority` as literals without indexing with static names (4, 1).
pub fn get_block(path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86];
    hpack_int(&mut b, 0, 4, 4);
    hpack_str(&mut b, path.as_bytes());
    hpack_int(&mut b, 0, 4, 1);
    hpack_str(&mut b, b"localhost");
    b
}

/// A frame read from the server.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY.
    pub fn error_code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }

    /// A GOAWAY's last stream id.
    pub fn last_stream(&self) -> u32 {
        u32::from_be_bytes(self.payload[..4].try_into().unwrap()) & 0x7fff_ffff
    }
}

/// Why no frame came.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The server closed the connection (EOF or reset).
    Closed,
    /// The deadline passed.
    Timeout,
}

/// An HTTP/2 connection in the making: the preface and our SETTINGS are sent on open.
pub struct Conn {
    pub sock: TcpStream,
    dec: Decoder,
    buf: Vec<u8>,
}

impl Conn {
    /// Connect, send the preface and a SETTINGS frame with `settings`.
    pub fn open(addr: &str, settings_: &[(u16, u32)]) -> Conn {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_nodelay(true).unwrap();
        let mut c = Conn {
            sock,
            // The server's responses use a dynamic table of at most the default size.
            dec: Decoder::new(4096),
            buf: Vec::new(),
        };
        let mut hello = PREFACE.to_vec();
        hello.extend(settings(settings_));
        c.send(&hello).expect("send the preface");
        c
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.sock.write_all(bytes)
    }

    /// The next frame, by `deadline`.
    pub fn read_frame(&mut self, deadline: Instant) -> Result<Frame, End> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes(self.buf[5..9].try_into().unwrap())
                            & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    return Ok(f);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(End::Timeout);
            }
            self.sock
                .set_read_timeout(Some(left.min(Duration::from_millis(500))))
                .unwrap();
            let mut chunk = [0u8; 16384];
            match self.sock.read(&mut chunk) {
                Ok(0) => return Err(End::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(End::Closed),
            }
        }
    }

    /// Wait for the server's SETTINGS and acknowledge it (frames before it are dropped).
    pub fn handshake(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let f = self.read_frame(deadline).expect("the server's SETTINGS");
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                self.send(&settings_ack()).expect("send SETTINGS ACK");
                return;
            }
        }
    }

    /// The `:status` of a response header block (HEADERS with END_HEADERS).
    pub fn status(&mut self, block: &[u8]) -> u16 {
        let (mut out, mut fields) = (Vec::new(), Vec::new());
        self.dec
            .decode(block, &mut out, &mut fields, usize::MAX)
            .expect("the server's header block decodes");
        let f = fields
            .iter()
            .find(|f| &out[f.name.clone()] == b":status")
            .expect(":status in the response");
        std::str::from_utf8(&out[f.value.clone()])
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// What the server did on a connection, as watched by `watch`.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The GOAWAY's error code and last stream id, if one came.
    pub goaway: Option<(u32, u32)>,
    /// RST_STREAM frames: stream and code.
    pub resets: Vec<(u32, u32)>,
    /// Response HEADERS: stream and status.
    pub statuses: Vec<(u32, u16)>,
    /// Streams whose response ended (END_STREAM on HEADERS or DATA).
    pub ended: Vec<u32>,
    pub data_bytes: u64,
    /// The server closed the connection.
    pub closed: bool,
    /// Time from the start of `watch` to the close.
    pub closed_after: Option<Duration>,
}

impl Outcome {
    /// What the RFC allows an attacked server to do to the connection: a GOAWAY with one
    /// of `codes`, then the close.
    pub fn goaway_code(&self) -> Option<u32> {
        self.goaway.map(|(code, _)| code)
    }
}

/// Read frames until the server closes the connection, `limit` passes, or `done` says so.
/// SETTINGS are acknowledged when `ack` (a client that reads but never writes otherwise).
pub fn watch(
    c: &mut Conn,
    limit: Duration,
    ack: bool,
    mut done: impl FnMut(&Outcome) -> bool,
) -> Outcome {
    let start = Instant::now();
    let deadline = start + limit;
    let mut o = Outcome::default();
    while !done(&o) {
        match c.read_frame(deadline) {
            Ok(f) => match f.kind {
                GOAWAY => o.goaway = Some((f.error_code(), f.last_stream())),
                RST_STREAM => o.resets.push((f.stream, f.error_code())),
                HEADERS => {
                    let status = c.status(&f.payload);
                    o.statuses.push((f.stream, status));
                    if f.flags & END_STREAM != 0 {
                        o.ended.push(f.stream);
                    }
                }
                DATA => {
                    o.data_bytes += f.payload.len() as u64;
                    if f.flags & END_STREAM != 0 {
                        o.ended.push(f.stream);
                    }
                }
                SETTINGS if ack && f.flags & ACK == 0 => {
                    let _ = c.send(&settings_ack());
                }
                _ => {}
            },
            Err(End::Closed) => {
                o.closed = true;
                o.closed_after = Some(start.elapsed());
                break;
            }
            Err(End::Timeout) => break,
        }
    }
    o
}

/// A well-behaved client's `GET path` on a new connection: the status and the body.
pub fn get(addr: &str, path: &str, limit: Duration) -> Result<(u16, Vec<u8>), String> {
    let mut c = Conn::open(addr, &[]);
    c.send(&headers(1, &get_block(path), true, true))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + limit;
    let mut status = None;
    let mut body = Vec::new();
    loop {
        let f = c
            .read_frame(deadline)
            .map_err(|e| format!("{e:?} before the response ended"))?;
        match (f.kind, f.stream) {
            (SETTINGS, 0) if f.flags & ACK == 0 => {
                c.send(&settings_ack()).map_err(|e| e.to_string())?;
            }
            (HEADERS, 1) => status = Some(c.status(&f.payload)),
            (DATA, 1) => {
                body.extend_from_slice(&f.payload);
                // Give the window back, so a body of any size comes through.
                if !f.payload.is_empty() {
                    let n = f.payload.len() as u32;
                    let mut wu = window_update(0, n);
                    wu.extend(window_update(1, n));
                    let _ = c.send(&wu);
                }
            }
            (GOAWAY, _) => return Err(format!("GOAWAY code {}", f.error_code())),
            (RST_STREAM, 1) => return Err(format!("RST_STREAM code {}", f.error_code())),
            _ => {}
        }
        if f.stream == 1 && f.flags & END_STREAM != 0 && matches!(f.kind, HEADERS | DATA) {
            let status = status.ok_or("END_STREAM before HEADERS")?;
            return Ok((status, body));
        }
    }
}
