//! Resumable uploads (docs/RESUME.md): PATCH with Upload-Length and Upload-Offset into a
//! hidden staging file, renamed over the target only once whole. Every test looks at the
//! files: the target absent until the last byte, then byte-identical; the staging file never
//! served or listed; a broken chunk kept up to where it broke; the limits
//! (`staging::MAX_STAGED`, `MAX_STAGED_BYTES`, `STALE_SECS`) hit.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// As in src/handler/staging.rs.
const MAX_STAGED: usize = 16;
const MAX_STAGED_BYTES: u64 = 64 << 30;
const STALE_SECS: u64 = 24 * 3600;
const PART_PREFIX: &str = ".barehttpd-upload-part-";
const PART_TYPE: &str = "application/offset+octet-stream";

fn dav(extra: &[&str]) -> (TempRoot, Server) {
    let root = basic_root();
    root.dir("dav");
    let mut args = vec!["--write", "/dav/", "--listing"];
    args.extend_from_slice(extra);
    let s = Server::start(&root.www, &args);
    (root, s)
}

/// A PATCH chunk: `body` at `offset` of a `total`-byte upload, with `extra` header lines.
fn chunk(path: &str, total: u64, offset: u64, body: &[u8], extra: &str) -> Vec<u8> {
    let mut v = format!(
        "PATCH {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: {PART_TYPE}\r\n\
         Upload-Length: {total}\r\nUpload-Offset: {offset}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// Ask where an upload of `total` bytes stands.
fn offset_of(s: &Server, path: &str, total: u64) -> u64 {
    let r = s.request(
        format!(
            "PATCH {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nUpload-Length: {total}\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 204, "query {path}: {}", r.body_str());
    r.header("upload-offset").unwrap().parse().unwrap()
}

fn parts(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(PART_PREFIX)
        })
        .collect()
}

#[test]
fn chunks_in_order_publish_the_file_only_when_whole() {
    let (root, s) = dav(&[]);
    let data = pattern(300_000, 7);
    let total = data.len() as u64;
    assert_eq!(offset_of(&s, "/dav/big.bin", total), 0);
    let mut at = 0;
    for piece in data.chunks(128 * 1024) {
        let r = s.request(&chunk("/dav/big.bin", total, at, piece, ""));
        at += piece.len() as u64;
        if at < total {
            assert_eq!(r.status, 204, "{}", r.body_str());
            assert_eq!(r.header("upload-offset"), Some(at.to_string().as_str()));
            // Not there until whole: not served, not listed, the staging file neither.
            assert!(!root.www.join("dav/big.bin").exists());
            assert_eq!(s.get("/dav/big.bin").status, 404);
            let part = parts(&root.www.join("dav"));
            assert_eq!(part.len(), 1);
            let name = part[0].file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(s.get(&format!("/dav/{name}")).status, 404);
            let list = s.get("/dav/").body_str();
            assert!(!list.contains(PART_PREFIX), "{list}");
            let json = s.get("/dav/?format=json").body_str();
            assert!(!json.contains(PART_PREFIX), "{json}");
            let mut c = s.connect();
            c.send(&get_close("/dav/?download=tar"));
            let raw = c.read_to_end();
            let head_end = find(&raw, b"\r\n\r\n").unwrap() + 4;
            assert!(raw.starts_with(b"HTTP/1.1 200"));
            let tar = dechunk(&raw[head_end..]);
            assert!(contains(&tar, b"ustar"), "a tar");
            assert!(!contains(&tar, PART_PREFIX.as_bytes()), "in the archive");
            assert_eq!(offset_of(&s, "/dav/big.bin", total), at);
        } else {
            assert_eq!(r.status, 201, "{}", r.body_str());
            assert!(r.header("etag").is_some());
        }
    }
    assert_eq!(std::fs::read(root.www.join("dav/big.bin")).unwrap(), data);
    assert!(parts(&root.www.join("dav")).is_empty());
    // Done: a new upload of that name and length starts from nothing.
    assert_eq!(offset_of(&s, "/dav/big.bin", total), 0);
}

/// A chunk whose connection breaks keeps the bytes that arrived: the client asks, and
/// resumes from there; the result is byte-identical.
#[test]
fn a_broken_chunk_resumes_where_it_broke() {
    let (root, s) = dav(&[]);
    let data = pattern(200_000, 3);
    let total = data.len() as u64;
    let mut head = chunk("/dav/r.bin", total, 0, &data, "");
    let cut = head.len() - data.len() + 123_456;
    head.truncate(cut);
    let mut c = s.connect();
    c.send(&head);
    drop(c);
    // The server notices the close a moment after the client.
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    let mut at = offset_of(&s, "/dav/r.bin", total);
    while at != 123_456 {
        assert!(Instant::now() < deadline, "offset {at}, not 123456");
        std::thread::sleep(Duration::from_millis(20));
        at = offset_of(&s, "/dav/r.bin", total);
    }
    assert!(!root.www.join("dav/r.bin").exists());
    // The wrong offset is refused with the right one.
    let r = s.request(&chunk("/dav/r.bin", total, 0, &data, ""));
    assert_eq!(r.status, 409);
    assert_eq!(r.header("upload-offset"), Some("123456"));
    // The cut connection holds the staging file until the server has seen it close, which
    // on a loaded machine may come after its last byte is counted: 409 meanwhile, as a
    // resuming client would meet and retry.
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    let r = loop {
        let r = s.request(&chunk("/dav/r.bin", total, at, &data[at as usize..], ""));
        if r.status != 409 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.status, 201, "{}", r.body_str());
    assert_eq!(std::fs::read(root.www.join("dav/r.bin")).unwrap(), data);
    assert!(parts(&root.www.join("dav")).is_empty());
}

/// The checks a PUT makes, and the protocol's own.
#[test]
fn bad_chunks_change_nothing() {
    let (root, s) = dav(&["--max-body", "1M"]);
    root.file("dav/keep.txt", b"keep");
    let cases: &[(&[u8], u16, &str)] = &[
        // No Upload-Length.
        (
            b"PATCH /dav/a HTTP/1.1\r\nHost: t\r\nConnection: close\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 1\r\n\r\nx",
            400,
            "no length",
        ),
        // A form's media type.
        (
            b"PATCH /dav/a HTTP/1.1\r\nHost: t\r\nConnection: close\r\nUpload-Offset: 0\r\nUpload-Length: 1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1\r\n\r\nx",
            415,
            "form type",
        ),
        (
            b"PATCH /dav/a HTTP/1.1\r\nHost: t\r\nConnection: close\r\nUpload-Length: -1\r\n\r\n",
            400,
            "bad number",
        ),
    ];
    for (raw, status, what) in cases {
        assert_eq!(s.request(raw).status, *status, "{what}");
    }
    let big = (1u64 << 20) + 1;
    assert_eq!(
        s.request(&chunk("/dav/a", big, 0, b"x", "")).status,
        413,
        "past --max-body"
    );
    assert_eq!(
        s.request(&chunk("/dav/a", 2, 0, b"xyz", "")).status,
        413,
        "body past the length"
    );
    assert_eq!(
        s.request(&chunk("/dav/a", 5, 3, b"x", "")).status,
        409,
        "offset past what is staged"
    );
    assert_eq!(s.request(&chunk("/dav/.hid", 1, 0, b"x", "")).status, 403);
    assert_eq!(
        s.request(&chunk("/dav/.barehttpd-upload-part-x", 1, 0, b"x", ""))
            .status,
        403
    );
    assert_eq!(s.request(&chunk("/pub.txt", 1, 0, b"x", "")).status, 405);
    assert_eq!(
        s.request(&chunk("/dav/no/such", 1, 0, b"x", "")).status,
        409
    );
    // Preconditions hold at the end as for a PUT: If-None-Match: * keeps a file.
    let r = s.request(&chunk(
        "/dav/keep.txt",
        3,
        0,
        b"new",
        "If-None-Match: *\r\n",
    ));
    assert_eq!(r.status, 412);
    assert_eq!(
        std::fs::read(root.www.join("dav/keep.txt")).unwrap(),
        b"keep"
    );
    for n in ["a", ".hid", "pub.txt"] {
        assert!(!root.www.join("dav").join(n).exists(), "{n}");
    }
    assert!(parts(&root.www.join("dav")).is_empty());
}

/// At most `MAX_STAGED` staging files per server (507 past it), until one goes stale; at
/// most `MAX_STAGED_BYTES` declared.
#[test]
fn staging_files_are_bounded_in_number_and_bytes() {
    let (root, s) = dav(&[]);
    for i in 0..MAX_STAGED {
        let r = s.request(&chunk(&format!("/dav/f{i}"), 10, 0, b"x", ""));
        assert_eq!(r.status, 204, "{i}");
    }
    let r = s.request(&chunk("/dav/one-more", 10, 0, b"x", ""));
    assert_eq!(r.status, 507);
    assert!(!root.www.join("dav/one-more").exists());
    // Resuming one that is staged still works: it is not a new one.
    assert_eq!(s.request(&chunk("/dav/f0", 10, 1, b"y", "")).status, 204);
    // One abandoned for longer than STALE_SECS makes room, and is removed.
    let dir = root.www.join("dav");
    let staged = parts(&dir);
    assert_eq!(staged.len(), MAX_STAGED);
    let old = SystemTime::now() - Duration::from_secs(STALE_SECS + 60);
    let victim = staged
        .iter()
        .find(|p| std::fs::read(p).unwrap() == b"x")
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(victim)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let r = s.request(&chunk("/dav/one-more", 10, 0, b"x", ""));
    assert_eq!(r.status, 204, "{}", r.body_str());
    assert!(!victim.exists());
    assert_eq!(parts(&dir).len(), MAX_STAGED);

    // Bytes: declared lengths count, before any byte comes.
    let (root, s) = dav(&["--max-body", "40G"]);
    let third = MAX_STAGED_BYTES / 3 + 1;
    assert_eq!(s.request(&chunk("/dav/g1", third, 0, b"", "")).status, 204);
    assert_eq!(s.request(&chunk("/dav/g2", third, 0, b"", "")).status, 204);
    assert_eq!(s.request(&chunk("/dav/g3", third, 0, b"", "")).status, 507);
    assert_eq!(parts(&root.www.join("dav")).len(), 2);
}

/// A staging file stays across a restart for its client to resume; a stale one is removed
/// by the start-up sweep.
#[test]
fn restart_keeps_young_staging_files_and_sweeps_stale_ones() {
    let root = basic_root();
    root.dir("dav");
    let args = ["--write", "/dav/"];
    let data = pattern(5000, 9);
    {
        let s = Server::start(&root.www, &args);
        for (name, n) in [("young", 1000), ("old", 10)] {
            let r = s.request(&chunk(&format!("/dav/{name}"), 5000, 0, &data[..n], ""));
            assert_eq!(r.status, 204);
        }
    }
    let dir = root.www.join("dav");
    let old_part = parts(&dir)
        .into_iter()
        .find(|p| std::fs::metadata(p).unwrap().len() == 10)
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old_part)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(STALE_SECS + 60))
        .unwrap();
    let s = Server::start(&root.www, &args);
    assert!(!old_part.exists());
    assert_eq!(offset_of(&s, "/dav/young", 5000), 1000);
    let r = s.request(&chunk("/dav/young", 5000, 1000, &data[1000..], ""));
    assert_eq!(r.status, 201);
    assert_eq!(std::fs::read(dir.join("young")).unwrap(), data);
}

