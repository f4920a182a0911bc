//! Directory listings with `--listing` (RFC 9110 §9.3.1: the representation the server selects
//! for a directory without an index): the HTML page read row by row, and the JSON form chosen
//! by `?format=json` or by `Accept: application/json` (proactive negotiation, §12.1, §12.5.1),
//! parsed with a small JSON reader so its structure, not its spelling, is checked.
//!
//! Large directories: a listing shows at most `MAX_LISTING_ENTRIES` entries and says how
//! many more there are, in the page and in the JSON; it is rendered once per version of its
//! directory (per worker) and that one copy is shared by every client, however slowly they
//! read. Most of these tests lower the cap to `TEST_CAP` through `BAREHTTPD_TEST_LISTING_MAX`,
//! a hook only debug builds honour (as `tests/faults.rs` uses `BAREHTTPD_TEST_PANIC`), so a
//! few files reach it; one makes 12,000 names to reach the real cap. The memory check reads
//! `/proc`: Linux only, like the others in the suite.

mod common;

use barehttpd::handler::listing::{MAX_LISTING_ENTRIES, NAMES_READ_PER_ENTRY};
use common::*;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// A name that needs escaping in HTML, in JSON and in a URL.
const TRICKY: &str = "q\"b\\s<i>&'.txt";

/// `/pub/` holds two directories, four files and a dotfile, with known sizes and dates.
fn setup(extra: &[&str]) -> (TempRoot, Server) {
    let root = TempRoot::new();
    root.file("top.txt", b"top\n");
    root.file("pub/zeta/z.txt", b"z\n");
    root.file("pub/alpha/a.txt", b"a\n");
    let at = |p: std::path::PathBuf, secs: u64| {
        std::fs::File::options()
            .write(true)
            .open(p)
            .and_then(|f| f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)))
            .expect("set mtime");
    };
    at(root.file("pub/b.txt", &pattern(1536, 41)), 1_000_000_000);
    at(
        root.file("pub/a.bin", &pattern(3 * 1024 * 1024, 42)),
        1_500_000_000,
    );
    root.file("pub/tiny.txt", b"tiny\n");
    root.file(&format!("pub/{TRICKY}"), b"tricky\n");
    root.file("pub/.hidden", b"secret\n");
    let s = Server::start(&root.www, extra);
    (root, s)
}

fn get_accept(s: &Server, path: &str, accept: &str) -> Response {
    s.request(
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nAccept: {accept}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

/// One row of an HTML listing: the link, the visible name (unescaped), size and date cells.
#[derive(Debug)]
struct Row {
    href: String,
    name: String,
    size: String,
    date: String,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text of an HTML fragment without its tags.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(out.trim())
}

/// The rows of the listing table body, in page order.
fn rows(page: &str) -> Vec<Row> {
    let body = page
        .split_once("<tbody>")
        .and_then(|(_, rest)| rest.split_once("</tbody>"))
        .map(|(b, _)| b)
        .unwrap_or_else(|| panic!("no table body in:\n{page}"));
    body.split("<tr")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("<td")
                .skip(1)
                .map(|c| c.split_once('>').map_or("", |(_, rest)| rest))
                .map(|c| c.split("</td>").next().unwrap_or(""))
                .collect();
            assert_eq!(cells.len(), 3, "row {row:?}");
            let href = cells[0]
                .split_once("href=\"")
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(h, _)| unescape(h))
                .unwrap_or_default();
            Row {
                href,
                name: text(cells[0]),
                size: text(cells[1]),
                date: text(cells[2]),
            }
        })
        .collect()
}

/// RFC 9110 §9.3.1 with `--listing`: folders first, then files, each sorted by name; a parent
/// link below the root; sizes in B, KiB and MiB; modification dates in UTC; a viewport for
/// small screens; and names escaped so that none can add markup.
#[test]
fn rfc9110_9_3_1_html_listing_rows() {
    let (_root, s) = setup(&["--listing"]);
    let r = s.get("/pub/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.body_str();
    assert!(
        page.contains("<meta name=\"viewport\""),
        "no viewport meta tag:\n{page}"
    );
    assert!(!page.contains("<i>"), "a file name became markup:\n{page}");
    let rows = rows(&page);
    assert_eq!(
        rows[0].href, "../",
        "first row is not the parent link: {:?}",
        rows[0]
    );
    assert!(
        rows[0].name.to_ascii_lowercase().contains("parent"),
        "{:?}",
        rows[0]
    );
    let names: Vec<&str> = rows[1..].iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["alpha/", "zeta/", "a.bin", "b.txt", TRICKY, "tiny.txt"],
        "folders first, then files, each sorted:\n{page}"
    );
    let by_name = |n: &str| rows.iter().find(|r| r.name == n).unwrap();
    assert_eq!(by_name("b.txt").size, "1.5 KiB");
    assert_eq!(by_name("b.txt").date, "2001-09-09 01:46");
    assert_eq!(by_name("a.bin").size, "3.0 MiB");
    assert_eq!(by_name("a.bin").date, "2017-07-14 02:40");
    assert_eq!(by_name("tiny.txt").size, "5 B");
    for d in ["alpha/", "zeta/"] {
        assert!(by_name(d).href.ends_with(d), "{:?}", by_name(d));
        assert!(
            !by_name(d).size.contains('B'),
            "a folder with a size: {:?}",
            by_name(d)
        );
    }
    // Every file row has a date like 2001-09-09 01:46.
    for row in &rows[1..] {
        let d = row.date.as_bytes();
        let shape = d.len() == 16
            && d.iter().enumerate().all(|(i, &b)| match i {
                4 | 7 => b == b'-',
                10 => b == b' ',
                13 => b == b':',
                _ => b.is_ascii_digit(),
            });
        assert!(shape, "date cell {:?}", row);
    }
    assert!(
        !page.contains(".hidden"),
        "dotfile listed without --dotfiles"
    );
    // The tricky name's link leads to the file.
    let href = &by_name(TRICKY).href;
    assert!(
        !href.contains('<') && !href.contains('"') && !href.contains('\\'),
        "link not percent-encoded: {href:?}"
    );
    let r = s.get(&format!("/pub/{}", href.trim_start_matches("./")));
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"tricky\n"[..]),
        "{href}"
    );
}

