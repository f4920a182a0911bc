//! Compression on the fly (cargo feature `compress`): text files without a precompressed
//! sibling are sent in gzip, br or zstd to clients that accept it (RFC 9110 §8.4, §12.5.3),
//! each answer says `Vary: Accept-Encoding` (§12.5.5), each coding has its own ETag (§8.8.3),
//! and a Range request is answered from the file as it is (§14).
//!
//! Every compressed body is decoded here, by decoders of its own (and by curl where it is
//! installed), and compared with the file's bytes.
#![cfg(feature = "compress")]

mod common;

use common::*;
use std::io::Read;
use std::time::Duration;

/// The smallest file compressed (`handler::compress::MIN_LEN`) and the largest
/// (`MAX_LEN`); the largest file kept in the worker's file cache whole
/// (`handler::reply::INLINE_BODY_MAX`).
const MIN_LEN: usize = 1024;
const MAX_LEN: usize = 512 << 10;
const CACHED_MAX: usize = 16 * 1024;

/// Text that compresses as source code does: lines that repeat with small changes.
fn text(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = seed;
    while out.len() < len {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let line = format!(
            "function f{}(a, b) {{ return a * {} + b; }} // {}\n",
            i % 1000,
            (i >> 20) % 97,
            ["one", "two", "three", "four"][(i >> 40) as usize % 4]
        );
        out.extend_from_slice(line.as_bytes());
    }
    out.truncate(len);
    out
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("gzip decodes");
        }
        "br" => {
            brotli_decompressor::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .expect("br decodes");
        }
        "zstd" => out = zstd::stream::decode_all(body).expect("zstd decodes"),
        other => panic!("no decoder for {other}"),
    }
    out
}

/// A docroot with text files below, within and above the sizes that matter.
struct Site {
    root: TempRoot,
    s: Server,
}

impl Site {
    fn start(extra: &[&str]) -> Site {
        let root = TempRoot::new();
        root.file("tiny.css", &text(MIN_LEN - 1, 1));
        root.file("small.js", &text(4000, 2));
        root.file("mid.html", &text(CACHED_MAX + 30_000, 3));
        root.file("big.txt", &text(MAX_LEN + 1, 4));
        root.file("data.json", &text(3000, 5));
        root.file("pic.png", &text(5000, 6));
        root.file("dir/index.html", &text(5000, 7));
        let s = Server::start(&root.www, extra);
        Site { root, s }
    }

    fn bytes(&self, path: &str) -> Vec<u8> {
        let rel = path.trim_start_matches('/');
        let rel = if rel.ends_with('/') {
            format!("{rel}index.html")
        } else {
            rel.to_string()
        };
        std::fs::read(self.root.www.join(rel)).unwrap()
    }

    fn get(&self, c: &mut Client, path: &str, fields: &[(&str, &str)]) -> Response {
        c.send(&req("GET", path, fields));
        c.response()
    }
}

/// RFC 9110 §8.4.1, §12.5.3: for each coding, a client that accepts only it gets the file in
/// it, with Content-Encoding, its length as Content-Length, and Vary; decoded, the body is
/// the file. Small files (kept in the cache whole) and larger ones alike, the first answer
/// (compressed then) and the later ones (from the copy).
#[test]
fn rfc9110_8_4_each_coding_decodes_to_the_original_bytes() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    for path in ["/small.js", "/mid.html", "/data.json", "/dir/"] {
        let want = site.bytes(path);
        for coding in ["gzip", "br", "zstd"] {
            for round in 0..2 {
                let what = format!("{path} {coding} #{round}");
                let r = site.get(&mut c, path, &[("Accept-Encoding", coding)]);
                assert_eq!(r.status, 200, "{what}");
                assert_eq!(r.header("content-encoding"), Some(coding), "{what}");
                assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{what}");
                assert!(
                    r.body.len() < want.len() / 2,
                    "{what}: {} bytes",
                    r.body.len()
                );
                assert!(
                    decode(coding, &r.body) == want,
                    "{what}: decodes to the file"
                );
            }
        }
    }
}

