//! Writes with `--write /dav/`: PUT (RFC 9110 §9.3.4) and DELETE (§9.3.5), their
//! preconditions (§13.1), `Expect: 100-continue` (§10.1.1), and what they leave on disk.
//!
//! Every test looks at the filesystem, not only at the status: the bytes of the file, that no
//! temporary upload file (`.barehttpd-upload-*`) is left behind, and that nothing outside the
//! write prefix appeared, changed or vanished.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const TMP_PREFIX: &str = ".barehttpd-upload-";

/// A docroot with /hello.txt and an empty /dav/, served with `--write /dav/` plus `extra`.
fn dav(extra: &[&str]) -> (TempRoot, Server) {
    let root = basic_root();
    root.dir("dav");
    let mut args = vec!["--write", "/dav/"];
    args.extend_from_slice(extra);
    let s = Server::start(&root.www, &args);
    (root, s)
}

fn put(s: &Server, path: &str, body: &[u8]) -> Response {
    s.request(&put_req(path, "", body))
}

fn delete(s: &Server, path: &str) -> Response {
    s.request(format!("DELETE {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
}

/// Names of temporary upload files in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(TMP_PREFIX))
                .collect()
        })
        .unwrap_or_default()
}

/// Temporary files in `dir` are gone within `limit` (the server removes them when the
/// connection ends, which it may notice a moment after the client).
fn assert_no_temp_files(dir: &Path, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    loop {
        let left = temp_files(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: temporary files remain after {limit:?}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Everything under `dir`: relative path → "file:<bytes>", "dir" or "link:<target>".
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(rel, format!("link:{}", t.display()).into_bytes());
            } else if ft.is_dir() {
                out.insert(rel, b"dir".to_vec());
                walk(base, &p, out);
            } else {
                let mut v = b"file:".to_vec();
                v.extend(std::fs::read(&p).unwrap_or_default());
                out.insert(rel, v);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn allow_set(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r
        .header("allow")
        .unwrap_or_default()
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// PUT
// ---------------------------------------------------------------------------------------

/// RFC 9110 §15.5.6: outside the write prefix PUT is not supported: 405, and "the origin
/// server MUST generate an Allow header field" — here GET, HEAD, OPTIONS. Nothing is written.
#[test]
fn rfc9110_15_5_6_put_outside_the_write_prefix_is_405_with_allow() {
    let (root, s) = dav(&[]);
    for path in ["/hello.txt", "/new.txt", "/davx/a.txt", "/other/dav/a.txt"] {
        let r = put(&s, path, b"overwrite\n");
        assert_eq!(r.status, 405, "PUT {path}");
        assert_eq!(allow_set(&r), ["GET", "HEAD", "OPTIONS"], "PUT {path}");
    }
    assert_eq!(std::fs::read(root.www.join("hello.txt")).unwrap(), HELLO);
    assert!(!root.www.join("new.txt").exists());
    assert!(!root.www.join("davx").exists());
    assert!(!root.www.join("other").exists());
}

/// RFC 9110 §9.3.4: "If the target resource does not have a current representation and the PUT
/// successfully creates one, then the origin server MUST inform the user agent by sending a
/// 201 (Created) response"; when one is replaced, 200 or 204. The stored bytes are exactly the
/// content, and the ETag sent with the answer is the one a GET then gives (a validator may be
/// sent only when the content was saved without transformation).
#[test]
fn rfc9110_9_3_4_put_creates_with_201_and_replaces_with_204() {
    let (root, s) = dav(&[]);
    let first = pattern(100_000, 11);
    let r = put(&s, "/dav/file%20one.bin", &first);
    assert_eq!(r.status, 201, "{}", r.body_str());
    assert_eq!(r.header("location"), Some("/dav/file%20one.bin"));
    let tag1 = r.header("etag").expect("ETag on 201").to_string();
    let on_disk = root.www.join("dav/file one.bin");
    assert!(
        std::fs::read(&on_disk).unwrap() == first,
        "stored bytes differ"
    );
    let g = s.get("/dav/file%20one.bin");
    assert!(g.status == 200 && g.body == first);
    assert_eq!(g.header("etag"), Some(tag1.as_str()), "PUT and GET ETags");

    let second = pattern(3_000, 12);
    let r = put(&s, "/dav/file%20one.bin", &second);
    assert_eq!(r.status, 204, "replacement");
    assert!(r.body.is_empty());
    let tag2 = r.header("etag").expect("ETag on 204").to_string();
    assert_ne!(tag1, tag2, "the ETag did not change with the content");
    assert!(std::fs::read(&on_disk).unwrap() == second, "replaced bytes");
    assert_eq!(
        s.get("/dav/file%20one.bin").header("etag"),
        Some(tag2.as_str())
    );

    // An empty body makes an empty file.
    let r = put(&s, "/dav/empty", b"");
    assert_eq!(r.status, 201);
    assert_eq!(std::fs::read(root.www.join("dav/empty")).unwrap(), b"");
    assert_no_temp_files(&root.www.join("dav"), Duration::ZERO, "after PUTs");
}

/// RFC 9112 §7.1: a chunked request body is the concatenation of its chunks (extensions and
/// trailers ignored); the file holds exactly that, on a connection that stays usable.
#[test]
fn rfc9112_7_1_chunked_put_stores_the_decoded_body() {
    let (root, s) = dav(&[]);
    let data = pattern(300_001, 13);
    let mut req =
        b"PUT /dav/chunked.bin HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut rest = &data[..];
    let mut size = 1;
    while !rest.is_empty() {
        let n = size.min(rest.len());
        req.extend_from_slice(format!("{n:x};ext=1\r\n").as_bytes());
        req.extend_from_slice(&rest[..n]);
        req.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        size = size * 3 + 7;
    }
    req.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
    let mut c = s.connect();
    c.send(&req);
    let r = c.response();
    assert_eq!(r.status, 201, "{}", r.body_str());
    let stored = std::fs::read(root.www.join("dav/chunked.bin")).unwrap();
    assert_eq!(stored.len(), data.len());
    assert!(stored == data, "chunked body stored wrongly");
    c.send(&get_req("/hello.txt"));
    assert_eq!(
        c.response().body,
        HELLO,
        "the connection after a chunked PUT"
    );
}

/// RFC 9110 §10.1.1: a server that will accept the body "MUST ... send an immediate 100
/// (Continue) response"; the final answer comes after the body.
#[test]
fn rfc9110_10_1_1_accepted_put_gets_100_continue_first() {
    let (root, s) = dav(&[]);
    let body = pattern(50_000, 14);
    let mut c = s.connect();
    c.send(
        format!(
            "PUT /dav/e.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let t0 = Instant::now();
    let interim = c.response();
    assert_eq!(interim.status, 100, "first answer to an acceptable PUT");
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(
        !root.www.join("dav/e.bin").exists(),
        "created before the body"
    );
    c.send(&body);
    let r = c.response();
    assert_eq!(r.status, 201);
    assert!(std::fs::read(root.www.join("dav/e.bin")).unwrap() == body);
}

/// RFC 9110 §10.1.1: when the final status "can be determined by examining just the request
/// line and header fields", the server MUST send it immediately, without 100, and the client
/// never has to send the body. Here: outside the prefix (405), too large (413, §15.5.14),
/// failed preconditions (412, §13.1.1, §13.1.2), a directory (409), and nothing is written.
#[test]
fn rfc9110_10_1_1_refused_put_gets_the_final_status_without_100() {
    let (root, s) = dav(&["--max-body", "1K"]);
    root.file("dav/old.txt", b"old\n");
    root.dir("dav/sub");
    let before = snapshot(&root.base);
    for (path, headers, len, want) in [
        ("/hello.txt", "", 10, 405),
        ("/dav/big.bin", "", 2048, 413),
        ("/dav/old.txt", "If-None-Match: *\r\n", 10, 412),
        ("/dav/old.txt", "If-Match: \"nope\"\r\n", 10, 412),
        ("/dav/sub", "", 10, 409),
        ("/dav/missing/x", "", 10, 409),
    ] {
        let mut c = s.connect();
        let t0 = Instant::now();
        c.send(
            format!(
                "PUT {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n{headers}\r\n"
            )
            .as_bytes(),
        );
        let r = c.response();
        assert_eq!(r.status, want, "PUT {path} {headers:?}: first answer");
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "PUT {path}: the final status took {:?}",
            t0.elapsed()
        );
    }
    assert_eq!(
        snapshot(&root.base),
        before,
        "a refused PUT changed the tree"
    );
    // Without Expect, the same limit still applies to a body that is sent.
    let r = put(&s, "/dav/big.bin", &[b'x'; 1025]);
    assert_eq!(r.status, 413);
    let r = put(&s, "/dav/fits.bin", &[b'x'; 1024]);
    assert_eq!(r.status, 201, "a body of exactly --max-body");
    assert!(!root.www.join("dav/big.bin").exists());
}

/// RFC 9110 §15.5.14: a chunked body (no length known in advance) that grows past
/// `--max-body` is refused with 413 once it does, and nothing is stored.
#[test]
fn rfc9110_15_5_14_chunked_put_past_max_body_is_413() {
    let (root, s) = dav(&["--max-body", "1K"]);
    let mut c = s.connect();
    let mut req =
        b"PUT /dav/c.bin HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        req.extend_from_slice(b"200\r\n");
        req.extend_from_slice(&[b'y'; 0x200]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    c.send(&req);
    let r = c.response();
    assert_eq!(r.status, 413);
    assert!(!root.www.join("dav/c.bin").exists());
    assert_no_temp_files(&root.www.join("dav"), Duration::from_secs(2), "413");
}

/// RFC 9110 §9.3.4: PUT does not create intermediate directories; a missing parent is a
/// conflict (409, §15.5.10) and nothing is created. A PUT onto a directory is a conflict too.
#[test]
fn rfc9110_9_3_4_missing_parent_or_directory_target_is_409() {
    let (root, s) = dav(&[]);
    root.file("dav/dir/inner.txt", b"inner\n");
    let r = put(&s, "/dav/no/such/dir/f.txt", b"x");
    assert_eq!(r.status, 409);
    assert!(!root.www.join("dav/no").exists(), "a parent was created");
    for path in ["/dav/dir", "/dav/dir/"] {
        let r = put(&s, path, b"x");
        assert_eq!(r.status, 409, "PUT {path}");
    }
    assert!(root.www.join("dav/dir").is_dir());
    assert_eq!(
        std::fs::read(root.www.join("dav/dir/inner.txt")).unwrap(),
        b"inner\n"
    );
    // A regular file used as a directory.
    root.file("dav/plain", b"plain\n");
    let r = put(&s, "/dav/plain/x", b"x");
    assert_eq!(r.status, 409);
    assert_eq!(
        std::fs::read(root.www.join("dav/plain")).unwrap(),
        b"plain\n"
    );
    assert_no_temp_files(&root.www.join("dav"), Duration::ZERO, "409");
}

/// RFC 9110 §14.5: "An origin server that allows PUT on a given target resource MUST send a
/// 400 (Bad Request) response to a PUT request that contains a Content-Range header field",
/// since it might otherwise be taken as the full representation.
#[test]
fn rfc9110_14_5_put_with_content_range_is_400() {
    let (root, s) = dav(&[]);
    root.file("dav/f.txt", b"0123456789\n");
    let r = s.request(&put_req(
        "/dav/f.txt",
        "Content-Range: bytes 0-1/11\r\n",
        b"ab",
    ));
    assert_eq!(r.status, 400);
    assert_eq!(
        std::fs::read(root.www.join("dav/f.txt")).unwrap(),
        b"0123456789\n"
    );
    let r = s.request(&put_req(
        "/dav/g.txt",
        "Content-Range: bytes 0-1/2\r\n",
        b"ab",
    ));
    assert_eq!(r.status, 400);
    assert!(!root.www.join("dav/g.txt").exists());
}

/// RFC 9110 §13.1.1-§13.1.4 on PUT: If-Match with the current ETag proceeds, with another tag
/// fails with 412 and leaves the file alone; `If-None-Match: *` fails when the file exists
/// and proceeds when it does not; If-Unmodified-Since before the file's mtime fails.
#[test]
fn rfc9110_13_1_preconditions_guard_put() {
    let (root, s) = dav(&[]);
    let f = root.file("dav/f.txt", b"original\n");
    let one_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(one_hour_ago)
        .unwrap();
    let tag = s.get("/dav/f.txt").header("etag").unwrap().to_string();
    let old = |what: &str| {
        assert_eq!(std::fs::read(&f).unwrap(), b"original\n", "{what}");
    };

    let r = s.request(&put_req(
        "/dav/f.txt",
        "If-Match: \"other\"\r\n",
        b"changed\n",
    ));
    assert_eq!(r.status, 412, "If-Match with a wrong tag");
    old("after a wrong If-Match");
    let r = s.request(&put_req("/dav/f.txt", "If-None-Match: *\r\n", b"changed\n"));
    assert_eq!(r.status, 412, "If-None-Match: * on an existing file");
    old("after If-None-Match: *");
    let past = httpdate::fmt_http_date(one_hour_ago - Duration::from_secs(86_400));
    let r = s.request(&put_req(
        "/dav/f.txt",
        &format!("If-Unmodified-Since: {past}\r\n"),
        b"changed\n",
    ));
    assert_eq!(r.status, 412, "If-Unmodified-Since before the mtime");
    old("after If-Unmodified-Since in the past");
    let r = s.request(&put_req("/dav/new.txt", "If-Match: *\r\n", b"new\n"));
    assert_eq!(r.status, 412, "If-Match: * on an absent file");
    assert!(!root.www.join("dav/new.txt").exists());

    let r = s.request(&put_req(
        "/dav/f.txt",
        &format!("If-Match: \"x\", {tag}\r\n"),
        b"changed\n",
    ));
    assert_eq!(r.status, 204, "If-Match listing the current tag");
    assert_eq!(std::fs::read(&f).unwrap(), b"changed\n");
    let r = s.request(&put_req("/dav/new.txt", "If-None-Match: *\r\n", b"new\n"));
    assert_eq!(r.status, 201, "If-None-Match: * on an absent file");
    assert_eq!(
        std::fs::read(root.www.join("dav/new.txt")).unwrap(),
        b"new\n"
    );
    // The old tag no longer matches.
    let r = s.request(&put_req(
        "/dav/f.txt",
        &format!("If-Match: {tag}\r\n"),
        b"again\n",
    ));
    assert_eq!(r.status, 412, "If-Match with a stale tag");
    assert_eq!(std::fs::read(&f).unwrap(), b"changed\n");
}

/// Wait until `n` uploads have begun in `dir` (their temporary files exist).
fn wait_for_uploads(dir: &Path, n: usize) {
    let deadline = Instant::now() + scaled(Duration::from_secs(3));
    while temp_files(dir).len() < n {
        assert!(Instant::now() < deadline, "{n} uploads did not begin");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Two PUTs of `path` with `fields` (whole header lines) and 8-byte bodies: both heads are
/// sent and taken (each upload's temporary file exists) before either body, then the first
/// body, then the second. The two answers, in that order.
fn racing_puts(root: &TempRoot, s: &Server, path: &str, fields: &str) -> (Response, Response) {
    let mut clients: Vec<Client> = (0..2).map(|_| s.connect()).collect();
    for c in &mut clients {
        c.send(
            format!("PUT {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n{fields}\r\n")
                .as_bytes(),
        );
    }
    wait_for_uploads(&root.www.join("dav"), 2);
    clients[0].send(b"winner\r\n");
    let first = clients[0].response();
    clients[1].send(b"second\r\n");
    let second = clients[1].response();
    (first, second)
}

/// RFC 9110 §13.1.2: `If-None-Match: *` makes a PUT create-only, and the condition must hold
/// when the file is made, not only when the upload begins. Of two create-only PUTs that
/// begin while the file is absent, the first to finish creates it (201) and the second is
/// 412; the file holds the first one's body. (Both were 201, the second replacing the first.)
#[test]
fn rfc9110_13_1_2_concurrent_create_only_puts_one_wins() {
    let (root, s) = dav(&[]);
    let (first, second) = racing_puts(&root, &s, "/dav/once.txt", "If-None-Match: *\r\n");
    assert_eq!(first.status, 201, "the first create-only PUT to finish");
    assert_eq!(second.status, 412, "the second, once the file exists");
    assert_eq!(
        std::fs::read(root.www.join("dav/once.txt")).unwrap(),
        b"winner\r\n"
    );
    assert_no_temp_files(&root.www.join("dav"), Duration::from_secs(2), "412");
    // The same when the file is made by someone else while the body is on its way.
    let mut c = s.connect();
    c.send(
        b"PUT /dav/other.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nIf-None-Match: *\r\n\r\n",
    );
    wait_for_uploads(&root.www.join("dav"), 1);
    root.file("dav/other.txt", b"made elsewhere\n");
    c.send(b"put\n");
    assert_eq!(c.response().status, 412, "a file made elsewhere meanwhile");
    assert_eq!(
        std::fs::read(root.www.join("dav/other.txt")).unwrap(),
        b"made elsewhere\n"
    );
}

/// RFC 9110 §13.1.1: `If-Match` with the current ETag is a lost-update guard, so it must hold
/// when the file is replaced. Of two PUTs with the same tag that begin before either is
/// done, the first to finish replaces the file (204) and the second is 412, since the tag it
/// names is gone; the file holds the first one's body. (Both were 204.)
#[test]
fn rfc9110_13_1_1_concurrent_if_match_puts_one_wins() {
    let (root, s) = dav(&[]);
    root.file("dav/doc.txt", b"original\n");
    let tag = s.get("/dav/doc.txt").header("etag").unwrap().to_string();
    let (first, second) = racing_puts(&root, &s, "/dav/doc.txt", &format!("If-Match: {tag}\r\n"));
    assert_eq!(first.status, 204, "the first PUT to finish");
    assert_eq!(second.status, 412, "the second, whose tag is gone");
    assert_eq!(
        std::fs::read(root.www.join("dav/doc.txt")).unwrap(),
        b"winner\r\n"
    );
    assert_no_temp_files(&root.www.join("dav"), Duration::from_secs(2), "412");
}

/// RFC 9110 §9.3.4: a PUT is the whole representation or nothing. A client that vanishes
/// halfway through a 1 MiB body leaves the old file intact and no temporary file behind.
#[test]
fn rfc9110_9_3_4_put_interrupted_mid_body_leaves_the_old_file() {
    let (root, s) = dav(&[]);
    let old = pattern(10_000, 15);
    let f = root.file("dav/f.bin", &old);
    let mut c = s.connect();
    let len = 1 << 20;
    c.send(
        format!("PUT /dav/f.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n").as_bytes(),
    );
    c.send(&pattern(len / 2, 16));
    // The upload is under way: its temporary file exists (proves the check below can fail).
    let deadline = Instant::now() + Duration::from_secs(2);
    while temp_files(&root.www.join("dav")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no temporary file during the upload"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(c);
    assert_no_temp_files(
        &root.www.join("dav"),
        Duration::from_secs(2),
        "after the client vanished",
    );
    assert!(std::fs::read(&f).unwrap() == old, "the old content changed");
    assert_eq!(s.get("/hello.txt").status, 200, "the server still serves");
}

/// RFC 9110 §15.5.9: a body that stops arriving for longer than `--header-timeout` gets 408
/// (Request Timeout); the partial upload leaves no trace.
#[test]
fn rfc9110_15_5_9_stalled_put_body_is_408_and_leaves_no_trace() {
    let (root, s) = dav(&["--header-timeout", "1"]);
    let mut c = s.connect();
    c.send(b"PUT /dav/slow.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789");
    let t0 = Instant::now();
    let r = c.response();
    let took = t0.elapsed();
    assert_eq!(r.status, 408);
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "408 after {took:?} with --header-timeout 1"
    );
    assert!(!root.www.join("dav/slow.bin").exists());
    assert_no_temp_files(&root.www.join("dav"), Duration::from_secs(2), "after 408");
}

/// RFC 9110 §9.3.4 with concurrency: 50 simultaneous PUTs of different bodies to one path
/// leave exactly one of them, whole (each body is 64 KiB of one byte value), and no
/// temporary files.
#[test]
fn rfc9110_9_3_4_concurrent_puts_leave_one_whole_body() {
    let (root, s) = dav(&[]);
    const N: u8 = 50;
    const LEN: usize = 64 * 1024;
    let addr = s.addr();
    let threads: Vec<_> = (0..N)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(&addr);
                let body = vec![b'A' + i % 26 + if i >= 26 { 0x20 } else { 0 }; LEN];
                c.send(&put_req("/dav/shared.bin", "", &body));
                c.response().status
            })
        })
        .collect();
    for t in threads {
        let status = t.join().expect("PUT thread");
        assert!(matches!(status, 201 | 204), "a concurrent PUT got {status}");
    }
    let got = std::fs::read(root.www.join("dav/shared.bin")).unwrap();
    assert_eq!(got.len(), LEN, "length of the surviving body");
    assert!(
        got.iter().all(|&b| b == got[0]),
        "bodies interleaved: first byte {:?}, others differ",
        got[0] as char
    );
    assert_no_temp_files(
        &root.www.join("dav"),
        Duration::from_secs(2),
        "after 50 PUTs",
    );
    let names: Vec<_> = std::fs::read_dir(root.www.join("dav"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["shared.bin"], "other files in /dav/");
}

/// A 64 MiB PUT streams to disk: the server's resident memory stays under 64 MiB while it
/// arrives, and the file is whole (RFC 9110 §9.3.4).
#[test]
fn rfc9110_9_3_4_large_put_streams_with_bounded_memory() {
    let (root, s) = dav(&[]);
    let data = std::sync::Arc::new(pattern(64 << 20, 17));
    let mut c = s.connect();
    c.send(
        format!(
            "PUT /dav/big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            data.len()
        )
        .as_bytes(),
    );
    let mut w = c.stream.try_clone().unwrap();
    let d = data.clone();
    let writer = std::thread::spawn(move || {
        for piece in d.chunks(256 * 1024) {
            w.write_all(piece).expect("upload write");
        }
    });
    let mut peak = 0;
    let mut samples = 0;
    while !writer.is_finished() {
        peak = peak.max(vm_rss(s.pid()));
        samples += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.join().unwrap();
    let r = c.response();
    peak = peak.max(vm_rss(s.pid()));
    assert_eq!(r.status, 201);
    assert!(samples > 0 && peak > 0, "could not read VmRSS");
    assert!(
        peak < 64 << 20,
        "server VmRSS reached {} MiB during a 64 MiB upload",
        peak >> 20
    );
    let stored = std::fs::read(root.www.join("dav/big.bin")).unwrap();
    assert_eq!(stored.len(), data.len());
    assert!(stored == *data, "64 MiB body stored wrongly");
}

// ---------------------------------------------------------------------------------------
// Temporary names, dotfiles
// ---------------------------------------------------------------------------------------

/// Unfinished uploads are never served, listed, written or deleted by name, even with
/// `--dotfiles` (RFC 9110 §17.3: names in the tree that are not meant to be resources).
#[test]
fn rfc9110_17_3_temporary_upload_names_are_never_exposed() {
    let root = basic_root();
    root.file("dav/.barehttpd-upload-x", b"partial upload\n");
    root.file(".barehttpd-upload-y", b"partial upload\n");
    root.file("dav/.visible", b"a dotfile\n");
    let s = Server::start(&root.www, &["--write", "/dav/", "--dotfiles", "--listing"]);
    // The control: --dotfiles does serve and list ordinary dotfiles.
    assert_eq!(s.get("/dav/.visible").status, 200);
    let listing = s.get("/dav/");
    assert_eq!(listing.status, 200);
    assert!(
        contains(&listing.body, b".visible"),
        "listing lacks .visible"
    );
    assert!(
        !contains(&listing.body, b"barehttpd-upload"),
        "a temporary name is listed: {}",
        listing.body_str()
    );
    assert!(!contains(&s.get("/").body, b"barehttpd-upload"));
    for path in ["/dav/.barehttpd-upload-x", "/.barehttpd-upload-y"] {
        let r = s.get(path);
        assert_eq!(r.status, 404, "GET {path}");
        assert!(!contains(&r.body, b"partial upload"));
    }
    let r = put(&s, "/dav/.barehttpd-upload-x", b"overwritten\n");
    assert_eq!(r.status, 403, "PUT to a temporary name");
    let r = delete(&s, "/dav/.barehttpd-upload-x");
    assert_eq!(r.status, 403, "DELETE of a temporary name");
    let r = put(&s, "/dav/.barehttpd-upload-new", b"x");
    assert_eq!(r.status, 403, "PUT creating a temporary name");
    assert_eq!(
        std::fs::read(root.www.join("dav/.barehttpd-upload-x")).unwrap(),
        b"partial upload\n"
    );
    assert!(!root.www.join("dav/.barehttpd-upload-new").exists());
}

// ---------------------------------------------------------------------------------------
// Temporary files a killed server left
// ---------------------------------------------------------------------------------------

/// The id of a process that has exited and been waited for: no process has it.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait for true");
    pid
}

/// A temporary upload file as a server with process id `pid` names it.
fn fake_temp(root: &TempRoot, dir: &str, pid: u32, seq: u64, body: &[u8]) -> std::path::PathBuf {
    root.file(&format!("{dir}/{TMP_PREFIX}{pid}-{seq}"), body)
}

/// A killed server cannot remove its uploads' temporary files; the next start removes those
/// whose process is gone, in the prefix's folder and below, and says so on stderr. Those of
/// a process that still exists (another server may be writing them), ordinary files, names
/// not of that form and anything outside the `--write` prefixes stay.
#[test]
fn start_removes_temporary_files_of_dead_processes_only() {
    let root = basic_root();
    let (dead, live) = (dead_pid(), std::process::id());
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let gone = [
        fake_temp(&root, "dav", dead, 0, &[b'x'; 1000]),
        fake_temp(&root, "dav/sub", dead, 1, &[b'x'; 234]),
    ];
    let kept = [
        fake_temp(&root, "dav", live, 0, b"live"),
        fake_temp(&root, "dav/sub", live, 1, b"live"),
        fake_temp(&root, "dav/sub", sleeper.id(), 2, b"live"),
        fake_temp(&root, ".", dead, 3, b"outside the write prefix"),
        fake_temp(&root, "docs", dead, 4, b"outside the write prefix"),
        root.file("dav/note.txt", b"note\n"),
        root.file("dav/sub/.barehttpd-upload-x", b"no process id"),
    ];
    let s = Server::start(&root.www, &["--write", "/dav/"]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    for p in &gone {
        assert!(!p.exists(), "{} was left", p.display());
    }
    for p in &kept {
        assert!(p.exists(), "{} was removed", p.display());
    }
    let err = s.stderr_text();
    assert!(
        err.contains("removed 2 temporary upload files (1234 bytes)"),
        "stderr: {err}"
    );
    // The sleeper has exited since: its file goes at the next start, and only it.
    drop(s);
    let s = Server::start(&root.www, &["--write", "/dav/"]);
    let err = s.stderr_text();
    assert!(
        err.contains("removed 1 temporary upload file (4 bytes)"),
        "stderr: {err}"
    );
    assert!(!kept[2].exists(), "the sleeper's file");
    let still: Vec<_> = kept.iter().filter(|p| p.exists()).collect();
    assert_eq!(still.len(), kept.len() - 1, "{still:?}");
    // Nothing left to remove: nothing said.
    drop(s);
    let s = Server::start(&root.www, &["--write", "/dav/"]);
    assert!(!s.stderr_text().contains("removed"), "{}", s.stderr_text());
}

/// The crash itself: a server killed (SIGKILL) in the middle of a large PUT leaves its
/// temporary file; the next server on the same folder removes it before serving, and the
/// file the PUT was replacing is as it was.
#[test]
fn start_removes_the_temporary_file_of_a_server_killed_mid_upload() {
    let root = basic_root();
    let old = pattern(5000, 30);
    let f = root.file("dav/sub/big.bin", &old);
    let mut s = Server::start(&root.www, &["--write", "/dav/"]);
    let mut c = s.connect();
    let len = 64 << 20;
    c.send(
        format!("PUT /dav/sub/big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n")
            .as_bytes(),
    );
    let part = pattern(1 << 20, 31);
    c.send(&part);
    let sub = root.www.join("dav/sub");
    wait_for_uploads(&sub, 1);
    // Some of the body is on disk, so there is something to lose.
    let deadline = Instant::now() + scaled(Duration::from_secs(3));
    while std::fs::metadata(sub.join(&temp_files(&sub)[0])).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "no body bytes reached the file");
        std::thread::sleep(Duration::from_millis(5));
    }
    s.signal("KILL");
    assert!(
        s.wait_exit(scaled(Duration::from_secs(5))).is_some(),
        "the server did not die"
    );
    drop(c);
    let left = temp_files(&sub);
    assert_eq!(
        left.len(),
        1,
        "the killed server's temporary file: {left:?}"
    );
    let s2 = Server::start(&root.www, &["--write", "/dav/"]);
    assert_eq!(
        temp_files(&sub),
        Vec::<String>::new(),
        "left after the restart"
    );
    let err = s2.stderr_text();
    assert!(
        err.contains("removed 1 temporary upload file ("),
        "stderr: {err}"
    );
    assert!(std::fs::read(&f).unwrap() == old, "the old file changed");
    // The folder takes uploads again.
    assert_eq!(put(&s2, "/dav/sub/big.bin", b"new\n").status, 204);
    assert_eq!(std::fs::read(&f).unwrap(), b"new\n");
}

/// Dotfiles are not writable (403) unless `--dotfiles` is given, in the last segment or any
/// directory above it.
#[test]
fn dotfiles_are_refused_for_writing_unless_enabled() {
    let (root, s) = dav(&[]);
    root.file("dav/.keep", b"keep\n");
    root.file("dav/.git/config", b"config\n");
    let before = snapshot(&root.www);
    for (m, path) in [
        ("PUT", "/dav/.hidden"),
        ("PUT", "/dav/.keep"),
        ("PUT", "/dav/.git/config"),
        ("DELETE", "/dav/.keep"),
        ("DELETE", "/dav/.git/config"),
        ("DELETE", "/dav/.git"),
    ] {
        let r = if m == "PUT" {
            put(&s, path, b"x")
        } else {
            delete(&s, path)
        };
        assert_eq!(r.status, 403, "{m} {path}");
    }
    assert_eq!(
        snapshot(&root.www),
        before,
        "a refused dotfile write changed the tree"
    );
    drop(s);

    let s = Server::start(&root.www, &["--write", "/dav/", "--dotfiles"]);
    assert_eq!(put(&s, "/dav/.hidden", b"h\n").status, 201);
    assert_eq!(std::fs::read(root.www.join("dav/.hidden")).unwrap(), b"h\n");
    assert_eq!(delete(&s, "/dav/.keep").status, 204);
    assert!(!root.www.join("dav/.keep").exists());
}

// ---------------------------------------------------------------------------------------
// DELETE
// ---------------------------------------------------------------------------------------

/// RFC 9110 §9.3.5: DELETE removes the association; 204 when done with nothing more to say.
/// An absent target is 404; an empty directory goes; a non-empty one is a conflict (409) and
/// stays whole, since directories are never removed recursively, except by a WebDAV server
/// (feature `dav`; RFC 4918 §9.6.1: a collection goes with all its members).
#[test]
fn rfc9110_9_3_5_delete_files_and_directories() {
    let (root, s) = dav(&[]);
    let f = root.file("dav/f.txt", b"f\n");
    let empty = root.dir("dav/empty");
    let full = root.file("dav/full/inner/x.txt", b"x\n");
    let r = delete(&s, "/dav/f.txt");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert!(!f.exists(), "the file is still there");
    assert_eq!(s.get("/dav/f.txt").status, 404);
    assert_eq!(delete(&s, "/dav/f.txt").status, 404, "second DELETE");
    assert_eq!(delete(&s, "/dav/never").status, 404);
    assert_eq!(delete(&s, "/dav/no/such/file").status, 404);
    assert_eq!(delete(&s, "/dav/empty/").status, 204, "empty directory");
    assert!(!empty.exists());
    if cfg!(feature = "dav") {
        assert_eq!(delete(&s, "/dav/full/").status, 204, "a whole tree");
        assert!(!full.exists());
        assert_eq!(s.get("/dav/full/inner/x.txt").status, 404);
    } else {
        for path in ["/dav/full", "/dav/full/", "/dav/full/inner"] {
            assert_eq!(delete(&s, path).status, 409, "DELETE {path}");
        }
        assert_eq!(std::fs::read(&full).unwrap(), b"x\n");
    }
    // Outside the prefix, DELETE is not allowed at all.
    let r = delete(&s, "/hello.txt");
    assert_eq!(r.status, 405);
    assert_eq!(allow_set(&r), ["GET", "HEAD", "OPTIONS"]);
    assert!(root.www.join("hello.txt").exists());
}

/// RFC 9110 §15.6.4: out of descriptors (EMFILE) is a temporary overload, 503 with
/// Retry-After, for a PUT as for a GET (a PUT answered 500, a server fault). Nothing is
/// written, and once descriptors are free again the same PUT succeeds.
#[test]
fn rfc9110_15_6_4_put_out_of_descriptors_is_503() {
    const LIMIT: usize = 40;
    let root = basic_root();
    root.dir("dav");
    let s = start_with_fd_limit(&root.www, LIMIT, &["--write", "/dav/"]);
    let (fillers, mut ours) = exhaust_descriptors(
        &s,
        LIMIT,
        &[
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n",
            b"PUT /dav/new.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n",
        ],
    );
    // The control: a static file that is not cached cannot be opened either.
    ours[0].send(b"\r\n");
    let get = ours[0].response();
    assert_eq!(get.status, 503, "GET with no descriptor left");
    ours[1].send(b"\r\nnew\n");
    let r = ours[1].response();
    assert_eq!(r.status, 503, "PUT with no descriptor left");
    assert_eq!(r.header("retry-after"), Some("1"), "PUT 503");
    assert_eq!(get.header("retry-after"), Some("1"), "GET 503");
    assert!(!root.www.join("dav/new.txt").exists());
    assert_no_temp_files(&root.www.join("dav"), Duration::ZERO, "503");
    drop((fillers, ours));
    let deadline = Instant::now() + scaled(Duration::from_secs(3));
    let r = loop {
        let r = put(&s, "/dav/new.txt", b"new\n");
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.status, 201, "PUT once descriptors are free");
}

/// RFC 9110 §15.5.5: a name longer than the file system allows (255 bytes) cannot exist, and
/// GET says so with 404; PUT and DELETE of such a name, as the last segment or a directory on
/// the way, answer the same and change nothing (they answered 500, a server fault).
#[test]
fn rfc9110_15_5_5_over_long_names_are_404_for_put_and_delete_as_for_get() {
    let (root, s) = dav(&[]);
    let long = "n".repeat(300);
    let before = snapshot(&root.www);
    for path in [format!("/dav/{long}"), format!("/dav/{long}/x.txt")] {
        assert_eq!(
            s.get(&path).status,
            404,
            "GET of a {}-byte name",
            long.len()
        );
        assert_eq!(put(&s, &path, b"x").status, 404, "PUT {path}");
        assert_eq!(delete(&s, &path).status, 404, "DELETE {path}");
    }
    assert_eq!(snapshot(&root.www), before);
    assert_no_temp_files(&root.www.join("dav"), Duration::ZERO, "over-long names");
}

/// RFC 3986 §3.3 and RFC 9110 §9.3.5: a trailing slash names a directory (as path resolution
/// reads it, and as GET answers: `/a.txt/` is 404 for a file), so `DELETE /dav/a.txt/`
/// removes nothing when a.txt is a file, or a symlink, and is 404 like the GET; `PUT
/// /dav/a.txt/` replaces nothing and is 409, as any PUT to a directory URL. (nginx's WebDAV
/// answers 409 to both; 404 is chosen for DELETE so that it agrees with GET.)
#[test]
fn rfc9110_9_3_5_trailing_slash_on_a_file_deletes_nothing() {
    let (root, s) = dav(&[]);
    let f = root.file("dav/a.txt", b"keep\n");
    std::os::unix::fs::symlink("a.txt", root.www.join("dav/link")).unwrap();
    root.dir("dav/empty");
    let before = snapshot(&root.www);
    assert_eq!(s.get("/dav/a.txt/").status, 404, "GET /dav/a.txt/");
    for path in ["/dav/a.txt/", "/dav/link/"] {
        assert_eq!(delete(&s, path).status, 404, "DELETE {path}");
    }
    let r = put(&s, "/dav/a.txt/", b"overwritten\n");
    assert_eq!(r.status, 409, "PUT /dav/a.txt/");
    assert_eq!(std::fs::read(&f).unwrap(), b"keep\n");
    assert_eq!(
        snapshot(&root.www),
        before,
        "a trailing-slash write changed the tree"
    );
    assert_no_temp_files(&root.www.join("dav"), Duration::ZERO, "trailing slash");
    // The control: a directory's URL with its slash is deleted.
    assert_eq!(delete(&s, "/dav/empty/").status, 204);
    assert!(!root.www.join("dav/empty").exists());
}

/// RFC 9110 §13.1.1 on DELETE: a wrong If-Match leaves the file (412), the right one deletes.
#[test]
fn rfc9110_13_1_1_if_match_guards_delete() {
    let (root, s) = dav(&[]);
    let f = root.file("dav/f.txt", b"f\n");
    let tag = s.get("/dav/f.txt").header("etag").unwrap().to_string();
    let del = |h: &str| {
        s.request(format!("DELETE /dav/f.txt HTTP/1.1\r\nHost: t\r\n{h}\r\n\r\n").as_bytes())
    };
    assert_eq!(del("If-Match: \"nope\"").status, 412);
    assert!(f.exists());
    assert_eq!(del(&format!("If-Match: {tag}")).status, 204);
    assert!(!f.exists());
}

/// The document root and the write prefix itself are never deleted (403), whatever the
/// spelling, and nothing below them is removed.
#[test]
fn rfc9110_9_3_5_delete_of_the_root_or_the_prefix_is_refused() {
    let root = basic_root();
    root.dir("dav");
    let before = snapshot(&root.base);
    {
        let s = Server::start(&root.www, &["--write", "/dav/"]);
        assert_eq!(
            delete(&s, "/dav/").status,
            403,
            "DELETE /dav/ (an empty prefix dir)"
        );
        for path in ["/dav", "/dav/.", "/dav/x/..", "/dav/%2e"] {
            let st = delete(&s, path).status;
            assert!(matches!(st, 403 | 405), "DELETE {path}: {st}");
        }
    }
    assert!(
        root.www.join("dav").is_dir(),
        "the prefix directory was removed"
    );
    {
        let s = Server::start(&root.www, &["--write", "/"]);
        for path in ["/", "/.", "/dav/..", "//", "/%2e"] {
            let st = delete(&s, path).status;
            assert_eq!(st, 403, "DELETE {path} with --write /");
        }
    }
    assert_eq!(
        snapshot(&root.base),
        before,
        "a refused DELETE removed something"
    );
}

/// RFC 9110 §17.3: a symlink inside /dav/ to a file outside the docroot is handled as the
/// link itself. DELETE removes the link, not its target; PUT replaces the link with a regular
/// file and never writes through it. A linked directory that leaves the root cannot be
/// written into.
#[test]
fn rfc9110_17_3_symlinks_are_written_and_deleted_as_links() {
    let (root, s) = dav(&[]);
    let target = root.outside("target.txt", b"outside, must survive\n");
    let link = root.www.join("dav/link.txt");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    std::os::unix::fs::symlink(&root.base, root.www.join("dav/out")).unwrap();

    let r = put(&s, "/dav/link.txt", b"written via PUT\n");
    assert!(
        matches!(r.status, 201 | 204),
        "PUT through the link name: {}",
        r.status
    );
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the link was not replaced by a file"
    );
    assert_eq!(std::fs::read(&link).unwrap(), b"written via PUT\n");
    assert_eq!(std::fs::read(&target).unwrap(), b"outside, must survive\n");

    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(delete(&s, "/dav/link.txt").status, 204);
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link is still there"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"outside, must survive\n");

    // Through a linked directory that points outside the root: nothing outside changes.
    let before = snapshot(&root.base);
    let r = put(&s, "/dav/out/evil.txt", b"evil\n");
    assert!(
        (400..500).contains(&r.status),
        "PUT through a linked dir: {}",
        r.status
    );
    let r = delete(&s, "/dav/out/target.txt");
    assert!(
        (400..500).contains(&r.status),
        "DELETE through a linked dir: {}",
        r.status
    );
    assert_eq!(snapshot(&root.base), before);
    assert!(!root.base.join("evil.txt").exists());
}

/// RFC 9110 §17.3 with `--follow-symlinks`: a symlink inside the write prefix that leads
/// elsewhere in the root (`dav/docs -> ../docs`) does not make that elsewhere writable.
/// `PUT /docs/manual.txt` is 405; so the same file reached as `/dav/docs/manual.txt` is not
/// replaced, created beside, or deleted either (4xx, and the tree is unchanged). GET still
/// follows the link, and a link that stays inside the prefix is written through.
#[test]
fn rfc9110_17_3_follow_symlinks_never_writes_outside_the_write_prefix() {
    let (root, s) = dav(&["--follow-symlinks"]);
    let manual = root.file("docs/manual.txt", b"the manual\n");
    std::os::unix::fs::symlink("../docs", root.www.join("dav/docs")).unwrap();
    root.dir("dav/real");
    std::os::unix::fs::symlink("real", root.www.join("dav/alias")).unwrap();
    assert_eq!(put(&s, "/docs/manual.txt", b"x").status, 405, "the control");
    assert_eq!(
        s.get("/dav/docs/manual.txt").body,
        b"the manual\n",
        "GET follows"
    );
    let before = snapshot(&root.www);
    for (m, path) in [
        ("PUT", "/dav/docs/manual.txt"),
        ("PUT", "/dav/docs/new.txt"),
        ("DELETE", "/dav/docs/manual.txt"),
    ] {
        let r = if m == "PUT" {
            put(&s, path, b"overwritten\n")
        } else {
            delete(&s, path)
        };
        assert!((400..500).contains(&r.status), "{m} {path}: {}", r.status);
    }
    assert_eq!(std::fs::read(&manual).unwrap(), b"the manual\n");
    assert_eq!(
        snapshot(&root.www),
        before,
        "a write through dav/docs changed the tree"
    );
    assert_no_temp_files(&root.www.join("docs"), Duration::ZERO, "docs");
    // Inside the prefix, a link is followed for writes as for reads.
    assert_eq!(put(&s, "/dav/alias/f.txt", b"f\n").status, 201);
    assert_eq!(
        std::fs::read(root.www.join("dav/real/f.txt")).unwrap(),
        b"f\n"
    );
    assert_eq!(delete(&s, "/dav/alias/f.txt").status, 204);
}

/// RFC 3986 §5.2.4 and RFC 9110 §17.3: no spelling of a target under /dav/ — dot segments,
/// encoded dots and slashes, NUL, backslashes — creates, changes or removes anything outside
/// /dav/. Each attempt is refused, and the whole tree (docroot and what is beside it) is
/// compared before and after.
#[test]
fn rfc9110_17_3_traversal_never_writes_outside_the_prefix() {
    let (root, s) = dav(&[]);
    root.outside("x", b"outside x\n");
    root.file("x", b"docroot x\n");
    root.file("dav/keep.txt", b"keep\n");
    let before = snapshot(&root.base);
    for target in [
        "/dav/../x",
        "/dav/%2e%2e/x",
        "/dav/%2E%2E/x",
        "/dav/..%2fx",
        "/dav/%2e%2e%2fx",
        "/dav/../../x",
        "/dav/%2e%2e/%2e%2e/x",
        "/dav/x%00",
        "/dav/%00/../x",
        "/dav/..\\x",
        "/dav/%5c..%5cx",
        "/dav/..%5c..%5cx",
        "/dav/a\\b",
        "/dav/keep.txt/../../x",
    ] {
        for m in ["PUT", "DELETE"] {
            let raw = format!(
                "{m} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nevil\n"
            );
            let mut c = s.connect();
            c.send(raw.as_bytes());
            let bytes = c.read_to_end();
            let rs = parse_all(&bytes).unwrap_or_else(|e| panic!("{m} {target}: {e}"));
            assert_eq!(rs.len(), 1, "{m} {target}");
            assert!(
                (400..500).contains(&rs[0].status),
                "{m} {target}: status {}",
                rs[0].status
            );
            assert_eq!(
                snapshot(&root.base),
                before,
                "{m} {target} changed the tree"
            );
        }
    }
}

/// The access log has a line for each PUT and DELETE, with the request line, the status and
/// a byte count (for a PUT, the body bytes received; for a bodiless 204, zero).
#[test]
fn access_log_records_puts_and_deletes() {
    let root = basic_root();
    root.dir("dav");
    let log = root.base.join("access.log");
    let s = Server::start(
        &root.www,
        &["--write", "/dav/", "--access-log", log.to_str().unwrap()],
    );
    assert_eq!(put(&s, "/dav/a.bin", &pattern(5000, 18)).status, 201);
    assert_eq!(put(&s, "/dav/a.bin", &pattern(700, 19)).status, 204);
    assert_eq!(delete(&s, "/dav/a.bin").status, 204);
    assert_eq!(delete(&s, "/dav/a.bin").status, 404);
    assert_eq!(put(&s, "/hello.txt", b"x").status, 405);
    let want = [
        "\"PUT /dav/a.bin HTTP/1.1\" 201 5000 ",
        "\"PUT /dav/a.bin HTTP/1.1\" 204 700 ",
        "\"DELETE /dav/a.bin HTTP/1.1\" 204 0 ",
        "\"DELETE /dav/a.bin HTTP/1.1\" 404 ",
        "\"PUT /hello.txt HTTP/1.1\" 405 ",
    ];
    let deadline = Instant::now() + Duration::from_secs(3);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= want.len() || Instant::now() >= deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(lines.len(), want.len(), "log lines: {lines:#?}");
    // Each worker hands its lines to the log on its own, so the order across connections is
    // not the order of the requests: match each expected line to a distinct logged one.
    let mut unmatched: Vec<&String> = lines.iter().collect();
    for w in want {
        let i = unmatched
            .iter()
            .position(|l| l.contains(w))
            .unwrap_or_else(|| panic!("no line with {w:?} in {lines:#?}"));
        let line = unmatched.remove(i);
        assert!(line.starts_with("127.0.0.1 - - ["), "{line:?}");
    }
}

/// Helper sanity: `snapshot` sees a change (so the tree comparisons above can fail).
#[test]
fn snapshot_notices_changes() {
    let root = basic_root();
    let a = snapshot(&root.base);
    root.outside("new", b"n");
    assert_ne!(snapshot(&root.base), a);
    let b = snapshot(&root.base);
    std::fs::write(root.www.join("hello.txt"), b"changed").unwrap();
    assert_ne!(snapshot(&root.base), b);
}
