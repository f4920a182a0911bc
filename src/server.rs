//! The server: listeners, one event-loop thread per worker, timers, and shutdown.
//!
//! Every worker owns an epoll instance and the connections it accepted; nothing is shared
//! between workers but the configuration, the listening sockets and a connection counter.
//! The listening sockets are shared rather than one per worker with SO_REUSEPORT: with
//! SO_REUSEPORT a second server started by the same user on the same port would silently
//! take half the connections instead of failing with "address in use". Each worker watches
//! them with EPOLLEXCLUSIVE, so one arriving connection wakes one worker.
//!
//! One pass of a worker's loop: wait for events (at most `TICK_MS` while anything has a
//! deadline; with no connection, until something comes), drive each ready connection as far
//! as it can go, accept new connections, then every `TICK_MS` close those whose deadline
//! passed, and hand the access-log buffer to the log thread.

use crate::config::{AccessLog, Config};
use crate::conn::{Conn, Next, Phase};
use crate::http::date::Clock;
use crate::log::{self, LogSink, WorkerLog};
use crate::sys::poll::{Interest, Poller, Ready, Waker};
use crate::sys::{self, Errno, OwnedFd, fs, net, time};
use std::ffi::CString;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How often timers are checked (and the longest an epoll_wait blocks).
const TICK_MS: u64 = 250;
/// Connections accepted per listener wake-up before other work gets a turn.
const ACCEPT_BATCH: usize = 64;
/// Events taken per epoll_wait.
const EVENTS: usize = 1024;
/// On shutdown, responses in flight get this long to finish.
const GRACE_MS: u64 = 10_000;
/// Listen backlog (the kernel caps it at net.core.somaxconn).
const BACKLOG: i32 = 4096;
/// Free buffers a worker keeps for reuse; past this they are returned to the allocator.
const POOL_MAX: usize = 512;
/// A connection still sending its head after this long may be evicted when the server is
/// full (a slow-headers attack), after idle keep-alive connections.
const SLOW_HEAD_EVICT_MS: u64 = 1_000;

const WAKER_TOKEN: u64 = u64::MAX;
const WATCH_TOKEN: u64 = u64::MAX - 1;
/// A connection's token is `generation << 32 | idx`; bit 31 marks events from its CGI
/// program's pipes rather than from its socket.
const IDX_MASK: u64 = 0x7fff_ffff;
pub const PIPE_BIT: u64 = 1 << 31;
const LISTENER_TOKEN: u64 = u64::MAX - 1024;

/// What all workers share.
pub struct Shared {
    pub config: Config,
    root: OwnedFd,
    pub index: CString,
    pub site: crate::handler::Site,
    pub auth: Option<crate::handler::auth::Auth>,
    listeners: Vec<OwnedFd>,
    conns: AtomicUsize,
    shutdown: AtomicBool,
    /// Per worker: idle connections it holds, and closes other workers asked of it.
    pub idle: Vec<Counter>,
    evict: Vec<Counter>,
    wakers: std::sync::OnceLock<Vec<Arc<Waker>>>,
}

impl Shared {
    pub fn root_fd(&self) -> sys::BorrowedFd<'_> {
        use sys::AsFd;
        self.root.as_fd()
    }
}

/// Buffers kept for reuse, so that steady traffic allocates nothing.
pub struct Pool {
    reads: Vec<Box<[u8]>>,
    writes: Vec<Vec<u8>>,
}

impl Pool {
    pub fn take_read(&mut self) -> Box<[u8]> {
        self.reads
            .pop()
            .unwrap_or_else(|| vec![0u8; crate::conn::READ_BUF].into_boxed_slice())
    }
    pub fn put_read(&mut self, b: Box<[u8]>) {
        if self.reads.len() < POOL_MAX {
            self.reads.push(b);
        }
    }
    pub fn take_write(&mut self) -> Vec<u8> {
        self.writes
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(crate::conn::WRITE_BUF))
    }
    pub fn put_write(&mut self, mut b: Vec<u8>) {
        if self.writes.len() < POOL_MAX && b.capacity() >= crate::conn::WRITE_BUF {
            b.clear();
            self.writes.push(b);
        }
    }
}