/// The same with curl's own decoders (`--compressed`), where curl is installed.
#[test]
fn curl_compressed_decodes_each_coding_to_the_original_bytes() {
    let ok = std::process::Command::new("curl").arg("--version").output();
    let Ok(out) = ok else {
        eprintln!("SKIPPED: curl is not installed");
        return;
    };
    let features = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let site = Site::start(&[]);
    for coding in ["gzip", "br", "zstd"] {
        // curl lists brotli as "brotli", zstd as "zstd", gzip as "libz".
        let needs = match coding {
            "gzip" => "libz",
            "br" => "brotli",
            _ => "zstd",
        };
        if !features.contains(needs) {
            eprintln!("SKIPPED: this curl cannot decode {coding}");
            continue;
        }
        for path in ["/small.js", "/mid.html"] {
            let url = format!("http://{}{path}", site.s.addr());
            let out = std::process::Command::new("curl")
                .args(["-s", "--compressed", "-H"])
                .arg(format!("Accept-Encoding: {coding}"))
                .args(["-w", "%{content_type}", "-o", "-", &url])
                .output()
                .expect("run curl");
            let want = site.bytes(path);
            assert!(
                out.stdout.len() > want.len(),
                "{path} {coding}: curl got nothing"
            );
            assert!(
                out.stdout[..want.len()] == want[..],
                "{path} {coding}: curl decoded other bytes"
            );
        }
    }
}

/// RFC 9110 §12.5.3: qvalues choose among codings, q=0 refuses one, `*` stands for those not
/// named, and `identity` weighs like any coding; equal weights go to br, then zstd, then gzip.
#[test]
fn rfc9110_12_5_3_qvalues_and_identity_choose_the_coding() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    let want = site.bytes("/small.js");
    for (ae, coding) in [
        ("gzip", Some("gzip")),
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip, zstd", Some("zstd")),
        ("br;q=0.5, gzip", Some("gzip")),
        ("br;q=0.5, zstd;q=0.7, gzip;q=0.6", Some("zstd")),
        ("gzip;q=0", None),
        ("GZIP;Q=0.000", None),
        ("*", Some("br")),
        ("br;q=0, *", Some("zstd")),
        ("*;q=0", None),
        ("gzip;q=0.5, identity", None),
        ("identity;q=0, gzip", Some("gzip")),
        ("identity", None),
        ("deflate", None),
        ("", None),
    ] {
        let what = format!("Accept-Encoding: {ae:?}");
        let r = site.get(&mut c, "/small.js", &[("Accept-Encoding", ae)]);
        assert_eq!(r.status, 200, "{what}");
        assert_eq!(r.header("content-encoding"), coding, "{what}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{what}");
        let body = match coding {
            Some(cd) => decode(cd, &r.body),
            None => r.body.clone(),
        };
        assert!(body == want, "{what}: the file's bytes");
    }
    // No Accept-Encoding at all: the file as it is.
    let r = site.get(&mut c, "/small.js", &[]);
    assert_eq!(r.header("content-encoding"), None);
    assert!(r.body == want);
}

/// Images and other compressed types are never compressed, and do not vary; a text file
/// too small to gain is sent as it is, but its answers still say Vary (its type varies).
#[test]
fn images_and_tiny_files_are_sent_as_they_are() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    let r = site.get(&mut c, "/pic.png", &[("Accept-Encoding", "gzip, br, zstd")]);
    assert_eq!(r.header("content-encoding"), None, "image");
    assert_eq!(r.header("vary"), None, "image");
    assert!(r.body == site.bytes("/pic.png"));
    let r = site.get(
        &mut c,
        "/tiny.css",
        &[("Accept-Encoding", "gzip, br, zstd")],
    );
    assert_eq!(r.header("content-encoding"), None, "tiny");
    assert_eq!(r.header("vary"), Some("Accept-Encoding"), "tiny");
    assert!(r.body == site.bytes("/tiny.css"));
}

