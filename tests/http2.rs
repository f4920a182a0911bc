//! HTTP/2 (RFC 9113): Python's `h2` (tests/h2/client.py) and raw frames against the server
//! over loopback sockets, cleartext with prior knowledge (`--h2c`) and over TLS by ALPN.
#![cfg(feature = "h2")]

mod common;

use common::{Server, TempRoot, have, log_lines, pattern, self_signed};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What client.py reported for one request.
#[derive(Debug, Default)]
struct Resp {
    status: u16,
    len: u64,
    reset: Option<u32>,
    headers: Vec<(String, String)>,
    /// Interim (1xx) statuses before the final one.
    interim: Vec<u16>,
    /// The body, when at most 4 KiB.
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Report {
    alpn: String,
    goaway: Option<u32>,
    responses: Vec<Resp>,
}

/// Whether Python's `h2` is there for tests/h2/client.py. Without it a test says SKIPPED,
/// except in CI (`CI=true`), where .ci/run installs it: there its absence fails the test.
fn python_h2() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import h2"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let why = "python3 with h2 (pip install h2) is not installed";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED: {why}");
    }
    ok
}

/// Run client.py with `plan` (JSON).
fn client(plan: &str) -> Report {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/h2/client.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client.py failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut r = Report::default();
    for line in text.lines() {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "alpn" => r.alpn = rest.to_string(),
            "goaway" => r.goaway = rest.parse().ok(),
            "resp" => {
                let f: Vec<&str> = rest.split(' ').collect();
                r.responses.push(Resp {
                    status: f[0].parse().unwrap_or(0),
                    len: f[1].parse().unwrap(),
                    reset: f[2].parse().ok(),
                    ..Resp::default()
                });
            }
            "h" => {
                let (n, v) = rest.split_once(' ').unwrap_or((rest, ""));
                let last = r.responses.last_mut().unwrap();
                last.headers.push((n.to_string(), v.to_string()));
            }
            "i" => {
                let last = r.responses.last_mut().unwrap();
                last.interim.push(rest.parse().unwrap());
            }
            "b" => {
                let last = r.responses.last_mut().unwrap();
                last.body = (0..rest.len() / 2)
                    .map(|k| u8::from_str_radix(&rest[2 * k..2 * k + 2], 16).unwrap())
                    .collect();
            }
            _ => {}
        }
    }
    r
}

/// A plan's request list entry.
fn req(method: &str, path: &str, headers: &[(&str, &str)], extra: &str) -> String {
    let hs: Vec<String> = headers
        .iter()
        .map(|(n, v)| format!("[\"{n}\", \"{}\"]", v.replace('"', "\\\"")))
        .collect();
    format!(
        "{{\"method\": \"{method}\", \"path\": \"{path}\", \"headers\": [{}]{extra}}}",
        hs.join(", ")
    )
}

fn plan(port: u16, opts: &str, reqs: &[String]) -> String {
    format!(
        "{{\"port\": {port}{opts}, \"requests\": [{}]}}",
        reqs.join(", ")
    )
}

fn h2c(root: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--h2c"];
    args.extend_from_slice(extra);
    Server::start(root, &args)
}

#[test]
fn rfc9113_3_3_files_over_h2c_small_and_large_byte_identical_on_one_connection() {
    if !python_h2() {
        eprintln!("skipped: python3 h2 not installed");
        return;
    }
    let root = TempRoot::new();
    let big = pattern(3 << 20, 7);
    root.file("hello.txt", b"Hello, world\n");
    root.file("big.bin", &big);
    let s = h2c(&root.www, &[]);
    let out = root.base.join("h2-big.out");
    let r = client(&plan(
        s.port,
        "",
        &[
            req("GET", "/hello.txt", &[], ""),
            req(
                "GET",
                "/big.bin",
                &[],
                &format!(", \"out\": \"{}\"", out.display()),
            ),
            req("GET", "/missing", &[], ""),
        ],
    ));
    assert_eq!(r.responses[0].status, 200);
    assert_eq!(r.responses[0].len, 13);
    assert_eq!(r.responses[0].header("content-length"), Some("13"));
    assert!(r.responses[0].header("connection").is_none());
    assert_eq!(r.responses[1].status, 200);
    let got = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(got == big, "the large body arrived damaged");
    assert_eq!(r.responses[2].status, 404);
    // The same listener still speaks HTTP/1.1.
    assert_eq!(s.get("/hello.txt").status, 200);
}

#[test]
fn rfc9113_5_many_concurrent_streams_head_304_range_and_a_listing() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    root.file("a.txt", &pattern(50_000, 1));
    root.dir("sub");
    root.file("sub/x.txt", b"x");
    let s = h2c(&root.www, &["--listing"]);
    let first = client(&plan(s.port, "", &[req("GET", "/a.txt", &[], "")]));
    let etag = first.responses[0].header("etag").unwrap().to_string();
    let mut reqs: Vec<String> = (0..60).map(|_| req("GET", "/a.txt", &[], "")).collect();
    reqs.push(req("HEAD", "/a.txt", &[], ""));
    reqs.push(req("GET", "/a.txt", &[("if-none-match", &etag)], ""));
    reqs.push(req("GET", "/a.txt", &[("range", "bytes=10-19")], ""));
    reqs.push(req("GET", "/sub/", &[], ""));
    let r = client(&plan(s.port, "", &reqs));
    for x in &r.responses[..60] {
        assert_eq!((x.status, x.len), (200, 50_000));
    }
    let head = &r.responses[60];
    assert_eq!((head.status, head.len), (200, 0));
    assert_eq!(head.header("content-length"), Some("50000"));
    assert_eq!((r.responses[61].status, r.responses[61].len), (304, 0));
    let range = &r.responses[62];
    assert_eq!((range.status, range.len), (206, 10));
    assert_eq!(range.header("content-range"), Some("bytes 10-19/50000"));
    assert_eq!(r.responses[63].status, 200);
    assert!(r.responses[63].len > 0);
}

