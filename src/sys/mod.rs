//! The operating-system layer: every syscall the server makes, and every `unsafe`, lives here.
//!
//! Above this module the code is OS-neutral: it sees a `Poller` with readiness events, sockets
//! that read, write and sendfile, and a `open_beneath` that cannot leave the document root.
//! Two backends share that surface, chosen at compile time:
//! - Linux: epoll, openat2(RESOLVE_BENEATH), sendfile, accept4, eventfd, inotify, O_TMPFILE.
//! - macOS: kqueue, a component-by-component openat walk, sendfile(2), accept + fcntl,
//!   EVFILT_USER, EVFILT_VNODE, create-and-unlink temporary files, SO_NOSIGPIPE.
//!
//! Where the two differ, the module holds both versions side by side under
//! `#[cfg(target_os = ...)]` (or, for `poll` and `watch`, one submodule each), and says in its
//! doc comment what the macOS version does differently. Calls go through `rustix` except the
//! few that rustix leaves to libc (signals, macOS sendfile and sysctl).
//!
//! Because each kernel call passes through one small function here, `--trace` can record and
//! show every syscall a request caused (`trace.rs`); each wrapper does its call inside
//! `traced!`, and every descriptor is an `OwnedFd` of this module whose close is traced too.
//! Calls are named as strace (Linux) or dtruss (macOS) names them.

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
compile_error!("barehttpd has a Linux (epoll) and a macOS (kqueue) backend, and no other");

/// Run a syscall expression, recording it when tracing is on: `traced!("name", ("fmt",
/// args), call)`. With tracing off this is the call plus one branch. `traced!(wait "name",
/// ...)` records the call that waits for readiness, which is counted apart (`trace::woke`).
macro_rules! traced {
    (wait $name:expr, ($($arg:tt)*), $call:expr) => {{
        let t = $crate::sys::trace::start();
        let r = $call;
        if let Some(t) = t {
            $crate::sys::trace::done_wait(t, $name, format!($($arg)*), $crate::sys::trace::Shown::shown(&r));
        }
        r
    }};
    ($name:expr, ($($arg:tt)*), $call:expr) => {{
        let t = $crate::sys::trace::start();
        let r = $call;
        if let Some(t) = t {
            $crate::sys::trace::done(t, $name, format!($($arg)*), $crate::sys::trace::Shown::shown(&r));
        }
        r
    }};
}

pub mod alloc;
pub mod fs;
#[cfg(feature = "ops")]
pub mod handover;
pub mod mem;
pub mod net;
pub mod poll;
mod process;
pub mod signal;
pub mod time;
pub mod trace;
#[cfg(feature = "ops")]
pub mod user;
pub mod watch;

pub use process::{getpid, kill_group, process_exists, random, spawn_program, try_wait};

/// Write one line to the error log (the server's stderr) with one traced `write(2, ...)`, so
/// that `--trace` shows it among the calls of the request that caused it (a CGI program's
/// stderr, a program that failed). One write per line keeps lines from two workers whole.
pub fn log_error(line: std::fmt::Arguments<'_>) {
    let mut buf = std::fmt::format(line);
    buf.push('\n');
    let _ = fs::write_all(std::io::stderr(), buf.as_bytes());
}
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

/// The error of the libc call that just failed (for the few calls made through libc).
fn last_errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)
}

/// Result of a syscall wrapper.
pub type Result<T> = core::result::Result<T, Errno>;

/// Raise the soft limit on open files to the hard limit, so that `--max-connections` is not
/// cut short by a default of 1024 (256 on macOS). Returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    let target = nofile_ceiling(lim.maximum);
    if lim.current != target {
        lim.current = target;
        let _ = setrlimit(Resource::Nofile, lim);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// The highest soft limit the kernel accepts: the hard limit.
#[cfg(target_os = "linux")]
fn nofile_ceiling(hard: Option<u64>) -> Option<u64> {
    hard
}

/// The highest soft limit the kernel accepts. macOS reports an unlimited hard limit but
/// refuses (EINVAL) a soft limit above `kern.maxfilesperproc`.
#[cfg(target_os = "macos")]
fn nofile_ceiling(hard: Option<u64>) -> Option<u64> {
    let mut per_proc: libc::c_int = 0;
    let mut size = core::mem::size_of::<libc::c_int>();
    // SAFETY: the name is a NUL-terminated string; `per_proc` and `size` are valid for writes
    // and `size` holds the byte size of `per_proc`, as sysctlbyname requires; no new value
    // is set (null pointer, length 0).
    let rc = unsafe {
        libc::sysctlbyname(
            c"kern.maxfilesperproc".as_ptr(),
            (&raw mut per_proc).cast(),
            &mut size,
            core::ptr::null_mut(),
            0,
        )
    };
    // OPEN_MAX (10240) is what the kernel allowed before the sysctl existed.
    let cap = if rc == 0 && per_proc > 0 {
        per_proc as u64
    } else {
        10240
    };
    Some(hard.map_or(cap, |h| h.min(cap)))
}

/// Number of CPUs this process may run on: the CPUs of its affinity mask, fewer if its
/// cgroup (v2, as containers see it at /sys/fs/cgroup) grants less CPU time than that.
/// (The standard library's `available_parallelism` walks every cgroup mount for the same
/// answer, and costs about 12 KB of binary.)
#[cfg(target_os = "linux")]
pub fn cpu_count() -> usize {
    let cpus = traced!(
        "sched_getaffinity",
        ("0"),
        rustix::thread::sched_getaffinity(None).map(|set| set.count() as usize)
    )
    .map_or(1, |n| n.max(1));
    let quota = std::fs::read_to_string("/sys/fs/cgroup/cpu.max")
        .ok()
        .and_then(|s| cgroup_cpus(&s));
    quota.map_or(cpus, |q| q.clamp(1, cpus))
}

/// CPUs' worth of time in a cgroup v2 `cpu.max` ("QUOTA PERIOD", or "max PERIOD" for no
/// limit), rounded up.
#[cfg(target_os = "linux")]
fn cgroup_cpus(cpu_max: &str) -> Option<usize> {
    let mut it = cpu_max.split_ascii_whitespace();
    let quota: u64 = it.next()?.parse().ok()?;
    let period: u64 = it.next()?.parse().ok()?;
    (period > 0).then(|| quota.div_ceil(period) as usize)
}

/// Number of CPUs this process may run on.
#[cfg(not(target_os = "linux"))]
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn cgroup_cpu_max() {
        assert_eq!(cgroup_cpus("max 100000\n"), None);
        assert_eq!(cgroup_cpus("200000 100000\n"), Some(2));
        assert_eq!(cgroup_cpus("150000 100000"), Some(2));
        assert_eq!(cgroup_cpus("50000 100000"), Some(1));
        assert_eq!(cgroup_cpus("1 0"), None);
        assert_eq!(cgroup_cpus(""), None);
        assert!(cpu_count() >= 1);
    }
}
