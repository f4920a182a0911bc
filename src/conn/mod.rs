//! One client connection, in two layers: the transport (bytes in and out of the socket,
//! `transport.rs`) and the session that speaks HTTP over it (`http1/`). `Conn` ties the two
//! together and is what the event loop (`server/`) holds: it passes readiness events to
//! the transport, and deadlines, panics and shutdown to the session.
//!
//! ```text
//!   server (event loop) ── Conn ──┬── Transport  socket, read buffer, write queue,
//!                                 │              send/sendfile, lingering reads
//!                                 └── Session    one of:
//!                                      Http1     heads, bodies, keep-alive, the phases,
//!                                                the access-log line; asks handler/
//!                                      Http2     frames, streams, flow control, HPACK
//!                                                (feature h2); the same handlers
//! ```
//!
//! Where the later layers plug in: TLS replaces the plain `Transport` (same read buffer and
//! write queue, records between them and the socket); HTTP/2 is a second session beside
//! `Http1`, chosen per connection, on the same transport and handlers. Neither changes the
//! event loop, which sees only `Conn`.

pub mod http1;
#[cfg(feature = "h2")]
pub mod http2;
pub mod transport;

pub use http1::{Next, Phase};

use crate::worker::{ConnId, Worker};
use http1::Http1;
use std::net::SocketAddr;
use transport::Transport;

pub struct Conn {
    pub transport: Transport,
    pub session: Session,
}

/// The session speaking over the transport: HTTP/1.1 until the connection shows it speaks
/// HTTP/2 (ALPN, or the h2c preface), which is known before any request is answered.
/// The HTTP/1.1 session is held inline (no indirection on the hot path); the rarer, larger
/// HTTP/2 one boxed.
#[allow(clippy::large_enum_variant)]
pub enum Session {
    Http1(Http1),
    #[cfg(feature = "h2")]
    Http2(Box<http2::Http2>),
}

#[cfg(test)]
impl Session {
    /// The HTTP/1.1 session's phase (tests of that session only).
    pub fn phase(&self) -> Phase {
        match self {
            Session::Http1(s) => s.phase(),
            #[cfg(feature = "h2")]
            Session::Http2(_) => panic!("an HTTP/2 session has no phase"),
        }
    }
}

/// Call `$e` with `$s` bound to the session, whichever it is.
macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Session::Http1($s) => $e,
            #[cfg(feature = "h2")]
            Session::Http2($s) => $e,
        }
    };
}

impl Conn {
    pub fn new(
        id: ConnId,
        transport: Transport,
        peer: Option<SocketAddr>,
        now: u64,
        header_ms: u64,
    ) -> Conn {
        Conn {
            transport,
            session: Session::Http1(Http1::new(id, peer, now, header_ms)),
        }
    }

    /// Monotonic ms at which the current phase times out.
    pub fn deadline(&self) -> u64 {
        each!(&self.session, s => s.deadline)
    }

    /// Idle between requests (may be closed to make room).
    pub fn is_idle(&self) -> bool {
        each!(&self.session, s => s.is_idle(&self.transport))
    }

    /// Since when (monotonic ms) the connection has been idle, if it is.
    pub fn idle_since(&self) -> Option<u64> {
        self.is_idle()
            .then_some(each!(&self.session, s => s.idle_since))
    }

    /// At least one response has gone out on this connection.
    pub fn served(&self) -> bool {
        each!(&self.session, s => s.served)
    }

    /// A request head is arriving (not a body, not an answer): the connection a slow-head
    /// client would hold.
    pub fn reading_head(&self) -> bool {
        match &self.session {
            Session::Http1(s) => s.reading_head(&self.transport),
            #[cfg(feature = "h2")]
            Session::Http2(s) => s.reading_head(),
        }
    }

    /// Just admitted: counted as idle until its first request arrives (it may send none).
    pub fn admitted(&mut self, w: &Worker) {
        each!(&mut self.session, s => s.set_idle(w, true));
    }

    /// The verdict on this connection's credentials came; false if it no longer waits.
    pub fn resume(&mut self) -> bool {
        match &mut self.session {
            Session::Http1(s) => s.resume(),
            #[cfg(feature = "h2")]
            Session::Http2(s) => s.resume(),
        }
    }

    /// Just accepted: its request may be there already, so the first read is tried before
    /// any event says so.
    pub fn expect_request(&mut self) {
        self.transport.expect_read();
    }

    pub fn on_event(&mut self, readable: bool, writable: bool, hangup: bool, closed: bool) {
        self.transport.on_event(readable, writable, hangup, closed);
    }

    /// Do all the work the connection can do now.
    pub fn drive(&mut self, w: &mut Worker) -> Next {
        let next = match &mut self.session {
            Session::Http1(s) => {
                let next = s.drive(&mut self.transport, w);
                #[cfg(feature = "h2")]
                if s.wants_h2 {
                    s.set_idle(w, false);
                    let h2 = http2::Http2::new(s.id(), s.peer(), w.now, w.header_ms);
                    self.session = Session::Http2(Box::new(h2));
                    return self.drive(w);
                }
                next
            }
            #[cfg(feature = "h2")]
            Session::Http2(s) => s.drive(&mut self.transport, w),
        };
        #[cfg(feature = "tls")]
        if self.transport.take_handshake() {
            crate::stats::bump(&w.stats().tls_handshakes, 1);
        }
        next
    }

    /// The current phase's deadline passed.
    pub fn on_timeout(&mut self, w: &mut Worker) -> Next {
        each!(&mut self.session, s => s.on_timeout(&mut self.transport, w))
    }

    /// Driving the connection panicked (the worker caught it).
    pub fn on_panic(&mut self, w: &mut Worker) -> Next {
        match &mut self.session {
            Session::Http1(s) => s.on_panic(&mut self.transport, w),
            #[cfg(feature = "h2")]
            Session::Http2(s) => s.on_panic(),
        }
    }

    /// The server is shutting down (`serve_new`: see `Http1::on_shutdown`).
    pub fn on_shutdown(&mut self, serve_new: bool) -> Next {
        match &mut self.session {
            Session::Http1(s) => s.on_shutdown(&self.transport, serve_new),
            #[cfg(feature = "h2")]
            Session::Http2(s) => s.on_shutdown(),
        }
    }

    /// The connection is being closed: log a response cut short, stop counting it as idle,
    /// and give its buffers back.
    pub fn on_close(&mut self, w: &mut Worker) {
        each!(&mut self.session, s => {
            s.log_end(w);
            s.set_idle(w, false);
        });
        self.transport.release_buffers(&mut w.pool);
    }

    /// Calls recorded for this connection by the worker (accept, the wake-up, closes).
    pub fn add_trace(&mut self) {
        each!(&mut self.session, s => s.add_trace());
    }
}

/// An unnamed temporary file for a request body of unknown length on its way to a CGI
/// program (both sessions spool it first, so the program is told CONTENT_LENGTH).
fn spool_file() -> Option<std::fs::File> {
    crate::sys::fs::temp_file("/tmp")
        .ok()
        .map(crate::sys::OwnedFd::into_file)
}

#[cfg(test)]
mod tests;