/// One request writes a staging file at a time: a second chunk while the first is still
/// coming is refused (409) and changes nothing; the first then completes the file.
#[test]
fn one_writer_per_staging_file() {
    let (root, s) = dav(&[]);
    let data = pattern(5000, 4);
    let mut first = s.connect();
    let full = chunk("/dav/one.bin", 5000, 0, &data, "");
    let head_len = full.len() - data.len();
    first.send(&full[..head_len + 1000]);
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    while offset_of(&s, "/dav/one.bin", 5000) != 1000 {
        assert!(
            Instant::now() < deadline,
            "the first 1000 bytes never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = s.request(&chunk("/dav/one.bin", 5000, 1000, &data[1000..], ""));
    assert_eq!(r.status, 409, "a second writer");
    assert_eq!(offset_of(&s, "/dav/one.bin", 5000), 1000);
    first.send(&full[head_len + 1000..]);
    let r = first.response();
    assert_eq!(r.status, 201, "{}", r.body_str());
    assert_eq!(std::fs::read(root.www.join("dav/one.bin")).unwrap(), data);
}

/// Under `--auth-file`, a chunk and a question are writes: without credentials 401, and
/// nothing is staged; with them, as without `--auth-file`.
#[test]
fn chunks_need_the_writers_credentials() {
    let root = basic_root();
    root.dir("dav");
    let users = root.outside(
        "users",
        format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap()).as_bytes(),
    );
    let s = Server::start(
        &root.www,
        &["--write", "/dav/", "--auth-file", users.to_str().unwrap()],
    );
    let r = s.request(&chunk("/dav/a.bin", 3, 0, b"abc", ""));
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let r = s.request(
        b"PATCH /dav/a.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\nUpload-Length: 3\r\n\r\n",
    );
    assert_eq!(r.status, 401);
    assert!(parts(&root.www.join("dav")).is_empty());
    // alice:s3cret
    let auth = "Authorization: Basic YWxpY2U6czNjcmV0\r\n";
    let r = s.request(&chunk("/dav/a.bin", 3, 0, b"abc", auth));
    assert_eq!(r.status, 201, "{}", r.body_str());
    assert_eq!(std::fs::read(root.www.join("dav/a.bin")).unwrap(), b"abc");
}
