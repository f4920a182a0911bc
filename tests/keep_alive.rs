//! Connection persistence and pipelining (RFC 9112 §9.3, §9.3.2, §9.6).

mod common;

use common::*;
use std::time::Duration;

const CLOSE_WITHIN: Duration = Duration::from_secs(3);

fn setup() -> (TempRoot, Server) {
    let root = basic_root();
    root.file("a.txt", b"alpha\n");
    root.file("b.txt", b"bravo bravo\n");
    root.file("c.txt", b"charlie charlie charlie\n");
    let s = Server::start(&root.www, &[]);
    (root, s)
}

/// RFC 9112 §9.3: "If the received protocol is HTTP/1.1 (or later)" and no `close` option is
/// present, "the connection will persist after the current response".
#[test]
fn rfc9112_9_3_http11_is_persistent_by_default() {
    let (_root, s) = setup();
    let mut c = s.connect();
    // The same file twice, then another: a server that caches small files answers the
    // second from its cache, and the rule holds there too.
    for (path, want) in [
        ("/a.txt", "alpha\n"),
        ("/a.txt", "alpha\n"),
        ("/b.txt", "bravo bravo\n"),
    ] {
        c.send(&get_req(path));
        let r = c.response();
        assert_eq!((r.status, r.body_str().as_str()), (200, want));
        assert!(!r.connection_has("close"), "{path}: {:?}", r.headers);
        c.assert_silent_open(Duration::from_millis(200), "after a persistent response");
    }
}

/// RFC 9112 §9.6: "A server that receives a "close" connection option MUST initiate closure
/// of the connection after it sends the final response ... [and] SHOULD send a "close"
/// connection option in its final response on that connection."
#[test]
fn rfc9112_9_6_connection_close_is_honoured() {
    let (_root, s) = setup();
    for warm in [false, true] {
        let mut c = s.connect();
        if warm {
            // The file was just served on this connection (and may be cached).
            c.send(&get_req("/a.txt"));
            assert_eq!(c.response().body, b"alpha\n");
        }
        c.send(&get_close("/a.txt"));
        let r = c.response();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"alpha\n"[..]));
        assert!(r.connection_has("close"), "warm={warm}: {:?}", r.headers);
        c.assert_closed(CLOSE_WITHIN, "after a Connection: close request");
    }
}

/// RFC 9112 §9.6: "The server MUST NOT process any further requests received on that
/// connection" after one with `close`, even when they arrived in the same packet.
#[test]
fn rfc9112_9_6_requests_after_close_are_not_processed() {
    let (_root, s) = setup();
    let mut all = b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec();
    all.extend_from_slice(&get_req("/b.txt"));
    let mut c = s.connect();
    c.send(&all);
    let raw = c.read_to_end();
    let rs = parse_all(&raw).unwrap_or_else(|e| panic!("{e}"));
    let bodies: Vec<String> = rs.iter().map(Response::body_str).collect();
    assert_eq!(
        bodies,
        ["alpha\n"],
        "only the request carrying close is answered"
    );
}

