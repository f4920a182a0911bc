//! The HTTP/2 session (RFC 9113): many requests at once on one connection, as frames.
//! Beside the HTTP/1.1 session (`conn/http1/`), on the same transport and the same handlers;
//! `Conn` picks it per connection, by ALPN `h2` on TLS listeners or by the client preface
//! on plain ones with `--h2c`.
//!
//! It owns: the preface and SETTINGS exchange (with the ACK timeout), the stream states, the
//! header blocks (HEADERS and CONTINUATION, decoded by `http::h2::hpack`, checked by
//! `http::h2::request`), flow control on both levels, PING, RST_STREAM, GOAWAY with the
//! graceful shutdown, the limits below, and the access-log line of each stream. Frames are
//! parsed and written by `http::h2::frame`; it does not touch the socket (`transport`) or
//! decide what to answer (`handler`).
//!
//! How a handler's answer becomes frames: `Reply` writes an HTTP/1.1 head into a buffer
//! and names a body source, as it does for the HTTP/1.1 session. This session lends it a
//! per-connection scratch buffer instead of the transport's queue, then reads that head back
//! (its own well-formed output: one status line, `Name: value` lines) into HPACK fields,
//! leaving out the fields of HTTP/1.1 connection management (Connection, Keep-Alive,
//! Transfer-Encoding, Upgrade, Proxy-Connection). The other choice, a status-and-fields form
//! of `Reply` both sessions serialise, would put a second representation on the HTTP/1.1
//! path, whose CPU and allocations must not move; the conversion costs one pass over a
//! ~200-byte head per HTTP/2 response and no allocation (the buffers are the connection's).
//!
//! Sending: control frames and response HEADERS go into `ctrl`, which goes out first; then
//! DATA, round-robin between the streams that have body and window, one frame of at most
//! `DATA_CHUNK` bytes per stream per round, until `OUT_TARGET` bytes are queued. File bodies
//! are read with pread straight into the transport's queue behind their frame header, only
//! when there is window for them: a stream whose window is shut holds no file data.
//!
//! Receiving: frames are taken from the transport's read buffer one whole frame at a time
//! (`MAX_FRAME` fits in it). DATA goes to the stream's sink (an upload file, a WebDAV body)
//! or is dropped; the windows are opened again (WINDOW_UPDATE) as it is consumed, so an
//! upload is paced by the disk. While more than `MAX_CTRL_QUEUED` bytes of our frames wait
//! for a client that does not read, nothing more is read from it.
//!
//! CGI (`cgi_run.rs`): a program runs as over HTTP/1.1, the request body from DATA to its
//! stdin (the window given back as it takes it), its output sent as DATA as the client's
//! window takes it. A body of unknown length (no content-length) is spooled first to an
//! unnamed file, as HTTP/1.1 spools a chunked one (`--cgi-max-body`, all of it within
//! `--cgi-timeout`), and the program starts with it on END_STREAM; a local redirect
//! (RFC 3875 §6.2.2) is dispatched again as a GET on the same stream. Writes whose
//! credentials are verified off the loop wait for the verdict with their body held.
//!
//! As the HTTP/1.1 session does per request, per stream: `expect: 100-continue` gets an
//! interim HEADERS (:status 100) once a handler takes the body (an upload, a program, a
//! spool, a WebDAV body; after the credentials' check if there is one), none when the
//! answer comes at once; with `--trusted-proxy`, the client each stream's own forwarding
//! fields name is what its CGI program, rules, credential limits and log line see.

use super::Next;
use super::transport::{Fill, Flushed, Linger, Transport};
use crate::handler::{self, Answer, Body, Held, Reply, Segment, cgi, site};
use crate::http::h2::frame::{self, ErrorCode, Frame, FrameError, HEADER_LEN, Head};
use crate::http::h2::hpack;
use crate::http::h2::request;
use crate::http::parse::{self, Framing, Header, MAX_HEADERS, Method, Request, Version};
use crate::worker::{ConnId, Route, Worker};
use std::net::SocketAddr;

// ---- Limits (each defended; tests/http2.rs hits them) ----

