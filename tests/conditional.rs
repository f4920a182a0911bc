//! Conditional requests (RFC 9110 §13): If-Match, If-Unmodified-Since, If-None-Match and
//! If-Modified-Since, their precedence (§13.2.2), and what a 304 carries (§15.4.5).
//!
//! Every check runs against two files: a small one, answered from the per-worker file cache,
//! and one larger than that cache takes, read from disk each time; the two paths must agree.
//! Both have a fixed modification time in 2001, so dates before, at and after it are known.

mod common;

use common::*;
use std::time::{Duration, SystemTime};

/// The files' modification time, and its IMF-fixdate with the seconds around it.
const MTIME: u64 = 1_000_000_000;
const LAST_MODIFIED: &str = "Sun, 09 Sep 2001 01:46:40 GMT";
const BEFORE: &str = "Sun, 09 Sep 2001 01:46:39 GMT";
const AFTER: &str = "Sun, 09 Sep 2001 01:46:41 GMT";

/// A docroot with `/small.txt` (cached) and `/large.bin` (too big for the cache), both
/// modified at `MTIME`, and a server on it.
struct Site {
    _root: TempRoot,
    s: Server,
    files: Vec<(&'static str, Vec<u8>)>,
}

impl Site {
    fn start(extra: &[&str]) -> Site {
        let root = TempRoot::new();
        let files = vec![
            ("/small.txt", b"a small text file\n".to_vec()),
            ("/large.bin", pattern(100_000, 7)),
        ];
        for (path, data) in &files {
            set_mtime(&root.file(&path[1..], data), MTIME);
        }
        let s = Server::start(&root.www, extra);
        Site {
            _root: root,
            s,
            files,
        }
    }
}

fn set_mtime(p: &std::path::Path, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(p)
        .and_then(|f| f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)))
        .expect("set the file's mtime");
}

/// Send one request on `c` and read its response (no body expected after HEAD).
fn ask(c: &mut Client, method: &str, path: &str, fields: &[(&str, &str)]) -> Response {
    c.send(&req(method, path, fields));
    if method == "HEAD" {
        c.head_response()
    } else {
        c.response()
    }
}

/// The current ETag of `path`, from an unconditional GET.
fn etag(c: &mut Client, path: &str) -> String {
    let r = ask(c, "GET", path, &[]);
    assert_eq!(r.status, 200, "{path}");
    r.header("etag")
        .unwrap_or_else(|| panic!("{path}: no ETag"))
        .to_string()
}

/// The answer must be the whole file (200 and its bytes) or, for HEAD, 200 with its length.
fn assert_full(r: &Response, method: &str, body: &[u8], what: &str) {
    assert_eq!(
        r.status, 200,
        "{what}: expected 200, headers {:?}",
        r.headers
    );
    if method == "HEAD" {
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str()),
            "{what}"
        );
    } else {
        assert!(r.body == body, "{what}: the body is not the file");
    }
}

/// The answer must be 304 Not Modified for the representation tagged `tag`.
fn assert_not_modified(r: &Response, tag: &str, what: &str) {
    assert_eq!(
        r.status, 304,
        "{what}: expected 304, headers {:?}",
        r.headers
    );
    assert_eq!(r.header("etag"), Some(tag), "{what}: 304 ETag");
}

fn assert_precondition_failed(r: &Response, body: &[u8], what: &str) {
    assert_eq!(
        r.status, 412,
        "{what}: expected 412, headers {:?}",
        r.headers
    );
    assert!(r.body != body, "{what}: a 412 carried the file");
}

/// RFC 9110 §13.1.1: If-Match is true for `*` or when one listed tag matches the current
/// ETag by the strong comparison (§8.8.3.2), which a weak tag never passes; when false, "the
/// origin server MUST NOT perform the requested method" (412, §15.5.13).
#[test]
fn rfc9110_13_1_1_if_match_uses_the_strong_comparison() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    for (path, body) in &site.files {
        let tag = etag(&mut c, path);
        for method in ["GET", "HEAD"] {
            for ok in [
                tag.clone(),
                "*".to_string(),
                format!("\"nope\", {tag}"),
                format!("\"a,b\",{tag} , \"z\""),
            ] {
                let r = ask(&mut c, method, path, &[("If-Match", &ok)]);
                assert_full(&r, method, body, &format!("{method} {path} If-Match: {ok}"));
            }
            for bad in [
                format!("W/{tag}"),
                "\"nope\"".to_string(),
                format!("\"nope\", W/{tag}"),
                tag.trim_matches('"').to_string(),
            ] {
                let r = ask(&mut c, method, path, &[("If-Match", &bad)]);
                assert_precondition_failed(&r, body, &format!("{method} {path} If-Match: {bad}"));
            }
        }
    }
}

