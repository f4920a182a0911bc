//! Request-head parsing over a real socket (RFC 9112 §2-§7, RFC 9110 §5, §7.2, RFC 6585 §5).
//!
//! Each test first sends the well-formed neighbour of the request it checks and expects it to
//! be served, so a refusal cannot come from something unrelated to the rule under test.

mod common;

use common::*;
use std::time::Duration;

const CLOSE_WITHIN: Duration = Duration::from_secs(3);

fn setup() -> (TempRoot, Server) {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    (root, s)
}

/// The request is served (200 with the file), so the server accepts this shape.
fn served(s: &Server, raw: &[u8]) {
    let r = s.request(raw);
    assert_eq!(
        r.status,
        200,
        "control request {:?} was not served",
        String::from_utf8_lossy(raw)
    );
    assert_eq!(r.body, HELLO);
}

/// The request is answered with `status` (and nothing of the file).
fn refused(s: &Server, raw: &[u8], status: u16) -> (Client, Response) {
    let mut c = s.connect();
    c.send(raw);
    let r = c.response();
    let shown = String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
    assert_eq!(r.status, status, "request {shown:?}");
    assert!(
        !contains(&r.body, HELLO),
        "request {shown:?} was refused but the file was sent"
    );
    (c, r)
}

/// Answered with `status`, `Connection: close`, and the connection really closes.
fn refused_and_closed(s: &Server, raw: &[u8], status: u16) {
    let (mut c, r) = refused(s, raw, status);
    assert!(
        r.connection_has("close"),
        "{status} without Connection: close: {:?}",
        r.headers
    );
    c.assert_closed(
        CLOSE_WITHIN,
        &format!("after {status} to {:?}", String::from_utf8_lossy(raw)),
    );
}

fn with_header(h: &str) -> Vec<u8> {
    format!("GET /hello.txt HTTP/1.1\r\nHost: t\r\n{h}\r\n\r\n").into_bytes()
}

/// RFC 9112 §3: "It is RECOMMENDED that all HTTP senders and recipients support, at a minimum,
/// request-line lengths of 8000 octets"; a longer request-target than the server is willing to
/// interpret gets 414 (RFC 9110 §15.5.15). The limit here is 8 KiB.
#[test]
fn rfc9112_3_request_line_over_8k_is_414() {
    let (_root, s) = setup();
    // Exactly 8000 octets (the length in a long query, so no file name limit is involved):
    // must be parsed and served.
    let head = "GET /hello.txt? HTTP/1.1";
    let line = format!("GET /hello.txt?{} HTTP/1.1", "q".repeat(8000 - head.len()));
    assert_eq!(line.len(), 8000);
    served(&s, format!("{line}\r\nHost: t\r\n\r\n").as_bytes());

    let line = format!("GET /hello.txt?{} HTTP/1.1", "q".repeat(8 * 1024));
    refused(&s, format!("{line}\r\nHost: t\r\n\r\n").as_bytes(), 414);
}

/// RFC 6585 §5 / RFC 9110 §15.5 (431): a header section larger than the server accepts
/// (16 KiB here) is refused with 431 Request Header Fields Too Large.
#[test]
fn rfc6585_5_header_section_over_16k_is_431() {
    let (_root, s) = setup();
    served(
        &s,
        &with_header(&format!("X-Big: {}", "b".repeat(15 * 1024))),
    );
    refused(
        &s,
        &with_header(&format!("X-Big: {}", "b".repeat(17 * 1024))),
        431,
    );
}

