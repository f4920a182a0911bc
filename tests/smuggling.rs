//! Message framing of request bodies the server does not use (RFC 9112 §6.3, §7.1, §9.3.2).
//!
//! A static GET may carry a body; the server must skip exactly that body, so that a request
//! hidden inside it is never run and the next pipelined request is read from the right byte.
//! Every test pipelines a final `Connection: close` request and reads the stream to its end,
//! then counts the responses: one too many means a hidden request was run.

mod common;

use common::*;
use std::time::Duration;

const SECRET: &[u8] = b"smuggled-secret-body\n";
const NEXT: &[u8] = b"the next pipelined request\n";

fn setup() -> (TempRoot, Server) {
    let root = basic_root();
    // Inside the docroot: if the hidden request ran, this is what it would return.
    root.file("secret.txt", SECRET);
    root.file("next.txt", NEXT);
    let s = Server::start(&root.www, &[]);
    (root, s)
}

/// Send `parts` with a short pause between them and read every response until the server
/// closes the connection.
fn exchange(s: &Server, parts: &[&[u8]]) -> (Vec<u8>, Vec<Response>) {
    let mut c = s.connect();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        c.send(p);
    }
    let raw = c.read_to_end();
    let rs = parse_all(&raw).unwrap_or_else(|e| panic!("{e}"));
    (raw, rs)
}

fn assert_outer_then_next(raw: &[u8], rs: &[Response]) {
    assert!(
        !contains(raw, SECRET),
        "the request hidden in the body was executed"
    );
    let bodies: Vec<String> = rs
        .iter()
        .map(|r| format!("{} {:?}", r.status, r.body_str()))
        .collect();
    assert_eq!(
        bodies,
        vec![
            format!("200 {:?}", String::from_utf8_lossy(HELLO)),
            format!("200 {:?}", String::from_utf8_lossy(NEXT))
        ],
        "expected exactly the outer response then the next request's"
    );
}

/// RFC 9112 §6.3 (6): with a valid Content-Length, "the message body length in octets" is its
/// value; the bytes after it start the next request (§9.3.2). A whole request inside the
/// body is data, never a request.
#[test]
fn rfc9112_6_3_content_length_body_with_hidden_request_is_skipped() {
    let (_root, s) = setup();
    let hidden = b"GET /secret.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let outer = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        hidden.len()
    );
    let mut all = outer.into_bytes();
    all.extend_from_slice(hidden);
    all.extend_from_slice(&get_close("/next.txt"));
    let (raw, rs) = exchange(&s, &[&all]);
    assert_outer_then_next(&raw, &rs);
}

/// The same, with the body arriving after the head in separate writes, so the server must
/// keep skipping across reads (the head alone is a complete request).
#[test]
fn rfc9112_6_3_content_length_body_split_across_reads_is_skipped() {
    let (_root, s) = setup();
    let hidden = b"GET /secret.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let outer = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        hidden.len()
    );
    let next = get_close("/next.txt");
    let (raw, rs) = exchange(&s, &[outer.as_bytes(), &hidden[..10], &hidden[10..], &next]);
    assert_outer_then_next(&raw, &rs);
}

/// RFC 9112 §7.1: a chunked body ends at the last chunk and trailer section; a request inside
/// a chunk is data.
#[test]
fn rfc9112_7_1_chunked_body_with_hidden_request_is_skipped() {
    let (_root, s) = setup();
    let hidden = b"GET /secret.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut all =
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    all.extend_from_slice(format!("{:x}\r\n", hidden.len()).as_bytes());
    all.extend_from_slice(hidden);
    all.extend_from_slice(b"\r\n0\r\n\r\n");
    all.extend_from_slice(&get_close("/next.txt"));
    let (raw, rs) = exchange(&s, &[&all]);
    assert_outer_then_next(&raw, &rs);
}

/// RFC 9112 §7.1.1 and §7.1.2: chunk extensions are ignored and the trailer section is read
/// to its empty line; the next request starts right after it. Sent in pieces that cut
/// through the size line, an extension, the data and the trailer.
#[test]
fn rfc9112_7_1_chunk_extensions_and_trailers_are_discarded() {
    let (_root, s) = setup();
    let mut body =
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    body.extend_from_slice(b"5;name=value;quoted=\"a;b\"\r\nhello\r\n");
    let hidden = b"GET /secret.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    body.extend_from_slice(format!("{:X} ; ext\r\n", hidden.len()).as_bytes());
    body.extend_from_slice(hidden);
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(
        b"0;last=1\r\nX-Trailer: 1\r\nX-Other: GET /secret.txt HTTP/1.1\r\n\r\n",
    );
    let next = get_close("/next.txt");
    let cuts = [70, 80, 100, 140, body.len() - 5];
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut at = 0;
    for c in cuts {
        parts.push(&body[at..c]);
        at = c;
    }
    parts.push(&body[at..]);
    parts.push(&next);
    let (raw, rs) = exchange(&s, &parts);
    assert_outer_then_next(&raw, &rs);
}