#[test]
fn rfc9113_5_2_a_small_client_window_paces_the_body_and_it_arrives_whole() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    let data = pattern(300_000, 3);
    root.file("w.bin", &data);
    let s = h2c(&root.www, &[]);
    let out = root.base.join("h2-w.out");
    let r = client(&plan(
        s.port,
        ", \"window\": 1000",
        &[
            req(
                "GET",
                "/w.bin",
                &[],
                &format!(", \"out\": \"{}\"", out.display()),
            ),
            req("GET", "/w.bin", &[], ""),
        ],
    ));
    let got = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(got == data);
    assert_eq!(r.responses[1].len, 300_000);
}

#[test]
fn rfc9110_9_3_4_put_then_get_then_delete_over_h2c() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    root.dir("up");
    let s = h2c(&root.www, &["--write", "/up/", "--write-without-auth"]);
    let r = client(&plan(
        s.port,
        "",
        &[req("PUT", "/up/new.bin", &[], ", \"body_len\": 200000")],
    ));
    assert_eq!(r.responses[0].status, 201, "{r:?}");
    assert_eq!(
        std::fs::read(root.www.join("up/new.bin")).unwrap(),
        vec![b'x'; 200_000]
    );
    let r = client(&plan(s.port, "", &[req("GET", "/up/new.bin", &[], "")]));
    assert_eq!((r.responses[0].status, r.responses[0].len), (200, 200_000));
    // A body longer than its content-length is malformed: reset, nothing written.
    let r = client(&plan(
        s.port,
        "",
        &[req(
            "PUT",
            "/up/bad.bin",
            &[("content-length", "10")],
            ", \"body\": \"more than ten bytes\"",
        )],
    ));
    assert_eq!(r.responses[0].reset, Some(1), "{r:?}");
    assert!(!root.www.join("up/bad.bin").exists());
    let r = client(&plan(s.port, "", &[req("DELETE", "/up/new.bin", &[], "")]));
    assert_eq!(r.responses[0].status, 204);
    assert!(!root.www.join("up/new.bin").exists());
    // WebDAV: MKCOL, then a PROPFIND whose XML body comes in DATA frames.
    let body = r#"<?xml version=\"1.0\"?><propfind xmlns=\"DAV:\"><prop><resourcetype/></prop></propfind>"#;
    let r = client(&plan(
        s.port,
        "",
        &[
            req("MKCOL", "/up/col/", &[], ""),
            req(
                "PROPFIND",
                "/up/",
                &[("depth", "1"), ("content-type", "application/xml")],
                &format!(", \"body\": \"{body}\""),
            ),
        ],
    ));
    assert_eq!(r.responses[0].status, 201, "{r:?}");
    assert_eq!(r.responses[1].status, 207, "{r:?}");
    assert!(root.www.join("up/col").is_dir());
}

#[test]
fn rfc9113_8_malformed_requests_are_reset_and_the_connection_goes_on() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    root.file("a.txt", b"a");
    let s = h2c(&root.www, &[]);
    let r = client(&plan(
        s.port,
        "",
        &[
            req("GET", "/a.txt", &[("connection", "keep-alive")], ""),
            req("GET", "/a.txt", &[("te", "gzip")], ""),
            req("GET", "/a.txt", &[("host", "other.example")], ""),
            req("GET", "/a.txt", &[], ""),
        ],
    ));
    for x in &r.responses[..3] {
        assert_eq!(x.reset, Some(1), "PROTOCOL_ERROR: {r:?}");
    }
    assert_eq!(r.responses[3].status, 200);
}

