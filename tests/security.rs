//! Security review as tests, over real sockets and real files: path traversal in encodings
//! `traversal.rs` does not try, request smuggling through obfuscated framing fields, response
//! splitting by a CGI program, hostile bytes in the access log, PUT outside the write prefix,
//! and numbers too large for any integer (RFC 9110 §17, RFC 9112 §11).
//!
//! Each test checks what an attacker would want, not only the status: that the secret's bytes
//! never appear on the wire, that a hidden request is never answered, that no header is
//! injected, that the log keeps one line per request, and that no file appears outside dav/.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

const SECRET: &[u8] = b"TOP-SECRET: this must never be served\n";

/// Every byte the server sends for `GET target` (Connection: close) on a fresh connection.
fn fetch(s: &Server, target: &str) -> Vec<u8> {
    let mut c = s.connect();
    c.send(&get_close(target));
    c.read_to_end()
}

/// Write an executable program at `rel` in the docroot.
fn script(root: &TempRoot, rel: &str, text: &[u8]) {
    let p = root.file(rel, text);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

// ---------------------------------------------------------------------------------------
// Traversal
// ---------------------------------------------------------------------------------------

/// The answer to `GET target` is exactly one response with a status in `allowed`, and does
/// not hold the secret.
fn assert_not_leaked(s: &Server, target: &str, allowed: &[u16]) {
    let bytes = fetch(s, target);
    let short = &target[..target.len().min(80)];
    assert!(
        !contains(&bytes, b"TOP-SECRET"),
        "{short} leaked the secret"
    );
    let rs = parse_all(&bytes).unwrap_or_else(|e| panic!("{short}: {e}"));
    assert_eq!(rs.len(), 1, "{short}: expected one response");
    assert!(
        allowed.contains(&rs[0].status),
        "{short}: status {} not in {allowed:?}",
        rs[0].status
    );
}

/// RFC 9110 §17.3, RFC 3986 §5.2.4: dot segments are resolved once, after one percent-decoding,
/// and only `/` separates segments. Backslashes (raw or `%5c`), mixed-case escapes, overlong
/// UTF-8 for `.` and `/`, `;` path parameters, full-width and leader dots, long `./` and
/// `../` chains and absolute-form targets with dot segments never reach the file beside the
/// docroot.
#[test]
fn rfc9110_17_3_traversal_in_further_encodings_never_leaves_the_root() {
    let root = basic_root();
    root.outside("secret.txt", SECRET);
    root.dir("a/b");
    let s = Server::start(&root.www, &[]);
    assert_eq!(s.get("/hello.txt").body, HELLO, "the control");
    let many_dots = format!("/{}../secret.txt", "./".repeat(1000));
    let long_up = format!("/a/b/{}secret.txt", "../".repeat(2000));
    let too_long_up = format!("/{}secret.txt", "../".repeat(3000));
    let up_after_dots = format!("/a/{}../../secret.txt", "./".repeat(500));
    let targets: Vec<&str> = vec![
        "/..\\secret.txt",
        "/a\\..\\..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/a/..%5c..%5csecret.txt",
        "/%2e%2e%5csecret.txt",
        "/%2E%2e/secret.txt",
        "/%2e%2E/secret.txt",
        "/a/%2E%2e/%2e%2E/secret.txt",
        "/.%2E/secret.txt",
        "/%2E./secret.txt",
        "/%e0%80%ae%e0%80%ae/secret.txt",
        "/%f0%80%80%ae%f0%80%80%ae/secret.txt",
        "/..%c0%afsecret.txt",
        "/..%e0%80%afsecret.txt",
        "/..%c1%9csecret.txt",
        "/..;/secret.txt",
        "/a/..;/..;/secret.txt",
        "/a;x=1/../../secret.txt",
        "/..;x/secret.txt",
        "/%ef%bc%8e%ef%bc%8e/secret.txt",
        "/%ef%bc%8e%ef%bc%8e%ef%bc%8fsecret.txt",
        "/%e2%80%a4%e2%80%a4/secret.txt",
        "/..%20/secret.txt",
        "/..%09/secret.txt",
        "/.../secret.txt",
        "/..%252fsecret.txt",
        "/%25%32%65%25%32%65/secret.txt",
        many_dots.as_str(),
        long_up.as_str(),
        too_long_up.as_str(),
        up_after_dots.as_str(),
        "http://t/a/b/../../../secret.txt",
        "http://t/..%2fsecret.txt",
        "http://t/%2E%2e/secret.txt",
        "HTTP://t:80/../secret.txt",
        "http://t/..;/secret.txt",
        "http://t/..\\secret.txt",
        "http://../secret.txt",
        "http://t..//secret.txt",
        "http://t/a/%2e%2e/%2e%2e/secret.txt?x=/../secret.txt",
    ];
    for target in targets {
        assert_not_leaked(&s, target, &[400, 404, 414]);
    }
    assert_eq!(s.get("/hello.txt").body, HELLO, "the server survives");
}

// ---------------------------------------------------------------------------------------
// Request smuggling
// ---------------------------------------------------------------------------------------

const HIDDEN_BODY: &[u8] = b"smuggled-secret-body\n";
const NEXT: &[u8] = b"the next pipelined request\n";
const HIDDEN: &[u8] = b"GET /secret.txt HTTP/1.1\r\nHost: t\r\n\r\n";

fn smuggling_server() -> (TempRoot, Server) {
    let root = basic_root();
    root.file("secret.txt", HIDDEN_BODY);
    root.file("next.txt", NEXT);
    let s = Server::start(&root.www, &[]);
    (root, s)
}

/// Send `attack` then a closing `GET /next.txt`, read to the end. The only acceptable
/// outcomes: 400 and close (one response), or the attack read as one request with a body
/// (the hello file, then the next file). Never the hidden request's response.
fn assert_not_smuggled(s: &Server, name: &str, attack: &[u8]) {
    let mut c = s.connect();
    let mut all = attack.to_vec();
    all.extend_from_slice(&get_close("/next.txt"));
    // The server may close after a 400 before reading everything; that is fine.
    let _ = c.try_send(&all);
    let raw = c.read_to_end();
    assert!(
        !contains(&raw, HIDDEN_BODY),
        "{name}: the hidden request was executed"
    );
    let rs = parse_all(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
    let got: Vec<(u16, Vec<u8>)> = rs.iter().map(|r| (r.status, r.body.clone())).collect();
    let ok_400 = got.len() == 1 && got[0].0 == 400;
    let ok_body = got == [(200, HELLO.to_vec()), (200, NEXT.to_vec())];
    assert!(
        ok_400 || ok_body,
        "{name}: expected 400+close or hello then next, got {:?}",
        got.iter()
            .map(|(s, b)| format!("{s} {:?}", String::from_utf8_lossy(b)))
            .collect::<Vec<_>>()
    );
}

/// Transfer-Encoding spellings an attacker uses so that one hop sees chunked and another
/// does not (RFC 9112 §6.1, §6.3, §11.2).
const TE_VARIANTS: &[&str] = &[
    "Transfer-Encoding: chunked",
    "Transfer-Encoding : chunked",
    "Transfer-Encoding\t: chunked",
    "Transfer-Encoding: chunked ",
    "Transfer-Encoding:\tchunked",
    "Transfer-Encoding:chunked",
    "Transfer-Encoding: chunked, identity",
    "Transfer-Encoding: identity, chunked",
    "Transfer-Encoding: CHUNKED",
    "transfer-encoding: Chunked",
    "Transfer-Encoding: \"chunked\"",
    "Transfer-Encoding: chunked;q=1",
    "Transfer-Encoding: xchunked",
    "Transfer-Encoding: chunk",
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
    "Transfer-Encoding: \x0bchunked",
    "Transfer-Encoding: \x0cchunked",
    "Transfer-Encoding:\r\n chunked",
    " Transfer-Encoding: chunked",
    "X: y\r\n Transfer-Encoding: chunked",
    "Transfer-Encoding: chunked\x00",
];

/// CL.TE (RFC 9112 §6.1, §6.3 (3)): the Content-Length covers a chunked body whose last chunk
/// is followed by a hidden request. A server that reads chunked would run the hidden request;
/// barehttpd must answer 400 and close, or read the whole Content-Length as the body.
#[test]
fn rfc9112_6_3_cl_te_with_obfuscated_transfer_encoding_is_never_split() {
    let (_root, s) = smuggling_server();
    // `Transfer_Encoding` is another field (which barehttpd ignores), so only here, where
    // Content-Length frames the body, does it have one right answer.
    for te in TE_VARIANTS.iter().chain(&["Transfer_Encoding: chunked"]) {
        let body = [&b"0\r\n\r\n"[..], HIDDEN].concat();
        let attack = [
            format!(
                "GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n{te}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
            &body,
        ]
        .concat();
        assert_not_smuggled(&s, &format!("CL.TE {te:?}"), &attack);
    }
}

/// TE.CL (RFC 9112 §6.1, §6.3 (3)): a short Content-Length stops inside the first chunk, whose
/// data is a hidden request. A server that reads Content-Length would run it.
#[test]
fn rfc9112_6_3_te_cl_with_obfuscated_transfer_encoding_is_never_split() {
    let (_root, s) = smuggling_server();
    for te in TE_VARIANTS {
        let size = format!("{:x}\r\n", HIDDEN.len());
        let body = [size.as_bytes(), HIDDEN, b"\r\n0\r\n\r\n"].concat();
        for te_first in [true, false] {
            let cl = format!("Content-Length: {}", size.len());
            let (a, b) = if te_first {
                (*te, cl.as_str())
            } else {
                (cl.as_str(), *te)
            };
            let head = format!("GET /hello.txt HTTP/1.1\r\nHost: t\r\n{a}\r\n{b}\r\n\r\n");
            let attack = [head.as_bytes(), &body].concat();
            assert_not_smuggled(&s, &format!("TE.CL {te:?} te_first={te_first}"), &attack);
        }
    }
}

/// TE alone, obfuscated: read as chunked (the hidden request is chunk data) or refused. A
/// server that ignored the field would read the chunk data as the next request.
#[test]
fn rfc9112_6_1_obfuscated_transfer_encoding_alone_is_chunked_or_400() {
    let (_root, s) = smuggling_server();
    for te in TE_VARIANTS {
        let body = [
            format!("{:x}\r\n", HIDDEN.len()).as_bytes(),
            HIDDEN,
            b"\r\n0\r\n\r\n",
        ]
        .concat();
        let head = format!("GET /hello.txt HTTP/1.1\r\nHost: t\r\n{te}\r\n\r\n");
        assert_not_smuggled(
            &s,
            &format!("TE {te:?}"),
            &[head.as_bytes(), &body].concat(),
        );
    }
}

/// Content-Length spellings (RFC 9110 §8.6: `1*DIGIT`; RFC 9112 §6.3 (5)): each is read as
/// exactly the hidden request's length (so it is skipped as body) or refused with 400.
#[test]
fn rfc9112_6_3_obfuscated_content_length_is_exact_or_400() {
    let (_root, s) = smuggling_server();
    let n = HIDDEN.len();
    let variants = [
        format!("Content-Length: +{n}"),
        format!("Content-Length: -{n}"),
        format!("Content-Length: {n} "),
        format!("Content-Length:\t{n}"),
        format!("Content-Length: 0{n}"),
        format!("Content-Length: {n}.0"),
        format!("Content-Length: {n:#x}"),
        format!("Content-Length: {n}e0"),
        format!("Content-Length: {n}, {n}"),
        format!("Content-Length: {n},{n}"),
        format!("Content-Length: {n}, 0"),
        format!("Content-Length: 0, {n}"),
        format!("Content-Length: {n}\r\nContent-Length: {n}"),
        format!("Content-Length: {n}\r\nContent-Length: 0"),
        format!("Content-Length: 0\r\nContent-Length: {n}"),
        format!("Content-Length : {n}"),
        format!("Content-Length: {n} {n}"),
        format!("Content-Length: \"{n}\""),
        format!("Content-Length: {n}\x00"),
        format!("Content-Length:\r\n {n}"),
        format!("Content-Length: {n}\r\nTransfer-Encoding: identity"),
        "Content-Length: 18446744073709551616".to_string(),
        format!("Content-Length: {}", u64::MAX),
    ];
    for cl in &variants {
        let head = format!("GET /hello.txt HTTP/1.1\r\nHost: t\r\n{cl}\r\n\r\n");
        assert_not_smuggled(&s, &format!("{cl:?}"), &[head.as_bytes(), HIDDEN].concat());
    }
}

// ---------------------------------------------------------------------------------------
// Huge numbers
// ---------------------------------------------------------------------------------------

fn files_named(dir: &Path, needle: &str, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            files_named(&p, needle, out);
        } else if e.file_name().to_string_lossy().contains(needle) {
            out.push(p);
        }
    }
}

/// RFC 9110 §8.6 ("prevent parsing errors due to integer conversion overflows") and RFC 9112
/// §7.1 (chunk-size overflow): a Content-Length of 2^64 and a 17-hex-digit chunk size are 400
/// and close, and a PUT that carries them stores nothing.
#[test]
fn rfc9110_8_6_numbers_beyond_u64_are_400() {
    let root = basic_root();
    root.dir("dav");
    let s = Server::start(&root.www, &["--write", "/dav/", "--write-without-auth"]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "Content-Length 2^64",
            b"PUT /dav/big1 HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551616\r\n\r\nabc"
                .to_vec(),
        ),
        (
            "Content-Length 10^20",
            b"PUT /dav/big2 HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000000000000000\r\n\r\nabc"
                .to_vec(),
        ),
        (
            "chunk size of 17 hex digits",
            b"PUT /dav/big3 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc\r\n0\r\n\r\n"
                .to_vec(),
        ),
        (
            "chunk size of 17 F",
            b"PUT /dav/big4 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n"
                .to_vec(),
        ),
        (
            "chunk size of 17 hex digits on a GET",
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nabc\r\n0\r\n\r\n"
                .to_vec(),
        ),
    ];
    for (name, req) in &cases {
        let mut c = s.connect();
        let _ = c.try_send(req);
        let raw = c.read_to_end();
        let rs = parse_all(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let statuses: Vec<u16> = rs.iter().map(|r| r.status).collect();
        // A GET may have been answered before its body was read; then the body's framing
        // error closes the connection without a second response.
        let ok = statuses == [400] || (name.contains("GET") && statuses == [200]);
        assert!(ok, "{name}: statuses {statuses:?}");
    }
    let mut made = Vec::new();
    files_named(&root.base, "big", &mut made);
    assert!(made.is_empty(), "files were created: {made:?}");
}

// ---------------------------------------------------------------------------------------
// PUT outside the write prefix
// ---------------------------------------------------------------------------------------

/// RFC 9110 §17.3 for writes: a PUT under `--write /dav/` whose target climbs out (encoded
/// dots, encoded slashes, backslashes, absolute-form) never creates a file outside dav/.
#[test]
fn rfc9110_17_3_put_never_writes_outside_the_write_prefix() {
    let root = basic_root();
    root.dir("dav/sub");
    let s = Server::start(&root.www, &["--write", "/dav/", "--write-without-auth"]);
    let control = s.request(b"PUT /dav/sub/control.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(control.status, 201, "the control: a PUT inside dav/ works");
    let targets = [
        "/dav/..%2f..%2fescape.txt",
        "/dav/%2e%2e/escape.txt",
        "/dav/%2E%2e/%2e%2E/escape.txt",
        "/dav/../escape.txt",
        "/dav/../../escape.txt",
        "/dav/sub/../../escape.txt",
        "/dav/sub/%2e%2e/%2e%2e/escape.txt",
        "/dav/..%5c..%5cescape.txt",
        "/dav/..\\..\\escape.txt",
        "/dav/..;/escape.txt",
        "/dav/%c0%ae%c0%ae/escape.txt",
        "/dav/%e0%80%ae%e0%80%ae/escape.txt",
        "/dav/..%00/escape.txt",
        "/dav%2f..%2fescape.txt",
        "/dav/.%2e/escape.txt",
        "http://t/dav/../escape.txt",
        "http://t/dav/%2e%2e/escape.txt",
        "/dav/./././../escape.txt",
    ];
    for target in targets {
        let body = b"escaped";
        let req = format!(
            "PUT {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut c = s.connect();
        let _ = c.try_send(&[req.as_bytes(), body].concat());
        let raw = c.read_to_end();
        let rs = parse_all(&raw).unwrap_or_else(|e| panic!("{target}: {e}"));
        assert_eq!(rs.len(), 1, "{target}");
        let mut made = Vec::new();
        files_named(&root.base, "escape", &mut made);
        let dav = root.www.join("dav");
        let outside: Vec<_> = made.iter().filter(|p| !p.starts_with(&dav)).collect();
        assert!(
            outside.is_empty(),
            "{target} (status {}) created {outside:?}",
            rs[0].status
        );
        // Inside dav/ a file named with a backslash or `..;` is harmless; remove it so the
        // next target starts clean.
        for p in made {
            let _ = std::fs::remove_file(p);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Response splitting by a CGI program
// ---------------------------------------------------------------------------------------

/// RFC 3875 §6.3 and RFC 9112 §2.2 / RFC 9110 §5.5: a CGI header value holding a CR (bare, or
/// before the line's CRLF), an obs-fold, or another control byte cannot become part of the
/// response head. The answer is 502, and neither the injected field nor the program's body
/// reaches the client.
#[test]
fn rfc3875_6_3_cgi_header_with_cr_or_lf_cannot_split_the_response() {
    let root = basic_root();
    let programs: &[(&str, &str)] = &[
        ("cr-in-value", r"X-A: foo\rInjected: yes\r\n"),
        ("cr-cr-lf", r"X-A: foo\r\r\nInjected: yes\r\n"),
        (
            "cr-in-location",
            r"Location: http://e.example/\rInjected: yes\r\n",
        ),
        (
            "cr-in-local-location",
            r"Location: /hello.txt\rInjected: yes\r\n",
        ),
        (
            "cr-in-content-type",
            r"Content-Type: text/html\rInjected: yes\r\n",
        ),
        ("cr-in-status", r"Status: 200 OK\rInjected: yes\r\n"),
        ("fold", r"X-A: foo\r\n Injected: yes\r\n"),
        ("tab-fold", r"X-A: foo\r\n\tInjected: yes\r\n"),
        ("nul", r"X-A: foo\000Injected: yes\r\n"),
        ("vt", r"X-A: foo\013Injected: yes\r\n"),
        ("ws-name", r"Injected : yes\r\n"),
        ("crlf-name", r"\rInjected: yes\r\n"),
    ];
    for (name, fields) in programs {
        // Content-Type first where the field under test is not it, so the head is otherwise
        // valid.
        let ct = if fields.starts_with("Content-Type") || fields.starts_with("Location") {
            ""
        } else {
            r"Content-Type: text/plain\r\n"
        };
        let text = format!("#!/bin/sh\nprintf '{ct}{fields}\\r\\nLEAKED-BODY\\n'\n");
        script(&root, &format!("cgi-bin/{name}.cgi"), text.as_bytes());
    }
    let control = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\nX-A: foo\\r\\n\\r\\nok\\n'\n";
    script(&root, "cgi-bin/control.cgi", control.as_bytes());
    let s = Server::start(&root.www, &["--cgi", "/cgi-bin/"]);
    let raw = fetch(&s, "/cgi-bin/control.cgi");
    assert!(
        raw.starts_with(b"HTTP/1.1 200 ") && contains(&raw, b"\r\nX-A: foo\r\n"),
        "the control program: {:?}",
        String::from_utf8_lossy(&raw)
    );
    for (name, _) in programs {
        let raw = fetch(&s, &format!("/cgi-bin/{name}.cgi"));
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.starts_with("HTTP/1.1 502 "),
            "{name}: expected 502, got {:?}",
            &text[..text.len().min(300)]
        );
        assert!(
            !contains(&raw, b"Injected") && !contains(&raw, b"LEAKED"),
            "{name}: program output reached the client: {text:?}"
        );
    }
    assert_eq!(s.get("/hello.txt").body, HELLO, "the server survives");
}

// ---------------------------------------------------------------------------------------
// Access log
// ---------------------------------------------------------------------------------------

/// RFC 9110 §17.8 (log with care) and §5.5 (obs-text is opaque data): request fields with
/// non-ASCII bytes, quotes, backslashes and tabs leave exactly one log line per request,
/// ASCII only, with every quoted field closed where it should be.
#[test]
fn rfc9110_17_8_hostile_bytes_keep_one_log_line_per_request() {
    let root = basic_root();
    let log = root.base.join("access.log");
    let s = Server::start(&root.www, &["--access-log", log.to_str().unwrap()]);
    let agents: &[&[u8]] = &[
        b"caf\xc3\xa9 \xff\xfe\x80",
        b"quote\" \"200 0 \"x",
        b"back\\slash\\\" end",
        b"tab\there",
        b"\xe2\x80\xa8line-sep \xc2\x85nel",
        b"\"; rm -rf / #",
    ];
    for ua in agents {
        let req = [
            &b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\nReferer: r\xe9f\"\r\nUser-Agent: "[..],
            ua,
            b"\r\n\r\n",
        ]
        .concat();
        let r = s.request(&req);
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(ua));
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let bytes = loop {
        let b = std::fs::read(&log).unwrap_or_default();
        if b.iter().filter(|&&c| c == b'\n').count() >= agents.len() || Instant::now() > deadline {
            break b;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        bytes
            .iter()
            .all(|&b| b == b'\n' || (0x20..0x7f).contains(&b)),
        "the log holds raw control or non-ASCII bytes: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        agents.len(),
        "one line per request: {lines:#?}"
    );
    for line in &lines {
        // Unescaped quotes: request line, Referer and User-Agent, two each.
        let mut quotes = 0;
        let mut esc = false;
        for ch in line.chars() {
            match (esc, ch) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => quotes += 1,
                _ => {}
            }
        }
        assert_eq!(quotes, 6, "fields not closed where they should be: {line}");
        assert!(
            line.contains("\"GET /hello.txt HTTP/1.1\" 200 13 \"r\\xe9f\\\"\" \""),
            "{line}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Names from the filesystem in response heads and listings
// ---------------------------------------------------------------------------------------

/// RFC 9110 §15.4.2 and §17 (RFC 9112 §11.1 response splitting): the `Location` of a
/// directory redirect is built from a name on disk, which may hold CR, LF, quotes or `<`. It
/// is percent-encoded, so no field is injected; the listing of such names escapes them, so
/// no markup is injected either.
#[test]
fn rfc9112_11_1_names_on_disk_cannot_split_a_redirect_or_inject_markup() {
    let root = basic_root();
    root.dir("evil\r\nInjected: yes");
    root.dir("d");
    root.file("d/<script>alert(1)<\\script>\".txt", b"x");
    root.file("d/a\r\nInjected: yes.txt", b"x");
    let s = Server::start(&root.www, &["--listing"]);
    let raw = fetch(&s, "/evil%0d%0aInjected:%20yes");
    let rs = parse_all(&raw).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].status, 301, "{:?}", String::from_utf8_lossy(&raw));
    assert_eq!(rs[0].header_count("Injected"), 0, "a field was injected");
    let loc = rs[0].header("Location").expect("Location");
    assert!(
        loc.contains("%0D%0A") || loc.contains("%0d%0a"),
        "Location not encoded: {loc:?}"
    );
    let r = s.get("/d/");
    assert_eq!(r.status, 200);
    // The page's own (hashed) script aside: the name's is text.
    assert!(!contains(&r.body, b"<script>alert"), "{}", r.body_str());
    assert!(
        contains(&r.body, b"&lt;script&gt;alert(1)"),
        "{}",
        r.body_str()
    );
    // A CR LF in the listing's text is only text in an HTML body; the head must be clean.
    assert_eq!(r.header_count("Injected"), 0);
}

/// RFC 3875 §6.2.2: a local redirect is answered as a new GET for the Location path, through
/// the same path rules as any request: a Location that climbs out of the root does not reach
/// the secret, and a program that redirects to itself is stopped (bounded, 5xx).
#[test]
fn rfc3875_6_2_2_local_redirects_obey_the_root_and_stop_looping() {
    let root = basic_root();
    root.outside("secret.txt", SECRET);
    let locations = [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/cgi-bin/../../secret.txt",
        "/..%2fsecret.txt",
        "//../secret.txt",
        "/..\\secret.txt",
    ];
    for (i, loc) in locations.iter().enumerate() {
        let text = format!("#!/bin/sh\nprintf 'Location: {loc}\\r\\n\\r\\n'\n");
        script(&root, &format!("cgi-bin/r{i}.cgi"), text.as_bytes());
    }
    script(
        &root,
        "cgi-bin/loop.cgi",
        b"#!/bin/sh\nprintf 'Location: /cgi-bin/loop.cgi\\r\\n\\r\\n'\n",
    );
    let s = Server::start(&root.www, &["--cgi", "/cgi-bin/"]);
    for (i, loc) in locations.iter().enumerate() {
        let raw = fetch(&s, &format!("/cgi-bin/r{i}.cgi"));
        assert!(!contains(&raw, b"TOP-SECRET"), "{loc} leaked the secret");
        let text = String::from_utf8_lossy(&raw);
        let status: u16 = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!((400..600).contains(&status), "{loc}: {text:?}");
    }
    let start = Instant::now();
    let raw = fetch(&s, "/cgi-bin/loop.cgi");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 5"),
        "a redirect loop: {:?}",
        &text[..text.len().min(200)]
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the loop took too long"
    );
}

/// RFC 9110 §14.2 with RFC 9110 §8.6's caution about overflow: Range positions beyond u64
/// neither crash the server nor send bytes outside the file; the answer is the whole file
/// (range ignored) or 416.
#[test]
fn rfc9110_14_2_ranges_beyond_u64_are_ignored_or_416() {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    for range in [
        "bytes=0-18446744073709551616",
        "bytes=18446744073709551616-",
        "bytes=-18446744073709551616",
        "bytes=18446744073709551615-18446744073709551615",
        "bytes=0-99999999999999999999999999",
        "bytes=1-0",
        "bytes=--1",
        "bytes=0-0,-1,0-0,-1",
    ] {
        let r = s.request(
            format!(
                "GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\nRange: {range}\r\n\r\n"
            )
            .as_bytes(),
        );
        match r.status {
            200 => assert_eq!(r.body, HELLO, "{range}"),
            206 => assert!(
                r.body.len() <= HELLO.len()
                    || r.header("Content-Type")
                        .is_some_and(|t| t.starts_with("multipart/")),
                "{range}: {} bytes",
                r.body.len()
            ),
            416 => {}
            other => panic!("{range}: status {other}"),
        }
    }
    assert_eq!(s.get("/hello.txt").body, HELLO, "the server survives");
}
