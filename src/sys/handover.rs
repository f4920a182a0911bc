//! Handing the listening sockets to a new process (the binary upgrade on SIGUSR2,
//! `server/upgrade.rs`), and, in that new process, telling the old one it is ready.
//!
//! The sockets go the way systemd passes them (sd_listen_fds(3)), so the new process takes
//! them with the code that takes systemd's (`config::activation`, `net::adopt_listener`):
//! descriptors 3, 4, ... in order, `LISTEN_FDS` (how many), `LISTEN_FDNAMES` (their kinds)
//! and `LISTEN_PID`, the new process's own id. That id exists only after the fork, and the
//! environment must be built before it (the forked child of a threaded process may not
//! allocate), so the environment holds `LISTEN_PID=` followed by room for ten digits, which
//! the child fills in place with its getpid() just before the exec. One more descriptor
//! follows the sockets: the write end of a pipe, named by `BAREHTTPD_READY_FD`, on which the
//! new process writes one byte once it serves (`tell_ready`); the old one waits for that byte
//! (`wait_ready`), and takes the pipe's end (EOF) without it for a start that failed.
//!
//! What this does not do: decide when to hand over or what to do after; the server does.

use super::process::{env_entry, launch, mark_inherited_cloexec, with_null};
use super::{AsFd, AsRawFd, BorrowedFd, Errno, OwnedFd};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command};

/// The variable that names the readiness pipe's descriptor in the new process.
pub const READY_FD_VAR: &str = "BAREHTTPD_READY_FD";

/// The variables this module sets; any the old process itself was given are not passed on.
const SET_HERE: [&str; 4] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", READY_FD_VAR];

/// `LISTEN_PID=`: the child writes its pid's digits after it, then a NUL.
const PID_PREFIX: &[u8] = b"LISTEN_PID=";
/// Digits of the largest pid (u32).
const PID_DIGITS: usize = 10;