#[test]
fn rfc9113_6_8_shutdown_sends_goaway_and_the_stream_in_flight_finishes() {
    let root = TempRoot::new();
    let data = pattern(2 << 20, 5);
    root.file("big.bin", &data);
    let mut s = h2c(&root.www, &[]);
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS_INITIAL_WINDOW_SIZE 2^31-1, and the connection window as large.
    out.extend(frame(4, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]));
    out.extend(frame(8, 0, 0, &[0x7f, 0xff, 0, 0]));
    // GET /big.bin: :method GET, :scheme http (static), :path and :authority literal.
    let mut block = vec![0x82, 0x86, 0x04, 8];
    block.extend_from_slice(b"/big.bin");
    block.extend_from_slice(&[0x01, 1, b'x']);
    out.extend(frame(1, 0x5, 1, &block));
    c.write_all(&out).unwrap();
    let (mut got, mut body, mut killed, mut goaway, mut ended) =
        (Vec::new(), 0, false, None, false);
    let mut buf = [0u8; 65536];
    while !(ended && goaway.is_some()) {
        let Ok(n) = c.read(&mut buf) else { break };
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let mut at = 0;
        while at + 9 <= got.len() {
            let len = u32::from_be_bytes([0, got[at], got[at + 1], got[at + 2]]) as usize;
            if at + 9 + len > got.len() {
                break;
            }
            let (kind, flags) = (got[at + 3], got[at + 4]);
            match kind {
                1 if !killed => {
                    // The response has begun: now the server is told to stop.
                    killed = true;
                    s.signal("TERM");
                }
                0 => {
                    body += len;
                    ended |= flags & 1 != 0;
                }
                7 => {
                    goaway = Some(u32::from_be_bytes(
                        got[at + 13..at + 17].try_into().unwrap(),
                    ))
                }
                _ => {}
            }
            at += 9 + len;
        }
        got.drain(..at);
    }
    assert!(killed);
    assert_eq!(goaway, Some(0), "GOAWAY NO_ERROR");
    assert_eq!(body, 2 << 20, "the stream in flight finished");
    assert!(ended);
    assert!(s.wait_exit(Duration::from_secs(20)).is_some());
}

/// Raw frames: the preface, SETTINGS, then `frames`; what came back, until the server
/// closes or a second passes without a byte.
fn raw(port: u16, frames: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    out.extend_from_slice(frames);
    c.write_all(&out).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// The frames in `bytes`: (type, flags, stream, payload).
fn frames(bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut v = Vec::new();
    let mut at = 0;
    while at + 9 <= bytes.len() {
        let len = u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]) as usize;
        let end = (at + 9 + len).min(bytes.len());
        let stream = u32::from_be_bytes(bytes[at + 5..at + 9].try_into().unwrap()) & 0x7fff_ffff;
        v.push((
            bytes[at + 3],
            bytes[at + 4],
            stream,
            bytes[at + 9..end].to_vec(),
        ));
        at = end;
    }
    v
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let l = (payload.len() as u32).to_be_bytes();
    let mut v = vec![l[1], l[2], l[3], kind, flags];
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn goaway_code(got: &[u8]) -> Option<u32> {
    frames(got)
        .iter()
        .find(|f| f.0 == 7)
        .map(|f| u32::from_be_bytes(f.3[4..8].try_into().unwrap()))
}

