//! Taking connections: accepting what the listeners queue, admitting each under the
//! connection limit (closing an idle connection here or on another worker to make room, or
//! refusing with 503), and what to do when descriptors run out.

use super::{ACCEPT_BATCH, EventLoop, SLOW_HEAD_EVICT_MS, TICK_MS, guarded};
use crate::conn::transport::Transport;
use crate::conn::{Conn, Next};
use crate::sys::poll::Interest;
use crate::sys::{self, Errno, OwnedFd, fs, net};
use crate::worker::Token;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

impl EventLoop {
    pub(super) fn accept(&mut self, li: usize) {
        if self.w.shutting_down {
            return;
        }
        // Take what is queued first, then admit: each new connection's request is read at
        // once, before the next epoll_wait would say whether cached files changed, so the
        // change notifications are read once here, after the last accept4 (a client may have
        // changed a file just before connecting; every connection taken connected before
        // this read).
        let mut drained = false;
        let mut out_of_fds = false;
        let Some(listener) = self.w.served.listeners.get(li) else {
            return;
        };
        let listener = listener.fd.clone();
        let mut taken = std::mem::take(&mut self.accepted);
        for _ in 0..ACCEPT_BATCH {
            match net::accept(&listener) {
                Ok(Some(c)) => taken.push(c),
                Ok(None) => {
                    drained = true;
                    break;
                }
                Err(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM) => {
                    out_of_fds = true;
                    break;
                }
                // The connection died in the backlog, or a signal interrupted: go on.
                Err(Errno::CONNABORTED | Errno::INTR | Errno::PROTO | Errno::PERM) => {}
                // The listener was shut down (server stopping) or something unexpected.
                Err(_) => break,
            }
        }
        if !taken.is_empty() {
            for c in &mut self.w.caches {
                c.catch_up();
            }
        }
        let mut last = None;
        #[cfg(feature = "ops")]
        let proxied = self.w.served.listeners[li].proxied;
        for (fd, peer) in taken.drain(..) {
            // A PROXY header is believed only from a trusted proxy: anyone else on such a
            // listener is closed unread and unanswered.
            #[cfg(feature = "ops")]
            if proxied && !self.w.served.trusts(peer) {
                continue;
            }
            last = self.admit(fd, peer, li).or(last);
        }
        self.accepted = taken;
        // The accept4 that found the queue empty ends the work begun for the last connection
        // taken: its trace shows it.
        if drained && let Some(c) = last.and_then(|i| self.conns.slots[i].as_mut()) {
            c.add_trace();
        }
        if out_of_fds {
            self.out_of_descriptors(li);
        }
    }

    /// Take a new connection from listener `li`, making room or refusing it when the server
    /// is full. Returns its slot.
    fn admit(&mut self, fd: OwnedFd, peer: Option<SocketAddr>, li: usize) -> Option<usize> {
        let (tls, _proxied) = match self.w.served.listeners.get(li) {
            Some(l) => (l.tls, l.proxied),
            None => return None,
        };
        let max = self.w.served.config.max_connections;
        if self.w.shared.conns.load(Ordering::Relaxed) >= max
            && !self.evict_one()
            && !self.ask_another_worker()
        {
            refuse(&fd, &self.w.clock.imf, self.speaks(li));
            return None;
        }
        let (now, header_ms) = (self.w.now, self.w.header_ms);
        let transport = if tls {
            #[cfg(feature = "tls")]
            {
                let session = self.w.served.tls.as_ref().and_then(|t| t.session())?;
                Transport::new_tls(fd, session)
            }
            #[cfg(not(feature = "tls"))]
            return None;
        } else {
            Transport::new(fd)
        };
        #[cfg(feature = "ops")]
        let transport = if _proxied {
            transport.expect_proxy_header()
        } else {
            transport
        };
        let idx = self
            .conns
            .insert(|id| Conn::new(id, transport, peer, now, header_ms))?;
        self.w.shared.conns.fetch_add(1, Ordering::Relaxed);
        let id = self.conns.id(idx);
        let conn = self.conns.slots[idx].as_mut().expect("just inserted");
        // A new connection is idle until its first request arrives (it may never send one).
        conn.admitted(&self.w);
        // Clients send the request right after connecting, and it has often arrived by the
        // time accept returns: try it now. A connection answered and closed at once (one
        // request with `Connection: close`) then never costs an epoll_ctl; one that stays is
        // registered after, and edge-triggered registration reports only what is new.
        conn.expect_request();
        let next = guarded(conn, &mut self.w, Conn::drive);
        if next == Next::Close {
            if sys::trace::enabled() {
                conn.add_trace();
            }
            self.close(idx);
            return None;
        }
        if self
            .w
            .watch(conn.transport.socket(), Token::Conn(id), Interest::Stream)
            .is_err()
        {
            self.close(idx);
            return None;
        }
        if sys::trace::enabled() {
            conn.add_trace();
        }
        self.after(idx, next);
        Some(idx)
    }

    /// The server is full and this worker has nothing to close: ask the worker with the most
    /// idle connections to close one (it will within microseconds), and take the new client
    /// meanwhile. False when no worker has an idle connection to spare.
    fn ask_another_worker(&mut self) -> bool {
        let me = self.w.id;
        let shared = &self.w.shared;
        let best = (0..shared.idle.len())
            .filter(|&i| i != me)
            .map(|i| {
                let idle = shared.idle[i].load(Ordering::Relaxed);
                (
                    i,
                    idle.saturating_sub(shared.evict[i].load(Ordering::Relaxed)),
                )
            })
            .max_by_key(|&(_, spare)| spare);
        let Some((target, spare)) = best else {
            return false;
        };
        if spare == 0 {
            return false;
        }
        shared.evict[target].fetch_add(1, Ordering::Relaxed);
        if let Some(w) = shared.wakers.get().and_then(|w| w.get(target)) {
            w.wake();
        }
        true
    }

