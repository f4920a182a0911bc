//! The transport: bytes in and out of one client socket, and nothing about what they mean.
//!
//! It owns the socket, the read buffer (filled by `fill`, consumed by the session), the
//! write queue (a head in `out`, then a body source: shared bytes, a file range, or parts of
//! a file) and how the queue is sent: `send`/`writev` for bytes, `sendfile` for files, with
//! `MSG_MORE` where more follows, a per-turn write budget, and the lingering read before a
//! close. It reports progress and backpressure; it does not parse, decide, or keep time:
//! deadlines belong to the session, which asks `send_stalled` when one passes.
//!
//! This is the one place that touches the socket after `accept`: nothing above it reads or
//! writes the descriptor. Over TLS (`transport/tls.rs`) the surface is the same: plaintext
//! arrives in the same read buffer and leaves from the same queue, and the records between
//! them and the socket are the TLS session's; only `sendfile` gives way to reading the file
//! and encrypting it.
//!
//! On a listener that requires a PROXY protocol header (`transport/proxy.rs`) the header is
//! taken here, before the first read for HTTP and before TLS sees a byte: the transport is
//! the layer below both, and the only one that reads the socket.
//!
//! Readiness is edge-triggered: `read_ready` remembers that an edge said there is something
//! to read that has not been read yet. A short read or a short write means the kernel's
//! queue was drained or filled, and the next edge will say when that changes, so neither is
//! followed by a call that would only answer EAGAIN.

use crate::handler::{Body, Segment};
use crate::sys::{AsFd, BorrowedFd, Errno, OwnedFd, net};
use crate::worker::Pool;
use std::io::IoSlice;

#[cfg(feature = "ops")]
mod proxy;
#[cfg(feature = "tls")]
mod tls;

/// Largest single sendfile call.
const SENDFILE_CHUNK: usize = 1 << 20;
/// How many bytes a closing connection reads and drops before giving up on the client.
const LINGER_BYTES: usize = 256 * 1024;

/// What a read gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Fill {
    /// Bytes were added to the buffer (or a signal interrupted the read: try again).
    Got,
    /// Nothing to read now; the next edge will say when there is.
    Blocked,
    /// The client closed its side, or the connection failed.
    Closed,
    /// The buffer is full and the session has not consumed any of it.
    Full,
}

/// How far `flush` got.
#[derive(Debug, PartialEq, Eq)]
pub enum Flushed {
    /// The whole queue is out.
    Done,
    /// The socket takes no more for now; the next writable edge resumes.
    Blocked,
    /// This turn's write budget is spent; the connection should yield to others.
    Budget,
}

/// What a lingering read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Linger {
    Wait,
    Close,
}

/// The write side of a transport, borrowed beside its read buffer (`Transport::split`).
pub struct Queue<'a> {
    out: &'a mut Vec<u8>,
    out_pos: &'a mut usize,
    body: &'a mut Body,
    /// The socket, for the addresses a CGI program is told; not for writing.
    pub sock: BorrowedFd<'a>,
    /// The connection is encrypted (HTTPS).
    pub secure: bool,
    /// The name the TLS client asked for (SNI).
    pub sni: Option<&'a str>,
}

impl<'a> Queue<'a> {
    /// The queue emptied for a new response (a buffer taken from the pool if the
    /// connection holds none).
    pub fn new_response(self, pool: &mut Pool) -> (&'a mut Vec<u8>, &'a mut Body) {
        if self.out.capacity() == 0 {
            *self.out = pool.take_write();
        }
        self.out.clear();
        *self.out_pos = 0;
        *self.body = Body::None;
        (self.out, self.body)
    }
}