/// RFC 9112 §9.3: for HTTP/1.0, unless "the "keep-alive" connection option is present" (and
/// honoured), "the connection will close after the current response".
#[test]
fn rfc9112_9_3_http10_closes_by_default() {
    let (_root, s) = setup();
    for warm in [false, true] {
        let mut c = s.connect();
        if warm {
            c.send(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            assert_eq!(c.response().body, b"alpha\n");
        }
        c.send(b"GET /a.txt HTTP/1.0\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"alpha\n"[..]));
        assert!(
            !r.connection_has("keep-alive"),
            "warm={warm}: {:?}",
            r.headers
        );
        c.assert_closed(CLOSE_WITHIN, "after an HTTP/1.0 request without keep-alive");
    }
}

/// RFC 9112 §9.3 and Appendix C.2.2: an HTTP/1.0 client that sends `Connection: keep-alive`
/// gets a persistent connection, and every response says so with `Connection: keep-alive`.
#[test]
fn rfc9112_c_2_2_http10_keep_alive_persists() {
    let (_root, s) = setup();
    let mut c = s.connect();
    for (path, want) in [("/a.txt", "alpha\n"), ("/a.txt", "alpha\n"), ("/nope", "")] {
        c.send(format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes());
        let r = c.response();
        if want.is_empty() {
            assert_eq!(r.status, 404);
        } else {
            assert_eq!((r.status, r.body_str().as_str()), (200, want));
        }
        assert!(r.connection_has("keep-alive"), "{path}: {:?}", r.headers);
        c.assert_silent_open(
            Duration::from_millis(200),
            "after a keep-alive HTTP/1.0 response",
        );
    }
}

/// RFC 9112 §9.3.2: "A server MAY process a sequence of pipelined requests in parallel ... but
/// it MUST send the corresponding responses in the same order that the requests were
/// received." All requests go out in one write.
#[test]
fn rfc9112_9_3_2_pipelined_requests_are_answered_in_order() {
    let (_root, s) = setup();
    let mut all = Vec::new();
    for p in ["/c.txt", "/a.txt", "/missing.txt", "/hello.txt"] {
        all.extend_from_slice(&get_req(p));
    }
    all.extend_from_slice(b"HEAD /b.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    all.extend_from_slice(&get_close("/b.txt"));
    let mut c = s.connect();
    c.send(&all);
    let got: Vec<(u16, Vec<u8>)> = (0..4)
        .map(|_| c.response())
        .map(|r| (r.status, r.body))
        .collect();
    assert_eq!(got[0], (200, b"charlie charlie charlie\n".to_vec()));
    assert_eq!(got[1], (200, b"alpha\n".to_vec()));
    assert_eq!(got[2].0, 404);
    assert_eq!(got[3], (200, HELLO.to_vec()));
    let head = c.head_response();
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("12"))
    );
    let last = c.response();
    assert_eq!(
        (last.status, last.body.as_slice()),
        (200, &b"bravo bravo\n"[..])
    );
    c.assert_closed(CLOSE_WITHIN, "after the last, Connection: close, request");
}

/// RFC 9112 §9.3.2 with a half-close (RFC 9293 §3.6: a side that has sent FIN can still
/// receive): a client that pipelines its requests, large files first, and then shuts down its
/// sending side still receives every response, complete and in order.
#[test]
fn rfc9112_9_3_2_pipelined_requests_then_half_close_are_all_answered() {
    let (root, s) = setup();
    let big = pattern(3 * 1024 * 1024, 21);
    root.file("big.bin", &big);
    let mut all = Vec::new();
    for p in ["/big.bin", "/a.txt", "/big.bin", "/c.txt"] {
        all.extend_from_slice(&get_req(p));
    }
    let mut c = s.connect();
    c.send(&all);
    c.shutdown_write();
    let raw = c.read_to_end();
    let rs = parse_all(&raw).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        rs.len(),
        4,
        "responses: {:?}",
        rs.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        rs[0].body == big && rs[2].body == big,
        "a large body was corrupted"
    );
    assert_eq!(rs[1].body, b"alpha\n");
    assert_eq!(rs[3].body, b"charlie charlie charlie\n");
}

/// A PUT refused before its body is read (412 here), pipelined with a GET behind it: a small
/// body is read and dropped and the GET answered on the same connection (as lighttpd does);
/// a body too large to drop gets `Connection: close` on the refusal (RFC 9112 §9.6), so the
/// client knows the GET was not taken and can send it again, instead of losing it silently.
#[test]
fn rfc9112_9_6_a_refused_write_keeps_the_connection_or_says_it_closes() {
    let root = basic_root();
    root.dir("dav");
    let s = Server::start(&root.www, &["--write", "/dav/"]);
    let refused = |len: usize| {
        let mut v = format!(
            "PUT /dav/x.txt HTTP/1.1\r\nHost: t\r\nIf-Match: \"nope\"\r\nContent-Length: {len}\r\n\r\n"
        )
        .into_bytes();
        v.extend(std::iter::repeat_n(b'x', len));
        v
    };
    // Small body: dropped, connection kept, the GET answered.
    let mut c = s.connect();
    let mut both = refused(100);
    both.extend_from_slice(&get_req("/hello.txt"));
    c.send(&both);
    let r = c.response();
    assert_eq!(r.status, 412);
    assert!(
        !r.connection_has("close"),
        "a small body is dropped, not a reason to close"
    );
    let r = c.response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello, world\n"[..]));
    assert!(!root.www.join("dav/x.txt").exists());
    // A large body, not sent yet: the refusal says the connection closes.
    let mut c = s.connect();
    let head = refused(10 << 20);
    let head_len = head.len() - (10 << 20);
    c.send(&head[..head_len]);
    let r = c.response();
    assert_eq!(r.status, 412);
    assert!(
        r.connection_has("close"),
        "the refusal must say the connection closes"
    );
    c.assert_closed(CLOSE_WITHIN, "after a refused large PUT");
}
