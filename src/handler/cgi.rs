//! CGI/1.1 (RFC 3875): finding the program, building its environment from nothing, starting
//! it, and its pipes: request body into its stdin (`feed`), its stderr to the error log
//! (`pump_stderr`), its output read and its header block turned into the client's response
//! head (`read_output`, `answer_head`; the header rules are `http::cgi`'s). The HTTP session
//! decides when to call these, from the same event loop as sockets, with backpressure both
//! ways; it frames the body (chunks) and never touches the pipes itself.
//!
//! A program runs in its own process group, so a timeout or a vanished client kills it and
//! everything it started. Its descriptors are only the three pipes (every descriptor the
//! server opens is close-on-exec), and for a script on Linux its own source, which its
//! interpreter reads (`sys::spawn_program`). A run is dropped when its answer is complete
//! (or abandoned), and a program still running then is killed with its process group: one
//! that closes its output and goes on working in the background is stopped too (as it is
//! when its client leaves). Its exit is collected then or, if it takes a moment to die, by
//! the worker's timer, so none stays a zombie.
//!
//! A request is for a program in two steps. `prepare` finds the script, checks it, opens it
//! and takes one of the `--cgi-max` slots (a `Slot`), before a byte of the request body is
//! read: a request for nothing runnable is answered at once (404, 403, 503), and a chunked
//! body is spooled only for a program that will run. `start` then runs what `prepare`
//! opened (through its descriptor: `sys::spawn_program`), never what the name may have
//! become meanwhile. The slot goes with the run and is given back when the program is gone.
//!
//! It does not touch the client's socket or write the reply: the connection sends what the
//! program prints. A program that cannot be found or started is an `Error`, which `dispatch`
//! answers.

use super::ctx::Ctx;
use super::error::Error;
use super::reply::Reply;
use crate::http::cgi::{self as cgi_rules, CgiHead};
use crate::http::parse::{Framing, Method, Request, Version};
use crate::http::target;
use crate::sys::{AsFd, Errno, OwnedFd, fs};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Local redirects followed for one request.
pub const MAX_LOCAL_REDIRECTS: u8 = 5;

/// RFC 3875 §6.2.2: the request a local redirect to `loc` stands for, a GET of that path on
/// the program's host, as an HTTP/1.1 head for a session to dispatch (both do). None: `loc`
/// holds a byte that no request target may (a space, a control), and the program failed.
pub fn redirect_head(loc: &[u8], host: &[u8]) -> Option<Vec<u8>> {
    if loc.iter().any(|&b| !(0x21..0x7f).contains(&b)) {
        return None;
    }
    let mut head = b"GET ".to_vec();
    head.extend_from_slice(loc);
    head.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    let host = if crate::http::parse::valid_host(host) {
        host
    } else {
        b"localhost"
    };
    head.extend_from_slice(host);
    head.extend_from_slice(b"\r\n\r\n");
    Some(head)
}

/// `--cgi-max` slots taken, all workers together: programs running, and chunked requests
/// whose body is being spooled for a program (`Slot`).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Children killed or finished whose exit has not been collected yet.
static REAP: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// `--cgi-max` slots taken now, for `--metrics`.
pub fn running() -> usize {
    RUNNING.load(Ordering::Relaxed)
}

/// Collect exited children (called from the workers' timers), so none stays a zombie.
pub fn reap() {
    if let Ok(mut list) = REAP.try_lock() {
        list.retain_mut(|c| !matches!(crate::sys::try_wait(c), Ok(Some(_)) | Err(_)));
    }
}

/// Whether children wait to be collected (or another worker is collecting them now): the
/// workers' timers must keep running until none does.
pub fn reap_pending() -> bool {
    REAP.try_lock().map_or(true, |list| !list.is_empty())
}

/// One of the `--cgi-max` slots, held from `prepare` until the program is gone (or the
/// request ends without one); dropping it gives the slot back.
struct Slot(());

