//! Request bodies on an HTTP/1.1 connection: what is still to come as the framing says
//! (a length, or chunks decoded by `http::chunked`), and where it goes (the sink): dropped,
//! into a PUT's temporary file, or spooled for a CGI program that needs its length first.
//! A body streamed to a running CGI program is `exchange.rs`'s.

use super::{Http1, LINGER_MS, Phase, trace_note};
use crate::conn::transport::Transport;
use crate::handler::upload::Upload;
use crate::handler::{Error, Held, Reply, cgi};
use crate::http::chunked::ChunkedDecoder;
use crate::http::parse::{self, Framing, Header, MAX_HEADERS};
use crate::worker::Worker;

/// Request bodies the server does not need are read and dropped up to this size; past it the
/// connection closes after the response (reading megabytes to keep a connection is a loss).
pub(super) const MAX_DISCARD: u64 = 64 * 1024;
/// The request body still to come, as its framing says.
pub(super) enum Remaining {
    None,
    Length(u64),
    Chunked(ChunkedDecoder),
}

impl Remaining {
    /// The whole body a request's framing announces.
    pub(super) fn whole(framing: Framing) -> Remaining {
        match framing {
            Framing::None => Remaining::None,
            Framing::Length(n) => Remaining::Length(n),
            Framing::Chunked => Remaining::Chunked(ChunkedDecoder::new()),
        }
    }
}

/// Where the body bytes of the current request go.
pub(super) enum Sink {
    /// Nowhere: read and dropped.
    Drop,
    /// A PUT's temporary file; the answer comes when the body is complete.
    Upload(Box<Upload>),
    /// A chunked body for a CGI program, spooled to an unnamed file first (the program is
    /// told CONTENT_LENGTH); the head is parsed again when the body is complete. The
    /// program was found and its `--cgi-max` slot taken before the body was read. At most
    /// `--cgi-max-body` bytes (413 past it), all of it within `--cgi-timeout` of the head
    /// (408 after).
    Spool(Vec<u8>, std::fs::File, Box<cgi::Program>),
    /// A WebDAV request's XML body, kept in memory (at most `handler::MAX_DAV_BODY` bytes,
    /// 413 past it) with its head; the head is parsed again when the body is complete.
    Buffer(Vec<u8>, Vec<u8>),
}

