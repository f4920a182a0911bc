//! Shared helpers for the integration tests: a throw-away document root, a running server on
//! an ephemeral port, and a raw HTTP/1.1 client over `std::net::TcpStream`.
//!
//! The client is deliberately dumb: it writes exactly the bytes a test gives it and parses
//! what comes back by the rules of RFC 9112 §6.3 (Content-Length framing, no body for HEAD,
//! 1xx, 204 or 304), so every test sees the wire, not a library's interpretation of it.
//! Everything is bounded in time: reads have timeouts, waits have deadlines, and the server
//! process is killed when its `Server` is dropped. Each test binary uses only part of this
//! module, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// How long any single read may block before a test gives up on the server.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server may take to print its banner.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub const HELLO: &[u8] = b"Hello, world\n";

// ---------------------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------------------

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique directory under the system temp dir, removed on drop. Layout:
/// `base/www` is the document root; `base/` itself is outside it (for secrets and logs).
pub struct TempRoot {
    pub base: PathBuf,
    pub www: PathBuf,
}

impl TempRoot {
    pub fn new() -> TempRoot {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let base = std::env::temp_dir().join(format!(
            "barehttpd-it-{}-{}-{}",
            std::process::id(),
            n,
            nanos
        ));
        let www = base.join("www");
        std::fs::create_dir_all(&www).expect("create temp docroot");
        TempRoot { base, www }
    }

    /// Write `data` at `rel` (relative to the docroot), creating parent directories.
    pub fn file(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.www.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&p, data).expect("write test file");
        p
    }

    pub fn dir(&self, rel: &str) -> PathBuf {
        let p = self.www.join(rel);
        std::fs::create_dir_all(&p).expect("create dir");
        p
    }

    /// Write a file beside (outside) the docroot.
    pub fn outside(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.base.join(name);
        std::fs::write(&p, data).expect("write outside file");
        p
    }
}

impl Default for TempRoot {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Deterministic pseudo-random bytes (so a corrupted or shifted body cannot match by luck).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

// ---------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------

/// The server binary: `BAREHTTPD_BIN` when set (a binary built elsewhere), else the one
/// cargo built with these tests.
pub fn bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("BAREHTTPD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_barehttpd").into())
    })
}

/// The program that runs the server binary when it was built for another architecture, as
/// words (`qemu-aarch64 -L /usr/aarch64-linux-gnu`); empty when the binary runs natively.
/// `BAREHTTPD_RUNNER` when set (empty for none), else cargo's runner for the target these
/// tests were built for (`CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER`), which cargo uses
/// for the test binaries themselves but which the kernel does not apply to programs they
/// start (binfmt_misc would, but a CI machine need not have it registered).
pub fn runner() -> &'static [String] {
    static RUNNER: OnceLock<Vec<String>> = OnceLock::new();
    RUNNER.get_or_init(|| {
        let env = if cfg!(target_env = "musl") {
            "MUSL"
        } else {
            "GNU"
        };
        let cargo_var = format!(
            "CARGO_TARGET_{}_UNKNOWN_{}_{env}_RUNNER",
            std::env::consts::ARCH.to_uppercase(),
            std::env::consts::OS.to_uppercase()
        );
        let words = std::env::var("BAREHTTPD_RUNNER")
            .or_else(|_| std::env::var(cargo_var))
            .unwrap_or_default();
        words.split_whitespace().map(String::from).collect()
    })
}

/// Whether the server runs under an emulator (qemu-user): its timings are not a machine's.
pub fn emulated() -> bool {
    !runner().is_empty()
}

/// The command line that starts the server: the runner's words (if any), then the binary.
/// For wrappers that take a command line (`bash -c '... exec "$0" "$@"'`, strace, Python).
pub fn server_argv() -> Vec<String> {
    runner()
        .iter()
        .cloned()
        .chain([bin().to_string()])
        .collect()
}

