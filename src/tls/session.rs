//! One connection's TLS session: rustls's `ServerConnection`, fed and drained by the
//! transport, which alone touches the socket (`conn/transport.rs`).
//!
//! ```text
//!   socket ──recv──> read_records ──process──> read_plain ──> the transport's read buffer
//!   socket <─writev── write_records <──────── encrypt <────── the transport's write queue
//! ```
//!
//! It also keeps what `--trace` shows of the TLS layer: the handshake (SNI, ALPN, version,
//! suite, full or resumed, how long it took) and the ciphertext against plaintext bytes of
//! each request.

use super::certs::ALPN_ACME;
use rustls::{HandshakeKind, ServerConfig, ServerConnection};
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::time::Instant;

/// What `read_plain` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Plain {
    /// Bytes of plaintext were copied out.
    Got(usize),
    /// No plaintext is waiting; more records must be read.
    Nothing,
    /// The client closed the session (close_notify, or a close without it).
    Closed,
}

pub struct Session {
    conn: ServerConnection,
    /// When the handshake's first bytes came (for its duration in `--trace`).
    started: Option<Instant>,
    close_sent: bool,
    /// Bytes since `take_counts`: ciphertext read and written, plaintext read and written.
    counts: [u64; 4],
}

impl Session {
    pub fn new(config: Arc<ServerConfig>) -> Option<Session> {
        Some(Session {
            conn: ServerConnection::new(config).ok()?,
            started: None,
            close_sent: false,
            counts: [0; 4],
        })
    }

    /// Take ciphertext from `from` (one read). Ok(0): the client closed the connection.
    pub fn read_records(&mut self, from: &mut dyn Read) -> io::Result<usize> {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        let n = self.conn.read_tls(from)?;
        self.counts[0] += n as u64;
        Ok(n)
    }

    /// Decrypt and act on the records read. An error is fatal; its alert is queued for
    /// `write_records`.
    pub fn process(&mut self) -> Result<(), rustls::Error> {
        self.conn.process_new_packets().map(|_| ())
    }

    /// Copy out decrypted plaintext.
    pub fn read_plain(&mut self, buf: &mut [u8]) -> Plain {
        match self.conn.reader().read(buf) {
            Ok(0) => Plain::Closed,
            Ok(n) => {
                self.counts[2] += n as u64;
                Plain::Got(n)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Plain::Nothing,
            // UnexpectedEof: the client closed without close_notify.
            Err(_) => Plain::Closed,
        }
    }

    /// Records (handshake messages, alerts, encrypted data) are waiting to be written.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Write waiting records to `to` (one vectored write).
    pub fn write_records(&mut self, to: &mut dyn Write) -> io::Result<usize> {
        let n = self.conn.write_tls(to)?;
        self.counts[1] += n as u64;
        Ok(n)
    }

    /// Encrypt plaintext into records (as much as rustls takes: its buffer is bounded).
    pub fn encrypt(&mut self, parts: &[IoSlice<'_>]) -> usize {
        let n = self.conn.writer().write_vectored(parts).unwrap_or(0);
        self.counts[3] += n as u64;
        n
    }

    /// Queue the close_notify alert (once): the client can tell the end of the stream from
    /// a cut connection.
    pub fn close_notify(&mut self) {
        if !self.close_sent {
            self.close_sent = true;
            self.conn.send_close_notify();
        }
    }

    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    pub fn handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The handshake was ACME's TLS-ALPN-01 validation: it has nothing more to say.
    pub fn is_acme_challenge(&self) -> bool {
        self.conn.alpn_protocol() == Some(ALPN_ACME)
    }

    /// The handshake chose HTTP/2 (ALPN `h2`).
    pub fn alpn_h2(&self) -> bool {
        self.conn.alpn_protocol() == Some(b"h2")
    }

    /// The name the client asked for (SNI), which picks the certificate and, for the
    /// requests on this connection, the site (`handler::site::pick`).
    pub fn server_name(&self) -> Option<&str> {
        self.conn.server_name()
    }

    /// The completed handshake, for `--trace`.
    pub fn describe(&self) -> String {
        let c = &self.conn;
        let took = self.started.map(|t| t.elapsed().as_micros()).unwrap_or(0);
        format!(
            "handshake {} {} {}, sni {}, alpn {}, {} us",
            match c.handshake_kind() {
                Some(HandshakeKind::Resumed) => "resumed",
                Some(HandshakeKind::FullWithHelloRetryRequest) => "full (hello retry)",
                _ => "full",
            },
            c.protocol_version().and_then(|v| v.as_str()).unwrap_or("?"),
            c.negotiated_cipher_suite()
                .and_then(|s| s.suite().as_str())
                .unwrap_or("?"),
            c.server_name().unwrap_or("-"),
            c.alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_else(|| "-".into()),
            took,
        )
    }

    /// Ciphertext and plaintext bytes since the last call, for `--trace`: read as records,
    /// written as records, read as plaintext, written as plaintext.
    pub fn take_counts(&mut self) -> [u64; 4] {
        std::mem::take(&mut self.counts)
    }
}
