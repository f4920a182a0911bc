//! What a site owner configures: extra header fields (`--header`), Cache-Control for files
//! (`--cache-control`), custom error pages (`--error-pages`), a single-page-app fallback
//! (`--fallback`), and precompressed siblings chosen by Accept-Encoding (RFC 9110 §12.5.3).
//!
//! Precompressed files are checked both small (answered from the per-worker cache) and larger
//! than the cache takes (read from disk), since the two paths choose the representation
//! separately. The `.gz`/`.br` files hold marker bytes, not real compressed data: the server
//! never looks inside them.

mod common;

use common::*;

fn ask(c: &mut Client, path: &str, fields: &[(&str, &str)]) -> Response {
    c.send(&req("GET", path, fields));
    c.response()
}

/// `--header` adds a field line to every response, in addition to the server's own: on
/// files, ranges, 304s, redirects and errors alike; and (RFC 9110 §5.3) only once, since a
/// sender must not repeat a field that cannot be recombined as a list.
#[test]
fn rfc9110_5_3_header_flag_adds_fields_to_every_response() {
    let root = basic_root();
    root.dir("sub");
    let s = Server::start(
        &root.www,
        &[
            "--header",
            "Access-Control-Allow-Origin: *",
            "--header",
            "X-Content-Type-Options: nosniff",
        ],
    );
    let mut c = s.connect();
    c.send(&get_req("/hello.txt"));
    let ok = c.response();
    let tag = ok.header("etag").expect("ETag").to_string();
    let answers = [
        ("200", ok),
        ("206", ask(&mut c, "/hello.txt", &[("Range", "bytes=0-1")])),
        ("304", ask(&mut c, "/hello.txt", &[("If-None-Match", &tag)])),
        ("301", ask(&mut c, "/sub", &[])),
        ("403", ask(&mut c, "/sub/", &[])),
        ("404", ask(&mut c, "/missing", &[])),
        ("405", {
            c.send(b"POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
            c.response()
        }),
    ];
    for (status, r) in &answers {
        assert_eq!(r.status.to_string(), *status);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "{status}: {:?}",
            r.headers
        );
        assert_eq!(r.header_count("access-control-allow-origin"), 1, "{status}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{status}"
        );
        assert_eq!(r.header_count("x-content-type-options"), 1, "{status}");
    }
}

/// RFC 9111 §5.2.2.1: `--cache-control max-age=60` gives file responses (200, 206, HEAD) a
/// freshness lifetime; without the flag no Cache-Control is invented for files.
#[test]
fn rfc9111_5_2_2_1_cache_control_on_file_responses() {
    let root = basic_root();
    let big = pattern(100_000, 31);
    root.file("big.bin", &big);
    let s = Server::start(&root.www, &["--cache-control", "max-age=60"]);
    let mut c = s.connect();
    for path in ["/hello.txt", "/big.bin"] {
        for fields in [&[][..], &[("Range", "bytes=0-3")][..]] {
            let r = ask(&mut c, path, fields);
            assert!(r.status == 200 || r.status == 206, "{path} {fields:?}");
            assert_eq!(
                r.header("cache-control"),
                Some("max-age=60"),
                "{path} {fields:?}"
            );
            assert_eq!(r.header_count("cache-control"), 1, "{path} {fields:?}");
        }
        c.send(&req("HEAD", path, &[]));
        let r = c.head_response();
        assert_eq!(r.header("cache-control"), Some("max-age=60"), "HEAD {path}");
    }

    let plain = Server::start(&root.www, &[]);
    for path in ["/hello.txt", "/big.bin"] {
        assert_eq!(plain.get(path).header("cache-control"), None, "{path}");
    }
}

/// RFC 9110 §15.5.5: `--error-pages DIR` replaces the content of a 404 with DIR/404.html
/// (status and Content-Type unchanged); a status without a page keeps the built-in one.
#[test]
fn rfc9110_15_5_5_error_pages_replace_the_404_content() {
    let root = basic_root();
    root.dir("noindex");
    let pages = root.base.join("errors");
    std::fs::create_dir(&pages).unwrap();
    let custom = b"<!doctype html><title>Lost</title><p>Nothing here, sorry.</p>\n";
    std::fs::write(pages.join("404.html"), custom).unwrap();
    let pages = pages.to_str().unwrap().to_string();
    let s = Server::start(&root.www, &["--error-pages", &pages]);
    let mut c = s.connect();

    for path in ["/missing", "/deep/er/missing.html", "/.hidden"] {
        let r = ask(&mut c, path, &[]);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body, custom, "{path}: not the custom page");
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("text/html"),
            "{path}: {:?}",
            r.headers
        );
    }
    c.send(&req("HEAD", "/missing", &[]));
    let r = c.head_response();
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("content-length"),
        Some(custom.len().to_string().as_str()),
        "HEAD of the custom 404"
    );

    // 403 has no page in DIR: the built-in one, which names the status.
    let r = ask(&mut c, "/noindex/", &[]);
    assert_eq!(r.status, 403);
    assert!(r.body != custom, "the 404 page answered a 403");
    assert!(
        contains(&r.body, b"403"),
        "built-in 403 page: {:?}",
        r.body_str()
    );
    // Files are still files.
    assert_eq!(ask(&mut c, "/hello.txt", &[]).body, HELLO);
}

