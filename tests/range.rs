//! Range requests (RFC 9110 §14): single ranges in their three forms, multipart/byteranges
//! parsed back part by part, coalescing and the part limit, 416, ranges that are ignored,
//! HEAD, and If-Range (§13.1.5).
//!
//! Ranges are checked byte for byte against a small text file (read into memory when served)
//! and a 3 MiB file of pseudo-random bytes (sent with sendfile), so that an offset error
//! cannot go unnoticed and parts far apart in a large file are cut from the right places.

mod common;

use common::*;
use std::time::{Duration, SystemTime};

const SMALL: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz\n";
const BIG_LEN: usize = 3 * 1024 * 1024 + 17;
/// The files' modification time (a strong date validator: long before any Date we send).
const LAST_MODIFIED: &str = "Sun, 09 Sep 2001 01:46:40 GMT";

struct Site {
    root: TempRoot,
    s: Server,
    big: Vec<u8>,
}

fn site() -> Site {
    let root = TempRoot::new();
    let big = pattern(BIG_LEN, 21);
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for (name, data) in [("small.txt", SMALL), ("big.bin", &big[..])] {
        std::fs::File::options()
            .write(true)
            .open(root.file(name, data))
            .and_then(|f| f.set_modified(when))
            .expect("set the file's mtime");
    }
    let s = Server::start(&root.www, &[]);
    Site { root, s, big }
}

impl Site {
    /// The two files, by path, with their bytes.
    fn files(&self) -> [(&'static str, &[u8]); 2] {
        [("/small.txt", SMALL), ("/big.bin", &self.big)]
    }
}

fn get_range(c: &mut Client, path: &str, range: &str) -> Response {
    c.send(&req("GET", path, &[("Range", range)]));
    c.response()
}

/// Assert a single-part 206 for bytes `first..=last` of `file`.
fn assert_partial(r: &Response, file: &[u8], first: usize, last: usize, what: &str) {
    assert_eq!(r.status, 206, "{what}: headers {:?}", r.headers);
    let want = format!("bytes {first}-{last}/{}", file.len());
    assert_eq!(r.header("content-range"), Some(want.as_str()), "{what}");
    assert_eq!(r.header_count("content-range"), 1, "{what}");
    assert_eq!(
        r.header("content-length"),
        Some((last + 1 - first).to_string().as_str()),
        "{what}"
    );
    assert!(
        r.body == file[first..=last],
        "{what}: the body is not bytes {first}-{last} of the file"
    );
}

/// Assert the whole file with 200 and no Content-Range: the Range field was ignored.
fn assert_whole(r: &Response, file: &[u8], what: &str) {
    assert_eq!(r.status, 200, "{what}: headers {:?}", r.headers);
    assert_eq!(r.header("content-range"), None, "{what}");
    assert_eq!(r.body.len(), file.len(), "{what}");
    assert!(r.body == file, "{what}: the body is not the file");
}

/// One part of a multipart/byteranges body.
#[derive(Debug)]
struct Part {
    content_type: Option<String>,
    /// first, last, complete length, from the part's Content-Range.
    range: (usize, usize, usize),
    data: Vec<u8>,
}

/// Parse a multipart/byteranges response (RFC 9110 §14.6, RFC 2046 §5.1.1): the boundary from
/// Content-Type; each part's fields; each part's data exactly as long as its Content-Range
/// says and followed by CRLF and the next delimiter; a close delimiter at the end.
fn parse_byteranges(r: &Response) -> Vec<Part> {
    let ct = r
        .header("content-type")
        .expect("Content-Type of a multipart 206");
    let (media, params) = ct.split_once(';').unwrap_or((ct, ""));
    assert_eq!(media.trim(), "multipart/byteranges", "Content-Type {ct:?}");
    let boundary = params
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("no boundary in {ct:?}"));
    assert!(
        !boundary.is_empty() && boundary.len() <= 70,
        "RFC 2046 boundary length: {boundary:?}"
    );
    let delim = format!("--{boundary}").into_bytes();
    let body = &r.body;
    // The preamble (possibly empty) ends with the CRLF before the first delimiter.
    let mut pos = if body.starts_with(&delim) {
        0
    } else {
        let crlf_delim = [&b"\r\n"[..], &delim].concat();
        find(body, &crlf_delim).expect("no first delimiter in the body") + 2
    };
    let mut parts = Vec::new();
    loop {
        assert!(
            body[pos..].starts_with(&delim),
            "expected a delimiter at byte {pos}"
        );
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            break; // close delimiter; what follows is the epilogue
        }
        assert!(
            body[pos..].starts_with(b"\r\n"),
            "no CRLF after the delimiter at {pos}"
        );
        pos += 2;
        let head_len = find(&body[pos..], b"\r\n\r\n").expect("part header without an end");
        let head = std::str::from_utf8(&body[pos..pos + head_len]).expect("ASCII part header");
        pos += head_len + 4;
        let field = |name: &str| {
            head.split("\r\n")
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        let cr = field("content-range")
            .unwrap_or_else(|| panic!("part without Content-Range: {head:?}"));
        let range = parse_content_range(&cr);
        let n = range.1 + 1 - range.0;
        assert!(pos + n <= body.len(), "part {cr:?} runs past the body");
        parts.push(Part {
            content_type: field("content-type"),
            range,
            data: body[pos..pos + n].to_vec(),
        });
        pos += n;
        assert!(
            body[pos..].starts_with(b"\r\n"),
            "part {cr:?} is not followed by CRLF and a delimiter"
        );
        pos += 2;
    }
    parts
}

