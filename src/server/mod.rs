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
use crate::conn::{Conn, Next};
use crate::handler::stale;
use crate::log::{self, LogSink, WorkerLog};
use crate::sys::poll::{Interest, Poller, Ready, Waker};
use crate::sys::signal::Signal;
use crate::sys::{self, AsFd, Errno, OwnedFd, fs, net, time};
use crate::worker::{ConnId, Listener, MAX_SLOTS, Served, Shared, Token, Worker};
use upgrade::AfterUpgrade;

mod admit;
#[cfg(feature = "ops")]
mod reload;
mod upgrade;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

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
/// A connection still sending its head after this long may be evicted when the server is
/// full (a slow-headers attack), after idle keep-alive connections.
const SLOW_HEAD_EVICT_MS: u64 = 1_000;

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

/// A connection table: slots reused, each with a generation so that an event queued for a
/// closed connection never reaches the one that took its slot.
#[derive(Default)]
struct Slab {
    slots: Vec<Option<Conn>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    /// Put a connection made for its place in the table; None when the table is full.
    fn insert(&mut self, make: impl FnOnce(ConnId) -> Conn) -> Option<usize> {
        let idx = match self.free.pop() {
            Some(i) => i as usize,
            None if self.slots.len() < MAX_SLOTS as usize => {
                self.slots.push(None);
                self.gens.push(0);
                self.slots.len() - 1
            }
            None => return None,
        };
        self.gens[idx] = self.gens[idx].wrapping_add(1);
        self.slots[idx] = Some(make(self.id(idx)));
        self.len += 1;
        Some(idx)
    }

    /// The slot of a live connection, if `id` still names it.
    fn index(&self, id: ConnId) -> Option<usize> {
        let idx = id.slot as usize;
        let ok =
            idx < self.slots.len() && self.gens[idx] == id.generation && self.slots[idx].is_some();
        ok.then_some(idx)
    }