/// `--fallback index.html` (single-page apps): a path that does not exist is answered with
/// the fallback file and 200, as a representation of the app (RFC 9110 §15.3.1); files that
/// exist are served as they are, small or large.
#[test]
fn rfc9110_15_3_1_fallback_answers_missing_paths_with_the_app() {
    let root = TempRoot::new();
    let index = b"<!doctype html><div id=app></div><script src=/app.js></script>\n";
    root.file("index.html", index);
    root.file("app.js", b"render()\n");
    let big = pattern(100_000, 32);
    root.file("assets/big.bin", &big);
    let s = Server::start(&root.www, &["--fallback", "index.html"]);
    let mut c = s.connect();
    for path in [
        "/app/route/42",
        "/settings",
        "/assets/missing.png",
        "/app.js/x",
    ] {
        let r = ask(&mut c, path, &[]);
        assert_eq!(r.status, 200, "{path}: headers {:?}", r.headers);
        assert_eq!(r.body, index, "{path}");
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("text/html"),
            "{path}: {:?}",
            r.headers
        );
    }
    let r = ask(&mut c, "/app.js", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"render()\n"[..]));
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .contains("javascript"),
        "{:?}",
        r.headers
    );
    let r = ask(&mut c, "/assets/big.bin", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.body == big,
        "a large existing file was not served as itself"
    );
    let r = ask(&mut c, "/", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &index[..]));
    // And a missing path right after an existing one still gets the app (nothing cached under
    // the wrong name).
    let r = ask(&mut c, "/app/route/43", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &index[..]));
}

/// A docroot with precompressed siblings, small and large:
/// - `s.css` + `s.css.gz`, `b.css` + `b.css.gz` (gzip only),
/// - `s.js` + `.gz` + `.br`, `b.js` + `.gz` + `.br` (both),
/// - `s.txt`, `b.txt` (none).
struct Precompressed {
    _root: TempRoot,
    s: Server,
}

fn plain_bytes(name: &str) -> Vec<u8> {
    let n = if name.starts_with("/s.") {
        600
    } else {
        100_000
    };
    pattern(n, name.len() as u64 * 7 + name.as_bytes()[3] as u64)
}

fn coded_bytes(name: &str, coding: &str) -> Vec<u8> {
    let mut v = format!("{coding} of {name}\n").into_bytes();
    if name.starts_with("/b.") {
        v.extend(pattern(50_000, 5));
    }
    v
}

impl Precompressed {
    fn start() -> Precompressed {
        Precompressed::start_with(&[])
    }

    /// `start`, with more flags for the server.
    fn start_with(extra: &[&str]) -> Precompressed {
        let root = TempRoot::new();
        for name in ["/s.css", "/b.css", "/s.js", "/b.js", "/s.txt", "/b.txt"] {
            root.file(&name[1..], &plain_bytes(name));
        }
        for name in ["/s.css", "/b.css", "/s.js", "/b.js"] {
            root.file(&format!("{}.gz", &name[1..]), &coded_bytes(name, "gzip"));
        }
        for name in ["/s.js", "/b.js"] {
            root.file(&format!("{}.br", &name[1..]), &coded_bytes(name, "br"));
        }
        let s = Server::start(&root.www, extra);
        Precompressed { _root: root, s }
    }