/// `bytes FIRST-LAST/LEN`.
fn parse_content_range(v: &str) -> (usize, usize, usize) {
    let parsed = v.strip_prefix("bytes ").and_then(|rest| {
        let (span, len) = rest.split_once('/')?;
        let (a, b) = span.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?, len.parse().ok()?))
    });
    let (a, b, len) = parsed.unwrap_or_else(|| panic!("bad Content-Range {v:?}"));
    assert!(a <= b && b < len, "Content-Range out of order: {v:?}");
    (a, b, len)
}

/// Assert a multipart 206 whose parts are exactly `want` (first, last), in that order, each
/// with the file's bytes and Content-Type.
fn assert_parts(r: &Response, file: &[u8], ctype: &str, want: &[(usize, usize)], what: &str) {
    assert_eq!(r.status, 206, "{what}: headers {:?}", r.headers);
    assert_eq!(
        r.header("content-range"),
        None,
        "{what}: Content-Range on a multipart 206"
    );
    let parts = parse_byteranges(r);
    let got: Vec<(usize, usize)> = parts.iter().map(|p| (p.range.0, p.range.1)).collect();
    assert_eq!(got, want, "{what}: parts");
    for p in &parts {
        let (a, b, len) = p.range;
        assert_eq!(len, file.len(), "{what}: complete length in {:?}", p.range);
        assert_eq!(
            p.content_type.as_deref(),
            Some(ctype),
            "{what}: part {a}-{b}"
        );
        assert!(
            p.data == file[a..=b],
            "{what}: part {a}-{b} differs from the file"
        );
    }
}

/// RFC 9110 §14.3: a server that supports range requests for a resource says so with
/// `Accept-Ranges: bytes`, on full and partial responses alike.
#[test]
fn rfc9110_14_3_accept_ranges_bytes() {
    let site = site();
    let mut c = site.s.connect();
    for (path, _) in site.files() {
        c.send(&get_req(path));
        assert_eq!(
            c.response().header("accept-ranges"),
            Some("bytes"),
            "{path}"
        );
        let r = get_range(&mut c, path, "bytes=0-0");
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "{path} 206");
    }
}

/// RFC 9110 §14.1.2, §15.3.7: `bytes=first-last` is answered with 206, a Content-Range
/// `bytes first-last/complete-length` (§14.4), and exactly those bytes; a last position past
/// the end is the end. The partial response keeps the representation's validators.
#[test]
fn rfc9110_14_1_2_int_range_is_206_with_those_bytes() {
    let site = site();
    let mut c = site.s.connect();
    for (path, file) in site.files() {
        let len = file.len();
        let r = get_range(&mut c, path, "bytes=0-4");
        assert_partial(&r, file, 0, 4, &format!("{path} bytes=0-4"));
        assert_eq!(r.header("last-modified"), Some(LAST_MODIFIED), "{path}");
        assert!(r.header("etag").is_some(), "{path}: 206 without ETag");
        let r = get_range(&mut c, path, &format!("bytes=7-{}", len + 1000));
        assert_partial(&r, file, 7, len - 1, &format!("{path} last past the end"));
        let r = get_range(&mut c, path, &format!("bytes={0}-{0}", len - 1));
        assert_partial(&r, file, len - 1, len - 1, &format!("{path} the last byte"));
    }
    let r = get_range(&mut c, "/big.bin", "bytes=1048576-1179647");
    assert_partial(&r, &site.big, 1_048_576, 1_179_647, "128 KiB in the middle");
}