impl Http1 {
    /// Take request-body bytes that are in the buffer: into the sink. When an upload's or
    /// a spool's body is complete, go on with its request. Err: close now.
    pub(super) fn receive_body(&mut self, t: &mut Transport, w: &mut Worker) -> Result<(), ()> {
        if !t.has_buffered() || matches!(self.remaining, Remaining::None) {
            return Ok(());
        }
        let mut failed = None;
        match &mut self.remaining {
            Remaining::None => {}
            Remaining::Length(left) => {
                let data = t.buffered();
                let n = (*left).min(data.len() as u64) as usize;
                match &mut self.sink {
                    Sink::Upload(up) => {
                        if let Err(status) = up.write(&data[..n]) {
                            failed = Some(status);
                        }
                    }
                    Sink::Buffer(_, body) => {
                        if let Err(status) = buffer(body, &data[..n]) {
                            failed = Some(status);
                        }
                    }
                    Sink::Drop | Sink::Spool(..) => {}
                }
                *left -= n as u64;
                t.consume(n);
                if *left == 0 {
                    self.remaining = Remaining::None;
                }
            }
            Remaining::Chunked(dec) => {
                while t.has_buffered() && !dec.is_done() && failed.is_none() {
                    let data = t.buffered();
                    let (n, piece) = match dec.decode(data) {
                        Ok(v) => v,
                        Err(_) if !matches!(self.sink, Sink::Drop) => {
                            failed = Some(Error::BadRequest);
                            break;
                        }
                        Err(_) => return Err(()),
                    };
                    if let Some(range) = piece {
                        let piece = &data[range];
                        match &mut self.sink {
                            Sink::Drop => {}
                            Sink::Upload(up) => {
                                if let Err(status) = up.write(piece) {
                                    failed = Some(status);
                                }
                            }
                            Sink::Buffer(_, body) => {
                                if let Err(status) = buffer(body, piece) {
                                    failed = Some(status);
                                }
                            }
                            Sink::Spool(_, file, _) => {
                                if dec.total > w.served.config.cgi_max_body {
                                    failed = Some(Error::TooLarge);
                                } else if crate::sys::fs::write_all(&*file, piece).is_err() {
                                    failed = Some(Error::Internal);
                                }
                            }
                        }
                    }
                    t.consume(n);
                    if n == 0 {
                        break;
                    }
                }
                if matches!(self.sink, Sink::Drop) && dec.total > MAX_DISCARD {
                    // Too much to drop: stop reading requests, let the answer already sent
                    // arrive (no reset), and close.
                    self.remaining = Remaining::None;
                    t.discard_buffered();
                    if self.phase == Phase::Reading {
                        t.shutdown_write();
                        self.phase = Phase::Lingering;
                        self.deadline = w.now + LINGER_MS;
                    } else {
                        self.close_after = true;
                    }
                    return Ok(());
                }
                if dec.is_done() {
                    self.remaining = Remaining::None;
                }
            }
        }
        self.scanned = 0;
        if let Some(status) = failed {
            let line = match std::mem::replace(&mut self.sink, Sink::Drop) {
                Sink::Upload(up) => Some(up.line.clone()),
                Sink::Spool(head, ..) | Sink::Buffer(head, _) => Some(super::req_line_of(&head)),
                Sink::Drop => None,
            };
            self.respond_error(t, w, status.status(), line.as_deref());
            return Ok(());
        }
        if matches!(self.sink, Sink::Drop) {
            return Ok(());
        }
        // Progress on an upload's body moves the deadline (a stalled body still times
        // out). A spooled body has one deadline for all of it, set with its head: progress
        // does not move it, so a trickle cannot hold the slot and the disk for ever; nor
        // does a WebDAV body's (at most 64 KiB, due within --header-timeout of its head).
        if matches!(self.sink, Sink::Upload(_)) {
            self.deadline = w.now + w.header_ms;
        }
        if matches!(self.remaining, Remaining::None) {
            match std::mem::replace(&mut self.sink, Sink::Drop) {
                Sink::Upload(up) => self.finish_upload(t, w, *up),
                Sink::Spool(head, file, program) => self.start_spooled_program(
                    t,
                    w,
                    head,
                    cgi::Spooled {
                        program,
                        body: file,
                    },
                ),
                Sink::Buffer(head, body) => self.finish_buffered(t, w, head, body),
                Sink::Drop => {}
            }
        }
        Ok(())
    }

    /// A WebDAV request's body is in: dispatch its head again with it, and answer.
    pub(super) fn finish_buffered(
        &mut self,
        t: &mut Transport,
        w: &mut Worker,
        head: Vec<u8>,
        body: Vec<u8>,
    ) {
        match self.dispatch_held(t, w, &head, false, Held::Body(body)) {
            None => self.respond_error(t, w, 500, None),
            Some((_, status, len)) => {
                let line = super::req_line_of(&head);
                // The User-Agent for the access log, from the head the session kept.
                let mut headers = [Header::default(); MAX_HEADERS];
                let agent = parse::parse(&head, &mut headers)
                    .ok()
                    .flatten()
                    .and_then(|(req, _)| req.header("user-agent"));
                self.log_begin(w, &line, status, agent);
                self.log_measure(t, status, len);
                self.start_writing(w);
            }
        }
    }

    /// The whole PUT body is in: commit the file and answer.
    pub(super) fn finish_upload(&mut self, t: &mut Transport, w: &mut Worker, up: Upload) {
        let (line, agent, received) = (up.line.clone(), up.agent.clone(), up.received);
        let site = w.served.extras(self.route, t.is_tls());
        let (out, body) = t.new_response(&mut w.pool);
        let mut reply = Reply::new(
            out,
            body,
            &w.clock.imf,
            site,
            self.close_after,
            self.ka10,
            false,
        );
        up.finish(&mut reply);
        let (status, close) = (reply.status, reply.close);
        w.log.line(
            self.client().as_ref(),
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
}

/// Append a WebDAV body's bytes, up to `handler::MAX_DAV_BODY`.
fn buffer(body: &mut Vec<u8>, data: &[u8]) -> Result<(), Error> {
    if body.len() + data.len() > crate::handler::MAX_DAV_BODY {
        return Err(Error::TooLarge);
    }
    body.extend_from_slice(data);
    Ok(())
}
