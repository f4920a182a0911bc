//! CGI/1.1 (RFC 3875) under `--cgi /cgi-bin/`: the meta-variables a program sees, its
//! request body, how its response becomes an HTTP response, and what happens to the process
//! when it is slow, crashes, or its client goes away.
//!
//! The programs are small shell and Python scripts written into the temporary docroot. Some
//! write their process ids into files beside the docroot, so that a test can look in /proc
//! for what the server should have killed and reaped.
//!
//! CGI output has no length the server knows, so HTTP/1.1 answers are chunked: this file has
//! its own reader (`Wire`) for chunked and close-delimited bodies, which the shared client
//! does not parse. It reads the head with the shared `parse_response` and only frames the
//! body itself.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Scripts and servers
// ---------------------------------------------------------------------------------------

/// Write an executable program at `rel` in the docroot.
fn script(root: &TempRoot, rel: &str, text: &str) -> PathBuf {
    let p = root.file(rel, text.as_bytes());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Prints its whole environment, NUL-separated (values may hold anything but NUL).
const ENV_SH: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nexec env -0\n";
/// Copies its request body back.
const ECHO_SH: &str =
    "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\r\\n\\r\\n'\nexec cat\n";
const HELLO_SH: &str =
    "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello from cgi\\n'\n";
/// Sleeps two seconds before answering.
const SLEEP2_SH: &str =
    "#!/bin/sh\nsleep 2\nprintf 'Content-Type: text/plain\\r\\n\\r\\nslept\\n'\n";

/// Lists its own open descriptors as "number target" lines.
const FDS_PY: &str = r#"#!/usr/bin/python3
import os, sys
d = '/proc/self/fd'
out = []
for n in sorted(os.listdir(d), key=int):
    try:
        t = os.readlink(d + '/' + n)
    except OSError:
        t = '(closed)'
    out.append(n + ' ' + t)
sys.stdout.write('Content-Type: text/plain\r\n\r\n' + '\n'.join(out) + '\n')
"#;

fn cgi_root() -> TempRoot {
    let root = basic_root();
    script(&root, "cgi-bin/env.cgi", ENV_SH);
    script(&root, "cgi-bin/hello.cgi", HELLO_SH);
    root
}

fn start(root: &TempRoot, extra: &[&str]) -> Server {
    let mut args = vec!["--cgi", "/cgi-bin/"];
    args.extend_from_slice(extra);
    Server::start(&root.www, &args)
}

/// The arguments `start` gives the server, for tests that must launch it themselves.
fn server_args(root: &TempRoot, extra: &[&str]) -> Vec<String> {
    let www = root.www.to_str().unwrap();
    [www]
        .iter()
        .chain(&DEFAULT_FLAGS)
        .chain(&["--cgi", "/cgi-bin/"])
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

/// Start barehttpd through Python with no descriptor above 2 open, except, when
/// `inherited_fd` is given, that descriptor (on /dev/null, inheritable), as a parent process
/// such as a shell or a service manager may leave one.
fn start_clean(root: &TempRoot, extra: &[&str], inherited_fd: Option<u32>) -> Server {
    const LAUNCH: &str = "import os, sys\n\
        os.closerange(3, 65536)\n\
        fd = int(sys.argv[1])\n\
        if fd > 0:\n    os.dup2(os.open('/dev/null', os.O_RDONLY), fd)\n\
        os.execvp(sys.argv[2], sys.argv[2:])\n";
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", LAUNCH])
        .arg(inherited_fd.unwrap_or(0).to_string())
        .args(server_argv())
        .args(server_args(root, extra));
    Server::start_command(cmd)
}

// ---------------------------------------------------------------------------------------
// Reading responses of any framing
// ---------------------------------------------------------------------------------------

/// How a response body was delimited (RFC 9112 §6.3).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Framing {
    None,
    Length,
    Chunked,
    /// Read until the server closed the connection.
    Close,
}

/// A client connection that reads Content-Length, chunked and close-delimited bodies.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    fn connect(s: &Server) -> Wire {
        let stream = TcpStream::connect(s.addr()).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// Read more; false at end of stream.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!(
                "read: {e}; have {} bytes: {:?}",
                self.buf.len(),
                String::from_utf8_lossy(&self.buf[..self.buf.len().min(300)])
            ),
        }
    }

    /// Buffer up to `n` bytes; panics if the stream ends first.
    fn need(&mut self, n: usize, what: &str) {
        while self.buf.len() < n {
            assert!(
                self.fill(),
                "{what}: stream ended after {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return line;
            }
            assert!(self.fill(), "stream ended inside a chunked body");
        }
    }

    /// Read one response to a request that was not HEAD.
    fn response(&mut self) -> (Response, Framing) {
        let (mut r, n) = loop {
            match parse_response(&self.buf, true) {
                Ok(Some(v)) => break v,
                Ok(None) => assert!(
                    self.fill(),
                    "stream ended before a response head: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Err(e) => panic!("bad response head: {e}"),
            }
        };
        self.buf.drain(..n);
        let chunked = r
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let framing = if (100..200).contains(&r.status) || r.status == 204 || r.status == 304 {
            Framing::None
        } else if chunked {
            loop {
                let line = self.line();
                let size = String::from_utf8_lossy(&line);
                let size = size.split(';').next().unwrap().trim();
                let size = usize::from_str_radix(size, 16)
                    .unwrap_or_else(|_| panic!("bad chunk size line {size:?}"));
                if size == 0 {
                    while !self.line().is_empty() {} // trailer fields
                    break;
                }
                self.need(size + 2, "chunk");
                r.body.extend_from_slice(&self.buf[..size]);
                assert_eq!(
                    &self.buf[size..size + 2],
                    b"\r\n",
                    "chunk not ended by CRLF"
                );
                self.buf.drain(..size + 2);
            }
            Framing::Chunked
        } else if let Some(len) = r.header("content-length") {
            let len: usize = len.parse().expect("Content-Length");
            self.need(len, "body");
            r.body = self.buf.drain(..len).collect();
            Framing::Length
        } else {
            while self.fill() {}
            r.body = std::mem::take(&mut self.buf);
            Framing::Close
        };
        (r, framing)
    }

    /// The server closes the connection within `limit`, sending nothing more.
    fn assert_closed(&mut self, limit: Duration) {
        self.stream.set_read_timeout(Some(limit)).unwrap();
        let before = self.buf.len();
        while self.fill() {}
        assert_eq!(self.buf.len(), before, "bytes after the response");
    }
}

/// One request on a fresh connection; the response with its framing.
fn ask(s: &Server, raw: &[u8]) -> (Response, Framing) {
    let mut w = Wire::connect(s);
    w.send(raw);
    w.response()
}

fn get(s: &Server, path: &str) -> (Response, Framing) {
    ask(s, &get_req(path))
}