pub struct Transport {
    fd: OwnedFd,
    rbuf: Option<Box<[u8]>>,
    rstart: usize,
    rend: usize,
    /// An edge said there is something to read that has not been read yet.
    read_ready: bool,
    /// The client closed its sending side (RDHUP): reads go on until they return 0.
    hup: bool,
    /// The client is gone (HUP or ERR on the socket).
    peer_closed: bool,
    out: Vec<u8>,
    out_pos: usize,
    body: Body,
    /// Bytes written since the session last took the count (`take_sent`).
    sent: u64,
    /// Some write succeeded since the session last asked (`take_progress`).
    progress: bool,
    /// The kernel's send queue when a stalled send was last looked at (`send_stalled`).
    queued: Option<u32>,
    /// Bytes read and dropped while lingering.
    lingered: usize,
    /// The last flush stopped at a short sendfile, which may mean a full socket or a file
    /// that shrank (see `unsure`).
    short_file: bool,
    /// The TLS session, on a connection accepted by a TLS listener.
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::tls::Session>>,
    /// Some bytes came from the client (over TLS, the first are looked at).
    #[cfg(feature = "tls")]
    seen_bytes: bool,
    /// The connection must begin with a PROXY protocol header, not read yet.
    #[cfg(feature = "ops")]
    proxy_header: bool,
    /// The client's address that header gave, until the session takes it.
    #[cfg(feature = "ops")]
    proxied_peer: Option<std::net::SocketAddr>,
    /// The handshake completed and `--metrics` has not counted it yet (`take_handshake`).
    #[cfg(feature = "tls")]
    handshook: bool,
}

impl Transport {
    pub fn new(fd: OwnedFd) -> Transport {
        Transport {
            fd,
            rbuf: None,
            rstart: 0,
            rend: 0,
            read_ready: false,
            hup: false,
            peer_closed: false,
            out: Vec::new(),
            out_pos: 0,
            body: Body::None,
            sent: 0,
            progress: false,
            queued: None,
            lingered: 0,
            short_file: false,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            seen_bytes: false,
            #[cfg(feature = "ops")]
            proxy_header: false,
            #[cfg(feature = "ops")]
            proxied_peer: None,
            #[cfg(feature = "tls")]
            handshook: false,
        }
    }

    /// A transport that speaks TLS: plaintext above, records on the socket.
    #[cfg(feature = "tls")]
    pub fn new_tls(fd: OwnedFd, session: crate::tls::Session) -> Transport {
        let mut t = Transport::new(fd);
        t.tls = Some(Box::new(session));
        t
    }

    /// `--trace`: note what the TLS layer did for the request just answered.
    pub fn trace_layer(&mut self) {
        #[cfg(feature = "tls")]
        self.trace_records();
    }

