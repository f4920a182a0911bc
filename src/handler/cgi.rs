//! CGI/1.1 (RFC 3875): finding the program, building its environment from nothing, starting
//! it, and reading its response header block. The connection (`conn.rs`) drives the
//! program's pipes from the same event loop as sockets, with backpressure both ways.
//!
//! A program runs in its own process group, so a timeout or a vanished client kills it and
//! everything it started. Its descriptors are only the three pipes (every descriptor the
//! server opens is close-on-exec). A program that is still running when its run is dropped is
//! killed and reaped; one that outlives its output is reaped by the worker's timer.
//!
//! It does not touch the client's socket or write the reply: the connection sends what the
//! program prints. A program that cannot be found or started is an `Error`, which `dispatch`
//! answers.

use super::ctx::Ctx;
use super::error::Error;
use crate::http::parse::{Framing, Method, Request, Version};
use crate::http::target;
use crate::sys::{Errno, OwnedFd, fs};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest CGI response header block.
pub const MAX_CGI_HEAD: usize = 16 * 1024;
/// Local redirects followed for one request.
pub const MAX_LOCAL_REDIRECTS: u8 = 5;

/// Programs running now, all workers together (for `--cgi-max`).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Children killed or finished whose exit has not been collected yet.
static REAP: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// Collect exited children (called from the workers' timers), so none stays a zombie.
pub fn reap() {
    if let Ok(mut list) = REAP.try_lock() {
        list.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
    }
}

/// Whether children wait to be collected (or another worker is collecting them now): the
/// workers' timers must keep running until none does.
pub fn reap_pending() -> bool {
    REAP.try_lock().map_or(true, |list| !list.is_empty())
}

/// Whether a decoded path is under a `--cgi` prefix.
pub fn is_cgi(ctx: &Ctx, path: &[u8]) -> bool {
    super::names::under(&ctx.cfg.cgi, path).is_some()
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
        RUNNING.fetch_sub(1, Ordering::Relaxed);
        if let Some(mut child) = self.child.take()
            && !matches!(child.try_wait(), Ok(Some(_)))
        {
            // The program leads its own process group (pgid == pid): kill all of it.
            crate::sys::kill_group(child.id());
            if !matches!(child.try_wait(), Ok(Some(_)))
                && let Ok(mut list) = REAP.lock()
            {
                list.push(child);
            }
        }
    }
}

impl Run {
    /// The program's exit, if it has exited: `Some(true)` when it ended by a signal.
    pub fn crashed(&mut self) -> Option<bool> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(st)) => Some(st.signal().is_some()),
            _ => None,
        }
    }

    /// Write complete stderr lines to the error log, tagged with the script.
    pub fn log_stderr(&mut self, data: &[u8], flush: bool) {
        self.err_line.extend_from_slice(data);
        while let Some(i) = self.err_line.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.err_line.drain(..=i).collect();
            eprintln!(
                "barehttpd: cgi {}: {}",
                self.script,
                String::from_utf8_lossy(&line[..i]).trim_end()
            );
        }
        if (flush && !self.err_line.is_empty()) || self.err_line.len() > 4096 {
            eprintln!(
                "barehttpd: cgi {}: {}",
                self.script,
                String::from_utf8_lossy(&self.err_line)
            );
            self.err_line.clear();
        }
    }
}