#[test]
fn rfc9113_6_5_settings_ping_and_frame_errors_by_raw_frames() {
    let root = TempRoot::new();
    let s = h2c(&root.www, &[]);
    // Our SETTINGS come first and announce the limits; a PING is answered with its data.
    let got = raw(s.port, &frame(6, 0, 0, b"12345678"));
    let f = frames(&got);
    assert_eq!(f[0].0, 4, "SETTINGS first");
    let settings: Vec<(u16, u32)> = f[0]
        .3
        .chunks(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes(c[2..6].try_into().unwrap()),
            )
        })
        .collect();
    assert!(settings.contains(&(3, 100)), "{settings:?}");
    assert!(f.iter().any(|x| x.0 == 6 && x.1 == 1 && x.3 == b"12345678"));
    // WINDOW_UPDATE 0 on the connection, a PING on a stream, a frame over our size: GOAWAY.
    assert_eq!(goaway_code(&raw(s.port, &frame(8, 0, 0, &[0; 4]))), Some(1));
    assert_eq!(goaway_code(&raw(s.port, &frame(6, 0, 1, &[0; 8]))), Some(1));
    assert_eq!(
        goaway_code(&raw(s.port, &frame(0x42, 0, 0, &vec![0; 16_385]))),
        Some(6)
    );
    // A stream's WINDOW_UPDATE overflowing is that stream's error, after its HEADERS.
    // Without h2c the preface is an HTTP/1.1 request this server does not answer.
    let plain = Server::start(&root.www, &[]);
    let got = raw(plain.port, &[]);
    assert!(
        got.starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn limit_continuation_flood_is_a_connection_error_before_the_block_grows() {
    let root = TempRoot::new();
    let s = h2c(&root.www, &[]);
    // HEADERS without END_HEADERS, then empty CONTINUATIONs past MAX_CONTINUATIONS.
    let mut out = frame(1, 0, 1, &[0x82]);
    for _ in 0..40 {
        out.extend(frame(9, 0, 1, &[]));
    }
    assert_eq!(
        goaway_code(&raw(s.port, &out)),
        Some(11),
        "ENHANCE_YOUR_CALM"
    );
    // A block over MAX_HEADER_BLOCK bytes.
    let mut out = frame(1, 0, 1, &[0x82]);
    for _ in 0..3 {
        out.extend(frame(9, 0, 1, &vec![0x40; 16_000]));
    }
    assert_eq!(goaway_code(&raw(s.port, &out)), Some(11));
}

#[test]
fn over_tls_alpn_h2_serves_files_byte_identical() {
    if !python_h2() || !have("openssl") {
        return;
    }
    let root = TempRoot::new();
    let big = pattern(1 << 20, 9);
    root.file("big.bin", &big);
    let (cert, key) = self_signed(&root.base.join("h2-certs"));
    let s = Server::start(
        &root.www,
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let port = s.https_port();
    let out = root.base.join("h2-tls.out");
    let r = client(&plan(
        port,
        &format!(", \"tls\": true, \"ca\": \"{}\"", cert.display()),
        &[
            req(
                "GET",
                "/big.bin",
                &[],
                &format!(", \"out\": \"{}\"", out.display()),
            ),
            req("GET", "/nope", &[], ""),
        ],
    ));
    assert_eq!(r.alpn, "h2");
    let got = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(got == big);
    assert_eq!(r.responses[1].status, 404);
}

/// A HEADERS block for `GET path` (static table and literals, no dynamic table state).
fn get_block(path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86, 0x04, path.len() as u8];
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(&[0x01, 1, b'x']);
    b
}

/// Frames from the server until `done` says so or `limit` passes (read whatever comes).
fn read_until(
    c: &mut TcpStream,
    limit: Duration,
    mut done: impl FnMut(&[(u8, u8, u32, Vec<u8>)]) -> bool,
) -> Vec<(u8, u8, u32, Vec<u8>)> {
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = std::time::Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while std::time::Instant::now() < end {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
        if done(&frames(&got)) {
            break;
        }
    }
    frames(&got)
}

/// Connect, send the preface and SETTINGS (`initial_window`), then `frames`.
fn open(port: u16, initial_window: u32, rest: &[u8]) -> TcpStream {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    let mut s = vec![0, 4];
    s.extend_from_slice(&initial_window.to_be_bytes());
    out.extend(frame(4, 0, 0, &s));
    out.extend_from_slice(rest);
    c.write_all(&out).unwrap();
    c
}

/// The error code of the GOAWAY among `f`, if one came.
fn goaway_in(f: &[(u8, u8, u32, Vec<u8>)]) -> Option<u32> {
    f.iter()
        .find(|x| x.0 == 7)
        .map(|x| u32::from_be_bytes(x.3[4..8].try_into().unwrap()))
}

fn rst_code(f: &[(u8, u8, u32, Vec<u8>)], stream: u32) -> Option<u32> {
    f.iter()
        .find(|x| x.0 == 3 && x.2 == stream)
        .map(|x| u32::from_be_bytes(x.3[..4].try_into().unwrap()))
}

#[test]
fn limit_max_concurrent_streams_refuses_the_one_past_it() {
    let root = TempRoot::new();
    root.file("a.txt", b"a body that cannot go out while the window is 0");
    let s = h2c(&root.www, &[]);
    // Window 0: no answer can finish, so every stream stays open.
    let mut out = Vec::new();
    for i in 0..101u32 {
        out.extend(frame(1, 0x5, 1 + 2 * i, &get_block("/a.txt")));
    }
    let mut c = open(s.port, 0, &out);
    let f = read_until(&mut c, Duration::from_secs(10), |f| {
        rst_code(f, 201).is_some()
    });
    assert_eq!(rst_code(&f, 201), Some(7), "REFUSED_STREAM");
    assert_eq!(rst_code(&f, 199), None);
    assert_eq!(f.iter().filter(|x| x.0 == 1).count(), 100, "100 answered");
}

#[test]
fn limit_rapid_reset_gets_goaway_enhance_your_calm() {
    let root = TempRoot::new();
    root.file("a.txt", b"a body");
    let s = h2c(&root.www, &[]);
    let mut out = Vec::new();
    for i in 0..260u32 {
        out.extend(frame(1, 0x5, 1 + 2 * i, &get_block("/a.txt")));
        out.extend(frame(3, 0, 1 + 2 * i, &8u32.to_be_bytes()));
    }
    let mut c = open(s.port, 0, &out);
    let f = read_until(&mut c, Duration::from_secs(10), |f| {
        f.iter().any(|x| x.0 == 7)
    });
    assert_eq!(goaway_in(&f), Some(11), "ENHANCE_YOUR_CALM");
    // The server is still there for others.
    assert_eq!(s.get("/a.txt").status, 200);
}

#[test]
fn limit_header_list_over_max_is_431_and_the_connection_goes_on() {
    let root = TempRoot::new();
    root.file("a.txt", b"a");
    let s = h2c(&root.www, &[]);
    // A 17,000-byte literal value (name "x-big", without indexing): over MAX_HEADER_LIST.
    let mut block = get_block("/a.txt");
    block.extend_from_slice(&[0x00, 5]);
    block.extend_from_slice(b"x-big");
    let n = 17_000usize;
    // Length as an HPACK integer with a 7-bit prefix.
    block.push(0x7f);
    let mut rest = n - 127;
    while rest >= 128 {
        block.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    block.push(rest as u8);
    block.extend(std::iter::repeat_n(b'v', n));
    let mut out = frame(1, 0x1, 1, &block[..16_000]);
    out.extend(frame(9, 0x4, 1, &block[16_000..]));
    out.extend(frame(1, 0x5, 3, &get_block("/a.txt")));
    let mut c = open(s.port, 65_535, &out);
    let f = read_until(&mut c, Duration::from_secs(10), |f| {
        f.iter().filter(|x| x.0 == 0 && x.1 & 1 != 0).count() == 2
    });
    let heads: Vec<&(u8, u8, u32, Vec<u8>)> = f.iter().filter(|x| x.0 == 1).collect();
    assert_eq!(heads.len(), 2, "{f:?}");
    // The first field of each block is :status, from the static table: 431 is a literal.
    let first = heads.iter().find(|x| x.2 == 1).unwrap();
    assert!(first.3.windows(3).any(|w| w == b"431"), "{:?}", first.3);
    assert_eq!(
        heads.iter().find(|x| x.2 == 3).unwrap().3[0],
        0x88,
        ":status 200"
    );
}

#[test]
fn limit_a_stream_without_window_is_reset_and_a_shut_connection_window_closes() {
    let root = TempRoot::new();
    root.file("a.txt", b"a body that waits for a window");
    root.file("big.bin", &pattern(200_000, 2));
    let s = h2c(&root.www, &["--send-timeout", "1"]);
    let mut c = open(s.port, 0, &frame(1, 0x5, 1, &get_block("/a.txt")));
    let f = read_until(&mut c, Duration::from_secs(15), |f| {
        rst_code(f, 1).is_some()
    });
    assert_eq!(rst_code(&f, 1), Some(8), "CANCEL after --send-timeout");
    // The connection's window (65,535, never opened) runs out in the middle of the file.
    let mut c = open(s.port, 1 << 30, &frame(1, 0x5, 1, &get_block("/big.bin")));
    let f = read_until(&mut c, Duration::from_secs(15), |f| {
        f.iter().any(|x| x.0 == 7)
    });
    let data: usize = f.iter().filter(|x| x.0 == 0).map(|x| x.3.len()).sum();
    assert_eq!(data, 65_535);
    assert_eq!(goaway_in(&f), Some(3), "FLOW_CONTROL");
}

#[test]
fn limit_a_header_block_left_open_times_out() {
    let root = TempRoot::new();
    let s = h2c(&root.www, &["--header-timeout", "1"]);
    let mut c = open(s.port, 65_535, &frame(1, 0x1, 1, &[0x82]));
    let f = read_until(&mut c, Duration::from_secs(15), |f| {
        f.iter().any(|x| x.0 == 7)
    });
    assert!(f.iter().any(|x| x.0 == 7), "GOAWAY after --header-timeout");
}

#[test]
fn rfc3875_a_cgi_program_answers_over_h2c_with_its_stdin_from_data_frames() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    root.dir("cgi-bin");
    let script = root.file(
        "cgi-bin/t.sh",
        b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\nX-Mine: 1\\r\\nX-Proto: %s\\r\\n\\r\\n' \"$SERVER_PROTOCOL\"\nhead -c 70000 /dev/zero\n",
    );
    // Echoes the byte count of its stdin.
    let count = root.file(
        "cgi-bin/count.sh",
        b"#!/bin/sh\nn=$(wc -c)\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s' \"$n\"\n",
    );
    use std::os::unix::fs::PermissionsExt;
    for f in [&script, &count] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let s = h2c(&root.www, &["--cgi", "/cgi-bin/"]);
    let r = client(&plan(
        s.port,
        ", \"window\": 5000",
        &[
            req("GET", "/cgi-bin/t.sh", &[], ""),
            req("HEAD", "/cgi-bin/t.sh", &[], ""),
            req("POST", "/cgi-bin/t.sh", &[], ", \"body\": \"x=1\""),
            req(
                "POST",
                "/cgi-bin/count.sh",
                &[("content-length", "3000000")],
                ", \"body_len\": 3000000",
            ),
        ],
    ));
    assert_eq!(
        (r.responses[0].status, r.responses[0].len),
        (200, 70_000),
        "{r:?}"
    );
    assert_eq!(r.responses[0].header("x-mine"), Some("1"));
    // RFC 3875 §4.1.16: the protocol the request came in.
    assert_eq!(r.responses[0].header("x-proto"), Some("HTTP/2.0"));
    assert_eq!((r.responses[1].status, r.responses[1].len), (200, 0));
    // No content-length: spooled first, as over HTTP/1.1 (the program ignores it).
    assert_eq!(
        (r.responses[2].status, r.responses[2].len),
        (200, 70_000),
        "{r:?}"
    );
    // 3 MB through the program's stdin, paced by the window.
    assert_eq!(
        (r.responses[3].status, r.responses[3].len),
        (200, 7),
        "{r:?}"
    );
}

#[test]
fn rfc7617_a_put_with_credentials_waits_for_their_check_then_writes_its_body() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    root.dir("up");
    let users = root.base.join("users");
    std::fs::write(
        &users,
        format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap()),
    )
    .unwrap();
    let s = h2c(
        &root.www,
        &["--write", "/up/", "--auth-file", users.to_str().unwrap()],
    );
    // alice:s3cret, and a wrong password.
    let good = ("authorization", "Basic YWxpY2U6czNjcmV0");
    let bad = ("authorization", "Basic YWxpY2U6d3Jvbmc=");
    let r = client(&plan(
        s.port,
        ", \"window\": 65535",
        &[
            req("PUT", "/up/a.bin", &[good], ", \"body_len\": 300000"),
            req("PUT", "/up/b.bin", &[bad], ", \"body_len\": 1000"),
            req("PUT", "/up/c.bin", &[], ", \"body_len\": 10"),
        ],
    ));
    assert_eq!(r.responses[0].status, 201, "{r:?}");
    assert_eq!(
        std::fs::read(root.www.join("up/a.bin")).unwrap(),
        vec![b'x'; 300_000]
    );
    assert_eq!(r.responses[1].status, 401, "{r:?}");
    assert_eq!(r.responses[2].status, 401, "{r:?}");
    assert!(!root.www.join("up/b.bin").exists() && !root.www.join("up/c.bin").exists());
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn limit_a_ping_flood_from_a_client_that_does_not_read_stops_being_read() {
    if common::emulated() {
        return;
    }
    let root = TempRoot::new();
    root.file("a.txt", b"a");
    let s = h2c(&root.www, &["--workers", "1"]);
    let before = rss_kib(s.pid());
    let mut c = open(s.port, 65_535, &[]);
    c.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    // PINGs, never reading the ACKs: the server owes 17 bytes for each 17 it reads.
    let burst: Vec<u8> = (0..4096)
        .flat_map(|_| frame(6, 0, 0, b"pingpong"))
        .collect();
    let mut sent = 0usize;
    while sent < 256 << 20 {
        match c.write(&burst) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    assert!(
        sent < 64 << 20,
        "the server kept reading PINGs it could not answer: {sent} bytes taken"
    );
    let grown = rss_kib(s.pid()).saturating_sub(before);
    assert!(grown < 16 * 1024, "RSS grew by {grown} KiB");
    // Others are still served.
    assert_eq!(s.get("/a.txt").status, 200);
}

/// A server listening for h2c (`--h2c`) and for h2 over TLS (ALPN), and the plan options
/// that reach each: the same requests go over both. Without openssl, h2c only.
fn both(root: &TempRoot, extra: &[&str]) -> (Server, Vec<(u16, String)>) {
    let (s, tls) = common::start_h2_both(root, extra);
    let mut ways = vec![(s.port, String::new())];
    if let Some((port, cert)) = tls {
        ways.push((
            port,
            format!(", \"tls\": true, \"ca\": \"{}\"", cert.display()),
        ));
    }
    (s, ways)
}

/// Executable scripts under the root's cgi-bin/.
fn scripts(root: &TempRoot, list: &[(&str, &str)]) {
    use std::os::unix::fs::PermissionsExt;
    root.dir("cgi-bin");
    for (name, text) in list {
        let f = root.file(&format!("cgi-bin/{name}"), text.as_bytes());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Prints CONTENT_LENGTH and the bytes its stdin held.
const COUNT_SH: &str = "#!/bin/sh\nn=$(wc -c)\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s %s' \"${CONTENT_LENGTH:-none}\" \"$n\"\n";

fn body_text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).trim().to_string()
}

#[test]
fn rfc3875_4_1_2_a_cgi_body_without_content_length_is_spooled_then_run_with_its_length() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    scripts(&root, &[("count.sh", COUNT_SH)]);
    let (s, ways) = both(&root, &["--cgi", "/cgi-bin/", "--cgi-max-body", "4m"]);
    for (port, opts) in ways {
        // No content-length: the client ends the body with END_STREAM. 3 MB is past the
        // stream's window (1 MiB), so the window must be given back while spooling.
        let r = client(&plan(
            port,
            &opts,
            &[
                req("POST", "/cgi-bin/count.sh", &[], ", \"body\": \"x=1\""),
                req("POST", "/cgi-bin/count.sh", &[], ", \"body_len\": 3000000"),
                // Past --cgi-max-body: 413, as over HTTP/1.1.
                req("POST", "/cgi-bin/count.sh", &[], ", \"body_len\": 4200000"),
            ],
        ));
        assert_eq!(r.responses[0].status, 200, "{opts}: {r:?}");
        assert_eq!(body_text(&r.responses[0]), "3 3", "{opts}");
        assert_eq!(r.responses[1].status, 200, "{opts}: {r:?}");
        assert_eq!(body_text(&r.responses[1]), "3000000 3000000", "{opts}");
        assert_eq!(r.responses[2].status, 413, "{opts}: {r:?}");
    }
    // The same request over HTTP/1.1 (chunked) is answered the same way.
    let mut c = s.connect();
    c.send(b"POST /cgi-bin/count.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nx=1\r\n0\r\n\r\n");
    let text = String::from_utf8_lossy(&c.read_to_end()).to_string();
    assert!(text.contains("\r\n3 3\r\n"), "{text}");
}