/// SETTINGS_MAX_CONCURRENT_STREAMS we announce: streams open at once per connection; a
/// HEADERS past it is refused with RST_STREAM REFUSED_STREAM (its block still decoded, so
/// HPACK stays in step). 100 is what RFC 9113 §6.5.2 recommends as the least, and what
/// nginx and most servers announce.
pub const MAX_CONCURRENT_STREAMS: u32 = 100;
/// SETTINGS_MAX_FRAME_SIZE we announce: the protocol's smallest, so a whole frame always
/// fits in the transport's 32 KiB read buffer with room to spare.
pub const MAX_FRAME: u32 = frame::MIN_MAX_FRAME;
/// SETTINGS_INITIAL_WINDOW_SIZE we announce: how much of a request body a client may send
/// on one stream ahead of our WINDOW_UPDATE. Bodies go to disk as they arrive, so this
/// only sets how far an upload runs ahead of the disk: 1 MiB keeps a 10 ms, 100 MB/s path
/// busy.
pub const STREAM_WINDOW: u32 = 1 << 20;
/// The connection-level receive window we open at the start (by a WINDOW_UPDATE on stream
/// 0): all streams' bodies together.
pub const CONN_WINDOW: u32 = 4 << 20;
/// SETTINGS_MAX_HEADER_LIST_SIZE we announce, and the HPACK decoder's `max_list`: decoded
/// fields of one request, counted as §6.5.2 counts them (name + value + 32 each). Past it the
/// request is answered 431, its block still decoded whole so the table stays in step. The
/// same 16 KiB the HTTP/1.1 session allows for a header section (parse::MAX_HEADER_BYTES).
pub const MAX_HEADER_LIST: u32 = 16 * 1024;
/// SETTINGS_HEADER_TABLE_SIZE we announce (the HPACK decoder's dynamic table): the default.
pub const HEADER_TABLE: u32 = 4096;
/// The most bytes of one header block (HEADERS + CONTINUATION fragments, still compressed)
/// we collect: past it, a connection error (ENHANCE_YOUR_CALM), the block never buffered past
/// this. Compressed fields are never larger than 2x... so twice the list limit is room
/// enough for any block that could decode within it (CONTINUATION flood, 2024).
pub const MAX_HEADER_BLOCK: usize = 2 * MAX_HEADER_LIST as usize;
/// The most CONTINUATION frames one header block may have: a flood of empty ones costs a
/// frame parse each and would never reach `MAX_HEADER_BLOCK`.
pub const MAX_CONTINUATIONS: u32 = 32;
/// Rapid reset (CVE-2023-44487): client resets of streams not yet answered, and streams we
/// refused, allowed per `RESET_PERIOD_MS`; past it, GOAWAY ENHANCE_YOUR_CALM and close. A
/// browser cancels a few streams when a page is left; an attack cancels thousands a second.
pub const MAX_RESETS: u32 = 200;
pub const RESET_PERIOD_MS: u64 = 10_000;
/// Bytes of our own frames (SETTINGS and PING ACKs, RST_STREAM, WINDOW_UPDATE, response
/// HEADERS) queued before the transport takes them: past it, nothing more is read from the
/// client until it reads what it is owed (SETTINGS and PING floods).
pub const MAX_CTRL_QUEUED: usize = 64 * 1024;
/// How long the client has to acknowledge our SETTINGS (§6.5.3): then GOAWAY
/// SETTINGS_TIMEOUT.
pub const SETTINGS_ACK_MS: u64 = 10_000;
/// Bytes of a request body nobody reads (a GET's, a refused PUT's) dropped after the answer
/// before the stream is reset with NO_ERROR (§8.1): one stream window, which the client has
/// in flight before it can see the answer anyway. A reset sooner saves little and races a
/// client still sending: curl 7.88 failed 5 to 10% of uploads answered at once (405)
/// when the reset came 64 KiB in (it sends on the stream the reset closed), none of 200
/// with this.
pub const MAX_DISCARD: u64 = STREAM_WINDOW as u64;
/// Body bytes of one DATA frame we send (at most the peer's SETTINGS_MAX_FRAME_SIZE).
pub const DATA_CHUNK: usize = 16 * 1024;
/// Finished streams kept per connection for their buffers (a client with this many
/// requests in flight allocates no stream state in steady state; h2load -m 10 has 10).
const SPARE_STREAMS: usize = 16;
/// Bytes queued per fill of the transport's queue before it is flushed (one write).
const OUT_TARGET: usize = 64 * 1024;
/// Bytes one connection may write in one turn of the event loop before others get theirs.
const WRITE_BUDGET: usize = 1 << 20;
/// How long a closing connection keeps reading what the client still sends.
const LINGER_MS: u64 = 2_000;