/// Open (or create) the file a flag names, for appending; the error names the flag.
fn open_append(flag: &str, path: &std::path::Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            format!(
                "{flag} {}: {}",
                path.display(),
                crate::config::io_reason(&e)
            )
        })
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

/// A worker's state that connections use while being driven.
pub struct Worker {
    pub shared: Arc<Shared>,
    pub pool: Pool,
    pub clock: Clock,
    pub scratch: Vec<u8>,
    pub sibling: Vec<u8>,
    pub name: Vec<u8>,
    pub auth_cache: std::collections::HashSet<Vec<u8>>,
    pub cache: crate::handler::cache::FileCache,
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

/// A connection table: slots reused, tokens carrying a generation so that an event queued
/// for a closed connection never reaches the one that took its slot.
struct Slab {
    slots: Vec<Option<Conn>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    fn insert(&mut self, c: Conn) -> u64 {
        let idx = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.slots.push(None);
                self.gens.push(0);
                self.slots.len() - 1
            }
        };
        self.gens[idx] = self.gens[idx].wrapping_add(1);
        self.slots[idx] = Some(c);
        self.len += 1;
        (u64::from(self.gens[idx]) << 32) | idx as u64
    }

    fn index(&self, token: u64) -> Option<usize> {
        let idx = (token & IDX_MASK) as usize;
        let ok = idx < self.slots.len()
            && u64::from(self.gens[idx]) == token >> 32
            && self.slots[idx].is_some();
        ok.then_some(idx)
    }

    fn token(&self, idx: usize) -> u64 {
        (u64::from(self.gens[idx]) << 32) | idx as u64
    }

    fn remove(&mut self, idx: usize) -> Option<Conn> {
        let c = self.slots[idx].take()?;
        self.free.push(idx as u32);
        self.len -= 1;
        Some(c)
    }
}

/// One worker thread's event loop.
struct EventLoop {
    w: Worker,
    waker: Arc<Waker>,
    conns: Slab,
    ready: Vec<Ready>,
    yielded: Vec<u64>,
    /// The list being worked through while `yielded` collects the next round; the two swap
    /// so that neither is reallocated per round.
    yielded_spare: Vec<u64>,
    reserve: Option<OwnedFd>,
    /// Connections taken by one accept loop, admitted once the loop has ended.
    accepted: Vec<(OwnedFd, Option<SocketAddr>)>,
    accept_paused_until: Option<u64>,
    next_sweep: u64,
    grace_until: u64,
}

/// A bound, not yet running server.
pub struct Server {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
}

impl Server {
    /// Open the root and the listening sockets. Errors are one line for the user.
    pub fn bind(config: Config) -> Result<Server, String> {
        sys::raise_nofile_limit();
        fs::set_follow_symlinks(config.follow_symlinks);
        let root = fs::open_root(&config.root)
            .map_err(|e| format!("{}: cannot open: {}", config.root.display(), errno_text(e)))?;
        let index =
            CString::new(config.index.clone()).map_err(|_| "--index: NUL byte".to_string())?;
        let site = crate::handler::Site::from_config(&config)?;
        let auth = match &config.auth_file {
            Some(p) => Some(crate::handler::auth::Auth::load(p)?),
            None => None,
        };
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for &addr in &config.listen {
            let fd = net::listen(addr, BACKLOG).map_err(|e| listen_error(addr, e))?;
            addrs.push(net::local_addr(&fd).unwrap_or(addr));
            listeners.push(fd);
        }
        let workers = config.workers;
        let shared = Shared {
            config,
            root,
            index,
            site,
            auth,
            listeners,
            conns: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            idle: (0..workers).map(|_| Counter::default()).collect(),
            evict: (0..workers).map(|_| Counter::default()).collect(),
            wakers: std::sync::OnceLock::new(),
        };
        Ok(Server {
            shared: Arc::new(shared),
            addrs,
        })
    }

