//! The HTTP/1.1 session: turns the transport's bytes into requests and the handlers'
//! replies into bytes, one exchange after another on the same connection (RFC 9112).
//!
//! It owns the framing: finding and parsing each head (rules from `http::parse`), decoding
//! the request body and handing it to its sink, writing response heads (`handler::Reply`)
//! and chunk-encoding streamed bodies, keep-alive and pipelining, `100 Continue`, the
//! lingering close, the deadlines of each phase, and the access-log line and `--trace`
//! block of each response. It does not touch the socket (`transport`), decide what to
//! answer (`handler`), or know about other connections (`server`).
//!
//! A session is in one phase at a time:
//! - `Reading`: waiting for a request head, or for the body of one being received (into an
//!   upload, a spool file for a CGI program, or dropped). Bytes of a body nobody needs are
//!   read and dropped first, so a request pipelined after them stays in sync and a request
//!   hidden in a body is never run.
//! - `Writing`: a response is going out. Nothing more is read meanwhile, so a client that
//!   pipelines without reading fills its own socket buffers, not the server's memory.
//! - `Streaming`: a CGI program is answering (`exchange.rs`): the request body goes to its
//!   stdin, its output to the client, each as fast as the other side takes it.
//! - `Verifying`: a write's credentials are being checked by a verifier thread; the head
//!   stays in the buffer and is dispatched again when the verdict comes (`resume`).
//! - `Lingering`: the response said `Connection: close`; what the client still sends is read
//!   and dropped for a moment, so that the close does not become a reset.
//! - `Broken`: an interim `100 Continue` could not be written whole; the connection closes.
//!
//! HTTP/2 will be a second session beside this one (`conn/http2/`), on the same transport
//! and the same handlers; `Conn` picks one per connection (by ALPN, or the h2c preface).

mod body;
mod exchange;

use super::spool_file;
use super::transport::{Fill, Flushed, Linger, Queue, Transport};
use crate::handler::Error;
use crate::handler::auth::{Pending, Refused};
use crate::handler::{self, Answer, Held, Reply, cgi, site};
use crate::http::parse::{self, Framing, Header, MAX_HEAD, MAX_HEADERS, Request, Version};
use crate::http::response;
use crate::sys::trace;
use crate::worker::{ConnId, Route, Verdict, Worker};
use body::{MAX_DISCARD, Remaining, Sink};
use std::net::SocketAddr;

/// How long a closing connection keeps reading what the client still sends.
const LINGER_MS: u64 = 2_000;
/// Bytes one connection may write in one turn of the event loop before others get theirs.
const WRITE_BUDGET: usize = 1 << 20;
/// After a short sendfile, how soon to look again whether the file ended early
/// (`Transport::unsure`). The worker's timer ticks every 250 ms, so this is when the next
/// tick comes.
const RECHECK_MS: u64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Reading,
    Writing,
    Streaming,
    /// Credentials are being verified off the event loop (`handler::auth`); the request
    /// head stays in the buffer until the verdict comes (`resume`).
    Verifying,
    Lingering,
    /// An interim response (`100 Continue`) could not be written whole: the bytes on the
    /// wire are no longer in step with any answer, so the connection closes at once.
    Broken,
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