/// The parent link appears below the root and never at the root itself (nothing is above it).
#[test]
fn rfc9110_9_3_1_parent_link_only_below_the_root() {
    let (_root, s) = setup(&["--listing"]);
    for (path, parent) in [("/", false), ("/pub/", true), ("/pub/alpha/", true)] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        let page = r.body_str();
        let has = rows(&page).iter().any(|r| r.href == "../");
        assert_eq!(has, parent, "{path}: parent link\n{page}");
    }
    let names: Vec<String> = rows(&s.get("/").body_str())
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["pub/", "top.txt"]);
}

// ---------------------------------------------------------------------------------------
// A small JSON reader (RFC 8259), enough to check the listing's structure.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    fn num(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }
}

/// Parse a complete JSON text; Err names the byte offset where it went wrong.
fn parse_json(text: &str) -> Result<Json, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let v = value(b, &mut i)?;
    ws(b, &mut i);
    if i != b.len() {
        return Err(format!("trailing bytes at {i}"));
    }
    Ok(v)
}

fn ws(b: &[u8], i: &mut usize) {
    while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
        *i += 1;
    }
}

fn value(b: &[u8], i: &mut usize) -> Result<Json, String> {
    ws(b, i);
    let lit = |i: &mut usize, word: &[u8], v: Json| {
        if b[*i..].starts_with(word) {
            *i += word.len();
            Ok(v)
        } else {
            Err(format!("bad literal at {i}"))
        }
    };
    match b.get(*i) {
        Some(b'{') => {
            *i += 1;
            let mut m = Vec::new();
            ws(b, i);
            if b.get(*i) == Some(&b'}') {
                *i += 1;
                return Ok(Json::Obj(m));
            }
            loop {
                ws(b, i);
                let Json::Str(k) = string(b, i)? else {
                    unreachable!()
                };
                ws(b, i);
                if b.get(*i) != Some(&b':') {
                    return Err(format!("expected ':' at {i}"));
                }
                *i += 1;
                m.push((k, value(b, i)?));
                ws(b, i);
                match b.get(*i) {
                    Some(b',') => *i += 1,
                    Some(b'}') => {
                        *i += 1;
                        return Ok(Json::Obj(m));
                    }
                    _ => return Err(format!("expected ',' or '}}' at {i}")),
                }
            }
        }
        Some(b'[') => {
            *i += 1;
            let mut v = Vec::new();
            ws(b, i);
            if b.get(*i) == Some(&b']') {
                *i += 1;
                return Ok(Json::Arr(v));
            }
            loop {
                v.push(value(b, i)?);
                ws(b, i);
                match b.get(*i) {
                    Some(b',') => *i += 1,
                    Some(b']') => {
                        *i += 1;
                        return Ok(Json::Arr(v));
                    }
                    _ => return Err(format!("expected ',' or ']' at {i}")),
                }
            }
        }
        Some(b'"') => string(b, i),
        Some(b't') => lit(i, b"true", Json::Bool(true)),
        Some(b'f') => lit(i, b"false", Json::Bool(false)),
        Some(b'n') => lit(i, b"null", Json::Null),
        Some(c) if *c == b'-' || c.is_ascii_digit() => {
            let start = *i;
            while *i < b.len() && matches!(b[*i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                *i += 1;
            }
            let s = std::str::from_utf8(&b[start..*i]).unwrap();
            s.parse()
                .map(Json::Num)
                .map_err(|_| format!("bad number {s:?} at {start}"))
        }
        _ => Err(format!("unexpected byte at {i}")),
    }
}

fn string(b: &[u8], i: &mut usize) -> Result<Json, String> {
    if b.get(*i) != Some(&b'"') {
        return Err(format!("expected a string at {i}"));
    }
    *i += 1;
    let mut out: Vec<u8> = Vec::new();
    loop {
        match b.get(*i) {
            None => return Err("unterminated string".into()),
            Some(b'"') => {
                *i += 1;
                return String::from_utf8(out)
                    .map(Json::Str)
                    .map_err(|_| "invalid UTF-8".into());
            }
            Some(c) if *c < 0x20 => return Err(format!("raw control byte in a string at {i}")),
            Some(b'\\') => {
                let esc = *b.get(*i + 1).ok_or("dangling escape")?;
                *i += 2;
                let ch = match esc {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        let hex = b.get(*i..*i + 4).ok_or("short \\u escape")?;
                        let n = u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("x"), 16)
                            .map_err(|_| format!("bad \\u escape at {i}"))?;
                        *i += 4;
                        char::from_u32(n).ok_or("surrogate escapes are not used here")?
                    }
                    _ => return Err(format!("bad escape at {i}")),
                };
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
            }
            Some(&c) => {
                out.push(c);
                *i += 1;
            }
        }
    }
}

