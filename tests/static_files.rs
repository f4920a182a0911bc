//! GET and HEAD of regular files (RFC 9110 §9.3.1-§9.3.2, §8.3, §8.6, §8.8, §6.6).

mod common;

use common::*;
use std::time::{Duration, SystemTime};

fn mtime(p: &std::path::Path) -> SystemTime {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .expect("file mtime")
}

/// RFC 9110 §9.3.1: GET transfers "a current selected representation"; §8.6: Content-Length
/// is its size in octets. Checked byte for byte on a small file (sent with the head) and on a
/// binary file larger than that path (sent separately), on one connection.
#[test]
fn rfc9110_9_3_1_get_returns_the_exact_bytes() {
    let root = TempRoot::new();
    let small = pattern(1000, 1);
    let big = pattern(200_000, 2);
    root.file("small.bin", &small);
    root.file("big.bin", &big);
    let s = Server::start(&root.www, &[]);
    let mut c = s.connect();
    for (path, want) in [
        ("/small.bin", &small),
        ("/big.bin", &big),
        ("/small.bin", &small),
    ] {
        c.send(&get_req(path));
        let r = c.response();
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("content-length"),
            Some(want.len().to_string().as_str()),
            "{path}"
        );
        assert!(r.body == *want, "{path}: body differs from the file");
    }
}

/// RFC 9110 §8.3: the Content-Type names the representation's media type; text types carry a
/// charset so that clients do not sniff.
#[test]
fn rfc9110_8_3_content_type_follows_the_extension() {
    let root = TempRoot::new();
    root.file("a.txt", b"text\n");
    root.file("b.html", b"<p>html</p>\n");
    root.file("c.png", b"\x89PNG\r\n\x1a\n");
    let s = Server::start(&root.www, &[]);
    for (path, want) in [
        ("/a.txt", "text/plain; charset=utf-8"),
        ("/b.html", "text/html; charset=utf-8"),
        ("/c.png", "image/png"),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header_count("content-type"), 1, "{path}");
        let ct = r
            .header("content-type")
            .unwrap()
            .to_ascii_lowercase()
            .replace("; ", ";");
        assert_eq!(ct, want.replace("; ", ";"), "{path}");
    }
}

/// RFC 9110 §8.8.2: Last-Modified is the file's modification time as an IMF-fixdate
/// (§5.6.7).
#[test]
fn rfc9110_8_8_2_last_modified_is_the_file_mtime() {
    let root = TempRoot::new();
    let p = root.file("old.txt", b"old\n");
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(when)
        .unwrap();
    let fresh = root.file("fresh.txt", b"fresh\n");
    let s = Server::start(&root.www, &[]);
    let r = s.get("/old.txt");
    assert_eq!(
        r.header("last-modified"),
        Some("Sun, 09 Sep 2001 01:46:40 GMT")
    );
    let r = s.get("/fresh.txt");
    assert_eq!(
        r.header("last-modified"),
        Some(httpdate::fmt_http_date(mtime(&fresh)).as_str())
    );
}

/// RFC 9110 §8.8.3: an ETag is a quoted opaque-tag; a strong one has no `W/` prefix, stays the
/// same while the file does and changes when the content changes.
#[test]
fn rfc9110_8_8_3_etag_is_strong_and_follows_the_content() {
    let root = TempRoot::new();
    let p = root.file("e.txt", b"version one\n");
    let s = Server::start(&root.www, &[]);
    let first = s.get("/e.txt");
    let tag = first.header("etag").expect("ETag").to_string();
    assert!(!tag.starts_with("W/"), "weak ETag {tag:?}");
    assert!(
        tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'),
        "not a quoted tag: {tag:?}"
    );
    let inner = &tag[1..tag.len() - 1];
    assert!(
        inner
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)),
        "etagc only (RFC 9110 §8.8.3): {tag:?}"
    );
    assert_eq!(
        s.get("/e.txt").header("etag"),
        Some(tag.as_str()),
        "ETag of an unchanged file changed"
    );
    std::fs::write(&p, b"version two, longer\n").unwrap();
    let second = s.get("/e.txt");
    assert_eq!(second.body, b"version two, longer\n");
    assert_ne!(
        second.header("etag"),
        Some(tag.as_str()),
        "ETag did not change with the content"
    );
}

/// RFC 9110 §9.3.1: GET transfers "a current selected representation". A file served a
/// moment ago (so possibly cached) and then deleted is 404; one replaced by a rename (how
/// editors and deploy tools write) is served with its new bytes and a new ETag.
#[test]
fn rfc9110_9_3_1_get_serves_the_current_file() {
    let root = TempRoot::new();
    root.file("gone.txt", b"soon gone\n");
    root.file("swap.txt", b"old bytes\n");
    let s = Server::start(&root.www, &[]);
    let mut c = s.connect();
    let mut get = |path: &str| -> Response {
        c.send(&get_req(path));
        c.response()
    };
    for path in ["/gone.txt", "/swap.txt", "/gone.txt", "/swap.txt"] {
        assert_eq!(get(path).status, 200, "{path}");
    }
    let old_tag = get("/swap.txt").header("etag").map(str::to_string);

    std::fs::remove_file(root.www.join("gone.txt")).unwrap();
    let staged = root.outside("swap.tmp", b"new bytes, new length\n");
    std::fs::rename(staged, root.www.join("swap.txt")).unwrap();

    assert_eq!(
        get("/gone.txt").status,
        404,
        "a deleted file was still served"
    );
    let r = get("/swap.txt");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"new bytes, new length\n"[..])
    );
    assert_ne!(r.header("etag").map(str::to_string), old_tag);
}