    /// GET `path` with `Accept-Encoding: ae` (none if empty) and check that the answer is the
    /// `coding` representation (`None`: the file itself) with Vary iff `vary`.
    fn check(&self, c: &mut Client, path: &str, ae: &str, coding: Option<&str>, vary: bool) {
        let what = format!("{path} Accept-Encoding: {ae:?}");
        let fields: &[(&str, &str)] = if ae.is_empty() {
            &[]
        } else {
            &[("Accept-Encoding", ae)]
        };
        let r = ask(c, path, fields);
        assert_eq!(r.status, 200, "{what}");
        let want = match coding {
            Some(cd) => coded_bytes(path, cd),
            None => plain_bytes(path),
        };
        assert!(r.body == want, "{what}: expected the {coding:?} bytes");
        assert_eq!(r.header("content-encoding"), coding, "{what}");
        let vary_field = if vary { Some("Accept-Encoding") } else { None };
        assert_eq!(r.header("vary"), vary_field, "{what}: Vary");
        let ct = if path.ends_with(".css") {
            "text/css; charset=utf-8"
        } else if path.ends_with(".txt") {
            "text/plain; charset=utf-8"
        } else {
            r.header("content-type").unwrap_or("?")
        };
        assert_eq!(r.header("content-type"), Some(ct), "{what}: Content-Type");
        assert!(
            !ct.contains("gzip") && !ct.contains("brotli"),
            "{what}: the coding leaked into Content-Type {ct:?}"
        );
    }
}

/// RFC 9110 §8.4, §12.5.3: with `file.css.gz` beside `file.css`, a client that accepts gzip
/// gets the .gz bytes with `Content-Encoding: gzip` and the original Content-Type; every
/// answer for that file says `Vary: Accept-Encoding` (§12.5.5), even the uncoded one.
#[test]
fn rfc9110_12_5_3_gzip_sibling_is_served_to_clients_that_accept_it() {
    let p = Precompressed::start();
    let mut c = p.s.connect();
    for path in ["/s.css", "/b.css"] {
        // Plain first, so the cached entry is made by a client that did not ask for gzip.
        p.check(&mut c, path, "", None, true);
        p.check(&mut c, path, "gzip", Some("gzip"), true);
        p.check(&mut c, path, "deflate, gzip;q=0.8", Some("gzip"), true);
        p.check(&mut c, path, "GZIP", Some("gzip"), true);
        p.check(&mut c, path, "*", Some("gzip"), true);
        p.check(&mut c, path, "identity", None, true);
        p.check(&mut c, path, "br", None, true);
        p.check(&mut c, path, "", None, true);
    }
}

/// RFC 9110 §12.5.3: a qvalue of 0 means "not acceptable", for a coding or for `*`.
#[test]
fn rfc9110_12_5_3_q_zero_refuses_a_coding() {
    let p = Precompressed::start();
    let mut c = p.s.connect();
    for path in ["/s.css", "/b.css"] {
        p.check(&mut c, path, "gzip;q=0", None, true);
        p.check(&mut c, path, "gzip; q=0.000", None, true);
        p.check(&mut c, path, "*;q=0", None, true);
        p.check(&mut c, path, "gzip;q=0, *", None, true);
    }
    for path in ["/s.js", "/b.js"] {
        p.check(&mut c, path, "br;q=0, gzip", Some("gzip"), true);
        p.check(&mut c, path, "br, gzip;q=0", Some("br"), true);
        p.check(&mut c, path, "br;q=0, gzip;q=0", None, true);
    }
}

/// RFC 9110 §12.5.3: when the client accepts both br and gzip and both siblings exist, br
/// (the smaller, by convention) is sent; gzip-only clients still get gzip.
#[test]
fn rfc9110_12_5_3_br_is_preferred_when_both_are_accepted() {
    let p = Precompressed::start();
    let mut c = p.s.connect();
    for path in ["/s.js", "/b.js"] {
        p.check(&mut c, path, "gzip, deflate, br", Some("br"), true);
        p.check(&mut c, path, "br, gzip", Some("br"), true);
        p.check(&mut c, path, "gzip", Some("gzip"), true);
        p.check(&mut c, path, "br", Some("br"), true);
        p.check(&mut c, path, "", None, true);
    }
}

/// RFC 9110 §12.5.5: a file without a precompressed sibling does not vary by Accept-Encoding,
/// so it has no Vary, and it is sent as it is whatever the client accepts. (Where the build
/// compresses on the fly, with that turned off: tests/compression.rs has the rest.)
#[test]
fn rfc9110_12_5_5_file_without_sibling_has_no_vary() {
    let no_compress: &[&str] = if cfg!(feature = "compress") {
        &["--no-compress"]
    } else {
        &[]
    };
    let p = Precompressed::start_with(no_compress);
    let mut c = p.s.connect();
    for path in ["/s.txt", "/b.txt"] {
        for ae in ["", "gzip", "gzip, br", "*"] {
            p.check(&mut c, path, ae, None, false);
        }
    }
}
