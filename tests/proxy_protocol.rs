//! Behind a load balancer: PROXY protocol listeners (HAProxy's "The PROXY protocol", v1 and
//! v2) and `Forwarded`/`X-Forwarded-For` from `--trusted-proxy` peers.
//!
//! Over loopback the peer is always 127.0.0.1: a test of an untrusted peer trusts only
//! 10.0.0.0/8. The client's address is read back from the access log and from a CGI
//! program's REMOTE_ADDR and REMOTE_PORT.
mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Prints REMOTE_ADDR and REMOTE_PORT (`none` when not set).
const ADDR_SH: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s %s' \"$REMOTE_ADDR\" \"${REMOTE_PORT:-none}\"\n";

/// The v2 signature (spec §2.2).
const SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

struct Setup {
    root: TempRoot,
    server: Server,
    log: PathBuf,
    /// The listener that requires a PROXY header.
    proxy_addr: String,
}

/// A server with a plain listener, a PROXY protocol listener, an access log, the address
/// program at /cgi-bin/addr, and `trusted` as its trusted proxies.
fn start(trusted: &[&str], extra: &[&str]) -> Setup {
    let root = TempRoot::new();
    let p = root.file("cgi-bin/addr", ADDR_SH.as_bytes());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    root.file("hello.txt", HELLO);
    let log = root.base.join("access.log");
    let mut args = vec![
        "--access-log",
        log.to_str().unwrap(),
        "--cgi",
        "/cgi-bin/",
        "--proxy-protocol-listen",
        "127.0.0.1:0",
    ];
    for t in trusted {
        args.extend(["--trusted-proxy", t]);
    }
    args.extend(extra);
    let server = Server::start(&root.www, &args);
    let proxy_addr = proxy_listener(&server);
    Setup {
        root,
        server,
        log,
        proxy_addr,
    }
}

/// The address the banner marks as the PROXY protocol listener.
fn proxy_listener(s: &Server) -> String {
    let lines = s.stderr.lock().unwrap().clone();
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        for w in words.windows(2) {
            if w[1] == "(PROXY" {
                return w[0]
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_string();
            }
        }
    }
    panic!("no PROXY protocol listener in the banner");
}

/// Poll the log until it holds a line containing `needle`.
fn wait_log_line(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains(needle)) {
            return l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needle:?} in {text:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send `header` then `request` (which closes the connection) on one write, and read the
/// whole answer.
fn via_proxy(s: &Setup, header: &[u8], request: &[u8]) -> Vec<u8> {
    let mut c = Client::connect(&s.proxy_addr);
    let mut wire = header.to_vec();
    wire.extend_from_slice(request);
    c.send(&wire);
    c.read_to_end()
}

/// What the address program said, from a whole answer (CGI output is chunked: one chunk).
fn said(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let (_size, rest) = body.split_once("\r\n").unwrap_or(("", ""));
    rest.split("\r\n").next().unwrap_or("").to_string()
}

/// Ask the address program over the plain listener, with these extra fields.
fn ask_plain(s: &Setup, fields: &[(&str, &str)]) -> String {
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(fields);
    let mut c = s.server.connect();
    c.send(&req("GET", "/cgi-bin/addr", &all));
    said(&c.read_to_end())
}

fn v2_inet6(src: [u8; 16], port: u16) -> Vec<u8> {
    let mut h = SIG.to_vec();
    h.extend_from_slice(&[0x21, 0x21, 0, 36 + 5]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&[0; 15]);
    h.push(1);
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&443u16.to_be_bytes());
    // A TLV (PP2_TYPE_ALPN), to be skipped.
    h.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2']);
    h
}

#[test]
fn v1_from_a_trusted_peer_names_the_client_to_cgi_and_the_log() {
    let s = start(&["127.0.0.1"], &[]);
    let header = b"PROXY TCP4 192.0.2.7 10.0.0.1 4711 80\r\n";
    assert_eq!(
        said(&via_proxy(&s, header, &get_close("/cgi-bin/addr"))),
        "192.0.2.7 4711"
    );
    let r = via_proxy(&s, header, &get_close("/hello.txt"));
    assert!(r.ends_with(HELLO));
    let line = wait_log_line(&s.log, "/hello.txt");
    assert!(line.starts_with("192.0.2.7 - - ["), "{line}");
}

#[test]
fn v2_from_a_trusted_peer_holds_for_every_request_of_the_connection() {
    let s = start(&["127.0.0.0/8"], &[]);
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    src[15] = 7;
    // The header arrives in two pieces, the second with the request.
    let header = v2_inet6(src, 4711);
    let mut c = Client::connect(&s.proxy_addr);
    c.send(&header[..10]);
    std::thread::sleep(Duration::from_millis(50));
    let mut rest = header[10..].to_vec();
    rest.extend_from_slice(&get_req("/hello.txt"));
    c.send(&rest);
    assert_eq!(c.response().body, HELLO);
    c.send(&get_close("/cgi-bin/addr"));
    assert_eq!(said(&c.read_to_end()), "2001:db8::7 4711");
    let line = wait_log_line(&s.log, "/hello.txt");
    assert!(line.starts_with("2001:db8::7 - - ["), "{line}");
}