/// A `Command` that starts the server (through the runner, if any); add the server's
/// arguments. Every test starts barehttpd through this or `server_argv`.
pub fn server_command() -> Command {
    let argv = server_argv();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

/// `limit` stretched by `BAREHTTPD_TIME_SCALE` (a number at least 1; by default 1, or 10
/// when the server runs under an emulator), for bounds on how long the server may take to do
/// its work. The timeouts the server enforces are its own and are never scaled.
pub fn scaled(limit: Duration) -> Duration {
    let k: f64 = std::env::var("BAREHTTPD_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|k: &f64| k.is_finite() && *k >= 1.0)
        .unwrap_or(if emulated() { 10.0 } else { 1.0 });
    limit.mul_f64(k)
}

/// The flags `Server::start` gives by default (an ephemeral loopback port, 2 workers, no
/// access log), for tests that launch the server through a wrapper of their own.
pub const DEFAULT_FLAGS: [&str; 6] = [
    "--listen",
    "127.0.0.1:0",
    "--workers",
    "2",
    "--access-log",
    "off",
];

/// A running barehttpd on an ephemeral port, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// Every stderr line the server printed so far (the banner included).
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Start barehttpd serving `root` with 2 workers, no access log, plus `extra` flags.
    pub fn start(root: &Path, extra: &[&str]) -> Server {
        let mut args: Vec<String> = vec![
            root.to_str().expect("utf-8 temp path").to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        let has = |f: &str| extra.contains(&f);
        if !has("--workers") {
            args.extend(["--workers".into(), "2".into()]);
        }
        if !has("--access-log") {
            args.extend(["--access-log".into(), "off".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start_args(&args)
    }

    /// Start barehttpd with exactly `args`, wait for its banner and learn its port.
    pub fn start_args(args: &[String]) -> Server {
        let mut cmd = server_command();
        cmd.args(args);
        Server::start_command(cmd)
    }

    /// Start barehttpd through `cmd` (for example a shell that lowers a limit, then `exec`s
    /// `server_argv()`), wait for its banner and learn its port. The server must be `cmd`'s
    /// own process (under emulation, the emulator's), so that `pid()` and the kill on drop
    /// reach it.
    pub fn start_command(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e} (BAREHTTPD_RUNNER sets an emulator)"));
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + scaled(START_TIMEOUT);
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(p) = banner_port(&line) {
                        break p;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "barehttpd printed no banner within {START_TIMEOUT:?}; stderr: {:?}",
                        lines.lock().unwrap()
                    );
                }
            }
        };
        Server {
            child,
            port,
            stderr: lines,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A new client connection.
    pub fn connect(&self) -> Client {
        Client::connect(&self.addr())
    }

    /// Send one request on a fresh connection and read its response.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut c = self.connect();
        c.send(raw);
        c.response()
    }

    /// `GET path` with Connection: close, on a fresh connection.
    pub fn get(&self, path: &str) -> Response {
        self.request(&get_close(path))
    }

    /// Send a signal with the `kill` command.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -{sig} failed");
    }

    /// Wait for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child, limit)
    }

    /// The first https:// URL of the banner (ending in '/').
    pub fn https_url(&self) -> String {
        let text = self.stderr_text();
        text.split_whitespace()
            .find(|w| w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no https:// URL in the banner: {text}"))
            .to_string()
    }

    /// The port of `https_url`.
    pub fn https_port(&self) -> u16 {
        let url = self.https_url();
        url.trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {url}"))
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in `barehttpd 0.1.0: serving /x on http://127.0.0.1:PORT/ (2 workers); ...`.
fn banner_port(line: &str) -> Option<u16> {
    let url = line.split_whitespace().find(|w| w.starts_with("http://"))?;
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    hostport.rsplit(':').next()?.parse().ok()
}

/// Wait for `child` to exit, at most `limit`.
pub fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `program` is on PATH (tests that need an outside tool skip without it).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Run barehttpd with `args` to completion (killed after 10 s): (exit status, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = server_command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn barehttpd");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_child(&mut child, Duration::from_secs(10));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = t_out.join().unwrap();
    let stderr = t_err.join().unwrap();
    (status.and_then(|s| s.code()), stdout, stderr)
}

// ---------------------------------------------------------------------------------------
// The raw client
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the Connection field lists `token`.
    pub fn connection_has(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// How a connection ended when a test waited for it to end.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Orderly close (FIN) after these many unexpected bytes.
    Eof(usize),
    /// Reset by the server after these many unexpected bytes.
    Reset(usize),
    /// Still open when the wait ended, after these many bytes.
    Open(usize),
}

/// One client connection with a read buffer (bytes read past one response stay for the next).
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: &str) -> Client {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// Try to send; false if the server already closed or reset the connection.
    pub fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// Read more bytes into the buffer; Ok(0) at end of stream.
    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Read until at least `n` bytes are buffered (they stay for `response`), and return them.
    pub fn prefetch(&mut self, n: usize) -> &[u8] {
        while self.buf.len() < n {
            match self.fill() {
                Ok(0) => panic!("connection closed after {} of {n} bytes", self.buf.len()),
                Ok(_) => {}
                Err(e) => panic!("prefetch: {e} after {} of {n} bytes", self.buf.len()),
            }
        }
        &self.buf
    }

    /// Read one response to a request that was not HEAD.
    pub fn response(&mut self) -> Response {
        self.try_response(false)
            .unwrap_or_else(|e| panic!("reading a response: {e}"))
    }

    /// Read one response to a HEAD request (never a body).
    pub fn head_response(&mut self) -> Response {
        self.try_response(true)
            .unwrap_or_else(|e| panic!("reading a HEAD response: {e}"))
    }

    /// Read one response; Err describes what went wrong (timeout, EOF, bad framing).
    pub fn try_response(&mut self, head: bool) -> Result<Response, String> {
        loop {
            if let Some((r, n)) = parse_response(&self.buf, head)? {
                self.buf.drain(..n);
                return Ok(r);
            }
            match self.fill() {
                Ok(0) => {
                    return Err(format!(
                        "connection closed before a complete response; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(format!(
                        "no complete response ({e}); got {} bytes: {:?}",
                        self.buf.len(),
                        String::from_utf8_lossy(&self.buf[..self.buf.len().min(300)])
                    ));
                }
            }
        }
    }

    /// Read everything until the server closes (bounded by the read timeout per read).
    pub fn read_to_end(&mut self) -> Vec<u8> {
        loop {
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!(
                    "read_to_end: {e} after {} bytes without end of stream",
                    self.buf.len()
                ),
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Wait up to `limit` for the connection to end, counting any bytes that still arrive.
    pub fn wait_end(&mut self, limit: Duration) -> Ending {
        let deadline = Instant::now() + limit;
        let mut extra = self.buf.len();
        self.buf.clear();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ending::Open(extra);
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ending::Eof(extra),
                Ok(n) => extra += n,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ending::Reset(extra),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ending::Open(extra);
                }
                Err(e) => panic!("wait_end: {e}"),
            }
        }
    }

    /// The connection was closed by the server (EOF or reset) within `limit`, with no
    /// further bytes. Panics with `what` otherwise.
    pub fn assert_closed(&mut self, limit: Duration, what: &str) {
        match self.wait_end(limit) {
            Ending::Eof(0) | Ending::Reset(0) => {}
            other => panic!("{what}: expected the server to close within {limit:?}, got {other:?}"),
        }
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    }

    /// Nothing arrives and the connection stays open for `d`.
    pub fn assert_silent_open(&mut self, d: Duration, what: &str) {
        match self.wait_end(d) {
            Ending::Open(0) => {}
            other => panic!("{what}: expected an open, silent connection, got {other:?}"),
        }
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

/// Parse one response from the start of `buf`: `Ok(None)` while incomplete, else the
/// response and its length in bytes. `head` says the request was HEAD (no body follows).
pub fn parse_response(buf: &[u8], head: bool) -> Result<Option<(Response, usize)>, String> {
    let Some(head_end) = find(buf, b"\r\n\r\n").map(|i| i + 4) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&buf[..head_end - 4]).into_owned();
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for l in lines {
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| format!("bad header line {l:?}"))?;
        if n.is_empty() || n.ends_with(' ') {
            return Err(format!("bad header name in {l:?}"));
        }
        headers.push((n.to_string(), v.trim().to_string()));
    }
    // RFC 9112 §6.3: no body after HEAD, 1xx, 204 or 304; otherwise Content-Length frames it.
    let no_body = head || (100..200).contains(&status) || status == 204 || status == 304;
    let len: usize = if no_body {
        0
    } else {
        let (_, v) = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .ok_or_else(|| format!("response without Content-Length: {text:?}"))?;
        v.parse().map_err(|_| format!("bad Content-Length {v:?}"))?
    };
    if buf.len() < head_end + len {
        return Ok(None);
    }
    let body = buf[head_end..head_end + len].to_vec();
    Ok(Some((
        Response {
            version,
            status,
            reason,
            headers,
            body,
        },
        head_end + len,
    )))
}

/// The body of a chunked response (RFC 9112 §7.1), checked whole: every chunk's size line,
/// its CRLF, and the last chunk.
pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = find(b, b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap(), 16).unwrap();
        b = &b[eol + 2..];
        if size == 0 {
            assert_eq!(b, b"\r\n", "the last chunk ends the body");
            return out;
        }
        out.extend_from_slice(&b[..size]);
        assert_eq!(&b[size..size + 2], b"\r\n");
        b = &b[size + 2..];
    }
}

