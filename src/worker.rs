//! What a worker thread lends the connections it drives: the settings and caches shared by
//! all workers (`Shared`), its own buffers, clock, caches and log (`Worker`), and the typed
//! tokens its poller reports readiness with (`Token`).
//!
//! This module sits below both the event loop (`server/`), which owns a `Worker` and the
//! connections, and the connection layers (`conn/`), which borrow the `Worker` while they are
//! driven. It holds state, not behaviour: it does not accept, read, parse or answer anything.
//! Keeping it apart is what lets `conn` never import `server`.

use crate::config::Config;
use crate::handler::{self, Ctx};
use crate::http::date::Clock;
use crate::log::WorkerLog;
use crate::sys::poll::{Interest, Poller};
use crate::sys::{self, AsFd, Errno, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

/// Read buffer: one whole request head at its limits, plus room to spare.
pub const READ_BUF: usize = 32 * 1024;
/// Response buffer: a head plus an inline body (`handler::INLINE_BODY_MAX`).
pub const WRITE_BUF: usize = 20 * 1024;
/// Free buffers a worker keeps for reuse; past this they are returned to the allocator.
const POOL_MAX: usize = 512;

/// One reading of the configuration, with what it opened: the sites (roots, rules), the
/// credentials, the TLS settings and the listening sockets. SIGHUP makes a new one
/// (`server::reload`) and workers take it up between two passes of their loops: new
/// requests use it, while answers begun under the old one keep what they hold (open files,
/// an upload's folder, a CGI program).
pub struct Served {
    /// Which reading of the configuration this is (1 at start, one more per reload): a
    /// `Route` taken under another reading names sites and rules that may have moved.
    pub reading: u64,
    pub config: Config,
    pub sites: Vec<handler::site::Site>,
    /// The site for unknown names.
    pub default_site: usize,
    pub auth: Option<Arc<handler::auth::Auth>>,
    /// What TLS connections share (certificates, the rustls configuration).
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<crate::tls::Tls>>,
    /// Listening sockets: shared with the previous reading when their address stayed.
    pub listeners: Vec<Listener>,
}

/// A listening socket and what its connections speak.
pub struct Listener {
    pub fd: Arc<OwnedFd>,
    /// The address bound, and the address the configuration asked for (with port 0 for
    /// an ephemeral one): a reload keeps the socket of an address asked for again.
    pub addr: std::net::SocketAddr,
    pub asked: std::net::SocketAddr,
    pub tls: bool,
    /// Its connections begin with a PROXY protocol header.
    pub proxied: bool,
    /// Passed by systemd or by the process that upgraded to this one (`LISTEN_FDS`): kept
    /// across reloads whatever the configuration says.
    pub passed: bool,
    /// Held by another process too (systemd's, or passed and not made by the old process
    /// of an upgrade): a stop must not shut it down (`server::upgrade`).
    pub inherited: bool,
}

impl Served {
    /// Open the sites' roots and read what the configuration names (error pages, the
    /// credentials file, certificates); `previous` lends what need not be read again (the
    /// credentials of the same file, TLS when its settings did not change). Errors are one
    /// line for the user.
    pub fn new(
        config: Config,
        listeners: Vec<Listener>,
        previous: Option<&Served>,
    ) -> Result<Served, String> {
        sys::fs::set_follow_symlinks(config.follow_symlinks);
        let mut sites = Vec::with_capacity(config.sites.len());
        for s in &config.sites {
            sites.push(handler::site::Site::open(s, &config)?);
        }
        let default_site = config.sites.iter().position(|s| s.default).unwrap_or(0);
        let same_auth = |p: &Served| p.config.auth_file == config.auth_file;
        let auth = match (&config.auth_file, previous) {
            (Some(_), Some(p)) if same_auth(p) => p.auth.clone(),
            (Some(path), _) => Some(Arc::new(handler::auth::Auth::load(path)?)),
            (None, _) => None,
        };
        #[cfg(feature = "tls")]
        let tls = match previous {
            Some(p) if crate::tls::Tls::same_settings(&p.config, &config) => {
                if let Some(t) = &p.tls {
                    t.store.reload_changed();
                }
                p.tls.clone()
            }
            _ => crate::tls::Tls::load(&config)?,
        };
        static READINGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(Served {
            reading: READINGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
            config,
            sites,
            default_site,
            auth,
            #[cfg(feature = "tls")]
            tls,
            listeners,
        })
    }

    /// The peer is a `--trusted-proxy`: its PROXY header and forwarding headers are believed.
    #[cfg(feature = "ops")]
    pub fn trusts(&self, peer: Option<std::net::SocketAddr>) -> bool {
        let ranges = &self.config.trusted_proxies;
        peer.is_some_and(|p| crate::http::forwarded::trusted(ranges, p.ip()))
    }
}

/// What all workers share: the configuration in force, and the counters workers read of
/// each other.
pub struct Shared {
    /// The configuration in force, and its number (bumped at each reload: a worker that
    /// sees another number than its own takes the new one).
    served: std::sync::Mutex<Arc<Served>>,
    pub epoch: std::sync::atomic::AtomicU64,
    /// Open connections, all workers together (for `--max-connections`).
    pub conns: AtomicUsize,
    pub shutdown: AtomicBool,
    /// Per worker: idle connections it holds, and closes other workers asked of it.
    pub idle: Vec<Counter>,
    pub evict: Vec<Counter>,
    /// Per worker: its `--metrics` counters, written by that worker only.
    pub stats: Box<[crate::stats::WorkerStats]>,
    pub wakers: std::sync::OnceLock<Vec<Arc<sys::poll::Waker>>>,
    /// This process's id (a syscall to ask, so asked once).
    pub pid: u32,
    /// WebDAV's locks: here, beside what every worker shares, and not in `Served`, so that
    /// a reload (which builds a new `Served`) keeps them.
    #[cfg(feature = "dav")]
    pub locks: Arc<handler::lock::Locks>,
}

impl Shared {
    pub fn new(served: Served) -> Shared {
        let workers = served.config.workers;
        Shared {
            served: std::sync::Mutex::new(Arc::new(served)),
            epoch: std::sync::atomic::AtomicU64::new(0),
            conns: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            idle: (0..workers).map(|_| Counter::default()).collect(),
            evict: (0..workers).map(|_| Counter::default()).collect(),
            stats: (0..workers).map(|_| Default::default()).collect(),
            wakers: std::sync::OnceLock::new(),
            pid: sys::getpid(),
            #[cfg(feature = "dav")]
            locks: Default::default(),
        }
    }

    /// The configuration in force.
    pub fn served(&self) -> Arc<Served> {
        match self.served.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Put `next` in force and wake the workers to take it up.
    pub fn replace(&self, next: Served) {
        let mut s = match self.served.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *s = Arc::new(next);
        self.epoch
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        drop(s);
        for w in self.wakers.get().into_iter().flatten() {
            w.wake();
        }
    }
}

/// Verdicts other threads leave for a worker: a credentials check done off the event loop
/// (`handler::auth`), for the connection that waits for it. Posting wakes the worker.
pub struct Mailbox {
    verdicts: std::sync::Mutex<Vec<Verdict>>,
    waker: Option<Arc<sys::poll::Waker>>,
}

/// Credentials verified for a connection: the token, whether they are right, and the
/// reading of the credentials file they were checked against.
pub struct Verdict {
    pub conn: ConnId,
    pub token: Vec<u8>,
    pub ok: bool,
    pub generation: u64,
}

impl Mailbox {
    pub fn new(waker: Option<Arc<sys::poll::Waker>>) -> Mailbox {
        Mailbox {
            verdicts: std::sync::Mutex::new(Vec::new()),
            waker,
        }
    }

    /// Leave a verdict and wake the worker (from a verifier thread).
    pub fn post(&self, v: Verdict) {
        if let Ok(mut list) = self.verdicts.lock() {
            list.push(v);
        }
        if let Some(w) = &self.waker {
            w.wake();
        }
    }

    /// The verdicts left since the last call, into `into` (emptied first).
    pub fn take(&self, into: &mut Vec<Verdict>) {
        into.clear();
        if let Ok(mut list) = self.verdicts.lock() {
            std::mem::swap(&mut *list, into);
        }
    }
}

/// A per-worker counter on a cache line of its own: each worker writes its own on every
/// keep-alive request, and packed together they would bounce one line between cores.
#[derive(Default)]
#[repr(align(64))]
pub struct Counter(AtomicUsize);

impl std::ops::Deref for Counter {
    type Target = AtomicUsize;
    fn deref(&self) -> &AtomicUsize {
        &self.0
    }
}

/// Buffers kept for reuse, so that steady traffic allocates nothing.
#[derive(Default)]
pub struct Pool {
    reads: Vec<Box<[u8]>>,
    writes: Vec<Vec<u8>>,
}

impl Pool {
    pub fn take_read(&mut self) -> Box<[u8]> {
        self.reads
            .pop()
            .unwrap_or_else(|| vec![0u8; READ_BUF].into_boxed_slice())
    }
    pub fn put_read(&mut self, b: Box<[u8]>) {
        if self.reads.len() < POOL_MAX {
            self.reads.push(b);
        }
    }
    pub fn take_write(&mut self) -> Vec<u8> {
        self.writes
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(WRITE_BUF))
    }
    pub fn put_write(&mut self, mut b: Vec<u8>) {
        if self.writes.len() < POOL_MAX && b.capacity() >= WRITE_BUF {
            b.clear();
            self.writes.push(b);
        }
    }
}

/// A connection's place in its worker's table: a slot and the generation of the slot's
/// current occupant, so that an event queued for a closed connection never reaches the one
/// that took its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnId {
    pub slot: u32,
    pub generation: u32,
}

