//! The operating-system layer: every syscall the server makes, and every `unsafe`, lives here.
//!
//! Above this module the code is OS-neutral: it sees a `Poller` with readiness events, sockets
//! that read, write and sendfile, and a `open_beneath` that cannot leave the document root.
//! Linux is the one backend today (epoll, openat2, sendfile, accept4, eventfd); a kqueue
//! backend can sit beside it with the same surface. Calls go through `rustix` (raw syscalls,
//! no libc) except the few signal calls that rustix leaves to libc.
//!
//! Because each kernel call passes through one small function here, `--trace` can record and
//! show every syscall a request caused (`trace.rs`); each wrapper does its call inside
//! `traced!`, and every descriptor is an `OwnedFd` of this module whose close is traced too.

/// Run a syscall expression, recording it when tracing is on: `traced!("name", ("fmt",
/// args), call)`. With tracing off this is the call plus one branch.
macro_rules! traced {
    ($name:literal, ($($arg:tt)*), $call:expr) => {{
        let t = $crate::sys::trace::start();
        let r = $call;
        if let Some(t) = t {
            $crate::sys::trace::done(t, $name, format!($($arg)*), $crate::sys::trace::Shown::shown(&r));
        }
        r
    }};
}

pub mod fs;
pub mod net;
pub mod poll;
pub mod signal;
pub mod time;
pub mod trace;
pub mod watch;

pub use rustix::fd::{AsFd, AsRawFd, BorrowedFd};

/// An open descriptor, closed (and the close traced) when dropped.
#[derive(Debug)]
pub struct OwnedFd(Option<rustix::fd::OwnedFd>);

impl OwnedFd {
    pub(crate) fn new(fd: rustix::fd::OwnedFd) -> OwnedFd {
        OwnedFd(Some(fd))
    }

    /// Take a descriptor from the standard library (a child's pipe).
    pub fn from_std(fd: impl Into<std::os::fd::OwnedFd>) -> OwnedFd {
        OwnedFd(Some(fd.into()))
    }

    /// Hand the descriptor to the standard library as a file (its close is not traced).
    pub fn into_file(mut self) -> std::fs::File {
        std::fs::File::from(self.0.take().expect("open descriptor"))
    }
}

impl AsFd for OwnedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_ref().expect("open descriptor").as_fd()
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        if let Some(fd) = self.0.take() {
            let raw = fd.as_raw_fd();
            let t = trace::start();
            drop(fd);
            if let Some(t) = t {
                trace::done(t, "close", raw.to_string(), ("0".into(), 0));
            }
        }
    }
}

/// Make a descriptor non-blocking.
pub fn set_nonblocking(fd: impl AsFd) -> Result<()> {
    let fd = fd.as_fd();
    traced!(
        "ioctl",
        ("{}, FIONBIO, [1]", fd.as_raw_fd()),
        rustix::io::ioctl_fionbio(fd, true)
    )
}
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