#[test]
fn rfc8259_json_reader_reads_what_it_should() {
    let v = parse_json(r#" {"a": [1, -2.5e1, true, null], "b\u0041\n": "x\"y"} "#).unwrap();
    assert_eq!(
        v.get("a"),
        Some(&Json::Arr(vec![
            Json::Num(1.0),
            Json::Num(-25.0),
            Json::Bool(true),
            Json::Null
        ]))
    );
    assert_eq!(v.get("bA\n").and_then(Json::str), Some("x\"y"));
    for bad in ["{", "[1,]", "{\"a\" 1}", "\"a\nb\"", "[1] x", "{'a':1}"] {
        assert!(parse_json(bad).is_err(), "{bad:?} parsed");
    }
}

/// The entries of a JSON listing as (name, type, size, mtime), after checking its shape:
/// an object with "path" (a string) and "entries" (an array of objects, each with a string
/// name, a type of "dir" or "file", and numeric size and mtime).
fn json_entries(r: &Response, path: &str) -> Vec<(String, String, u64, u64)> {
    assert_eq!(r.status, 200);
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "Content-Type {ct:?}");
    let text = r.body_str();
    let v = parse_json(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    assert_eq!(v.get("path").and_then(Json::str), Some(path), "{text}");
    let Some(Json::Arr(entries)) = v.get("entries") else {
        panic!("no entries array:\n{text}");
    };
    entries
        .iter()
        .map(|e| {
            let name = e.get("name").and_then(Json::str).expect("entry name");
            let kind = e.get("type").and_then(Json::str).expect("entry type");
            assert!(kind == "dir" || kind == "file", "type {kind:?}");
            let num = |k: &str| {
                let n = e
                    .get(k)
                    .and_then(Json::num)
                    .unwrap_or_else(|| panic!("{k} of {name}"));
                assert!(n >= 0.0 && n.fract() == 0.0, "{k} of {name}: {n}");
                n as u64
            };
            (
                name.to_string(),
                kind.to_string(),
                num("size"),
                num("mtime"),
            )
        })
        .collect()
}

/// `?format=json` and `Accept: application/json` give the listing as JSON, in the same order
/// as the page, with exact sizes and Unix mtimes; names survive any character.
#[test]
fn rfc9110_12_5_1_json_listing() {
    let (_root, s) = setup(&["--listing"]);
    let by_query = s.get("/pub/?format=json");
    let by_accept = get_accept(&s, "/pub/", "application/json");
    for (how, r) in [("?format=json", &by_query), ("Accept", &by_accept)] {
        let entries = json_entries(r, "/pub/");
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            ["alpha", "zeta", "a.bin", "b.txt", TRICKY, "tiny.txt"],
            "{how}"
        );
        let kinds: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(
            kinds,
            ["dir", "dir", "file", "file", "file", "file"],
            "{how}"
        );
        let b = &entries[3];
        assert_eq!((b.2, b.3), (1536, 1_000_000_000), "{how}: b.txt");
        let a = &entries[2];
        assert_eq!((a.2, a.3), (3 * 1024 * 1024, 1_500_000_000), "{how}: a.bin");
        assert_eq!(entries[5].2, 5, "{how}: tiny.txt");
    }
    // §12.5.5: the answer depends on Accept, and says so.
    let vary = by_accept
        .header("vary")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(vary.contains("accept"), "Vary {vary:?}");
    // A browser, which accepts HTML first, gets the page.
    let r = get_accept(
        &s,
        "/pub/",
        "text/html,application/xhtml+xml,application/json;q=0.9",
    );
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "{:?}",
        r.headers
    );
    let r = s.get("/pub/?format=html");
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
}

/// RFC 9110 §17.3 (names that reveal what should stay private): dotfiles are neither listed
/// nor served without `--dotfiles`, and both with it.
#[test]
fn rfc9110_17_3_dotfiles_are_listed_only_with_the_dotfiles_flag() {
    let (_root, s) = setup(&["--listing"]);
    assert!(!s.get("/pub/").body_str().contains(".hidden"));
    let names: Vec<String> = json_entries(&s.get("/pub/?format=json"), "/pub/")
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(!names.iter().any(|n| n == ".hidden"), "{names:?}");
    assert_eq!(s.get("/pub/.hidden").status, 404);

    let (_root, s) = setup(&["--listing", "--dotfiles"]);
    let page = s.get("/pub/").body_str();
    assert!(
        rows(&page).iter().any(|r| r.name == ".hidden"),
        "dotfile missing with --dotfiles:\n{page}"
    );
    let names: Vec<String> = json_entries(&s.get("/pub/?format=json"), "/pub/")
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(names.iter().any(|n| n == ".hidden"), "{names:?}");
    assert_eq!(s.get("/pub/.hidden").body, b"secret\n");
}