/// What a readiness event is about. The poller carries a `u64`; this is its meaning, and
/// `raw`/`from_raw` the only place that knows the encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// Another thread woke the worker (shutdown, or a request to close an idle connection).
    Waker,
    /// Files the cache of a site (by its index in `Served::sites`) holds changed.
    Watch(usize),
    /// A listening socket, by its index in `Shared::listeners` (fewer than
    /// `config::MAX_LISTENERS`).
    Listener(usize),
    /// A client connection's socket.
    Conn(ConnId),
    /// A pipe of the CGI program a connection runs.
    Pipe(ConnId),
}

// Encoding: connections are `generation << 32 | slot`, bit 31 set for their pipes. Slots
// stay below 2^30, so the low half of a connection's token is below 2^31 + 2^30 and every
// connection token is below the reserved ones at the top of the range.
const WAKER: u64 = u64::MAX;
const LISTENER: u64 = u64::MAX - 1024;
/// Below the listeners: one per site (fewer than `config::site::MAX_SITES`).
const WATCH: u64 = u64::MAX - 2048;
const PIPE_BIT: u64 = 1 << 31;
/// Slots a worker may use; the table never grows past this.
pub const MAX_SLOTS: u32 = 1 << 30;

impl Token {
    pub fn raw(self) -> u64 {
        match self {
            Token::Waker => WAKER,
            Token::Watch(i) => WATCH + i as u64,
            Token::Listener(i) => LISTENER + i as u64,
            Token::Conn(id) => (u64::from(id.generation) << 32) | u64::from(id.slot),
            Token::Pipe(id) => (u64::from(id.generation) << 32) | PIPE_BIT | u64::from(id.slot),
        }
    }