    fn id(&self, idx: usize) -> ConnId {
        ConnId {
            slot: idx as u32,
            generation: self.gens[idx],
        }
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
    yielded: Vec<ConnId>,
    /// The list being worked through while `yielded` collects the next round; the two swap
    /// so that neither is reallocated per round.
    yielded_spare: Vec<ConnId>,
    /// Verdicts taken from the mailbox (kept for its capacity).
    verdicts: Vec<crate::worker::Verdict>,
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
    /// Open the root and the listening sockets (or take those systemd passed), then become
    /// `--user`. Errors are one line for the user.
    pub fn bind(config: Config) -> Result<Server, String> {
        upgrade::record_start();
        sys::raise_nofile_limit();
        // The passed descriptors are taken before the server opens anything, so that no
        // descriptor of its own can have a number it was told is a socket.
        #[cfg_attr(not(feature = "ops"), allow(unused_mut))]
        let mut passed: Vec<(OwnedFd, SocketAddr, bool, bool)> = Vec::new();
        #[cfg(feature = "ops")]
        for a in &config.activated {
            let (fd, addr) = net::adopt_listener(a.fd)
                .map_err(|why| format!("LISTEN_FDS: descriptor {} {why}", a.fd))?;
            passed.push((fd, addr, a.tls, a.proxy));
        }
        #[cfg(feature = "ops")]
        let user = config.user.as_deref().map(sys::user::lookup).transpose()?;
        let mut config = config;
        let listeners = open_listeners(&mut config, passed, &[])?;
        crate::config::check_write_exposure(&config, config.plain_listen()).map_err(|e| e.0)?;
        let served = Served::new(config, listeners, None)?;
        let addrs = served.listeners.iter().map(|l| l.addr).collect();
        // The sockets are open and the certificates and the auth file read; nothing the
        // server does from here needs root. Before any worker thread starts.
        #[cfg(feature = "ops")]
        if let Some(u) = &user {
            sys::user::become_user(u)?;
        }
        let shared = Shared::new(served);
        // Once the start can no longer fail (a start that does leaves the disk as it was),
        // and before any worker can begin an upload of this process's own.
        sweep_report(&shared.served(), Some(shared.pid));
        Ok(Server {
            shared: Arc::new(shared),
            addrs,
        })
    }

    #[cfg(feature = "ops")]
    /// `--check-config`: open what the configuration names (roots, error pages, the
    /// credentials file, certificates) without binding or serving; a line saying what it
    /// holds.
    pub fn check(config: Config) -> Result<String, String> {
        let file = config
            .config_file
            .as_ref()
            .map_or("the command line".into(), |f| f.display().to_string());
        let listeners = config.listen.len() + config.tls_listen.len();
        let served = Served::new(config, Vec::new(), None)?;
        let rules: usize = served.sites.iter().map(|s| s.rules.len()).sum();
        Ok(format!(
            "{file}: ok: {} site{}, {rules} path rule{}, {listeners} listening address{}",
            served.sites.len(),
            if served.sites.len() == 1 { "" } else { "s" },
            if rules == 1 { "" } else { "s" },
            if listeners == 1 { "" } else { "es" },
        ))
    }

    /// The addresses actually bound (with ephemeral ports resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Run until SIGINT or SIGTERM, then finish responses in flight (bounded) and return.
    /// The caller must have called `sys::signal::block_shutdown_signals` before any thread
    /// was started.
    pub fn run(self) -> Result<(), String> {
        let served = self.shared.served();
        let cfg = &served.config;
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
        // The listeners are bound: a certificate the CA validates now is answered as soon
        // as the workers run, a moment later.
        #[cfg(feature = "tls")]
        if let Some(tls) = &served.tls {
            tls.start_acme(cfg)?;
        }
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
            let urls: Vec<String> = served
                .listeners
                .iter()
                .map(|l| {
                    let (scheme, a) = (if l.tls { "https" } else { "http" }, l.addr);
                    if l.proxied {
                        return format!("{scheme}://{a}/ (PROXY protocol)");
                    }
                    format!("{scheme}://{a}/")
                })
                .collect();
            let what = match &cfg.config_file {
                Some(f) => format!("{} ({} sites)", f.display(), served.sites.len()),
                None => cfg.root.display().to_string(),
            };
            eprintln!(
                "barehttpd {}: serving {} on {} ({} worker{}); Ctrl-C to stop",
                env!("CARGO_PKG_VERSION"),
                what,
                urls.join(" "),
                cfg.workers,
                if cfg.workers == 1 { "" } else { "s" }
            );
        }
        // Everything that can fail has; a process that started this one may stop now (after
        // the banner, so that its lines do not cut into it).
        upgrade::tell_ready();
        // The configuration read at start is not held while serving: a reload replaces it,
        // and what it alone holds (a TLS store for other certificate files, and its
        // watcher thread) must go with it.
        let quiet = cfg.quiet;
        drop(served);
        let mut handed_over = false;
        loop {
            match sys::signal::wait() {
                Signal::Stop => break,
                #[cfg(feature = "ops")]
                Signal::Reload => self.reload(),
                #[cfg(not(feature = "ops"))]
                Signal::Reload => crate::sys::log_error(format_args!(
                    "barehttpd: SIGHUP: reload needs the cargo feature `ops`; nothing changed"
                )),
                Signal::Upgrade => match self.upgrade() {
                    AfterUpgrade::Serving => {}
                    AfterUpgrade::Stop => break,
                    AfterUpgrade::HandedOver => {
                        handed_over = true;
                        break;
                    }
                },
            }
        }
        if !quiet {
            eprintln!("barehttpd: shutting down, finishing responses in flight");
        }
        // A second signal stops at once.
        std::thread::spawn(|| {
            sys::signal::wait_shutdown_signal();
            std::process::exit(1);
        });
        // New connections are refused first, so that none is taken after a worker has begun
        // to close its idle ones; but not on a socket another process holds too (handed to a
        // new binary, or systemd's): shutdown(2) would stop it listening for that process as
        // well (`upgrade.rs`). The workers only stop watching those.
        for l in self.shared.served().listeners.iter() {
            if !handed_over && !l.inherited {
                net::shutdown_listener(&*l.fd);
            }
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

impl Server {
    /// SIGUSR2: hand the listening sockets to a new binary, then stop (`upgrade.rs`).
    fn upgrade(&self) -> AfterUpgrade {
        upgrade::hand_over(self)
    }
}

/// Remove what killed servers' uploads left in every site's write prefixes, and say so;
/// `own_pid` as `stale::sweep` takes it.
fn sweep_report(served: &Served, own_pid: Option<u32>) {
    for site in &served.sites {
        let prefixes = site.write_prefixes();
        let swept = stale::sweep(site.root.as_fd(), &prefixes, site.dotfiles, own_pid);
        if let Some(line) = swept.report().filter(|_| !served.config.quiet) {
            eprintln!("barehttpd: {line}");
        }
    }
}

/// The listening sockets `cfg` asks for: the plain ones first, then the TLS ones; in each
/// kind the passed sockets (systemd's) first, then the addresses given, except those where
/// a passed socket already listens, then those that require a PROXY header. A socket of
/// `previous` with the same address and kind is taken over (a reload never closes a
/// listener that stays, so no connection is refused); the others are bound. The
/// addresses in `cfg` are replaced by those bound (ephemeral ports resolved).
pub(crate) fn open_listeners(
    cfg: &mut Config,
    passed: Vec<(OwnedFd, SocketAddr, bool, bool)>,
    previous: &[Listener],
) -> Result<Vec<Listener>, String> {
    let mut out: Vec<Listener> = Vec::new();
    for (fd, addr, tls, proxied) in passed {
        // A socket the process that upgraded to this one had made itself is this process's
        // alone now (`upgrade::own`): a stop may shut it down.
        let inherited = !upgrade::own(sys::AsRawFd::as_raw_fd(&fd.as_fd()));
        out.push(Listener {
            fd: Arc::new(fd),
            addr,
            asked: addr,
            tls,
            proxied,
            passed: true,
            inherited,
        });
    }
    // Those passed at the start stay for the whole life of the process.
    for l in previous.iter().filter(|l| l.passed) {
        out.push(Listener {
            fd: l.fd.clone(),
            addr: l.addr,
            asked: l.asked,
            tls: l.tls,
            proxied: l.proxied,
            passed: true,
            inherited: l.inherited,
        });
    }
    // After an upgrade the passed sockets are all those of the old process, which bound the
    // same arguments: an address given with port 0 is the passed one of that address.
    let by_upgrade = upgrade::started_by_upgrade();
    // Each socket of `previous` is taken over once (two lines asking for port 0 are two
    // sockets).
    let mut taken = vec![false; previous.len()];
    let mut open = |addr: SocketAddr, tls: bool, proxied: bool| -> Result<SocketAddr, String> {
        let passed = out.iter().find(|l| {
            l.passed
                && l.tls == tls
                && l.proxied == proxied
                && (l.addr == addr || (by_upgrade && addr.port() == 0 && l.addr.ip() == addr.ip()))
        });
        if let Some(l) = passed {
            return Ok(l.addr);
        }
        let same = previous.iter().enumerate().position(|(i, l)| {
            !taken[i] && !l.passed && l.asked == addr && l.tls == tls && l.proxied == proxied
        });
        let fd = match same {
            Some(i) => {
                taken[i] = true;
                previous[i].fd.clone()
            }
            None => Arc::new(net::listen(addr, BACKLOG).map_err(|e| listen_error(addr, e))?),
        };
        // The port actually bound (an ephemeral one resolved), for --redirect-https.
        let bound = net::local_addr(&fd).unwrap_or(addr);
        out.push(Listener {
            fd,
            addr: bound,
            asked: addr,
            tls,
            proxied,
            passed: false,
            inherited: false,
        });
        Ok(bound)
    };
    for a in cfg.listen.iter_mut() {
        *a = open(*a, false, false)?;
    }
    #[cfg(feature = "ops")]
    for a in cfg.proxy_listen.iter_mut() {
        *a = open(*a, false, true)?;
    }
    for a in cfg.tls_listen.iter_mut() {
        *a = open(*a, true, false)?;
    }
    #[cfg(feature = "ops")]
    for a in cfg.proxy_tls_listen.iter_mut() {
        *a = open(*a, true, true)?;
    }
    // Plain first, then TLS, each kind in the order above.
    let (plain, tls): (Vec<Listener>, Vec<Listener>) = out.into_iter().partition(|l| !l.tls);
    let mut out = plain;
    out.extend(tls);
    for l in out.iter().filter(|l| l.inherited) {
        let given = if l.tls {
            &mut cfg.tls_listen
        } else {
            &mut cfg.listen
        };
        if !given.contains(&l.addr) {
            given.insert(0, l.addr);
        }
    }
    Ok(out)
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
        let mailbox = Arc::new(crate::worker::Mailbox::new(Some(waker.clone())));
        let w = Worker::new(
            id,
            shared,
            mailbox,
            poller,
            WorkerLog::new(sink),
            trace_out.clone(),
        );
        w.watch(waker.fd(), Token::Waker, Interest::Readable)?;
        for (i, l) in w.served.listeners.iter().enumerate() {
            w.watch(&*l.fd, Token::Listener(i), Interest::Listener)?;
        }
        for (i, c) in w.caches.iter().enumerate() {
            if let Some(fd) = c.watch_fd() {
                w.watch(fd, Token::Watch(i), Interest::Readable)?;
            }
        }
        let now = w.now;
        Ok(EventLoop {
            w,
            waker,
            conns: Slab::default(),
            ready: Vec::with_capacity(EVENTS),
            yielded: Vec::new(),
            yielded_spare: Vec::new(),
            verdicts: Vec::new(),
            reserve: fs::open_reserve(),
            accepted: Vec::with_capacity(ACCEPT_BATCH),
            accept_paused_until: None,
            next_sweep: now + TICK_MS,
            grace_until: u64::MAX,
        })
    }

    fn run(mut self) {
        loop {
            // A reload: take the new configuration up between two passes, so that every
            // event of a pass refers to the listeners and caches it was registered for.
            if let Some(old) = self.w.take_up() {
                self.take_up(&old);
            }
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
            for e in &self.ready {
                if let Token::Watch(i) = Token::from_raw(e.token)
                    && let Some(c) = self.w.caches.get_mut(i)
                {
                    c.on_changes();
                }
            }
            let mut woken = false;
            for i in 0..self.ready.len() {
                let ev = self.ready[i];
                match Token::from_raw(ev.token) {
                    Token::Watch(_) => {}
                    Token::Waker => {
                        self.waker.reset();
                        woken = true;
                        // Other workers may have asked this one to make room.
                        let asked = self.w.shared.evict[self.w.id].swap(0, Ordering::Relaxed);
                        for _ in 0..asked {
                            if !self.evict_idle_only() {
                                break;
                            }
                        }
                        self.take_verdicts();
                    }
                    // New connections after the others (below).
                    Token::Listener(_) => {}
                    Token::Conn(id) => {
                        if let Some(idx) = self.conns.index(id) {
                            if let Some(c) = self.conns.slots[idx].as_mut() {
                                c.on_event(ev.readable, ev.writable, ev.hangup, ev.closed);
                            }
                            self.drive(idx);
                        }
                    }
                    // The CGI program's pipes: the connection reads or writes them itself.
                    Token::Pipe(id) => {
                        if let Some(idx) = self.conns.index(id) {
                            self.drive(idx);
                        }
                    }
                }
            }
            // Accept after every other event of the batch: a client whose request arrived in
            // this batch has been read by now, so a full server looking for an idle
            // connection to close does not take it for one.
            for i in 0..self.ready.len() {
                if let Token::Listener(li) = Token::from_raw(self.ready[i].token) {
                    sys::trace::woke();
                    self.accept(li);
                }
            }
            // A stop (or an upgrade's drain) begins after this batch's new connections are
            // taken, and they are drained with the others. A listener's wake-up is exclusive
            // (EPOLLEXCLUSIVE: one waiter per connection): one this worker left unanswered
            // would wake nobody else, and after an upgrade the connection waited in the
            // backlog until the next one arrived (tests/upgrade.rs saw a client wait 30 s
            // about once in 12 runs).
            if woken {
                self.begin_shutdown();
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

    /// Credentials verified off the loop: remember each verdict, and drive the connection
    /// that waits for it.
    fn take_verdicts(&mut self) {
        let mut list = std::mem::take(&mut self.verdicts);
        self.w.mailbox.take(&mut list);
        for v in list.drain(..) {
            self.w.auth_cache.record(&v.token, v.ok, v.generation);
            if let Some(idx) = self.conns.index(v.conn)
                && self.conns.slots[idx].as_mut().is_some_and(Conn::resume)
            {
                self.drive(idx);
            }
        }
        self.verdicts = list;
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
            Next::Yield => self.yielded.push(self.conns.id(idx)),
            Next::Close => self.close(idx),
        }
    }

    fn close(&mut self, idx: usize) {
        if let Some(mut c) = self.conns.remove(idx) {
            // A response cut short is logged now, with what it sent.
            c.on_close(&mut self.w);
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
                for (i, l) in self.w.served.listeners.iter().enumerate() {
                    let _ = self.w.watch(&*l.fd, Token::Listener(i), Interest::Listener);
                }
            }
        }
        for idx in 0..self.conns.slots.len() {
            let Some(c) = self.conns.slots[idx].as_mut() else {
                continue;
            };
            if c.deadline() <= now {
                let next = guarded(c, &mut self.w, Conn::on_timeout);
                self.after(idx, next);
            }
        }
    }

    /// The worker took up a new configuration (`Worker::take_up`): watch its listeners
    /// under their new numbers and its caches' change watchers (the old caches' watchers
    /// closed with them).
    fn take_up(&mut self, old: &Served) {
        for l in &old.listeners {
            let _ = self.w.poller.delete(&*l.fd);
        }
        if !self.w.shutting_down && self.accept_paused_until.is_none() {
            for (i, l) in self.w.served.listeners.iter().enumerate() {
                let _ = self.w.watch(&*l.fd, Token::Listener(i), Interest::Listener);
            }
        }
        for (i, c) in self.w.caches.iter().enumerate() {
            if let Some(fd) = c.watch_fd() {
                let _ = self.w.watch(fd, Token::Watch(i), Interest::Readable);
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.w.shutting_down || !self.w.shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        self.w.shutting_down = true;
        self.grace_until = self.w.now + GRACE_MS;
        for l in &self.w.served.listeners {
            let _ = self.w.poller.delete(&*l.fd);
        }
        for idx in 0..self.conns.slots.len() {
            let Some(c) = self.conns.slots[idx].as_mut() else {
                continue;
            };
            let next = c.on_shutdown(upgrade::handed_over());
            self.after(idx, next);
        }
    }
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
        sys::log_error(format_args!(
            "barehttpd: a request handler panicked (worker {}); {what}",
            w.id
        ));
        next
    })
}
