//! The access log in Combined Log Format (`--access-log FILE`).
//!
//! No RFC defines the format (it is Apache's); RFC 9110 §17.8 only asks that logs be handled
//! with care, which here means a client cannot forge a line: quotes in logged fields are
//! escaped.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// Poll `path` until it holds `n` lines or `limit` passes; return the lines.
fn wait_lines(path: &Path, n: usize, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n || Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `[dd/Mon/yyyy:hh:mm:ss +0000]` for `t`, built from its IMF-fixdate.
fn clf_time(t: SystemTime) -> String {
    // "Wed, 25 Nov 2026 03:11:36 GMT"
    let imf = httpdate::fmt_http_date(t);
    let p: Vec<&str> = imf.split(' ').collect();
    format!("[{}/{}/{}:{} +0000]", p[1], p[2], p[3], p[4])
}

/// Split a line into its timestamp (with brackets) and the rest with the timestamp replaced by
/// `[T]`, after checking that the timestamp is one of the last few seconds.
fn take_time(line: &str) -> String {
    let (Some(a), Some(b)) = (line.find('['), line.find(']')) else {
        panic!("no [time] in {line:?}");
    };
    let stamp = &line[a..=b];
    let now = SystemTime::now();
    let recent: Vec<String> = (0..10)
        .map(|s| clf_time(now - Duration::from_secs(s)))
        .collect();
    assert!(
        recent.iter().any(|r| r == stamp),
        "timestamp {stamp:?} is not a recent +0000 CLF time"
    );
    format!("{}[T]{}", &line[..a], &line[b + 1..])
}

fn start_logging(root: &TempRoot) -> (Server, std::path::PathBuf) {
    let log = root.base.join("access.log");
    let s = Server::start(&root.www, &["--access-log", log.to_str().unwrap()]);
    (s, log)
}

/// One Combined Log Format line per request: client address, `- -`, the time in brackets,
/// the request line in quotes, status, body bytes, Referer and User-Agent in quotes (`-` when
/// absent), with a `"` inside a field escaped as `\"`.
#[test]
fn combined_log_format_lines_with_escaped_quotes() {
    let root = basic_root();
    let (s, log) = start_logging(&root);
    let mut c = s.connect();
    c.send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nReferer: http://ref.example/\r\nUser-Agent: agent \"quoted\" 1.0\r\n\r\n");
    assert_eq!(c.response().status, 200);
    c.send(b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
    let missing = c.response();
    assert_eq!(missing.status, 404);
    let lines = wait_lines(&log, 2, Duration::from_secs(2));
    assert_eq!(lines.len(), 2, "log: {lines:?}");
    assert_eq!(
        take_time(&lines[0]),
        r#"127.0.0.1 - - [T] "GET /hello.txt HTTP/1.1" 200 13 "http://ref.example/" "agent \"quoted\" 1.0""#
    );
    assert_eq!(
        take_time(&lines[1]),
        format!(
            r#"127.0.0.1 - - [T] "GET /missing HTTP/1.1" 404 {} "-" "-""#,
            missing.body.len()
        )
    );
}

/// Every request, pipelined or not, gets exactly one line, in order, and a line is in the file
/// within about a second of its response.
#[test]
fn one_line_per_request_within_a_second() {
    let root = basic_root();
    let (s, log) = start_logging(&root);
    let t0 = Instant::now();
    let r = s.request(
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: first\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let lines = wait_lines(&log, 1, Duration::from_millis(1500));
    let took = t0.elapsed();
    assert_eq!(lines.len(), 1, "no log line {took:?} after the request");
    assert!(
        took < Duration::from_millis(1200),
        "the log line took {took:?}"
    );

    // Pipelined on one connection; the repeated file may come from a cache, and its line
    // must still say what was sent.
    let mut c = s.connect();
    let mut all = Vec::new();
    for p in ["/a", "/hello.txt", "/hello.txt"] {
        all.extend_from_slice(&get_req(p));
    }
    all.extend_from_slice(b"HEAD /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    c.send(&all);
    let missing = c.response();
    for _ in 0..2 {
        c.response();
    }
    c.head_response();
    let lines = wait_lines(&log, 5, Duration::from_millis(1500));
    // "request" and "status bytes" of each line.
    let fields: Vec<(&str, &str)> = lines
        .iter()
        .filter_map(|l| {
            let mut q = l.split('"');
            Some((q.nth(1)?, q.next()?.trim()))
        })
        .collect();
    let not_found = format!("404 {}", missing.body.len());
    let expected = [
        ("GET /hello.txt HTTP/1.1", "200 13"),
        ("GET /a HTTP/1.1", not_found.as_str()),
        ("GET /hello.txt HTTP/1.1", "200 13"),
        ("GET /hello.txt HTTP/1.1", "200 13"),
    ];
    assert_eq!(fields.len(), 5, "log: {lines:?}");
    assert_eq!(fields[..4], expected, "log: {lines:?}");
    // HEAD sends no body: CLF writes 0 or "-".
    assert!(
        matches!(fields[4], ("HEAD /hello.txt HTTP/1.1", "200 0" | "200 -")),
        "log: {lines:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        wait_lines(&log, 6, Duration::ZERO).len(),
        5,
        "extra log lines"
    );
}

/// Lines still buffered when the server is told to stop are written before it exits: the
/// requests answered just before SIGTERM are all in the log.
#[test]
fn lines_buffered_at_shutdown_are_written() {
    let root = basic_root();
    let (mut s, log) = start_logging(&root);
    let mut c = s.connect();
    for p in ["/hello.txt", "/one", "/two"] {
        c.send(&get_req(p));
        c.response();
    }
    s.signal("TERM");
    let status = s
        .wait_exit(Duration::from_secs(5))
        .expect("the server did not exit");
    assert!(status.success(), "exit status {status:?}");
    let lines = wait_lines(&log, 3, Duration::ZERO);
    let requests: Vec<&str> = lines.iter().filter_map(|l| l.split('"').nth(1)).collect();
    assert_eq!(
        requests,
        [
            "GET /hello.txt HTTP/1.1",
            "GET /one HTTP/1.1",
            "GET /two HTTP/1.1"
        ],
        "log: {lines:?}"
    );
}

/// The byte count is what left: a download the client abandons part-way is logged with the
/// body bytes the server sent before the connection ended, not the file's length.
#[test]
fn a_download_cut_short_logs_the_bytes_sent() {
    use std::io::{Read, Write};
    let root = basic_root();
    const LEN: usize = 64 * 1024 * 1024;
    root.file("large.bin", &pattern(LEN, 5));
    let (s, log) = start_logging(&root);
    let mut c = std::net::TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET /large.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while got < 1024 * 1024 {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed early");
        got += n;
    }
    drop(c);
    let lines = wait_lines(&log, 1, scaled(Duration::from_secs(5)));
    assert_eq!(lines.len(), 1, "log: {lines:?}");
    let fields: Vec<&str> = lines[0]
        .split('"')
        .nth(2)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields[0], "200", "log: {lines:?}");
    let bytes: usize = fields[1].parse().unwrap();
    assert!(
        bytes + 1024 >= got && bytes < LEN,
        "logged {bytes} bytes; the client read {got} of {LEN}: {lines:?}"
    );
}

/// A CGI body has no length known in advance: its line counts the bytes sent after the head.
#[test]
fn a_cgi_answer_logs_its_body_bytes() {
    use std::os::unix::fs::PermissionsExt;
    let root = basic_root();
    let p = root.file(
        "cgi-bin/hello.cgi",
        b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello from cgi\\n'\n",
    );
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = root.base.join("access.log");
    let s = Server::start(
        &root.www,
        &["--access-log", log.to_str().unwrap(), "--cgi", "/cgi-bin/"],
    );
    // HTTP/1.0: the body is delimited by the close, so no chunk framing is counted.
    let until_close = |raw: &[u8]| {
        let mut c = s.connect();
        c.send(raw);
        String::from_utf8_lossy(&c.read_to_end()).into_owned()
    };
    let text = until_close(b"GET /cgi-bin/hello.cgi HTTP/1.0\r\n\r\n");
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n\r\nhello from cgi\n"),
        "{text:?}"
    );
    // HTTP/1.1: the body goes chunked, and the framing is not body.
    let text =
        until_close(b"GET /cgi-bin/hello.cgi HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert!(
        text.contains("Transfer-Encoding: chunked")
            && text.ends_with("hello from cgi\n\r\n0\r\n\r\n"),
        "{text:?}"
    );
    let lines = wait_lines(&log, 2, scaled(Duration::from_secs(5)));
    assert_eq!(lines.len(), 2, "log: {lines:?}");
    assert_eq!(
        take_time(&lines[0]),
        r#"127.0.0.1 - - [T] "GET /cgi-bin/hello.cgi HTTP/1.0" 200 15 "-" "-""#
    );
    assert_eq!(
        take_time(&lines[1]),
        r#"127.0.0.1 - - [T] "GET /cgi-bin/hello.cgi HTTP/1.1" 200 15 "-" "-""#
    );
}