/// Split a byte stream holding several complete responses (none to HEAD) into responses.
pub fn parse_all(bytes: &[u8]) -> Result<Vec<Response>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match parse_response(rest, false)? {
            Some((r, n)) => {
                out.push(r);
                rest = &rest[n..];
            }
            None => {
                return Err(format!(
                    "trailing bytes that are not a complete response: {:?}",
                    String::from_utf8_lossy(&rest[..rest.len().min(300)])
                ));
            }
        }
    }
    Ok(out)
}

/// A minimal valid request for `path` on a persistent connection.
pub fn get_req(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// A complete PUT with a Content-Length body and `extra_headers` (whole lines, each ending
/// in CRLF), closing the connection afterwards.
pub fn put_req(path: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "PUT {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// `METHOD path` on a persistent connection with extra header fields.
pub fn req(method: &str, path: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut s = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n");
    for (n, v) in fields {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A minimal valid request for `path` that closes the connection afterwards.
pub fn get_close(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").into_bytes()
}

/// A docroot with the files most tests use: /hello.txt ("Hello, world\n").
pub fn basic_root() -> TempRoot {
    let r = TempRoot::new();
    r.file("hello.txt", HELLO);
    r
}

/// A process's resident memory in bytes, from `/proc` (0 if it cannot be read).
pub fn vm_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

// ---------------------------------------------------------------------------------------
// Running out of descriptors
// ---------------------------------------------------------------------------------------

/// barehttpd serving `root` with one worker, no access log, and `extra` flags, under
/// `ulimit -n LIMIT` (soft and hard, so that its raise to the hard limit at start-up cannot
/// undo it).
pub fn start_with_fd_limit(root: &Path, limit: usize, extra: &[&str]) -> Server {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .args(server_argv())
        .arg(root)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--access-log",
            "off",
        ])
        .args(extra);
    Server::start_command(cmd)
}

/// How many of the descriptors numbered below `limit` process `pid` has open (Linux:
/// /proc/PID/fd). Under `ulimit -n LIMIT` a process can open nothing more once this is
/// LIMIT; descriptors it inherited above the limit (a jobserver's pipes) do not count.
pub fn open_fds_below(pid: u32, limit: usize) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<usize>().ok())
        .filter(|&fd| fd < limit)
        .count()
}