impl Slot {
    /// Take a slot if fewer than `max` are taken. The check and the count are one
    /// compare-and-swap (retried while other workers change the count), so that workers
    /// asking at the same moment cannot all pass a check that none of them has counted yet.
    fn reserve(max: usize) -> Option<Slot> {
        RUNNING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A program found for a request and not started yet: the script, open (what `start` runs),
/// where its name ends in the request path, and its `--cgi-max` slot.
pub struct Program {
    file: OwnedFd,
    /// The decoded request path: the script is `path[..script_end]`, the rest PATH_INFO.
    path: Vec<u8>,
    script_end: usize,
    slot: Slot,
}

/// A chunked request for a program, its body now spooled: the program `prepare` found
/// before the body was read, and the body.
pub struct Spooled {
    pub program: Box<Program>,
    pub body: std::fs::File,
}

/// Whether a decoded path is under a `--cgi` prefix (its rule runs programs).
pub fn is_cgi(ctx: &Ctx, path: &[u8]) -> bool {
    ctx.rule.cgi.is_some_and(|n| path.len() >= n)
}

/// The connection, for REMOTE_* and SERVER_* (its local address is asked for only when a
/// program is started).
#[derive(Clone, Copy)]
pub struct Peers<'a> {
    pub remote: Option<SocketAddr>,
    pub sock: crate::sys::BorrowedFd<'a>,
}

/// A started program.
pub struct Run {
    child: Option<Child>,
    /// Given back when the program is gone (`retire`).
    slot: Option<Slot>,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// The script's URL path, for error-log lines.
    pub script: String,
    /// Response header bytes read so far (until the block is complete).
    pub head: Vec<u8>,
    /// The response head has been sent to the client.
    pub head_sent: bool,
    /// The client's HTTP version allows chunked output.
    pub chunked: bool,
    pub head_only: bool,
    /// The request line and User-Agent, for the access log.
    pub line: Vec<u8>,
    pub agent: Option<Vec<u8>>,
    pub host: Vec<u8>,
    /// Body bytes sent to the client (for the access log).
    pub sent: u64,
    /// Partial stderr line.
    pub err_line: Vec<u8>,
}

impl Drop for Run {
    fn drop(&mut self) {
        self.retire();
    }
}

impl Run {
    /// The program is done with: kill what is left of its process group, leave its exit
    /// to be collected, and give its `--cgi-max` slot back. A local redirect retires the
    /// program that asked for it before the next one takes a slot.
    pub fn retire(&mut self) {
        if let Some(mut child) = self.child.take()
            && !matches!(crate::sys::try_wait(&mut child), Ok(Some(_)))
        {
            // The program leads its own process group (pgid == pid): kill all of it.
            crate::sys::kill_group(child.id());
            if !matches!(crate::sys::try_wait(&mut child), Ok(Some(_)))
                && let Ok(mut list) = REAP.lock()
            {
                list.push(child);
            }
        }
        self.slot = None;
    }

    /// The program's exit, if it has exited: `Some(true)` when it ended by a signal.
    pub fn crashed(&mut self) -> Option<bool> {
        let child = self.child.as_mut()?;
        match crate::sys::try_wait(child) {
            Ok(Some(st)) => Some(st.signal().is_some()),
            _ => None,
        }
    }

    /// Write complete stderr lines to the error log, tagged with the script.
    pub fn log_stderr(&mut self, data: &[u8], flush: bool) {
        self.err_line.extend_from_slice(data);
        while let Some(i) = self.err_line.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.err_line.drain(..=i).collect();
            crate::sys::log_error(format_args!(
                "barehttpd: cgi {}: {}",
                self.script,
                String::from_utf8_lossy(&line[..i]).trim_end()
            ));
        }
        if (flush && !self.err_line.is_empty()) || self.err_line.len() > 4096 {
            crate::sys::log_error(format_args!(
                "barehttpd: cgi {}: {}",
                self.script,
                String::from_utf8_lossy(&self.err_line)
            ));
            self.err_line.clear();
        }
    }
}

/// Find the program for the decoded request path `path`, check that it may run, open it and
/// take a `--cgi-max` slot for it: 404 when there is none, 403 when it is not a regular,
/// executable file, 503 when `--cgi-max` programs already run. Nothing of the request
/// body has been read yet.
pub fn prepare(ctx: &Ctx, path: &[u8]) -> Result<Program, Error> {
    // The script is the first existing regular file along the path; the rest is PATH_INFO.
    let mut found = None;
    // Start after the --cgi prefix: its own segments are directories, not the program.
    let mut end = ctx.rule.cgi.unwrap_or(1).max(1) - 1;
    while end < path.len() {
        end = match path[end + 1..].iter().position(|&b| b == b'/') {
            Some(i) => end + 1 + i,
            None => path.len(),
        };
        let prefix = &path[..end];
        let rel = std::ffi::CString::new(&prefix[1..]).map_err(|_| Error::BadRequest)?;
        let file = match fs::open_beneath(ctx.root, &rel) {
            Ok(f) => f,
            Err(Errno::NOENT | Errno::NOTDIR) => break,
            Err(e) => return Err(Error::Os(e)),
        };
        let Ok(st) = fs::fstat(&file) else { break };
        match fs::FileType::from_raw_mode(st.st_mode) {
            fs::FileType::RegularFile => {
                found = Some((end, st, file));
                break;
            }
            fs::FileType::Directory => continue,
            _ => return Err(Error::Forbidden),
        }
    }
    let Some((script_end, st, file)) = found else {
        return Err(Error::NotFound);
    };
    if st.st_mode & 0o111 == 0 {
        return Err(Error::Forbidden);
    }
    let slot = Slot::reserve(ctx.cfg.cgi_max).ok_or(Error::Busy)?;
    Ok(Program {
        file,
        path: path.to_vec(),
        script_end,
        slot,
    })
}