/// Find and start the program for `req`, whose decoded path is `path`. `body_file` is the
/// request body already buffered (chunked requests), if any.
pub fn start(
    req: &Request,
    ctx: &Ctx,
    peers: Peers,
    path: &[u8],
    body_file: Option<std::fs::File>,
) -> Result<Box<Run>, Error> {
    // The script is the first existing regular file along the path; the rest is PATH_INFO.
    let mut found = None;
    // Start after the --cgi prefix: its own segments are directories, not the program.
    let mut end = super::names::under(&ctx.cfg.cgi, path).unwrap_or(1) - 1;
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
                found = Some((end, st));
                break;
            }
            fs::FileType::Directory => continue,
            _ => return Err(Error::Forbidden),
        }
    }
    let Some((script_end, st)) = found else {
        return Err(Error::NotFound);
    };
    if st.st_mode & 0o111 == 0 {
        return Err(Error::Forbidden);
    }
    if RUNNING.load(Ordering::Relaxed) >= ctx.cfg.cgi_max {
        return Err(Error::Busy);
    }
    let script_name = &path[..script_end];
    let path_info = &path[script_end..];
    let root = &ctx.cfg.root;
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
    cmd.env_clear()
        .envs(env)
        .current_dir(script_file.parent().unwrap_or(root))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    match (body_file, req.framing) {
        (Some(f), _) => cmd.stdin(Stdio::from(f)),
        (None, Framing::Length(_)) => cmd.stdin(Stdio::piped()),
        _ => cmd.stdin(Stdio::null()),
    };
    // std's spawn makes several calls (pipe2, clone3, execve in the child...); the trace
    // shows them as one.
    let spawned = crate::sys::spawn(&mut cmd, &String::from_utf8_lossy(script_name));
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "barehttpd: cgi {}: cannot start: {}",
                String::from_utf8_lossy(script_name),
                crate::config::io_reason(&e)
            );
            return Err(Error::Spawn(Errno::from_io_error(&e).unwrap_or(Errno::IO)));
        }
    };
    RUNNING.fetch_add(1, Ordering::Relaxed);
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
        stdin,
        stdout,
        stderr,
        script: String::from_utf8_lossy(script_name).into_owned(),
        head: Vec::new(),
        head_sent: false,
        chunked: req.version == Version::Http11,
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
        if req.version == Version::Http10 {
            b"HTTP/1.0"
        } else {
            b"HTTP/1.1"
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
    set("REQUEST_SCHEME", b"http");
    set("SCRIPT_NAME", script_name);
    set("SCRIPT_FILENAME", script_file.as_os_str().as_bytes());
    set("DOCUMENT_ROOT", ctx.cfg.root.as_os_str().as_bytes());
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
        set("REMOTE_PORT", a.port().to_string().as_bytes());
    }
    set("REDIRECT_STATUS", b"200");
    set("PATH", b"/usr/local/bin:/usr/bin:/bin");
    let body_len = match (req.framing, body_file) {
        (_, Some(f)) => f.metadata().map(|m| m.len()).ok(),
        (Framing::Length(n), _) => Some(n),
        _ => None,
    };
    if let Some(n) = body_len {
        set("CONTENT_LENGTH", n.to_string().as_bytes());
        if let Some(ct) = req.header("content-type") {
            set("CONTENT_TYPE", ct);
        }
    }
    // Every other header as HTTP_*, repeated fields joined. Refused: Proxy (httpoxy),
    // Authorization (unless asked), names with '_' (they could pose as a dashed name), and
    // the framing headers the variables above already carry.
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    for h in req.headers {
        let name = h.name;
        let skip = name.contains(&b'_')
            || name.eq_ignore_ascii_case(b"proxy")
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

/// A parsed CGI response header block (RFC 3875 §6.2-§6.3).
#[derive(Debug, PartialEq, Eq)]
pub struct CgiHead {
    pub status: u16,
    /// The reason phrase given with Status, if any.
    pub reason: Vec<u8>,
    pub location: Option<Vec<u8>>,
    pub content_type: Option<Vec<u8>>,
    /// Other header fields, passed to the client.
    pub other: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Find the end of the header block (a blank line, LF or CRLF) and parse it. `Ok(None)`:
/// more bytes needed. Err: malformed (502).
pub fn parse_head(buf: &[u8]) -> Result<Option<(CgiHead, usize)>, &'static str> {
    let mut pos = 0;
    let mut head = CgiHead {
        status: 0,
        reason: Vec::new(),
        location: None,
        content_type: None,
        other: Vec::new(),
    };
    loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            return if buf.len() > MAX_CGI_HEAD {
                Err("header block too large")
            } else {
                Ok(None)
            };
        };
        let mut line = &buf[pos..pos + nl];
        pos += nl + 1;
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.is_empty() {
            break;
        }
        if pos > MAX_CGI_HEAD {
            return Err("header block too large");
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or("header line without a colon")?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| crate::http::parse::is_tchar(b)) {
            return Err("invalid header name");
        }
        let value = crate::http::parse::trim_ows(&line[colon + 1..]);
        if !value.iter().all(|&b| crate::http::parse::is_field_byte(b)) {
            return Err("control byte in a header value");
        }
        if name.eq_ignore_ascii_case(b"status") {
            let code = value
                .get(..3)
                .and_then(|c| std::str::from_utf8(c).ok())
                .and_then(|c| c.parse::<u16>().ok());
            match code {
                Some(c) if (100..600).contains(&c) && value.get(3).is_none_or(|&b| b == b' ') => {
                    head.status = c;
                    head.reason =
                        crate::http::parse::trim_ows(value.get(4..).unwrap_or(b"")).to_vec();
                }
                _ => return Err("invalid Status"),
            }
        } else if name.eq_ignore_ascii_case(b"location") {
            head.location = Some(value.to_vec());
        } else if name.eq_ignore_ascii_case(b"content-type") {
            head.content_type = Some(value.to_vec());
        } else if crate::http::response::server_sets(name)
            || name.eq_ignore_ascii_case(b"keep-alive")
        {
            // Framing and hop-by-hop fields are the server's to set.
        } else {
            head.other.push((name.to_vec(), value.to_vec()));
        }
    }
    if head.location.is_none() && head.content_type.is_none() && head.status == 0 {
        return Err("no Content-Type, Location or Status");
    }
    Ok(Some((head, pos)))
}

/// Whether the response is a local redirect (RFC 3875 §6.2.2): a Location path and nothing else.
pub fn local_redirect(h: &CgiHead) -> Option<&[u8]> {
    let loc = h.location.as_deref()?;
    (loc.first() == Some(&b'/') && h.status == 0 && h.content_type.is_none() && h.other.is_empty())
        .then_some(loc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3875_6_header_blocks() {
        let (h, n) = parse_head(b"Content-Type: text/plain\nX-A: 1\n\nbody")
            .unwrap()
            .unwrap();
        assert_eq!(&b"Content-Type: text/plain\nX-A: 1\n\nbody"[n..], b"body");
        assert_eq!(h.status, 0);
        assert_eq!(h.other, vec![(b"X-A".to_vec(), b"1".to_vec())]);
        let (h, _) = parse_head(b"Status: 418 I'm a teapot\r\nContent-Type: text/plain\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.status, 418);
        assert_eq!(parse_head(b"Content-Type: text/plain\r\n"), Ok(None));
        assert!(parse_head(b"this is not a header line\n\n").is_err());
        assert!(parse_head(b"Status: abc\n\n").is_err());
        assert!(parse_head(b"X-Only: 1\n\n").is_err());
        let (h, _) = parse_head(b"Location: /hello.txt\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(local_redirect(&h), Some(&b"/hello.txt"[..]));
        let (h, _) = parse_head(b"Location: http://x/\r\n\r\n").unwrap().unwrap();
        assert_eq!(local_redirect(&h), None);
    }
}