/// Set on a `closed_ids` entry when we reset that stream: the frames the client sent before
/// our RST_STREAM reached it are ignored (§5.1), not answered with RST_STREAM STREAM_CLOSED
/// each (curl then failed the response it had whole) or, for trailers, a connection error.
/// Stream ids have 31 bits.
const RESET_MARK: u32 = 1 << 31;

/// Frame type names for `--trace`, by type.
const FRAME_NAMES: [&str; 10] = [
    "DATA",
    "HEADERS",
    "PRIORITY",
    "RST_STREAM",
    "SETTINGS",
    "PUSH_PROMISE",
    "PING",
    "GOAWAY",
    "WINDOW_UPDATE",
    "CONTINUATION",
];

/// What becomes of a stream's request body.
enum Sink {
    Drop,
    Upload(Box<handler::upload::Upload>),
    /// A WebDAV request whose body is read whole, then the request (kept as an HTTP/1.1
    /// head) dispatched again.
    Buffer(Vec<u8>, Vec<u8>),
    /// Held in `Stream::held` while the request's credentials are verified.
    Held,
    /// The stdin of the stream's CGI program (`Stream::cgi`); what it did not take yet
    /// waits in `Stream::held`, and the stream's window is not given back meanwhile.
    Program,
    /// A body of unknown length for a CGI program, spooled to an unnamed file first (the
    /// program is told CONTENT_LENGTH), with the request kept as an HTTP/1.1 head, and the
    /// program found (its `--cgi-max` slot taken) before the body came. As over HTTP/1.1:
    /// at most `--cgi-max-body` bytes (413 past it), all of it within `--cgi-timeout` of
    /// the head (`Stream::cgi_by`; 408 after).
    Spool(Vec<u8>, std::fs::File, Box<cgi::Program>),
}

struct Stream {
    id: u32,
    /// END_STREAM came from the client.
    recv_closed: bool,
    /// Our HEADERS are queued (the answer is known).
    answered: bool,
    /// Our END_STREAM is queued.
    sent_end: bool,
    send_window: i64,
    recv_window: i64,
    /// Received bytes not yet given back by WINDOW_UPDATE.
    recv_consumed: u32,
    /// Body bytes received, and what content-length promised.
    received: u64,
    expect: Option<u64>,
    sink: Sink,
    /// A small body copied behind the head, sent first.
    inline: Vec<u8>,
    inline_pos: usize,
    body: Body,
    /// A `Body::Stream`'s current piece and how far it is sent; whether more pieces come.
    piece: Vec<u8>,
    piece_pos: usize,
    piece_more: bool,
    head_only: bool,
    /// Since when the stream has had body to send and no window for it.
    stalled_since: Option<u64>,
    log: crate::log::Pending,
    status: u16,
    body_sent: u64,
    /// The request line, for `--trace` (its capacity kept with the stream).
    line: Vec<u8>,
    /// The CGI program answering, and when it must have finished (`--cgi-timeout`), or
    /// when a spooled body must have come whole (`Sink::Spool`).
    cgi: Option<Box<cgi::Run>>,
    cgi_by: u64,
    /// CGI local redirects followed for this stream's request (`cgi::MAX_LOCAL_REDIRECTS`).
    redirects: u8,
    /// The client of this stream's request: the connection's peer, or the address a trusted
    /// proxy forwarded in this stream's own fields (`--trusted-proxy`).
    client: Option<SocketAddr>,
    /// Request body bytes the program has not taken yet, or that came while the
    /// credentials were verified (at most the stream's window).
    held: Vec<u8>,
    /// The request, kept as an HTTP/1.1 head while its credentials are verified.
    verify_head: Option<Vec<u8>>,
    /// The site and rule that answered: what an answer made later carries (an upload's
    /// 201, a program's head, an error of the session's own).
    route: Option<Route>,
    /// The client holds its body back for a 100 (`expect: 100-continue`) not sent yet.
    holds_body: bool,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            id: 0,
            recv_closed: false,
            answered: false,
            sent_end: false,
            send_window: 0,
            recv_window: 0,
            recv_consumed: 0,
            received: 0,
            expect: None,
            sink: Sink::Drop,
            inline: Vec::new(),
            inline_pos: 0,
            body: Body::None,
            piece: Vec::new(),
            piece_pos: 0,
            piece_more: false,
            head_only: false,
            stalled_since: None,
            log: crate::log::Pending::default(),
            status: 0,
            body_sent: 0,
            line: Vec::new(),
            cgi: None,
            cgi_by: 0,
            redirects: 0,
            client: None,
            held: Vec::new(),
            verify_head: None,
            route: None,
            holds_body: false,
        }
    }

    /// Whether body bytes remain to be sent.
    fn has_body(&self) -> bool {
        self.cgi.is_some()
            || self.inline_pos < self.inline.len()
            || self.piece_pos < self.piece.len()
            || self.piece_more
            || !matches!(self.body, Body::None)
    }
}

