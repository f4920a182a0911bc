//! Recording the syscalls each request causes (`--trace`).
//!
//! Every wrapper in `sys` calls `start` before its syscall and `done` after it. With tracing
//! off, `start` is one load of a flag and one predictable branch, and nothing else happens.
//! With tracing on, each call is recorded in a thread-local list with its arguments, result
//! and duration; the worker moves the list to the connection it was driving, and the
//! connection prints it when a response is complete (`conn/http1`).
//!
//! The printed trace goes through `TraceOut`: workers append text to a shared buffer with
//! `try_lock` (never a syscall, never waiting), and a writer thread takes the buffer every
//! few milliseconds. So the trace of a request contains only the calls made for it, not calls
//! made to print traces.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static ON: AtomicBool = AtomicBool::new(false);

/// Turn recording on for the whole process (at start-up).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

#[inline(always)]
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// One recorded syscall.
#[derive(Clone, Debug)]
pub struct Call {
    pub name: &'static str,
    pub args: String,
    pub result: String,
    pub start: Instant,
    pub nanos: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The call that waited for readiness (epoll_pwait, kevent): its time is idleness.
    pub wait: bool,
    /// Not a call: what a layer above the kernel did (`note`), shown in its place.
    pub note: bool,
}

thread_local! {
    static CALLS: RefCell<Vec<Call>> = const { RefCell::new(Vec::new()) };
    static LAST_WAIT: RefCell<Option<Call>> = const { RefCell::new(None) };
    static BUSY_FROM: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The calls made for one connection since its last traced response, and the time the
/// worker spent working for it (in the kernel or not).
#[derive(Default)]
pub struct Log {
    pub calls: Vec<Call>,
    pub busy_ns: u64,
}

/// Before a syscall: the start time if tracing is on.
#[inline(always)]
pub fn start() -> Option<Instant> {
    if enabled() {
        Some(Instant::now())
    } else {
        None
    }
}

/// How a syscall's result is shown, and how many bytes it moved.
pub trait Shown {
    fn shown(&self) -> (String, u64);
}

impl Shown for super::Result<usize> {
    fn shown(&self) -> (String, u64) {
        match self {
            Ok(n) => (n.to_string(), *n as u64),
            Err(e) => (errno_name(*e), 0),
        }
    }
}

impl Shown for super::Result<()> {
    fn shown(&self) -> (String, u64) {
        match self {
            Ok(()) => ("0".into(), 0),
            Err(e) => (errno_name(*e), 0),
        }
    }
}

impl Shown for super::Result<rustix::fd::OwnedFd> {
    fn shown(&self) -> (String, u64) {
        use rustix::fd::AsRawFd;
        match self {
            Ok(fd) => (fd.as_raw_fd().to_string(), 0),
            Err(e) => (errno_name(*e), 0),
        }
    }
}

impl Shown for super::Result<i32> {
    fn shown(&self) -> (String, u64) {
        match self {
            Ok(n) => (n.to_string(), 0),
            Err(e) => (errno_name(*e), 0),
        }
    }
}

impl Shown for super::Result<super::fs::Stat> {
    fn shown(&self) -> (String, u64) {
        match self {
            Ok(st) => (format!("0 (size {})", st.st_size), 0),
            Err(e) => (errno_name(*e), 0),
        }
    }
}

impl Shown for super::Result<std::ffi::CString> {
    fn shown(&self) -> (String, u64) {
        match self {
            Ok(s) => (s.as_bytes().len().to_string(), 0),
            Err(e) => (errno_name(*e), 0),
        }
    }
}

/// After a syscall: record it (only called when `start` returned a time).
#[inline(never)]
pub fn done(t: Instant, name: &'static str, args: String, shown: (String, u64)) {
    let call = record(t, name, args, shown, false);
    CALLS.with(|c| c.borrow_mut().push(call));
}

/// After the call that waited for readiness: keep it for the connection it wakes (`woke`).
#[inline(never)]
pub fn done_wait(t: Instant, name: &'static str, args: String, shown: (String, u64)) {
    let call = record(t, name, args, shown, true);
    LAST_WAIT.with(|w| *w.borrow_mut() = Some(call));
}

fn record(t: Instant, name: &'static str, args: String, shown: (String, u64), wait: bool) -> Call {
    let nanos = t.elapsed().as_nanos() as u64;
    let (result, bytes) = shown;
    let (bytes_in, bytes_out) = match name {
        "read" | "pread64" | "pread" | "recvfrom" => (bytes, 0),
        "write" | "writev" | "sendto" | "sendfile" => (0, bytes),
        _ => (0, 0),
    };
    Call {
        name,
        args,
        result,
        start: t,
        nanos,
        bytes_in,
        bytes_out,
        wait,
        note: false,
    }
}

/// Record what a layer above the kernel did (`layer`: "tls" for the handshake and the
/// records of a request, "compress" for a file compressed on the fly), shown among the calls
/// where it happened.
pub fn note(layer: &'static str, text: String) {
    if !enabled() {
        return;
    }
    let mut call = record(Instant::now(), layer, text, (String::new(), 0), false);
    call.nanos = 0;
    call.note = true;
    CALLS.with(|c| c.borrow_mut().push(call));
}

/// The worker is about to act for one connection because of the last readiness wait: count
/// that wait once in this connection's calls.
pub fn woke() {
    if !enabled() {
        return;
    }
    let wait = LAST_WAIT.with(|w| w.borrow_mut().take());
    if let Some(w) = wait {
        CALLS.with(|c| c.borrow_mut().push(w));
    }
    BUSY_FROM.with(|b| b.set(Some(Instant::now())));
}

/// Move the calls recorded on this thread, and the time worked since `woke`, into `to`.
pub fn take_into(to: &mut Log) {
    if !enabled() {
        return;
    }
    CALLS.with(|c| to.calls.append(&mut c.borrow_mut()));
    let now = Instant::now();
    if let Some(t) = BUSY_FROM.with(|b| b.replace(Some(now))) {
        to.busy_ns += now.saturating_duration_since(t).as_nanos() as u64;
    }
}

/// Forget calls recorded on this thread (made for no connection in particular).
pub fn discard() {
    if enabled() {
        CALLS.with(|c| c.borrow_mut().clear());
    }
}

/// Render one request's trace. The time a readiness wait (epoll_pwait, kevent) spent waiting
/// is shown on its line but counted in neither total: it is idleness, not work.
pub fn render(out: &mut Vec<u8>, line: &[u8], status: u16, log: &Log) {
    let _ = writeln!(out, "{} -> {status}", String::from_utf8_lossy(line));
    let (mut kernel, mut bytes_in, mut bytes_out) = (0u64, 0u64, 0u64);
    for c in &log.calls {
        if c.note {
            let _ = writeln!(out, "  {}: {}", c.name, c.args);
            continue;
        }
        let call = format!("{}({}) = {}", c.name, c.args, c.result);
        let _ = writeln!(out, "  {call:<72} {:>7} us", micros(c.nanos));
        if !c.wait {
            kernel += c.nanos;
        }
        bytes_in += c.bytes_in;
        bytes_out += c.bytes_out;
    }
    let calls = log.calls.iter().filter(|c| !c.note).count();
    let own = log.busy_ns.saturating_sub(kernel);
    let _ = writeln!(
        out,
        "  = {} calls, {bytes_in} bytes read, {bytes_out} written; {} us in the kernel, {} us in barehttpd\n",
        calls,
        micros(kernel),
        micros(own)
    );
}

/// Nanoseconds as microseconds with one decimal, rounded: 10_460 → "10.5".
fn micros(ns: u64) -> String {
    let tenths = ns.saturating_add(50) / 100;
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// Where traces are printed: a buffer shared with a writer thread.
#[derive(Clone)]
pub struct TraceOut {
    buf: Arc<Mutex<Vec<u8>>>,
}

/// Most bytes waiting for the writer; past this, traces are dropped (and counted).
const MAX_PENDING: usize = 8 << 20;

impl TraceOut {
    /// Start the writer thread.
    pub fn start(mut dest: Box<dyn Write + Send>) -> TraceOut {
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let shared = buf.clone();
        std::thread::Builder::new()
            .name("trace-writer".into())
            .spawn(move || {
                let mut local = Vec::new();
                loop {
                    std::thread::sleep(Duration::from_millis(20));
                    if let Ok(mut b) = shared.lock() {
                        std::mem::swap(&mut *b, &mut local);
                    }
                    if !local.is_empty() {
                        let _ = dest.write_all(&local).and_then(|()| dest.flush());
                        local.clear();
                    }
                }
            })
            .expect("spawn the trace writer");
        TraceOut { buf }
    }

    /// Append text for the writer, keeping it in `pending` if the writer holds the buffer.
    pub fn push(&self, pending: &mut Vec<u8>) {
        if pending.is_empty() {
            return;
        }
        if let Ok(mut b) = self.buf.try_lock() {
            if b.len() < MAX_PENDING {
                b.extend_from_slice(pending);
            }
            pending.clear();
        } else if pending.len() > MAX_PENDING {
            pending.clear();
        }
    }
}

/// The errno's name, as strace prints it.
pub fn errno_name(e: super::Errno) -> String {
    use super::Errno as E;
    let n = match e {
        E::AGAIN => "EAGAIN",
        E::NOENT => "ENOENT",
        E::INTR => "EINTR",
        E::PIPE => "EPIPE",
        E::CONNRESET => "ECONNRESET",
        E::NOTDIR => "ENOTDIR",
        E::ISDIR => "EISDIR",
        E::EXIST => "EEXIST",
        E::ACCESS => "EACCES",
        E::PERM => "EPERM",
        E::XDEV => "EXDEV",
        E::LOOP => "ELOOP",
        E::INVAL => "EINVAL",
        E::BADF => "EBADF",
        E::MFILE => "EMFILE",
        E::NFILE => "ENFILE",
        E::NOSPC => "ENOSPC",
        E::NOSYS => "ENOSYS",
        E::NOTEMPTY => "ENOTEMPTY",
        E::NOTCONN => "ENOTCONN",
        E::CONNABORTED => "ECONNABORTED",
        // A dead property that is not there (`fs::tree::NO_XATTR`).
        E::NODATA => "ENODATA",
        E::NOTSUP => "EOPNOTSUPP",
        E::TOOBIG => "E2BIG",
        _ => return format!("-1 E{}", e.raw_os_error()),
    };
    format!("-1 {n}")
}
