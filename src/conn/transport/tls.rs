//! The transport over TLS: the same read buffer and write queue as in plaintext, with the
//! TLS session (`tls::Session`) between them and the socket.
//!
//! Reading (`fill_tls`): whatever plaintext the session holds is copied to the read buffer
//! first; then records it wants to send (the handshake's, alerts, tickets) are written; then
//! one `recv` of ciphertext is given to it and decrypted. The first bytes of a connection are
//! looked at before rustls sees them: a plain HTTP request gets a plain 400 (as nginx
//! answers), anything else that is not a TLS handshake record a close.
//!
//! Writing (`flush_tls`): the records already made go out first, one `writev` for all of
//! them; only when none wait is more of the queue encrypted, at most `STEP` bytes at a time,
//! so that a connection holds one step of records and a client that does not read holds no
//! more of the server's memory than in plaintext. A file body is read with `pread` into the
//! worker's scratch buffer and encrypted from there: without kernel TLS, `sendfile` cannot
//! be used (kTLS would keep it: the seam is here, `Body::File` in `next_plain`, and is not
//! built because this kernel's `tcp_available_ulp` offers no `tls`).

use super::{Fill, Flushed, Transport};
use crate::handler::{Body, Segment};
use crate::sys::{AsFd, BorrowedFd, Errno, fs, net, trace};
use crate::tls::Plain;
use std::cell::RefCell;
use std::io::{self, IoSlice, Read, Write};

/// Plaintext encrypted per step: four full records, made from one `pread` of a file.
const STEP: usize = 64 * 1024;

/// The first byte of a TLS record that carries a handshake (RFC 8446 §5.1,
/// `ContentType.handshake`).
const HANDSHAKE_RECORD: u8 = 22;

/// What a plain HTTP request sent to a TLS port gets before the close.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 50\r\nConnection: close\r\n\r\n\
This port speaks HTTPS; use https:// to reach it.\n";

thread_local! {
    /// Where a file's bytes wait between `pread` and their encryption: one per worker
    /// thread, since rustls copies them into its records at once.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; STEP]);
}

/// The socket as rustls's reader and writer, through `sys::net`.
struct Io<'a> {
    fd: BorrowedFd<'a>,
    /// The last call moved fewer bytes than offered: the kernel's queue was drained (or,
    /// writing, filled).
    short: bool,
    /// The first byte read, when it is the first read.
    first: Option<u8>,
}

impl Io<'_> {
    fn new(fd: BorrowedFd<'_>) -> Io<'_> {
        Io {
            fd,
            short: false,
            first: None,
        }
    }
}