    /// The addresses actually bound (with ephemeral ports resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Run until SIGINT or SIGTERM, then finish responses in flight (bounded) and return.
    /// The caller must have called `sys::signal::block_shutdown_signals` before any thread
    /// was started.
    pub fn run(self) -> Result<(), String> {
        let cfg = &self.shared.config;
        let (sink, log_thread) = match &cfg.access_log {
            AccessLog::Off => (None, None),
            AccessLog::Stdout => {
                let (s, h) = log::start(Box::new(std::io::stdout()));
                (Some(s), Some(h))
            }
            AccessLog::File(p) => {
                let (s, h) = log::start(Box::new(open_append("--access-log", p)?));
                (Some(s), Some(h))
            }
        };
        let trace_out = if cfg.trace {
            sys::trace::enable();
            let dest: Box<dyn std::io::Write + Send> = match &cfg.trace_file {
                Some(p) => Box::new(open_append("--trace-file", p)?),
                None => Box::new(std::io::stderr()),
            };
            Some(sys::trace::TraceOut::start(dest))
        } else {
            None
        };
        let mut wakers = Vec::new();
        let mut threads = Vec::new();
        for id in 0..cfg.workers {
            let waker = Arc::new(Waker::new().map_err(|e| format!("eventfd: {}", errno_text(e)))?);
            wakers.push(waker.clone());
            let lp = EventLoop::new(id, self.shared.clone(), waker, sink.clone(), &trace_out)
                .map_err(|e| format!("epoll: {}", errno_text(e)))?;
            let t = std::thread::Builder::new()
                .name(format!("worker-{id}"))
                .spawn(move || lp.run())
                .map_err(|e| format!("cannot start worker thread: {e}"))?;
            threads.push(t);
        }
        drop(sink);
        let _ = self.shared.wakers.set(wakers.clone());
        if !cfg.quiet {
            let urls: Vec<String> = self.addrs.iter().map(|a| format!("http://{a}/")).collect();
            eprintln!(
                "barehttpd {}: serving {} on {} ({} worker{}); Ctrl-C to stop",
                env!("CARGO_PKG_VERSION"),
                cfg.root.display(),
                urls.join(" "),
                cfg.workers,
                if cfg.workers == 1 { "" } else { "s" }
            );
        }
        sys::signal::wait_shutdown_signal();
        if !cfg.quiet {
            eprintln!("barehttpd: shutting down, finishing responses in flight");
        }
        // A second signal stops at once.
        std::thread::spawn(|| {
            sys::signal::wait_shutdown_signal();
            std::process::exit(1);
        });
        // New connections are refused first, so that none is taken after a worker has begun
        // to close its idle ones.
        for l in &self.shared.listeners {
            net::shutdown_listener(l);
        }
        self.shared.shutdown.store(true, Ordering::SeqCst);
        for w in &wakers {
            w.wake();
        }
        for t in threads {
            let _ = t.join();
        }
        if let Some(h) = log_thread {
            let _ = h.join();
        }
        Ok(())
    }
}

fn listen_error(addr: SocketAddr, e: Errno) -> String {
    let why = match e {
        Errno::ADDRINUSE => "address already in use (is another server running there?)".to_string(),
        Errno::ACCESS => "permission denied (ports below 1024 need privileges)".to_string(),
        Errno::ADDRNOTAVAIL => "address not available on this machine".to_string(),
        e => errno_text(e),
    };
    format!("cannot listen on {addr}: {why}")
}

fn errno_text(e: Errno) -> String {
    crate::config::io_reason(&std::io::Error::from_raw_os_error(e.raw_os_error()))
}

