//! The PROXY protocol header at the start of a connection (`http::proxy` parses it).
//!
//! Why here and not in the session: over TLS the header comes before the handshake, in
//! clear, and the session only ever sees decrypted bytes; the transport is the one layer
//! under both plain HTTP and TLS. The header is read with MSG_PEEK and then exactly its own
//! bytes are taken from the socket, so what follows it (a request, a ClientHello) stays in
//! the kernel for the ordinary read: nothing is copied, TLS still finds its first byte
//! first, and the read buffer is not even taken until the header is in.
//!
//! A connection that sends anything but a valid header, closes before one is whole, or does
//! not finish it within the head timeout (the session's deadline, which runs from accept)
//! is closed without an answer: the bytes are not HTTP, and whoever sent them is not a
//! balancer we know.

use super::{Fill, Transport};
use crate::http::proxy::{self, MAX_HEADER, Parsed};
use crate::sys::{Errno, net};

impl Transport {
    /// This connection begins with a PROXY protocol header (its listener requires one and
    /// its peer is trusted).
    pub fn expect_proxy_header(mut self) -> Transport {
        self.proxy_header = true;
        self
    }

    /// The client's address from the PROXY header, once it has been read (and only once).
    pub fn take_proxied_peer(&mut self) -> Option<std::net::SocketAddr> {
        self.proxied_peer.take()
    }

    /// Read the header if it is whole. None: it was, and was taken; the ordinary read goes
    /// on. Some: what `fill` answers meanwhile (Blocked for more, Closed for a bad one).
    pub(super) fn take_proxy_header(&mut self) -> Option<Fill> {
        let mut buf = [0u8; MAX_HEADER];
        let n = match net::peek(&self.fd, &mut buf) {
            Ok(0) => return Some(Fill::Closed),
            Ok(n) => n,
            Err(Errno::AGAIN) => {
                self.read_ready = false;
                return Some(Fill::Blocked);
            }
            Err(Errno::INTR) => return Some(Fill::Got),
            Err(_) => return Some(Fill::Closed),
        };
        match proxy::parse(&buf[..n]) {
            Parsed::Complete(header, len) => {
                // The bytes were there for the peek: the read takes exactly them.
                if !matches!(net::recv(&self.fd, &mut buf[..len]), Ok(got) if got == len) {
                    return Some(Fill::Closed);
                }
                self.proxy_header = false;
                self.proxied_peer = header.source;
                // Whatever followed the header is still queued; no edge will say so.
                self.read_ready = true;
                None
            }
            // The rest will never come from a client that closed its side.
            Parsed::Partial if self.hup => Some(Fill::Closed),
            Parsed::Partial => {
                // A peek leaves the bytes queued: the next edge comes with new ones.
                self.read_ready = false;
                Some(Fill::Blocked)
            }
            Parsed::Invalid => Some(Fill::Closed),
        }
    }
}