/// Start `program` (from `prepare`) for `req`. `body_file` is the request body already
/// spooled (chunked requests), if any.
pub fn start(
    req: &Request,
    ctx: &Ctx,
    peers: Peers,
    program: Program,
    body_file: Option<std::fs::File>,
) -> Result<Box<Run>, Error> {
    let Program {
        file,
        path,
        script_end,
        slot,
    } = program;
    let script_name = &path[..script_end];
    let path_info = &path[script_end..];
    let root = &ctx.site.root_path;
    let script_file = root.join(std::ffi::OsStr::from_bytes(&script_name[1..]));
    let env = environment(
        req,
        ctx,
        peers,
        script_name,
        path_info,
        &script_file,
        body_file.as_ref(),
    );

    let mut cmd = Command::new(&script_file);
    cmd.current_dir(script_file.parent().unwrap_or(root))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    match (body_file, req.framing) {
        (Some(f), _) => cmd.stdin(Stdio::from(f)),
        (None, Framing::Length(_)) => cmd.stdin(Stdio::piped()),
        _ => cmd.stdin(Stdio::null()),
    };
    // std's spawn makes several calls (pipe2, clone3, execveat in the child...); the trace
    // shows them as one. What runs is the file opened by `prepare`, not the name.
    let spawned = crate::sys::spawn_program(
        &mut cmd,
        file.as_fd(),
        &script_file,
        &env,
        &String::from_utf8_lossy(script_name),
    );
    drop(file);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            crate::sys::log_error(format_args!(
                "barehttpd: cgi {}: cannot start: {}",
                String::from_utf8_lossy(script_name),
                crate::config::io_reason(&e)
            ));
            return Err(Error::Spawn(Errno::from_io_error(&e).unwrap_or(Errno::IO)));
        }
    };
    let nonblocking = |fd: OwnedFd| {
        let _ = crate::sys::set_nonblocking(&fd);
        fd
    };
    let stdin = child
        .stdin
        .take()
        .map(|s| nonblocking(OwnedFd::from_std(s)));
    let stdout = child
        .stdout
        .take()
        .map(|s| nonblocking(OwnedFd::from_std(s)));
    let stderr = child
        .stderr
        .take()
        .map(|s| nonblocking(OwnedFd::from_std(s)));
    Ok(Box::new(Run {
        child: Some(child),
        slot: Some(slot),
        stdin,
        stdout,
        stderr,
        script: String::from_utf8_lossy(script_name).into_owned(),
        head: Vec::new(),
        head_sent: false,
        chunked: req.version != Version::Http10,
        head_only: req.method == Method::Head,
        line: req.line.to_vec(),
        agent: req.header("user-agent").map(<[u8]>::to_vec),
        host: req.host.unwrap_or(b"").to_vec(),
        sent: 0,
        err_line: Vec::new(),
    }))
}

