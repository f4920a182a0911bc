//! The operating-system layer: every syscall the server makes, and every `unsafe`, lives here.
//!
//! Above this module the code is OS-neutral: it sees a `Poller` with readiness events, sockets
//! that read, write and sendfile, and a `open_beneath` that cannot leave the document root.
//! Linux is the one backend today (epoll, openat2, sendfile, accept4, eventfd); a kqueue
//! backend can sit beside it with the same surface. Calls go through `rustix` (raw syscalls,
//! no libc) except the few signal calls that rustix leaves to libc.
//!
//! Because each kernel call passes through one small function here, the server can later
//! record and show every syscall a request caused.

pub mod fs;
pub mod net;
pub mod poll;
pub mod signal;
pub mod time;
pub mod watch;

pub use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
pub use rustix::io::Errno;

/// Result of a syscall wrapper.
pub type Result<T> = core::result::Result<T, Errno>;

/// Raise the soft limit on open files to the hard limit, so that `--max-connections` is not
/// cut short by a default of 1024. Returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        lim.current = lim.maximum;
        let _ = setrlimit(Resource::Nofile, lim);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Number of CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
