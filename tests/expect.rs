//! The Expect header field (RFC 9110 §10.1.1).

mod common;

use common::*;
use std::time::{Duration, Instant};

/// RFC 9110 §10.1.1: "A server that receives an Expect field value containing a member other
/// than 100-continue MAY respond with a 417 (Expectation Failed) status code to indicate that
/// the unexpected expectation cannot be met." This server does.
#[test]
fn rfc9110_10_1_1_unknown_expectation_is_417() {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    let ok = s.request(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!((ok.status, ok.body.as_slice()), (200, HELLO));
    let r = s.request(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nExpect: the-unexpected\r\n\r\n");
    assert_eq!(r.status, 417);
    assert!(!contains(&r.body, HELLO));
}

/// RFC 9110 §10.1.1: an origin server that receives `100-continue` "MUST either send an
/// immediate response with a final status code, if that status can be determined by
/// examining just the request line and header fields, or send an immediate 100 (Continue)".
/// POST to a static file is 405 from the head alone: the final answer comes at once, with
/// no 100 before it, while the client still holds back its body.
#[test]
fn rfc9110_10_1_1_final_status_known_from_head_is_sent_without_100() {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    let mut c = s.connect();
    let t0 = Instant::now();
    c.send(b"POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
    let r = c.response();
    let took = t0.elapsed();
    assert_eq!(
        r.status, 405,
        "first response (a 100 here would make the client send a body for nothing)"
    );
    assert!(took < Duration::from_secs(2), "the 405 took {took:?}");
    let allow = r.header("allow").unwrap_or_default().to_string();
    assert!(allow.contains("GET"), "Allow: {allow:?}");
}