/// RFC 9110 §9.3.2: HEAD answers with the head GET would send, the coding's Content-Length
/// and ETag included, and no body; RFC 9110 §12.5.5: Vary on every answer, identity too.
#[test]
fn rfc9110_9_3_2_head_matches_get_for_each_coding() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    for path in ["/small.js", "/mid.html"] {
        for ae in ["gzip", "br", "zstd", "identity"] {
            let what = format!("{path} {ae}");
            let fields = [("Accept-Encoding", ae)];
            c.send(&req("HEAD", path, &fields));
            let h = c.head_response();
            let g = site.get(&mut c, path, &fields);
            assert_eq!(h.status, 200, "{what}");
            assert!(h.body.is_empty(), "{what}");
            for name in [
                "content-length",
                "content-encoding",
                "etag",
                "vary",
                "content-type",
            ] {
                assert_eq!(h.header(name), g.header(name), "{what}: {name}");
            }
            assert_eq!(h.header("vary"), Some("Accept-Encoding"), "{what}");
            assert_eq!(
                g.header("content-length"),
                Some(g.body.len().to_string().as_str()),
                "{what}"
            );
        }
    }
}

/// RFC 9110 §8.8.3, §13.1.2: each coding has its own strong ETag, other than the file's;
/// If-None-Match with a coding's tag gets 304 (with Vary) only for that coding.
#[test]
fn rfc9110_13_1_2_if_none_match_works_for_each_coding() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    for path in ["/small.js", "/mid.html"] {
        let mut tags = Vec::new();
        for ae in ["gzip", "br", "zstd", "identity"] {
            let r = site.get(&mut c, path, &[("Accept-Encoding", ae)]);
            let tag = r.header("etag").expect("an ETag").to_string();
            assert!(!tag.starts_with("W/"), "{path} {ae}: strong");
            assert!(!tags.contains(&tag), "{path} {ae}: a tag of its own");
            tags.push(tag);
        }
        for (i, ae) in ["gzip", "br", "zstd", "identity"].iter().enumerate() {
            let what = format!("{path} {ae}");
            let r = site.get(
                &mut c,
                path,
                &[("Accept-Encoding", ae), ("If-None-Match", &tags[i])],
            );
            assert_eq!(r.status, 304, "{what}: its own tag");
            assert_eq!(r.header("etag"), Some(tags[i].as_str()), "{what}");
            assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{what}");
            let other = &tags[(i + 1) % tags.len()];
            let r = site.get(
                &mut c,
                path,
                &[("Accept-Encoding", ae), ("If-None-Match", other)],
            );
            assert_eq!(r.status, 200, "{what}: another coding's tag");
        }
    }
}

/// RFC 9110 §14.2: a Range request is answered from the file as it is (identity), whatever
/// Accept-Encoding says: the parts are the file's bytes, under the file's own ETag, with
/// Vary, so that a cache does not mix them with a coding's.
#[test]
fn rfc9110_14_2_ranges_are_of_the_file_as_it_is() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    for path in ["/small.js", "/mid.html"] {
        let want = site.bytes(path);
        let plain = site.get(&mut c, path, &[]);
        let r = site.get(
            &mut c,
            path,
            &[
                ("Accept-Encoding", "gzip, br, zstd"),
                ("Range", "bytes=10-1009"),
            ],
        );
        assert_eq!(r.status, 206, "{path}");
        assert_eq!(r.header("content-encoding"), None, "{path}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{path}");
        assert_eq!(r.header("etag"), plain.header("etag"), "{path}");
        assert!(r.body == want[10..1010], "{path}: the file's bytes");
    }
}