/// RFC 9110 §13.1.4: If-Unmodified-Since fails (412) when the representation was modified
/// after the date, holds at or after Last-Modified, is ignored when not a valid HTTP-date,
/// and (§13.2.2 step 2) is not evaluated at all when If-Match is present.
#[test]
fn rfc9110_13_1_4_if_unmodified_since() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    for (path, body) in &site.files {
        let tag = etag(&mut c, path);
        let r = ask(&mut c, "GET", path, &[("If-Unmodified-Since", BEFORE)]);
        assert_precondition_failed(&r, body, &format!("{path} If-Unmodified-Since {BEFORE}"));
        for date in [LAST_MODIFIED, AFTER, "not a date"] {
            let r = ask(&mut c, "GET", path, &[("If-Unmodified-Since", date)]);
            assert_full(
                &r,
                "GET",
                body,
                &format!("{path} If-Unmodified-Since {date}"),
            );
        }
        for im in [tag.as_str(), "*"] {
            let r = ask(
                &mut c,
                "GET",
                path,
                &[("If-Match", im), ("If-Unmodified-Since", BEFORE)],
            );
            assert_full(
                &r,
                "GET",
                body,
                &format!("{path} If-Match {im} wins over If-Unmodified-Since"),
            );
        }
    }
}

/// RFC 9110 §13.1.2: If-None-Match uses the weak comparison, so `W/"x"` matches `"x"`; `*`
/// matches any current representation; a list matches when any member does (a comma inside
/// a quoted tag is part of the tag). A match on GET or HEAD is 304.
#[test]
fn rfc9110_13_1_2_if_none_match_uses_the_weak_comparison() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    for (path, body) in &site.files {
        let tag = etag(&mut c, path);
        for method in ["GET", "HEAD"] {
            for hit in [
                tag.clone(),
                format!("W/{tag}"),
                "*".to_string(),
                format!("\"a,b\", {tag}"),
                format!("\"x\",W/{tag},\"y\""),
            ] {
                let r = ask(&mut c, method, path, &[("If-None-Match", &hit)]);
                assert_not_modified(&r, &tag, &format!("{method} {path} If-None-Match: {hit}"));
            }
            let inner = tag.trim_matches('"');
            for miss in [
                "\"a,b\"".to_string(),
                "\"x\", \"y\"".to_string(),
                format!("\"{inner}x\""),
                format!("\"x,{inner}\""),
            ] {
                let r = ask(&mut c, method, path, &[("If-None-Match", &miss)]);
                assert_full(
                    &r,
                    method,
                    body,
                    &format!("{method} {path} If-None-Match: {miss}"),
                );
            }
        }
    }
}

/// RFC 9110 §13.1.3: If-Modified-Since is 304 when the representation was not modified after
/// the date (equal or later), 200 when it was; a value that is not a valid HTTP-date is
/// ignored. §5.6.7: the obsolete RFC 850 and asctime formats must be accepted too.
#[test]
fn rfc9110_13_1_3_if_modified_since() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    for (path, body) in &site.files {
        let tag = etag(&mut c, path);
        for method in ["GET", "HEAD"] {
            for date in [
                LAST_MODIFIED,
                AFTER,
                "Sunday, 09-Sep-01 01:46:40 GMT",
                "Sun Sep  9 01:46:40 2001",
            ] {
                let r = ask(&mut c, method, path, &[("If-Modified-Since", date)]);
                assert_not_modified(
                    &r,
                    &tag,
                    &format!("{method} {path} If-Modified-Since {date}"),
                );
            }
            for date in [BEFORE, "not a date", "2001-09-09T01:46:40Z", ""] {
                let r = ask(&mut c, method, path, &[("If-Modified-Since", date)]);
                assert_full(
                    &r,
                    method,
                    body,
                    &format!("{method} {path} If-Modified-Since {date:?}"),
                );
            }
        }
    }
}

/// RFC 9110 §13.2.2: If-Match (step 1) before If-Unmodified-Since (2) before If-None-Match
/// (3) before If-Modified-Since (4); If-None-Match present means If-Modified-Since is not
/// evaluated, in either direction.
#[test]
fn rfc9110_13_2_2_preconditions_are_evaluated_in_order() {
    let site = Site::start(&[]);
    let mut c = site.s.connect();
    for (path, body) in &site.files {
        let tag = etag(&mut c, path);
        let what = |s: &str| format!("{path}: {s}");

        let r = ask(
            &mut c,
            "GET",
            path,
            &[("If-None-Match", "\"other\""), ("If-Modified-Since", AFTER)],
        );
        assert_full(
            &r,
            "GET",
            body,
            &what("a missed If-None-Match ignores If-Modified-Since"),
        );

        let r = ask(
            &mut c,
            "GET",
            path,
            &[("If-None-Match", &tag), ("If-Modified-Since", BEFORE)],
        );
        assert_not_modified(
            &r,
            &tag,
            &what("a matched If-None-Match ignores If-Modified-Since"),
        );

        let r = ask(
            &mut c,
            "GET",
            path,
            &[("If-Match", "\"other\""), ("If-None-Match", &tag)],
        );
        assert_precondition_failed(&r, body, &what("If-Match fails before If-None-Match"));

        let r = ask(
            &mut c,
            "GET",
            path,
            &[("If-Unmodified-Since", BEFORE), ("If-None-Match", &tag)],
        );
        assert_precondition_failed(&r, body, &what("If-Unmodified-Since before If-None-Match"));

        let r = ask(
            &mut c,
            "GET",
            path,
            &[("If-Match", &tag), ("If-None-Match", &tag)],
        );
        assert_not_modified(
            &r,
            &tag,
            &what("If-Match holds, then If-None-Match matches"),
        );
    }
}