/// Why reading stopped.
enum Read {
    /// A frame was handled.
    Frame,
    /// The buffer holds no whole frame.
    More,
    /// A connection error: GOAWAY with this code, then close.
    Fatal(ErrorCode),
}

pub struct Http2 {
    /// The connection's place in its worker (for its CGI programs' pipe token).
    id: ConnId,
    peer: Option<SocketAddr>,
    /// Monotonic ms at which the current wait times out.
    pub deadline: u64,
    pub idle_since: u64,
    /// At least one response has been queued on this connection.
    pub served: bool,
    idle_counted: bool,
    opened: u64,
    preface_done: bool,
    dec: hpack::Decoder,
    enc: hpack::Encoder,
    /// Boxed, so that opening and closing one moves a pointer, not the record (368 bytes,
    /// moved four times per stream otherwise).
    #[allow(clippy::vec_box)]
    streams: Vec<Box<Stream>>,
    /// Streams done with, kept for their buffers (and their box).
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Stream>>,
    /// Where the next round of DATA starts (round-robin).
    rr: usize,
    /// A header block being collected: its stream, END_STREAM, its CONTINUATIONs so far,
    /// and since when (the header timeout).
    block: Vec<u8>,
    block_stream: u32,
    block_end_stream: bool,
    block_frames: u32,
    block_since: u64,
    /// Decoded fields (ranges of `hbuf`), the request line for the log, a lowercased name.
    hbuf: Vec<u8>,
    fields: Vec<hpack::Field>,
    line: Vec<u8>,
    lname: Vec<u8>,
    /// Encoded response header block.
    hblock: Vec<u8>,
    /// The last head that encoded to a block without changing the HPACK table, and that
    /// block: the same head again (the same file answered again, within the same second of
    /// its Date) is sent as the same block while the encoder's state (`memo_state`) has not
    /// moved, with no parsing or encoding. Measured: the conversion and encoding were a
    /// third of the server's CPU per 13-byte response at h2load -c50 -m10.
    memo_head: Vec<u8>,
    memo_block: Vec<u8>,
    memo_state: Option<u64>,
    /// The head a handler writes through `Reply`.
    scratch: Vec<u8>,
    /// The highest stream the client opened.
    last_stream: u32,
    /// The streams closed last (a HEADERS on one is STREAM_CLOSED; on a lower id never
    /// opened, PROTOCOL_ERROR: §5.1, §5.1.1), with `RESET_MARK` on those we reset.
    closed_ids: [u32; 32],
    closed_at: usize,
    /// The peer's settings, and our connection-level windows.
    peer_window: u32,
    peer_max_frame: u32,
    send_window: i64,
    recv_window: i64,
    recv_consumed: u32,
    /// The client's first SETTINGS has come (§3.4: its preface ends with one).
    peer_settings_seen: bool,
    /// When our SETTINGS went unacknowledged (None: acknowledged).
    settings_sent: Option<u64>,
    /// Frames owed, sent before DATA.
    ctrl: Vec<u8>,
    resets: u32,
    resets_since: u64,
    /// Our GOAWAY is sent (graceful: streams at or below `last_stream` finish).
    draining: bool,
    /// A connection error: the GOAWAY is queued, close once it is out.
    closing: bool,
    lingering: bool,
    send_by: u64,
    last_read: u64,
    /// A verdict on credentials came for this connection (`resume`).
    resumed: bool,
    /// `--trace`: the calls made since the last stream was shown.
    trace: crate::sys::trace::Log,
}

