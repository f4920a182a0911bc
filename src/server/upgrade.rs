//! Binary upgrade without refusing a connection (SIGUSR2), and which listeners a stop may
//! shut down.
//!
//! On SIGUSR2 the main thread starts the program again (the path `std::env::current_exe`
//! gave at start-up: after a package upgrade that path names the new binary, while
//! /proc/self/exe would name the old, deleted one), with the same arguments and
//! environment, and hands it every listening socket the way systemd passes them
//! (`sys::handover`): the new process takes them as socket-activated listeners, each with
//! its kind in its name (`http`, `https`, `proxy`, `proxy-tls`; `config::Activated`). Until
//! the new process says it serves (a byte on the readiness pipe, written once its workers
//! run, `tell_ready`), the old one serves as before; then it drains as on SIGTERM, except
//! that it leaves the listening sockets alone: they are the new process's now. Connections
//! that arrive meanwhile wait in the shared backlog and are taken by whichever process
//! accepts first, so none is refused. A new process that exits, or is not serving within
//! `READY_TIMEOUT_MS`, is collected (killed if need be) and the old one goes on serving.
//!
//! A stop must not shut down (shutdown(2)) a listening socket that someone else holds too:
//! on Linux, `shutdown(SHUT_RDWR)` on a listening socket acts on the socket, not on the
//! descriptor, so it stops listening for every process that holds it. Checked on 6.18 with
//! two processes holding one socket: after one shut it down, a connection already queued
//! was reset, a new one was refused, and the other process's accept failed with EINVAL.
//! Sockets systemd passed (it keeps them for the next start) and sockets handed over by an
//! upgrade are therefore only taken out of the workers' epoll sets on a stop, and closed at
//! exit; connections queued meanwhile wait for the next process. An upgrade tells the new
//! process which of the sockets the old one had made itself (`OWN_FDS_VAR`): once the old
//! one has gone they are the new one's alone, and its stop shuts them down as usual, so
//! that clients are refused at once rather than left in a backlog nobody will accept.
//!
//! What this does not do: pick the moment (the signal does), or restart under systemd,
//! which tracks the main process (README, "Upgrading the binary").

use super::Server;

/// What the main thread does after a SIGUSR2.
#[cfg_attr(not(feature = "ops"), allow(dead_code))]
pub enum AfterUpgrade {
    /// The upgrade failed or was refused: serve on as before.
    Serving,
    /// A stop was asked while the new process started: it was killed; stop as asked.
    Stop,
    /// The new process serves on the listening sockets: drain, leaving them alone.
    HandedOver,
}

#[cfg(feature = "ops")]
pub use with_ops::*;

#[cfg(not(feature = "ops"))]
mod without_ops {
    use super::{AfterUpgrade, Server};
    pub fn record_start() {}
    pub fn started_by_upgrade() -> bool {
        false
    }
    pub fn tell_ready() {}
    pub fn handed_over() -> bool {
        false
    }

    /// Without `ops` no listener is passed.
    pub fn own(_: i32) -> bool {
        false
    }
    pub fn hand_over(_: &Server) -> AfterUpgrade {
        eprintln!("barehttpd: SIGUSR2: this build has no upgrade (cargo feature `ops`)");
        AfterUpgrade::Serving
    }
}
#[cfg(not(feature = "ops"))]
pub use without_ops::*;