    pub fn from_raw(t: u64) -> Token {
        match t {
            WAKER => Token::Waker,
            t if t >= LISTENER => Token::Listener((t - LISTENER) as usize),
            t if t >= WATCH => Token::Watch((t - WATCH) as usize),
            t => {
                let id = ConnId {
                    slot: (t & (PIPE_BIT - 1)) as u32,
                    generation: (t >> 32) as u32,
                };
                if t & PIPE_BIT != 0 {
                    Token::Pipe(id)
                } else {
                    Token::Conn(id)
                }
            }
        }
    }
}

/// The site and rule (indexes in `Served::sites` and the site's `rules`) a request was
/// routed to, kept by its connection for the answers written after the handler returned.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub site: usize,
    pub rule: usize,
    /// The `Served::reading` the indexes are into.
    pub reading: u64,
}

/// A worker's state that connections use while being driven.
pub struct Worker {
    pub shared: Arc<Shared>,
    /// The configuration this worker answers with, and its number (`Shared::epoch`).
    pub served: Arc<Served>,
    pub epoch: u64,
    pub pool: Pool,
    pub clock: Clock,
    pub scratch: Vec<u8>,
    pub sibling: Vec<u8>,
    pub name: Vec<u8>,
    pub auth_cache: handler::auth::Verified,
    /// Where verifier threads leave their verdicts for this worker.
    pub mailbox: Arc<Mailbox>,
    /// One file cache per site (a cache watches one root).
    pub caches: Vec<handler::cache::FileCache>,
    /// `--trace` output of this worker, waiting for the trace writer.
    pub trace_pending: Vec<u8>,
    pub trace_out: Option<sys::trace::TraceOut>,
    pub log: WorkerLog,
    /// Monotonic ms at the start of this pass of the loop.
    pub now: u64,
    pub header_ms: u64,
    pub keepalive_ms: u64,
    pub send_ms: u64,
    pub cgi_ms: u64,
    pub shutting_down: bool,
    pub poller: Poller,
    /// This worker's index in the shared per-worker tables.
    pub id: usize,
}