/// A raw exchange on a connection of its own that the server closes: the head's lines and
/// the bytes after it.
fn raw(site: &Site, request: &[u8]) -> (Vec<String>, Vec<u8>) {
    let mut c = site.s.connect();
    // Compressing megabytes as they are sent is slow under an emulator on a loaded
    // machine: the pause before the first compressed bytes can pass the usual 5 s.
    c.stream
        .set_read_timeout(Some(scaled(Duration::from_secs(30))))
        .unwrap();
    c.send(request);
    let all = c.read_to_end();
    let end = find(&all, b"\r\n\r\n").expect("a whole head");
    let head = String::from_utf8_lossy(&all[..end])
        .lines()
        .map(str::to_string)
        .collect();
    (head, all[end + 4..].to_vec())
}

fn field<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Files larger than the largest copy kept (`MAX_LEN`) are compressed while they are sent,
/// in chunked framing (RFC 9112 §7.1) since their length is known only at the end, with an
/// ETag of their coding; an HTTP/1.0 client (no chunked framing) and a Range request get
/// the file as it is. Each decodes to the file.
#[test]
fn larger_files_are_compressed_while_they_are_sent() {
    let site = Site::start(&[]);
    site.root.file("huge.js", &text(3 << 20, 9));
    for path in ["/big.txt", "/huge.js"] {
        let want = site.bytes(path);
        for coding in ["gzip", "br", "zstd"] {
            let what = format!("{path} {coding}");
            let ask = format!(
                "GET {path} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: {coding}\r\nConnection: close\r\n\r\n"
            );
            let (head, body) = raw(&site, ask.as_bytes());
            assert!(head[0].starts_with("HTTP/1.1 200"), "{what}: {head:?}");
            assert_eq!(field(&head, "transfer-encoding"), Some("chunked"), "{what}");
            assert_eq!(field(&head, "content-length"), None, "{what}");
            assert_eq!(field(&head, "content-encoding"), Some(coding), "{what}");
            assert_eq!(field(&head, "vary"), Some("Accept-Encoding"), "{what}");
            let etag = field(&head, "etag").unwrap().to_string();
            assert!(etag.ends_with(&format!("-{coding}\"")), "{what}: {etag}");
            let packed = dechunk(&body);
            assert!(
                packed.len() < want.len() / 2,
                "{what}: {} bytes",
                packed.len()
            );
            assert!(
                decode(coding, &packed) == want,
                "{what}: decodes to the file"
            );
            // RFC 9110 §13.1.2: the coding's tag validates that representation.
            let again = format!(
                "GET {path} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: {coding}\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
            );
            let (head, body) = raw(&site, again.as_bytes());
            assert!(head[0].starts_with("HTTP/1.1 304"), "{what}: {head:?}");
            assert!(body.is_empty());
            // HEAD: the same fields, no body.
            let (head, body) = raw(&site, ask.replacen("GET", "HEAD", 1).as_bytes());
            assert_eq!(field(&head, "content-encoding"), Some(coding), "{what}");
            assert!(body.is_empty(), "{what}: HEAD has no body");
        }
        let old = format!("GET {path} HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n");
        let (head, body) = raw(&site, old.as_bytes());
        assert_eq!(field(&head, "content-encoding"), None, "{path}: HTTP/1.0");
        assert!(body == want, "{path}: HTTP/1.0 gets the file");
        let ranged = format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nRange: bytes=0-99\r\nConnection: close\r\n\r\n"
        );
        let (head, body) = raw(&site, ranged.as_bytes());
        assert!(head[0].starts_with("HTTP/1.1 206"), "{path}: {head:?}");
        assert!(body == want[..100], "{path}: a range of the file");
    }
}

/// `--no-compress`: every file is sent as it is, and answers do not vary.
#[test]
fn no_compress_sends_files_as_they_are() {
    let site = Site::start(&["--no-compress"]);
    let mut c = site.s.connect();
    for path in ["/small.js", "/mid.html"] {
        let r = site.get(&mut c, path, &[("Accept-Encoding", "gzip, br, zstd")]);
        assert_eq!(r.header("content-encoding"), None, "{path}");
        assert_eq!(r.header("vary"), None, "{path}");
        assert!(r.body == site.bytes(path), "{path}");
    }
}