#[test]
fn rfc3875_6_2_2_a_cgi_local_redirect_is_followed_on_the_same_stream() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    root.file("hello.txt", b"Hello, world\n");
    scripts(
        &root,
        &[
            (
                "to-file.sh",
                "#!/bin/sh\nprintf 'Location: /hello.txt\\r\\n\\r\\n'\n",
            ),
            (
                "to-cgi.sh",
                "#!/bin/sh\nprintf 'Location: /cgi-bin/q.sh?from=redirect\\r\\n\\r\\n'\n",
            ),
            (
                "q.sh",
                "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s %s' \"$REQUEST_METHOD\" \"$QUERY_STRING\"\n",
            ),
            (
                "loop.sh",
                "#!/bin/sh\nprintf 'Location: /cgi-bin/loop.sh\\r\\n\\r\\n'\n",
            ),
        ],
    );
    // --cgi-max 1: the program that redirects gives its slot to the one it names.
    let (_s, ways) = both(&root, &["--cgi", "/cgi-bin/", "--cgi-max", "1"]);
    for (port, opts) in ways {
        let r = client(&plan(
            port,
            &opts,
            &[req("GET", "/cgi-bin/to-file.sh", &[], "")],
        ));
        let x = &r.responses[0];
        assert_eq!(
            (x.status, x.body.as_slice()),
            (200, &b"Hello, world\n"[..]),
            "{opts}: {r:?}"
        );
        let r = client(&plan(
            port,
            &opts,
            &[req(
                "POST",
                "/cgi-bin/to-cgi.sh",
                &[],
                ", \"body_len\": 100000",
            )],
        ));
        // RFC 3875 §6.2.2: the redirect is a GET, whatever the first request was.
        assert_eq!(r.responses[0].status, 200, "{opts}: {r:?}");
        assert_eq!(body_text(&r.responses[0]), "GET from=redirect", "{opts}");
        let r = client(&plan(
            port,
            &opts,
            &[req("HEAD", "/cgi-bin/to-file.sh", &[], "")],
        ));
        let x = &r.responses[0];
        assert_eq!((x.status, x.len), (200, 0), "{opts}: {r:?}");
        assert_eq!(x.header("content-length"), Some("13"));
        // A loop ends at cgi::MAX_LOCAL_REDIRECTS with 502, as over HTTP/1.1.
        let r = client(&plan(
            port,
            &opts,
            &[req("GET", "/cgi-bin/loop.sh", &[], "")],
        ));
        assert_eq!(r.responses[0].status, 502, "{opts}: {r:?}");
    }
}