#[test]
fn v2_local_and_v1_unknown_keep_the_real_peer() {
    let s = start(&["127.0.0.1"], &[]);
    let mut local = SIG.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 0]);
    let r = said(&via_proxy(&s, &local, &get_close("/cgi-bin/addr")));
    assert!(r.starts_with("127.0.0.1 "), "{r}");
    let r = said(&via_proxy(
        &s,
        b"PROXY UNKNOWN\r\n",
        &get_close("/cgi-bin/addr"),
    ));
    assert!(r.starts_with("127.0.0.1 "), "{r}");
}

#[test]
fn a_header_from_an_untrusted_peer_is_closed_unanswered() {
    let s = start(&["10.0.0.0/8"], &[]);
    let mut c = Client::connect(&s.proxy_addr);
    let mut wire = b"PROXY TCP4 192.0.2.7 10.0.0.1 4711 80\r\n".to_vec();
    wire.extend_from_slice(&get_close("/hello.txt"));
    let _ = c.try_send(&wire);
    c.assert_closed(Duration::from_secs(5), "untrusted peer");
    // The plain listener of the same server still serves it.
    assert_eq!(s.server.get("/hello.txt").body, HELLO);
}

#[test]
fn a_malformed_or_missing_header_is_closed_unanswered() {
    let s = start(&["127.0.0.1"], &["--header-timeout", "1"]);
    for bad in [
        &b"PROXY TCP4 192.0.2.7 10.0.0.1 4711\r\n"[..],
        b"PROXY TCP4 2001:db8::1 10.0.0.1 4711 80\r\n",
        b"\r\n\r\n\0\r\nQUIT\n\x21\x12\x00\x0c\0\0\0\0\0\0\0\0\0\0\0\0",
        // No header: the request itself.
        b"",
    ] {
        let mut c = Client::connect(&s.proxy_addr);
        let mut wire = bad.to_vec();
        wire.extend_from_slice(&get_close("/hello.txt"));
        let _ = c.try_send(&wire);
        c.assert_closed(Duration::from_secs(5), &String::from_utf8_lossy(bad));
    }
    // Nothing at all: closed when the head timeout passes, still without an answer.
    let mut c = Client::connect(&s.proxy_addr);
    c.assert_closed(scaled(Duration::from_secs(5)), "silent client");
    // A header cut short by the client's close.
    let mut c = Client::connect(&s.proxy_addr);
    c.send(b"PROXY TCP4 192.0");
    c.shutdown_write();
    c.assert_closed(Duration::from_secs(5), "half a header");
    drop(s.root);
}

#[test]
fn x_forwarded_for_from_a_trusted_peer_names_the_client() {
    let s = start(&["127.0.0.1"], &[]);
    let r = ask_plain(
        &s,
        &[
            ("X-Forwarded-For", "10.9.9.9, 203.0.113.9"),
            ("X-Forwarded-For", "127.0.0.1"),
        ],
    );
    assert_eq!(r, "203.0.113.9 none", "rightmost untrusted, no port known");
    let r = ask_plain(
        &s,
        &[
            ("X-Forwarded-For", "198.51.100.1"),
            ("Forwarded", "for=\"[2001:db8::5]:4711\";proto=https"),
        ],
    );
    assert_eq!(r, "2001:db8::5 4711", "Forwarded wins, RFC 7239 §6");
    let r = s.server.request(&req(
        "GET",
        "/hello.txt",
        &[("Connection", "close"), ("X-Forwarded-For", "203.0.113.10")],
    ));
    assert_eq!(r.body, HELLO);
    let line = wait_log_line(&s.log, "/hello.txt");
    assert!(line.starts_with("203.0.113.10 - - ["), "{line}");
}

#[test]
fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let s = start(&["10.0.0.0/8"], &[]);
    let r = ask_plain(&s, &[("X-Forwarded-For", "203.0.113.9")]);
    assert!(r.starts_with("127.0.0.1 "), "{r}");
    // Nor after a PROXY header: the peer is then the client it names, not a proxy.
    let s = start(&["127.0.0.1"], &[]);
    let mut wire = get_req("/cgi-bin/addr");
    wire.splice(
        wire.len() - 2..wire.len() - 2,
        b"Connection: close\r\nX-Forwarded-For: 203.0.113.9\r\n"
            .iter()
            .copied(),
    );
    let r = via_proxy(&s, b"PROXY TCP4 192.0.2.7 10.0.0.1 4711 80\r\n", &wire);
    assert_eq!(said(&r), "192.0.2.7 4711");
}

#[test]
fn the_flags_are_checked_in_one_line() {
    let (code, _, err) = run_cli(&["--proxy-protocol-listen", "127.0.0.1:0", "."]);
    assert_eq!(code, Some(2));
    assert!(err.contains("needs --trusted-proxy"), "{err}");
    let (code, _, err) = run_cli(&["--trusted-proxy", "10.0.0.0/33", "."]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("barehttpd: --trusted-proxy")
            || err.contains("--trusted-proxy \"10.0.0.0/33\""),
        "{err}"
    );
}