/// RFC 9110 §15.4.5: a 304 "MUST generate" the Date (§6.6.1), ETag, Cache-Control and Vary
/// fields a 200 would have had; Last-Modified may come too, as metadata that guides cache
/// updates. It has no content (RFC 9112 §6.3), so a request pipelined behind it is answered
/// intact on the same connection.
#[test]
fn rfc9110_15_4_5_not_modified_carries_the_validators_and_no_body() {
    let root = TempRoot::new();
    let files = [
        ("/plain.txt", b"plain text, no sibling\n".to_vec(), false),
        ("/style.css", b"body { color: red }\n".to_vec(), true),
        ("/large.bin", pattern(100_000, 8), false),
        ("/large.css", pattern(100_000, 9), true),
    ];
    for (path, data, gz) in &files {
        set_mtime(&root.file(&path[1..], data), MTIME);
        if *gz {
            root.file(&format!("{}.gz", &path[1..]), &pattern(500, 10));
        }
    }
    let s = Server::start(&root.www, &["--cache-control", "max-age=60"]);
    let mut c = s.connect();
    for (path, data, gz) in &files {
        let tag = etag(&mut c, path);
        for (method, field, value) in [
            ("GET", "If-None-Match", tag.as_str()),
            ("HEAD", "If-None-Match", tag.as_str()),
            ("GET", "If-Modified-Since", LAST_MODIFIED),
        ] {
            let what = format!("{method} {path} {field}");
            // The conditional request and a plain one behind it, in one write.
            let mut both = req(method, path, &[(field, value)]);
            both.extend_from_slice(&get_req(path));
            c.send(&both);
            let r = c.head_response();
            assert_not_modified(&r, &tag, &what);
            assert_eq!(r.header("last-modified"), Some(LAST_MODIFIED), "{what}");
            let date = r
                .header("date")
                .unwrap_or_else(|| panic!("{what}: no Date"));
            let when = httpdate::parse_http_date(date)
                .unwrap_or_else(|e| panic!("{what}: Date {date:?}: {e}"));
            let skew = SystemTime::now()
                .duration_since(when)
                .unwrap_or_else(|e| e.duration());
            assert!(skew < Duration::from_secs(5), "{what}: Date {date:?}");
            assert_eq!(r.header("cache-control"), Some("max-age=60"), "{what}");
            // A text file varies where it is compressed on the fly, sibling or not.
            let text = !path.ends_with(".bin") && cfg!(feature = "compress");
            if *gz || text {
                assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{what}");
            } else {
                assert_eq!(r.header("vary"), None, "{what}: Vary without a sibling");
            }
            assert_eq!(r.header("content-encoding"), None, "{what}");
            let next = c.response();
            assert_eq!(next.status, 200, "{what}: the request behind the 304");
            assert!(next.body == *data, "{what}: stray bytes after the 304");
        }
    }
}

/// RFC 9110 §8.8.3: an entity tag identifies one representation; the gzip-coded one chosen by
/// Accept-Encoding has its own, and If-None-Match is compared with the selected one's.
#[test]
fn rfc9110_8_8_3_each_content_coding_has_its_own_etag() {
    let root = TempRoot::new();
    root.file("app.js", b"console.log('plain')\n");
    root.file("app.js.gz", &pattern(64, 11));
    let s = Server::start(&root.www, &[]);
    let mut c = s.connect();
    let gzip = [("Accept-Encoding", "gzip")];
    let plain_tag = etag(&mut c, "/app.js");
    let r = ask(&mut c, "GET", "/app.js", &gzip);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let gz_tag = r.header("etag").expect("ETag").to_string();
    assert_ne!(gz_tag, plain_tag, "two representations share an ETag");

    let r = ask(
        &mut c,
        "GET",
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &gz_tag)],
    );
    assert_not_modified(&r, &gz_tag, "gzip representation, its own tag");
    let r = ask(
        &mut c,
        "GET",
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &plain_tag)],
    );
    assert_eq!(
        r.status, 200,
        "the plain tag validated the gzip representation"
    );
    assert_eq!(r.body, pattern(64, 11));
    let r = ask(&mut c, "GET", "/app.js", &[("If-None-Match", &gz_tag)]);
    assert_eq!(
        r.status, 200,
        "the gzip tag validated the plain representation"
    );
    assert_eq!(r.body, b"console.log('plain')\n");
}