/// RFC 9110 §14.1.2: `bytes=first-` is everything from `first` to the end.
#[test]
fn rfc9110_14_1_2_open_ended_range() {
    let site = site();
    let mut c = site.s.connect();
    for (path, file) in site.files() {
        let len = file.len();
        for first in [0, 1, len - 10, len - 1] {
            let r = get_range(&mut c, path, &format!("bytes={first}-"));
            assert_partial(&r, file, first, len - 1, &format!("{path} bytes={first}-"));
        }
    }
    let first = BIG_LEN - 200_000;
    let r = get_range(&mut c, "/big.bin", &format!("bytes={first}-"));
    assert_partial(&r, &site.big, first, BIG_LEN - 1, "the last 200 kB");
}

/// RFC 9110 §14.1.2: a suffix range `bytes=-N` is the last N bytes, or the whole
/// representation when N is larger than it.
#[test]
fn rfc9110_14_1_2_suffix_range() {
    let site = site();
    let mut c = site.s.connect();
    for (path, file) in site.files() {
        let len = file.len();
        for n in [1, 7, len] {
            let r = get_range(&mut c, path, &format!("bytes=-{n}"));
            assert_partial(&r, file, len - n, len - 1, &format!("{path} bytes=-{n}"));
        }
        let r = get_range(&mut c, path, &format!("bytes=-{}", len * 2 + 5));
        assert_partial(
            &r,
            file,
            0,
            len - 1,
            &format!("{path} suffix longer than the file"),
        );
    }
}

/// RFC 9110 §14.6: several ranges are sent as multipart/byteranges; each part carries
/// Content-Type and Content-Range, and (§14.2) parts come in the order they were asked for.
/// Parsed back and compared byte for byte with parts far apart in a 3 MiB file.
#[test]
fn rfc9110_14_6_multiple_ranges_are_multipart_byteranges() {
    let site = site();
    let mut c = site.s.connect();
    let len = BIG_LEN;
    let spec = "bytes=-4096, 0-99, 2500000-2500999, 1048576-1114111, 3000000-3000000";
    let r = get_range(&mut c, "/big.bin", spec);
    let want = [
        (len - 4096, len - 1),
        (0, 99),
        (2_500_000, 2_500_999),
        (1_048_576, 1_114_111),
        (3_000_000, 3_000_000),
    ];
    assert_parts(&r, &site.big, "application/octet-stream", &want, spec);

    // A text file's parts keep its Content-Type, charset included.
    let r = get_range(&mut c, "/small.txt", "bytes=0-0,-1");
    assert_parts(
        &r,
        SMALL,
        "text/plain; charset=utf-8",
        &[(0, 0), (SMALL.len() - 1, SMALL.len() - 1)],
        "small.txt bytes=0-0,-1",
    );
    // The connection is still in step.
    c.send(&get_req("/small.txt"));
    assert_eq!(c.response().body, SMALL);
}

/// RFC 9110 §15.3.7: "a server MAY coalesce any of the ranges that overlap"; barehttpd does,
/// so no byte is sent twice, and ranges that collapse into one are a single-part 206.
#[test]
fn rfc9110_15_3_7_overlapping_ranges_are_coalesced() {
    let site = site();
    let mut c = site.s.connect();
    let r = get_range(&mut c, "/big.bin", "bytes=0-99,50-149");
    assert_partial(&r, &site.big, 0, 149, "0-99,50-149");
    let r = get_range(&mut c, "/big.bin", "bytes=0-0,0-0,0-0");
    assert_partial(&r, &site.big, 0, 0, "the same byte three times");

    let spec = "bytes=2000000-2000999, 100-199, 0-149, 2000500-2100000, 150-300";
    let r = get_range(&mut c, "/big.bin", spec);
    assert_eq!(r.status, 206, "{spec}");
    let mut got: Vec<(usize, usize)> = parse_byteranges(&r)
        .iter()
        .map(|p| (p.range.0, p.range.1))
        .collect();
    got.sort_unstable();
    for w in got.windows(2) {
        assert!(w[0].1 < w[1].0, "{spec}: overlapping parts {got:?}");
    }
    assert_eq!(got, [(0, 300), (2_000_000, 2_100_000)], "{spec}");
    assert_parts(
        &r,
        &site.big,
        "application/octet-stream",
        &[(0, 300), (2_000_000, 2_100_000)],
        spec,
    );
}