/// The meta-variables of RFC 3875 §4.1, built from nothing.
fn environment(
    req: &Request,
    ctx: &Ctx,
    peers: Peers,
    script_name: &[u8],
    path_info: &[u8],
    script_file: &std::path::Path,
    body_file: Option<&std::fs::File>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = Vec::with_capacity(32 + req.headers.len());
    let mut set = |k: &str, v: &[u8]| env.push((k.into(), OsString::from_vec(v.to_vec())));
    let t = target::split(req.target).ok();
    let host = req.host.unwrap_or(b"");
    let host_name = match host.iter().rposition(|&b| b == b':') {
        Some(i) if !host.ends_with(b"]") => &host[..i],
        _ => host,
    };
    let local = crate::sys::net::local_addr(peers.sock).ok();
    set("GATEWAY_INTERFACE", b"CGI/1.1");
    set(
        "SERVER_PROTOCOL",
        match req.version {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
            // As Apache's mod_http2 says it: RFC 3875 §4.1.16's "HTTP/" digit "." digit.
            Version::Http2 => b"HTTP/2.0",
        },
    );
    set("SERVER_SOFTWARE", crate::http::response::SERVER.as_bytes());
    let local_ip = local.map(|a| a.ip().to_string()).unwrap_or_default();
    set(
        "SERVER_NAME",
        if host_name.is_empty() {
            local_ip.as_bytes()
        } else {
            host_name
        },
    );
    set(
        "SERVER_PORT",
        local
            .map(|a| a.port().to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    set("SERVER_ADDR", local_ip.as_bytes());
    set("REQUEST_METHOD", req.method_raw);
    set("REQUEST_URI", req.target);
    // Not in RFC 3875, but what programs look for (Apache, nginx and lighttpd set both).
    if ctx.secure {
        set("REQUEST_SCHEME", b"https");
        set("HTTPS", b"on");
    } else {
        set("REQUEST_SCHEME", b"http");
    }
    set("SCRIPT_NAME", script_name);
    set("SCRIPT_FILENAME", script_file.as_os_str().as_bytes());
    set("DOCUMENT_ROOT", ctx.site.root_path.as_os_str().as_bytes());
    if !path_info.is_empty() {
        set("PATH_INFO", path_info);
        let translated = ctx
            .cfg
            .root
            .join(std::ffi::OsStr::from_bytes(&path_info[1..]));
        set("PATH_TRANSLATED", translated.as_os_str().as_bytes());
    }
    set(
        "QUERY_STRING",
        t.as_ref().and_then(|t| t.query).unwrap_or(b""),
    );
    if let Some(a) = peers.remote {
        set("REMOTE_ADDR", a.ip().to_string().as_bytes());
        // Port 0: a forwarded address without one (`X-Forwarded-For`); RFC 3875 makes
        // REMOTE_PORT optional, so it is left out rather than made up.
        if a.port() != 0 {
            set("REMOTE_PORT", a.port().to_string().as_bytes());
        }
    }
    set("REDIRECT_STATUS", b"200");
    set("PATH", b"/usr/local/bin:/usr/bin:/bin");
    let body_len = match (req.framing, body_file) {
        (_, Some(f)) => fs::fstat(f)
            .ok()
            .and_then(|st| u64::try_from(st.st_size).ok()),
        (Framing::Length(n), _) => Some(n),
        _ => None,
    };
    if let Some(n) = body_len {
        set("CONTENT_LENGTH", n.to_string().as_bytes());
        if let Some(ct) = req.header("content-type") {
            set("CONTENT_TYPE", ct);
        }
    }
    // HTTP_HOST is the host the request is for, as SERVER_NAME: with an absolute-form
    // target, its authority, not the Host field (RFC 9112 §3.2.2; `Request::host`).
    if let Some(h) = req.host {
        set("HTTP_HOST", h);
    }
    // Every other header as HTTP_*, repeated fields joined. Refused: Proxy (httpoxy),
    // Authorization (unless asked), names with '_' (they could pose as a dashed name), and
    // the framing headers the variables above already carry.
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    for h in req.headers {
        let name = h.name;
        let skip = name.contains(&b'_')
            || name.eq_ignore_ascii_case(b"proxy")
            || name.eq_ignore_ascii_case(b"host")
            || (name.eq_ignore_ascii_case(b"authorization") && !ctx.cfg.cgi_pass_auth)
            || name.eq_ignore_ascii_case(b"content-type")
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"connection");
        if skip {
            continue;
        }
        let var: String = std::iter::once("HTTP_".to_string())
            .chain(std::iter::once(
                String::from_utf8_lossy(name)
                    .to_ascii_uppercase()
                    .replace('-', "_"),
            ))
            .collect();
        match seen.iter_mut().find(|(k, _)| *k == var) {
            Some((_, v)) => {
                v.extend_from_slice(b", ");
                v.extend_from_slice(h.value);
            }
            None => seen.push((var, h.value.to_vec())),
        }
    }
    for (k, v) in seen {
        env.push((k.into(), OsString::from_vec(v)));
    }
    env
}

/// What offering request-body bytes to the program gave.
pub enum Feed {
    /// It took this many bytes.
    Took(usize),
    /// Its stdin pipe is full: wait for it to read.
    Full,
    /// It will not read its input (it closed stdin, or never had one).
    Refused,
}

/// What reading the program's output gave.
pub enum Output {
    /// Nothing to read now.
    Blocked,
    /// Body bytes, in the buffer given.
    Body(usize),
    /// Header bytes, taken; the block is not complete yet.
    HeadPartial,
    /// The header block is complete: the client's response head follows from it, and the
    /// bytes after it are the start of the body.
    Head(CgiHead, Vec<u8>),
    /// The program asked for a local redirect (RFC 3875 §6.2.2) to this path.
    Redirect(Vec<u8>),
    /// The program closed its output after a complete header block.
    End,
    /// The program failed before its header block was complete (502).
    Failed(&'static str),
}

impl Run {
    /// The program's pipes, to be watched by the worker's poller.
    pub fn pipes(&self) -> impl Iterator<Item = &OwnedFd> {
        [&self.stdin, &self.stdout, &self.stderr]
            .into_iter()
            .flatten()
    }

    /// The program still takes request-body bytes.
    pub fn wants_body(&self) -> bool {
        self.stdin.is_some()
    }

    /// Offer request-body bytes to the program's stdin.
    pub fn feed(&mut self, data: &[u8]) -> Feed {
        let Some(stdin) = &self.stdin else {
            return Feed::Refused;
        };
        match fs::write(stdin, data) {
            Ok(n) => Feed::Took(n),
            Err(Errno::AGAIN | Errno::INTR) => Feed::Full,
            Err(_) => {
                self.stdin = None;
                Feed::Refused
            }
        }
    }

    /// The whole body has been given: the program sees the end of its input.
    pub fn end_body(&mut self) {
        self.stdin = None;
    }

    /// Copy what the program wrote to stderr to the error log. True if there was any.
    pub fn pump_stderr(&mut self) -> bool {
        let Some(err) = &self.stderr else {
            return false;
        };
        let mut tmp = [0u8; 4096];
        match crate::sys::net::read(err, &mut tmp) {
            Ok(0) => {
                self.stderr = None;
                self.log_stderr(b"", true);
                false
            }
            Ok(n) => {
                self.log_stderr(&tmp[..n], false);
                true
            }
            Err(Errno::AGAIN | Errno::INTR) => false,
            Err(_) => {
                self.stderr = None;
                false
            }
        }
    }

    /// Read what the program wrote to stdout: first its header block (gathered here until
    /// complete and then parsed by `http::cgi`), then body bytes into `buf`.
    pub fn read_output(&mut self, buf: &mut [u8]) -> Output {
        let Some(out) = &self.stdout else {
            return Output::End;
        };
        let n = match crate::sys::net::read(out, buf) {
            Ok(0) => {
                self.stdout = None;
                if self.head_sent {
                    return Output::End;
                }
                return Output::Failed(if self.head.is_empty() {
                    "exited without output"
                } else {
                    "incomplete header block"
                });
            }
            Ok(n) => n,
            Err(Errno::AGAIN | Errno::INTR) => return Output::Blocked,
            Err(_) => return Output::Failed("cannot read its output"),
        };
        if self.head_sent {
            return Output::Body(n);
        }
        self.head.extend_from_slice(&buf[..n]);
        match cgi_rules::parse_head(&self.head) {
            Ok(None) => Output::HeadPartial,
            Err(why) => Output::Failed(why),
            Ok(Some((head, n))) => {
                let rest = self.head.split_off(n);
                match cgi_rules::local_redirect(&head) {
                    Some(loc) => Output::Redirect(loc.to_vec()),
                    None => Output::Head(head, rest),
                }
            }
        }
    }

    /// Write the client's response head from the program's header block (RFC 3875 §6.3):
    /// its status and reason, Content-Type, Location, and the other fields it may set;
    /// `chunked`: the body that follows is chunk-encoded. Returns the status.
    pub fn answer_head(&mut self, head: &CgiHead, r: &mut Reply, chunked: bool) -> u16 {
        let status = cgi_rules::status_of(head);
        if head.status != 0 && !head.reason.is_empty() {
            r.start_with_reason(status, &head.reason);
        } else {
            r.start(status);
        }
        if let Some(ct) = &head.content_type {
            r.header("Content-Type", ct);
        }
        if let Some(loc) = &head.location {
            r.header("Location", loc);
        }
        for (n, v) in &head.other {
            r.header(&String::from_utf8_lossy(n), v);
        }
        let bodiless = self.head_only || crate::http::response::bodiless(status);
        if chunked && !bodiless {
            r.header("Transfer-Encoding", b"chunked");
        }
        r.finish_head();
        self.head_sent = true;
        self.head_only = bodiless;
        status
    }
}
