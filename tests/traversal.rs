//! The document root is a boundary (RFC 9110 §17.3 "Attacks Based on File and Path Names",
//! RFC 3986 §5.2.4 dot segments): no request target, however encoded, and no symlink inside
//! the root reaches a file outside it. Dotfiles stay hidden unless `--dotfiles` is given.
//!
//! The secret lives beside the docroot (`base/secret.txt`, the docroot is `base/www`), so
//! `/../secret.txt` would name it if dot segments were not resolved first.

mod common;

use common::*;

const SECRET: &[u8] = b"TOP-SECRET: this must never be served\n";

fn setup(extra: &[&str]) -> (TempRoot, Server) {
    let root = basic_root();
    root.outside("secret.txt", SECRET);
    root.dir("a/b");
    let s = Server::start(&root.www, extra);
    (root, s)
}

fn assert_not_leaked(s: &Server, target: &str, allowed: &[u16]) {
    let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut c = s.connect();
    c.send(raw.as_bytes());
    let bytes = c.read_to_end();
    assert!(
        !contains(&bytes, b"TOP-SECRET"),
        "{target} leaked the secret"
    );
    let rs = parse_all(&bytes).unwrap_or_else(|e| panic!("{target}: {e}"));
    assert_eq!(rs.len(), 1, "{target}: expected one response");
    assert!(
        allowed.contains(&rs[0].status),
        "{target}: status {} not in {allowed:?}",
        rs[0].status
    );
}

/// RFC 3986 §5.2.4: dot segments are removed before the path is used; a path that would
/// climb above the root, in any spelling (percent-encoded dots, encoded slash, overlong
/// UTF-8, double encoding, NUL, absolute-form), is refused with 400 or 404.
#[test]
fn rfc3986_5_2_4_dot_segments_never_leave_the_root() {
    let (_root, s) = setup(&[]);
    // The control: the docroot itself is served.
    assert_eq!(s.get("/hello.txt").body, HELLO);
    for target in [
        "/../secret.txt",
        "/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/a/%2e%2e/%2e%2e/secret.txt",
        "/a/b/../../../secret.txt",
        "/a/..%2f..%2fsecret.txt",
        "/hello.txt%00/../../secret.txt",
        "/%00../secret.txt",
        "/..%00/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%c0%2e%c0%2e/secret.txt",
        "/%252e%252e/secret.txt",
        "/%252e%252e%252fsecret.txt",
        "/..%5csecret.txt",
        "http://h/../secret.txt",
        "http://h/%2e%2e/secret.txt",
        "http://h/a/../../secret.txt",
    ] {
        assert_not_leaked(&s, target, &[400, 404]);
    }
}

/// RFC 9110 §17.3: the server must not "provide access to files not intended to be
/// resources". A symlink inside the root that points outside it (relative, absolute, or to a
/// directory outside) is never followed out of the root: 403 or 404, never the secret. By
/// default no symlink is followed at all; `--follow-symlinks` follows those that stay inside.
#[test]
fn rfc9110_17_3_symlinks_out_of_the_root_are_not_followed() {
    for follow in [false, true] {
        let flags: &[&str] = if follow { &["--follow-symlinks"] } else { &[] };
        let (root, s) = setup(flags);
        let secret = root.base.join("secret.txt");
        std::os::unix::fs::symlink("../secret.txt", root.www.join("rel-link.txt")).unwrap();
        std::os::unix::fs::symlink(&secret, root.www.join("abs-link.txt")).unwrap();
        std::os::unix::fs::symlink("..", root.www.join("up")).unwrap();
        std::os::unix::fs::symlink(&root.base, root.www.join("a/b/abs-dir")).unwrap();
        // A symlink that stays inside: a name like any other only with --follow-symlinks.
        std::os::unix::fs::symlink("hello.txt", root.www.join("inside-link.txt")).unwrap();
        std::os::unix::fs::symlink("a", root.www.join("inside-dir")).unwrap();
        root.file("a/in-a.txt", b"in a\n");
        let r = s.get("/inside-link.txt");
        let d = s.get("/inside-dir/in-a.txt");
        if follow {
            assert_eq!(r.body, HELLO, "a symlink within the root, followed");
            assert_eq!(
                d.body, b"in a\n",
                "a directory symlink within the root, followed"
            );
        } else {
            assert_eq!(r.status, 404, "a symlink within the root, by default");
            assert_eq!(
                d.status, 404,
                "a directory symlink within the root, by default"
            );
        }
        assert_eq!(
            s.get("/a/in-a.txt").body,
            b"in a\n",
            "the real path (follow={follow})"
        );
        for target in [
            "/rel-link.txt",
            "/abs-link.txt",
            "/up/secret.txt",
            "/a/b/abs-dir/secret.txt",
            "/up/www/../secret.txt",
        ] {
            assert_not_leaked(&s, target, &[400, 403, 404]);
        }
    }
}

/// RFC 9110 §17.3, over time: a file served a moment ago (so possibly cached) and then
/// replaced by a symlink to a file outside the root is not followed; neither is a directory
/// replaced by a symlink to a directory outside.
#[test]
fn rfc9110_17_3_file_swapped_for_an_outside_symlink_is_not_followed() {
    let (root, s) = setup(&["--follow-symlinks"]);
    root.file("swap.txt", b"harmless\n");
    root.file("dir/f.txt", b"harmless too\n");
    root.outside("f.txt", SECRET);
    let mut c = s.connect();
    for _ in 0..2 {
        for path in ["/swap.txt", "/dir/f.txt"] {
            c.send(&get_req(path));
            assert_eq!(c.response().status, 200, "{path}");
        }
    }
    std::fs::remove_file(root.www.join("swap.txt")).unwrap();
    std::os::unix::fs::symlink(root.base.join("secret.txt"), root.www.join("swap.txt")).unwrap();
    std::fs::remove_dir_all(root.www.join("dir")).unwrap();
    std::os::unix::fs::symlink(&root.base, root.www.join("dir")).unwrap();
    for path in ["/swap.txt", "/dir/f.txt"] {
        c.send(&get_req(path));
        let r = c.response();
        assert!(
            !contains(&r.body, b"TOP-SECRET"),
            "{path} leaked the secret"
        );
        assert!([403, 404].contains(&r.status), "{path}: {}", r.status);
    }
}

/// Names starting with `.` (`.hidden`, `.git/config`) are not served by default: 404, as if
/// absent, so their existence is not disclosed (RFC 9110 §17.3).
#[test]
fn rfc9110_17_3_dotfiles_are_hidden_by_default() {
    let root = basic_root();
    root.file(".hidden", b"hidden\n");
    root.file(".git/config", b"[core]\n");
    let s = Server::start(&root.www, &[]);
    for target in [
        "/.hidden",
        "/.git/config",
        "/.git/",
        "/%2ehidden",
        "/a/../.hidden",
    ] {
        let r = s.get(target);
        assert_eq!(r.status, 404, "{target}");
        assert!(
            !contains(&r.body, b"hidden\n") && !contains(&r.body, b"[core]"),
            "{target}"
        );
    }
}

/// With `--dotfiles` the same names are served.
#[test]
fn rfc9110_17_3_dotfiles_are_served_with_the_flag() {
    let root = basic_root();
    root.file(".hidden", b"hidden\n");
    root.file(".git/config", b"[core]\n");
    let s = Server::start(&root.www, &["--dotfiles"]);
    assert_eq!(
        (s.get("/.hidden").status, s.get("/.hidden").body),
        (200, b"hidden\n".to_vec())
    );
    let r = s.get("/.git/config");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"[core]\n"[..]));
}