impl Http2 {
    pub fn new(id: ConnId, peer: Option<SocketAddr>, now: u64, header_ms: u64) -> Http2 {
        Http2 {
            id,
            peer,
            deadline: now + header_ms,
            idle_since: now,
            served: false,
            idle_counted: false,
            opened: now,
            preface_done: false,
            dec: hpack::Decoder::new(HEADER_TABLE as usize),
            enc: hpack::Encoder::new(),
            streams: Vec::new(),
            spare: Vec::new(),
            rr: 0,
            block: Vec::new(),
            block_stream: 0,
            block_end_stream: false,
            block_frames: 0,
            block_since: 0,
            hbuf: Vec::new(),
            fields: Vec::new(),
            line: Vec::new(),
            lname: Vec::new(),
            hblock: Vec::new(),
            memo_head: Vec::new(),
            memo_block: Vec::new(),
            memo_state: None,
            scratch: Vec::new(),
            last_stream: 0,
            closed_ids: [0; 32],
            closed_at: 0,
            peer_window: frame::DEFAULT_WINDOW,
            peer_max_frame: frame::MIN_MAX_FRAME,
            send_window: frame::DEFAULT_WINDOW as i64,
            recv_window: frame::DEFAULT_WINDOW as i64,
            recv_consumed: 0,
            settings_sent: None,
            peer_settings_seen: false,
            ctrl: Vec::new(),
            resets: 0,
            resets_since: now,
            draining: false,
            closing: false,
            lingering: false,
            send_by: 0,
            last_read: now,
            resumed: false,
            trace: crate::sys::trace::Log::default(),
        }
    }

