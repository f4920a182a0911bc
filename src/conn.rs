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
//!   close into a reset that would destroy the response in flight.
//!
//! The socket is registered once, edge-triggered for reading and writing, so a request costs
//! no epoll_ctl. Buffers come from the worker's pool when there is something to hold and go
//! back when the connection is idle, so an idle keep-alive connection holds no buffer.

use crate::handler::upload::{Begun, Upload};
use crate::handler::{self, Body, Ctx, Reply, Segment};
use crate::http::chunked::ChunkedDecoder;
use crate::http::parse::{self, Framing, Header, MAX_HEAD, MAX_HEADERS, Version};
use crate::server::Worker;
use crate::sys::{Errno, OwnedFd, net};
use std::io::IoSlice;
use std::net::SocketAddr;

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

pub struct Conn {
    pub fd: OwnedFd,
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
    /// The response to come is for an HTTP/1.0 keep-alive client.
    ka10: bool,
    lingered: usize,
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
            peer,
            phase: Phase::Reading,
            deadline: now + header_ms,
            idle_since: now,
            rbuf: None,
            rstart: 0,
            rend: 0,
            scanned: 0,
            read_ready: true,
            out: Vec::new(),
            out_pos: 0,
            body: Body::None,
            close_after: false,
            discard: Discard::None,
            upload: None,
            ka10: false,
            lingered: 0,
        }
    }

    /// Idle between requests: nothing buffered, nothing to send, nothing to discard.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Reading
            && self.rstart == self.rend
            && matches!(self.discard, Discard::None)
    }

    /// A readiness event arrived.
    pub fn on_event(&mut self, readable: bool) {
        if readable {
            self.read_ready = true;
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
                Phase::Lingering => {
                    let mut sink = [0u8; 4096];
                    loop {
                        match net::read(&self.fd, &mut sink) {
                            Ok(0) => return Next::Close,
                            Ok(n) => {
                                self.lingered += n;
                                if self.lingered > LINGER_BYTES {
                                    return Next::Close;
                                }
                            }
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
        match net::read(&self.fd, &mut buf[self.rend..]) {
            Ok(0) => Fill::Closed,
            Ok(n) => {
                self.rend += n;
                if n < space {
                    // Stream sockets: a short read means the receive queue is empty; the next
                    // arrival brings a new edge. This saves one EAGAIN read per request.
                    self.read_ready = false;
                }
                if was_empty && matches!(self.discard, Discard::None) {
                    // The head deadline runs from the first byte of the request.
                    self.deadline = w.now + w.header_ms;
                }
                Fill::Got
            }
            Err(Errno::AGAIN) => {
                self.read_ready = false;
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
                    && let Err(status) = up.write(&buf[self.rstart..self.rstart + n])
                {
                    failed = Some(status);
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
                        Err(_) if self.upload.is_some() => {
                            failed = Some(400);
                            break;
                        }
                        Err(_) => return Err(()),
                    };
                    if let (Some(up), Some(range)) = (&mut self.upload, data) {
                        let start = self.rstart;
                        if let Err(status) = up.write(&buf[start + range.start..start + range.end])
                        {
                            failed = Some(status);
                        }
                    }
                    self.rstart += n;
                    if n == 0 {
                        break;
                    }
                }
                if self.upload.is_none() && dec.total > MAX_DISCARD {
                    return Err(());
                }
                if dec.is_done() {
                    self.discard = Discard::None;
                }
            }
        }
        self.scanned = 0;
        if let Some(status) = failed {
            let line = self.upload.take().map(|u| u.line.clone());
            self.respond_error(w, status, line.as_deref());
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
        self.prepare_out(w);
        let (line, agent, received) = (up.line.clone(), up.agent.clone(), up.received);
        let mut reply = Reply::new(
            &mut self.out,
            &mut self.body,
            &w.clock.imf,
            &w.shared.site,
            self.close_after,
            self.ka10,
            false,
        );
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
        self.close_after = close;
        self.start_writing(w);
    }

    fn prepare_out(&mut self, w: &mut Worker) {
        prepare_out(
            &mut self.out,
            &mut self.out_pos,
            &mut self.body,
            &mut w.pool,
        );
    }

    /// Parse and answer one request if the buffer holds a whole head. Returns true when a
    /// response was started.
    fn try_request(&mut self, w: &mut Worker) -> bool {
        let buf = self.rbuf.as_ref().expect("read buffer");
        let pending = &buf[self.rstart..self.rend];
        // Search only the new bytes for the blank line; parse when a head is complete, when
        // the first bytes arrive (to refuse garbage at once), or when a limit is passed.
        let from = self.scanned.saturating_sub(3);
        let complete = parse::find_head_end(pending, from).is_some();
        let first = self.scanned == 0;
        self.scanned = pending.len();
        if !complete && !first && pending.len() <= parse::MAX_REQUEST_LINE {
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
                    Framing::Length(len) if writes => (Discard::Length(len), false),
                    Framing::Chunked if writes => (Discard::Chunked(ChunkedDecoder::new()), false),
                    // A client waiting for 100 Continue may never send the body: close.
                    _ if req.expect_continue => (Discard::None, true),
                    Framing::Length(len) if len <= MAX_DISCARD => (Discard::Length(len), false),
                    Framing::Length(_) => (Discard::None, true),
                    Framing::Chunked => (Discard::Chunked(ChunkedDecoder::new()), false),
                };
                close |= !req.keep_alive || w.shutting_down;
                let keep_alive_10 = req.version == Version::Http10 && !close;
                prepare_out(
                    &mut self.out,
                    &mut self.out_pos,
                    &mut self.body,
                    &mut w.pool,
                );
                let mut reply = Reply::new(
                    &mut self.out,
                    &mut self.body,
                    &w.clock.imf,
                    &w.shared.site,
                    close,
                    keep_alive_10,
                    head_only,
                );
                let mut ctx = Ctx {
                    cfg: &w.shared.config,
                    site: &w.shared.site,
                    root: w.shared.root_fd(),
                    index: &w.shared.index,
                    date: &w.clock.imf,
                    scratch: &mut w.scratch,
                    sibling: &mut w.sibling,
                    auth: w.shared.auth.as_ref(),
                    auth_cache: &mut w.auth_cache,
                };
                let begun = handler::dispatch(&req, &mut ctx, &mut reply);
                let (status, body_len, close) = (reply.status, reply.body_len, reply.close);
                self.rstart += n;
                self.scanned = 0;
                self.close_after = close;
                self.ka10 = keep_alive_10;
                match begun {
                    Begun::Upload(up) => {
                        // The body goes to the file; the answer comes when it is complete.
                        self.upload = Some(up);
                        self.discard = discard;
                        self.deadline = w.now + w.header_ms;
                        if req.expect_continue && !self.send_continue() {
                            self.upload = None;
                            return false;
                        }
                        if matches!(self.discard, Discard::None) {
                            self.finish_upload(w);
                        }
                        return true;
                    }
                    Begun::Answered => {}
                }
                w.log.line(
                    self.peer.as_ref(),
                    &w.clock.clf,
                    req.line,
                    status,
                    if head_only { 0 } else { body_len },
                    req.header("referer"),
                    req.header("user-agent"),
                );
                // A write refused before its body was read: the body cannot be trusted to
                // follow (or to be small), so the connection closes after the answer.
                self.discard = if writes && !matches!(discard, Discard::None) {
                    self.close_after = true;
                    Discard::None
                } else {
                    discard
                };
                self.start_writing(w);
                true
            }
        }
    }

    /// `100 Continue` (RFC 9110 §15.2.1): the request will be accepted, send the body.
    /// It is tiny and the connection fresh; if even this cannot be written, give up.
    fn send_continue(&mut self) -> bool {
        const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
        matches!(net::writev(&self.fd, &[IoSlice::new(CONTINUE)]), Ok(n) if n == CONTINUE.len())
    }

    /// Answer a request that could not be parsed (or timed out) and close afterwards.
    pub fn respond_error(&mut self, w: &mut Worker, status: u16, line: Option<&[u8]>) {
        self.prepare_out(w);
        let mut reply = Reply::new(
            &mut self.out,
            &mut self.body,
            &w.clock.imf,
            &w.shared.site,
            true,
            false,
            false,
        );
        reply.error(status);
        let len = reply.body_len;
        w.log.line(
            self.peer.as_ref(),
            &w.clock.clf,
            line.unwrap_or(b"-"),
            status,
            len,
            None,
            None,
        );
        // Whatever follows a bad head cannot be trusted to be a request.
        self.rstart = self.rend;
        self.discard = Discard::None;
        self.upload = None;
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
                    Body::None => net::writev(&self.fd, &[IoSlice::new(head)]),
                }
            } else {
                match &mut self.body {
                    Body::None => return Ok(true),
                    Body::Heap { data, pos } => {
                        if *pos == data.len() {
                            self.body = Body::None;
                            return Ok(true);
                        }
                        net::writev(&self.fd, &[IoSlice::new(&data[*pos..])])
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
                    self.deadline = progress_deadline;
                    let head_left = self.out.len() - self.out_pos;
                    let on_head = n.min(head_left);
                    self.out_pos += on_head;
                    if let Body::Heap { pos, .. } = &mut self.body {
                        *pos += n - on_head;
                    }
                }
                Err(Errno::AGAIN) => return Ok(false),
                Err(Errno::INTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The response is out: keep the connection for the next request, or close it.
    fn response_done(&mut self, w: &mut Worker) {
        self.out.clear();
        self.out_pos = 0;
        self.body = Body::None;
        if self.close_after {
            net::shutdown_write(&self.fd);
            self.phase = Phase::Lingering;
            self.deadline = w.now + LINGER_MS;
            self.release_buffers(w);
            self.read_ready = true;
            return;
        }
        self.phase = Phase::Reading;
        if self.is_idle() {
            self.release_buffers(w);
            self.deadline = w.now + w.keepalive_ms;
            self.idle_since = w.now;
        } else {
            self.deadline = w.now + w.header_ms;
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
            Phase::Reading if !self.is_idle() => {
                // RFC 9110 §15.5.9: the request did not arrive in time.
                self.respond_error(w, 408, None);
                self.drive(w)
            }
            _ => Next::Close,
        }
    }

    /// The server is shutting down: idle connections close now, responses in flight finish.
    pub fn on_shutdown(&mut self) -> Next {
        match self.phase {
            Phase::Reading => Next::Close,
            Phase::Writing => {
                self.close_after = true;
                Next::Wait
            }
            Phase::Lingering => Next::Wait,
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