/// RFC 9110 §14.2: a server MAY ignore a Range with many small ranges (a denial-of-service
/// risk); barehttpd sends at most 16 parts (after coalescing) and answers more with the
/// whole file.
#[test]
fn rfc9110_14_2_more_than_16_parts_get_the_whole_file() {
    let site = site();
    let mut c = site.s.connect();
    let spec = |n: usize| {
        let list: Vec<String> = (0..n).map(|i| format!("{0}-{0}", i * 150_000)).collect();
        format!("bytes={}", list.join(","))
    };
    let want: Vec<(usize, usize)> = (0..16).map(|i| (i * 150_000, i * 150_000)).collect();
    let r = get_range(&mut c, "/big.bin", &spec(16));
    assert_parts(&r, &site.big, "application/octet-stream", &want, "16 parts");

    let r = get_range(&mut c, "/big.bin", &spec(17));
    assert_whole(&r, &site.big, "17 parts");

    // 32 specs that coalesce into 16 parts are still served as ranges.
    let list: Vec<String> = (0..16)
        .flat_map(|i| {
            let a = i * 150_000;
            [format!("{a}-{}", a + 9), format!("{}-{}", a + 5, a + 19)]
        })
        .collect();
    let spec = format!("bytes={}", list.join(","));
    let want: Vec<(usize, usize)> = (0..16).map(|i| (i * 150_000, i * 150_000 + 19)).collect();
    let r = get_range(&mut c, "/big.bin", &spec);
    assert_parts(
        &r,
        &site.big,
        "application/octet-stream",
        &want,
        "32 specs, 16 parts",
    );
}

/// RFC 9110 §15.5.17: when no range overlaps the representation, 416 with
/// `Content-Range: bytes */complete-length` (§14.4).
#[test]
fn rfc9110_15_5_17_unsatisfiable_range_is_416() {
    let site = site();
    let mut c = site.s.connect();
    for (path, file) in site.files() {
        let len = file.len();
        for spec in [
            format!("bytes={len}-"),
            format!("bytes={}-{}", len, len + 10),
            format!("bytes={}-,{}-", len + 5, len * 2),
        ] {
            let r = get_range(&mut c, path, &spec);
            assert_eq!(r.status, 416, "{path} {spec}: headers {:?}", r.headers);
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes */{len}").as_str()),
                "{path} {spec}"
            );
            assert!(r.body != file, "{path} {spec}: 416 with the file");
        }
    }
    c.send(&get_req("/small.txt"));
    assert_eq!(c.response().body, SMALL, "the connection after 416");
}

/// RFC 9110 §14.2: "An origin server MUST ignore a Range header field that contains a range
/// unit it does not understand", and MAY ignore an invalid ranges-specifier: 200, whole file.
#[test]
fn rfc9110_14_2_unknown_unit_or_invalid_range_is_ignored() {
    let site = site();
    let mut c = site.s.connect();
    for (path, file) in site.files() {
        for spec in [
            "bytes=5-1",
            "items=0-1",
            "bytes=a-b",
            "bytes=",
            "bytes=1",
            "0-4",
        ] {
            let r = get_range(&mut c, path, spec);
            assert_whole(&r, file, &format!("{path} Range: {spec}"));
        }
    }
}

/// RFC 9110 §14.2: "A server MUST ignore a Range header field received with a request method
/// that is unrecognized or for which range handling is not defined"; only GET is (HEAD
/// answers as a GET without Range would, §9.3.2).
#[test]
fn rfc9110_14_2_head_with_range_is_200_headers_only() {
    let site = site();
    let mut c = site.s.connect();
    for (path, file) in site.files() {
        c.send(&req("HEAD", path, &[("Range", "bytes=0-4")]));
        let r = c.head_response();
        assert_eq!(r.status, 200, "HEAD {path}: headers {:?}", r.headers);
        assert_eq!(r.header("content-range"), None, "HEAD {path}");
        assert_eq!(
            r.header("content-length"),
            Some(file.len().to_string().as_str()),
            "HEAD {path}"
        );
        c.send(&get_req(path));
        let next = c.response();
        assert!(next.body == file, "{path}: stray bytes after the HEAD");
    }
}