/// Start `exe` with `argv` (argv[0] included) and the environment `env` (less the variables
/// set here), with `listeners` as descriptors 3, 4, ... (each with its `LISTEN_FDNAMES`
/// name) and the write end of a new pipe after them. Returns the child and the pipe's read
/// end, for `wait_ready`. The child's standard streams are this process's.
pub fn spawn(
    exe: &Path,
    argv: &[OsString],
    env: &[(OsString, OsString)],
    listeners: &[(BorrowedFd<'_>, &str)],
) -> std::io::Result<(Child, OwnedFd)> {
    use std::os::unix::process::CommandExt;
    let (reader, writer) = std::io::pipe()?;
    let n = listeners.len();
    let mut sources: Vec<i32> = listeners.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
    sources.push(writer.as_fd().as_raw_fd());
    let names: Vec<&str> = listeners.iter().map(|(_, name)| *name).collect();
    let mut vars: Vec<(OsString, OsString)> = env
        .iter()
        .filter(|(k, _)| !SET_HERE.iter().any(|s| k.as_bytes() == s.as_bytes()))
        .cloned()
        .collect();
    vars.push(("LISTEN_FDS".into(), n.to_string().into()));
    vars.push(("LISTEN_FDNAMES".into(), names.join(":").into()));
    vars.push((READY_FD_VAR.into(), (3 + n).to_string().into()));
    let mut handover = Handover::new(exe, argv, &vars, sources)?;
    let mut cmd = Command::new(exe);
    cmd.env_clear();
    // SAFETY: the closure runs in the forked child before exec. It makes only
    // async-signal-safe calls (fcntl, dup2, close_range or fcntl, getpid, execve), writes
    // only into memory `Handover` allocated before the fork, allocates nothing and takes no
    // lock.
    unsafe {
        cmd.pre_exec(move || handover.run());
    }
    let child = launch(&mut cmd, "upgrade");
    drop(writer);
    Ok((child?, OwnedFd::from_std(reader)))
}

/// What the new process is doing, as the readiness pipe tells.
#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    /// It wrote its byte: it serves.
    Ready,
    /// The pipe closed without one: it exited (or closed the pipe) before serving.
    Gone,
    /// Nothing yet.
    Starting,
}

/// Wait at most `ms` for the new process to say it is ready (or to be gone).
pub fn wait_ready(ready: &OwnedFd, ms: u16) -> Readiness {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let raw = ready.as_fd().as_raw_fd();
    let mut fds = [PollFd::new(ready, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: i64::from(ms / 1000),
        tv_nsec: (i32::from(ms % 1000) * 1_000_000).into(),
    };
    let polled = traced!(
        wait "poll",
        ("[{raw} IN], {ms}"),
        rustix::event::poll(&mut fds, Some(&timeout))
    );
    if !matches!(polled, Ok(1..)) {
        return Readiness::Starting;
    }
    let mut byte = [0u8; 1];
    match traced!("read", ("{raw}, 1"), rustix::io::read(ready, &mut byte)) {
        Ok(1..) => Readiness::Ready,
        Ok(0) => Readiness::Gone,
        Err(Errno::AGAIN | Errno::INTR) => Readiness::Starting,
        Err(_) => Readiness::Gone,
    }
}

/// In the new process, before it opens anything: take the readiness pipe that
/// `READY_FD_VAR` names (close-on-exec from now on, so no CGI program inherits it), which
/// follows the `listen_fds` sockets passed. None when the variable is absent, malformed,
/// names one of the sockets or the standard three, or no open descriptor.
pub fn adopt_ready_fd(value: &str, listen_fds: i32) -> Option<OwnedFd> {
    use rustix::fd::FromRawFd;
    let first_free = listen_fds.checked_add(3)?;
    let raw: i32 = value.trim().parse().ok().filter(|&fd| fd >= first_free)?;
    let set = traced!(
        "fcntl",
        ("{raw}, F_SETFD, FD_CLOEXEC"),
        // SAFETY: fcntl(F_SETFD) on a descriptor number touches only the descriptor table;
        // on a number that is not open it fails with EBADF.
        match unsafe { libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC) } {
            -1 => Err(super::last_errno()),
            _ => Ok(()),
        }
    );
    set.ok()?;
    // SAFETY: the descriptor is open (above) and owned by nothing else in this process: it
    // was inherited, and is taken once, before the server opens anything of its own.
    Some(OwnedFd::new(unsafe {
        rustix::fd::OwnedFd::from_raw_fd(raw)
    }))
}

/// In the new process, once it serves: tell the old one (then the pipe closes on drop).
pub fn tell_ready(ready: OwnedFd) {
    let raw = ready.as_fd().as_raw_fd();
    let _ = traced!(
        "write",
        ("{raw}, \"1\", 1"),
        rustix::io::write(&ready, b"1")
    );
}

/// What the child needs to put the descriptors in place and execute the program, built
/// before the fork.
struct Handover {
    path: CString,
    /// The strings `argv` and `envp` point into (each CString's bytes stay where they are
    /// when the struct moves).
    _strings: Vec<CString>,
    /// `LISTEN_PID=` and room for the digits and a NUL, which the child fills in;
    /// `pid_at` points at its first digit.
    _pid_entry: Vec<u8>,
    pid_at: *mut u8,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    /// The descriptors to pass, in order, and room for their copies above the targets.
    sources: Vec<i32>,
    moved: Vec<i32>,
}

// SAFETY: the pointers point into `_strings` and `_pid_entry`, owned by the same struct and
// never reallocated after `new`; only the child, after the fork, writes through `pid_at`.
// The struct can move to another thread like the buffers themselves (std's `pre_exec` asks
// for Send + Sync).
unsafe impl Send for Handover {}
// SAFETY: as for Send: nothing is written through the pointers before the fork.
unsafe impl Sync for Handover {}

impl Handover {
    fn new(
        exe: &Path,
        argv: &[OsString],
        env: &[(OsString, OsString)],
        sources: Vec<i32>,
    ) -> std::io::Result<Handover> {
        let nul = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
        let mut strings = Vec::with_capacity(argv.len() + env.len());
        for a in argv {
            strings.push(CString::new(a.as_bytes()).map_err(nul)?);
        }
        for (k, v) in env {
            strings.push(env_entry(k, v)?);
        }
        let mut pid_entry = PID_PREFIX.to_vec();
        pid_entry.resize(PID_PREFIX.len() + PID_DIGITS + 1, 0);
        let entry = pid_entry.as_mut_ptr();
        // SAFETY: PID_PREFIX.len() is within the buffer just sized; the pointer stays valid
        // as long as the Vec, which is never resized again.
        let pid_at = unsafe { entry.add(PID_PREFIX.len()) };
        let mut envp = with_null(&strings[argv.len()..]);
        envp.insert(envp.len() - 1, entry.cast_const().cast());
        Ok(Handover {
            path: CString::new(exe.as_os_str().as_bytes()).map_err(nul)?,
            argv: with_null(&strings[..argv.len()]),
            envp,
            _strings: strings,
            _pid_entry: pid_entry,
            pid_at,
            moved: vec![-1; sources.len()],
            sources,
        })
    }

    /// In the child: the descriptors to 3, 4, ..., everything else close-on-exec, the pid
    /// written, then execve. Returns only if something failed.
    fn run(&mut self) -> std::io::Result<()> {
        let err = std::io::Error::last_os_error;
        let above = 3 + self.sources.len() as i32;
        // SAFETY: fcntl(F_DUPFD_CLOEXEC), dup2 and getpid take integers and are
        // async-signal-safe; the writes through `pid_at` stay within the PID_DIGITS + 1
        // bytes reserved after it; execve gets NUL-terminated strings and NULL-terminated
        // pointer arrays owned by `self`, alive for the call.
        unsafe {
            // Copies above the targets first, so that no descriptor still to be passed is
            // overwritten by an earlier dup2 (a socket systemd passed may already sit at
            // 3.., in another order), and so that each target gets a fresh copy (dup2 onto
            // itself would leave close-on-exec set).
            for (m, &fd) in self.moved.iter_mut().zip(&self.sources) {
                *m = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, above);
                if *m < 0 {
                    return Err(err());
                }
            }
            for (target, &m) in (3..).zip(&self.moved) {
                if libc::dup2(m, target) < 0 {
                    return Err(err());
                }
            }
            mark_inherited_cloexec(above as u32);
            let mut pid = libc::getpid() as u32;
            let mut digits = [0u8; PID_DIGITS];
            let mut len = 0;
            loop {
                digits[len] = b'0' + (pid % 10) as u8;
                len += 1;
                pid /= 10;
                if pid == 0 {
                    break;
                }
            }
            for i in 0..len {
                self.pid_at.add(i).write(digits[len - 1 - i]);
            }
            self.pid_at.add(len).write(0);
            libc::execve(self.path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr());
        }
        Err(err())
    }
}