/// Connect clients that each send part of a request head, so that each holds one of the
/// server's descriptors, until the server holds `limit` (its `ulimit -n`): every descriptor
/// it may have. The last `heads.len()` clients send `heads` (partial heads, to be finished
/// by the test), the others a partial GET. Returns the fillers and then the clients of
/// `heads`, in that order.
///
/// A connection that has sent part of a head may be evicted to make room after 1 s
/// (`SLOW_HEAD_EVICT_MS`) when an accept fails for lack of descriptors; the clients of
/// `heads` come last, so they are the youngest and not the ones evicted.
pub fn exhaust_descriptors(
    s: &Server,
    limit: usize,
    heads: &[&[u8]],
) -> (Vec<Client>, Vec<Client>) {
    let mut fillers = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..limit {
        let have = open_fds_below(s.pid(), limit);
        if have >= limit {
            break;
        }
        let left = limit - have;
        // The next head of `heads` once only that many places are left. Chosen by how many
        // have been sent, not by `left` alone: under an emulator the count can stay put for
        // a round (a descriptor of the server's own closes as another opens), and the same
        // head must not be sent twice.
        let next = ours.len();
        let mine = next < heads.len() && left <= heads.len() - next;
        let head: &[u8] = if mine {
            heads[next]
        } else {
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n"
        };
        let mut c = s.connect();
        c.send(head);
        // Accepted once the server holds one descriptor more.
        let deadline = Instant::now() + scaled(Duration::from_secs(2));
        while open_fds_below(s.pid(), limit) <= have {
            assert!(Instant::now() < deadline, "the server took no connection");
            std::thread::sleep(Duration::from_millis(2));
        }
        if mine {
            ours.push(c);
        } else {
            fillers.push(c);
        }
    }
    assert_eq!(
        open_fds_below(s.pid(), limit),
        limit,
        "the server does not hold every descriptor"
    );
    assert_eq!(
        ours.len(),
        heads.len(),
        "fewer clients of `heads` than asked for"
    );
    (fillers, ours)
}