/// Parse `env -0` output.
fn env_map(body: &[u8]) -> BTreeMap<String, String> {
    body.split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let e = String::from_utf8_lossy(e);
            let (k, v) = e.split_once('=').unwrap_or((&e, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

/// The state letter of process `pid` (R, S, Z...), or None when it does not exist.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// (pid, state) of every child of `parent`.
fn children_of(parent: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut f = stat[close + 1..].split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if f.next().and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            out.push((pid, state));
        }
    }
    out
}

/// Wait until `file` holds a pid (written by a script), at most `limit`.
fn read_pid(file: &Path, limit: Duration) -> u32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(pid) = std::fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} was not written",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The script (the server's child) must be gone entirely, reaped; the child it started in the
/// background must be dead (gone, or a zombie waiting for whoever adopted it, not the server).
fn assert_killed(script_pid: u32, bg_pid: u32, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    loop {
        let script = proc_state(script_pid);
        let bg = proc_state(bg_pid);
        if script.is_none() && matches!(bg, None | Some('Z')) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: after {limit:?} the script {script_pid} is {script:?} and its background \
             child {bg_pid} is {bg:?} (None = gone)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills a script's process group when dropped, so that a failing test leaves no program
/// running (the server's own kill is what the tests check; this is only the cleanup).
struct KillGroup(u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

/// A script that starts `sleep 300` in the background, records both pids in `dir`, then
/// sleeps 30 s without output.
fn pid_script(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "#!/bin/sh\nsleep 300 &\necho $! > {d}/bg.tmp && mv {d}/bg.tmp {d}/bg.pid\n\
         echo $$ > {d}/sh.tmp && mv {d}/sh.tmp {d}/sh.pid\nsleep 30\n\
         printf 'Content-Type: text/plain\\r\\n\\r\\ntoo late\\n'\n"
    )
}

// ---------------------------------------------------------------------------------------
// Meta-variables (RFC 3875 §4.1)
// ---------------------------------------------------------------------------------------

/// RFC 3875 §4.1: each meta-variable the server sets, with the value the section asks for:
/// PATH_INFO decoded (§4.1.5), QUERY_STRING raw (§4.1.7), HTTP_* from header fields with
/// dashes as underscores and repeated fields joined by ", " (§4.1.18). Left out: Proxy (the
/// httpoxy attack), Authorization (§4.1.18 "SHOULD remove"), names with '_' (they could pose
/// as a dashed field), CONTENT_TYPE and CONTENT_LENGTH without a body (§4.1.2-§4.1.3), and
/// everything from the server's own environment: the program sees these variables, PATH,
/// and what its shell adds (PWD), nothing else.
#[test]
fn rfc3875_4_1_meta_variables() {
    let root = cgi_root();
    let secret = format!("leak-{}", std::process::id());
    let mut cmd = server_command();
    cmd.args(server_args(&root, &[]))
        .env("BAREHTTPD_IT_SECRET", &secret);
    let s = Server::start_command(cmd);
    let target = "/cgi-bin/env.cgi/a%20b/c?x=1%202&y=%41&z";
    let mut w = Wire::connect(&s);
    let client_port = w.stream.local_addr().unwrap().port();
    w.send(
        format!(
            "GET {target} HTTP/1.1\r\nHost: example.test:8080\r\nX-Multi: one\r\n\
             User-Agent: it/1\r\nX-Multi: two\r\nProxy: http://evil.example/\r\n\
             Authorization: Basic Zm9vOmJhcg==\r\nX_Under: sneaky\r\n\
             Content-Type: text/not-a-body\r\nAccept: */*\r\n\r\n"
        )
        .as_bytes(),
    );
    let (r, framing) = w.response();
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(framing, Framing::Chunked);
    let env = env_map(&r.body);
    let www = root.www.canonicalize().unwrap();
    let www = www.to_str().unwrap();
    let port = s.port.to_string();
    let cport = client_port.to_string();
    let script_file = format!("{www}/cgi-bin/env.cgi");
    let translated = format!("{www}/a b/c");
    let want: &[(&str, &str)] = &[
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_NAME", "example.test"),
        ("SERVER_PORT", &port),
        ("SERVER_ADDR", "127.0.0.1"),
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", target),
        ("REQUEST_SCHEME", "http"),
        ("SCRIPT_NAME", "/cgi-bin/env.cgi"),
        ("SCRIPT_FILENAME", &script_file),
        ("PATH_INFO", "/a b/c"),
        ("PATH_TRANSLATED", &translated),
        ("QUERY_STRING", "x=1%202&y=%41&z"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", &cport),
        ("DOCUMENT_ROOT", www),
        ("REDIRECT_STATUS", "200"),
        ("HTTP_HOST", "example.test:8080"),
        ("HTTP_USER_AGENT", "it/1"),
        ("HTTP_X_MULTI", "one, two"),
        ("HTTP_ACCEPT", "*/*"),
    ];
    for (k, v) in want {
        assert_eq!(env.get(*k).map(String::as_str), Some(*v), "{k}");
    }
    let software = env.get("SERVER_SOFTWARE").map_or("", String::as_str);
    assert!(
        software.starts_with("barehttpd"),
        "SERVER_SOFTWARE={software:?}"
    );
    for k in [
        "HTTP_PROXY",
        "HTTP_AUTHORIZATION",
        "HTTP_X_UNDER",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "HTTP_CONTENT_TYPE",
        "BAREHTTPD_IT_SECRET",
    ] {
        assert!(!env.contains_key(k), "{k}={:?} reached the program", env[k]);
    }
    assert!(
        !contains(&r.body, secret.as_bytes()),
        "the server's environment leaked"
    );
    let extra: Vec<&String> = env
        .keys()
        .filter(|k| {
            !want.iter().any(|(w, _)| w == k)
                && !["SERVER_SOFTWARE", "PATH", "PWD", "HTTP_CONNECTION"].contains(&k.as_str())
        })
        .collect();
    assert!(extra.is_empty(), "unexpected variables: {extra:?}");
    // The same connection serves the next request.
    w.send(&get_req("/hello.txt"));
    assert_eq!(w.response().0.body, HELLO);
}

/// RFC 3875 §4.1.2-§4.1.3: with a body, CONTENT_LENGTH is its length and CONTENT_TYPE its
/// media type; they are not repeated as HTTP_ variables. SERVER_PROTOCOL is the request's
/// (§4.1.16), here HTTP/1.0, whose answer is delimited by closing the connection (RFC 9112
/// §6.3), since its length is not known in advance and 1.0 has no chunked coding.
#[test]
fn rfc3875_4_1_3_content_variables_with_a_body_and_http_1_0() {
    let root = cgi_root();
    let s = start(&root, &[]);
    let (r, _) = ask(
        &s,
        b"POST /cgi-bin/env.cgi HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\n\r\na=1&b",
    );
    assert_eq!(r.status, 200);
    let env = env_map(&r.body);
    assert_eq!(env.get("REQUEST_METHOD").unwrap(), "POST");
    assert_eq!(env.get("CONTENT_LENGTH").map(String::as_str), Some("5"));
    assert_eq!(
        env.get("CONTENT_TYPE").map(String::as_str),
        Some("application/x-www-form-urlencoded")
    );
    assert!(!env.contains_key("HTTP_CONTENT_LENGTH") && !env.contains_key("HTTP_CONTENT_TYPE"));
    assert_eq!(env.get("QUERY_STRING").map(String::as_str), Some(""));
    assert!(
        !env.contains_key("PATH_INFO"),
        "PATH_INFO without extra path"
    );

    let mut w = Wire::connect(&s);
    w.send(b"GET /cgi-bin/env.cgi HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n");
    let (r, framing) = w.response();
    assert_eq!(r.status, 200);
    assert_eq!(framing, Framing::Close, "headers: {:?}", r.headers);
    assert!(r.header("transfer-encoding").is_none());
    assert_eq!(
        env_map(&r.body).get("SERVER_PROTOCOL").map(String::as_str),
        Some("HTTP/1.0")
    );
}

/// RFC 3875 §4.1.18: Authorization is passed only when the operator asks (--cgi-pass-auth).
#[test]
fn rfc3875_4_1_18_authorization_only_with_cgi_pass_auth() {
    let root = cgi_root();
    let s = start(&root, &["--cgi-pass-auth"]);
    let (r, _) = ask(
        &s,
        b"GET /cgi-bin/env.cgi HTTP/1.1\r\nHost: t\r\nAuthorization: Basic Zm9vOmJhcg==\r\nProxy: x\r\n\r\n",
    );
    let env = env_map(&r.body);
    assert_eq!(
        env.get("HTTP_AUTHORIZATION").map(String::as_str),
        Some("Basic Zm9vOmJhcg==")
    );
    assert!(
        !env.contains_key("HTTP_PROXY"),
        "Proxy passed with --cgi-pass-auth"
    );
}

/// RFC 3875 §7.2 ("the current working directory for the script SHOULD be set to the
/// directory containing the script"): a script in a subdirectory runs there and finds its
/// neighbours by relative names.
#[test]
fn rfc3875_7_2_working_directory_is_the_scripts_directory() {
    let root = cgi_root();
    script(
        &root,
        "cgi-bin/sub/cwd.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\npwd -P\ncat ./neighbour.txt\n",
    );
    root.file("cgi-bin/sub/neighbour.txt", b"next door\n");
    let s = start(&root, &[]);
    let (r, _) = get(&s, "/cgi-bin/sub/cwd.cgi");
    assert_eq!(r.status, 200);
    let dir = root.www.join("cgi-bin/sub").canonicalize().unwrap();
    assert_eq!(r.body_str(), format!("{}\nnext door\n", dir.display()));
}

/// A file under the prefix that is not executable is not run (403) nor served as source;
/// a missing one is 404.
#[test]
fn rfc3875_non_executable_is_403_and_missing_is_404() {
    let root = cgi_root();
    root.file(
        "cgi-bin/plain.cgi",
        b"#!/bin/sh\n# SOURCE-MARKER\necho ran > ran.txt\n",
    );
    let s = start(&root, &[]);
    let (r, _) = get(&s, "/cgi-bin/plain.cgi");
    assert_eq!(r.status, 403);
    assert!(
        !contains(&r.body, b"SOURCE-MARKER"),
        "the source was served"
    );
    assert!(!root.www.join("cgi-bin/ran.txt").exists(), "it ran");
    let (r, _) = get(&s, "/cgi-bin/plain.cgi/extra/path");
    assert_eq!(r.status, 403, "with PATH_INFO");
    for path in [
        "/cgi-bin/missing.cgi",
        "/cgi-bin/missing.cgi/x",
        "/cgi-bin/nodir/x.cgi",
    ] {
        let (r, _) = get(&s, path);
        assert_eq!(r.status, 404, "{path}");
    }
    // The control: the executable next to it runs.
    let (r, _) = get(&s, "/cgi-bin/hello.cgi");
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello from cgi\n"));
}

// ---------------------------------------------------------------------------------------
// Request bodies and response framing
// ---------------------------------------------------------------------------------------

/// RFC 3875 §4.2: the request body reaches the program's stdin whole. 1 MiB goes in and comes
/// back byte for byte (sent from another thread, since the echo flows while it is sent).
#[test]
fn rfc3875_4_2_one_mib_body_is_echoed_exactly() {
    let root = cgi_root();
    script(&root, "cgi-bin/echo.cgi", ECHO_SH);
    let s = start(&root, &[]);
    let data = pattern(1 << 20, 21);
    let mut w = Wire::connect(&s);
    let mut out = w.stream.try_clone().unwrap();
    let body = data.clone();
    let writer = std::thread::spawn(move || {
        out.write_all(
            format!(
                "POST /cgi-bin/echo.cgi HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        for piece in body.chunks(100_000) {
            out.write_all(piece).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    eprintln!("DBG {}", s.stderr_text());
    let (r, framing) = w.response();
    writer.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(framing, Framing::Chunked);
    assert_eq!(r.body.len(), data.len());
    assert!(r.body == data, "the echoed body differs");
    // RFC 9112 §9.6: the connection is either kept for the next request or announced closed.
    if r.connection_has("close") {
        w.assert_closed(Duration::from_secs(2));
    } else {
        w.send(&get_req("/hello.txt"));
        assert_eq!(w.response().0.body, HELLO, "the connection after the echo");
    }
}

/// RFC 3875 §4.1.2: with a chunked request body the server "MUST" provide CONTENT_LENGTH (it
/// buffers the body); the program gets the real length and the decoded bytes.
#[test]
fn rfc3875_4_1_2_chunked_body_gets_its_real_content_length() {
    let root = cgi_root();
    script(
        &root,
        "cgi-bin/len.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nprintf 'CL=%s\\n' \"$CONTENT_LENGTH\"\nexec cat\n",
    );
    let s = start(&root, &[]);
    let data = pattern(100_003, 22);
    let mut req =
        b"POST /cgi-bin/len.cgi HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in data.chunks(30_000) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let mut w = Wire::connect(&s);
    let mut out = w.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || out.write_all(&req).unwrap());
    let (r, _) = w.response();
    writer.join().unwrap();
    assert_eq!(r.status, 200);
    let mut want = format!("CL={}\n", data.len()).into_bytes();
    want.extend_from_slice(&data);
    assert_eq!(r.body.len(), want.len());
    assert!(
        r.body == want,
        "CL line or body wrong: {:?}",
        &r.body_str()[..20]
    );
}

/// RFC 9112 §6.1 and §9.3: program output of unknown length is sent chunked to an HTTP/1.1
/// client, so the connection stays open for the next request.
#[test]
fn rfc9112_7_1_cgi_output_is_chunked_and_keep_alive_survives() {
    let root = cgi_root();
    let s = start(&root, &[]);
    let mut w = Wire::connect(&s);
    for i in 0..3 {
        w.send(&get_req("/cgi-bin/hello.cgi"));
        let (r, framing) = w.response();
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(framing, Framing::Chunked, "request {i}");
        assert!(r.header("content-length").is_none());
        assert!(!r.connection_has("close"));
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.body_str(), "hello from cgi\n");
    }
    w.send(&get_req("/hello.txt"));
    assert_eq!(w.response().0.body, HELLO);
}

// ---------------------------------------------------------------------------------------
// The program's response (RFC 3875 §6)
// ---------------------------------------------------------------------------------------

/// RFC 3875 §6.3.3: Status sets the status code and reason phrase; other fields pass through
/// (§6.3.5). The program's framing fields are the server's to set.
#[test]
fn rfc3875_6_3_3_status_header_sets_the_status() {
    let root = cgi_root();
    script(
        &root,
        "cgi-bin/teapot.py",
        "#!/usr/bin/python3\nimport sys\nsys.stdout.write(\"Status: 418 I'm a teapot\\r\\n\
         Content-Type: text/plain\\r\\nX-Script: py\\r\\nContent-Length: 999\\r\\n\\r\\n\
         short and stout\\n\")\n",
    );
    let s = start(&root, &[]);
    let (r, framing) = get(&s, "/cgi-bin/teapot.py");
    assert_eq!(r.status, 418);
    assert_eq!(r.reason, "I'm a teapot");
    assert_eq!(r.header("x-script"), Some("py"));
    assert_eq!(
        framing,
        Framing::Chunked,
        "the program's Content-Length was used"
    );
    assert_eq!(r.body_str(), "short and stout\n");
}

/// RFC 3875 §6.2.2: a local redirect (only a Location that is a path) is answered by the
/// server as if that path had been requested: the client gets /hello.txt with 200 and no
/// Location. §6.2.3: an absolute URI is a client redirect, 302 with that Location.
#[test]
fn rfc3875_6_2_local_and_client_redirects() {
    let root = cgi_root();
    script(
        &root,
        "cgi-bin/local.cgi",
        "#!/bin/sh\nprintf 'Location: /hello.txt\\r\\n\\r\\n'\n",
    );
    script(
        &root,
        "cgi-bin/client.cgi",
        "#!/bin/sh\nprintf 'Location: http://example.test/elsewhere?a=1\\r\\n\\r\\n'\n",
    );
    chain_script(&root);
    let s = start(&root, &[]);
    let mut w = Wire::connect(&s);
    w.send(&get_req("/cgi-bin/local.cgi"));
    let (r, _) = w.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, HELLO);
    assert!(r.header("location").is_none());
    w.send(&get_req("/cgi-bin/client.cgi"));
    let (r, _) = w.response();
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("http://example.test/elsewhere?a=1")
    );
    w.send(&get_req("/cgi-bin/chain.cgi"));
    let (r, _) = w.response();
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello from cgi\n"));
}

/// RFC 3875 §6.3: a header block ended by LF alone (not CRLF) is accepted, as §6.3 allows
/// "NL" line ends.
#[test]
fn rfc3875_6_3_lf_only_header_block_works() {
    let root = cgi_root();
    script(
        &root,
        "cgi-bin/lf.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\nX-Lf: yes\\n\\nlf body\\n'\n",
    );
    let s = start(&root, &[]);
    let (r, _) = get(&s, "/cgi-bin/lf.cgi");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-lf"), Some("yes"));
    assert_eq!(r.body_str(), "lf body\n");
}

/// RFC 3875 §6 and RFC 9110 §15.6.3: a program whose response is not a valid CGI response —
/// a malformed header block, a block with none of Content-Type, Location or Status, no output
/// at all, or death by a signal before any output — gets 502 (Bad Gateway), and none of its
/// output reaches the client.
#[test]
fn rfc3875_6_bad_program_output_is_502() {
    let root = cgi_root();
    for (name, text) in [
        (
            "garbage",
            "#!/bin/sh\nprintf 'this is not a header\\n\\nLEAKED-OUTPUT\\n'\n",
        ),
        (
            "nofields",
            "#!/bin/sh\nprintf 'X-Only: 1\\r\\n\\r\\nLEAKED-OUTPUT\\n'\n",
        ),
        (
            "badstatus",
            "#!/bin/sh\nprintf 'Status: OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nLEAKED-OUTPUT\\n'\n",
        ),
        (
            "unfinished",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\nLEAKED-OUTPUT'\n",
        ),
        ("silent", "#!/bin/sh\nexit 0\n"),
        (
            "crash",
            "#!/bin/sh\nkill -SEGV $$\nprintf 'Content-Type: text/plain\\r\\n\\r\\nLEAKED-OUTPUT\\n'\n",
        ),
    ] {
        script(&root, &format!("cgi-bin/{name}.cgi"), text);
    }
    let s = start(&root, &[]);
    for name in [
        "garbage",
        "nofields",
        "badstatus",
        "unfinished",
        "silent",
        "crash",
    ] {
        let (r, _) = get(&s, &format!("/cgi-bin/{name}.cgi"));
        assert_eq!(r.status, 502, "{name}: {}", r.body_str());
        assert!(
            !contains(&r.body, b"LEAKED"),
            "{name}: program output reached the client"
        );
        assert!(!contains(&r.body, b"not a header"), "{name}");
    }
    assert_eq!(get(&s, "/hello.txt").0.body, HELLO, "the server survives");
}

/// RFC 3875 §6 leaves stderr to the server: each line goes to the server's error log (its
/// stderr) tagged with the script's name, and never to the client.
#[test]
fn rfc3875_stderr_goes_to_the_server_log_tagged() {
    let root = cgi_root();
    script(
        &root,
        "cgi-bin/err.cgi",
        "#!/bin/sh\necho 'err-marker one' >&2\nprintf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\necho 'err-marker two' >&2\n",
    );
    let s = start(&root, &[]);
    let (r, _) = get(&s, "/cgi-bin/err.cgi");
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok\n"));
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let log = s.stderr_text();
        let tagged = |m: &str| {
            log.lines()
                .any(|l| l.contains("/cgi-bin/err.cgi") && l.ends_with(m))
        };
        if tagged("err-marker one") && tagged("err-marker two") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stderr lines missing or untagged: {log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// Processes: timeouts, vanished clients, limits, zombies, descriptors
// ---------------------------------------------------------------------------------------

/// RFC 9110 §15.6.5: a program that does not answer within `--cgi-timeout` gets the client a
/// 504 (Gateway Timeout), and the program's whole process group is killed: the script and
/// the background child it started.
#[test]
fn rfc9110_15_6_5_cgi_timeout_is_504_and_kills_the_process_group() {
    let root = cgi_root();
    let pids = root.base.join("pids-timeout");
    std::fs::create_dir(&pids).unwrap();
    script(&root, "cgi-bin/slow.cgi", &pid_script(&pids));
    let s = start(&root, &["--cgi-timeout", "1"]);
    let t0 = Instant::now();
    let (r, _) = get(&s, "/cgi-bin/slow.cgi");
    let took = t0.elapsed();
    assert_eq!(r.status, 504);
    assert!(took < Duration::from_millis(2500), "504 after {took:?}");
    assert!(!contains(&r.body, b"too late"));
    let sh = read_pid(&pids.join("sh.pid"), Duration::ZERO);
    let _cleanup = KillGroup(sh);
    let bg = read_pid(&pids.join("bg.pid"), Duration::ZERO);
    assert_killed(sh, bg, Duration::from_secs(2), "after the timeout");
    assert!(
        s.stderr_text().contains("/cgi-bin/slow.cgi"),
        "the timeout is not logged"
    );
}

/// A client that disconnects while its program runs: the program and its process group are
/// killed (there is nobody to answer), long before `--cgi-timeout`.
#[test]
fn cgi_client_disconnect_kills_the_program() {
    let root = cgi_root();
    let pids = root.base.join("pids-gone");
    std::fs::create_dir(&pids).unwrap();
    script(&root, "cgi-bin/slow.cgi", &pid_script(&pids));
    let s = start(&root, &[]);
    let mut w = Wire::connect(&s);
    w.send(&get_req("/cgi-bin/slow.cgi"));
    let sh = read_pid(&pids.join("sh.pid"), Duration::from_secs(3));
    let _cleanup = KillGroup(sh);
    let bg = read_pid(&pids.join("bg.pid"), Duration::from_secs(1));
    assert!(proc_state(sh).is_some(), "the script is not running");
    drop(w);
    assert_killed(sh, bg, Duration::from_secs(3), "after the client left");
}

/// `--cgi-max 1`: while one program runs, another request gets 503 (RFC 9110 §15.6.4) with a
/// Retry-After (§10.2.3) saying when to come back; once it ends, programs run again.
#[test]
fn rfc9110_15_6_4_cgi_max_answers_503_with_retry_after() {
    let root = cgi_root();
    script(&root, "cgi-bin/sleep2.cgi", SLEEP2_SH);
    let s = start(&root, &["--cgi-max", "1"]);
    let mut first = Wire::connect(&s);
    first.send(&get_req("/cgi-bin/sleep2.cgi"));
    std::thread::sleep(Duration::from_millis(300));
    let (r, _) = get(&s, "/cgi-bin/hello.cgi");
    assert_eq!(r.status, 503, "a second program while one runs");
    let ra = r.header("retry-after").expect("Retry-After");
    assert!(ra.parse::<u32>().is_ok(), "Retry-After {ra:?}");
    // Static files are not limited.
    assert_eq!(get(&s, "/hello.txt").0.status, 200);
    let (r, _) = first.response();
    assert_eq!((r.status, r.body_str().as_str()), (200, "slept\n"));
    let (r, _) = get(&s, "/cgi-bin/hello.cgi");
    assert_eq!(r.status, 200, "after the first program ended");
}

/// Out of descriptors (EMFILE), a request for a program that exists is a temporary overload,
/// 503 with Retry-After (RFC 9110 §15.6.4), as it is for a static file: not 404 (the failed
/// open of the script was taken for an absent one) nor 500. Once descriptors are free again,
/// the program runs.
#[test]
fn rfc9110_15_6_4_cgi_out_of_descriptors_is_503_not_404() {
    const LIMIT: usize = 40;
    let root = cgi_root();
    let s = start_with_fd_limit(&root.www, LIMIT, &["--cgi", "/cgi-bin/"]);
    let (fillers, mut ours) = exhaust_descriptors(
        &s,
        LIMIT,
        &[
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n",
            b"GET /cgi-bin/hello.cgi HTTP/1.1\r\nHost: t\r\n",
        ],
    );
    // The control: a static file that is not cached cannot be opened either.
    ours[0].send(b"\r\n");
    assert_eq!(ours[0].response().status, 503, "GET of a file");
    ours[1].send(b"\r\n");
    let r = ours[1].response();
    assert_eq!(r.status, 503, "GET of a program with no descriptor left");
    assert_eq!(r.header("retry-after"), Some("1"));
    drop((fillers, ours));
    let deadline = Instant::now() + scaled(Duration::from_secs(3));
    loop {
        let (r, _) = get(&s, "/cgi-bin/hello.cgi");
        if r.status == 200 {
            assert_eq!(r.body, b"hello from cgi\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no program runs after: {}",
            r.status
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// No program stays a zombie: after normal runs, crashes, silent exits, a timeout and a
/// vanished client, the server has no child in state Z (and, soon, no child at all).
#[test]
fn cgi_programs_leave_no_zombies() {
    let root = cgi_root();
    let pids = root.base.join("pids-z");
    std::fs::create_dir(&pids).unwrap();
    script(&root, "cgi-bin/slow.cgi", &pid_script(&pids));
    script(&root, "cgi-bin/crash.cgi", "#!/bin/sh\nkill -SEGV $$\n");
    script(&root, "cgi-bin/silent.cgi", "#!/bin/sh\nexit 3\n");
    let s = start(&root, &["--cgi-timeout", "1"]);
    for _ in 0..5 {
        assert_eq!(get(&s, "/cgi-bin/hello.cgi").0.status, 200);
    }
    for _ in 0..2 {
        assert_eq!(get(&s, "/cgi-bin/crash.cgi").0.status, 502);
        assert_eq!(get(&s, "/cgi-bin/silent.cgi").0.status, 502);
    }
    let mut w = Wire::connect(&s);
    w.send(&get_req("/cgi-bin/slow.cgi"));
    let _cleanup = KillGroup(read_pid(&pids.join("sh.pid"), Duration::from_secs(3)));
    drop(w);
    std::fs::remove_file(pids.join("sh.pid")).unwrap();
    assert_eq!(get(&s, "/cgi-bin/slow.cgi").0.status, 504);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let kids = children_of(s.pid());
        if kids.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "children of the server after 3 s (pid, state): {kids:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The descriptors a program has open, as (number, target), leaving out the one the listing
/// itself used (closed by the time it was read) and the script's own source. A script runs
/// from the file the server opened and checked (Linux: execveat of that descriptor), which
/// the kernel hands to the interpreter as /dev/fd/N: that one descriptor stays open, on the
/// script itself (and is checked here to be nothing else).
fn program_fds(s: &Server, root: &TempRoot) -> Vec<(u32, String)> {
    let (r, _) = get(s, "/cgi-bin/fds.py");
    assert_eq!(r.status, 200, "{}", r.body_str());
    let source = root.www.join("cgi-bin/fds.py").canonicalize().unwrap();
    let source = source.to_str().unwrap();
    let all: Vec<(u32, String)> = r
        .body_str()
        .lines()
        .filter_map(|l| {
            let (n, t) = l.split_once(' ').expect("'fd target' line");
            (t != "(closed)").then(|| (n.parse().expect("fd number"), t.to_string()))
        })
        .collect();
    let own = all.iter().filter(|(n, t)| *n > 2 && t == source).count();
    assert!(own <= 1, "the script is open more than once: {all:?}");
    all.into_iter()
        .filter(|(n, t)| *n <= 2 || t != source)
        .collect()
}

/// RFC 3875 §4.2 gives the program stdin, stdout and stderr; it inherits nothing else of the
/// server (listening and client sockets, epoll, the files it serves). The server is started
/// with nothing open above descriptor 2, so anything more the program has came from it.
#[test]
fn cgi_programs_inherit_no_server_descriptors() {
    let root = cgi_root();
    script(&root, "cgi-bin/fds.py", FDS_PY);
    let s = start_clean(&root, &["--workers", "1"], None);
    // Give the server more descriptors: idle connections, a served (cached) file.
    let mut idle: Vec<Wire> = (0..3).map(|_| Wire::connect(&s)).collect();
    for w in &mut idle {
        w.send(&get_req("/hello.txt"));
        assert_eq!(w.response().0.body, HELLO);
    }
    let fds = program_fds(&s, &root);
    let numbers: Vec<u32> = fds.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [0, 1, 2], "descriptors of the program: {fds:?}");
    assert!(
        fds.iter()
            .all(|(_, t)| t.starts_with("pipe:") || t == "/dev/null"),
        "{fds:?}"
    );
}

/// A descriptor the server itself inherited without close-on-exec (from a shell or service
/// manager) is the server's too: a program run as CGI must not get it (RFC 3875 §4.2: its
/// input and output are the pipes the server gives it).
#[test]
fn cgi_programs_do_not_get_descriptors_the_server_inherited() {
    let root = cgi_root();
    script(&root, "cgi-bin/fds.py", FDS_PY);
    let s = start_clean(&root, &[], Some(7));
    let server_fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", s.pid()))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        server_fds.iter().any(|n| n == "7"),
        "the server did not inherit fd 7: {server_fds:?}"
    );
    let fds = program_fds(&s, &root);
    let numbers: Vec<u32> = fds.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [0, 1, 2], "descriptors of the program: {fds:?}");
}

/// Programs run beside the event loop, not in it: while three programs sleep for 2 s, 20
/// static requests are each answered in well under 200 ms, and the three finish together.
#[test]
fn slow_programs_do_not_block_static_files() {
    let root = cgi_root();
    script(&root, "cgi-bin/sleep2.cgi", SLEEP2_SH);
    let s = start(&root, &[]);
    let t0 = Instant::now();
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let mut w = Wire::connect(&s);
            w.send(&get_req("/cgi-bin/sleep2.cgi"));
            std::thread::spawn(move || w.response().0)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..20 {
        let t = Instant::now();
        let r = s.get("/hello.txt");
        let took = t.elapsed();
        assert_eq!(r.body, HELLO);
        assert!(
            took < Duration::from_millis(200),
            "static request {i} took {took:?}"
        );
    }
    for t in slow {
        let r = t.join().unwrap();
        assert_eq!((r.status, r.body_str().as_str()), (200, "slept\n"));
    }
    let all = t0.elapsed();
    assert!(
        all < Duration::from_millis(3500),
        "three 2 s programs took {all:?} in all"
    );
}

/// A program may not answer with an interim status: `Status: 101` with `Upgrade` (or a
/// `100`) sent as the whole response would leave the connection out of step, the next
/// pipelined answer paired with this request, and a proxy in tunnel mode. The client gets
/// 502, and the next pipelined request its own answer. Hop-by-hop fields a program writes
/// (RFC 9110 §7.6.1) never reach the client.
#[test]
fn rfc3875_6_3_3_interim_status_is_502_and_hop_by_hop_fields_are_dropped() {
    let root = cgi_root();
    script(
        &root,
        "cgi-bin/continue.cgi",
        "#!/bin/sh\nprintf 'Status: 100 Continue\\r\\n\\r\\nStatus: 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nx'\n",
    );
    script(
        &root,
        "cgi-bin/upgrade.cgi",
        "#!/bin/sh\nprintf 'Status: 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: upgrade\\r\\n\\r\\nhello'\n",
    );
    script(
        &root,
        "cgi-bin/hop.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\nUpgrade: h2c\\r\\nTE: trailers\\r\\nTrailer: X-T\\r\\nKeep-Alive: timeout=5\\r\\nProxy-Authenticate: Basic\\r\\nX-Kept: yes\\r\\n\\r\\nbody\\n'\n",
    );
    let s = start(&root, &[]);
    assert_eq!(get(&s, "/cgi-bin/continue.cgi").0.status, 502);
    let mut c = s.connect();
    let mut both = get_req("/cgi-bin/upgrade.cgi");
    both.extend_from_slice(&get_req("/hello.txt"));
    c.send(&both);
    let r = c.response();
    assert_eq!(r.status, 502);
    assert!(r.header("upgrade").is_none());
    // A failed program ends the connection, and says so: the pipelined GET is not answered
    // as if it were the program's, and the client knows to send it again.
    assert!(r.connection_has("close"));
    c.assert_closed(Duration::from_secs(3), "after a 502");
    let r = s.get("/hello.txt");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello, world\n"[..]));
    let (r, _) = get(&s, "/cgi-bin/hop.cgi");
    assert_eq!((r.status, r.body_str().as_str()), (200, "body\n"));
    assert_eq!(r.header("x-kept"), Some("yes"));
    for name in [
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-authenticate",
    ] {
        assert!(r.header(name).is_none(), "{name} passed through");
    }
}

// ---------------------------------------------------------------------------------------
// Chunked bodies for programs: refused before they are read, bounded in size and time
// ---------------------------------------------------------------------------------------

/// A chunked request with `Expect: 100-continue` for `path`.
fn chunked_head(path: &str, expect: bool) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n{}\r\n",
        if expect {
            "Expect: 100-continue\r\n"
        } else {
            ""
        }
    )
    .into_bytes()
}

/// `data` as chunks of at most `piece` bytes, with the last chunk.
fn chunked(data: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for p in data.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A chunked body for a program is spooled to a file before the program runs, so whatever
/// can refuse the request is checked before a byte of the body is read: no program is 404,
/// one that may not run 403, `--cgi-max` programs already running 503, each answered at
/// once and never after a `100 Continue` (RFC 9110 §10.1.1: a server that will refuse the
/// request answers with the final status instead). The security review found the whole body
/// written to a temporary file first, after a 100 Continue, for a script that did not exist.
#[test]
fn rfc9110_10_1_1_chunked_cgi_body_is_refused_before_it_is_read() {
    let root = cgi_root();
    root.file("cgi-bin/plain.cgi", b"#!/bin/sh\nexit 0\n"); // not executable
    script(&root, "cgi-bin/sleep2.cgi", SLEEP2_SH);
    let s = start(&root, &["--cgi-max", "1"]);
    for (path, want) in [
        ("/cgi-bin/missing.cgi", 404),
        ("/cgi-bin/missing.cgi/x", 404),
        ("/cgi-bin/plain.cgi", 403),
    ] {
        let mut w = Wire::connect(&s);
        w.send(&chunked_head(path, true));
        let (r, _) = w.response();
        assert_eq!(
            r.status, want,
            "{path}: the first answer, with no 100 Continue"
        );
    }
    // Without Expect the client sends its body at once: the answer does not wait for its end.
    let mut w = Wire::connect(&s);
    let mut req = chunked_head("/cgi-bin/missing.cgi", false);
    req.extend_from_slice(b"4\r\nabcd\r\n");
    w.send(&req);
    assert_eq!(w.response().0.status, 404, "before the body ended");
    // The one slot is taken: 503 at once.
    let mut first = Wire::connect(&s);
    first.send(&get_req("/cgi-bin/sleep2.cgi"));
    std::thread::sleep(Duration::from_millis(300));
    let mut w = Wire::connect(&s);
    w.send(&chunked_head("/cgi-bin/hello.cgi", true));
    let (r, _) = w.response();
    assert_eq!(r.status, 503, "--cgi-max reached, with no 100 Continue");
    assert_eq!(first.response().0.status, 200);
    // The control: a program that can run gets 100 Continue, then its answer.
    let mut w = Wire::connect(&s);
    w.send(&chunked_head("/cgi-bin/hello.cgi", true));
    assert_eq!(w.response().0.status, 100);
    w.send(&chunked(b"body", 4));
    assert_eq!(w.response().0.status, 200);
}

/// A chunked body for a program is held on the server's disk until it is whole, so it has
/// a bound of its own, `--cgi-max-body` (64 MiB unless set, and at most `--max-body`, which
/// is sized for uploads: 1 GiB). Past it the answer is 413 (RFC 9110 §15.5.14), the
/// program does not run, and the connection closes; a body of exactly the limit is taken.
#[test]
fn rfc9110_15_5_14_spooled_cgi_body_past_cgi_max_body_is_413() {
    let root = cgi_root();
    let runs = root.base.join("runs");
    script(
        &root,
        "cgi-bin/len.cgi",
        &format!(
            "#!/bin/sh\necho ran >> {}\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
             printf 'CL=%s\\n' \"$CONTENT_LENGTH\"\n",
            runs.display()
        ),
    );
    let s = start(&root, &["--cgi-max-body", "64K"]);
    let send = |len: usize| {
        let mut req = chunked_head("/cgi-bin/len.cgi", false);
        req.extend_from_slice(&chunked(&pattern(len, 23), 16 * 1024));
        let mut w = Wire::connect(&s);
        let mut out = w.stream.try_clone().unwrap();
        // The server may close before it has read everything: a write error is expected.
        let writer = std::thread::spawn(move || {
            let _ = out.write_all(&req);
        });
        let (r, _) = w.response();
        writer.join().unwrap();
        r
    };
    let r = send(64 * 1024);
    assert_eq!((r.status, r.body_str().as_str()), (200, "CL=65536\n"));
    let r = send(64 * 1024 + 1);
    assert_eq!(r.status, 413, "{}", r.body_str());
    assert!(r.connection_has("close"));
    let ran = std::fs::read_to_string(&runs).unwrap_or_default();
    assert_eq!(
        ran.lines().count(),
        1,
        "the program ran for the refused body"
    );
}

/// RFC 9110 §15.5.9: a chunked body for a program has one deadline, `--cgi-timeout` from
/// the end of its head, however it trickles in. Each piece used to restart the head
/// deadline, so a client sending a byte now and then held a `--cgi-max` slot and a
/// temporary file for as long as it liked. Here one byte every 200 ms under
/// `--cgi-timeout 1` gets 408 after about a second.
#[test]
fn rfc9110_15_5_9_spooled_cgi_body_has_one_deadline() {
    let root = cgi_root();
    script(&root, "cgi-bin/echo.cgi", ECHO_SH);
    let s = start(&root, &["--cgi-timeout", "1"]);
    let mut w = Wire::connect(&s);
    let t0 = Instant::now();
    w.send(&chunked_head("/cgi-bin/echo.cgi", false));
    let mut out = w.stream.try_clone().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let writer = std::thread::spawn(move || {
        // Five seconds of trickle at most (the client's read gives up then).
        for _ in 0..25 {
            if stopped.load(std::sync::atomic::Ordering::Relaxed)
                || out.write_all(b"1\r\nx\r\n").is_err()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (r, _) = w.response();
    let took = t0.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(r.status, 408);
    assert!(
        took >= Duration::from_millis(900) && took < scaled(Duration::from_millis(3500)),
        "408 after {took:?}"
    );
}

// ---------------------------------------------------------------------------------------
// --cgi-max: one count for all workers
// ---------------------------------------------------------------------------------------

/// `--cgi-max` holds when requests reach all the workers at the same moment (RFC 9110
/// §15.6.4: the others get 503). The count used to be checked, then raised only once the
/// program had started, and four workers ran four programs under `--cgi-max 1`. Each round
/// sends eight requests at once to four workers; at most one program may run.
#[test]
fn rfc9110_15_6_4_cgi_max_holds_for_simultaneous_requests() {
    let root = cgi_root();
    let runs = root.base.join("runs");
    std::fs::create_dir(&runs).unwrap();
    script(
        &root,
        "cgi-bin/one.cgi",
        &format!(
            "#!/bin/sh\ntouch {}/$$\nsleep 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\nran\\n'\n",
            runs.display()
        ),
    );
    let s = start(&root, &["--cgi-max", "1", "--workers", "4"]);
    const AT_ONCE: usize = 8;
    for round in 0..3 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(AT_ONCE));
        let clients: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                let mut w = Wire::connect(&s);
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    w.send(&get_req("/cgi-bin/one.cgi"));
                    w.response().0.status
                })
            })
            .collect();
        let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        let ran = std::fs::read_dir(&runs).unwrap().count();
        let ok = statuses.iter().filter(|&&st| st == 200).count();
        assert!(
            ok <= 1 && ran <= 1,
            "round {round}: {ran} programs ran under --cgi-max 1; statuses {statuses:?}"
        );
        assert!(
            statuses.iter().all(|&st| st == 200 || st == 503),
            "round {round}: {statuses:?}"
        );
        for e in std::fs::read_dir(&runs).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
    }
}

/// `cgi-bin/chain.cgi`: a program that answers with a local redirect to `hello.cgi`.
fn chain_script(root: &TempRoot) {
    script(
        root,
        "cgi-bin/chain.cgi",
        "#!/bin/sh\nprintf 'Location: /cgi-bin/hello.cgi\\r\\n\\r\\n'\n",
    );
}

/// RFC 3875 §6.2.2: a local redirect to another program under `--cgi-max 1`. The program
/// that asked for the redirect is done, so its slot goes to the program the server runs
/// next; it used to be still counted, and the client got 503.
#[test]
fn rfc3875_6_2_2_local_redirect_to_a_program_under_cgi_max_1() {
    let root = cgi_root();
    chain_script(&root);
    let s = start(&root, &["--cgi-max", "1"]);
    let mut w = Wire::connect(&s);
    for i in 0..3 {
        w.send(&get_req("/cgi-bin/chain.cgi"));
        let (r, _) = w.response();
        assert_eq!(
            (r.status, r.body_str().as_str()),
            (200, "hello from cgi\n"),
            "redirect {i}"
        );
    }
    // No slot was lost on the way.
    let (r, _) = get(&s, "/cgi-bin/hello.cgi");
    assert_eq!(r.status, 200);
}

/// RFC 9110 §9.3.2: a HEAD that a program redirects locally to another program gets the
/// head alone; the body the second program writes is not sent, so the next answer on the
/// connection is read where it starts.
#[test]
fn rfc9110_9_3_2_head_through_a_local_redirect_to_a_program_has_no_body() {
    let root = cgi_root();
    chain_script(&root);
    let s = start(&root, &[]);
    let mut w = Wire::connect(&s);
    w.send(b"HEAD /cgi-bin/chain.cgi HTTP/1.1\r\nHost: x\r\n\r\n");
    let (r, n) = loop {
        match parse_response(&w.buf, true).expect("a response head") {
            Some(v) => break v,
            None => assert!(w.fill(), "stream ended before the head"),
        }
    };
    assert_eq!(r.status, 200);
    w.buf.drain(..n);
    // Whatever followed the head (a body, wrongly) would be read as the next answer.
    w.send(&get_req("/cgi-bin/hello.cgi"));
    let (r, _) = w.response();
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello from cgi\n"));
}

// ---------------------------------------------------------------------------------------
// The host a program is told (RFC 9112 §3.2.2)
// ---------------------------------------------------------------------------------------

/// RFC 9112 §3.2.2: "When an origin server receives a request with an absolute-form of
/// request-target, the origin server MUST ignore the received Host header field (if any)
/// and instead use the host information of the request-target." A program is told the
/// target's authority as SERVER_NAME and HTTP_HOST, and a local redirect keeps it; a Host
/// field that says otherwise is not seen.
#[test]
fn rfc9112_3_2_2_absolute_form_authority_is_the_programs_host() {
    let root = cgi_root();
    script(
        &root,
        "cgi-bin/to-env.cgi",
        "#!/bin/sh\nprintf 'Location: /cgi-bin/env.cgi\\r\\n\\r\\n'\n",
    );
    let s = start(&root, &[]);
    for target in [
        "http://example.test:8080/cgi-bin/env.cgi",
        "http://example.test:8080/cgi-bin/to-env.cgi",
    ] {
        let (r, _) = ask(
            &s,
            format!("GET {target} HTTP/1.1\r\nHost: other.test\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 200, "{target}");
        let env = env_map(&r.body);
        assert_eq!(
            env.get("SERVER_NAME").map(String::as_str),
            Some("example.test"),
            "{target}"
        );
        assert_eq!(
            env.get("HTTP_HOST").map(String::as_str),
            Some("example.test:8080"),
            "{target}"
        );
        assert!(
            !contains(&r.body, b"other.test"),
            "{target}: the Host field was used"
        );
    }
    // The control: in origin form the Host field names the host.
    let (r, _) = ask(
        &s,
        b"GET /cgi-bin/env.cgi HTTP/1.1\r\nHost: other.test\r\n\r\n",
    );
    let env = env_map(&r.body);
    assert_eq!(
        env.get("SERVER_NAME").map(String::as_str),
        Some("other.test")
    );
    assert_eq!(env.get("HTTP_HOST").map(String::as_str), Some("other.test"));
}

// ---------------------------------------------------------------------------------------
// What runs is what was checked
// ---------------------------------------------------------------------------------------

/// A program is checked when it is opened (beneath the root, through no symlink), and that
/// opened file is what runs, not whatever the name means by the time of the exec. The
/// security review swapped a script for a symlink to a program outside the root between the
/// two, as a local user who can write the CGI folder could, and the outside program ran.
/// Here a thread swaps the name between the script and such a symlink as fast as it can
/// while requests run for two seconds: each answer is the script's (200) or a refusal of
/// the symlink (404), and the outside program never runs.
#[test]
fn cgi_script_swapped_for_a_symlink_never_runs_the_program_outside_the_root() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let root = cgi_root();
    let mark = root.base.join("outside-ran");
    let outside = root.outside(
        "outside.cgi",
        format!(
            "#!/bin/sh\ntouch {}\nprintf 'Content-Type: text/plain\\r\\n\\r\\nOUTSIDE-MARKER\\n'\n",
            mark.display()
        )
        .as_bytes(),
    );
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o755)).unwrap();
    let inside = root.outside(
        "inside.cgi",
        b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\ninside\\n'\n",
    );
    std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o755)).unwrap();
    let name = root.www.join("cgi-bin/swap.cgi");
    std::fs::hard_link(&inside, &name).unwrap();
    let s = start(&root, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let dir = root.www.join("cgi-bin");
        let (name, inside, outside) = (name.clone(), inside.clone(), outside.clone());
        std::thread::spawn(move || {
            let (a, b) = (dir.join(".swap-a"), dir.join(".swap-b"));
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::remove_file(&a);
                let _ = std::fs::remove_file(&b);
                // Errors end the loop (the test failed and removed the root); the count
                // of swaps tells whether it ran.
                let swapped = std::fs::hard_link(&inside, &a)
                    .and_then(|()| std::fs::rename(&a, &name))
                    .and_then(|()| std::os::unix::fs::symlink(&outside, &b))
                    .and_then(|()| std::fs::rename(&b, &name));
                if swapped.is_err() {
                    break;
                }
                swaps += 1;
            }
            swaps
        })
    };
    let t0 = Instant::now();
    let (mut inside_runs, mut refused) = (0, 0);
    while t0.elapsed() < Duration::from_secs(2) {
        let (r, _) = get(&s, "/cgi-bin/swap.cgi");
        assert!(
            !contains(&r.body, b"OUTSIDE-MARKER"),
            "the program outside the root ran"
        );
        match r.status {
            200 => {
                assert_eq!(r.body_str(), "inside\n");
                inside_runs += 1;
            }
            404 => refused += 1,
            other => panic!("status {other}: {}", r.body_str()),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(!mark.exists(), "the program outside the root ran");
    assert!(
        inside_runs > 0 && refused > 0 && swaps > 100,
        "the race did not run: {inside_runs} runs, {refused} refusals, {swaps} swaps"
    );
}