#[test]
fn rfc9110_10_1_1_expect_100_continue_gets_an_interim_100_only_when_the_body_is_wanted() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    root.dir("up");
    root.file("hello.txt", b"Hello, world\n");
    scripts(&root, &[("count.sh", COUNT_SH)]);
    let users = root.base.join("users");
    std::fs::write(
        &users,
        format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap()),
    )
    .unwrap();
    let (_s, ways) = both(
        &root,
        &[
            "--write",
            "/up/",
            "--auth-file",
            users.to_str().unwrap(),
            "--cgi",
            "/cgi-bin/",
            "--max-body",
            "1m",
        ],
    );
    let good = ("authorization", "Basic YWxpY2U6czNjcmV0");
    let bad = ("authorization", "Basic YWxpY2U6d3Jvbmc=");
    let exp = ("expect", "100-continue");
    let wait = |n: usize| format!(", \"body_len\": {n}, \"wait_100\": true");
    let propfind = r#", "body": "<?xml version=\"1.0\"?><propfind xmlns=\"DAV:\"><prop><getcontentlength/></prop></propfind>", "wait_100": true"#;
    for (port, opts) in ways {
        // One write at a time: credentials are verified one request at a time per client
        // (more at once are refused with 429).
        let mut r = Report::default();
        for one in [
            // Credentials verified off the loop, then the upload reads the body.
            req("PUT", "/up/a.bin", &[good, exp], &wait(5000)),
            // Answered at once: no 100, and the body is never sent.
            req("PUT", "/up/b.bin", &[bad, exp], &wait(5000)),
            req(
                "PUT",
                "/up/c.bin",
                &[good, exp, ("content-length", "2000000")],
                &wait(2_000_000),
            ),
            req("PUT", "/hello.txt", &[good, exp], &wait(10)),
        ] {
            r.responses
                .extend(client(&plan(port, &opts, &[one])).responses);
        }
        let rest = client(&plan(
            port,
            &opts,
            &[
                // A CGI program with a length, and one whose body is spooled.
                req(
                    "POST",
                    "/cgi-bin/count.sh",
                    &[exp, ("content-length", "7")],
                    &wait(7),
                ),
                req("POST", "/cgi-bin/count.sh", &[exp], &wait(9)),
                // A WebDAV body read whole.
                req("PROPFIND", "/up/", &[exp, ("depth", "0")], propfind),
                // No body at all: nothing to continue.
                req("GET", "/hello.txt", &[exp], ""),
            ],
        ));
        r.responses.extend(rest.responses);
        let got: Vec<(u16, &[u16])> = r
            .responses
            .iter()
            .map(|x| (x.status, x.interim.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                (201, &[100][..]),
                (401, &[][..]),
                (413, &[][..]),
                (405, &[][..]),
                (200, &[100][..]),
                (200, &[100][..]),
                (207, &[100][..]),
                (200, &[][..]),
            ],
            "{opts}: {r:?}"
        );
        assert_eq!(body_text(&r.responses[4]), "7 7");
        assert_eq!(body_text(&r.responses[5]), "9 9");
        assert_eq!(
            std::fs::read(root.www.join("up/a.bin")).unwrap().len(),
            5000
        );
        assert!(!root.www.join("up/b.bin").exists() && !root.www.join("up/c.bin").exists());
        std::fs::remove_file(root.www.join("up/a.bin")).unwrap();
    }
}