/// Collect a started process that failed: give it `grace_ms` to exit by itself (it closed
/// the readiness pipe, so it is on its way out), else kill it (SIGKILL), then wait for it.
/// Returns how it ended, for the log.
pub fn reap(child: &mut Child, grace_ms: u64) -> String {
    let end = super::time::monotonic_ms() + grace_ms;
    loop {
        match super::try_wait(child) {
            Ok(Some(st)) => return st.to_string(),
            Ok(None) if super::time::monotonic_ms() < end => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            _ => break,
        }
    }
    // The standard library's kill and blocking wait (untraced: the main thread's, at most
    // once per upgrade).
    let _ = child.kill();
    match child.wait() {
        Ok(st) => format!("killed: {st}"),
        Err(e) => format!("killed; wait: {e}"),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn wait_for(ready: &OwnedFd) -> Readiness {
        for _ in 0..100 {
            match wait_ready(ready, 100) {
                Readiness::Starting => {}
                r => return r,
            }
        }
        Readiness::Starting
    }

    /// A shell started as an upgrade starts the new server checks what it was given: its
    /// own pid in LISTEN_PID (written after the fork), the listener at 3, the pipe at 4,
    /// not a descriptor this process left inheritable, then says it is ready.
    #[test]
    fn the_child_gets_its_pid_the_sockets_at_3_and_the_pipe_after_them() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // Above the numbers the child is given (tests in parallel free and take low ones).
        let null = std::fs::File::open("/dev/null").unwrap();
        let leak = rustix::io::fcntl_dupfd_cloexec(&null, 100).unwrap();
        rustix::io::fcntl_setfd(&leak, rustix::io::FdFlags::empty()).unwrap();
        let script = r#"set -e
test "$LISTEN_PID" = "$$"
test "$LISTEN_FDS" = 1
test "$LISTEN_FDNAMES" = http
test "$BAREHTTPD_READY_FD" = 4
test "$KEPT" = yes
case "$(readlink /proc/$$/fd/3)" in socket:*) ;; *) exit 10 ;; esac
case "$(readlink /proc/$$/fd/4)" in pipe:*) ;; *) exit 11 ;; esac
test ! -e /proc/$$/fd/$LEAK || exit 12
printf 1 >&4
"#;
        let argv: Vec<OsString> = ["sh", "-c", script].iter().map(|s| s.into()).collect();
        let env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), std::env::var_os("PATH").unwrap_or_default()),
            ("KEPT".into(), "yes".into()),
            ("LEAK".into(), leak.as_raw_fd().to_string().into()),
            // Replaced, not passed on.
            ("LISTEN_PID".into(), "1".into()),
            ("LISTEN_FDS".into(), "7".into()),
        ];
        let (mut child, ready) =
            spawn(Path::new("/bin/sh"), &argv, &env, &[(l.as_fd(), "http")]).unwrap();
        let said = wait_for(&ready);
        let how = reap(&mut child, 5_000);
        assert_eq!((said, how.as_str()), (Readiness::Ready, "exit status: 0"));
    }

    #[test]
    fn a_child_that_exits_before_it_is_ready_is_gone_and_collected() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let argv: Vec<OsString> = ["sh", "-c", "exit 3"].iter().map(|s| s.into()).collect();
        let (mut child, ready) =
            spawn(Path::new("/bin/sh"), &argv, &[], &[(l.as_fd(), "https")]).unwrap();
        assert_eq!(wait_for(&ready), Readiness::Gone);
        assert_eq!(reap(&mut child, 5_000), "exit status: 3");
        // A program that is not there: the start fails, or the child ends at once.
        let missing = spawn(Path::new("/nonexistent/barehttpd"), &argv, &[], &[]);
        if let Ok((mut child, ready)) = missing {
            assert_eq!(wait_for(&ready), Readiness::Gone);
            reap(&mut child, 5_000);
        }
    }
}