    /// Close the longest-idle keep-alive connection of this worker, if it has one (never one
    /// accepted in this very pass, which has not had a chance to speak yet).
    pub(super) fn evict_idle_only(&mut self) -> bool {
        let now = self.w.now;
        let victim = self
            .conns
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().and_then(|c| idle_since(c, now)).map(|t| (i, t)))
            .min_by_key(|&(_, t)| t);
        match victim {
            Some((idx, _)) => {
                self.close(idx);
                true
            }
            None => false,
        }
    }

    /// Close this worker's least valuable connection to make room: the longest-idle
    /// keep-alive connection, else the oldest one still dribbling its head.
    fn evict_one(&mut self) -> bool {
        let now = self.w.now;
        let mut best: Option<(usize, u8, u64)> = None;
        for (idx, slot) in self.conns.slots.iter().enumerate() {
            let Some(c) = slot else { continue };
            let rank = if let Some(t) = idle_since(c, now) {
                (0, t)
            } else if c.reading_head()
                && c.deadline().saturating_sub(self.w.header_ms) + SLOW_HEAD_EVICT_MS <= now
            {
                (1, c.deadline())
            } else {
                continue;
            };
            if best.is_none_or(|(_, r, t)| (rank.0, rank.1) < (r, t)) {
                best = Some((idx, rank.0, rank.1));
            }
        }
        match best {
            Some((idx, _, _)) => {
                self.close(idx);
                true
            }
            None => false,
        }
    }

    /// What the clients of listener `li` speak, for `refuse`.
    fn speaks(&self, li: usize) -> Speaks {
        match self.w.served.listeners.get(li) {
            Some(l) if l.tls => Speaks::Tls,
            _ if self.w.served.config.h2c => Speaks::MaybeH2c,
            _ => Speaks::Http1,
        }
    }

    /// accept failed for lack of descriptors: free one by closing an idle connection; else
    /// use the reserve descriptor to take the waiting connection and refuse it with 503; if
    /// even that fails, stop watching the listeners for a moment rather than spin.
    fn out_of_descriptors(&mut self, li: usize) {
        if self.evict_one() {
            return;
        }
        if self.reserve.take().is_some() {
            let listener = self.w.served.listeners.get(li).map(|l| l.fd.clone());
            if let Some(l) = listener
                && let Ok(Some((fd, _))) = net::accept(&l)
            {
                refuse(&fd, &self.w.clock.imf, self.speaks(li));
            }
            self.reserve = fs::open_reserve();
            if self.reserve.is_some() {
                return;
            }
        }
        for l in &self.w.served.listeners {
            let _ = self.w.poller.delete(&*l.fd);
        }
        self.accept_paused_until = Some(self.w.now + TICK_MS);
    }
}

/// When a connection became idle, if it may be closed as such: between requests, or never
/// having sent a byte for `SLOW_HEAD_EVICT_MS`. A client that connected a moment ago is about
/// to send its request (often it is already on the way), so it is not taken for idle.
fn idle_since(c: &Conn, now: u64) -> Option<u64> {
    let since = c.idle_since()?;
    let settled = c.served() || since + SLOW_HEAD_EVICT_MS <= now;
    (since < now && settled).then_some(since)
}

/// What a refused connection's client speaks, as far as its listener tells.
#[derive(Clone, Copy, PartialEq)]
enum Speaks {
    Http1,
    /// A plain listener with `--h2c`: HTTP/2 if the bytes begin with its preface.
    MaybeH2c,
    /// A TLS listener: no HTTP can reach the client before a handshake, which a full server
    /// does not spend.
    Tls,
}

/// A TLS fatal alert record, internal_error (RFC 8446 §6: level 2, description 80), in the
/// record version every TLS client accepts first (0x0303): the client reports that the
/// server refused the handshake, instead of failing to parse HTTP text as a record.
const TLS_REFUSED: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50];

/// Answer 503 to a connection the server has no room for, and close it; in HTTP/2 to a
/// client that began with its preface on a plain listener with `--h2c` (HTTP/1.1 text would
/// be a protocol error to it); on a TLS listener, a TLS alert.
fn refuse(fd: &OwnedFd, date: &[u8], speaks: Speaks) {
    // The request is usually here already (on Linux the kernel hands over a connection with
    // its first bytes): read it, so that the close is a FIN. Closing with unread bytes sends
    // a reset, and a reset can destroy the 503 before the client has read it.
    let mut sink = [0u8; 4096];
    let mut out = Vec::with_capacity(256);
    for k in 0..8 {
        let Ok(n) = net::recv(fd, &mut sink) else {
            break;
        };
        #[cfg(feature = "h2")]
        if k == 0
            && speaks == Speaks::MaybeH2c
            && sink[..n].starts_with(crate::http::h2::frame::PREFACE)
        {
            crate::http::h2::overloaded(&mut out, &sink[..n], date);
        }
        let _ = k;
        if n < sink.len() {
            break;
        }
    }
    if speaks == Speaks::Tls {
        out.clear();
        out.extend_from_slice(&TLS_REFUSED);
    } else if out.is_empty() {
        crate::http::response::overloaded(&mut out, date);
    }
    let _ = net::send(fd, &out);
}