/// RFC 9110 §13.1.5: If-Range makes the Range conditional: honoured (206) when the entity tag
/// matches strongly or the date is exactly Last-Modified; otherwise the whole current
/// representation with 200. A weak tag never matches.
#[test]
fn rfc9110_13_1_5_if_range() {
    let site = site();
    let mut c = site.s.connect();
    for (path, file) in site.files() {
        c.send(&get_req(path));
        let tag = c.response().header("etag").expect("ETag").to_string();
        let ask = |c: &mut Client, ir: &str| {
            c.send(&req(
                "GET",
                path,
                &[("Range", "bytes=2-5"), ("If-Range", ir)],
            ));
            c.response()
        };
        for ok in [tag.as_str(), LAST_MODIFIED] {
            assert_partial(
                &ask(&mut c, ok),
                file,
                2,
                5,
                &format!("{path} If-Range: {ok}"),
            );
        }
        let inner = tag.trim_matches('"');
        for miss in [
            format!("W/{tag}"),
            format!("\"{inner}0\""),
            "\"something-else\"".to_string(),
            "Sun, 09 Sep 2001 01:46:41 GMT".to_string(),
            "Sun, 09 Sep 2001 01:46:39 GMT".to_string(),
            "garbage".to_string(),
        ] {
            assert_whole(
                &ask(&mut c, &miss),
                file,
                &format!("{path} If-Range: {miss}"),
            );
        }
    }
}

/// RFC 9110 §13.1.5: after the file changes, the ETag the client kept no longer matches, so
/// the client gets the whole new content instead of a range spliced onto the old one.
#[test]
fn rfc9110_13_1_5_if_range_with_an_old_etag_gets_the_new_file() {
    let site = site();
    let mut c = site.s.connect();
    c.send(&get_req("/small.txt"));
    let old = c.response().header("etag").expect("ETag").to_string();
    // Replace the file by rename, as deploy tools do.
    let new = b"ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210\n";
    assert_eq!(new.len(), SMALL.len());
    let tmp = site.root.www.join(".small.txt.tmp");
    std::fs::write(&tmp, new).unwrap();
    std::fs::rename(&tmp, site.root.www.join("small.txt")).unwrap();
    c.send(&req(
        "GET",
        "/small.txt",
        &[("Range", "bytes=2-5"), ("If-Range", &old)],
    ));
    let r = c.response();
    assert_whole(&r, new, "If-Range with the old ETag");
    assert_ne!(r.header("etag"), Some(old.as_str()));
}

/// RFC 9110 §13.1.5 and §8.8.2.2: a Last-Modified date is a strong validator only once its
/// second is over; within it the file may change again and keep the same date. So If-Range
/// with the date of a file modified in the current second gets the whole file (200), and the
/// same date a second later gets the range (206). The response's Date says which second the
/// server answered in, so the test does not depend on when it runs.
#[test]
fn rfc9110_13_1_5_if_range_date_of_this_second_is_weak() {
    let site = site();
    let mut c = site.s.connect();
    for (path, file) in site.files() {
        let name = path.trim_start_matches('/');
        std::fs::File::options()
            .write(true)
            .open(site.root.www.join(name))
            .and_then(|f| f.set_modified(SystemTime::now()))
            .expect("set the file's mtime");
        let (mut weak, mut strong) = (false, false);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !(weak && strong) {
            assert!(
                std::time::Instant::now() < deadline,
                "{path}: no answer in both seconds"
            );
            c.send(&get_req(path));
            let lm = c
                .response()
                .header("last-modified")
                .expect("Last-Modified")
                .to_string();
            c.send(&req(
                "GET",
                path,
                &[("Range", "bytes=2-5"), ("If-Range", &lm)],
            ));
            let r = c.response();
            if r.header("date") == Some(lm.as_str()) {
                assert_whole(
                    &r,
                    file,
                    &format!("{path}: If-Range with this second's date"),
                );
                weak = true;
            } else {
                assert_partial(
                    &r,
                    file,
                    2,
                    5,
                    &format!("{path}: If-Range with an older date"),
                );
                strong = true;
            }
            if weak && !strong {
                std::thread::sleep(Duration::from_millis(200));
            }
            if !weak {
                // The second passed before the question: modify the file again.
                std::fs::File::options()
                    .write(true)
                    .open(site.root.www.join(name))
                    .and_then(|f| f.set_modified(SystemTime::now()))
                    .expect("set the file's mtime");
            }
        }
    }
}

/// RFC 9110 §14.6: a multipart/byteranges answer arrives whole without waiting: its last
/// part (the closing boundary) is not held back for more data that never comes (a corked
/// send leaves it to the kernel's 200 ms timer).
#[test]
fn rfc9110_14_6_multipart_answer_is_not_held_back() {
    let site = site();
    let mut c = site.s.connect();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let r = get_range(&mut c, "/small.txt", "bytes=0-1,5-6");
        assert_eq!(r.status, 206);
        assert!(
            t.elapsed() < Duration::from_millis(150),
            "a two-part answer took {:?}",
            t.elapsed()
        );
    }
}