impl EventLoop {
    fn new(
        id: usize,
        shared: Arc<Shared>,
        waker: Arc<Waker>,
        sink: Option<LogSink>,
        trace_out: &Option<sys::trace::TraceOut>,
    ) -> Result<Self, Errno> {
        let poller = Poller::new(EVENTS)?;
        poller.add(waker.fd(), WAKER_TOKEN, Interest::Readable)?;
        for (i, l) in shared.listeners.iter().enumerate() {
            poller.add(l, LISTENER_TOKEN + i as u64, Interest::Listener)?;
        }
        let cfg = &shared.config;
        let ms = |d: std::time::Duration| d.as_millis().max(1) as u64;
        let now = time::monotonic_ms();
        let cache = crate::handler::cache::FileCache::new(&cfg.root);
        if let Some(fd) = cache.watch_fd() {
            poller.add(fd, WATCH_TOKEN, Interest::Readable)?;
        }
        let w = Worker {
            header_ms: ms(cfg.header_timeout),
            keepalive_ms: ms(cfg.keepalive_timeout),
            send_ms: ms(cfg.send_timeout),
            cgi_ms: ms(cfg.cgi_timeout),
            shared,
            pool: Pool {
                reads: Vec::new(),
                writes: Vec::new(),
            },
            clock: Clock::new(),
            scratch: Vec::with_capacity(1024),
            sibling: Vec::with_capacity(1024),
            name: Vec::with_capacity(1024),
            auth_cache: std::collections::HashSet::new(),
            cache,
            trace_pending: Vec::new(),
            trace_out: trace_out.clone(),
            log: WorkerLog::new(sink),
            now,
            shutting_down: false,
            poller,
            id,
        };
        Ok(EventLoop {
            w,
            waker,
            conns: Slab {
                slots: Vec::new(),
                gens: Vec::new(),
                free: Vec::new(),
                len: 0,
            },
            ready: Vec::with_capacity(EVENTS),
            yielded: Vec::new(),
            yielded_spare: Vec::new(),
            reserve: fs::open_reserve(),
            accepted: Vec::with_capacity(ACCEPT_BATCH),
            accept_paused_until: None,
            next_sweep: now + TICK_MS,
            grace_until: u64::MAX,
        })
    }

    fn run(mut self) {
        loop {
            let timeout = if !self.yielded.is_empty() {
                Some(0)
            } else if self.nothing_to_time() {
                // An idle server sleeps until a client or a signal comes: no wake-ups at all.
                None
            } else {
                Some(TICK_MS)
            };
            self.ready.clear();
            match self.w.poller.wait(timeout) {
                Ok(events) => self.ready.extend(events),
                Err(e) => {
                    eprintln!("barehttpd: epoll_wait failed: {}", errno_text(e));
                    return;
                }
            }
            self.w.now = time::monotonic_ms();
            self.w.clock.update(time::unix_secs());
            // File changes first, so that no request in this batch is answered from a cache
            // entry whose file has already changed.
            if self.ready.iter().any(|e| e.token == WATCH_TOKEN) {
                self.w.cache.on_changes();
            }
            for i in 0..self.ready.len() {
                let ev = self.ready[i];
                match ev.token {
                    WATCH_TOKEN => {}
                    WAKER_TOKEN => {
                        self.waker.reset();
                        self.begin_shutdown();
                        // Other workers may have asked this one to make room.
                        let asked = self.w.shared.evict[self.w.id].swap(0, Ordering::Relaxed);
                        for _ in 0..asked {
                            if !self.evict_idle_only() {
                                break;
                            }
                        }
                    }
                    // New connections after the others (below).
                    t if t >= LISTENER_TOKEN => {}
                    t => {
                        if let Some(idx) = self.conns.index(t) {
                            if let Some(c) = self.conns.slots[idx].as_mut()
                                && t & PIPE_BIT == 0
                            {
                                c.on_event(ev.readable, ev.hangup, ev.closed);
                            }
                            self.drive(idx);
                        }
                    }
                }
            }
            // Accept after every other event of the batch: a client whose request arrived in
            // this batch has been read by now, so a full server looking for an idle
            // connection to close does not take it for one.
            for i in 0..self.ready.len() {
                let t = self.ready[i].token;
                if (LISTENER_TOKEN..WATCH_TOKEN).contains(&t) {
                    sys::trace::woke();
                    self.accept((t - LISTENER_TOKEN) as usize);
                }
            }
            if !self.yielded.is_empty() {
                let mut list = std::mem::take(&mut self.yielded_spare);
                std::mem::swap(&mut list, &mut self.yielded);
                for &t in &list {
                    if let Some(idx) = self.conns.index(t) {
                        self.drive(idx);
                    }
                }
                list.clear();
                self.yielded_spare = list;
            }
            if self.w.now >= self.next_sweep {
                self.next_sweep = self.w.now + TICK_MS;
                self.sweep();
                crate::handler::cgi::reap();
            }
            // Lines wait for more (a buffer's worth, or 100 ms) unless the worker is about to
            // sleep with no timer to wake it. Lines the log thread cannot take yet keep the
            // timer running (`nothing_to_time`).
            let sleeps = self.yielded.is_empty() && self.idle_worker();
            self.w.log.flush((!sleeps).then_some(self.w.now));
            if let Some(out) = &self.w.trace_out {
                sys::trace::discard();
                out.push(&mut self.w.trace_pending);
            }
            if self.w.shutting_down && (self.conns.len == 0 || self.w.now >= self.grace_until) {
                return;
            }
        }
    }

