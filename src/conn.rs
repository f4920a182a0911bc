//! One client connection's state machine: read → parse → handle → write → reuse.
//!
//! A connection is in one of three phases:
//! - `Reading`: waiting for (the rest of) a request head, or idle between requests. Body
//!   bytes of the previous request that the handler did not need are discarded first, so a
//!   pipelined request after them stays in sync and a request hidden in a body is never run.
//! - `Writing`: a response is going out (head and small body with one writev, file bodies
//!   with sendfile). Nothing more is read meanwhile, so a client that pipelines without
//!   reading fills its own socket buffers, not the server's memory.
//! - `Lingering`: the response said `Connection: close`; the write side is shut and what the
//!   client still sends is read and dropped for a moment, so that unread bytes do not turn the
//!   close into a reset that would destroy the response in flight. When the client itself
//!   asked to close, it sends nothing more (RFC 9112 §9.6): one read that finds nothing
//!   waiting lets the socket close at once.
//!
//! The socket is registered once, edge-triggered for reading and writing, so a request costs
//! no epoll_ctl. Buffers come from the worker's pool when there is something to hold and go
//! back when the connection is idle, so an idle keep-alive connection holds no buffer.

use crate::handler::upload::Upload;
use crate::handler::{self, Answer, Body, Ctx, Reply, Segment, cgi};
use crate::http::chunked::ChunkedDecoder;
use crate::http::parse::{self, Framing, Header, MAX_HEAD, MAX_HEADERS, Version};
use crate::server::Worker;
use crate::sys::{AsFd, Errno, OwnedFd, net, trace};
use std::io::IoSlice;
use std::net::SocketAddr;

/// The handlers' view of the worker, borrowed field by field (so the response buffer and the
/// clock can be borrowed beside it).
macro_rules! handler_ctx {
    ($w:expr) => {
        Ctx {
            cfg: &$w.shared.config,
            site: &$w.shared.site,
            root: $w.shared.root_fd(),
            index: &$w.shared.index,
            date: &$w.clock.imf,
            unix: $w.clock.secs(),
            scratch: &mut $w.scratch,
            sibling: &mut $w.sibling,
            name: &mut $w.name,
            auth: $w.shared.auth.as_ref(),
            auth_cache: &mut $w.auth_cache,
            cache: &mut $w.cache,
            now: $w.now,
        }
    };
}

/// A new response: the connection's buffer made ready (from the pool if need be) and a
/// `Reply` writing into it, borrowed field by field like `handler_ctx!`.
macro_rules! fresh_reply {
    ($c:expr, $w:expr, $close:expr, $ka10:expr, $head_only:expr) => {{
        prepare_out(&mut $c.out, &mut $c.out_pos, &mut $c.body, &mut $w.pool);
        Reply::new(
            &mut $c.out,
            &mut $c.body,
            &$w.clock.imf,
            &$w.shared.site,
            $close,
            $ka10,
            $head_only,
        )
    }};
}

/// Read buffer: one whole request head at its limits, plus room to spare.
pub const READ_BUF: usize = 32 * 1024;
/// Response buffer: a head plus an inline body (`handler::INLINE_BODY_MAX`).
pub const WRITE_BUF: usize = 20 * 1024;
/// Request bodies the server does not need are read and dropped up to this size; past it the
/// connection closes after the response (reading megabytes to keep a connection is a loss).
const MAX_DISCARD: u64 = 64 * 1024;
/// How long a closing connection keeps reading what the client still sends, and how much.
const LINGER_MS: u64 = 2_000;
const LINGER_BYTES: usize = 256 * 1024;
/// Bytes one connection may write in one turn of the event loop before others get theirs.
const WRITE_BUDGET: usize = 1 << 20;
/// Largest single sendfile call.
const SENDFILE_CHUNK: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Reading,
    Writing,
    Lingering,
    /// A CGI program is running for this connection: its body goes to the program's stdin,
    /// its output to the client.
    Cgi,
}

/// What the event loop should do with the connection after driving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait for the next readiness event.
    Wait,
    /// Ready to do more, but its turn is over: drive it again after the others.
    Yield,
    Close,
}

enum Discard {
    None,
    Length(u64),
    Chunked(ChunkedDecoder),
}

impl Discard {
    /// The whole body a request's framing announces.
    fn whole(framing: Framing) -> Discard {
        match framing {
            Framing::None => Discard::None,
            Framing::Length(n) => Discard::Length(n),
            Framing::Chunked => Discard::Chunked(ChunkedDecoder::new()),
        }
    }
}

pub struct Conn {
    pub fd: OwnedFd,
    /// This connection's epoll token (its CGI pipes use it with `PIPE_BIT`).
    pub token: u64,
    pub peer: Option<SocketAddr>,
    pub phase: Phase,
    /// Monotonic ms at which the current phase times out.
    pub deadline: u64,
    /// Monotonic ms since which the connection has been idle between requests.
    pub idle_since: u64,
    rbuf: Option<Box<[u8]>>,
    rstart: usize,
    rend: usize,
    /// Bytes of `rbuf[rstart..]` already searched for the end of the head.
    scanned: usize,
    /// An edge said there is something to read that has not been read yet.
    read_ready: bool,
    out: Vec<u8>,
    out_pos: usize,
    body: Body,
    close_after: bool,
    discard: Discard,
    /// A PUT whose body is being received.
    upload: Option<Box<Upload>>,
    /// The CGI program this connection is running.
    cgi: Option<Box<cgi::Run>>,
    /// A chunked request body being buffered before its CGI program starts: the request
    /// head (parsed again then) and the file.
    cgi_body: Option<(Vec<u8>, std::fs::File)>,
    /// Local redirects followed for the current request.
    redirects: u8,
    /// `--trace`: the syscalls made for this connection since its last response, and the
    /// request line and status of the response in progress (when it is to be shown).
    trace: trace::Log,
    trace_req: Option<(Vec<u8>, u16)>,
    /// The client is gone (HUP or ERR on the socket).
    peer_closed: bool,
    /// Bytes the kernel still held when the socket last refused more (for the send timeout).
    queued: u32,
    /// The client closed its sending side (RDHUP): reads go on until they return 0.
    hup: bool,
    /// Counted in the worker's idle connections (for eviction across workers).
    pub idle_counted: bool,
    /// The response to come is for an HTTP/1.0 keep-alive client.
    ka10: bool,
    lingered: usize,
    /// The request being answered said it is the client's last (`Connection: close`, or
    /// HTTP/1.0 without keep-alive).
    client_done: bool,
    /// Lingering without having shut the write side: the first read that finds nothing
    /// waiting closes the socket (only when `client_done`).
    linger_quick: bool,
    /// At least one response has gone out on this connection.
    pub served: bool,
    /// The access-log line of the response being sent, waiting for its byte count.
    log: crate::log::Pending,
    /// Its body length when known (None: a CGI body, counted as it goes), the bytes the
    /// response had to send when the line was begun (for a CGI body: its head and the chunk
    /// framing added since, the bytes that are not body), and those sent since: a response
    /// cut short is logged with the body bytes that actually left.
    log_len: Option<u64>,
    resp_expect: u64,
    resp_sent: u64,
}