pub struct Http1 {
    /// The connection's place in its worker (for its CGI pipes' token).
    id: ConnId,
    /// The site and rule of the request being answered (for answers written after its
    /// handler returned: an upload's, a CGI program's).
    route: Option<Route>,
    phase: Phase,
    /// Monotonic ms at which the current phase times out (or, while writing, a short
    /// sendfile is looked at again).
    pub deadline: u64,
    /// While writing: when the send timeout passes unless a write makes progress.
    send_by: u64,
    /// Monotonic ms since which the connection has been idle between requests.
    pub idle_since: u64,
    /// Bytes of the transport's buffer already searched for the end of the head.
    scanned: usize,
    remaining: Remaining,
    sink: Sink,
    /// The CGI program answering the current request (`Streaming`).
    cgi: Option<Box<cgi::Run>>,
    /// Local redirects followed for the current request.
    redirects: u8,
    /// The connection closes after the response in progress.
    close_after: bool,
    /// The response to come is for an HTTP/1.0 keep-alive client.
    ka10: bool,
    /// The request being answered said it is the client's last (`Connection: close`, or
    /// HTTP/1.0 without keep-alive).
    client_done: bool,
    /// Lingering without having shut the write side (see `Transport::linger`).
    linger_quick: bool,
    /// At least one response has gone out on this connection.
    pub served: bool,
    /// Counted in the worker's idle connections (for eviction across workers).
    idle_counted: bool,
    /// The connection's peer: the socket's, or the one its PROXY header named.
    peer: Option<SocketAddr>,
    /// The client of the request being answered: `peer`, or the address a trusted proxy
    /// forwarded (`Forwarded`, `X-Forwarded-For`). Port 0: not known.
    #[cfg(feature = "ops")]
    client: Option<SocketAddr>,
    /// The access-log line of the response being sent, waiting for its byte count: its
    /// body length when known (None: a streamed body, counted as it goes), the bytes the
    /// response had to send when the line was begun (for a stream: its head and the chunk
    /// framing added since, the bytes that are not body), and those sent since. A response
    /// cut short is logged with the body bytes that actually left.
    log: crate::log::Pending,
    log_len: Option<u64>,
    resp_expect: u64,
    resp_sent: u64,
    /// The status of the response being sent, until it is counted (`log_end`); 0: none.
    resp_status: u16,
    /// `--trace`: the calls made for this connection since its last response, and the
    /// request line and status of the response in progress (when it is to be shown).
    trace: trace::Log,
    trace_req: Option<(Vec<u8>, u16)>,
    /// The connection turned out to speak HTTP/2 (ALPN `h2`, or the h2c preface): `Conn`
    /// hands it to the HTTP/2 session, with what was read still in the buffer.
    #[cfg(feature = "h2")]
    pub wants_h2: bool,
}

impl Http1 {
    pub fn new(id: ConnId, peer: Option<SocketAddr>, now: u64, header_ms: u64) -> Http1 {
        Http1 {
            id,
            route: None,
            phase: Phase::Reading,
            deadline: now + header_ms,
            send_by: 0,
            idle_since: now,
            scanned: 0,
            remaining: Remaining::None,
            sink: Sink::Drop,
            cgi: None,
            redirects: 0,
            close_after: false,
            ka10: false,
            client_done: false,
            linger_quick: false,
            served: false,
            idle_counted: false,
            peer,
            #[cfg(feature = "ops")]
            client: peer,
            log: crate::log::Pending::default(),
            log_len: None,
            resp_expect: 0,
            resp_sent: 0,
            resp_status: 0,
            trace: trace::Log::default(),
            trace_req: None,
            #[cfg(feature = "h2")]
            wants_h2: false,
        }
    }

