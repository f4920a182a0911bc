//! Signals. SIGINT and SIGTERM are blocked in every thread and taken synchronously by the
//! main thread with sigwait, so no async-signal handler runs and workers are told to stop
//! through their `Waker`. SIGPIPE is ignored: a peer that vanishes mid-write gives EPIPE (on
//! macOS each socket also has SO_NOSIGPIPE, `net.rs`). The same libc calls serve both systems.

/// Block SIGINT and SIGTERM in the calling thread (and the threads it spawns later), and
/// ignore SIGPIPE for the whole process.
pub fn block_shutdown_signals() {
    // SAFETY: the sigset is initialised by sigemptyset before use; pthread_sigmask and
    // signal are async-signal-safe libc calls with valid arguments.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Wait for SIGINT or SIGTERM (blocked beforehand) and return its number.
pub fn wait_shutdown_signal() -> i32 {
    // SAFETY: as above; sigwait writes the signal number into `sig`.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let mut sig: libc::c_int = 0;
        while libc::sigwait(&set, &mut sig) != 0 {}
        sig
    }
}