enum Fill {
    Got,
    Blocked,
    Closed,
}

impl Conn {
    pub fn new(fd: OwnedFd, peer: Option<SocketAddr>, now: u64, header_ms: u64) -> Conn {
        Conn {
            fd,
            token: 0,
            peer,
            phase: Phase::Reading,
            deadline: now + header_ms,
            idle_since: now,
            rbuf: None,
            rstart: 0,
            rend: 0,
            scanned: 0,
            // The worker tries a first read right after accept (`expect_request`).
            read_ready: false,
            out: Vec::new(),
            out_pos: 0,
            body: Body::None,
            close_after: false,
            discard: Discard::None,
            upload: None,
            cgi: None,
            cgi_body: None,
            redirects: 0,
            trace: trace::Log::default(),
            trace_req: None,
            peer_closed: false,
            queued: 0,
            hup: false,
            idle_counted: false,
            ka10: false,
            lingered: 0,
            client_done: false,
            linger_quick: false,
            served: false,
            log: crate::log::Pending::default(),
            log_len: None,
            resp_expect: 0,
            resp_sent: 0,
        }
    }

    /// The response being sent is the last, and the client said so: nothing buffered and
    /// nothing left to discard, so what follows it can only be the client's own close, if it
    /// keeps its word (RFC 9112 §9.6: no request after `close`). The socket then closes as
    /// soon as the response is out, without another read when the last one found it drained,
    /// and the response goes with MSG_MORE so that the close's FIN leaves in its last segment:
    /// one packet fewer each way. Server CPU per such connection: about a third less.
    fn ends_quietly(&self) -> bool {
        self.close_after
            && self.client_done
            && self.rstart == self.rend
            && matches!(self.discard, Discard::None)
            && self.upload.is_none()
    }

    /// The response is ready to go: note what it has to send, so that its log line can say
    /// how much of its body did (`len`: the body length; None: a CGI body, counted as sent).
    fn log_measure(&mut self, len: Option<u64>) {
        if !self.log.is_open() {
            return;
        }
        self.log_len = len;
        self.resp_sent = 0;
        self.resp_expect = (self.out.len() - self.out_pos) as u64
            + match &self.body {
                Body::None => 0,
                Body::Heap { data, pos } => (data.len() - pos) as u64,
                Body::File { offset, end, .. } => end - offset,
                Body::Parts { segments, .. } => segments
                    .iter()
                    .map(|s| match s {
                        Segment::Mem { data, pos } => (data.len() - pos) as u64,
                        Segment::File { offset, end } => end - offset,
                    })
                    .sum(),
            };
    }

    /// The response ended (whole, or cut short when the connection closes): log it with the
    /// body bytes that left. What was not sent is always the end of the response.
    pub fn log_end(&mut self, w: &mut Worker) {
        if !self.log.is_open() {
            return;
        }
        let bytes = match self.log_len {
            Some(len) => len.saturating_sub(self.resp_expect.saturating_sub(self.resp_sent)),
            None => self.resp_sent.saturating_sub(self.resp_expect),
        };
        w.log.finish(&mut self.log, bytes);
    }

