//! Child processes (CGI programs): starting one with nothing inherited, asking whether it
//! has exited, killing its process group; the process's own id, and whether another
//! process exists.
//!
//! The standard library does most of the work (`Command::spawn`, `Child::try_wait`): the
//! trace shows a start, which is several calls, as one `spawn`, and a collection as the
//! wait4 it makes. Where the two systems differ is how the program is executed
//! (`spawn_program`): on Linux the file the server opened and checked, through its
//! descriptor; on macOS, which cannot do that, by path after a last check in the child.

use super::{BorrowedFd, Errno, trace};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

/// Start the program the server opened as `exe` (and checked: `fs::open_beneath` keeps it
/// beneath the root and refuses symlinks), with `env` as its whole environment and `cmd`'s
/// standard streams, directory and process group. It inherits nothing but its three
/// standard descriptors (and, for a script on Linux, its own source; see below): in the
/// child, just before exec, every descriptor from 3 up is marked close-on-exec, including
/// any the server itself inherited without the flag. (Marked, not closed: the standard
/// library reports a failed exec through a close-on-exec pipe it still needs.) `path` is
/// the program's path, for argv[0] and, on macOS, the exec.
///
/// Linux: the child executes the descriptor, not the path, with
/// `execveat(exe, "", argv, envp, AT_EMPTY_PATH)`, so a symlink or another file swapped in
/// under the name after the check is never run. The kernel runs a `#!` script as
/// `interpreter /dev/fd/N`, which the interpreter opens; for a script (its first two bytes
/// are `#!`) descriptor N therefore stays open across the exec: the program sees its own
/// source, read-only, as one more descriptor, and `$0` (Python: `sys.argv[0]`) is
/// `/dev/fd/N`: a script finds its neighbours through SCRIPT_FILENAME, which still names
/// the file, or its working directory, the script's own. A compiled program gets the
/// descriptor close-on-exec, so it has only the three; a format run by another
/// interpreter (binfmt_misc), which the kernel refuses with a close-on-exec descriptor
/// (ENOENT), is tried once more with it open. A kernel without execveat (before 3.19)
/// gets `execve("/proc/self/fd/N")`, the same opened file through /proc. argv, envp and
/// that path are built before the fork: the child allocates nothing.
///
/// macOS has neither execveat nor fexecve, so the program is executed by path (by the
/// standard library). Just before, the child checks that the path still names the file
/// that was opened (stat against the descriptor's fstat: device and inode) and fails the
/// start otherwise; a swap in the microseconds between that stat and the execve is not
/// seen.
pub fn spawn_program(
    cmd: &mut Command,
    exe: BorrowedFd<'_>,
    path: &Path,
    env: &[(OsString, OsString)],
    what: &str,
) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let exec = Exec::new(exe, path, env)?;
    #[cfg(target_os = "macos")]
    cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    // Linux: the environment goes to execveat; the standard library's is never used.
    #[cfg(target_os = "linux")]
    cmd.env_clear();
    // SAFETY: the closure runs in the forked child before exec. It makes only
    // async-signal-safe system calls (close_range or fcntl, then execveat/execve, or stat
    // on macOS), allocates nothing (`Exec` was built before the fork, and a last_os_error
    // is a plain errno), and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            mark_inherited_cloexec(3);
            exec.run()
        });
    }
    launch(cmd, what)
}