/// RFC 6585 §5: more header fields than the server accepts (100 here) → 431.
#[test]
fn rfc6585_5_more_than_100_fields_is_431() {
    let (_root, s) = setup();
    let fields = |n: usize| -> String {
        (0..n)
            .map(|i| format!("X-F{i}: v"))
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    // Host + 99 = 100 field lines: within the limit.
    served(&s, &with_header(&fields(99)));
    // Host + 100 = 101 field lines.
    refused(&s, &with_header(&fields(100)), 431);
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
/// request message that lacks a Host header field".
#[test]
fn rfc9112_3_2_http11_without_host_is_400() {
    let (_root, s) = setup();
    served(&s, b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    refused(&s, b"GET /hello.txt HTTP/1.1\r\nAccept: */*\r\n\r\n", 400);
}

/// RFC 9112 §3.2: ... "and to any request message that contains more than one Host header
/// field line".
#[test]
fn rfc9112_3_2_two_host_fields_is_400() {
    let (_root, s) = setup();
    refused(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n",
        400,
    );
    refused(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    );
}

/// RFC 9112 §3.2: ... "or a Host header field with an invalid field value" (RFC 9110 §7.2:
/// `Host = uri-host [ ":" port ]`).
#[test]
fn rfc9112_3_2_invalid_host_is_400() {
    let (_root, s) = setup();
    served(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
    );
    for bad in ["a b", "a/b", "a:80x", "u@h"] {
        refused(
            &s,
            format!("GET /hello.txt HTTP/1.1\r\nHost: {bad}\r\n\r\n").as_bytes(),
            400,
        );
    }
}

/// RFC 9110 §15.6.6: 505 HTTP Version Not Supported for a major version the server does not
/// support (an HTTP/2.0 request line over HTTP/1 framing).
#[test]
fn rfc9110_15_6_6_http2_request_line_is_505() {
    let (_root, s) = setup();
    refused(&s, b"GET /hello.txt HTTP/2.0\r\nHost: t\r\n\r\n", 505);
}

/// RFC 9112 §5.2: "A server that receives an obs-fold in a request message ... MUST either
/// reject the message by sending a 400 (Bad Request) ... or replace each received obs-fold".
/// This server rejects.
#[test]
fn rfc9112_5_2_obs_fold_is_400() {
    let (_root, s) = setup();
    served(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-A: one two\r\n\r\n",
    );
    refused(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n",
        400,
    );
    refused(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-A: one\r\n\ttwo\r\n\r\n",
        400,
    );
}

/// RFC 9112 §5.1: "A server MUST reject, with a response status code of 400 (Bad Request),
/// any received request message that contains whitespace between a header field name and
/// colon."
#[test]
fn rfc9112_5_1_whitespace_before_colon_is_400() {
    let (_root, s) = setup();
    refused(&s, b"GET /hello.txt HTTP/1.1\r\nHost : t\r\n\r\n", 400);
    refused(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-A\t: 1\r\n\r\n",
        400,
    );
}

/// RFC 9110 §5.5: field values are visible characters, SP and HTAB; "a recipient of CR, LF, or
/// NUL within a field value MUST either reject the message or replace each of those
/// characters with SP". Other control bytes are not field-vchar either.
#[test]
fn rfc9110_5_5_control_byte_in_value_is_400() {
    let (_root, s) = setup();
    served(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-A: a\tb\r\n\r\n",
    );
    for ctl in [&b"\x00"[..], b"\x01", b"\x1b", b"\x7f"] {
        let mut raw = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-A: a".to_vec();
        raw.extend_from_slice(ctl);
        raw.extend_from_slice(b"b\r\n\r\n");
        refused(&s, &raw, 400);
    }
}

/// RFC 9112 §2.2: "A sender MUST NOT generate a bare CR ... A recipient of such a bare CR MUST
/// consider that element to be invalid or replace each bare CR with SP before processing".
#[test]
fn rfc9112_2_2_bare_cr_is_400() {
    let (_root, s) = setup();
    refused(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-A: a\rX-B: b\r\n\r\n",
        400,
    );
    refused(&s, b"GET /hello.txt HTTP/1.1\rHost: t\r\n\r\n", 400);
}

/// RFC 9112 §6.3 (3): "If a message is received with both a Transfer-Encoding and a
/// Content-Length header field ... a server MAY reject the request as invalid ... regardless,
/// the server MUST close the connection after responding to such a request".
#[test]
fn rfc9112_6_3_content_length_with_transfer_encoding_is_400_and_closes() {
    let (_root, s) = setup();
    refused_and_closed(
        &s,
        b"POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    refused_and_closed(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400,
    );
}

/// RFC 9112 §6.3 (5): a request with an invalid Content-Length (here: two different values)
/// → "the server MUST respond with a 400 (Bad Request) status code and then close the
/// connection".
#[test]
fn rfc9112_6_3_conflicting_content_lengths_is_400_and_closes() {
    let (_root, s) = setup();
    refused_and_closed(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    );
    refused_and_closed(
        &s,
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\nabcd",
        400,
    );
}

/// RFC 9112 §6.3 (4): "If a Transfer-Encoding header field is present in a request and the
/// chunked transfer coding is not the final encoding, the message body length cannot be
/// determined reliably; the server MUST respond with the 400 (Bad Request) status code and
/// then close the connection." Codings the server does not implement get the same (§6.1).
#[test]
fn rfc9112_6_3_transfer_encoding_other_than_final_chunked_is_400_and_closes() {
    let (_root, s) = setup();
    for te in ["gzip", "chunked, gzip", "identity"] {
        refused_and_closed(
            &s,
            format!(
                "POST /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n"
            )
            .as_bytes(),
            400,
        );
    }
}

/// RFC 9112 §6.1: "A server or client that receives an HTTP/1.0 message containing a
/// Transfer-Encoding header field MUST treat the message as if the framing is faulty ... and
/// close the connection after processing the message."
#[test]
fn rfc9112_6_1_http10_with_transfer_encoding_is_400_and_closes() {
    let (_root, s) = setup();
    served(&s, b"GET /hello.txt HTTP/1.0\r\n\r\n");
    refused_and_closed(
        &s,
        b"POST /hello.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}