/// A file rewritten after its copies were made is compressed again: the copies answer only
/// for the version they were made from.
#[test]
fn a_changed_file_is_compressed_again() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    for (path, len) in [("/small.js", 5000), ("/mid.html", CACHED_MAX + 40_000)] {
        for version in 0..3u64 {
            let now = text(len + version as usize * 100, 100 + version);
            site.root.file(&path[1..], &now);
            // Each worker once, so that none answers from the old version's copy.
            for _ in 0..2 {
                let mut fresh = site.s.connect();
                let r = site.get(&mut fresh, path, &[("Accept-Encoding", "gzip")]);
                assert!(decode("gzip", &r.body) == now, "{path} version {version}");
            }
            let r = site.get(&mut c, path, &[("Accept-Encoding", "br")]);
            assert!(decode("br", &r.body) == now, "{path} version {version}");
        }
    }
}

/// `--trace` notes when a file was compressed, once per worker and coding.
#[test]
fn trace_notes_the_compression() {
    let site = Site::start(&["--trace", "--workers", "1"]);
    let mut c = site.s.connect();
    for _ in 0..3 {
        site.get(&mut c, "/small.js", &[("Accept-Encoding", "gzip")]);
    }
    drop(c);
    let deadline = std::time::Instant::now() + scaled(std::time::Duration::from_secs(5));
    loop {
        let text = site.s.stderr_text();
        let notes = text.matches("compressed /small.js with gzip").count();
        if notes == 1 {
            break;
        }
        assert!(
            notes == 0 && std::time::Instant::now() < deadline,
            "expected one note, got {notes}: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `--help` names the flag, where the build has the feature.
#[test]
fn help_names_no_compress() {
    let (code, stdout, stderr) = run_cli(&["--help"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("\n      --no-compress  "), "{stdout}");
}

/// `compress::MAX_STREAMS` (32): larger files are compressed while they are sent by at most
/// 32 answers at once; the 33rd gets the file as it is (Content-Length, no coding), and a
/// slot is free again once one of the 32 has ended. The 32 are held open by clients that
/// do not read (incompressible bytes, so each stalls after about its socket buffers' worth).
#[test]
fn at_most_max_streams_answers_are_compressed_at_once() {
    const MAX_STREAMS: usize = 32;
    let site = Site::start(&[]);
    let mut noise = vec![0u8; 4 << 20];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = b'a' + (x % 26) as u8;
    }
    site.root.file("noise.txt", &noise);
    let ask = b"GET /noise.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: zstd\r\n\r\n";
    let mut held = Vec::new();
    for i in 0..MAX_STREAMS {
        let mut c = site.s.connect();
        c.send(ask);
        // The head says it is compressed; the rest stays unread.
        let head = c.prefetch(64).to_vec();
        assert!(
            contains(&head, b"HTTP/1.1 200"),
            "stream {i}: {}",
            String::from_utf8_lossy(&head)
        );
        held.push(c);
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut c = site.s.connect();
    c.send(&req("HEAD", "/noise.txt", &[("Accept-Encoding", "zstd")]));
    let r = c.head_response();
    assert_eq!(r.header("content-encoding"), None, "the 33rd: as it is");
    assert_eq!(r.header("content-length"), Some("4194304"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    // One of the 32 goes: its slot is taken again.
    drop(held.pop());
    let deadline = std::time::Instant::now() + scaled(std::time::Duration::from_secs(10));
    loop {
        let mut c = site.s.connect();
        c.send(&req("HEAD", "/noise.txt", &[("Accept-Encoding", "zstd")]));
        if c.head_response().header("content-encoding") == Some("zstd") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no slot freed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