/// What the child needs to execute the opened program, built before the fork.
#[cfg(target_os = "linux")]
struct Exec {
    fd: std::os::fd::RawFd,
    /// A `#!` script: the descriptor must stay open for its interpreter.
    script: bool,
    /// `/proc/self/fd/N`, for kernels without execveat.
    proc_path: CString,
    /// The strings `argv` and `envp` point into (each CString's bytes stay where they are
    /// when the struct moves).
    _strings: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

// SAFETY: the pointers point into `_strings`, owned by the same struct and never changed
// after `new`, so the struct can move to and be read from another thread like the
// CStrings themselves (std's `pre_exec` asks for Send + Sync).
#[cfg(target_os = "linux")]
unsafe impl Send for Exec {}
// SAFETY: as for Send: nothing is ever written through the pointers.
#[cfg(target_os = "linux")]
unsafe impl Sync for Exec {}

#[cfg(target_os = "linux")]
impl Exec {
    fn new(
        exe: BorrowedFd<'_>,
        path: &Path,
        env: &[(OsString, OsString)],
    ) -> std::io::Result<Exec> {
        use super::AsRawFd;
        let fd = exe.as_raw_fd();
        let mut magic = [0u8; 2];
        let script = super::fs::pread_full(exe, &mut magic, 0) == 2 && magic == *b"#!";
        let nul = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
        let mut strings = Vec::with_capacity(1 + env.len());
        strings.push(CString::new(path.as_os_str().as_bytes()).map_err(nul)?);
        for (k, v) in env {
            strings.push(env_entry(k, v)?);
        }
        Ok(Exec {
            fd,
            script,
            proc_path: CString::new(format!("/proc/self/fd/{fd}")).map_err(nul)?,
            argv: with_null(&strings[..1]),
            envp: with_null(&strings[1..]),
            _strings: strings,
        })
    }

    /// In the child: execute the opened file. Returns only if that failed.
    fn run(&self) -> std::io::Result<()> {
        let errno = || std::io::Error::last_os_error().raw_os_error();
        if self.script {
            self.keep_open()?;
        }
        self.exec();
        if !self.script && errno() == Some(libc::ENOENT) {
            // Another format run by an interpreter (binfmt_misc) needs /dev/fd/N too: for a
            // close-on-exec descriptor the kernel answers ENOENT.
            self.keep_open()?;
            self.exec();
        }
        Err(std::io::Error::last_os_error())
    }