impl Worker {
    pub fn new(
        id: usize,
        shared: Arc<Shared>,
        mailbox: Arc<Mailbox>,
        poller: Poller,
        log: WorkerLog,
        trace_out: Option<sys::trace::TraceOut>,
    ) -> Worker {
        let served = shared.served();
        let epoch = shared.epoch.load(std::sync::atomic::Ordering::Acquire);
        let mut w = Worker {
            header_ms: 0,
            keepalive_ms: 0,
            send_ms: 0,
            cgi_ms: 0,
            caches: Vec::new(),
            served,
            epoch,
            shared,
            pool: Pool::default(),
            clock: Clock::new(),
            scratch: Vec::with_capacity(1024),
            sibling: Vec::with_capacity(1024),
            name: Vec::with_capacity(1024),
            auth_cache: handler::auth::Verified::default(),
            mailbox,
            trace_pending: Vec::new(),
            trace_out,
            log,
            now: sys::time::monotonic_ms(),
            shutting_down: false,
            poller,
            id,
        };
        w.settle();
        w
    }

    /// Derive what the worker keeps of `served`: its timeouts in ms, a file cache per site.
    fn settle(&mut self) {
        let cfg = &self.served.config;
        let ms = |d: std::time::Duration| d.as_millis().max(1) as u64;
        self.header_ms = ms(cfg.header_timeout);
        self.keepalive_ms = ms(cfg.keepalive_timeout);
        self.send_ms = ms(cfg.send_timeout);
        self.cgi_ms = ms(cfg.cgi_timeout);
        self.caches = self
            .served
            .sites
            .iter()
            .map(|s| handler::cache::FileCache::new(&s.root_path))
            .collect();
    }

    /// Take up the configuration in force if it is not this worker's: returns the one it
    /// answered with until now (its listeners and caches' watches are the caller's to drop
    /// from the poller), or `None` if nothing changed.
    pub fn take_up(&mut self) -> Option<Arc<Served>> {
        let epoch = self.shared.epoch.load(std::sync::atomic::Ordering::Acquire);
        if epoch == self.epoch {
            return None;
        }
        self.epoch = epoch;
        let old = std::mem::replace(&mut self.served, self.shared.served());
        // Verdicts were learnt against the old credentials file's reading.
        self.auth_cache = handler::auth::Verified::default();
        self.settle();
        Some(old)
    }

