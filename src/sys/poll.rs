//! Readiness notification: one edge-triggered poller per worker (epoll on Linux, kqueue on
//! macOS), and a `Waker` to wake a worker from another thread.
//!
//! Both backends give the same `Poller`, `Waker`, `Ready` and `Interest`; what each does with
//! them is in its own file (`poll/epoll.rs`, `poll/kqueue.rs`).

#[cfg(target_os = "linux")]
mod epoll;
#[cfg(target_os = "linux")]
pub use epoll::{Poller, Waker};

#[cfg(target_os = "macos")]
mod kqueue;
#[cfg(target_os = "macos")]
pub use kqueue::{Poller, Waker};

/// One readiness report.
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    pub token: u64,
    pub readable: bool,
    pub writable: bool,
    /// Error or hang-up: the connection should be read to find out what happened.
    pub hangup: bool,
    /// The peer is gone entirely (HUP or ERR, not a half-close).
    pub closed: bool,
}

/// How a file descriptor is watched.
#[derive(Clone, Copy)]
pub enum Interest {
    /// A connection: readable and writable, edge-triggered, so one registration serves the
    /// whole life of the connection with no epoll_ctl (kevent) per request.
    Stream,
    /// A listening socket shared by all workers, level-triggered. On Linux with
    /// EPOLLEXCLUSIVE, so one incoming connection wakes one worker, not all of them; kqueue
    /// has no such flag, so on macOS every worker wakes and all but one find nothing to accept.
    Listener,
    /// A waker or other level-triggered readable source.
    Readable,
}