    /// In the child: leave the descriptor open across the exec.
    fn keep_open(&self) -> std::io::Result<()> {
        // SAFETY: fcntl(F_SETFD) takes no pointer and is async-signal-safe.
        if unsafe { libc::fcntl(self.fd, libc::F_SETFD, 0) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// In the child: execveat of the descriptor, or on a kernel without it execve of its
    /// /proc name. Returns (with errno set) only if the exec failed.
    fn exec(&self) {
        // SAFETY: execveat and execve get NUL-terminated strings and NULL-terminated
        // pointer arrays owned by `self`, alive for the call; both are async-signal-safe.
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                self.fd,
                c"".as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                libc::execve(
                    self.proc_path.as_ptr(),
                    self.argv.as_ptr(),
                    self.envp.as_ptr(),
                );
            }
        }
    }
}

/// `K=V` as a C string for an `envp` array; a NUL byte in either is InvalidInput.
#[cfg(any(target_os = "linux", feature = "ops"))]
pub(super) fn env_entry(k: &std::ffi::OsStr, v: &std::ffi::OsStr) -> std::io::Result<CString> {
    let mut kv = Vec::with_capacity(k.len() + 1 + v.len());
    kv.extend_from_slice(k.as_bytes());
    kv.push(b'=');
    kv.extend_from_slice(v.as_bytes());
    CString::new(kv).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

/// Pointers to `strings`, then NULL: an `argv` or `envp` array for exec (valid while the
/// strings are).
#[cfg(any(target_os = "linux", feature = "ops"))]
pub(super) fn with_null(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// What the child needs to check the path before the exec, built before the fork.
#[cfg(target_os = "macos")]
struct Exec {
    path: CString,
    /// Device and inode of the file that was opened.
    opened: (u64, u64),
}

#[cfg(target_os = "macos")]
impl Exec {
    fn new(
        exe: BorrowedFd<'_>,
        path: &Path,
        _env: &[(OsString, OsString)],
    ) -> std::io::Result<Exec> {
        let st = super::fs::fstat(exe).map_err(std::io::Error::from)?;
        let path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        Ok(Exec {
            path,
            opened: (st.st_dev, st.st_ino),
        })
    }

    /// In the child: Ok if the path still names the opened file (the standard library then
    /// executes it by path), else ENOENT.
    fn run(&self) -> std::io::Result<()> {
        // SAFETY: an all-zero `struct stat` is a valid value of the type (integers only).
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: stat is async-signal-safe; the path is NUL-terminated and `st` is valid
        // for writes, both owned here for the call.
        if unsafe { libc::stat(self.path.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if (st.st_dev as u32 as u64, st.st_ino) != self.opened {
            return Err(std::io::Error::from_raw_os_error(libc::ENOENT));
        }
        Ok(())
    }
}

/// `cmd.spawn()`, traced as one `spawn`. That includes closing what the command held for
/// the child (a file given as its stdin): the command's standard streams are reset once
/// the child has its copies, instead of being closed, untraced, whenever the caller drops
/// the command.
pub(super) fn launch(cmd: &mut Command, what: &str) -> std::io::Result<Child> {
    let t = trace::start();
    let r = cmd.spawn();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(t) = t {
        let shown = match &r {
            Ok(c) => (format!("pid {}", c.id()), 0),
            Err(e) => (format!("-1 {e}"), 0),
        };
        trace::done(t, "spawn", format!("{what:?}"), shown);
    }
    if let Ok(c) = &r {
        // A pid collected before belongs to this child now (see `COLLECTED`).
        collected().retain(|&p| p != c.id());
    }
    r
}

/// Runs in a forked child: set FD_CLOEXEC on every descriptor from `from` up.
pub(super) fn mark_inherited_cloexec(from: u32) {
    #[cfg(target_os = "linux")]
    {
        const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
        // SAFETY: a raw close_range(2) with integer arguments; no memory is passed.
        let r =
            unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, CLOSE_RANGE_CLOEXEC) };
        if r == 0 {
            return;
        }
    }
    // Older kernels and macOS: one fcntl per possible descriptor.
    // SAFETY: getdtablesize and fcntl(F_SETFD) are async-signal-safe and take no pointers.
    unsafe {
        let max = libc::getdtablesize().clamp(3, 65_536);
        for fd in (from as i32)..max {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

/// Whether a started program has exited, collecting its exit if so (`Ok(None)` while it
/// runs), as `Child::try_wait` answers. Traced as the wait4(PID, WNOHANG) that the standard
/// library makes (its waitpid, which libc makes as wait4 on both systems).
///
/// Once it has collected an exit, the standard library keeps the status and answers the
/// same child again from memory, with no syscall. So that the trace shows only calls made,
/// pids collected are remembered (`COLLECTED`) and a second ask about one is not traced.
/// (Collecting with rustix's waitpid instead would leave the `Child` unaware of the exit:
/// asked again it would wait on a pid that may by then be another process's.)
pub fn try_wait(child: &mut Child) -> std::io::Result<Option<ExitStatus>> {
    let pid = child.id();
    {
        let mut list = collected();
        if let Some(i) = list.iter().position(|&p| p == pid) {
            list.remove(i);
            drop(list);
            return child.try_wait();
        }
    }
    let t = trace::start();
    let r = child.try_wait();
    if let Some(t) = t {
        trace::done(t, "wait4", format!("{pid}, WNOHANG"), exit_shown(pid, &r));
    }
    if let Ok(Some(_)) = r {
        let mut list = collected();
        if list.len() >= COLLECTED_KEPT {
            list.remove(0);
        }
        list.push(pid);
    }
    r
}

/// Pids whose exit `try_wait` has collected, oldest first: the standard library answers a
/// second ask about one from memory. A pid leaves when asked about again, when `launch` gives
/// it to a new child, or when `COLLECTED_KEPT` newer ones push it out.
static COLLECTED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Collected pids remembered. The second ask comes while the same request is handled (a
/// run's drop after `crashed`), long before 64 more programs exit; an ask that came later
/// would be traced although answered from memory, nothing worse.
const COLLECTED_KEPT: usize = 64;

fn collected() -> std::sync::MutexGuard<'static, Vec<u32>> {
    // The list holds plain pids, whole after any panic: a poisoned lock is still usable.
    COLLECTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A wait4 result as strace shows it: 0 while the child runs, else its pid and how it ended.
fn exit_shown(pid: u32, r: &std::io::Result<Option<ExitStatus>>) -> (String, u64) {
    use std::os::unix::process::ExitStatusExt;
    let text = match r {
        Ok(None) => "0".to_string(),
        Ok(Some(st)) => match (st.code(), st.signal()) {
            (Some(code), _) => format!("{pid} (exit {code})"),
            (None, Some(sig)) => format!("{pid} (signal {sig})"),
            (None, None) => pid.to_string(),
        },
        Err(e) => match e.raw_os_error() {
            Some(n) => trace::errno_name(Errno::from_raw_os_error(n)),
            None => format!("-1 {e}"),
        },
    };
    (text, 0)
}

/// This process's id. A syscall each time (glibc stopped caching it in 2.25), which
/// `std::process::id` makes untraced.
pub fn getpid() -> u32 {
    let t = trace::start();
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    if let Some(t) = t {
        trace::done(t, "getpid", String::new(), (pid.to_string(), 0));
    }
    pid
}

/// Fill `buf` with bytes from the kernel's random source, for what must not be guessed
/// (WebDAV lock tokens): getrandom(2) on Linux, getentropy(2) on macOS (at most 256 bytes a
/// call there, which is all any caller asks).
pub fn random(buf: &mut [u8]) -> Result<(), Errno> {
    #[cfg(target_os = "linux")]
    {
        let mut done = 0;
        while done < buf.len() {
            let n = traced!(
                "getrandom",
                ("{}", buf.len() - done),
                rustix::rand::getrandom(&mut buf[done..], rustix::rand::GetRandomFlags::empty())
            );
            match n {
                Ok(n) => done += n,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
    #[cfg(target_os = "macos")]
    {
        traced!("getentropy", ("{}", buf.len()), {
            // SAFETY: the pointer and length are those of a live, writable slice.
            let r = unsafe { libc::getentropy(buf.as_mut_ptr().cast(), buf.len()) };
            if r == 0 {
                Ok(())
            } else {
                Err(super::last_errno())
            }
        })
    }
}

/// Whether a process with this id exists: kill(pid, 0), which sends nothing. ESRCH is the
/// only answer taken for "no such process"; EPERM (it exists, another user's) and anything
/// unexpected count as alive, and so does a zombie, which the kernel still lists. An id no
/// process can have (0, which would ask about our own group, or above `i32::MAX`) counts as
/// alive too: the caller removes things only for a "no".
pub fn process_exists(pid: u32) -> bool {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    let r = traced!("kill", ("{pid}, 0"), rustix::process::test_kill_process(p));
    r != Err(Errno::SRCH)
}

/// Kill a program's whole process group (it leads the group: pgid == pid).
pub fn kill_group(pid: u32) {
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = traced!(
            "kill",
            ("-{pid}, SIGKILL"),
            rustix::process::kill_process_group(p, rustix::process::Signal::KILL)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn wait_exit(child: &mut Child) -> ExitStatus {
        for _ in 0..5000 {
            if let Some(st) = try_wait(child).unwrap() {
                return st;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("the child did not exit within 5 s");
    }

    #[test]
    fn try_wait_collects_an_exit_once_and_remembers_it() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 3"]);
        let mut child = launch(&mut cmd, "exit 3").unwrap();
        let pid = child.id();
        assert_eq!(wait_exit(&mut child).code(), Some(3));
        assert!(collected().contains(&pid));
        // Asked again, the standard library answers from memory (no wait4 to trace), and
        // the pid is forgotten.
        assert_eq!(
            try_wait(&mut child).unwrap().and_then(|s| s.code()),
            Some(3)
        );
        assert!(!collected().contains(&pid));

        let mut cmd = Command::new("sleep");
        cmd.arg("10");
        let mut child = launch(&mut cmd, "sleep").unwrap();
        assert!(try_wait(&mut child).unwrap().is_none(), "still running");
        child.kill().unwrap();
        assert_eq!(wait_exit(&mut child).signal(), Some(9));
    }

    #[test]
    fn getpid_is_the_process_id() {
        assert_eq!(getpid(), std::process::id());
    }

    #[test]
    fn process_exists_says_no_only_for_a_process_gone() {
        assert!(process_exists(getpid()));
        // pid 1 exists and, for a user other than root, answers EPERM: still alive.
        assert!(process_exists(1));
        let mut cmd = Command::new("true");
        let mut child = launch(&mut cmd, "true").unwrap();
        let pid = child.id();
        assert!(wait_exit(&mut child).success());
        // Collected, so not a zombie: gone (the kernel hands out ids in turn, so it is not
        // given again this soon).
        assert!(!process_exists(pid));
        // Never asked about: ids no process can have.
        assert!(process_exists(0));
        assert!(process_exists(u32::MAX));
    }
}