    /// The handlers' view of the worker, for a request from `client` to site `site`
    /// (`misdirected`: its Host names another site than the connection's SNI name).
    pub fn ctx(
        &mut self,
        client: Option<std::net::IpAddr>,
        secure: bool,
        site: usize,
        misdirected: bool,
    ) -> Ctx<'_> {
        let served = &*self.served;
        let s = &served.sites[site];
        let rule_at = s.rules.len() - 1;
        let rule = &s.rules[rule_at];
        Ctx {
            cfg: &served.config,
            site: s,
            rule,
            rule_at,
            extras: &rule.extras[usize::from(secure)],
            misdirected,
            secure,
            #[cfg(feature = "tls")]
            acme: served.tls.as_ref().and_then(|t| t.acme.as_deref()),
            root: s.root.as_fd(),
            index: &s.index,
            date: &self.clock.imf,
            unix: self.clock.secs(),
            scratch: &mut self.scratch,
            sibling: &mut self.sibling,
            name: &mut self.name,
            auth: served.auth.as_deref(),
            auth_cache: &mut self.auth_cache,
            client,
            cache: &mut self.caches[site],
            now: self.now,
            pid: self.shared.pid,
            draining: self.shutting_down,
            stats: &self.shared.stats[self.id],
            all_stats: &self.shared.stats,
            conns: &self.shared.conns,
            #[cfg(feature = "dav")]
            locks: &self.shared.locks,
            #[cfg(feature = "dav")]
            locked: Default::default(),
        }
    }
}

impl Served {
    /// What answers carry on `route` (the site and rule of the request being answered),
    /// or, before a request was routed (a malformed one) or when it was routed under
    /// another reading of the configuration, those of the default site's "/".
    pub fn extras(&self, route: Option<Route>, secure: bool) -> &handler::Extras {
        let served = self;
        let base = served.sites[served.default_site].base();
        // An answer finished after a reload (an upload's 201, a program's head) whose rule
        // is gone or moved gets the default site's, not another rule's.
        let rule = route
            .filter(|r| r.reading == served.reading)
            .and_then(|r| served.sites.get(r.site)?.rules.get(r.rule))
            .unwrap_or(base);
        &rule.extras[usize::from(secure)]
    }
}

impl Worker {
    /// This worker's `--metrics` counters.
    pub fn stats(&self) -> &crate::stats::WorkerStats {
        &self.shared.stats[self.id]
    }

    /// Watch a descriptor for this worker's loop.
    pub fn watch(&self, fd: impl AsFd, token: Token, interest: Interest) -> Result<(), Errno> {
        self.poller.add(fd, token.raw(), interest)
    }

    /// Keep this worker's count of idle connections (read by the other workers, which ask
    /// this one to close some when the server is full).
    pub fn count_idle(&self, idle: bool) {
        let n = &self.shared.idle[self.id];
        if idle {
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else {
            n.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_never_collide() {
        let id = |slot, generation| ConnId { slot, generation };
        let all = [
            Token::Waker,
            Token::Watch(0),
            Token::Watch(63),
            Token::Listener(0),
            Token::Listener(crate::config::MAX_LISTENERS - 1),
            Token::Conn(id(0, 0)),
            Token::Conn(id(MAX_SLOTS - 1, u32::MAX)),
            Token::Pipe(id(MAX_SLOTS - 1, u32::MAX)),
            Token::Pipe(id(5, 7)),
        ];
        for t in all {
            assert_eq!(Token::from_raw(t.raw()), t);
        }
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.raw(), b.raw(), "{a:?} and {b:?}");
            }
        }
    }
}