/// RFC 9110 §17.3: a listing discloses no more than GET does. A symlink GET answers 404 for
/// (any symlink by default; with `--follow-symlinks` one that leaves the root, or leads
/// nowhere) is not listed, so neither the size nor the date of a file outside the root shows
/// (`pub/passwd -> /.../passwd`). A symlink GET follows (inside the root, with
/// `--follow-symlinks`) is listed with what GET serves: its target's size and date.
#[test]
fn rfc9110_17_3_listing_shows_nothing_of_symlinks_get_refuses() {
    use std::os::unix::fs::symlink;
    const SECRET_LEN: u64 = 4321;
    const SECRET_MTIME: u64 = 1_234_567_890;
    for follow in [false, true] {
        let root = TempRoot::new();
        root.file("pub/plain.txt", b"plain\n");
        let secret = root.outside("passwd", &pattern(SECRET_LEN as usize, 7));
        std::fs::File::options()
            .write(true)
            .open(&secret)
            .and_then(|f| {
                f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(SECRET_MTIME))
            })
            .unwrap();
        symlink(&secret, root.www.join("pub/passwd")).unwrap();
        symlink("../../passwd", root.www.join("pub/rel-out")).unwrap();
        symlink(&root.base, root.www.join("pub/out-dir")).unwrap();
        symlink("nowhere", root.www.join("pub/dangling")).unwrap();
        symlink("plain.txt", root.www.join("pub/inside.txt")).unwrap();
        let flags: &[&str] = if follow {
            &["--listing", "--follow-symlinks"]
        } else {
            &["--listing"]
        };
        let s = Server::start(&root.www, flags);
        for name in ["passwd", "rel-out", "out-dir/passwd", "dangling"] {
            assert_eq!(s.get(&format!("/pub/{name}")).status, 404, "GET {name}");
        }
        let inside = s.get("/pub/inside.txt");
        let entries = json_entries(&s.get("/pub/?format=json"), "/pub/");
        for e in &entries {
            assert!(
                e.2 != SECRET_LEN && e.3 != SECRET_MTIME,
                "follow={follow}: {e:?} shows the size or date of a file outside the root"
            );
        }
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        if follow {
            assert_eq!(inside.body, b"plain\n");
            assert_eq!(names, ["inside.txt", "plain.txt"], "follow={follow}");
            assert_eq!(entries[0].2, 6, "inside.txt: its target's size");
        } else {
            assert_eq!(inside.status, 404);
            assert_eq!(names, ["plain.txt"], "follow={follow}");
        }
        let page = s.get("/pub/").body_str();
        let listed: Vec<String> = rows(&page)
            .into_iter()
            .filter(|r| r.href != "../")
            .map(|r| r.name)
            .collect();
        assert_eq!(
            listed, names,
            "follow={follow}: the page lists what the JSON does"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Large directories: the cap, and rendered listings kept until the directory changes
// ---------------------------------------------------------------------------------------

/// The cap in tests that lower it (`BAREHTTPD_TEST_LISTING_MAX`, debug builds only).
const TEST_CAP: usize = 3;

/// `--listing` on one worker (so that every request meets the same cache), with the cap
/// lowered to `TEST_CAP`, and `extra` flags.
fn start_capped(root: &Path, extra: &[&str]) -> Server {
    let mut cmd = server_command();
    cmd.env("BAREHTTPD_TEST_LISTING_MAX", TEST_CAP.to_string())
        .arg(root)
        .args(["--listen", "127.0.0.1:0", "--workers", "1"])
        .args(["--access-log", "off", "--listing"])
        .args(extra);
    Server::start_command(cmd)
}

/// The text of the page's note on entries not shown, if it has one.
fn note(page: &str) -> Option<String> {
    let (_, rest) = page.split_once("<p class=\"more\">")?;
    Some(text(rest.split_once("</p>")?.0))
}

/// The count in the page's footer ("3 items").
fn footer(page: &str) -> String {
    let (_, rest) = page.split_once("<footer>").expect("a footer");
    let (count, _) = rest.split_once(" &middot;").expect("a footer's end");
    text(count)
}

/// A JSON listing's `truncated`, `not_shown` and `not_shown_exact`.
fn json_truncation(r: &Response) -> (bool, u64, bool) {
    let v = parse_json(&r.body_str()).expect("JSON");
    let flag = |k: &str| match v.get(k) {
        Some(Json::Bool(b)) => *b,
        other => panic!("{k}: {other:?}"),
    };
    let n = v.get("not_shown").and_then(Json::num).expect("not_shown");
    (flag("truncated"), n as u64, flag("not_shown_exact"))
}

/// Names of an HTML listing's rows, the parent link left out.
fn row_names(page: &str) -> Vec<String> {
    rows(page)
        .into_iter()
        .filter(|r| r.href != "../")
        .map(|r| r.name)
        .collect()
}

/// Past its cap a listing shows the first entries in its order (folders first, then files,
/// by name), whatever order the directory keeps them in, and says how many more there are:
/// a line above the table, the footer ("3 of 8 items"), and `truncated`, `not_shown` and
/// `not_shown_exact` in the JSON, which shows the same entries. Names never served are not
/// counted. A directory of exactly the cap is listed whole, with no note.
#[test]
fn rfc9110_9_3_1_a_listing_past_its_cap_shows_the_first_entries_and_says_how_many_more() {
    let root = TempRoot::new();
    for name in [
        "f.txt", "b.txt", "d2/x", "e.txt", "a.txt", "d1/x", "c.txt", "g.txt",
    ] {
        root.file(&format!("big/{name}"), b"x\n");
    }
    root.file("big/.hidden", b"x\n");
    for name in ["c.txt", "a.txt", "b.txt"] {
        root.file(&format!("three/{name}"), b"x\n");
    }
    let s = start_capped(&root.www, &[]);

    let page = s.get("/big/").body_str();
    assert_eq!(row_names(&page), ["d1/", "d2/", "a.txt"], "{page}");
    assert_eq!(
        note(&page).as_deref(),
        Some("5 more entries not shown: a listing shows at most 3 (folders first, then by name)."),
        "{page}"
    );
    assert_eq!(footer(&page), "3 of 8 items");
    let note_at = page.find("class=\"more\"").unwrap();
    assert!(
        note_at < page.find("<table").unwrap(),
        "the note comes after the table, where a long page hides it"
    );

    let r = s.get("/big/?format=json");
    let names: Vec<String> = json_entries(&r, "/big/").into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["d1", "d2", "a.txt"]);
    assert_eq!(json_truncation(&r), (true, 5, true));

    let page = s.get("/three/").body_str();
    assert_eq!(row_names(&page), ["a.txt", "b.txt", "c.txt"]);
    assert_eq!(note(&page), None, "{page}");
    assert_eq!(footer(&page), "3 items");
    assert_eq!(
        json_truncation(&s.get("/three/?format=json")),
        (false, 0, true)
    );
}

/// A listing reads at most `NAMES_READ_PER_ENTRY` names per entry it may show: past that,
/// the directory is not read further, and the count of entries not shown is a lower bound,
/// said so ("At least", `not_shown_exact: false`).
#[test]
fn rfc9110_9_3_1_a_listing_reads_a_bounded_number_of_names() {
    let root = TempRoot::new();
    let read = TEST_CAP * NAMES_READ_PER_ENTRY;
    for i in 0..read + 5 {
        root.file(&format!("big/f{i:03}.txt"), b"x\n");
    }
    let s = start_capped(&root.www, &[]);
    let page = s.get("/big/").body_str();
    let more = read - TEST_CAP;
    assert_eq!(row_names(&page).len(), TEST_CAP, "{page}");
    assert!(
        note(&page).is_some_and(|n| n.starts_with(&format!("At least {more} more entries"))),
        "{page}"
    );
    assert_eq!(footer(&page), format!("3 of at least {read} items"));
    let r = s.get("/big/?format=json");
    assert_eq!(json_entries(&r, "/big/").len(), TEST_CAP);
    assert_eq!(json_truncation(&r), (true, more as u64, false));
}

/// A directory of 12,000 names: far cheaper as hard links of one file than as files.
fn root_with_many_names(n: usize) -> TempRoot {
    let root = TempRoot::new();
    let many = root.dir("many");
    let first = root.file("many/f00000.txt", b"x\n");
    for i in 1..n {
        std::fs::hard_link(&first, many.join(format!("f{i:05}.txt"))).unwrap();
    }
    root
}

/// The real cap, `MAX_LISTING_ENTRIES`, without the test hook: 12,000 names give a page and
/// a JSON listing of exactly that many entries, the first by name, and say 2,000 more.
#[test]
fn rfc9110_9_3_1_a_listing_shows_at_most_max_listing_entries() {
    let n = MAX_LISTING_ENTRIES + 2_000;
    let root = root_with_many_names(n);
    let s = Server::start(&root.www, &["--listing"]);
    let page = s.get("/many/").body_str();
    let names = row_names(&page);
    assert_eq!(names.len(), MAX_LISTING_ENTRIES);
    assert_eq!(names.first().map(String::as_str), Some("f00000.txt"));
    let last = format!("f{:05}.txt", MAX_LISTING_ENTRIES - 1);
    assert_eq!(names.last(), Some(&last));
    assert!(
        note(&page).is_some_and(|t| t.starts_with("2000 more entries not shown")),
        "{:?}",
        note(&page)
    );
    let r = s.get("/many/?format=json");
    assert_eq!(json_entries(&r, "/many/").len(), MAX_LISTING_ENTRIES);
    assert_eq!(json_truncation(&r), (true, 2_000, true));
}

/// Lines of the server's `--trace` output (stderr) once `requests` requests were traced.
fn traced(s: &Server, requests: usize) -> Vec<String> {
    let deadline = Instant::now() + scaled(Duration::from_secs(5));
    loop {
        let text = s.stderr_text();
        let done = text.lines().filter(|l| l.contains(" HTTP/1.1 -> ")).count();
        if done >= requests {
            return text.lines().map(String::from).collect();
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {requests} requests traced:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How many times the directory was read (one traced call per listing rendered).
fn directory_reads(lines: &[String]) -> usize {
    let call = if cfg!(target_os = "macos") {
        "getdirentries64("
    } else {
        "getdents64("
    };
    lines
        .iter()
        .filter(|l| l.trim_start().starts_with(call))
        .count()
}

/// A listing is rendered once per version of its directory: ten GETs of the page and ten
/// of the JSON read the directory twice (once per form, `--trace` shows it), and the ETag
/// stays. A name added, a name removed, and a file rewritten in place (its size changes, the
/// directory's own times do not: only the watch sees it) each show in the next listing, in
/// both forms; the old ETag no longer gives 304 (RFC 9110 §13.1.2), the new one does. On
/// macOS, whose directory watches do not see a write in place, that last change shows
/// within the cache's TTL (1 s) instead.
#[test]
fn rfc9110_13_1_2_a_listing_is_rendered_once_per_version_of_its_directory() {
    let root = TempRoot::new();
    root.file("pub/a.txt", b"a\n");
    let s = start_capped(&root.www, &["--trace"]);
    let mut tags = Vec::new();
    for _ in 0..10 {
        for path in ["/pub/", "/pub/?format=json"] {
            let r = s.get(path);
            assert_eq!(r.status, 200);
            tags.push(r.header("etag").unwrap_or_default().to_string());
        }
    }
    assert_eq!(directory_reads(&traced(&s, 20)), 2, "{}", s.stderr_text());
    assert!(tags.chunks(2).all(|t| t == &tags[..2]), "{tags:?}");

    let json_names = |s: &Server| -> Vec<(String, u64)> {
        json_entries(&s.get("/pub/?format=json"), "/pub/")
            .into_iter()
            .map(|e| (e.0, e.2))
            .collect()
    };
    root.file("pub/b.txt", b"b\n");
    assert_eq!(row_names(&s.get("/pub/").body_str()), ["a.txt", "b.txt"]);
    assert_eq!(json_names(&s), [("a.txt".into(), 2), ("b.txt".into(), 2)]);
    let old = req("GET", "/pub/", &[("If-None-Match", &tags[0])]);
    assert_eq!(s.request(&old).status, 200, "the old ETag still matched");
    let new = s
        .get("/pub/")
        .header("etag")
        .unwrap_or_default()
        .to_string();
    let again = req("GET", "/pub/", &[("If-None-Match", &new)]);
    assert_eq!(s.request(&again).status, 304);

    std::fs::remove_file(root.www.join("pub/a.txt")).unwrap();
    assert_eq!(row_names(&s.get("/pub/").body_str()), ["b.txt"]);
    assert_eq!(json_names(&s), [("b.txt".into(), 2)]);

    // Rewritten in place: same inode, same directory entry.
    std::fs::write(root.www.join("pub/b.txt"), pattern(1536, 1)).unwrap();
    let deadline = Instant::now()
        + if cfg!(target_os = "macos") {
            Duration::from_millis(1500)
        } else {
            Duration::ZERO
        };
    loop {
        let sizes = (
            rows(&s.get("/pub/").body_str())
                .into_iter()
                .find(|r| r.name == "b.txt")
                .map(|r| r.size),
            json_names(&s),
        );
        if sizes == (Some("1.5 KiB".into()), vec![("b.txt".into(), 1536)]) {
            break;
        }
        assert!(Instant::now() < deadline, "a stale listing: {sizes:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Clients that ask for a large listing and never read share one rendered copy: 40 of them
/// leave the server's memory within a few MiB of what one costs, where a copy each (1.3 MB
/// of HTML) would add 50 MiB. Every one still gets the whole listing when it reads.
#[test]
fn rfc9110_9_3_1_slow_clients_share_one_rendered_listing() {
    const CLIENTS: usize = 40;
    let root = root_with_many_names(MAX_LISTING_ENTRIES);
    let s = Server::start(
        &root.www,
        &["--listing", "--workers", "1", "--send-timeout", "60"],
    );
    let whole = s.get("/many/").body;
    assert!(whole.len() > 1_000_000, "{} bytes", whole.len());
    let before = vm_rss(s.pid());
    assert!(before > 0, "could not read the server's VmRSS");
    let mut slow: Vec<Client> = (0..CLIENTS)
        .map(|_| {
            let mut c = s.connect();
            c.send(&get_req("/many/"));
            c
        })
        .collect();
    // Each request is answered (its first bytes sent) before memory is read.
    for c in &mut slow {
        c.prefetch(1);
    }
    let grew = vm_rss(s.pid()).saturating_sub(before);
    assert!(
        grew < 16 << 20,
        "{CLIENTS} clients not reading a {} byte listing grew the server by {} MiB",
        whole.len(),
        grew >> 20
    );
    for c in &mut slow {
        let r = c.response();
        assert_eq!(r.body.len(), whole.len());
        assert!(r.body == whole, "a shared listing arrived damaged");
    }
}

/// `/nat/` for the orders: three folders and three files whose sizes and dates differ in
/// other orders than their names.
fn setup_orders() -> (TempRoot, Server) {
    let root = TempRoot::new();
    for d in ["dirB", "dir10", "dir9"] {
        root.dir(&format!("nat/{d}"));
    }
    for (name, size, secs) in [
        ("file10.txt", 10, 1_300_000_000),
        ("file2.txt", 300, 1_100_000_000),
        ("File1.txt", 20, 1_200_000_000),
    ] {
        let p = root.file(&format!("nat/{name}"), &pattern(size, 7));
        std::fs::File::options()
            .write(true)
            .open(p)
            .and_then(|f| f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)))
            .expect("set mtime");
    }
    let s = Server::start(&root.www, &["--listing"]);
    (root, s)
}

/// The listing's orders without JavaScript: `?sort=name|size|date&order=asc|desc`, applied by
/// the server; names in natural order (file2 before file10, case set aside); folders first
/// in every order; anything else in either parameter gives the default, by name ascending.
/// Each order is its own cached page: asking for one never answers with another.
#[test]
fn rfc9110_9_3_1_listing_sorted_by_query() {
    let (_root, s) = setup_orders();
    let names = |q: &str| {
        let r = s.get(&format!("/nat/{q}"));
        assert_eq!(r.status, 200, "{q}");
        rows(&r.body_str())[1..]
            .iter()
            .map(|r| r.name.clone())
            .collect::<Vec<_>>()
    };
    let by_name = [
        "dir9/",
        "dir10/",
        "dirB/",
        "File1.txt",
        "file2.txt",
        "file10.txt",
    ];
    for q in [
        "",
        "?sort=name",
        "?sort=name&order=asc",
        "?order=asc",
        "?sort=bogus&order=desc",
        "?sort=size&order=up",
        "?sort=Size",
        "?sort=",
    ] {
        assert_eq!(names(q), by_name, "{q:?}");
    }
    let cases: [(&str, [&str; 6]); 5] = [
        (
            "?sort=name&order=desc",
            [
                "dirB/",
                "dir10/",
                "dir9/",
                "file10.txt",
                "file2.txt",
                "File1.txt",
            ],
        ),
        (
            "?sort=size&order=asc",
            [
                "dir9/",
                "dir10/",
                "dirB/",
                "file10.txt",
                "File1.txt",
                "file2.txt",
            ],
        ),
        (
            "?sort=size&order=desc",
            [
                "dirB/",
                "dir10/",
                "dir9/",
                "file2.txt",
                "File1.txt",
                "file10.txt",
            ],
        ),
        (
            "?order=desc&sort=date",
            [
                "dirB/",
                "dir10/",
                "dir9/",
                "file10.txt",
                "File1.txt",
                "file2.txt",
            ],
        ),
        (
            "?sort=date",
            [
                "dir9/",
                "dir10/",
                "dirB/",
                "file2.txt",
                "File1.txt",
                "file10.txt",
            ],
        ),
    ];
    for (q, want) in cases {
        let got = names(q);
        if q.contains("date") {
            // The folders were made in the same second or not: their order among themselves
            // is by date; the files' is known.
            assert_eq!(got[3..], want[3..], "{q}");
            assert!(got[..3].iter().all(|n| n.ends_with('/')), "{q}: {got:?}");
        } else {
            assert_eq!(got, want, "{q}");
        }
    }
    // Again, from the cache: each order is still its own.
    assert_eq!(names("?sort=size&order=desc")[3], "file2.txt");
    assert_eq!(names("")[3], "File1.txt");
    // The column headers link to the other orders: the sorted column to its reverse.
    let page = s.get("/nat/?sort=size&order=asc").body_str();
    assert!(
        page.contains(
            "aria-sort=\"ascending\"><a data-k=\"size\" href=\"?sort=size&amp;order=desc\">"
        ),
        "{page}"
    );
    assert!(
        page.contains("<a data-k=\"name\" href=\"?sort=name&amp;order=asc\">"),
        "{page}"
    );
    assert!(
        page.contains("<a data-k=\"date\" href=\"?sort=date&amp;order=asc\">"),
        "{page}"
    );
}

/// The JSON listing is as it was: one order (folders first, then by bytes of the name),
/// whatever `sort` and `order` say.
#[test]
fn rfc9110_12_5_1_json_listing_ignores_the_page_order() {
    let (_root, s) = setup_orders();
    let plain = s.get("/nat/?format=json");
    let sorted = s.get("/nat/?format=json&sort=size&order=desc");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body, sorted.body);
    assert_eq!(plain.header("content-security-policy"), None);
    let names: Vec<String> = json_entries(&plain, "/nat/")
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        names,
        [
            "dir10",
            "dir9",
            "dirB",
            "File1.txt",
            "file10.txt",
            "file2.txt"
        ]
    );
}

/// SHA-256 by the system's `sha256sum` (not the server's own code), base64-encoded as a CSP
/// hash source writes it.
fn sha256_b64(data: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            s.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    s
}

/// The bodies of every `<tag>...</tag>` in `page`.
fn blocks<'a>(page: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    page.split(&open)
        .skip(1)
        .map(|b| {
            let b = b.split_once('>').expect("tag closed").1;
            b.split_once(&close).expect("element closed").0
        })
        .collect()
}

/// CSP Level 3 §8.3 (hash sources): the page runs no inline script and applies no inline
/// style the policy does not name by its SHA-256; it has no event-handler or style
/// attribute (which a hash does not allow); it cannot be framed, post a form, or take a
/// `<base>`; no CORS header lets another site read it; it is not sniffed; no Referer leaves.
#[test]
fn csp3_listing_page_allows_only_its_own_hashed_script_and_style() {
    let (_root, s) = setup(&["--listing"]);
    let r = s.get("/pub/");
    let csp = r
        .header("content-security-policy")
        .expect("a Content-Security-Policy")
        .to_string();
    let page = r.body_str();
    let dirs: Vec<&str> = csp.split(';').map(str::trim).collect();
    for d in [
        "default-src 'none'",
        "base-uri 'none'",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(dirs.contains(&d), "{d} missing from {csp}");
    }
    for (tag, directive) in [("script", "script-src"), ("style", "style-src")] {
        let bodies = blocks(&page, tag);
        assert_eq!(bodies.len(), 1, "one inline {tag}");
        let allowed = dirs
            .iter()
            .find(|d| d.starts_with(directive))
            .unwrap_or_else(|| panic!("no {directive} in {csp}"));
        assert!(!allowed.contains("unsafe"), "{allowed}");
        for b in bodies {
            let h = format!("'sha256-{}'", sha256_b64(b.as_bytes()));
            assert!(
                allowed.split(' ').any(|s| s == h),
                "{tag} {h} not in {allowed}"
            );
        }
    }
    let script = blocks(&page, "script")[0];
    let lower = page.replace(script, "").to_ascii_lowercase();
    assert!(!lower.contains(" style="), "a style attribute");
    for attr in lower.split(" on").skip(1) {
        let name_len = attr.bytes().take_while(u8::is_ascii_alphabetic).count();
        assert!(
            name_len == 0 || attr.as_bytes().get(name_len) != Some(&b'='),
            "an event handler attribute: on{attr:.30}"
        );
    }
    assert!(
        !lower.contains("<script src") && !lower.contains("<link"),
        "an external asset"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("access-control-allow-origin"), None);
    // OPTIONS does not open CORS either.
    let o = s.request(b"OPTIONS /pub/ HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: DELETE\r\nConnection: close\r\n\r\n");
    assert_eq!(o.header("access-control-allow-origin"), None);
    assert_eq!(o.header("access-control-allow-methods"), None);
}

/// Hostile names are text wherever a name appears: the link, its text, the title, the
/// breadcrumbs, the data attributes; and the breadcrumbs lead to each folder on the way.
#[test]
fn rfc9110_9_3_1_hostile_names_are_text_everywhere_and_breadcrumbs_lead_up() {
    let root = TempRoot::new();
    let dir = "\"><svg onload=alert(2)>";
    let file = "<img src=x onerror=alert(1)>.txt";
    root.file(&format!("a/{dir}/{file}"), b"x\n");
    root.file(&format!("a/{dir}/it's & \"q\".md"), b"x\n");
    let s = Server::start(&root.www, &["--listing"]);
    let enc = "%22%3E%3Csvg%20onload=alert(2)%3E";
    let r = s.get(&format!("/a/{enc}/"));
    assert_eq!(r.status, 200);
    let page = r.body_str();
    for raw in ["<img", "<svg onload", "it's", "& \""] {
        assert!(!page.contains(raw), "{raw:?} unescaped in:\n{page}");
    }
    let title = blocks(&page, "title")[0];
    assert_eq!(unescape(title), format!("Index of /a/{dir}/"));
    // Breadcrumbs: `/` and `a/` up, the folder itself here.
    let h1 = blocks(&page, "h1")[0];
    assert_eq!(text(h1), format!("Index of /a/{dir}/"));
    let hrefs: Vec<&str> = h1
        .split("href=\"")
        .skip(1)
        .map(|h| h.split('"').next().unwrap())
        .collect();
    assert_eq!(hrefs, ["../../", "../", "./"]);
    assert_eq!(s.get("/").status, 200);
    assert_eq!(s.get("/a/").status, 200);
    let rows = rows(&page);
    let row = rows
        .iter()
        .find(|r| r.name == file)
        .expect("the file's row");
    assert_eq!(row.href, "./%3Cimg%20src=x%20onerror=alert(1)%3E.txt");
    let got = s.get(&format!("/a/{enc}/{}", &row.href[2..]));
    assert_eq!((got.status, got.body.as_slice()), (200, &b"x\n"[..]));
    assert!(rows.iter().any(|r| r.name == "it's & \"q\".md"), "{rows:?}");
    // Data attributes hold numbers only.
    for attr in page.split(" data-").skip(1) {
        let v = attr.split_once("=\"").unwrap().1.split('"').next().unwrap();
        assert!(
            v.bytes().all(|b| b.is_ascii_alphanumeric()),
            "data attribute {attr:.40}"
        );
    }
}

/// A folder's README.md is rendered below the list, its raw HTML shown as text and its
/// `javascript:` links leading nowhere; a README of more than `MAX_README_BYTES` is not
/// shown; a new README shows at once (the cached page is dropped with the folder's change).
#[test]
fn rfc9110_9_3_1_readme_rendered_below_the_list_and_defused() {
    use barehttpd::handler::readme::MAX_README_BYTES;
    let root = TempRoot::new();
    root.file(
        "r/README.md",
        b"# Read me\n\nSome *text*.\n\n<script>alert(1)</script>\n\n\
          <img src=x onerror=alert(1)> [a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) \
          [c](https://example.com/) ![i](javascript:alert(3))\n",
    );
    root.file("big/README.md", &vec![b'x'; MAX_README_BYTES as usize + 1]);
    root.file("late/x.txt", b"x\n");
    let s = Server::start(&root.www, &["--listing"]);
    let page = s.get("/r/").body_str();
    let readme = blocks(&page, "article")[0];
    assert!(
        page.find("</table>") < page.find("<article"),
        "below the list"
    );
    let lower = readme.to_ascii_lowercase();
    assert!(
        !lower.contains("<script") && !lower.contains("<img src=x"),
        "{readme}"
    );
    assert!(
        !lower.contains("href=\"javascript") && !lower.contains("src=\"javascript"),
        "{readme}"
    );
    assert!(readme.contains("&lt;script&gt;"), "{readme}");
    if cfg!(feature = "readme") {
        assert!(readme.contains("<h1>Read me</h1>"), "{readme}");
        assert!(readme.contains("<em>text</em>"), "{readme}");
        assert!(
            readme.contains("<a href=\"https://example.com/\">c</a>"),
            "{readme}"
        );
    } else {
        assert!(readme.trim_start().starts_with("<pre>"), "{readme}");
    }
    assert!(!s.get("/big/").body_str().contains("<article"));
    assert!(!s.get("/late/").body_str().contains("<article"));
    std::fs::write(root.www.join("late/README"), b"plain <b>text</b>\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let page = s.get("/late/").body_str();
        if let Some(a) = blocks(&page, "article").first() {
            assert_eq!(*a, "\n<pre>plain &lt;b&gt;text&lt;/b&gt;\n</pre>\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "README not shown after it was made"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With `chromium` installed (CI installs it for the acceptance browser check): the page in
/// a real browser, light and dark, as screenshots kept under `target/listing-screens/`; the
/// script ran (it marks `<html data-js="ready">`) and the browser reported no CSP violation.
#[test]
fn listing_page_in_a_headless_browser() {
    if !have("chromium") {
        eprintln!("SKIPPED: listing screenshots: chromium is not installed");
        return;
    }
    let (_root, s) = setup(&["--listing"]);
    let url = format!("http://{}/pub/", s.addr());
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/listing-screens");
    std::fs::create_dir_all(&out).unwrap();
    let run = |extra: &[String]| {
        let profile = TempRoot::new();
        let o = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=900,700",
            ])
            .arg(format!("--user-data-dir={}", profile.www.display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium");
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (dom, log) = run(&["--dump-dom".to_string()]);
    assert!(
        dom.contains("data-js=\"ready\""),
        "the script did not run:\n{dom}\n{log}"
    );
    assert!(!dom.contains("id=\"filter\" type=\"search\" placeholder=\"Filter (press /)\" aria-label=\"Filter names\" autocomplete=\"off\" hidden"), "filter not shown");
    for (scheme, v) in [("light", "1"), ("dark", "0")] {
        let png = out.join(format!("listing-{scheme}.png"));
        let _ = std::fs::remove_file(&png);
        let (_, log2) = run(&[
            format!("--screenshot={}", png.display()),
            format!("--blink-settings=preferredColorScheme={v}"),
        ]);
        assert!(png.exists(), "no screenshot {}:\n{log2}", png.display());
        let all = format!("{log}\n{log2}");
        assert!(
            !all.contains("Content Security Policy"),
            "CSP violation reported:\n{all}"
        );
    }
}

/// The page offers writes only where the folder's rule allows them (`<body data-w>`: "2"
/// with WebDAV's MKCOL and MOVE built in, "1" without: files only), and nothing in the
/// server opens writes to other sites: a CORS preflight for a PUT gets no
/// Access-Control-Allow-* field.
#[test]
fn write_controls_only_where_writes_are_allowed() {
    let (_root, s) = setup(&["--listing", "--write", "/pub/alpha/"]);
    let body_tag = |path: &str| {
        let page = s.get(path).body_str();
        let at = page.find("<body").expect("a body");
        page[at..at + page[at..].find('>').unwrap() + 1].to_string()
    };
    assert_eq!(body_tag("/pub/"), "<body>");
    let w = if cfg!(feature = "dav") { "2" } else { "1" };
    assert_eq!(body_tag("/pub/alpha/"), format!("<body data-w=\"{w}\">"));
    let r = s.request(
        b"OPTIONS /pub/alpha/x HTTP/1.1\r\nHost: t\r\nOrigin: http://evil.example\r\n\
          Access-Control-Request-Method: PUT\r\nConnection: close\r\n\r\n",
    );
    for h in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
    ] {
        assert!(r.header(h).is_none(), "{h} sent");
    }
}