#[test]
fn trusted_proxy_each_stream_names_its_own_client_and_untrusted_peers_are_not_believed() {
    if !python_h2() {
        return;
    }
    let addr_sh = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s' \"$REMOTE_ADDR\"\n";
    for (trusted, believed) in [("127.0.0.1", true), ("10.0.0.0/8", false)] {
        let root = TempRoot::new();
        scripts(&root, &[("addr.sh", addr_sh)]);
        root.file("hello.txt", b"hi");
        let log = root.base.join("access.log");
        let (_s, ways) = both(
            &root,
            &[
                "--cgi",
                "/cgi-bin/",
                "--trusted-proxy",
                trusted,
                "--access-log",
                log.to_str().unwrap(),
            ],
        );
        for (k, (port, opts)) in ways.into_iter().enumerate() {
            // Different clients per transport, so each one's log lines are its own.
            let a = format!("203.0.113.{}", 7 + k);
            let b = format!("198.51.100.{}", 9 + k);
            let c = format!("192.0.2.{}", 60 + k);
            let fwd = format!("for={c};proto=https");
            let r = client(&plan(
                port,
                &opts,
                &[
                    req("GET", "/cgi-bin/addr.sh", &[("x-forwarded-for", &a)], ""),
                    req("GET", "/cgi-bin/addr.sh", &[("x-forwarded-for", &b)], ""),
                    req("GET", "/cgi-bin/addr.sh", &[("forwarded", &fwd)], ""),
                    req("GET", "/cgi-bin/addr.sh", &[], ""),
                    req("GET", "/hello.txt", &[("x-forwarded-for", &a)], ""),
                ],
            ));
            let said: Vec<String> = r.responses[..4].iter().map(body_text).collect();
            let want: Vec<&str> = if believed {
                vec![&a, &b, &c, "127.0.0.1"]
            } else {
                vec!["127.0.0.1"; 4]
            };
            assert_eq!(said, want, "{trusted} {opts}: {r:?}");
            assert_eq!(r.responses[4].status, 200);
            // The access log names the same clients, the file's too.
            let lines = log_lines(&log, 5 * (k + 1));
            let count = |who: &str| {
                let lead = format!("{who} ");
                lines.iter().filter(|l| l.starts_with(&lead)).count()
            };
            let want = if believed { [2, 1, 1] } else { [0, 0, 0] };
            assert_eq!([count(&a), count(&b), count(&c)], want, "{opts}: {lines:?}");
        }
    }
}