#[cfg(feature = "ops")]
mod with_ops {
    use super::{AfterUpgrade, Server};
    use crate::sys::handover::{self, READY_FD_VAR, Readiness};
    use crate::sys::signal::{self, Signal};
    use crate::sys::{self, AsFd, OwnedFd, time};
    use std::ffi::OsString;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, OnceLock};

    /// How long the new process may take to serve (bind, read certificates, start its
    /// workers) before the old one gives up on it: a start takes milliseconds, unless ACME
    /// or a slow disk holds it up.
    const READY_TIMEOUT_MS: u64 = 10_000;
    /// How often the wait looks at signals (a second SIGUSR2, a stop) meanwhile.
    const POLL_MS: u16 = 100;
    /// A new process that closed the readiness pipe gets this long to exit before it is
    /// killed.
    const EXIT_GRACE_MS: u64 = 1_000;
    /// The descriptors, among those passed, that the old process had made itself.
    const OWN_FDS_VAR: &str = "BAREHTTPD_OWN_FDS";

    /// What was known at start-up.
    struct Start {
        exe: std::io::Result<PathBuf>,
        argv: Vec<OsString>,
        /// The readiness pipe, from the process that started this one, until it is told.
        ready: Mutex<Option<OwnedFd>>,
        /// Passed descriptors this process may shut down: the old process made them.
        own: Vec<i32>,
        by_upgrade: bool,
    }

    static START: OnceLock<Start> = OnceLock::new();

    /// The listening sockets were handed to a new process: the drain serves connections
    /// accepted but not yet answered (`Http1::on_shutdown`).
    static HANDED_OVER: AtomicBool = AtomicBool::new(false);

    pub fn handed_over() -> bool {
        HANDED_OVER.load(Ordering::SeqCst)
    }

    /// At the start of `Server::bind`, before anything is opened: the program's path and
    /// arguments, and, in a process an upgrade started, the readiness pipe. The variables are
    /// believed only when `LISTEN_PID` names this process, as the sockets are.
    pub fn record_start() {
        let var = |k| std::env::var(k).ok();
        let for_us = var("LISTEN_PID").and_then(|p| p.trim().parse::<u32>().ok())
            == Some(std::process::id());
        let listen_fds = var("LISTEN_FDS").and_then(|n| n.trim().parse().ok());
        let ready = var(READY_FD_VAR)
            .filter(|_| for_us)
            .and_then(|v| handover::adopt_ready_fd(&v, listen_fds?));
        let own = var(OWN_FDS_VAR)
            .filter(|_| ready.is_some())
            .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default();
        let _ = START.set(Start {
            exe: std::env::current_exe(),
            argv: std::env::args_os().collect(),
            by_upgrade: ready.is_some(),
            ready: Mutex::new(ready),
            own,
        });
    }

    /// This process was started by an upgrade: the listening sockets passed are all those
    /// the old process had, so an address given with port 0 is one of them already.
    pub fn started_by_upgrade() -> bool {
        START.get().is_some_and(|s| s.by_upgrade)
    }

    /// Once the workers run: tell the process that started this one (if one did).
    pub fn tell_ready() {
        let fd = START
            .get()
            .and_then(|s| s.ready.lock().ok().and_then(|mut r| r.take()));
        if let Some(fd) = fd {
            handover::tell_ready(fd);
        }
    }

    /// Whether the passed descriptor `raw` is one the process that upgraded to this one had
    /// made itself: then no other process holds it once that one has gone, and a stop may
    /// shut it down (module comment).
    pub fn own(raw: i32) -> bool {
        START.get().is_some_and(|s| s.own.contains(&raw))
    }

    /// SIGUSR2: start the new process and wait for it (module comment).
    pub fn hand_over(server: &Server) -> AfterUpgrade {
        let served = server.shared.served();
        let quiet = served.config.quiet;
        // One write per line (`log_error`): the new process writes to the same stderr.
        let step = |line: std::fmt::Arguments<'_>| {
            if !quiet {
                sys::log_error(format_args!("barehttpd: upgrade: {line}"));
            }
        };
        let fail = |line: std::fmt::Arguments<'_>| {
            sys::log_error(format_args!("barehttpd: upgrade: {line}; still serving"));
        };
        let Some(start) = START.get() else {
            fail(format_args!("not prepared at start-up"));
            return AfterUpgrade::Serving;
        };
        let exe = match &start.exe {
            Ok(p) => p,
            Err(e) => {
                fail(format_args!("cannot tell this program's path: {e}"));
                return AfterUpgrade::Serving;
            }
        };
        let listeners: Vec<_> = served
            .listeners
            .iter()
            .map(|l| {
                let name = match (l.tls, l.proxied) {
                    (false, false) => "http",
                    (true, false) => "https",
                    (false, true) => "proxy",
                    (true, true) => "proxy-tls",
                };
                (l.fd.as_fd(), name)
            })
            .collect();
        // The new process's numbers (3, 4, ...) of the sockets this one made itself.
        let own: Vec<String> = (3..)
            .zip(&served.listeners)
            .filter(|(_, l)| !l.inherited)
            .map(|(n, _)| n.to_string())
            .collect();
        let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| k != OWN_FDS_VAR)
            .collect();
        env.push((OWN_FDS_VAR.into(), own.join(",").into()));
        let (mut child, ready) = match handover::spawn(exe, &start.argv, &env, &listeners) {
            Ok(started) => started,
            Err(e) => {
                fail(format_args!("cannot start {}: {e}", exe.display()));
                return AfterUpgrade::Serving;
            }
        };
        let pid = child.id();
        step(format_args!("started pid {pid} ({})", exe.display()));
        let deadline = time::monotonic_ms() + READY_TIMEOUT_MS;
        loop {
            match handover::wait_ready(&ready, POLL_MS) {
                Readiness::Ready => {
                    HANDED_OVER.store(true, Ordering::SeqCst);
                    step(format_args!("pid {pid} serving; draining"));
                    return AfterUpgrade::HandedOver;
                }
                Readiness::Gone => {
                    let how = handover::reap(&mut child, EXIT_GRACE_MS);
                    fail(format_args!("pid {pid} ended before it served ({how})"));
                    return AfterUpgrade::Serving;
                }
                Readiness::Starting => {}
            }
            while let Some(sig) = signal::take_pending(&[Signal::Upgrade, Signal::Stop]) {
                if sig == Signal::Stop {
                    let how = handover::reap(&mut child, 0);
                    sys::log_error(format_args!(
                        "barehttpd: upgrade: stop asked while pid {pid} started ({how})"
                    ));
                    return AfterUpgrade::Stop;
                }
                sys::log_error(format_args!(
                    "barehttpd: SIGUSR2 refused: an upgrade is under way (pid {pid})"
                ));
            }
            if time::monotonic_ms() >= deadline {
                let how = handover::reap(&mut child, 0);
                fail(format_args!(
                    "pid {pid} not serving after {} s ({how})",
                    READY_TIMEOUT_MS / 1000
                ));
                return AfterUpgrade::Serving;
            }
        }
    }
}