/// Why a test that drives Chromium through Selenium cannot run here, if it cannot: chromium,
/// Debian's chromedriver or Python's selenium is missing.
pub fn browser_missing() -> Option<String> {
    for prog in ["chromium", "chromedriver"] {
        let ok = Command::new(prog)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Some(format!("{prog} is not installed"));
        }
    }
    let ok = Command::new("python3")
        .args(["-c", "import selenium"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!ok).then(|| "python3 with selenium (pip install selenium) is not installed".into())
}

/// Run the Python script `script` with `args`, its output kept in `work`, in a process group
/// of its own so that past `limit` it is ended with the browser it started: whether it
/// succeeded, and what it printed.
pub fn run_browser_script(
    script: &Path,
    args: &[std::ffi::OsString],
    work: &Path,
    limit: Duration,
) -> (bool, String) {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdout(std::fs::File::create(work.join("log.txt")).unwrap())
        .stderr(std::fs::File::create(work.join("err.txt")).unwrap())
        .process_group(0)
        .spawn()
        .expect("python3");
    let status = wait_child(&mut child, scaled(limit));
    if status.is_none() {
        // The script, chromedriver and chromium: the whole group it leads.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
    }
    let read = |n: &str| std::fs::read_to_string(work.join(n)).unwrap_or_default();
    let text = format!("{}{}", read("log.txt"), read("err.txt"));
    let ok = status.is_some_and(|s| s.success());
    (ok, format!("({status:?})\n{text}"))
}

/// A self-signed P-256 certificate for `localhost` and 127.0.0.1, made by openssl in `dir`
/// (created if need be): the paths of the certificate and of its key.
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-keyout", "k.pem", "-out", "c.pem"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "openssl could not make a certificate in {}",
        dir.display()
    );
    (dir.join("c.pem"), dir.join("k.pem"))
}

/// The access log at `path` once it holds at least `lines` lines (polled: the server writes
/// it behind its answers), or as it is after 10 s (scaled).
pub fn log_lines(path: &Path, lines: usize) -> Vec<String> {
    let end = Instant::now() + scaled(Duration::from_secs(10));
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines || Instant::now() > end {
            return text.lines().map(String::from).collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server that speaks HTTP/2 both ways: `--h2c` on its plain listener, and by ALPN on a
/// TLS listener with a self-signed certificate when openssl is there to make one. Returns
/// the server and, with TLS, that listener's port and the certificate.
pub fn start_h2_both(root: &TempRoot, extra: &[&str]) -> (Server, Option<(u16, PathBuf)>) {
    let mut args = vec!["--h2c"];
    args.extend_from_slice(extra);
    if !have("openssl") {
        return (Server::start(&root.www, &args), None);
    }
    let (cert, key) = self_signed(&root.base.join("h2-certs"));
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    args.extend([
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        c,
        "--tls-key",
        k,
    ]);
    let s = Server::start(&root.www, &args);
    let port = s.https_port();
    (s, Some((port, cert)))
}