    /// The connection's place in its worker (for the session that takes over, HTTP/2).
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The connection's peer (for the session that takes over, HTTP/2).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The client of the request being answered (see `client`).
    fn client(&self) -> Option<SocketAddr> {
        #[cfg(feature = "ops")]
        return self.client;
        #[cfg(not(feature = "ops"))]
        self.peer
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Idle between requests: nothing buffered, nothing to send, nothing to receive.
    pub fn is_idle(&self, t: &Transport) -> bool {
        self.phase == Phase::Reading
            && !t.has_buffered()
            && matches!(self.remaining, Remaining::None)
    }

    /// A request head is arriving: reading, with a first byte in, and no body to receive.
    pub fn reading_head(&self, t: &Transport) -> bool {
        self.phase == Phase::Reading
            && t.has_buffered()
            && matches!(self.remaining, Remaining::None)
            && matches!(self.sink, Sink::Drop)
    }

    /// The response being sent is the last, and the client said so: nothing buffered and
    /// nothing left to receive, so what follows it can only be the client's own close, if it
    /// keeps its word (RFC 9112 §9.6: no request after `close`). The socket then closes as
    /// soon as the response is out, without another read when the last one found it drained,
    /// and the response goes with MSG_MORE so that the close's FIN leaves in its last segment:
    /// one packet fewer each way. Server CPU per such connection: about a third less.
    fn ends_quietly(&self, t: &Transport) -> bool {
        self.close_after
            && self.client_done
            && !t.has_buffered()
            && matches!(self.remaining, Remaining::None)
            && !matches!(self.sink, Sink::Upload(_))
    }

    /// Do all the work the connection can do now.
    pub fn drive(&mut self, t: &mut Transport, w: &mut Worker) -> Next {
        let mut budget = WRITE_BUDGET;
        loop {
            match self.phase {
                Phase::Writing => {
                    let fin = self.ends_quietly(t);
                    let res = t.flush(&mut budget, fin);
                    if t.take_progress() {
                        self.send_by = w.now + w.send_ms;
                    }
                    self.deadline = self.send_by;
                    self.resp_sent += t.take_sent();
                    match res {
                        Ok(Flushed::Done) => self.response_done(t, w),
                        Ok(Flushed::Budget) => return Next::Yield,
                        Ok(Flushed::Blocked) => {
                            if t.unsure() {
                                self.deadline = self.send_by.min(w.now + RECHECK_MS);
                            }
                            return Next::Wait;
                        }
                        Err(_) => return Next::Close,
                    }
                }
                Phase::Reading => {
                    #[cfg(feature = "h2")]
                    if self.wants_h2 {
                        return Next::Yield;
                    }
                    if self.receive_body(t, w).is_err() {
                        return Next::Close;
                    }
                    if self.phase != Phase::Reading {
                        continue;
                    }
                    if matches!(self.remaining, Remaining::None)
                        && t.has_buffered()
                        && self.try_request(t, w)
                    {
                        continue;
                    }
                    if self.phase != Phase::Reading {
                        continue;
                    }
                    if !t.read_ready() {
                        return Next::Wait;
                    }
                    let was_empty = !t.has_buffered();
                    if was_empty {
                        self.scanned = 0;
                    }
                    match t.fill(&mut w.pool) {
                        Fill::Got => {
                            if was_empty && t.has_buffered() {
                                #[cfg(feature = "ops")]
                                if let Some(p) = t.take_proxied_peer() {
                                    self.peer = Some(p);
                                }
                                self.set_idle(w, false);
                                if matches!(self.remaining, Remaining::None) {
                                    // The head deadline runs from the first byte of the request.
                                    self.deadline = w.now + w.header_ms;
                                }
                            }
                        }
                        Fill::Blocked => {
                            if was_empty {
                                // Nothing came (a client that connected and has not spoken
                                // yet): a connection waiting for its request holds no buffer.
                                t.release_buffers(&mut w.pool);
                            }
                            return Next::Wait;
                        }
                        Fill::Closed => return Next::Close,
                        // Cannot happen while heads are bounded by MAX_HEAD < READ_BUF.
                        Fill::Full => self.respond_error(t, w, 431, None),
                    }
                }
                Phase::Streaming => {
                    let Some(mut run) = self.cgi.take() else {
                        return Next::Close;
                    };
                    let next = self.drive_program(t, w, &mut run, &mut budget);
                    if self.phase == Phase::Streaming {
                        self.cgi = Some(run);
                        return next;
                    }
                    // Done: dropping `run` reaps (or kills) the program.
                    if next == Next::Close {
                        return next;
                    }
                }
                Phase::Broken => return Next::Close,
                Phase::Verifying if t.gone() => return Next::Close,
                Phase::Verifying => return Next::Wait,
                Phase::Lingering => {
                    return match t.linger(&mut self.linger_quick) {
                        Linger::Wait => Next::Wait,
                        Linger::Close => Next::Close,
                    };
                }
            }
        }
    }

    /// Parse and answer one request if the buffer holds a whole head. Returns true when a
    /// response (or the reception of a body) was started.
    fn try_request(&mut self, t: &mut Transport, w: &mut Worker) -> bool {
        #[cfg(feature = "h2")]
        if !self.served {
            // HTTP/2 by ALPN, or by its preface on a plain listener with --h2c: "PRI " starts
            // no HTTP/1.1 request this server answers (RFC 9113 §3.4).
            const PRI: &[u8] = b"PRI ";
            let p = t.buffered();
            let n = p.len().min(PRI.len());
            let h2c = w.served.config.h2c && !t.is_tls() && p[..n] == PRI[..n];
            if t.alpn_h2() || (h2c && n == PRI.len()) {
                self.wants_h2 = true;
                return true;
            }
            if h2c {
                return false;
            }
        }
        #[cfg(feature = "ops")]
        {
            self.client = self.peer;
        }
        let (pending, queue) = t.split();
        // Search only the new bytes for the blank line; parse when a head is complete, when
        // the first bytes arrive (to refuse garbage at once), or when a limit is passed.
        // On the first bytes the parser runs anyway, so the search is skipped.
        // Past the request line's limit, the parser also runs each time another 4 KiB has
        // come, to find a line or section over its limit before the head is whole: a
        // head sent a byte at a time is parsed a few times, not once per byte.
        let before = self.scanned;
        let from = before.saturating_sub(3);
        let first = before == 0;
        self.scanned = pending.len();
        let limit_check =
            pending.len() > parse::MAX_REQUEST_LINE && pending.len() / 4096 != before / 4096;
        if !first && !limit_check && parse::find_head_end(pending, from).is_none() {
            return false;
        }
        let mut headers = [Header::default(); MAX_HEADERS];
        let (req, n) = match parse::parse(pending, &mut headers) {
            Ok(Some(v)) => v,
            Ok(None) if pending.len() <= MAX_HEAD => return false,
            Ok(None) => {
                self.respond_error(t, w, 431, None);
                return true;
            }
            Err(e) => {
                let line = req_line_of(pending);
                self.respond_error(t, w, e.status(), Some(&line));
                return true;
            }
        };
        let head_only = req.method == parse::Method::Head;
        // Decide what happens to a body no handler reads (a GET's, or a PUT's refused
        // before its body came): a small one is read and dropped and the connection kept,
        // as lighttpd does; otherwise the answer says `Connection: close`, so that a client
        // pipelining behind it knows to send its next request again. A handler that takes
        // the body (an upload, a CGI program) undoes the close below.
        let (drop_body, mut close) = match req.framing {
            Framing::None => (Remaining::None, false),
            // A client waiting for 100 Continue may never send the body: close.
            _ if req.expect_continue => (Remaining::None, true),
            Framing::Length(len) if len > MAX_DISCARD => (Remaining::None, true),
            _ => (Remaining::whole(req.framing), false),
        };
        close |= !req.keep_alive || w.shutting_down;
        let keep_alive_10 = req.version == Version::Http10 && !close;
        let how = How {
            close,
            keep_alive_10,
            head_only,
        };
        #[cfg(feature = "ops")]
        if !w.served.config.trusted_proxies.is_empty() && w.served.trusts(self.peer) {
            self.client =
                crate::http::forwarded::request_client(&req, &w.served.config.trusted_proxies)
                    .or(self.peer);
        }
        let (status, body_len, close, answer, route) =
            dispatch(&req, queue, w, self.client(), how, Held::None);
        self.route = route;
        let stream = Remaining::whole(req.framing);
        let expect = req.expect_continue;
        let keep_alive = req.keep_alive;
        let http10 = req.version == Version::Http10;
        self.close_after = close;
        self.client_done = !keep_alive;
        self.ka10 = keep_alive_10;
        if matches!(
            answer,
            Answer::Upload(_) | Answer::Cgi(_) | Answer::CgiBuffer(_) | Answer::DavBody
        ) {
            // The handler reads the body, so its size is no reason to close.
            self.close_after = !keep_alive || w.shutting_down;
            self.ka10 = http10 && !self.close_after;
        }
        match answer {
            Answer::Done => {
                if w.log.enabled() {
                    let (referer, agent) = (req.header("referer"), req.header("user-agent"));
                    let client = self.client();
                    w.log.begin(
                        &mut self.log,
                        client.as_ref(),
                        &w.clock.clf,
                        req.line,
                        status,
                        referer,
                        agent,
                    );
                }
                self.trace_req = trace_note(w, req.line, status);
                t.consume(n);
                self.scanned = 0;
                self.remaining = drop_body;
                self.log_measure(t, status, if head_only { Some(0) } else { body_len });
                self.start_writing(w);
                true
            }
            Answer::Upload(up) => {
                t.consume(n);
                self.scanned = 0;
                // The body goes to the file; the answer comes when it is complete.
                self.remaining = stream;
                self.deadline = w.now + w.header_ms;
                if expect && !t.send_interim(response::CONTINUE) {
                    // Dropping the upload removes its temporary file.
                    self.phase = Phase::Broken;
                    return true;
                }
                if matches!(self.remaining, Remaining::None) {
                    self.finish_upload(t, w, *up);
                } else {
                    self.sink = Sink::Upload(up);
                }
                true
            }
            Answer::Cgi(run) => {
                t.consume(n);
                self.scanned = 0;
                self.remaining = stream;
                self.redirects = 0;
                self.begin_program(t, w, run, expect)
            }
            Answer::Verify(pending) => {
                // The head stays in the buffer: once the verdict is in, the request is
                // dispatched again and finds it in the worker's verdicts.
                let line = req_line_of(t.buffered());
                self.verify(t, w, *pending, &line);
                true
            }
            Answer::DavBody => {
                let head = t.buffered()[..n].to_vec();
                t.consume(n);
                self.scanned = 0;
                self.remaining = stream;
                self.sink = Sink::Buffer(head, Vec::new());
                self.deadline = w.now + w.header_ms;
                if expect && !t.send_interim(response::CONTINUE) {
                    self.sink = Sink::Drop;
                    self.phase = Phase::Broken;
                    return true;
                }
                if matches!(self.remaining, Remaining::None) {
                    // An empty chunked body: nothing more will come.
                    if let Sink::Buffer(head, body) = std::mem::replace(&mut self.sink, Sink::Drop)
                    {
                        self.finish_buffered(t, w, head, body);
                    }
                }
                true
            }
            Answer::CgiBuffer(program) => {
                let head = t.buffered()[..n].to_vec();
                t.consume(n);
                self.scanned = 0;
                self.remaining = stream;
                self.redirects = 0;
                let Some(file) = spool_file() else {
                    self.respond_error(t, w, 500, None);
                    return true;
                };
                self.sink = Sink::Spool(head, file, program);
                // The whole body must arrive within --cgi-timeout of its head.
                self.deadline = w.now + w.cgi_ms;
                if expect && !t.send_interim(response::CONTINUE) {
                    self.sink = Sink::Drop;
                    self.phase = Phase::Broken;
                }
                true
            }
        }
    }

    /// Answer a request that could not be parsed (or timed out) and close afterwards.
    pub fn respond_error(
        &mut self,
        t: &mut Transport,
        w: &mut Worker,
        status: u16,
        line: Option<&[u8]>,
    ) {
        self.respond_closing(t, w, line, |r| r.error(status));
    }

    /// Answer with an error `write` puts in the reply, and close afterwards.
    fn respond_closing(
        &mut self,
        t: &mut Transport,
        w: &mut Worker,
        line: Option<&[u8]>,
        write: impl FnOnce(&mut Reply),
    ) {
        let site = w.served.extras(self.route, t.is_tls());
        let (out, body) = t.new_response(&mut w.pool);
        let mut reply = Reply::new(out, body, &w.clock.imf, site, true, false, false);
        write(&mut reply);
        let (status, len) = (reply.status, reply.body_len);
        self.log_begin(w, line.unwrap_or(b"-"), status, None);
        self.log_measure(t, status, Some(len));
        // Whatever follows a bad head cannot be trusted to be a request.
        t.discard_buffered();
        self.remaining = Remaining::None;
        self.sink = Sink::Drop;
        self.cgi = None;
        self.close_after = true;
        self.start_writing(w);
    }

    /// Hand a write's credentials to the verifier threads; the connection waits
    /// (`Verifying`) until the verdict comes back through the worker's mailbox (`resume`).
    /// Refused (too many waiting from this client, or the queue full): 429 or 503, and close.
    fn verify(&mut self, t: &mut Transport, w: &mut Worker, pending: Pending, line: &[u8]) {
        let served = w.served.clone();
        let Some(auth) = served.auth.as_ref() else {
            return self.respond_error(t, w, 500, Some(line));
        };
        let mailbox = w.mailbox.clone();
        let (conn, token, generation) = (self.id, pending.token.clone(), pending.generation);
        let done = Box::new(move |ok| {
            mailbox.post(Verdict {
                conn,
                token,
                ok,
                generation,
            })
        });
        match auth.submit(pending, done) {
            Ok(()) => {
                self.phase = Phase::Verifying;
                self.deadline = w.now + w.header_ms;
            }
            Err(Refused::Limited) => {
                self.respond_closing(t, w, Some(line), |r| r.fail(Error::TooManyAttempts));
            }
            Err(Refused::Busy) => self.respond_closing(t, w, Some(line), |r| r.fail(Error::Busy)),
        }
    }

    /// A verdict on this connection's credentials came, and the worker has recorded it:
    /// the request in the buffer is dispatched again when the connection is driven. False
    /// if the connection was not waiting for one (it timed out, or is gone).
    pub fn resume(&mut self) -> bool {
        if self.phase != Phase::Verifying {
            return false;
        }
        self.phase = Phase::Reading;
        self.scanned = 0;
        true
    }

    /// Begin the access-log line (and note the `--trace` block) of a response.
    fn log_begin(&mut self, w: &mut Worker, line: &[u8], status: u16, agent: Option<&[u8]>) {
        let client = self.client();
        w.log.begin(
            &mut self.log,
            client.as_ref(),
            &w.clock.clf,
            line,
            status,
            None,
            agent,
        );
        self.trace_req = trace_note(w, line, status);
    }

    fn start_writing(&mut self, w: &Worker) {
        self.phase = Phase::Writing;
        self.send_by = w.now + w.send_ms;
        self.deadline = self.send_by;
    }

    /// The response is ready to go: note what it has to send, so that its log line can say
    /// how much of its body did (`len`: the body length; None: a streamed body, counted).
    /// The same measure counts the response for `--metrics`, log or no log.
    fn log_measure(&mut self, t: &Transport, status: u16, len: Option<u64>) {
        self.resp_status = status;
        self.log_len = len;
        self.resp_sent = 0;
        self.resp_expect = t.pending();
    }

    /// The response ended (whole, or cut short when the connection closes): log it with the
    /// body bytes that left. What was not sent is always the end of the response.
    /// Counted once, here, for `--metrics`.
    pub fn log_end(&mut self, w: &mut Worker) {
        let status = std::mem::take(&mut self.resp_status);
        if status == 0 {
            return;
        }
        let bytes = match self.log_len {
            Some(len) => len.saturating_sub(self.resp_expect.saturating_sub(self.resp_sent)),
            None => self.resp_sent.saturating_sub(self.resp_expect),
        };
        w.stats().response(status, bytes);
        w.log.finish(&mut self.log, bytes);
    }

    /// The response is out: keep the connection for the next request, or close it.
    fn response_done(&mut self, t: &mut Transport, w: &mut Worker) {
        self.log_end(w);
        if trace::enabled() {
            t.trace_layer();
            self.emit_trace(w);
        }
        t.clear_response();
        self.served = true;
        #[cfg(feature = "ops")]
        {
            self.client = self.peer;
        }
        if self.close_after {
            // Quick: when the last read found the socket drained and no event has said
            // otherwise since, the socket closes without another read.
            self.linger_quick = self.ends_quietly(t);
            if !self.linger_quick {
                t.shutdown_write();
                // The client's close may have come already; only a read will tell.
                t.expect_read();
            }
            self.phase = Phase::Lingering;
            self.deadline = w.now + LINGER_MS;
            t.release_buffers(&mut w.pool);
            return;
        }
        self.phase = Phase::Reading;
        if self.is_idle(t) {
            self.set_idle(w, true);
            t.release_buffers(&mut w.pool);
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

    /// Keep the worker's count of idle connections.
    pub fn set_idle(&mut self, w: &Worker, idle: bool) {
        if idle != self.idle_counted {
            self.idle_counted = idle;
            w.count_idle(idle);
        }
    }

    /// The phase's deadline passed.
    pub fn on_timeout(&mut self, t: &mut Transport, w: &mut Worker) -> Next {
        match self.phase {
            Phase::Streaming => {
                let Some(run) = self.cgi.take() else {
                    return Next::Close;
                };
                crate::sys::log_error(format_args!(
                    "barehttpd: cgi {}: killed after --cgi-timeout",
                    run.script
                ));
                if run.head_sent {
                    return Next::Close;
                }
                let line = run.line.clone();
                drop(run); // killed now
                // RFC 9110 §15.6.5: the program did not answer in time.
                self.respond_error(t, w, 504, Some(&line));
                self.drive(t, w)
            }
            // A short sendfile to look at again (`RECHECK_MS`).
            Phase::Writing if w.now < self.send_by => self.drive(t, w),
            Phase::Writing => {
                // No write succeeded for --send-timeout. If the client took bytes from the
                // kernel's queue meanwhile it is reading, only slowly: give it more time.
                if t.send_stalled() {
                    return Next::Close;
                }
                self.send_by = w.now + w.send_ms;
                self.deadline = self.send_by;
                Next::Wait
            }
            Phase::Verifying => {
                let line = req_line_of(t.buffered());
                self.respond_closing(t, w, Some(&line), |r| r.fail(Error::Busy));
                self.drive(t, w)
            }
            // The rest of a body nobody reads stopped coming; its request was answered
            // already, so there is nothing to answer: close.
            Phase::Reading
                if matches!(self.sink, Sink::Drop)
                    && !matches!(self.remaining, Remaining::None) =>
            {
                Next::Close
            }
            Phase::Reading if !self.is_idle(t) => {
                // RFC 9110 §15.5.9: the request did not arrive in time.
                self.respond_error(t, w, 408, None);
                self.drive(t, w)
            }
            _ => Next::Close,
        }
    }

    /// Driving the connection panicked (the worker caught it). If no byte of a response has
    /// gone out since the last complete one, the client still gets an answer: 500, then
    /// close. Otherwise only closing can tell it that the response is cut short.
    pub fn on_panic(&mut self, t: &mut Transport, w: &mut Worker) -> Next {
        if self.phase != Phase::Reading {
            return Next::Close;
        }
        self.respond_error(t, w, 500, None);
        Next::Yield
    }

    /// The server is shutting down: idle connections close now; requests begun (a head
    /// partly received, a body arriving) and responses in flight finish, then close. The
    /// shutdown grace period bounds them all. `serve_new`: a connection that has not had a
    /// response yet is not idle but new, and gets its first request answered too (on a
    /// drain after an upgrade, where no connection may be refused: its request may be in
    /// the socket unread, and closing would reset it).
    pub fn on_shutdown(&mut self, t: &Transport, serve_new: bool) -> Next {
        let begun =
            t.has_buffered() || !matches!(self.sink, Sink::Drop) || serve_new && !self.served;
        if (self.phase == Phase::Reading && !begun) || self.phase == Phase::Broken {
            return Next::Close;
        }
        self.close_after = true;
        Next::Wait
    }
}

/// How a response is to be framed, decided from the request before the handler runs.
#[derive(Clone, Copy)]
struct How {
    close: bool,
    keep_alive_10: bool,
    head_only: bool,
}

/// Hand `req` to the handlers, with a fresh reply in the transport's write queue. Returns
/// the status, the body length (None: streamed), whether the connection closes after the response, and what
/// the handler made of the request. `held`: what was read for the request before it.
fn dispatch(
    req: &Request,
    queue: Queue<'_>,
    w: &mut Worker,
    peer: Option<SocketAddr>,
    how: How,
    held: Held,
) -> (u16, Option<u64>, bool, Answer, Option<Route>) {
    let peers = cgi::Peers {
        remote: peer,
        sock: queue.sock,
    };
    let secure = queue.secure;
    let served = &w.served;
    let (site, misdirected) =
        match site::pick(&served.sites, served.default_site, req.host, queue.sni) {
            Ok(s) => (s, false),
            Err(s) => (s, true),
        };
    let (out, body) = queue.new_response(&mut w.pool);
    let reading = w.served.reading;
    let mut ctx = w.ctx(peer.map(|a| a.ip()), secure, site, misdirected);
    let (date, site_extras) = (ctx.date, ctx.extras);
    let mut reply = Reply::new(
        out,
        body,
        date,
        site_extras,
        how.close,
        how.keep_alive_10,
        how.head_only,
    );
    let answer = handler::dispatch(req, &mut ctx, &mut reply, peers, held);
    let route = Some(Route {
        site,
        rule: ctx.rule_at,
        reading,
    });
    // A streamed body's length is counted as it goes.
    let len = (!reply.streamed).then_some(reply.body_len);
    (reply.status, len, reply.close, answer, route)
}

/// The request line at the start of `head`, for the log of an answer given before the
/// request was taken from the buffer.
fn req_line_of(head: &[u8]) -> Vec<u8> {
    let end = head.iter().position(|&b| b == b'\r' || b == b'\n');
    head[..end.unwrap_or(head.len()).min(256)].to_vec()
}

/// `--trace`: the request line and status to show for this response, if it is traced and
/// its path is under `--trace-filter`.
fn trace_note(w: &Worker, line: &[u8], status: u16) -> Option<(Vec<u8>, u16)> {
    if !trace::enabled() {
        return None;
    }
    if let Some(prefix) = &w.served.config.trace_filter {
        let path = line.split(|&b| b == b' ').nth(1).unwrap_or(b"");
        if !path.starts_with(prefix.as_bytes()) {
            return None;
        }
    }
    Some((line.to_vec(), status))
}