    /// The connection is encrypted (HTTPS).
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return true;
        }
        false
    }

    /// The name the TLS client asked for (SNI).
    pub fn sni(&self) -> Option<&str> {
        #[cfg(feature = "tls")]
        return self.tls.as_deref().and_then(|s| s.server_name());
        #[cfg(not(feature = "tls"))]
        None
    }

    /// The TLS client and we agreed on HTTP/2 (ALPN `h2`).
    pub fn alpn_h2(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.as_deref().is_some_and(|s| s.alpn_h2());
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The socket, for registering it with the poller and for the local address a CGI
    /// program is told. Not for reading or writing: that is this module's job.
    pub fn socket(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A readiness event arrived. `hangup`: the peer closed (at least) its sending side;
    /// `closed`: it is gone entirely.
    pub fn on_event(&mut self, readable: bool, writable: bool, hangup: bool, closed: bool) {
        if readable || hangup {
            self.read_ready = true;
        }
        // A TLS handshake whose reply could not all be written goes on when the socket
        // takes more: it is the reading side (`fill`) that writes handshake records.
        #[cfg(feature = "tls")]
        if writable && self.tls.as_ref().is_some_and(|s| s.wants_write()) {
            self.read_ready = true;
        }
        #[cfg(not(feature = "tls"))]
        let _ = writable;
        if hangup {
            self.hup = true;
        }
        if closed {
            self.peer_closed = true;
        }
    }

    /// Reading may find something (an edge said so, or nothing said otherwise yet).
    pub fn read_ready(&self) -> bool {
        self.read_ready
    }

    /// A read is worth trying before any event says so (just accepted, or after a close
    /// was decided and the client's own close may have come already).
    pub fn expect_read(&mut self) {
        self.read_ready = true;
    }

    /// The client closed its sending side; `gone`: the whole connection is gone.
    pub fn hung_up(&self) -> bool {
        self.hup
    }
    pub fn gone(&self) -> bool {
        self.peer_closed
    }

    // ---- reading ----

    /// The bytes read and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        match &self.rbuf {
            Some(b) => &b[self.rstart..self.rend],
            None => &[],
        }
    }

    pub fn has_buffered(&self) -> bool {
        self.rstart < self.rend
    }

    /// The session is done with the first `n` buffered bytes.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.rend - self.rstart);
        self.rstart += n;
    }

    /// Drop everything buffered (what follows a bad head cannot be trusted).
    pub fn discard_buffered(&mut self) {
        self.rstart = self.rend;
    }

    /// Read what is there into the buffer, making room first: an empty buffer starts over,
    /// a full one moves its unconsumed tail to the front.
    pub fn fill(&mut self, pool: &mut Pool) -> Fill {
        #[cfg(feature = "ops")]
        if self.proxy_header
            && let Some(stop) = self.take_proxy_header()
        {
            return stop;
        }
        let buf = self.rbuf.get_or_insert_with(|| pool.take_read());
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        } else if self.rend == buf.len() && self.rstart > 0 {
            buf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        let space = buf.len() - self.rend;
        if space == 0 {
            return Fill::Full;
        }
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.fill_tls();
        }
        let buf = self.rbuf.as_mut().expect("taken above");
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

    // ---- writing ----

    /// The write queue, emptied for a new response (a buffer taken from the pool if the
    /// connection holds none), for the session to build the response into.
    pub fn new_response(&mut self, pool: &mut Pool) -> (&mut Vec<u8>, &mut Body) {
        self.split().1.new_response(pool)
    }

    /// The buffered request bytes and the write queue, borrowed together: a handler reads
    /// the request in the one while it writes its answer into the other.
    pub fn split(&mut self) -> (&[u8], Queue<'_>) {
        let secure = self.is_tls();
        #[cfg(feature = "tls")]
        let sni = self.tls.as_deref().and_then(|s| s.server_name());
        #[cfg(not(feature = "tls"))]
        let sni = None;
        let read = match &self.rbuf {
            Some(b) => &b[self.rstart..self.rend],
            None => &[],
        };
        let queue = Queue {
            out: &mut self.out,
            out_pos: &mut self.out_pos,
            body: &mut self.body,
            sock: self.fd.as_fd(),
            secure,
            sni,
        };
        (read, queue)
    }

    /// The queue's byte buffer, to append to (streamed output such as a CGI program's).
    /// Only while the previous bytes are out (`out_sent`).
    pub fn out_buf(&mut self) -> &mut Vec<u8> {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        &mut self.out
    }

    /// Everything queued in `out` has been sent (a body source may still follow).
    pub fn out_sent(&self) -> bool {
        self.out_pos >= self.out.len()
    }

    /// Bytes still to send: what is queued and the body source's remainder.
    pub fn pending(&self) -> u64 {
        (self.out.len() - self.out_pos) as u64
            + match &self.body {
                Body::None => 0,
                Body::Shared { data, pos } => (data.len() - pos) as u64,
                Body::File { offset, end, .. } => end - offset,
                Body::Stream { .. } => 0,
                Body::Parts { segments, .. } => segments
                    .iter()
                    .map(|s| match s {
                        Segment::Mem { data, pos } => (data.len() - pos) as u64,
                        Segment::File { offset, end } => end - offset,
                    })
                    .sum(),
            }
    }

    /// Bytes written since the last call.
    pub fn take_sent(&mut self) -> u64 {
        std::mem::take(&mut self.sent)
    }

    /// Whether some write succeeded since the last call (the session's send deadline then
    /// moves: it catches a client that stops reading, not one that reads slowly).
    pub fn take_progress(&mut self) -> bool {
        std::mem::take(&mut self.progress)
    }

    /// The response is out: forget it.
    pub fn clear_response(&mut self) {
        self.out.clear();
        self.out_pos = 0;
        self.body = Body::None;
    }

    /// Send a small interim response now (`100 Continue`), outside the queue. The
    /// connection is fresh and the bytes few; false if even this cannot be written.
    pub fn send_interim(&mut self, bytes: &[u8]) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.send_interim_tls(bytes);
        }
        matches!(net::send(&self.fd, bytes), Ok(n) if n == bytes.len())
    }

    /// Send what is queued, at most `budget` bytes of it this turn. `fin_follows`: nothing
    /// will be sent after this queue but the close's FIN, so the last bytes go with
    /// MSG_MORE and the FIN can leave in their segment.
    pub fn flush(&mut self, budget: &mut usize, fin_follows: bool) -> Result<Flushed, Errno> {
        self.short_file = false;
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.flush_tls(budget, fin_follows);
        }
        loop {
            if *budget == 0 {
                return Ok(Flushed::Budget);
            }
            self.refill()?;
            let head = &self.out[self.out_pos..];
            let (res, asked) = if !head.is_empty() {
                match &self.body {
                    Body::Shared { data, pos } => {
                        let body = &data[*pos..];
                        let slices = [IoSlice::new(head), IoSlice::new(body)];
                        (net::writev(&self.fd, &slices), head.len() + body.len())
                    }
                    Body::File { .. } | Body::Parts { .. } => {
                        (net::send_more(&self.fd, head), head.len())
                    }
                    // The next piece is made once this one has left: no MSG_MORE, which
                    // would hold these bytes back meanwhile.
                    Body::Stream { .. } => (net::send(&self.fd, head), head.len()),
                    // The last bytes before a close: MSG_MORE holds them for the FIN.
                    Body::None if fin_follows => (net::send_more(&self.fd, head), head.len()),
                    Body::None => (net::send(&self.fd, head), head.len()),
                }
            } else {
                match &mut self.body {
                    // `refill` leaves no empty queue before a stream.
                    Body::None | Body::Stream { .. } => return Ok(Flushed::Done),
                    Body::Shared { data, pos } => {
                        if *pos == data.len() {
                            self.body = Body::None;
                            return Ok(Flushed::Done);
                        }
                        (net::send(&self.fd, &data[*pos..]), data.len() - *pos)
                    }
                    Body::Parts { file, segments } => {
                        let last = segments.len() <= 1;
                        match segments.front_mut() {
                            None => {
                                self.body = Body::None;
                                return Ok(Flushed::Done);
                            }
                            Some(Segment::Mem { data, pos }) if *pos == data.len() => {
                                segments.pop_front();
                                continue;
                            }
                            Some(Segment::Mem { data, pos }) => {
                                let asked = data.len() - *pos;
                                // MSG_MORE only while a part follows (or the FIN does): the last
                                // boundary held back would wait for the kernel's cork timer.
                                let r = if !last || fin_follows {
                                    net::send_more(&self.fd, &data[*pos..])
                                } else {
                                    net::send(&self.fd, &data[*pos..])
                                };
                                if let Ok(n) = r {
                                    *pos += n;
                                }
                                (r, asked)
                            }
                            Some(Segment::File { offset, end }) if *offset == *end => {
                                segments.pop_front();
                                continue;
                            }
                            Some(Segment::File { offset, end }) => {
                                let count =
                                    ((*end - *offset) as usize).min(SENDFILE_CHUNK).min(*budget);
                                match net::sendfile(&self.fd, &*file, offset, count) {
                                    // The file shrank after its length was promised: give up.
                                    Ok(0) => return Err(Errno::IO),
                                    r => {
                                        self.short_file = true;
                                        (r, count)
                                    }
                                }
                            }
                        }
                    }
                    Body::File { file, offset, end } => {
                        if *offset == *end {
                            self.body = Body::None;
                            return Ok(Flushed::Done);
                        }
                        let count = ((*end - *offset) as usize).min(SENDFILE_CHUNK).min(*budget);
                        match net::sendfile(&self.fd, &*file, offset, count) {
                            Ok(0) => return Err(Errno::IO),
                            r => {
                                self.short_file = true;
                                (r, count)
                            }
                        }
                    }
                }
            };
            match res {
                Ok(n) => {
                    *budget = budget.saturating_sub(n);
                    self.sent += n as u64;
                    self.progress = true;
                    self.queued = None;
                    let head_left = self.out.len() - self.out_pos;
                    let on_head = n.min(head_left);
                    self.out_pos += on_head;
                    if let Body::Shared { pos, .. } = &mut self.body {
                        *pos += n - on_head;
                    }
                    if n < asked && net::SHORT_WRITE_MEANS_FULL {
                        // The socket's queue is full (or past TCP_NOTSENT_LOWAT): trying
                        // again would only answer EAGAIN. The next writable edge resumes.
                        return Ok(Flushed::Blocked);
                    }
                    self.short_file = false;
                }
                Err(Errno::AGAIN) => {
                    self.short_file = false;
                    return Ok(Flushed::Blocked);
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The last flush stopped at a short sendfile. That is a full socket, whose next
    /// writable edge resumes the send, unless the file shrank since its length was
    /// promised: then sendfile stopped at its end with room left in the socket, and no
    /// edge will come. The session looks again a moment later (`flush` then finds the end
    /// and fails) rather than try again at once after every short sendfile.
    pub fn unsure(&self) -> bool {
        self.short_file
    }

    /// No write has succeeded for a whole send timeout. True if the client is still taking
    /// bytes, only slowly: the kernel's queue for it shrank since this was last asked. The
    /// queue is read here, once per timeout, not after every blocked write; the first
    /// time after progress there is nothing to compare with, so the client gets one more
    /// timeout to show it reads.
    pub fn send_stalled(&mut self) -> bool {
        let now = net::unsent(&self.fd).unwrap_or(u32::MAX);
        let moving = self.queued.is_none_or(|before| now < before);
        self.queued = Some(now);
        !moving
    }

    // ---- closing ----

    /// Send the FIN: nothing more will be written (over TLS, close_notify first).
    pub fn shutdown_write(&mut self) {
        #[cfg(feature = "tls")]
        self.close_notify();
        net::shutdown_write(&self.fd);
    }

    /// Read and drop what the client still sends after the response that ends the
    /// connection, so that unread bytes do not turn the close into a reset that destroys
    /// the response in flight. `quick`: the client said this was its last request and the
    /// last read found nothing more, so a read that finds nothing closes at once; should
    /// bytes come after all, the write side is shut and the client's close awaited.
    pub fn linger(&mut self, quick: &mut bool) -> Linger {
        if *quick && !self.read_ready {
            return Linger::Close;
        }
        let mut sink = [0u8; 4096];
        loop {
            match net::recv(&self.fd, &mut sink) {
                Ok(0) => return Linger::Close,
                Ok(n) => {
                    if *quick {
                        *quick = false;
                        net::shutdown_write(&self.fd);
                    }
                    self.lingered += n;
                    if self.lingered > LINGER_BYTES {
                        return Linger::Close;
                    }
                }
                Err(Errno::AGAIN) if *quick => return Linger::Close,
                Err(Errno::AGAIN) => return Linger::Wait,
                Err(Errno::INTR) => {}
                Err(_) => return Linger::Close,
            }
        }
    }

    /// When the queue is sent and a `Body::Stream` follows: its next piece, as a chunk, is
    /// the queue now; after its last, the last chunk. Both transports call it before they
    /// send, so a stream goes out over TLS as over plain TCP.
    /// An error of the source (a file that cannot be read) ends the response there: the
    /// connection closes without the last chunk, so the client knows it is cut short.
    pub(super) fn refill(&mut self) -> Result<(), Errno> {
        if self.out_pos < self.out.len() {
            return Ok(());
        }
        let Body::Stream {
            source,
            piece,
            chunked,
        } = &mut self.body
        else {
            return Ok(());
        };
        self.out.clear();
        self.out_pos = 0;
        piece.clear();
        // An empty piece is not a chunk (it would end the body): ask until one comes.
        let mut more = true;
        while more && piece.is_empty() {
            more = source.fill(piece)?;
        }
        if !*chunked {
            // Delimited by the close: the pieces as they are.
            self.out.extend_from_slice(piece);
        } else if !piece.is_empty() {
            crate::http::chunked::push_chunk(&mut self.out, piece);
        }
        if !more {
            if *chunked {
                self.out.extend_from_slice(crate::http::chunked::LAST_CHUNK);
            }
            self.body = Body::None;
        }
        Ok(())
    }

    /// Give the buffers back to the pool when they hold nothing.
    pub fn release_buffers(&mut self, pool: &mut Pool) {
        if self.rstart == self.rend {
            if let Some(b) = self.rbuf.take() {
                pool.put_read(b);
            }
            self.rstart = 0;
            self.rend = 0;
        }
        if self.out.capacity() != 0
            && self.out_pos >= self.out.len()
            && matches!(self.body, Body::None)
        {
            pool.put_write(std::mem::take(&mut self.out));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The transport over a socketpair: no server, no poller.
    use super::*;
    use crate::sys::fs;

    fn pair() -> (Transport, OwnedFd) {
        let (a, b) = net::socketpair_stream().expect("socketpair");
        (Transport::new(a), b)
    }

    fn read_all(fd: &OwnedFd) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match net::recv(fd, &mut buf) {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn fill_reads_what_is_there_and_a_short_read_ends_readiness() {
        let (mut t, peer) = pair();
        let mut pool = Pool::default();
        t.expect_read();
        assert_eq!(t.fill(&mut pool), Fill::Blocked);
        assert!(!t.read_ready());
        net::send(&peer, b"GET / HTTP/1.1\r\n").unwrap();
        t.on_event(true, false, false, false);
        assert_eq!(t.fill(&mut pool), Fill::Got);
        assert_eq!(t.buffered(), b"GET / HTTP/1.1\r\n");
        assert!(!t.read_ready(), "a short read means the queue is empty");
        t.consume(4);
        assert_eq!(t.buffered(), b"/ HTTP/1.1\r\n");
        drop(peer);
        t.on_event(true, false, true, false);
        assert_eq!(t.fill(&mut pool), Fill::Closed);
    }

    #[test]
    fn a_full_buffer_moves_its_tail_then_reports_full() {
        let (mut t, peer) = pair();
        let mut pool = Pool::default();
        let chunk = vec![b'x'; crate::worker::READ_BUF];
        net::send(&peer, &chunk).unwrap();
        t.expect_read();
        while t.buffered().len() < chunk.len() {
            assert_eq!(t.fill(&mut pool), Fill::Got);
        }
        assert_eq!(t.fill(&mut pool), Fill::Full);
        t.consume(10);
        net::send(&peer, b"0123456789").unwrap();
        t.expect_read();
        assert_eq!(t.fill(&mut pool), Fill::Got);
        assert_eq!(t.buffered().len(), chunk.len());
        assert!(t.buffered().ends_with(b"0123456789"));
    }

    #[test]
    fn flush_sends_head_and_body_sources_in_order() {
        let (mut t, peer) = pair();
        let mut pool = Pool::default();
        let file = fs::temp_file("/tmp").expect("temp file");
        fs::write(&file, b"0123456789abcdef").unwrap();
        let (out, body) = t.new_response(&mut pool);
        out.extend_from_slice(b"HEAD\r\n");
        *body = Body::File {
            file,
            offset: 4,
            end: 12,
        };
        assert_eq!(t.pending(), 6 + 8);
        let mut budget = 1 << 20;
        assert_eq!(t.flush(&mut budget, false), Ok(Flushed::Done));
        assert!(t.take_progress());
        assert_eq!(t.take_sent(), 14);
        assert_eq!(read_all(&peer), b"HEAD\r\n456789ab");
    }

    #[test]
    fn a_full_socket_blocks_the_flush_and_the_budget_yields() {
        let (mut t, peer) = pair();
        let mut pool = Pool::default();
        let big = vec![7u8; 8 << 20];
        let (out, body) = t.new_response(&mut pool);
        out.extend_from_slice(b"H");
        *body = Body::Shared {
            data: big.into(),
            pos: 0,
        };
        let mut budget = 1 << 30;
        assert_eq!(t.flush(&mut budget, false), Ok(Flushed::Blocked));
        let first = t.take_sent();
        assert!(first > 0 && first < (8 << 20) + 1);
        // Nothing was read: the socket still takes nothing, and the session's timeout
        // asks whether the client reads. The first look has nothing to compare with.
        assert_eq!(t.flush(&mut budget, false), Ok(Flushed::Blocked));
        assert!(!t.send_stalled());
        assert!(
            t.send_stalled(),
            "a queue that did not move is a stalled client"
        );
        let mut budget = 0;
        assert_eq!(t.flush(&mut budget, false), Ok(Flushed::Budget));
        let mut got = 0;
        let mut budget = 1 << 30;
        loop {
            match t.flush(&mut budget, false) {
                Ok(Flushed::Done) => break,
                Ok(_) => got += read_all(&peer).len(),
                Err(e) => panic!("{e:?}"),
            }
        }
        got += read_all(&peer).len();
        assert_eq!(got, 1 + (8 << 20), "every byte arrives once");
    }

    #[test]
    fn a_shared_body_goes_whole_to_each_connection_and_is_released_when_sent() {
        let mut pool = Pool::default();
        let data: std::sync::Arc<[u8]> = (0..200_000u32).map(|i| i as u8).collect();
        let mut sent = Vec::new();
        for _ in 0..2 {
            let (mut t, peer) = pair();
            let (out, body) = t.new_response(&mut pool);
            out.extend_from_slice(b"HEAD\r\n");
            *body = Body::Shared {
                data: std::sync::Arc::clone(&data),
                pos: 0,
            };
            sent.push((t, peer));
        }
        assert_eq!(std::sync::Arc::strong_count(&data), 3, "shared, not copied");
        for (t, peer) in &mut sent {
            assert_eq!(t.pending(), 6 + 200_000);
            let mut got = Vec::new();
            let mut budget = 1 << 30;
            while t.flush(&mut budget, false) != Ok(Flushed::Done) {
                got.extend_from_slice(&read_all(peer));
            }
            got.extend_from_slice(&read_all(peer));
            assert_eq!(&got[..6], b"HEAD\r\n");
            assert!(got[6..] == data[..], "the body arrived damaged");
            assert_eq!(t.pending(), 0);
        }
        assert_eq!(
            std::sync::Arc::strong_count(&data),
            1,
            "a sent body is let go"
        );
    }

    #[test]
    fn linger_drops_late_bytes_and_closes_on_the_clients_close() {
        let (mut t, peer) = pair();
        net::send(&peer, b"late bytes").unwrap();
        let mut quick = false;
        t.expect_read();
        assert_eq!(t.linger(&mut quick), Linger::Wait);
        drop(peer);
        assert_eq!(t.linger(&mut quick), Linger::Close);
        // Quick: nothing came since the last read, so no read is made at all.
        let (mut t, _peer) = pair();
        let mut quick = true;
        assert_eq!(t.linger(&mut quick), Linger::Close);
    }
}
