//! Directories: the trailing-slash redirect (RFC 9110 §15.4.2), index files, 403 without an
//! index, and HTML listings with `--listing`.

mod common;

use common::*;

fn setup(extra: &[&str]) -> (TempRoot, Server) {
    let root = basic_root();
    root.file("sub/index.html", b"<p>sub index</p>\n");
    root.file("sub/home.html", b"<p>sub home</p>\n");
    root.file("bare/x.txt", b"x\n");
    root.file("my dir/index.html", b"spaced dir\n");
    let s = Server::start(&root.www, extra);
    (root, s)
}

/// RFC 9110 §15.4.2: a directory's URL ends in `/`; without it the server answers 301 with a
/// Location that adds it (keeping the query), so relative links in the index resolve.
#[test]
fn rfc9110_15_4_2_directory_without_slash_is_301() {
    let (_root, s) = setup(&[]);
    let r = s.get("/sub");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/"));
    let r = s.get("/sub?x=1&y=%20");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/?x=1&y=%20"));
    let r = s.get("/bare");
    assert_eq!((r.status, r.header("location")), (301, Some("/bare/")));
    // The Location is a valid URI reference: the space is percent-encoded.
    let r = s.get("/my%20dir");
    assert_eq!((r.status, r.header("location")), (301, Some("/my%20dir/")));
}

/// RFC 9110 §9.3.1: the representation of a directory URL is its index file (index.html by
/// default).
#[test]
fn rfc9110_9_3_1_directory_serves_its_index() {
    let (_root, s) = setup(&[]);
    let r = s.get("/sub/");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"<p>sub index</p>\n"[..])
    );
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let r = s.get("/sub/index.html");
    assert_eq!(r.body, b"<p>sub index</p>\n");
}

/// RFC 9110 §15.5.4: a directory without an index is not listed by default: 403 Forbidden.
#[test]
fn rfc9110_15_5_4_directory_without_index_is_403() {
    let (_root, s) = setup(&[]);
    let r = s.get("/bare/");
    assert_eq!(r.status, 403);
    assert!(
        !contains(&r.body, b"x.txt"),
        "the 403 page lists the directory"
    );
    // The root has no index.html either.
    assert_eq!(s.get("/").status, 403);
}

/// RFC 9110 §9.3.1: GET of a directory transfers the representation the server selects for
/// it; `--index NAME` changes which file that is.
#[test]
fn rfc9110_9_3_1_index_flag_changes_the_index_file() {
    let (_root, s) = setup(&["--index", "home.html"]);
    let r = s.get("/sub/");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"<p>sub home</p>\n"[..])
    );
}

/// RFC 9110 §9.3.1: with `--listing`, the representation of a directory without an index is
/// an HTML list: directories first, each
/// group sorted by name, names HTML-escaped (no markup injection) and links percent-encoded
/// (RFC 3986 §2.1) so that following one serves the file.
#[test]
fn rfc9110_9_3_1_listing_is_sorted_escaped_and_followable() {
    let root = TempRoot::new();
    root.file("list/b.txt", b"bee\n");
    root.file("list/a.txt", b"ay\n");
    root.file("list/<b>&.txt", b"tricky\n");
    root.file("list/zdir/z.txt", b"z\n");
    root.file("list/adir/a.txt", b"a\n");
    root.file("list/.dot", b"dot\n");
    let s = Server::start(&root.www, &["--listing"]);
    let r = s.get("/list/");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let page = r.body_str();
    assert!(!page.contains("<b>"), "raw <b> in the listing:\n{page}");
    assert!(
        page.contains("&lt;b&gt;&amp;.txt"),
        "escaped name missing:\n{page}"
    );
    assert!(!page.contains(".dot"), "dotfile listed without --dotfiles");

    // Links of the list's rows in page order (the parent link left out), HTML-unescaped: none
    // holds a raw `<` or `>`, and each percent-decodes to its name.
    let rows = page
        .split_once("<tbody>")
        .and_then(|(_, rest)| rest.split_once("</tbody>"))
        .map_or("", |(rows, _)| rows);
    let hrefs: Vec<String> = rows
        .split("<a href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|h| *h != "../")
        .map(|h| h.replace("&amp;", "&").trim_start_matches("./").to_string())
        .collect();
    for h in &hrefs {
        assert!(
            !h.contains('<') && !h.contains('>'),
            "link not percent-encoded: {h:?}"
        );
    }
    let names: Vec<String> = hrefs.iter().map(|h| percent_decode(h)).collect();
    assert_eq!(
        names,
        ["adir/", "zdir/", "<b>&.txt", "a.txt", "b.txt"],
        "\n{page}"
    );

    // Following the encoded link serves the tricky file.
    let r = s.get(&format!("/list/{}", hrefs[2]));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"tricky\n"[..]));
    // A directory with an index is still served by its index, not listed.
    root.file("list/adir/index.html", b"adir index\n");
    assert_eq!(s.get("/list/adir/").body, b"adir index\n");
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad escape in {s:?}")));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| panic!("{s:?} is not UTF-8 once decoded"))
}