fn io_err(e: Errno) -> io::Error {
    match e {
        Errno::AGAIN => io::ErrorKind::WouldBlock.into(),
        Errno::INTR => io::ErrorKind::Interrupted.into(),
        e => io::Error::from_raw_os_error(e.raw_os_error()),
    }
}

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = net::recv(self.fd, buf).map_err(io_err)?;
        self.short = n < buf.len();
        self.first = buf[..n].first().copied();
        Ok(n)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = net::send(self.fd, buf).map_err(io_err)?;
        self.short = n < buf.len();
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n = net::writev(self.fd, bufs).map_err(io_err)?;
        self.short = n < bufs.iter().map(|b| b.len()).sum();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport {
    fn session(&mut self) -> &mut crate::tls::Session {
        self.tls.as_mut().expect("a TLS transport")
    }

    /// Whether a handshake completed since the last call (counted once, for `--metrics`).
    pub fn take_handshake(&mut self) -> bool {
        std::mem::take(&mut self.handshook)
    }

    /// `fill` for TLS: the read buffer has room (the caller made it).
    pub(super) fn fill_tls(&mut self) -> Fill {
        loop {
            let Some(session) = self.tls.as_mut() else {
                return Fill::Closed;
            };
            let buf = self.rbuf.as_mut().expect("made by fill");
            match session.read_plain(&mut buf[self.rend..]) {
                Plain::Got(n) => {
                    self.rend += n;
                    if self.rend == buf.len() {
                        // More plaintext may wait in the session; no edge will say so.
                        self.read_ready = true;
                    }
                    return Fill::Got;
                }
                Plain::Closed => return Fill::Closed,
                Plain::Nothing => {}
            }
            if session.wants_write() && self.send_waiting().is_err() {
                return Fill::Closed;
            }
            if !self.read_ready {
                return Fill::Blocked;
            }
            let fresh = !self.seen_bytes;
            let mut io = Io::new(self.fd.as_fd());
            let session = self.tls.as_mut().expect("checked");
            let was_handshaking = session.handshaking();
            match session.read_records(&mut io) {
                Ok(0) => return Fill::Closed,
                Ok(_) => {
                    if io.short && !self.hup {
                        self.read_ready = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_ready = false;
                    return Fill::Blocked;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Fill::Closed,
            }
            if fresh {
                self.seen_bytes = true;
                match io.first {
                    Some(HANDSHAKE_RECORD) => {}
                    Some(b) if b.is_ascii_uppercase() => {
                        // A plain HTTP request (its method): say where it went wrong.
                        let _ = net::send(&self.fd, PLAIN_HTTP_ANSWER);
                        net::shutdown_write(&self.fd);
                        return Fill::Closed;
                    }
                    _ => return Fill::Closed,
                }
            }
            let session = self.session();
            if session.process().is_err() {
                // The alert says why; then the connection closes.
                let _ = self.send_waiting();
                return Fill::Closed;
            }
            if was_handshaking && !session.handshaking() {
                if trace::enabled() {
                    trace::note("tls", session.describe());
                }
                let acme = session.is_acme_challenge();
                self.handshook = true;
                if acme {
                    // RFC 8737 §3: the validation is the handshake itself.
                    self.close_notify();
                    return Fill::Closed;
                }
            }
        }
    }

    /// Write the records the session has made, in one `writev` each turn. Ok(false): the
    /// socket takes no more for now.
    fn send_records(&mut self, budget: &mut usize) -> Result<bool, Errno> {
        loop {
            let mut io = Io::new(self.fd.as_fd());
            let session = self.tls.as_mut().expect("a TLS transport");
            if !session.wants_write() {
                return Ok(true);
            }
            match session.write_records(&mut io) {
                Ok(n) => {
                    *budget = budget.saturating_sub(n);
                    self.progress = true;
                    self.queued = None;
                    if io.short && net::SHORT_WRITE_MEANS_FULL {
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Errno::from_raw_os_error(e.raw_os_error().unwrap_or(5))),
            }
        }
    }

    /// Write the records the session has made, with no budget (handshakes, alerts, an
    /// interim response: a few hundred bytes).
    fn send_waiting(&mut self) -> Result<bool, Errno> {
        let mut unbounded = usize::MAX;
        self.send_records(&mut unbounded)
    }

    /// `flush` for TLS.
    pub(super) fn flush_tls(
        &mut self,
        budget: &mut usize,
        fin_follows: bool,
    ) -> Result<Flushed, Errno> {
        loop {
            if !self.send_records(budget)? {
                return Ok(Flushed::Blocked);
            }
            if *budget == 0 {
                return Ok(Flushed::Budget);
            }
            let took = self.encrypt_next()?;
            if took > 0 {
                self.sent += took as u64;
                continue;
            }
            if fin_follows && !self.session().close_sent() {
                // The close's alert leaves with the last records, in the same write.
                self.session().close_notify();
                continue;
            }
            return Ok(Flushed::Done);
        }
    }

    /// Hand the next piece of the queue to the session to encrypt: the head with as much of
    /// the body as fits in one step. Returns the plaintext bytes taken (0: the queue is empty).
    fn encrypt_next(&mut self) -> Result<usize, Errno> {
        self.refill()?;
        let head_len = self.out.len() - self.out_pos;
        let room = STEP.saturating_sub(head_len.min(STEP));
        let session = self.tls.as_mut().expect("a TLS transport");
        let head = &self.out[self.out_pos..][..head_len.min(STEP)];
        let taken = match &mut self.body {
            Body::Shared { data, pos } => {
                let body = &data[*pos..];
                let body = &body[..body.len().min(room)];
                let n = session.encrypt(&[IoSlice::new(head), IoSlice::new(body)]);
                *pos += n.saturating_sub(head.len());
                n
            }
            // `refill` made the stream's next piece the head.
            Body::None | Body::Stream { .. } => {
                if head.is_empty() {
                    return Ok(0);
                }
                session.encrypt(&[IoSlice::new(head)])
            }
            Body::File { file, offset, end } => {
                if *offset == *end && head.is_empty() {
                    self.body = Body::None;
                    return Ok(0);
                }
                let want = ((*end - *offset) as usize).min(room);
                let n = encrypt_file(session, head, file, *offset, want)?;
                *offset += n.saturating_sub(head.len()) as u64;
                n
            }
            Body::Parts { file, segments } => {
                while segments.front().is_some_and(|s| match s {
                    Segment::Mem { data, pos } => *pos == data.len(),
                    Segment::File { offset, end } => offset == end,
                }) {
                    segments.pop_front();
                }
                match segments.front_mut() {
                    None if head.is_empty() => {
                        self.body = Body::None;
                        return Ok(0);
                    }
                    None => session.encrypt(&[IoSlice::new(head)]),
                    Some(Segment::Mem { data, pos }) => {
                        let part = &data[*pos..];
                        let part = &part[..part.len().min(room)];
                        let n = session.encrypt(&[IoSlice::new(head), IoSlice::new(part)]);
                        *pos += n.saturating_sub(head.len());
                        n
                    }
                    Some(Segment::File { offset, end }) => {
                        let want = ((*end - *offset) as usize).min(room);
                        let n = encrypt_file(session, head, file, *offset, want)?;
                        *offset += n.saturating_sub(head.len()) as u64;
                        n
                    }
                }
            }
        };
        self.out_pos += taken.min(head.len());
        Ok(taken)
    }

    /// `send_interim` for TLS: the interim response as one record, written now.
    pub(super) fn send_interim_tls(&mut self, bytes: &[u8]) -> bool {
        let took = self.session().encrypt(&[IoSlice::new(bytes)]);
        took == bytes.len()
            && matches!(self.send_waiting(), Ok(true))
            && !self.session().wants_write()
    }

    /// Queue close_notify and write it if the socket takes it (a closing connection does
    /// not wait for it).
    pub(super) fn close_notify(&mut self) {
        if let Some(session) = self.tls.as_mut() {
            session.close_notify();
            let _ = self.send_waiting();
        }
    }

    /// `--trace`: the TLS bytes of the request just answered.
    pub(super) fn trace_records(&mut self) {
        if let Some(session) = self.tls.as_mut() {
            let [rec_in, rec_out, plain_in, plain_out] = session.take_counts();
            trace::note(
                "tls",
                format!(
                    "records: read {rec_in} bytes for {plain_in} of plaintext, wrote {rec_out} for {plain_out}"
                ),
            );
        }
    }
}

/// Read `want` bytes of `file` at `offset` and encrypt them behind `head`. A file that ends
/// before the length its head promised is an error, as in plaintext.
fn encrypt_file(
    session: &mut crate::tls::Session,
    head: &[u8],
    file: &crate::sys::OwnedFd,
    offset: u64,
    want: usize,
) -> Result<usize, Errno> {
    SCRATCH.with(|s| {
        let mut scratch = s.borrow_mut();
        let got = if want == 0 {
            0
        } else {
            match fs::pread(file, &mut scratch[..want], offset)? {
                0 => return Err(Errno::IO),
                n => n,
            }
        };
        Ok(session.encrypt(&[IoSlice::new(head), IoSlice::new(&scratch[..got])]))
    })
}
