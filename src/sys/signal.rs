//! Signals. SIGINT, SIGTERM, SIGHUP and SIGUSR2 are blocked in every thread and taken
//! synchronously by the main thread with sigwait, so no async-signal handler runs: workers
//! are told to stop through their `Waker`, a reload is done by the main thread itself.
//! SIGPIPE is ignored: a peer that vanishes mid-write gives EPIPE (on macOS each socket also
//! has SO_NOSIGPIPE, `net.rs`). The same libc calls serve both systems.

/// What a signal asks of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT or SIGTERM: finish what is in flight and stop.
    Stop,
    /// SIGHUP: read the configuration and the certificates again.
    Reload,
    /// SIGUSR2: start a new binary on the same listening sockets, then stop.
    Upgrade,
}

fn server_set() -> libc::sigset_t {
    // SAFETY: the sigset is initialised by sigemptyset before any other use; sigaddset
    // takes valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR2] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Block the server's signals in the calling thread (and the threads it spawns later), and
/// ignore SIGPIPE for the whole process.
pub fn block_shutdown_signals() {
    let set = server_set();
    // SAFETY: pthread_sigmask reads the initialised set; signal takes valid arguments.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Wait for one of the server's signals (blocked beforehand) and say what it asks.
pub fn wait() -> Signal {
    let set = server_set();
    let mut sig: libc::c_int = 0;
    // SAFETY: sigwait reads the initialised set and writes the signal number into `sig`.
    while unsafe { libc::sigwait(&set, &mut sig) } != 0 {}
    match sig {
        libc::SIGHUP => Signal::Reload,
        libc::SIGUSR2 => Signal::Upgrade,
        _ => Signal::Stop,
    }
}

/// Wait for SIGINT or SIGTERM, taking (and ignoring) the others meanwhile.
pub fn wait_shutdown_signal() {
    while wait() != Signal::Stop {}
}

/// Take one of the server's signals if one is pending and of the kinds in `kinds`, without
/// waiting; the others stay pending for `wait`. For the main thread while it waits for
/// something else (an upgrade's new process) and must still answer signals.
#[cfg(feature = "ops")]
pub fn take_pending(kinds: &[Signal]) -> Option<Signal> {
    let all = server_set();
    // SAFETY: sigpending writes the initialised set; sigismember reads the initialised
    // sets; sigwait reads a set holding one signal that is pending (so it returns at once)
    // and writes the signal number into `sig`.
    unsafe {
        let mut pending: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut pending);
        if libc::sigpending(&mut pending) != 0 {
            return None;
        }
        for (s, kind) in [
            (libc::SIGINT, Signal::Stop),
            (libc::SIGTERM, Signal::Stop),
            (libc::SIGHUP, Signal::Reload),
            (libc::SIGUSR2, Signal::Upgrade),
        ] {
            if !kinds.contains(&kind)
                || libc::sigismember(&all, s) != 1
                || libc::sigismember(&pending, s) != 1
            {
                continue;
            }
            let mut one: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&mut one);
            libc::sigaddset(&mut one, s);
            let mut sig: libc::c_int = 0;
            if libc::sigwait(&one, &mut sig) == 0 {
                return Some(kind);
            }
        }
    }
    None
}