    /// Nothing waits on a clock: no connection (each has a deadline), no paused listener, no
    /// child to collect, no log line the log thread could not take yet. The timer tick is
    /// then not needed.
    fn nothing_to_time(&self) -> bool {
        self.idle_worker() && self.w.log.is_empty()
    }

    /// No connection, no paused listener, no child to collect.
    fn idle_worker(&self) -> bool {
        self.conns.len == 0
            && self.accept_paused_until.is_none()
            && !self.w.shutting_down
            && !crate::handler::cgi::reap_pending()
    }

    fn drive(&mut self, idx: usize) {
        let Some(conn) = self.conns.slots[idx].as_mut() else {
            return;
        };
        sys::trace::woke();
        let next = guarded(conn, &mut self.w, Conn::drive);
        if sys::trace::enabled() {
            conn.add_trace();
        }
        self.after(idx, next);
    }

    fn after(&mut self, idx: usize, next: Next) {
        match next {
            Next::Wait => {}
            Next::Yield => self.yielded.push(self.conns.token(idx)),
            Next::Close => self.close(idx),
        }
    }

    fn close(&mut self, idx: usize) {
        if let Some(mut c) = self.conns.remove(idx) {
            // A response cut short is logged now, with what it sent.
            c.log_end(&mut self.w);
            c.set_idle(&self.w, false);
            c.release_buffers(&mut self.w);
            self.w.shared.conns.fetch_sub(1, Ordering::Relaxed);
            // Dropping `c` closes the socket, which also removes it from epoll.
        }
    }