    /// Idle between requests: nothing buffered, nothing to send, nothing to discard.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Reading
            && self.rstart == self.rend
            && matches!(self.discard, Discard::None)
    }

    /// Just accepted: its request may be there already, so the first read is tried before
    /// any event says so.
    pub fn expect_request(&mut self) {
        self.read_ready = true;
    }

    /// A readiness event arrived. `hangup`: the peer closed (at least) its sending side;
    /// `closed`: it is gone entirely.
    pub fn on_event(&mut self, readable: bool, hangup: bool, closed: bool) {
        if readable || hangup {
            self.read_ready = true;
        }
        if hangup {
            self.hup = true;
        }
        if closed {
            self.peer_closed = true;
        }
    }

    /// Do all the work the connection can do now.
    pub fn drive(&mut self, w: &mut Worker) -> Next {
        let mut budget = WRITE_BUDGET;
        loop {
            match self.phase {
                Phase::Writing => match self.flush(&mut budget, w.now + w.send_ms) {
                    Ok(true) => self.response_done(w),
                    Ok(false) if budget == 0 => return Next::Yield,
                    Ok(false) => return Next::Wait,
                    Err(_) => return Next::Close,
                },
                Phase::Reading => {
                    match self.consume_body(w) {
                        Ok(()) => {}
                        Err(()) => return Next::Close,
                    }
                    if self.phase != Phase::Reading {
                        continue;
                    }
                    if matches!(self.discard, Discard::None)
                        && self.rstart < self.rend
                        && self.try_request(w)
                    {
                        continue;
                    }
                    if self.phase != Phase::Reading {
                        continue;
                    }
                    if !self.read_ready {
                        return Next::Wait;
                    }
                    match self.fill(w) {
                        Fill::Got => {}
                        Fill::Blocked => return Next::Wait,
                        Fill::Closed => return Next::Close,
                    }
                }
                Phase::Cgi => {
                    let Some(mut run) = self.cgi.take() else {
                        return Next::Close;
                    };
                    let next = self.drive_cgi(w, &mut run, &mut budget);
                    if self.phase == Phase::Cgi {
                        self.cgi = Some(run);
                        return next;
                    }
                    // Done: dropping `run` reaps (or kills) the program.
                    if next == Next::Close {
                        return next;
                    }
                }
                Phase::Lingering => {
                    if self.linger_quick && !self.read_ready {
                        return Next::Close;
                    }
                    let mut sink = [0u8; 4096];
                    loop {
                        match net::recv(&self.fd, &mut sink) {
                            Ok(0) => return Next::Close,
                            Ok(n) => {
                                if self.linger_quick {
                                    // Bytes after all: shut the write side and wait for the
                                    // client's close, as for any other close.
                                    self.linger_quick = false;
                                    net::shutdown_write(&self.fd);
                                }
                                self.lingered += n;
                                if self.lingered > LINGER_BYTES {
                                    return Next::Close;
                                }
                            }
                            Err(Errno::AGAIN) if self.linger_quick => return Next::Close,
                            Err(Errno::AGAIN) => return Next::Wait,
                            Err(Errno::INTR) => {}
                            Err(_) => return Next::Close,
                        }
                    }
                }
            }
        }
    }

    /// Read what is there into the buffer.
    fn fill(&mut self, w: &mut Worker) -> Fill {
        if self.rbuf.is_none() {
            self.rbuf = Some(w.pool.take_read());
        }
        let buf = self.rbuf.as_mut().expect("read buffer");
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
            self.scanned = 0;
        } else if self.rend == buf.len() && self.rstart > 0 {
            buf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        let was_empty = self.rstart == self.rend;
        let space = buf.len() - self.rend;
        if space == 0 {
            // Cannot happen while heads are bounded by MAX_HEAD < READ_BUF; refuse safely.
            self.respond_error(w, 431, None);
            return Fill::Got;
        }
        match net::recv(&self.fd, &mut buf[self.rend..]) {
            Ok(0) => Fill::Closed,
            Ok(n) => {
                self.rend += n;
                if n < space && !self.hup {
                    // Stream sockets: a short read means the receive queue is empty; the next
                    // arrival brings a new edge. This saves one EAGAIN read per request. Not
                    // after a hang-up: the end of stream came with the last edge, and only
                    // another read will see it.
                    self.read_ready = false;
                }
                if was_empty {
                    self.set_idle(w, false);
                }
                if was_empty && matches!(self.discard, Discard::None) {
                    // The head deadline runs from the first byte of the request.
                    self.deadline = w.now + w.header_ms;
                }
                Fill::Got
            }
            Err(Errno::AGAIN) => {
                self.read_ready = false;
                if was_empty {
                    // Nothing came (a client that connected and has not spoken yet): a
                    // connection waiting for its request holds no buffer.
                    self.release_buffers(w);
                }
                Fill::Blocked
            }
            Err(Errno::INTR) => Fill::Got,
            Err(_) => Fill::Closed,
        }
    }

    /// Take request-body bytes that are in the buffer: into the upload when there is one,
    /// else dropped. When an upload's body is complete, answer it. Err: close now.
    fn consume_body(&mut self, w: &mut Worker) -> Result<(), ()> {
        let avail = self.rend - self.rstart;
        if avail == 0 || matches!(self.discard, Discard::None) {
            return Ok(());
        }
        let buf = self.rbuf.as_ref().expect("bytes are buffered");
        let mut failed = None;
        match &mut self.discard {
            Discard::None => {}
            Discard::Length(left) => {
                let n = (*left).min(avail as u64) as usize;
                if let Some(up) = &mut self.upload
                    && let Err(e) = up.write(&buf[self.rstart..self.rstart + n])
                {
                    failed = Some(e.status());
                }
                *left -= n as u64;
                self.rstart += n;
                if *left == 0 {
                    self.discard = Discard::None;
                }
            }
            Discard::Chunked(dec) => {
                while self.rstart < self.rend && !dec.is_done() && failed.is_none() {
                    let (n, data) = match dec.decode(&buf[self.rstart..self.rend]) {
                        Ok(v) => v,
                        Err(_) if self.upload.is_some() || self.cgi_body.is_some() => {
                            failed = Some(400);
                            break;
                        }
                        Err(_) => return Err(()),
                    };
                    if let Some(range) = data {
                        let piece = &buf[self.rstart + range.start..self.rstart + range.end];
                        if let Some(up) = &mut self.upload
                            && let Err(e) = up.write(piece)
                        {
                            failed = Some(e.status());
                        }
                        if let Some((_, file)) = &mut self.cgi_body {
                            use std::io::Write;
                            if dec.total > w.shared.config.max_body {
                                failed = Some(413);
                            } else if file.write_all(piece).is_err() {
                                failed = Some(500);
                            }
                        }
                    }
                    self.rstart += n;
                    if n == 0 {
                        break;
                    }
                }
                if self.upload.is_none() && self.cgi_body.is_none() && dec.total > MAX_DISCARD {
                    // Too much to drop: stop reading requests, let the answer already sent
                    // arrive (no reset), and close.
                    self.discard = Discard::None;
                    self.rstart = self.rend;
                    if self.phase == Phase::Reading {
                        net::shutdown_write(&self.fd);
                        self.phase = Phase::Lingering;
                        self.deadline = w.now + LINGER_MS;
                    } else {
                        self.close_after = true;
                    }
                    return Ok(());
                }
                if dec.is_done() {
                    self.discard = Discard::None;
                }
            }
        }
        self.scanned = 0;
        if let Some(status) = failed {
            self.cgi_body = None;
            let line = self.upload.take().map(|u| u.line.clone());
            self.respond_error(w, status, line.as_deref());
            return Ok(());
        }
        if self.cgi_body.is_some() {
            self.deadline = w.now + w.header_ms;
            if matches!(self.discard, Discard::None) {
                self.start_buffered_cgi(w);
            }
            return Ok(());
        }
        if self.upload.is_some() {
            // Progress on the body moves the deadline (a stalled body still times out).
            self.deadline = w.now + w.header_ms;
            if matches!(self.discard, Discard::None) {
                self.finish_upload(w);
            }
        }
        Ok(())
    }

    /// The whole PUT body is in: commit the file and answer.
    fn finish_upload(&mut self, w: &mut Worker) {
        let Some(up) = self.upload.take() else { return };
        let (line, agent, received) = (up.line.clone(), up.agent.clone(), up.received);
        let mut reply = fresh_reply!(self, w, self.close_after, self.ka10, false);
        up.finish(&mut reply);
        let (status, close) = (reply.status, reply.close);
        w.log.line(
            self.peer.as_ref(),
            &w.clock.clf,
            &line,
            status,
            received,
            None,
            agent.as_deref(),
        );
        self.trace_req = trace_note(w, &line, status);
        self.close_after = close;
        self.start_writing(w);
    }

    /// Parse and answer one request if the buffer holds a whole head. Returns true when a
    /// response was started.
    fn try_request(&mut self, w: &mut Worker) -> bool {
        let buf = self.rbuf.as_ref().expect("read buffer");
        let pending = &buf[self.rstart..self.rend];
        // Search only the new bytes for the blank line; parse when a head is complete, when
        // the first bytes arrive (to refuse garbage at once), or when a limit is passed.
        // On the first bytes the parser runs anyway, so the search is skipped.
        let from = self.scanned.saturating_sub(3);
        let first = self.scanned == 0;
        self.scanned = pending.len();
        if !first
            && pending.len() <= parse::MAX_REQUEST_LINE
            && parse::find_head_end(pending, from).is_none()
        {
            return false;
        }
        let mut headers = [Header::default(); MAX_HEADERS];
        match parse::parse(pending, &mut headers) {
            Ok(None) => {
                if pending.len() > MAX_HEAD {
                    self.respond_error(w, 431, None);
                    return true;
                }
                false
            }
            Err(e) => {
                let line_end = pending.iter().position(|&b| b == b'\r' || b == b'\n');
                let line = &pending[..line_end.unwrap_or(pending.len()).min(256)];
                let line = line.to_vec();
                self.respond_error(w, e.status(), Some(&line));
                true
            }
            Ok(Some((req, n))) => {
                let head_only = req.method == parse::Method::Head;
                let writes = matches!(req.method, parse::Method::Put | parse::Method::Delete)
                    && !w.shared.config.write.is_empty();
                // Decide what happens to a body the handler will not read.
                let (discard, mut close) = match req.framing {
                    Framing::None => (Discard::None, false),
                    _ if writes => (Discard::whole(req.framing), false),
                    // A client waiting for 100 Continue may never send the body: close.
                    _ if req.expect_continue => (Discard::None, true),
                    Framing::Length(len) if len > MAX_DISCARD => (Discard::None, true),
                    _ => (Discard::whole(req.framing), false),
                };
                close |= !req.keep_alive || w.shutting_down;
                let keep_alive_10 = req.version == Version::Http10 && !close;
                let mut reply = fresh_reply!(self, w, close, keep_alive_10, head_only);
                let mut ctx = handler_ctx!(w);
                let peers = cgi::Peers {
                    remote: self.peer,
                    sock: self.fd.as_fd(),
                };
                let begun = handler::dispatch(&req, &mut ctx, &mut reply, peers, None);
                let stream = Discard::whole(req.framing);
                let expect = req.expect_continue;
                let keep_alive = req.keep_alive;
                let (status, body_len, close) = (reply.status, reply.body_len, reply.close);
                self.rstart += n;
                self.scanned = 0;
                self.close_after = close;
                self.client_done = !keep_alive;
                self.ka10 = keep_alive_10;
                match begun {
                    Answer::Upload(up) => {
                        // The body goes to the file; the answer comes when it is complete.
                        self.upload = Some(up);
                        self.discard = stream;
                        self.deadline = w.now + w.header_ms;
                        if expect && !self.send_continue() {
                            self.upload = None;
                            return false;
                        }
                        if matches!(self.discard, Discard::None) {
                            self.finish_upload(w);
                        }
                        return true;
                    }
                    Answer::Cgi(run) => {
                        self.discard = stream;
                        self.redirects = 0;
                        // The program reads the body, so its size is no reason to close.
                        self.close_after = !keep_alive || w.shutting_down;
                        return self.begin_cgi(w, run, expect);
                    }
                    Answer::CgiBuffer => {
                        let head = pending[..n].to_vec();
                        self.discard = stream;
                        self.redirects = 0;
                        match cgi_body_file() {
                            Some(f) => {
                                self.cgi_body = Some((head, f));
                                self.deadline = w.now + w.header_ms;
                                if expect && !self.send_continue() {
                                    return false;
                                }
                                return true;
                            }
                            None => {
                                self.respond_error(w, 500, None);
                                return true;
                            }
                        }
                    }
                    Answer::Done => {}
                }
                if w.log.enabled() {
                    w.log.begin(
                        &mut self.log,
                        self.peer.as_ref(),
                        &w.clock.clf,
                        req.line,
                        status,
                        req.header("referer"),
                        req.header("user-agent"),
                    );
                }
                self.trace_req = trace_note(w, req.line, status);
                // A write refused before its body was read: the body cannot be trusted to
                // follow (or to be small), so the connection closes after the answer.
                self.discard = if writes && !matches!(discard, Discard::None) {
                    self.close_after = true;
                    Discard::None
                } else {
                    discard
                };
                self.log_measure(Some(if head_only { 0 } else { body_len }));
                self.start_writing(w);
                true
            }
        }
    }

    /// `100 Continue` (RFC 9110 §15.2.1): the request will be accepted, send the body.
    /// It is tiny and the connection fresh; if even this cannot be written, give up.
    fn send_continue(&mut self) -> bool {
        const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
        matches!(net::send(&self.fd, CONTINUE), Ok(n) if n == CONTINUE.len())
    }

    /// Answer a request that could not be parsed (or timed out) and close afterwards.
    pub fn respond_error(&mut self, w: &mut Worker, status: u16, line: Option<&[u8]>) {
        let mut reply = fresh_reply!(self, w, true, false, false);
        reply.error(status);
        let len = reply.body_len;
        w.log.begin(
            &mut self.log,
            self.peer.as_ref(),
            &w.clock.clf,
            line.unwrap_or(b"-"),
            status,
            None,
            None,
        );
        self.log_measure(Some(len));
        self.trace_req = trace_note(w, line.unwrap_or(b"-"), status);
        // Whatever follows a bad head cannot be trusted to be a request.
        self.rstart = self.rend;
        self.discard = Discard::None;
        self.upload = None;
        self.cgi = None;
        self.cgi_body = None;
        self.close_after = true;
        self.start_writing(w);
    }

    fn start_writing(&mut self, w: &Worker) {
        self.phase = Phase::Writing;
        self.deadline = w.now + w.send_ms;
    }

    /// Send what is pending. `Ok(true)` when the whole response is out.
    /// Each write that makes progress moves the send deadline to `progress_deadline`, so the
    /// deadline catches a client that stops reading, not one that reads a large file slowly.
    fn flush(&mut self, budget: &mut usize, progress_deadline: u64) -> Result<bool, Errno> {
        loop {
            if *budget == 0 {
                return Ok(false);
            }
            let head = &self.out[self.out_pos..];
            let res = if !head.is_empty() {
                match &self.body {
                    Body::Heap { data, pos } => {
                        net::writev(&self.fd, &[IoSlice::new(head), IoSlice::new(&data[*pos..])])
                    }
                    Body::File { .. } | Body::Parts { .. } => net::send_more(&self.fd, head),
                    // The last bytes before a close: MSG_MORE holds them for the FIN.
                    Body::None if self.phase == Phase::Writing && self.ends_quietly() => {
                        net::send_more(&self.fd, head)
                    }
                    Body::None => net::send(&self.fd, head),
                }
            } else {
                match &mut self.body {
                    Body::None => return Ok(true),
                    Body::Heap { data, pos } => {
                        if *pos == data.len() {
                            self.body = Body::None;
                            return Ok(true);
                        }
                        net::send(&self.fd, &data[*pos..])
                    }
                    Body::Parts { file, segments } => match segments.front_mut() {
                        None => {
                            self.body = Body::None;
                            return Ok(true);
                        }
                        Some(Segment::Mem { data, pos }) if *pos == data.len() => {
                            segments.pop_front();
                            continue;
                        }
                        Some(Segment::Mem { data, pos }) => {
                            match net::send_more(&self.fd, &data[*pos..]) {
                                Ok(n) => {
                                    *pos += n;
                                    Ok(n)
                                }
                                e => e,
                            }
                        }
                        Some(Segment::File { offset, end }) if *offset == *end => {
                            segments.pop_front();
                            continue;
                        }
                        Some(Segment::File { offset, end }) => {
                            let count =
                                ((*end - *offset) as usize).min(SENDFILE_CHUNK).min(*budget);
                            match net::sendfile(&self.fd, &*file, offset, count) {
                                Ok(0) => return Err(Errno::IO),
                                other => other,
                            }
                        }
                    },
                    Body::File { file, offset, end } => {
                        if *offset == *end {
                            self.body = Body::None;
                            return Ok(true);
                        }
                        let count = ((*end - *offset) as usize).min(SENDFILE_CHUNK).min(*budget);
                        match net::sendfile(&self.fd, &*file, offset, count) {
                            // The file shrank after its length was promised: give up.
                            Ok(0) => return Err(Errno::IO),
                            other => other,
                        }
                    }
                }
            };
            match res {
                Ok(n) => {
                    *budget = budget.saturating_sub(n);
                    self.resp_sent += n as u64;
                    self.deadline = progress_deadline;
                    let head_left = self.out.len() - self.out_pos;
                    let on_head = n.min(head_left);
                    self.out_pos += on_head;
                    if let Body::Heap { pos, .. } = &mut self.body {
                        *pos += n - on_head;
                    }
                }
                Err(Errno::AGAIN) => {
                    // The socket is full: remember how much the kernel still holds, so a
                    // timeout can tell a slow reader (the queue shrank) from a stopped one.
                    self.queued = net::unsent(&self.fd).unwrap_or(0);
                    return Ok(false);
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The response is out: keep the connection for the next request, or close it.
    fn response_done(&mut self, w: &mut Worker) {
        self.log_end(w);
        if trace::enabled() {
            self.emit_trace(w);
        }
        self.out.clear();
        self.out_pos = 0;
        self.body = Body::None;
        self.served = true;
        if self.close_after {
            self.linger_quick = self.ends_quietly();
            if !self.linger_quick {
                net::shutdown_write(&self.fd);
                // The client's close may have come already; only a read will tell.
                self.read_ready = true;
            }
            // Quick: when the last read found the socket drained and no event has said
            // otherwise since, the socket closes without another read.
            self.phase = Phase::Lingering;
            self.deadline = w.now + LINGER_MS;
            self.release_buffers(w);
            return;
        }
        self.phase = Phase::Reading;
        if self.is_idle() {
            self.set_idle(w, true);
            self.release_buffers(w);
            self.deadline = w.now + w.keepalive_ms;
            self.idle_since = w.now;
        } else {
            self.deadline = w.now + w.header_ms;
        }
    }

    /// `--trace`: print the calls made for the response just completed.
    fn emit_trace(&mut self, w: &mut Worker) {
        trace::take_into(&mut self.trace);
        if let Some((line, status)) = self.trace_req.take() {
            trace::render(&mut w.trace_pending, &line, status, &self.trace);
        }
        self.trace = trace::Log::default();
    }

    /// Calls recorded for this connection by the worker (accept, the wake-up, closes).
    pub fn add_trace(&mut self) {
        trace::take_into(&mut self.trace);
    }

    /// Keep the worker's count of idle connections (shared with the other workers, which
    /// ask this one to close some when the server is full).
    pub fn set_idle(&mut self, w: &Worker, idle: bool) {
        if idle != self.idle_counted {
            self.idle_counted = idle;
            let n = &w.shared.idle[w.id];
            if idle {
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            } else {
                n.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Give the buffers back to the worker's pool.
    pub fn release_buffers(&mut self, w: &mut Worker) {
        if self.rstart == self.rend {
            if let Some(b) = self.rbuf.take() {
                w.pool.put_read(b);
            }
            self.rstart = 0;
            self.rend = 0;
            self.scanned = 0;
        }
        if self.out.capacity() != 0
            && self.out_pos >= self.out.len()
            && matches!(self.body, Body::None)
        {
            w.pool.put_write(std::mem::take(&mut self.out));
        }
    }

    /// The phase's deadline passed.
    pub fn on_timeout(&mut self, w: &mut Worker) -> Next {
        match self.phase {
            Phase::Cgi => {
                let head_sent = self.cgi.as_ref().is_some_and(|r| r.head_sent);
                let script = self
                    .cgi
                    .as_ref()
                    .map(|r| r.script.clone())
                    .unwrap_or_default();
                eprintln!("barehttpd: cgi {script}: killed after --cgi-timeout");
                if head_sent {
                    return Next::Close;
                }
                // RFC 9110 §15.6.5: the program did not answer in time.
                let line = self.cgi.as_ref().map(|r| r.line.clone());
                self.cgi = None;
                self.respond_error(w, 504, line.as_deref());
                self.drive(w)
            }
            Phase::Writing => {
                // No write succeeded for --send-timeout. If the client took bytes from the
                // kernel's queue meanwhile it is reading, only slowly: give it more time.
                let now_queued = net::unsent(&self.fd).unwrap_or(u32::MAX);
                if now_queued < self.queued {
                    self.queued = now_queued;
                    self.deadline = w.now + w.send_ms;
                    return Next::Wait;
                }
                Next::Close
            }
            Phase::Reading if !self.is_idle() => {
                // RFC 9110 §15.5.9: the request did not arrive in time.
                self.respond_error(w, 408, None);
                self.drive(w)
            }
            _ => Next::Close,
        }
    }

    /// Driving the connection panicked (the worker caught it). If no byte of a response has
    /// gone out since the last complete one, the client still gets an answer: 500, then
    /// close. Otherwise only closing can tell it that the response is cut short.
    pub fn on_panic(&mut self, w: &mut Worker) -> Next {
        if self.phase != Phase::Reading {
            return Next::Close;
        }
        self.respond_error(w, 500, None);
        Next::Yield
    }

    /// The server is shutting down: idle connections close now; requests begun (a head
    /// partly received, a PUT or CGI body arriving) and responses in flight finish, then
    /// close. The shutdown grace period bounds them all.
    pub fn on_shutdown(&mut self) -> Next {
        let begun = self.rstart < self.rend || self.upload.is_some() || self.cgi_body.is_some();
        match self.phase {
            Phase::Reading if !begun => Next::Close,
            Phase::Reading | Phase::Writing | Phase::Lingering | Phase::Cgi => {
                self.close_after = true;
                Next::Wait
            }
        }
    }

    /// A CGI program started: watch its pipes and let the drive loop run it.
    fn begin_cgi(&mut self, w: &mut Worker, run: Box<cgi::Run>, expect: bool) -> bool {
        self.watch_pipes(w, &run);
        self.cgi = Some(run);
        self.phase = Phase::Cgi;
        self.deadline = w.now + w.cgi_ms;
        if expect && matches!(self.discard, Discard::Length(_)) && !self.send_continue() {
            self.cgi = None;
            self.respond_error(w, 500, None);
        }
        true
    }

    /// A chunked body is buffered: start the CGI program with it as stdin.
    fn start_buffered_cgi(&mut self, w: &mut Worker) {
        use std::io::Seek;
        let Some((head, mut file)) = self.cgi_body.take() else {
            return;
        };
        if file.rewind().is_err() {
            return self.respond_error(w, 500, None);
        }
        match self.dispatch_held(w, &head, false, Some(file)) {
            None => self.respond_error(w, 500, None),
            Some((Answer::Cgi(run), _, _)) => {
                self.begin_cgi(w, run, false);
            }
            Some((_, status, len)) => {
                let line = head.split(|&b| b == b'\r').next().unwrap_or(b"");
                w.log.begin(
                    &mut self.log,
                    self.peer.as_ref(),
                    &w.clock.clf,
                    line,
                    status,
                    None,
                    None,
                );
                self.log_measure(Some(len));
                self.trace_req = trace_note(w, line, status);
                self.start_writing(w);
            }
        }
    }

    /// Parse a request head the connection holds itself (a chunked CGI request whose body
    /// is now buffered, a local redirect) and hand it to the handlers, as `try_request` does
    /// for heads in the read buffer. `None` if the head does not parse.
    fn dispatch_held(
        &mut self,
        w: &mut Worker,
        head: &[u8],
        head_only: bool,
        body_file: Option<std::fs::File>,
    ) -> Option<(Answer, u16, u64)> {
        let mut headers = [Header::default(); MAX_HEADERS];
        let Ok(Some((req, _))) = parse::parse(head, &mut headers) else {
            return None;
        };
        let mut reply = fresh_reply!(self, w, self.close_after, self.ka10, head_only);
        let mut ctx = handler_ctx!(w);
        let peers = cgi::Peers {
            remote: self.peer,
            sock: self.fd.as_fd(),
        };
        let begun = handler::dispatch(&req, &mut ctx, &mut reply, peers, body_file);
        Some((begun, reply.status, reply.body_len))
    }

    /// Watch a CGI program's pipes with this connection's token.
    fn watch_pipes(&self, w: &Worker, run: &cgi::Run) {
        let token = self.token | crate::server::PIPE_BIT;
        for fd in [&run.stdin, &run.stdout, &run.stderr].into_iter().flatten() {
            let _ = w.poller.add(fd, token, crate::sys::poll::Interest::Stream);
        }
    }

    /// Run the CGI exchange as far as it can go: request body to the program's stdin, its
    /// stderr to the error log, its output to the client, each only as fast as the other
    /// side takes it.
    fn drive_cgi(&mut self, w: &mut Worker, run: &mut cgi::Run, budget: &mut usize) -> Next {
        // A client that closed its side after sending the whole request has left (as nginx
        // and lighttpd take it): the program is killed rather than left to run to its timeout.
        if self.peer_closed || (self.hup && matches!(self.discard, Discard::None)) {
            return Next::Close;
        }
        loop {
            let mut progress = false;
            // 1. Output waiting for the client goes first; nothing more is read from the
            //    program until it is out (backpressure towards the program).
            if self.out_pos < self.out.len() {
                match self.flush(budget, w.now + w.cgi_ms) {
                    Ok(true) => {
                        self.out.clear();
                        self.out_pos = 0;
                        progress = true;
                    }
                    Ok(false) if *budget == 0 => return Next::Yield,
                    Ok(false) => {}
                    Err(_) => return Next::Close,
                }
            }
            // 2. The request body, into the program's stdin as far as it takes it.
            if let (Some(stdin), Discard::Length(left)) = (&run.stdin, &mut self.discard) {
                if self.rstart == self.rend && *left > 0 && self.read_ready {
                    let buf = self.rbuf.get_or_insert_with(|| w.pool.take_read());
                    self.rstart = 0;
                    self.rend = 0;
                    match net::recv(&self.fd, &mut buf[..]) {
                        Ok(0) => return Next::Close,
                        Ok(n) => {
                            self.rend = n;
                            progress = true;
                        }
                        Err(Errno::AGAIN) => self.read_ready = false,
                        Err(Errno::INTR) => {}
                        Err(_) => return Next::Close,
                    }
                }
                if self.rstart < self.rend {
                    let n = ((self.rend - self.rstart) as u64).min(*left) as usize;
                    let buf = self.rbuf.as_ref().expect("bytes are buffered");
                    match crate::sys::fs::write(stdin, &buf[self.rstart..self.rstart + n]) {
                        Ok(k) => {
                            self.rstart += k;
                            *left -= k as u64;
                            progress = true;
                        }
                        Err(Errno::AGAIN | Errno::INTR) => {}
                        Err(_) => {
                            // The program will not read its input: stop feeding it, and close
                            // the connection after the answer rather than read the rest.
                            run.stdin = None;
                            self.discard = Discard::None;
                            self.close_after = true;
                        }
                    }
                }
                if matches!(self.discard, Discard::Length(0)) {
                    self.discard = Discard::None;
                }
            }
            if run.stdin.is_some() && matches!(self.discard, Discard::None) {
                run.stdin = None; // EOF on the program's stdin
            }
            // 3. stderr, to the error log.
            if let Some(err) = &run.stderr {
                let mut tmp = [0u8; 4096];
                match net::read(err, &mut tmp) {
                    Ok(0) => {
                        run.stderr = None;
                        run.log_stderr(b"", true);
                    }
                    Ok(n) => {
                        run.log_stderr(&tmp[..n], false);
                        progress = true;
                    }
                    Err(Errno::AGAIN | Errno::INTR) => {}
                    Err(_) => run.stderr = None,
                }
            }
            // 4. The program's output, when the previous piece has gone to the client.
            if self.out_pos >= self.out.len()
                && let Some(out_fd) = &run.stdout
            {
                let mut tmp = [0u8; 16 * 1024];
                match net::read(out_fd, &mut tmp) {
                    Ok(0) => {
                        run.stdout = None;
                        return self.cgi_output_done(w, run);
                    }
                    Ok(n) => {
                        progress = true;
                        if let Some(next) = self.cgi_output(w, run, &tmp[..n]) {
                            return next;
                        }
                    }
                    Err(Errno::AGAIN | Errno::INTR) => {}
                    Err(_) => return Next::Close,
                }
            }
            if !progress {
                return Next::Wait;
            }
        }
    }

    /// Output bytes from the program: header block first, then body. `Some` ends the drive.
    fn cgi_output(&mut self, w: &mut Worker, run: &mut cgi::Run, data: &[u8]) -> Option<Next> {
        if run.head_sent {
            if run.head_only {
                return None;
            }
            run.sent += data.len() as u64;
            self.resp_expect += push_chunk(&mut self.out, data, run.chunked);
            return None;
        }
        run.head.extend_from_slice(data);
        match cgi::parse_head(&run.head) {
            Ok(None) => None,
            Err(why) => {
                eprintln!(
                    "barehttpd: cgi {}: bad response header block: {why}",
                    run.script
                );
                Some(self.cgi_fail(w, run, 502))
            }
            Ok(Some((head, n))) => {
                let rest = run.head.split_off(n);
                if let Some(loc) = cgi::local_redirect(&head) {
                    let loc = loc.to_vec();
                    return Some(self.cgi_local_redirect(w, run, &loc));
                }
                self.cgi_send_head(w, run, &head);
                if !rest.is_empty() && !run.head_only {
                    run.sent += rest.len() as u64;
                    self.resp_expect += push_chunk(&mut self.out, &rest, run.chunked);
                }
                None
            }
        }
    }

    /// Write the client's response head from the program's header block.
    fn cgi_send_head(&mut self, w: &mut Worker, run: &mut cgi::Run, head: &cgi::CgiHead) {
        let status = match (head.status, &head.location) {
            (0, Some(_)) => 302, // RFC 3875 §6.2.3: client redirect
            (0, None) => 200,
            (s, _) => s,
        };
        // HTTP/1.0 clients get a close-delimited body.
        let close = self.close_after || !run.chunked;
        let mut reply = fresh_reply!(self, w, close, self.ka10 && !close, run.head_only);
        if head.status != 0 && !head.reason.is_empty() {
            reply.start_with_reason(status, &head.reason);
        } else {
            reply.start(status);
        }
        if let Some(ct) = &head.content_type {
            reply.header("Content-Type", ct);
        }
        if let Some(loc) = &head.location {
            reply.header("Location", loc);
        }
        for (n, v) in &head.other {
            let n = String::from_utf8_lossy(n);
            reply.header(&n, v);
        }
        let bodiless = run.head_only || status == 204 || status == 304 || status < 200;
        if run.chunked && !bodiless {
            reply.header("Transfer-Encoding", b"chunked");
        }
        reply.finish_head();
        self.close_after = close;
        run.head_sent = true;
        run.head_only |= bodiless;
        w.log.begin(
            &mut self.log,
            self.peer.as_ref(),
            &w.clock.clf,
            &run.line,
            status,
            None,
            run.agent.as_deref(),
        );
        self.log_measure(None);
        self.trace_req = trace_note(w, &run.line, status);
    }

    /// The program closed its output.
    fn cgi_output_done(&mut self, w: &mut Worker, run: &mut cgi::Run) -> Next {
        if !run.head_sent {
            // No complete header block: nothing of the output reaches the client.
            let why = if run.head.is_empty() {
                "exited without output"
            } else {
                "incomplete header block"
            };
            eprintln!("barehttpd: cgi {}: {why}", run.script);
            return self.cgi_fail(w, run, 502);
        }
        // A program killed by a signal may have stopped mid-body: end the connection
        // without the last chunk, so the client knows the answer is incomplete.
        if run.crashed() == Some(true) {
            eprintln!(
                "barehttpd: cgi {}: killed by a signal mid-response",
                run.script
            );
            return Next::Close;
        }
        if run.chunked && !run.head_only {
            const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
            self.out.extend_from_slice(LAST_CHUNK);
            self.resp_expect += LAST_CHUNK.len() as u64;
        }
        match self.discard {
            Discard::None => {}
            // The program finished before reading all of the body: if the rest is already
            // here, drop it and keep the connection; the Reading phase drops up to
            // MAX_DISCARD more as it arrives; past that, close after the answer.
            Discard::Length(left) if left <= MAX_DISCARD => {}
            _ => {
                self.discard = Discard::None;
                self.close_after = true;
            }
        }
        self.phase = Phase::Writing;
        self.deadline = w.now + w.send_ms;
        Next::Wait
    }

    /// The program failed before its header block was complete: answer `status` instead.
    fn cgi_fail(&mut self, w: &mut Worker, run: &mut cgi::Run, status: u16) -> Next {
        let line = run.line.clone();
        self.phase = Phase::Reading;
        self.respond_error(w, status, Some(&line));
        Next::Wait
    }

    /// RFC 3875 §6.2.2: answer as if the client had asked for `loc` with GET.
    fn cgi_local_redirect(&mut self, w: &mut Worker, run: &mut cgi::Run, loc: &[u8]) -> Next {
        self.redirects += 1;
        if self.redirects > cgi::MAX_LOCAL_REDIRECTS
            || loc.iter().any(|&b| !(0x21..0x7f).contains(&b))
        {
            eprintln!(
                "barehttpd: cgi {}: bad or looping local redirect",
                run.script
            );
            return self.cgi_fail(w, run, 502);
        }
        let mut head = b"GET ".to_vec();
        head.extend_from_slice(loc);
        head.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        head.extend_from_slice(if parse::valid_host(&run.host) {
            &run.host
        } else {
            b"localhost"
        });
        head.extend_from_slice(b"\r\n\r\n");
        match self.dispatch_held(w, &head, run.head_only, None) {
            None => self.cgi_fail(w, run, 502),
            Some((Answer::Cgi(next_run), _, _)) => {
                // The new program replaces this one (dropped by the caller on return).
                *run = *next_run;
                self.watch_pipes(w, run);
                Next::Wait
            }
            Some((_, status, len)) => {
                w.log.begin(
                    &mut self.log,
                    self.peer.as_ref(),
                    &w.clock.clf,
                    &run.line,
                    status,
                    None,
                    run.agent.as_deref(),
                );
                self.log_measure(Some(len));
                self.trace_req = trace_note(w, &run.line, status);
                self.phase = Phase::Writing;
                self.deadline = w.now + w.send_ms;
                Next::Wait
            }
        }
    }
}

/// Make the response buffer ready for a new response (taking one from the pool if needed).
fn prepare_out(
    out: &mut Vec<u8>,
    out_pos: &mut usize,
    body: &mut Body,
    pool: &mut crate::server::Pool,
) {
    if out.capacity() == 0 {
        *out = pool.take_write();
    }
    out.clear();
    *out_pos = 0;
    *body = Body::None;
}

/// Append program output for the client: one chunk (RFC 9112 §7.1) or the raw bytes.
fn push_chunk(out: &mut Vec<u8>, data: &[u8], chunked: bool) -> u64 {
    let before = out.len();
    if chunked {
        crate::http::response::push_hex(out, data.len() as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
    (out.len() - before - data.len()) as u64
}

/// An unnamed temporary file for a chunked request body on its way to a CGI program.
fn cgi_body_file() -> Option<std::fs::File> {
    crate::sys::fs::temp_file("/tmp")
        .ok()
        .map(crate::sys::OwnedFd::into_file)
}

/// `--trace`: the request line and status to show for this response, if it is traced and
/// its path is under `--trace-filter`.
fn trace_note(w: &Worker, line: &[u8], status: u16) -> Option<(Vec<u8>, u16)> {
    if !trace::enabled() {
        return None;
    }
    if let Some(prefix) = &w.shared.config.trace_filter {
        let path = line.split(|&b| b == b' ').nth(1).unwrap_or(b"");
        if !path.starts_with(prefix.as_bytes()) {
            return None;
        }
    }
    Some((line.to_vec(), status))
}