    /// Our SETTINGS and the connection window, the first frames we send (§3.4).
    fn greet(&mut self, now: u64) {
        frame::write_settings(
            &mut self.ctrl,
            &[
                (
                    frame::SETTINGS_MAX_CONCURRENT_STREAMS,
                    MAX_CONCURRENT_STREAMS,
                ),
                (frame::SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
                (frame::SETTINGS_MAX_FRAME_SIZE, MAX_FRAME),
                (frame::SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST),
                (frame::SETTINGS_ENABLE_PUSH, 0),
            ],
        );
        let more = CONN_WINDOW - frame::DEFAULT_WINDOW;
        frame::write_window_update(&mut self.ctrl, 0, more);
        self.recv_window += more as i64;
        self.settings_sent = Some(now);
    }

    /// Nothing in flight: no stream, nothing buffered either way.
    pub fn is_idle(&self, t: &Transport) -> bool {
        self.streams.is_empty() && !t.has_buffered() && self.ctrl.is_empty() && t.out_sent()
    }

    /// A header block is arriving, or the first one has not come yet.
    pub fn reading_head(&self) -> bool {
        self.block_stream != 0 || (!self.served && self.streams.is_empty())
    }

    /// A verdict on credentials came: true if a stream waits for one (the worker then drives
    /// the connection, which dispatches those streams again).
    pub fn resume(&mut self) -> bool {
        self.resumed = self.streams.iter().any(|s| s.verify_head.is_some());
        self.resumed
    }

    /// Calls recorded for this connection by the worker (accept, the wake-up, closes).
    pub fn add_trace(&mut self) {
        crate::sys::trace::take_into(&mut self.trace);
    }

    pub fn set_idle(&mut self, w: &Worker, idle: bool) {
        if idle != self.idle_counted {
            self.idle_counted = idle;
            w.count_idle(idle);
        }
    }

    /// Do all the work the connection can do now.
    pub fn drive(&mut self, t: &mut Transport, w: &mut Worker) -> Next {
        if self.lingering {
            let mut quick = false;
            return match t.linger(&mut quick) {
                Linger::Wait => Next::Wait,
                Linger::Close => Next::Close,
            };
        }
        if self.settings_sent.is_none() && !self.preface_done && self.ctrl.is_empty() {
            self.greet(w.now);
        }
        if std::mem::take(&mut self.resumed) {
            self.resume_verified(t, w);
        }
        let mut budget = WRITE_BUDGET;
        loop {
            let mut progress = false;
            // 1. Frames from the client, while what we owe it is bounded.
            while !self.closing && self.ctrl.len() < MAX_CTRL_QUEUED {
                match self.read_frame(t, w) {
                    Read::Frame => {
                        progress = true;
                        self.last_read = w.now;
                    }
                    Read::Fatal(code) => {
                        self.fail(code);
                        break;
                    }
                    Read::More => {
                        if !t.read_ready() {
                            break;
                        }
                        match t.fill(&mut w.pool) {
                            Fill::Got => {}
                            Fill::Blocked => break,
                            Fill::Closed => return Next::Close,
                            // A frame is at most MAX_FRAME + 9 bytes, well under the buffer.
                            Fill::Full => {
                                self.fail(ErrorCode::FrameSize);
                                break;
                            }
                        }
                    }
                }
            }
            // 2. CGI programs' output, for the streams whose previous piece is sent.
            if self.pump_programs(t, w) {
                progress = true;
            }
            // 3. Our frames: control first, then DATA.
            if t.out_sent() && self.produce(t, w) {
                progress = true;
                // The send timeout runs from when there is something to send.
                if self.send_by <= w.now {
                    self.send_by = w.now + w.send_ms;
                }
            }
            if !t.out_sent() {
                let res = t.flush(&mut budget, false);
                if t.take_progress() {
                    self.send_by = w.now + w.send_ms;
                }
                t.take_sent();
                match res {
                    Ok(Flushed::Done) => progress = true,
                    Ok(Flushed::Budget) => {
                        self.set_deadline(t, w);
                        return Next::Yield;
                    }
                    Ok(Flushed::Blocked) => {
                        self.set_deadline(t, w);
                        return Next::Wait;
                    }
                    Err(_) => return Next::Close,
                }
            }
            if !progress {
                break;
            }
        }
        let done = if self.closing {
            self.ctrl.is_empty() && t.out_sent()
        } else {
            self.draining && self.streams.is_empty() && self.ctrl.is_empty() && t.out_sent()
        };
        if done {
            // Everything owed is out: close, reading what the client still sends for a
            // moment so the close does not reset the GOAWAY in flight.
            t.shutdown_write();
            t.expect_read();
            self.lingering = true;
            self.deadline = w.now + LINGER_MS;
            t.release_buffers(&mut w.pool);
            return self.drive(t, w);
        }
        if self.is_idle(t) {
            if !self.idle_counted {
                self.idle_since = w.now;
            }
            self.set_idle(w, self.served);
            t.release_buffers(&mut w.pool);
        } else {
            self.set_idle(w, false);
        }
        self.set_deadline(t, w);
        Next::Wait
    }

    /// A connection error: GOAWAY with the last stream we took, then close (§5.4.1).
    fn fail(&mut self, code: ErrorCode) {
        if !self.closing {
            frame::write_goaway(&mut self.ctrl, self.last_stream, code);
            self.closing = true;
        }
    }

    /// The earliest of the waits that apply now.
    fn set_deadline(&mut self, t: &Transport, w: &Worker) {
        let mut d = u64::MAX;
        if self.block_stream != 0 {
            d = d.min(self.block_since + w.header_ms);
        }
        if let Some(at) = self.settings_sent {
            d = d.min(at + SETTINGS_ACK_MS);
        }
        if !t.out_sent() {
            d = d.min(self.send_by);
        }
        for s in &self.streams {
            if s.cgi.is_some() || matches!(s.sink, Sink::Spool(..)) {
                d = d.min(s.cgi_by);
            }
            if let Some(at) = s.stalled_since {
                d = d.min(at + w.send_ms);
            }
            if !s.recv_closed {
                d = d.min(self.last_read + w.header_ms);
            }
        }
        if self.streams.is_empty() {
            d = d.min(if self.served {
                self.idle_since + w.keepalive_ms
            } else {
                self.opened + w.header_ms
            });
        }
        self.deadline = d;
    }

    /// Take one whole frame from the read buffer and act on it.
    fn read_frame(&mut self, t: &mut Transport, w: &mut Worker) -> Read {
        let buf = t.buffered();
        if !self.preface_done {
            let n = buf.len().min(frame::PREFACE.len());
            if buf[..n] != frame::PREFACE[..n] {
                return Read::Fatal(ErrorCode::Protocol);
            }
            if n < frame::PREFACE.len() {
                return Read::More;
            }
            t.consume(n);
            self.preface_done = true;
            return Read::Frame;
        }
        if buf.len() < HEADER_LEN {
            return Read::More;
        }
        let h = Head::parse(buf);
        if h.len > MAX_FRAME {
            return Read::Fatal(ErrorCode::FrameSize);
        }
        let end = HEADER_LEN + h.len as usize;
        if buf.len() < end {
            return Read::More;
        }
        if crate::sys::trace::enabled() {
            let kind = FRAME_NAMES
                .get(h.kind as usize)
                .copied()
                .unwrap_or("UNKNOWN");
            crate::sys::trace::note(
                "h2",
                format!(
                    "recv {kind} stream {} len {} flags {:#x}",
                    h.stream, h.len, h.flags
                ),
            );
        }
        // The payload borrows the buffer while the frame is handled; `t` is only read.
        let res = {
            let t_ro: &Transport = t;
            let payload = &t_ro.buffered()[HEADER_LEN..end];
            match frame::parse(&h, payload, MAX_FRAME) {
                Ok(f) => self.on_frame(t_ro, w, &h, f),
                Err(FrameError::Connection(code)) => Err(code),
                Err(FrameError::Stream(id, code)) => {
                    // A HEADERS frame's block was not decoded: HPACK's state would be lost
                    // with it, so its error is the connection's.
                    if self.block_stream != 0 || h.kind == frame::HEADERS {
                        Err(ErrorCode::Protocol)
                    } else {
                        if id > self.last_stream && h.kind != frame::PRIORITY {
                            self.last_stream = id;
                        }
                        self.reset(w, id, code);
                        Ok(())
                    }
                }
            }
        };
        t.consume(end);
        match res {
            Ok(()) => Read::Frame,
            Err(code) => Read::Fatal(code),
        }
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    /// Send RST_STREAM and forget the stream (if it is open).
    fn reset(&mut self, w: &mut Worker, id: u32, code: ErrorCode) {
        frame::write_rst(&mut self.ctrl, id, code);
        if let Some(i) = self.find(id) {
            self.close_stream(w, i);
        }
        self.note_reset(id);
    }

    /// A stream we reset that was not open (refused, or never begun): its frames still in
    /// flight are ignored, as those of an open stream we reset.
    fn note_reset(&mut self, id: u32) {
        self.closed_ids[self.closed_at % self.closed_ids.len()] = id | RESET_MARK;
        self.closed_at += 1;
    }

    /// Whether we reset stream `id` lately (`RESET_MARK`).
    fn was_reset(&self, id: u32) -> bool {
        self.closed_ids.contains(&(id | RESET_MARK))
    }

    /// The stream is done (answered whole, or reset): log it and keep its buffers.
    fn close_stream(&mut self, w: &mut Worker, i: usize) {
        let mut s = self.streams.swap_remove(i);
        self.closed_ids[self.closed_at % self.closed_ids.len()] = s.id;
        self.closed_at += 1;
        if s.status != 0 {
            w.stats().response(s.status, s.body_sent);
            w.log.finish(&mut s.log, s.body_sent);
            if crate::sys::trace::enabled() {
                // The calls since the last stream shown: on a connection with many streams
                // at once they are shared, and shown with the stream that ends first.
                crate::sys::trace::take_into(&mut self.trace);
                let f = w.served.config.trace_filter.as_deref().unwrap_or("");
                let path = s.line.split(|&b| b == b' ').nth(1).unwrap_or(b"");
                if path.starts_with(f.as_bytes()) {
                    crate::sys::trace::render(&mut w.trace_pending, &s.line, s.status, &self.trace);
                }
                self.trace = crate::sys::trace::Log::default();
            }
        }
        s.body = Body::None;
        s.sink = Sink::Drop;
        // Dropping the run kills the program if it still runs.
        s.cgi = None;
        s.held.clear();
        s.verify_head = None;
        if self.spare.len() < SPARE_STREAMS {
            self.spare.push(s);
        }
    }

    fn on_frame(
        &mut self,
        t: &Transport,
        w: &mut Worker,
        h: &Head,
        f: Frame<'_>,
    ) -> Result<(), ErrorCode> {
        // §6.10: while a header block is open, only its CONTINUATIONs may come.
        if self.block_stream != 0 && !matches!(f, Frame::Continuation { .. }) {
            return Err(ErrorCode::Protocol);
        }
        // §3.4: the client's preface ends with a SETTINGS frame.
        if !self.peer_settings_seen && h.kind != frame::SETTINGS {
            return Err(ErrorCode::Protocol);
        }
        match f {
            Frame::Data {
                stream,
                end_stream,
                data,
                flow_len,
            } => self.on_data(t, w, stream, end_stream, data, flow_len),
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                fragment,
            } => {
                if end_headers {
                    return self.on_block(t, w, stream, fragment, end_stream);
                }
                if fragment.len() > MAX_HEADER_BLOCK {
                    return Err(ErrorCode::EnhanceYourCalm);
                }
                self.block.clear();
                self.block.extend_from_slice(fragment);
                self.block_stream = stream;
                self.block_end_stream = end_stream;
                self.block_frames = 0;
                self.block_since = w.now;
                Ok(())
            }
            Frame::Continuation {
                stream,
                end_headers,
                fragment,
            } => {
                if stream != self.block_stream {
                    return Err(ErrorCode::Protocol);
                }
                self.block_frames += 1;
                if self.block.len() + fragment.len() > MAX_HEADER_BLOCK
                    || self.block_frames > MAX_CONTINUATIONS
                {
                    return Err(ErrorCode::EnhanceYourCalm);
                }
                self.block.extend_from_slice(fragment);
                if end_headers {
                    let block = std::mem::take(&mut self.block);
                    self.block_stream = 0;
                    let res = self.on_block(t, w, stream, &block, self.block_end_stream);
                    self.block = block;
                    return res;
                }
                Ok(())
            }
            Frame::Priority { stream } => {
                let _ = stream;
                Ok(())
            }
            Frame::RstStream { stream, .. } => {
                if stream > self.last_stream {
                    return Err(ErrorCode::Protocol);
                }
                if let Some(i) = self.find(stream) {
                    if !self.streams[i].sent_end {
                        self.count_reset(w)?;
                    }
                    self.close_stream(w, i);
                }
                Ok(())
            }
            Frame::Settings { ack, payload } => {
                if ack {
                    self.settings_sent = None;
                    return Ok(());
                }
                self.peer_settings_seen = true;
                for (id, v) in frame::settings(payload) {
                    match id {
                        frame::SETTINGS_HEADER_TABLE_SIZE => self.enc.set_max_table(v as usize),
                        frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                            let delta = v as i64 - self.peer_window as i64;
                            self.peer_window = v;
                            for s in &mut self.streams {
                                s.send_window += delta;
                                if s.send_window > frame::MAX_WINDOW as i64 {
                                    return Err(ErrorCode::FlowControl);
                                }
                            }
                        }
                        frame::SETTINGS_MAX_FRAME_SIZE => self.peer_max_frame = v,
                        _ => {}
                    }
                }
                frame::write_settings_ack(&mut self.ctrl);
                Ok(())
            }
            Frame::Ping { ack, data } => {
                if !ack {
                    frame::write_ping_ack(&mut self.ctrl, &data);
                }
                Ok(())
            }
            // The client opens no more streams; those begun are answered, and the
            // connection stays until the client closes it or it idles out (it may still
            // PING, §6.8).
            Frame::Goaway { .. } => Ok(()),
            Frame::WindowUpdate { stream, increment } => {
                if stream == 0 {
                    self.send_window += increment as i64;
                    if self.send_window > frame::MAX_WINDOW as i64 {
                        return Err(ErrorCode::FlowControl);
                    }
                    return Ok(());
                }
                if stream > self.last_stream {
                    return Err(ErrorCode::Protocol);
                }
                if let Some(i) = self.find(stream) {
                    let s = &mut self.streams[i];
                    s.send_window += increment as i64;
                    if s.send_window > frame::MAX_WINDOW as i64 {
                        self.reset(w, stream, ErrorCode::FlowControl);
                    }
                }
                Ok(())
            }
            Frame::Unknown => Ok(()),
        }
    }
}

mod cgi_run;
mod stream;