    /// Close connections whose deadline passed.
    fn sweep(&mut self) {
        let now = self.w.now;
        if let Some(t) = self.accept_paused_until
            && now >= t
        {
            self.accept_paused_until = None;
            if !self.w.shutting_down {
                for (i, l) in self.w.shared.listeners.iter().enumerate() {
                    let _ = self
                        .w
                        .poller
                        .add(l, LISTENER_TOKEN + i as u64, Interest::Listener);
                }
            }
        }
        for idx in 0..self.conns.slots.len() {
            let Some(c) = self.conns.slots[idx].as_mut() else {
                continue;
            };
            if c.deadline <= now {
                let next = guarded(c, &mut self.w, Conn::on_timeout);
                self.after(idx, next);
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.w.shutting_down || !self.w.shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        self.w.shutting_down = true;
        self.grace_until = self.w.now + GRACE_MS;
        for l in &self.w.shared.listeners {
            let _ = self.w.poller.delete(l);
        }
        for idx in 0..self.conns.slots.len() {
            let Some(c) = self.conns.slots[idx].as_mut() else {
                continue;
            };
            let next = c.on_shutdown();
            self.after(idx, next);
        }
    }

    fn accept(&mut self, li: usize) {
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
        let mut taken = std::mem::take(&mut self.accepted);
        for _ in 0..ACCEPT_BATCH {
            match net::accept(&self.w.shared.listeners[li]) {
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
            self.w.cache.catch_up();
        }
        let mut last = None;
        for (fd, peer) in taken.drain(..) {
            last = self.admit(fd, peer).or(last);
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

    /// Take a new connection, making room or refusing it when the server is full. Returns
    /// its slot.
    fn admit(&mut self, fd: OwnedFd, peer: Option<SocketAddr>) -> Option<usize> {
        let max = self.w.shared.config.max_connections;
        if self.w.shared.conns.load(Ordering::Relaxed) >= max
            && !self.evict_one()
            && !self.ask_another_worker()
        {
            refuse(&fd, &self.w.clock.imf);
            return None;
        }
        self.w.shared.conns.fetch_add(1, Ordering::Relaxed);
        let conn = Conn::new(fd, peer, self.w.now, self.w.header_ms);
        let token = self.conns.insert(conn);
        let idx = (token & IDX_MASK) as usize;
        // A new connection is idle until its first request arrives (it may never send one).
        self.conns.slots[idx]
            .as_mut()
            .expect("just inserted")
            .set_idle(&self.w, true);
        let conn = self.conns.slots[idx].as_mut().expect("just inserted");
        conn.token = token;
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
            .poller
            .add(&conn.fd, token, Interest::Stream)
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
    fn evict_idle_only(&mut self) -> bool {
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
            } else if c.phase == Phase::Reading
                && c.deadline.saturating_sub(self.w.header_ms) + SLOW_HEAD_EVICT_MS <= now
            {
                (1, c.deadline)
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

    /// accept failed for lack of descriptors: free one by closing an idle connection; else
    /// use the reserve descriptor to take the waiting connection and refuse it with 503; if
    /// even that fails, stop watching the listeners for a moment rather than spin.
    fn out_of_descriptors(&mut self, li: usize) {
        if self.evict_one() {
            return;
        }
        if self.reserve.take().is_some() {
            if let Ok(Some((fd, _))) = net::accept(&self.w.shared.listeners[li]) {
                refuse(&fd, &self.w.clock.imf);
            }
            self.reserve = fs::open_reserve();
            if self.reserve.is_some() {
                return;
            }
        }
        for l in &self.w.shared.listeners {
            let _ = self.w.poller.delete(l);
        }
        self.accept_paused_until = Some(self.w.now + TICK_MS);
    }
}

/// When a connection became idle, if it may be closed as such: between requests, or never
/// having sent a byte for `SLOW_HEAD_EVICT_MS`. A client that connected a moment ago is about
/// to send its request (often it is already on the way), so it is not taken for idle.
fn idle_since(c: &Conn, now: u64) -> Option<u64> {
    let settled = c.served || c.idle_since + SLOW_HEAD_EVICT_MS <= now;
    (c.is_idle() && c.idle_since < now && settled).then_some(c.idle_since)
}

/// Run `f` on one connection, catching a panic: one connection's bug must not take its
/// worker's other connections down with it. After a panic (whose message the panic hook has
/// printed) the connection answers 500 if it can and closes.
fn guarded(conn: &mut Conn, w: &mut Worker, f: fn(&mut Conn, &mut Worker) -> Next) -> Next {
    let catch = |f: &mut dyn FnMut() -> Next| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
    };
    catch(&mut || f(conn, w)).unwrap_or_else(|| {
        // Answering 500 may panic again (the state is whatever the panic left): then the
        // connection just closes. A connection driven after `on_panic` that panics again is
        // past the Reading phase, so this cannot loop.
        let next = catch(&mut || conn.on_panic(w)).unwrap_or(Next::Close);
        let what = if next == Next::Close {
            "its connection was closed"
        } else {
            "answered 500 and closing its connection"
        };
        eprintln!(
            "barehttpd: a request handler panicked (worker {}); {what}",
            w.id
        );
        next
    })
}

/// Answer 503 to a connection the server has no room for, and close it.
fn refuse(fd: &OwnedFd, date: &[u8]) {
    // The request is usually here already (on Linux the kernel hands over a connection with
    // its first bytes): read it, so that the close is a FIN. Closing with unread bytes sends
    // a reset, and a reset can destroy the 503 before the client has read it.
    let mut sink = [0u8; 4096];
    for _ in 0..8 {
        match net::recv(fd, &mut sink) {
            Ok(n) if n == sink.len() => {}
            _ => break,
        }
    }
    let mut out = Vec::with_capacity(256);
    crate::http::response::start(&mut out, 503, date);
    out.extend_from_slice(b"Retry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = net::send(fd, &out);
}