/// RFC 9110 §10.1.1: an expectation other than 100-continue gets 417, as over HTTP/1.1.
/// The session's own answers (that 417, a 431 for a header list over the limit) are in
/// the access log like the handlers' ones.
#[test]
fn rfc9110_10_1_1_an_unknown_expectation_is_417_and_the_session_s_own_answers_are_logged() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    root.file("hello.txt", b"hi");
    let log = root.base.join("access.log");
    let (_s, ways) = both(&root, &["--access-log", log.to_str().unwrap()]);
    let big = "x".repeat(17 * 1024);
    for (k, (port, opts)) in ways.into_iter().enumerate() {
        let r = client(&plan(
            port,
            &opts,
            &[
                req("GET", "/hello.txt", &[("expect", "the-moon")], ""),
                req("GET", "/hello.txt", &[("x-big", &big)], ""),
                req("GET", "/hello.txt", &[("expect", "100-continue")], ""),
            ],
        ));
        let statuses: Vec<u16> = r.responses.iter().map(|x| x.status).collect();
        assert_eq!(statuses, [417, 431, 200], "{opts}: {r:?}");
        let lines = log_lines(&log, 3 * (k + 1));
        let mine = &lines[3 * k..];
        assert!(
            mine.iter()
                .any(|l| l.contains("\"GET /hello.txt HTTP/2.0\" 417 ")),
            "{opts}: {lines:?}"
        );
        assert!(
            mine.iter().any(|l| l.contains(" 431 ")),
            "{opts}: {lines:?}"
        );
    }
}

/// An answer made after the request was dispatched (a program's head, an upload's 201) over
/// HTTP/2 carries the headers of the rule that answered, as over HTTP/1.1, not those of the
/// default site's "/".
#[test]
fn a_program_s_head_and_an_upload_s_201_carry_their_rule_s_headers() {
    if !python_h2() {
        return;
    }
    let root = TempRoot::new();
    scripts(
        &root,
        &[(
            "hi.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhi'\n",
        )],
    );
    root.dir("up");
    let cfg = root.outside(
        "site.toml",
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\naccess_log = \"off\"\n\n[[site]]\n\
             root = \"{}\"\ndefault = true\nheaders = {{ \"X-Rule\" = \"site\" }}\n\n\
             [[site.path]]\nprefix = \"/cgi-bin/\"\ncgi = true\nheaders = {{ \"X-Rule\" = \"cgi\" }}\n\n\
             [[site.path]]\nprefix = \"/up/\"\nwrite = true\nheaders = {{ \"X-Rule\" = \"up\" }}\n",
            root.www.display()
        )
        .as_bytes(),
    );
    let s = Server::start_args(&[
        "--config".into(),
        cfg.to_str().unwrap().into(),
        "--h2c".into(),
    ]);
    let r = client(&plan(
        s.port,
        "",
        &[
            req("GET", "/cgi-bin/hi.sh", &[], ""),
            req("PUT", "/up/f.txt", &[], ", \"body\": \"abc\""),
        ],
    ));
    assert_eq!(r.responses[0].status, 200, "{r:?}");
    assert_eq!(r.responses[0].header("x-rule"), Some("cgi"), "{r:?}");
    assert_eq!(r.responses[1].status, 201, "{r:?}");
    assert_eq!(r.responses[1].header("x-rule"), Some("up"), "{r:?}");
    assert_eq!(std::fs::read(root.www.join("up/f.txt")).unwrap(), b"abc");
}