/// RFC 9110 §6.6.1: "An origin server with a clock ... MUST generate a Date header field" in
/// IMF-fixdate; §10.2.4: Server names the software.
#[test]
fn rfc9110_6_6_1_date_and_server_are_sent() {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    for r in [s.get("/hello.txt"), s.get("/missing")] {
        let date = r.header("date").expect("Date header");
        let t = httpdate::parse_http_date(date).unwrap_or_else(|e| panic!("Date {date:?}: {e}"));
        assert_eq!(
            httpdate::fmt_http_date(t),
            date,
            "Date is not an IMF-fixdate"
        );
        let now = SystemTime::now();
        let skew = now.duration_since(t).unwrap_or_else(|e| e.duration());
        assert!(
            skew < Duration::from_secs(5),
            "Date {date:?} is {skew:?} off"
        );
        assert_eq!(r.header_count("date"), 1);
        let server = r.header("server").expect("Server header");
        assert!(server.starts_with("barehttpd"), "Server: {server:?}");
    }
}

/// RFC 9110 §9.3.2: "The HEAD method is identical to GET except that the server MUST NOT send
/// content in the response"; the server "SHOULD send the same header fields". The next
/// request on the connection proves no body bytes followed.
#[test]
fn rfc9110_9_3_2_head_has_get_headers_and_no_body() {
    let root = TempRoot::new();
    let small = pattern(300, 3);
    let big = pattern(100_000, 4);
    root.file("s.bin", &small);
    root.file("b.bin", &big);
    let s = Server::start(&root.www, &[]);
    let mut c = s.connect();
    for path in ["/s.bin", "/b.bin", "/nope"] {
        c.send(&get_req(path));
        let get = c.response();
        c.send(format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let head = c.head_response();
        assert_eq!(head.status, get.status, "{path}");
        let strip = |r: &Response| -> Vec<(String, String)> {
            let mut h: Vec<_> = r
                .headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect();
            h.sort();
            h
        };
        assert_eq!(
            strip(&head),
            strip(&get),
            "{path}: HEAD and GET header fields differ"
        );
    }
    c.send(&get_req("/s.bin"));
    let after = c.response();
    assert_eq!(after.status, 200);
    assert!(
        after.body == small,
        "the request after HEAD read stray bytes"
    );
}

/// RFC 9112 §6.3 and §9.3: a 5 MiB file arrives intact, in full, on a connection that stays
/// usable.
#[test]
fn rfc9110_9_3_1_large_file_arrives_intact() {
    let root = basic_root();
    let data = pattern(5 * 1024 * 1024 + 7, 5);
    root.file("large.bin", &data);
    let s = Server::start(&root.www, &[]);
    let mut c = s.connect();
    c.send(&get_req("/large.bin"));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), data.len());
    assert!(r.body == data, "5 MiB body differs from the file");
    c.send(&get_req("/hello.txt"));
    assert_eq!(c.response().body, HELLO);
}

/// RFC 9110 §8.6: an empty file is `Content-Length: 0` and no body.
#[test]
fn rfc9110_8_6_empty_file_has_content_length_zero() {
    let root = basic_root();
    root.file("empty.txt", b"");
    let s = Server::start(&root.www, &[]);
    let mut c = s.connect();
    c.send(&get_req("/empty.txt"));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.body.is_empty());
    c.send(&get_req("/hello.txt"));
    assert_eq!(c.response().body, HELLO, "bytes after the empty response");
}

/// RFC 3986 §2.1 (used by RFC 9110 §4.1): percent-encoded octets in the path are decoded once;
/// UTF-8 names are reached through their encoded octets.
#[test]
fn rfc3986_2_1_percent_encoded_names_are_served() {
    let root = TempRoot::new();
    root.file("with space.txt", b"spaced\n");
    root.file("café.txt", b"accent\n");
    root.file("100%.txt", b"percent\n");
    let s = Server::start(&root.www, &[]);
    for (path, want) in [
        ("/with%20space.txt", &b"spaced\n"[..]),
        ("/caf%C3%A9.txt", b"accent\n"),
        ("/caf%c3%a9.txt", b"accent\n"),
        ("/100%25.txt", b"percent\n"),
    ] {
        let r = s.get(path);
        assert_eq!((r.status, r.body.as_slice()), (200, want), "{path}");
    }
}
