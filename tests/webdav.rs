//! WebDAV class 1 under `--write /dav/` (RFC 4918): OPTIONS, MKCOL, PROPFIND, PROPPATCH,
//! COPY and MOVE, their error cases, hostile XML, a streamed PROPFIND of a large folder, dead
//! properties across a restart, the safety rules of COPY and MOVE, class 2 locks (tied to
//! the user who took them under `--auth-file`), and the litmus suites, with and without
//! credentials, when `litmus` is installed.

#![cfg(feature = "dav")]

mod common;

use common::*;
use std::time::Duration;

fn dav_server(root: &TempRoot, extra: &[&str]) -> Server {
    root.dir("dav");
    let mut args = vec!["--write", "/dav/"];
    args.extend_from_slice(extra);
    Server::start(&root.www, &args)
}

/// `dav_server` with `--auth-file`: a credentials file of these users and passwords
/// (bcrypt at its lowest cost, so that each check is quick).
fn dav_server_for(root: &TempRoot, users: &[(&str, &str)]) -> Server {
    let lines: String = users
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap()))
        .collect();
    let file = root.outside("users", lines.as_bytes());
    dav_server(root, &["--auth-file", file.to_str().unwrap()])
}

/// A request with `fields` and `body`, on a connection of its own.
fn call(s: &Server, method: &str, path: &str, fields: &[(&str, &str)], body: &str) -> Response {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (n, v) in fields {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() {
        r.push_str(&format!(
            "Content-Type: application/xml\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    r.push_str("\r\n");
    r.push_str(body);
    s.request(r.as_bytes())
}

/// A PROPFIND of Depth 1 (a chunked answer, which `Response` does not parse): the raw
/// bytes of the answer, as text.
fn propfind_1(s: &Server, path: &str) -> String {
    let mut c = s.connect();
    c.send(
        format!("PROPFIND {path} HTTP/1.1\r\nHost: t\r\nDepth: 1\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    String::from_utf8_lossy(&c.read_to_end()).into_owned()
}

/// A COPY or MOVE of `from` to `dest` (a Destination value), with `fields` besides.
fn send_to(s: &Server, method: &str, from: &str, dest: &str, fields: &[(&str, &str)]) -> Response {
    let mut all = vec![("Destination", dest)];
    all.extend_from_slice(fields);
    call(s, method, from, &all, "")
}

const ALLPROP: &str =
    r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#;

fn set_prop(s: &Server, path: &str, local: &str, value: &str) -> Response {
    let body = format!(
        r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:test"><D:set><D:prop><Z:{local}>{value}</Z:{local}></D:prop></D:set></D:propertyupdate>"#
    );
    call(s, "PROPPATCH", path, &[], &body)
}

fn get_prop(s: &Server, path: &str, local: &str) -> Response {
    let body = format!(
        r#"<?xml version="1.0"?><propfind xmlns="DAV:"><prop><q:{local} xmlns:q="urn:test"/></prop></propfind>"#
    );
    call(s, "PROPFIND", path, &[("Depth", "0")], &body)
}

#[test]
fn rfc4918_10_1_options_says_class_1_and_2_under_write_prefixes_only() {
    let root = basic_root();
    let s = dav_server(&root, &[]);
    let r = call(&s, "OPTIONS", "/dav/", &[], "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("dav"), Some("1, 2"), "class 2: locks");
    assert_eq!(r.header("ms-author-via"), Some("DAV"));
    let allow = r.header("allow").unwrap_or("");
    for m in ["PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE"] {
        assert!(allow.contains(m), "Allow: {allow}");
    }
    assert_eq!(
        call(&s, "OPTIONS", "/hello.txt", &[], "").header("dav"),
        None
    );
    assert_eq!(
        call(&s, "LOCK", "/dav/", &[], "").status,
        400,
        "a LOCK needs a body or If"
    );
    assert_eq!(call(&s, "LOCK", "/hello.txt", &[], LOCK_EXCL).status, 405);
}

#[test]
fn rfc4918_9_3_mkcol() {
    let root = basic_root();
    let s = dav_server(&root, &[]);
    assert_eq!(call(&s, "MKCOL", "/dav/a/", &[], "").status, 201);
    assert!(root.www.join("dav/a").is_dir());
    assert_eq!(call(&s, "MKCOL", "/dav/a/", &[], "").status, 405, "exists");
    assert_eq!(
        call(&s, "MKCOL", "/dav/x/y/", &[], "").status,
        409,
        "no parent"
    );
    assert_eq!(
        call(&s, "MKCOL", "/dav/b/", &[], "<x/>").status,
        415,
        "§9.3.1: a body it does not understand"
    );
    assert!(!root.www.join("dav/b").exists());
    assert_eq!(call(&s, "MKCOL", "/c/", &[], "").status, 405, "outside");
    assert!(!root.www.join("c").exists());
}

#[test]
fn rfc4918_9_1_propfind_depths_and_properties() {
    let root = basic_root();
    root.file("dav/d/f.txt", b"four");
    let s = dav_server(&root, &[]);
    let r = call(&s, "PROPFIND", "/dav/d/f.txt", &[("Depth", "0")], ALLPROP);
    assert_eq!(r.status, 207);
    let b = r.body_str();
    for want in [
        "<D:getcontentlength>4</D:getcontentlength>",
        "<D:href>/dav/d/f.txt</D:href>",
        "<D:getetag>\"",
        "<D:getlastmodified>",
        "<D:creationdate>",
        "<D:displayname>f.txt</D:displayname>",
        "<D:getcontenttype>text/plain",
    ] {
        assert!(b.contains(want), "{want} in {b}");
    }
    let b = propfind_1(&s, "/dav/d/");
    assert!(b.starts_with("HTTP/1.1 207"), "an empty body is allprop");
    assert!(b.contains("<D:href>/dav/d/</D:href>") && b.contains("<D:collection/>"));
    assert!(b.contains("<D:href>/dav/d/f.txt</D:href>"));
    // §9.1: infinity may be refused, and says why.
    let r = call(&s, "PROPFIND", "/dav/d/", &[("Depth", "infinity")], "");
    assert_eq!(r.status, 403);
    assert!(r.body_str().contains("propfind-finite-depth"));
    // A property it does not have: 404 in its propstat.
    let r = get_prop(&s, "/dav/d/f.txt", "none");
    assert_eq!(r.status, 207);
    assert!(r.body_str().contains("404 Not Found"));
    assert_eq!(
        call(&s, "PROPFIND", "/dav/nothing", &[("Depth", "0")], "").status,
        404
    );
    // Read access: refused where neither listing nor writing is on.
    assert_eq!(
        call(&s, "PROPFIND", "/hello.txt", &[("Depth", "0")], "").status,
        405
    );
}

#[test]
fn rfc4918_8_2_malformed_and_hostile_xml_is_400_in_bounded_memory() {
    let root = basic_root();
    let s = dav_server(&root, &[]);
    let before = vm_rss(s.pid());
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><D:propfind xmlns:D="DAV:"><D:prop>&d;</D:prop></D:propfind>"#;
    // 10,000 levels opened (their ends would pass the body limit): refused at the depth
    // limit, long before the end.
    let deep = format!("<D:propfind xmlns:D=\"DAV:\">{}", "<a>".repeat(10_000));
    for (what, body) in [
        (
            "malformed",
            "<D:propfind xmlns:D=\"DAV:\"><D:prop></D:propfind>".to_string(),
        ),
        ("undeclared prefix", "<x:propfind/>".to_string()),
        (
            "prefix bound to nothing",
            r#"<propfind xmlns="DAV:"><prop><bar:foo xmlns:bar=""/></prop></propfind>"#.to_string(),
        ),
        ("XML bomb", bomb.to_string()),
        ("10,000 levels", deep),
    ] {
        let r = call(&s, "PROPFIND", "/dav/", &[("Depth", "0")], &body);
        assert_eq!(r.status, 400, "{what}");
    }
    let r = call(&s, "PROPPATCH", "/dav/", &[], "<nope");
    assert_eq!(r.status, 400);
    // Past the body limit: 413, before the body is read.
    let big = format!(
        "<D:propfind xmlns:D=\"DAV:\">{}</D:propfind>",
        " ".repeat(70_000)
    );
    assert_eq!(call(&s, "PROPFIND", "/dav/", &[], &big).status, 413);
    let grew = vm_rss(s.pid()).saturating_sub(before);
    assert!(grew < 16 << 20, "RSS grew by {grew} bytes");
}

/// A PROPFIND of a folder of 20,000 files is sent as it is made: the server's memory stays
/// small although the answer is megabytes.
#[test]
fn propfind_of_a_large_folder_streams() {
    let root = basic_root();
    let dir = root.dir("dav/big");
    for i in 0..20_000 {
        std::fs::write(dir.join(format!("file-{i:05}.txt")), b"").unwrap();
    }
    root.file("dav/small/a.txt", b"a");
    let s = dav_server(&root, &["--workers", "1"]);
    // The same code once on a small folder first, so that what is measured is the answer's
    // memory (under qemu-user, the emulator's translations count in the RSS too).
    assert!(propfind_1(&s, "/dav/small/").starts_with("HTTP/1.1 207"));
    let before = vm_rss(s.pid());
    assert!(before > 0, "could not read the server's VmRSS");
    let mut c = s.connect();
    c.send(b"PROPFIND /dav/big/ HTTP/1.1\r\nHost: t\r\nDepth: 1\r\nConnection: close\r\n\r\n");
    let raw = c.read_to_end();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 207"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(text.contains("Transfer-Encoding: chunked"));
    assert_eq!(text.matches("<D:response>").count(), 20_001);
    assert!(text.contains("</D:multistatus>"));
    assert!(raw.len() > 8 << 20, "the answer is {} bytes", raw.len());
    let grew = vm_rss(s.pid()).saturating_sub(before);
    // Built whole, the answer would cost its size at least (11 MB); streamed, a piece.
    assert!(
        grew < 6 << 20,
        "RSS grew by {grew} bytes for a {} byte answer",
        raw.len()
    );
}

#[test]
fn rfc4918_9_2_dead_properties_persist_and_follow_move_and_copy() {
    let root = basic_root();
    root.file("dav/a.txt", b"a");
    let s = dav_server(&root, &[]);
    let r = set_prop(&s, "/dav/a.txt", "color", "blue &amp; green");
    assert_eq!(r.status, 207);
    assert!(r.body_str().contains("200 OK"), "{}", r.body_str());
    // Live properties are protected, and all-or-nothing holds (§9.2): 403 and 424.
    let r = call(
        &s,
        "PROPPATCH",
        "/dav/a.txt",
        &[],
        r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag><Q:x xmlns:Q="urn:test">1</Q:x></D:prop></D:set></D:propertyupdate>"#,
    );
    let b = r.body_str();
    assert!(
        b.contains("403 Forbidden") && b.contains("424 Failed Dependency"),
        "{b}"
    );
    assert!(
        !get_prop(&s, "/dav/a.txt", "x")
            .body_str()
            .contains("200 OK")
    );
    drop(s);
    // A restart keeps them.
    let s = dav_server(&root, &[]);
    let b = get_prop(&s, "/dav/a.txt", "color").body_str();
    assert!(b.contains("blue &amp; green</P:color>"), "{b}");
    let dest = |p: &str| format!("http://t{p}");
    let r = send_to(&s, "COPY", "/dav/a.txt", &dest("/dav/b.txt"), &[]);
    assert_eq!(r.status, 201);
    assert!(
        get_prop(&s, "/dav/b.txt", "color")
            .body_str()
            .contains("blue")
    );
    let r = send_to(&s, "MOVE", "/dav/b.txt", &dest("/dav/c.txt"), &[]);
    assert_eq!(r.status, 201);
    assert!(
        get_prop(&s, "/dav/c.txt", "color")
            .body_str()
            .contains("blue")
    );
    assert_eq!(s.get("/dav/b.txt").status, 404);
    assert_eq!(s.get("/dav/c.txt").body, b"a");
}

#[test]
fn rfc4918_9_8_9_9_copy_and_move() {
    let root = basic_root();
    root.file("dav/src/one.txt", b"1");
    root.file("dav/src/sub/two.txt", b"2");
    root.file("dav/old/stale.txt", b"stale");
    root.file("dav/f.txt", b"f");
    let s = dav_server(&root, &[]);
    let d = |p: &str| format!("http://t{p}");
    // COPY of a collection, deep (§9.8.3), and shallow.
    assert_eq!(
        send_to(&s, "COPY", "/dav/src/", &d("/dav/copy/"), &[]).status,
        201
    );
    assert_eq!(s.get("/dav/copy/sub/two.txt").body, b"2");
    let r = send_to(
        &s,
        "COPY",
        "/dav/src/",
        &d("/dav/shallow/"),
        &[("Depth", "0")],
    );
    assert_eq!(r.status, 201);
    assert!(
        root.www.join("dav/shallow").is_dir() && !root.www.join("dav/shallow/one.txt").exists()
    );
    // Overwrite: F and an existing destination: 412, nothing changes.
    let r = send_to(
        &s,
        "COPY",
        "/dav/f.txt",
        &d("/dav/copy/one.txt"),
        &[("Overwrite", "F")],
    );
    assert_eq!(r.status, 412);
    assert_eq!(s.get("/dav/copy/one.txt").body, b"1");
    // MOVE onto an existing collection with Overwrite: T replaces it whole: 204.
    let r = send_to(
        &s,
        "MOVE",
        "/dav/src/",
        &d("/dav/old/"),
        &[("Overwrite", "T")],
    );
    assert_eq!(r.status, 204);
    assert!(!root.www.join("dav/old/stale.txt").exists());
    assert_eq!(s.get("/dav/old/sub/two.txt").body, b"2");
    assert!(!root.www.join("dav/src").exists());
    // Swapped in one step (RENAME_EXCHANGE), the old tree then removed: nothing is left.
    let left: Vec<_> = std::fs::read_dir(root.www.join("dav"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A file over a file, and a file over a collection.
    root.file("dav/x.txt", b"x");
    root.file("dav/y.txt", b"y");
    assert_eq!(
        send_to(&s, "MOVE", "/dav/x.txt", "/dav/y.txt", &[]).status,
        204
    );
    assert_eq!(s.get("/dav/y.txt").body, b"x");
    assert_eq!(
        send_to(&s, "MOVE", "/dav/y.txt", "/dav/old", &[]).status,
        204
    );
    assert_eq!(s.get("/dav/old").body, b"x");
    // No parent at the destination: 409.
    let r = send_to(&s, "COPY", "/dav/f.txt", &d("/dav/no/such/f.txt"), &[]);
    assert_eq!(r.status, 409);
    // A bare path is a destination too (§10.3 allows an absolute path).
    assert_eq!(
        send_to(&s, "COPY", "/dav/f.txt", "/dav/g.txt", &[]).status,
        201
    );
}

#[test]
fn copy_and_move_stay_on_this_server_under_a_write_prefix() {
    let root = basic_root();
    root.file("dav/f.txt", b"f");
    root.dir("dav/d");
    let s = dav_server(&root, &[]);
    // Another host: a gateway that cannot go there (§9.8.4, 502).
    let r = send_to(
        &s,
        "COPY",
        "/dav/f.txt",
        "http://elsewhere.example/dav/x",
        &[],
    );
    assert_eq!(r.status, 502);
    // Outside the write prefix: 403, and nothing is written there.
    let r = send_to(&s, "COPY", "/dav/f.txt", "http://t/f.txt", &[]);
    assert_eq!(r.status, 403);
    assert!(!root.www.join("f.txt").exists());
    let r = send_to(&s, "MOVE", "/dav/f.txt", "http://t/dav/../f.txt", &[]);
    assert!(r.status == 403 || r.status == 400, "{}", r.status);
    assert!(root.www.join("dav/f.txt").exists());
    // Onto itself, into itself: 403.
    assert_eq!(
        send_to(&s, "COPY", "/dav/d/", "http://t/dav/d/in/", &[]).status,
        403
    );
    assert_eq!(
        send_to(&s, "MOVE", "/dav/f.txt", "http://t/dav/f.txt", &[]).status,
        403
    );
    // The root and the prefix itself never move; DELETE / stays refused.
    assert_eq!(
        send_to(&s, "MOVE", "/", "http://t/dav/root/", &[]).status,
        405
    );
    assert_eq!(
        send_to(&s, "MOVE", "/dav/", "http://t/dav/x/", &[]).status,
        403
    );
    assert_eq!(call(&s, "DELETE", "/", &[], "").status, 405);
    assert!(root.www.join("hello.txt").exists());
    assert!(root.www.join("dav").is_dir());
}

#[test]
fn no_method_follows_a_symlink_out_of_the_root() {
    let root = basic_root();
    let secret = root.outside("secret.txt", b"secret");
    root.dir("dav");
    std::os::unix::fs::symlink(&secret, root.www.join("dav/link")).unwrap();
    std::os::unix::fs::symlink(&root.base, root.www.join("dav/out")).unwrap();
    let s = dav_server(&root, &["--follow-symlinks"]);
    let r = send_to(&s, "COPY", "/dav/link", "http://t/dav/copy", &[]);
    assert_eq!(r.status, 403);
    assert!(!root.www.join("dav/copy").exists());
    for path in ["/dav/out/secret.txt", "/dav/link"] {
        let r = call(&s, "PROPFIND", path, &[("Depth", "0")], "");
        assert_ne!(r.status, 207, "{path}");
    }
    let listing = propfind_1(&s, "/dav/");
    assert!(
        listing.contains("207") && !listing.contains("secret"),
        "{listing}"
    );
    assert_eq!(call(&s, "MKCOL", "/dav/out/new/", &[], "").status, 409);
    assert!(!root.base.join("new").exists());
    // A LOCK of an unmapped URL through the link makes nothing outside either.
    assert_eq!(
        call(&s, "LOCK", "/dav/out/made.txt", &[], LOCK_EXCL).status,
        409
    );
    assert!(!root.base.join("made.txt").exists());
    // A LOCK of the link itself locks the URL; it creates or opens nothing.
    assert_eq!(call(&s, "LOCK", "/dav/link", &[], LOCK_EXCL).status, 200);
    assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
}

/// litmus (Debian's package), the suites this server claims: basic, copymove, props, locks,
/// http; none fails, and none warns.
/// Skipped, saying why, where it is not installed; bounded by its own timeout.
#[test]
fn litmus_suites_pass() {
    let root = basic_root();
    let s = dav_server(&root, &[]);
    run_litmus(&root, &s, &[]);
}

/// The same suites with `--auth-file`, every request with one user's credentials: tying a
/// lock to the user who took it (RFC 4918 §6.4) changes nothing for a client that is one
/// principal throughout.
#[test]
fn litmus_suites_pass_with_credentials() {
    let root = basic_root();
    let s = dav_server_for(&root, &[("alice", "s3cret")]);
    run_litmus(&root, &s, &["alice", "s3cret"]);
}

/// Run litmus's suites against `s`'s /dav/ (with `credentials`, a user and a password, if
/// any) and check that none fails or warns; skipped, saying so, without litmus.
fn run_litmus(root: &TempRoot, s: &Server, credentials: &[&str]) {
    if !have("litmus") {
        eprintln!("SKIPPED: litmus is not installed (apt-get install litmus)");
        return;
    }
    let url = format!("http://{}/dav/", s.addr());
    let cwd = root.base.join("litmus");
    std::fs::create_dir_all(&cwd).unwrap();
    let out = std::process::Command::new("timeout")
        .args([
            &scaled(Duration::from_secs(120)).as_secs().to_string(),
            "litmus",
            "-k",
            &url,
        ])
        .args(credentials)
        .env("TESTS", "basic copymove props locks http")
        .current_dir(&cwd)
        .output()
        .expect("run litmus");
    let text = String::from_utf8_lossy(&out.stdout);
    let summaries: Vec<&str> = text.lines().filter(|l| l.contains("summary for")).collect();
    eprintln!("{}", summaries.join("\n"));
    assert_eq!(summaries.len(), 5, "{text}");
    for l in summaries {
        assert!(l.contains(" 0 failed"), "{l}\n{text}");
    }
    assert!(!text.contains("WARNING"), "{text}");
}

/// A WebDAV body is due whole within `--header-timeout` of its head: a client that trickles
/// it gets 408, however steadily it sends (no slot held for ever by 64 KiB at a byte a second).
#[test]
fn a_trickled_webdav_body_times_out() {
    let root = basic_root();
    let s = dav_server(&root, &["--header-timeout", "1"]);
    let mut c = s.connect();
    c.send(b"PROPFIND /dav/ HTTP/1.1\r\nHost: t\r\nDepth: 0\r\nContent-Length: 100\r\n\r\n<D:prop");
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(300));
        if !c.try_send(b" ") {
            break;
        }
    }
    let r = c.response();
    assert_eq!(r.status, 408);
}

const LOCK_EXCL: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:tester@example.org</D:href></D:owner></D:lockinfo>"#;
const LOCK_SHARED: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#;

/// The token of a LOCK's answer, from its Lock-Token field (without the angle brackets).
fn token_of(r: &Response) -> String {
    let t = r.header("lock-token").expect("Lock-Token");
    t.trim_start_matches('<').trim_end_matches('>').to_string()
}

fn if_token(t: &str) -> String {
    format!("(<{t}>)")
}

#[test]
fn rfc4918_9_10_exclusive_lock_refresh_and_unlock() {
    let root = basic_root();
    root.file("dav/a.txt", b"old");
    let s = dav_server(&root, &[]);
    let r = call(
        &s,
        "LOCK",
        "/dav/a.txt",
        &[("Timeout", "Second-600"), ("Depth", "0")],
        LOCK_EXCL,
    );
    assert_eq!(r.status, 200, "{}", r.body_str());
    let token = token_of(&r);
    assert!(
        token.starts_with("urn:uuid:") && token.len() == 45,
        "{token}"
    );
    let b = r.body_str();
    for want in [
        "<D:lockdiscovery><D:activelock>",
        "<D:exclusive/>",
        "<D:depth>0</D:depth>",
        "<D:timeout>Second-600</D:timeout>",
        "mailto:tester@example.org",
        &format!("<D:locktoken><D:href>{token}</D:href>"),
        "<D:lockroot><D:href>/dav/a.txt</D:href>",
    ] {
        assert!(b.contains(want), "{want} in {b}");
    }
    // §7.1: a write without the token is 423 with lock-token-submitted, and writes nothing.
    let r = call(&s, "PUT", "/dav/a.txt", &[], "new");
    assert_eq!(r.status, 423);
    assert!(
        r.body_str().contains(
            "<D:lock-token-submitted><D:href>/dav/a.txt</D:href></D:lock-token-submitted>"
        ),
        "§16: it names the locked resource: {}",
        r.body_str()
    );
    assert_eq!(std::fs::read(root.www.join("dav/a.txt")).unwrap(), b"old");
    for (m, fields) in [
        ("DELETE", vec![]),
        ("MOVE", vec![("Destination", "/dav/b.txt")]),
        ("PROPPATCH", vec![]),
    ] {
        let body = if m == "PROPPATCH" {
            r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:x xmlns:Z="urn:z">1</Z:x></D:prop></D:set></D:propertyupdate>"#
        } else {
            ""
        };
        assert_eq!(call(&s, m, "/dav/a.txt", &fields, body).status, 423, "{m}");
    }
    root.file("dav/other.txt", b"o");
    assert_eq!(
        send_to(&s, "COPY", "/dav/other.txt", "/dav/a.txt", &[]).status,
        423,
        "a COPY onto it"
    );
    // Another exclusive or a shared lock conflicts: 423 no-conflicting-lock.
    let r = call(&s, "LOCK", "/dav/a.txt", &[], LOCK_SHARED);
    assert_eq!(r.status, 423);
    assert!(r.body_str().contains("no-conflicting-lock"));
    // With the token: the write goes through.
    let r = call(&s, "PUT", "/dav/a.txt", &[("If", &if_token(&token))], "new");
    assert_eq!(r.status, 204);
    assert_eq!(s.get("/dav/a.txt").body, b"new");
    // PROPFIND shows the lock and what can be locked.
    let r = call(&s, "PROPFIND", "/dav/a.txt", &[("Depth", "0")], ALLPROP);
    let b = r.body_str();
    assert!(b.contains(&token), "{b}");
    assert!(
        b.contains("<D:supportedlock><D:lockentry><D:lockscope><D:exclusive/>")
            && b.contains("<D:shared/>"),
        "{b}"
    );
    // §9.10.2 refresh: no body, the token in If; the timeout starts again, capped.
    let r = call(
        &s,
        "LOCK",
        "/dav/a.txt",
        &[("If", &if_token(&token)), ("Timeout", "Infinite")],
        "",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.body_str().contains("<D:timeout>Second-3600</D:timeout>"),
        "lock::MAX_TIMEOUT caps Infinite: {}",
        r.body_str()
    );
    let r = call(&s, "LOCK", "/dav/a.txt", &[("If", "(<urn:uuid:nope>)")], "");
    assert_eq!(r.status, 412, "a refresh of a lock it does not hold");
    // UNLOCK: a wrong token is 409; the right one 204, and then anyone may write.
    let r = call(
        &s,
        "UNLOCK",
        "/dav/a.txt",
        &[("Lock-Token", "<urn:uuid:x>")],
        "",
    );
    assert_eq!(r.status, 409);
    let r = call(
        &s,
        "UNLOCK",
        "/dav/a.txt",
        &[("Lock-Token", &format!("<{token}>"))],
        "",
    );
    assert_eq!(r.status, 204);
    assert_eq!(call(&s, "PUT", "/dav/a.txt", &[], "free").status, 204);
    // §10.4: a token of no lock fails the condition (412); a malformed If is 400.
    let r = call(&s, "PUT", "/dav/a.txt", &[("If", &if_token(&token))], "x");
    assert_eq!(r.status, 412);
    assert_eq!(s.get("/dav/a.txt").body, b"free");
    assert_eq!(
        call(&s, "PUT", "/dav/a.txt", &[("If", "(<a>")], "x").status,
        400
    );
}

#[test]
fn rfc4918_10_4_if_with_entity_tags_and_not() {
    let root = basic_root();
    root.file("dav/e.txt", b"e");
    let s = dav_server(&root, &[]);
    let etag = s.get("/dav/e.txt").header("etag").unwrap().to_string();
    let ok = format!("([{etag}])");
    let r = call(&s, "PUT", "/dav/e.txt", &[("If", "([\"stale\"])")], "x");
    assert_eq!(r.status, 412);
    let r = call(&s, "PUT", "/dav/e.txt", &[("If", &ok)], "y");
    assert_eq!(r.status, 204, "the current tag");
    // The tag changed with the write: the old one fails now; Not of it holds.
    assert_eq!(
        call(&s, "PUT", "/dav/e.txt", &[("If", &ok)], "z").status,
        412
    );
    let not = format!("(Not [{etag}])");
    assert_eq!(
        call(&s, "PUT", "/dav/e.txt", &[("If", &not)], "z").status,
        204
    );
    // A tagged list about another resource, on this server.
    root.file("dav/other.txt", b"o");
    let other = s.get("/dav/other.txt").header("etag").unwrap().to_string();
    let tagged = format!("<http://t/dav/other.txt> ([{other}])");
    assert_eq!(
        call(&s, "DELETE", "/dav/e.txt", &[("If", &tagged)], "").status,
        204
    );
    assert!(!root.www.join("dav/e.txt").exists());
}

#[test]
fn rfc4918_7_3_a_lock_on_an_unmapped_url_makes_an_empty_resource() {
    let root = basic_root();
    let s = dav_server(&root, &[]);
    let r = call(&s, "LOCK", "/dav/new.txt", &[], LOCK_EXCL);
    assert_eq!(r.status, 201);
    let token = token_of(&r);
    assert_eq!(std::fs::read(root.www.join("dav/new.txt")).unwrap(), b"");
    assert_eq!(call(&s, "PUT", "/dav/new.txt", &[], "x").status, 423);
    let r = call(&s, "PUT", "/dav/new.txt", &[("If", &if_token(&token))], "x");
    assert_eq!(r.status, 204);
    // No parent: 409, and nothing is locked or made.
    assert_eq!(
        call(&s, "LOCK", "/dav/no/x.txt", &[], LOCK_EXCL).status,
        409
    );
    assert!(!root.www.join("dav/no").exists());
}

#[test]
fn rfc4918_6_1_shared_locks_and_a_depth_infinity_lock_on_a_collection() {
    let root = basic_root();
    root.file("dav/c/in.txt", b"in");
    root.file("dav/c/sub/deep.txt", b"deep");
    root.file("dav/outside.txt", b"out");
    let s = dav_server(&root, &[]);
    let a = call(&s, "LOCK", "/dav/c/", &[], LOCK_SHARED);
    assert_eq!(a.status, 200);
    let b = call(&s, "LOCK", "/dav/c/", &[("Depth", "infinity")], LOCK_SHARED);
    assert_eq!(b.status, 200, "two shared locks share");
    let (ta, tb) = (token_of(&a), token_of(&b));
    assert_ne!(ta, tb);
    assert_eq!(
        call(&s, "LOCK", "/dav/c/sub/deep.txt", &[], LOCK_EXCL).status,
        423,
        "a member of a deep shared lock is not locked exclusively"
    );
    // Every member is locked: each write needs a token; the 423 names the lock's root.
    let r = call(&s, "PUT", "/dav/c/sub/deep.txt", &[], "x");
    assert_eq!(r.status, 423);
    assert!(
        r.body_str().contains("<D:href>/dav/c</D:href>"),
        "{}",
        r.body_str()
    );
    assert_eq!(call(&s, "PUT", "/dav/c/new.txt", &[], "x").status, 423);
    assert_eq!(call(&s, "MKCOL", "/dav/c/sub/m/", &[], "").status, 423);
    assert_eq!(call(&s, "DELETE", "/dav/c/in.txt", &[], "").status, 423);
    assert_eq!(
        send_to(&s, "MOVE", "/dav/outside.txt", "/dav/c/sub/o.txt", &[]).status,
        423,
        "a MOVE into it"
    );
    assert_eq!(
        send_to(&s, "MOVE", "/dav/c/in.txt", "/dav/moved.txt", &[]).status,
        423,
        "a MOVE out of it"
    );
    assert!(root.www.join("dav/outside.txt").exists() && root.www.join("dav/c/in.txt").exists());
    // A tagged list naming the collection submits its token for its members (litmus's
    // owner_modify): both locks cover them, so both tokens are needed.
    let both = format!("<http://t/dav/c/> (<{ta}>) (<{tb}>)");
    let r = call(&s, "PUT", "/dav/c/sub/deep.txt", &[("If", &both)], "ok");
    assert_eq!(r.status, 204);
    let only_b = format!("<http://t/dav/c/> (<{tb}>)");
    let r = call(&s, "PUT", "/dav/c/in.txt", &[("If", &only_b)], "ok");
    assert_eq!(r.status, 423, "the depth-0 lock's token is missing");
    // A DELETE of the collection needs them too; given, it drops the locks with it.
    assert_eq!(call(&s, "DELETE", "/dav/c/", &[], "").status, 423);
    assert_eq!(
        call(&s, "DELETE", "/dav/c/", &[("If", &both)], "").status,
        204
    );
    assert!(!root.www.join("dav/c").exists());
    let r = call(&s, "MKCOL", "/dav/c/", &[], "");
    assert_eq!(r.status, 201, "its locks went with it");
    assert_eq!(call(&s, "PUT", "/dav/c/x.txt", &[], "x").status, 201);
}

#[test]
fn a_move_of_a_locked_resource_takes_its_locks_away() {
    let root = basic_root();
    root.file("dav/m.txt", b"m");
    let s = dav_server(&root, &[]);
    let t = token_of(&call(&s, "LOCK", "/dav/m.txt", &[], LOCK_EXCL));
    let r = send_to(
        &s,
        "MOVE",
        "/dav/m.txt",
        "/dav/n.txt",
        &[("If", &if_token(&t))],
    );
    assert_eq!(r.status, 201);
    // Neither name is locked now: a lock is on a URL, and this one's resource left it.
    assert_eq!(call(&s, "PUT", "/dav/n.txt", &[], "n").status, 204);
    assert_eq!(call(&s, "PUT", "/dav/m.txt", &[], "m").status, 201);
    let r = call(&s, "PROPFIND", "/dav/m.txt", &[("Depth", "0")], ALLPROP);
    assert!(!r.body_str().contains("activelock"), "{}", r.body_str());
}

/// The lock table is bounded (`lock::MAX_LOCKS`, 2048): past it a LOCK gets 503 with a
/// reason, and the locks held still work.
#[test]
fn a_flood_of_locks_is_bounded() {
    let root = basic_root();
    root.file("dav/f.txt", b"f");
    let s = dav_server(&root, &[]);
    let mut c = s.connect();
    let req = format!(
        "LOCK /dav/f.txt HTTP/1.1\r\nHost: t\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{LOCK_SHARED}",
        LOCK_SHARED.len()
    );
    let mut first = None;
    for i in 0..2048 {
        c.send(req.as_bytes());
        let r = c.response();
        assert_eq!(r.status, 200, "lock {i}");
        first.get_or_insert_with(|| token_of(&r));
    }
    c.send(req.as_bytes());
    let r = c.response();
    assert_eq!(r.status, 503);
    assert!(r.body_str().contains("MAX_LOCKS"), "{}", r.body_str());
    assert!(r.header("retry-after").is_some());
    // One released makes room for one.
    let t = first.unwrap();
    let r = call(
        &s,
        "UNLOCK",
        "/dav/f.txt",
        &[("Lock-Token", &format!("<{t}>"))],
        "",
    );
    assert_eq!(r.status, 204);
    assert_eq!(call(&s, "LOCK", "/dav/f.txt", &[], LOCK_SHARED).status, 200);
    assert_eq!(call(&s, "LOCK", "/dav/f.txt", &[], LOCK_SHARED).status, 503);
}

/// The lock table is the process's, not the configuration's: a SIGHUP keeps every lock.
#[test]
fn locks_survive_a_reload() {
    let root = basic_root();
    root.file("dav/r.txt", b"r");
    let s = dav_server(&root, &[]);
    let t = token_of(&call(&s, "LOCK", "/dav/r.txt", &[], LOCK_EXCL));
    reload(&s);
    assert_eq!(call(&s, "PUT", "/dav/r.txt", &[], "x").status, 423);
    let r = call(&s, "PUT", "/dav/r.txt", &[("If", &if_token(&t))], "x");
    assert_eq!(r.status, 204);
}

/// §9.6.1, §9.8.8: a DELETE or COPY of a collection that fails for some members removes or
/// copies the others and answers 207 naming the members that failed.
#[test]
fn rfc4918_9_6_1_partial_failures_are_named_in_a_207() {
    let root = basic_root();
    root.file("dav/t/keep/stuck.txt", b"s");
    root.file("dav/t/gone.txt", b"g");
    root.file("dav/t/also/gone.txt", b"g");
    let stuck = root.www.join("dav/t/keep/stuck.txt");
    // Root may remove any file but an immutable one; others, none in a read-only folder.
    let root_user = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&stuck).unwrap().uid() == 0
    };
    let pinned = if root_user {
        std::process::Command::new("chattr")
            .arg("+i")
            .arg(&stuck)
            .status()
            .is_ok_and(|s| s.success())
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.www.join("dav/t/keep"),
            std::fs::Permissions::from_mode(0o555),
        )
        .is_ok()
    };
    if !pinned {
        eprintln!("SKIPPED: cannot make a file undeletable here (chattr +i)");
        return;
    }
    let s = dav_server(&root, &[]);
    let r = call(&s, "DELETE", "/dav/t/", &[], "");
    let unpin = || {
        if root_user {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&stuck)
                .status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(
                root.www.join("dav/t/keep"),
                std::fs::Permissions::from_mode(0o755),
            );
        }
    };
    unpin();
    assert_eq!(r.status, 207, "{}", r.body_str());
    let b = r.body_str();
    assert!(
        b.contains("<D:href>/dav/t/keep/stuck.txt</D:href><D:status>HTTP/1.1 403 Forbidden"),
        "{b}"
    );
    assert!(
        !b.contains("<D:href>/dav/t/keep</D:href>"),
        "no ancestor: {b}"
    );
    assert!(!root.www.join("dav/t/gone.txt").exists() && !root.www.join("dav/t/also").exists());
    assert!(stuck.exists());
    // COPY: a member that cannot be copied (a symlink) is named, the rest copied.
    root.file("dav/src/a.txt", b"a");
    std::os::unix::fs::symlink("a.txt", root.www.join("dav/src/link")).unwrap();
    let r = send_to(&s, "COPY", "/dav/src/", "/dav/dst/", &[]);
    assert_eq!(r.status, 207, "{}", r.body_str());
    assert!(
        r.body_str().contains("<D:href>/dav/dst/link</D:href>"),
        "{}",
        r.body_str()
    );
    assert_eq!(s.get("/dav/dst/a.txt").body, b"a");
}

/// The Windows mini-redirector's ways: OPTIONS before it authenticates (never asked for
/// credentials), LOCK and PROPPATCH before a save, and folders named without their
/// trailing slash.
#[test]
fn windows_style_requests() {
    let root = basic_root();
    let s = dav_server_for(&root, &[("alice", "s3cret")]);
    let r = call(&s, "OPTIONS", "/dav/", &[], "");
    assert_eq!(r.status, 200, "no credentials asked for OPTIONS");
    assert_eq!(r.header("dav"), Some("1, 2"));
    assert_eq!(call(&s, "LOCK", "/dav/doc.txt", &[], LOCK_EXCL).status, 401);
    let auth = ("Authorization", "Basic YWxpY2U6czNjcmV0");
    // A folder without its slash: made, described (with the slash), locked, moved, deleted.
    assert_eq!(
        call(&s, "MKCOL", "/dav/My%20Folder", &[auth], "").status,
        201
    );
    let r = call(
        &s,
        "PROPFIND",
        "/dav/My%20Folder",
        &[("Depth", "0")],
        ALLPROP,
    );
    assert!(
        r.body_str().contains("<D:href>/dav/My%20Folder/</D:href>"),
        "{}",
        r.body_str()
    );
    let r = call(&s, "LOCK", "/dav/My%20Folder", &[auth], LOCK_EXCL);
    assert_eq!(r.status, 200);
    let t = token_of(&r);
    let r = call(&s, "PUT", "/dav/My%20Folder/a.txt", &[auth], "a");
    assert_eq!(
        r.status, 423,
        "the folder's lock covers a new member (depth infinity)"
    );
    let tagged = format!("<http://t/dav/My%20Folder> (<{t}>)");
    let r = call(
        &s,
        "PUT",
        "/dav/My%20Folder/a.txt",
        &[auth, ("If", &tagged)],
        "a",
    );
    assert_eq!(r.status, 201);
    let props = r#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32LastModifiedTime>Sat, 05 Dec 2026 05:00:00 GMT</Z:Win32LastModifiedTime></D:prop></D:set></D:propertyupdate>"#;
    let r = call(
        &s,
        "PROPPATCH",
        "/dav/My%20Folder/a.txt",
        &[auth, ("If", &tagged)],
        props,
    );
    assert_eq!(r.status, 207);
    assert!(r.body_str().contains("200 OK"), "{}", r.body_str());
    let r = send_to(
        &s,
        "MOVE",
        "/dav/My%20Folder",
        "http://t/dav/Renamed",
        &[auth, ("If", &format!("(<{t}>)"))],
    );
    assert_eq!(r.status, 201);
    assert_eq!(s.get("/dav/Renamed/a.txt").body, b"a");
    assert_eq!(call(&s, "DELETE", "/dav/Renamed", &[auth], "").status, 204);
    assert!(!root.www.join("dav/Renamed").exists());
}

/// An UNLOCK of `path`'s lock `token` by the user of `who` (an Authorization field).
fn unlock_as(s: &Server, path: &str, token: &str, who: (&str, &str)) -> Response {
    let field = format!("<{token}>");
    call(s, "UNLOCK", path, &[who, ("Lock-Token", &field)], "")
}

/// Send a SIGHUP and wait until the server says it reloaded.
fn reload(s: &Server) {
    s.signal("HUP");
    let deadline = std::time::Instant::now() + scaled(Duration::from_secs(10));
    while !s.stderr_text().contains("reload") {
        assert!(std::time::Instant::now() < deadline, "{}", s.stderr_text());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// RFC 4918 §6.4: with `--auth-file` a lock is tied to the user who took it. Another
/// writer who submits its token is treated as if it had not (423 with
/// `lock-token-submitted`, for every method that writes, a refresh included), may not
/// UNLOCK it (403), and the lock stays; its creator's token works as before. The user
/// name is not shown: `lockdiscovery`'s owner is what the client sent.
#[test]
fn rfc4918_6_4_a_lock_token_counts_only_from_the_user_who_took_the_lock() {
    let root = basic_root();
    root.file("dav/a.txt", b"old");
    root.file("dav/other.txt", b"o");
    let s = dav_server_for(&root, &[("alice", "s3cret"), ("bob", "hunter2")]);
    let alice = ("Authorization", "Basic YWxpY2U6czNjcmV0"); // alice:s3cret
    let bob = ("Authorization", "Basic Ym9iOmh1bnRlcjI="); // bob:hunter2
    let r = call(
        &s,
        "LOCK",
        "/dav/a.txt",
        &[alice, ("Timeout", "Second-600"), ("Depth", "0")],
        LOCK_EXCL,
    );
    assert_eq!(r.status, 200, "{}", r.body_str());
    let t = token_of(&r);
    let if_t = if_token(&t);
    let with_t = |who| [who, ("If", if_t.as_str())];
    // Bob is a writer: what is not locked he may change.
    assert_eq!(call(&s, "PUT", "/dav/other.txt", &[bob], "bob").status, 204);

    let names_the_lock = |r: &Response, what: &str| {
        assert_eq!(r.status, 423, "{what}: {}", r.body_str());
        assert!(
            r.body_str().contains(
                "<D:lock-token-submitted><D:href>/dav/a.txt</D:href></D:lock-token-submitted>"
            ),
            "{what}: {}",
            r.body_str()
        );
    };
    names_the_lock(&call(&s, "PUT", "/dav/a.txt", &with_t(bob), "bob"), "PUT");
    names_the_lock(
        &call(&s, "DELETE", "/dav/a.txt", &with_t(bob), ""),
        "DELETE",
    );
    names_the_lock(
        &send_to(&s, "MOVE", "/dav/a.txt", "/dav/b.txt", &with_t(bob)),
        "MOVE",
    );
    let props = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Z:x xmlns:Z="urn:z">1</Z:x></D:prop></D:set></D:propertyupdate>"#;
    names_the_lock(
        &call(&s, "PROPPATCH", "/dav/a.txt", &with_t(bob), props),
        "PROPPATCH",
    );
    // A COPY onto it, the token in a list tagged with the destination.
    let tagged = format!("</dav/a.txt> {if_t}");
    names_the_lock(
        &send_to(
            &s,
            "COPY",
            "/dav/other.txt",
            "/dav/a.txt",
            &[bob, ("If", &tagged)],
        ),
        "COPY",
    );
    // A refresh (no body) is a write of the lock: the same 423, and the timeout not reset.
    let r = call(
        &s,
        "LOCK",
        "/dav/a.txt",
        &[bob, ("If", &if_t), ("Timeout", "Second-3600")],
        "",
    );
    names_the_lock(&r, "a refresh");
    // §9.11.1: 403 for an UNLOCK by a principal who may not remove the lock.
    let r = unlock_as(&s, "/dav/a.txt", &t, bob);
    assert_eq!(r.status, 403, "{}", r.body_str());

    // Nothing bob asked happened; the lock is still alice's, as she took it.
    assert_eq!(std::fs::read(root.www.join("dav/a.txt")).unwrap(), b"old");
    assert!(!root.www.join("dav/b.txt").exists());
    let r = call(&s, "PROPFIND", "/dav/a.txt", &[("Depth", "0")], ALLPROP);
    let b = r.body_str();
    assert!(b.contains(&t), "the lock stays: {b}");
    assert!(b.contains("<D:timeout>Second-600</D:timeout>"), "{b}");
    assert!(
        b.contains("mailto:tester@example.org"),
        "the owner as sent: {b}"
    );
    assert!(
        !b.contains("alice") && !b.contains("bob"),
        "no user name shown: {b}"
    );
    assert_eq!(call(&s, "PUT", "/dav/a.txt", &[bob], "bob").status, 423);
    assert_eq!(call(&s, "PUT", "/dav/a.txt", &[alice], "a").status, 423);

    // Alice's token works for her.
    let r = call(
        &s,
        "LOCK",
        "/dav/a.txt",
        &[alice, ("If", &if_t), ("Timeout", "Second-900")],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert!(r.body_str().contains("<D:timeout>Second-900</D:timeout>"));
    assert_eq!(
        call(&s, "PUT", "/dav/a.txt", &with_t(alice), "alice").status,
        204
    );
    assert_eq!(s.get("/dav/a.txt").body, b"alice");
    assert_eq!(
        call(&s, "PROPPATCH", "/dav/a.txt", &with_t(alice), props).status,
        207
    );
    let r = unlock_as(&s, "/dav/a.txt", &t, alice);
    assert_eq!(r.status, 204);
    // Unlocked, it is anyone's to write again.
    assert_eq!(call(&s, "PUT", "/dav/a.txt", &[bob], "bob").status, 204);
    assert_eq!(s.get("/dav/a.txt").body, b"bob");

    // A deep lock on a collection: bob's new member under alice's lock, the token tagged
    // as clients send it, is refused too, and so is his MOVE of it; alice's member goes in.
    root.dir("dav/d");
    let r = call(&s, "LOCK", "/dav/d/", &[alice], LOCK_EXCL);
    assert_eq!(r.status, 200, "{}", r.body_str());
    let tagged = format!("</dav/d/> {}", if_token(&token_of(&r)));
    let r = call(&s, "PUT", "/dav/d/n.txt", &[bob, ("If", &tagged)], "n");
    assert_eq!(r.status, 423);
    assert!(!root.www.join("dav/d/n.txt").exists());
    let r = call(&s, "PUT", "/dav/d/n.txt", &[alice, ("If", &tagged)], "n");
    assert_eq!(r.status, 201);
    let r = send_to(&s, "MOVE", "/dav/d/", "/dav/e/", &[bob, ("If", &tagged)]);
    assert_eq!(r.status, 423, "a MOVE of the locked collection");
    assert!(root.www.join("dav/d/n.txt").exists());

    // A reload keeps the locks, and whose they are.
    reload(&s);
    let r = call(&s, "PUT", "/dav/d/m.txt", &[bob, ("If", &tagged)], "m");
    assert_eq!(r.status, 423, "after a reload");
    let r = call(&s, "PUT", "/dav/d/m.txt", &[alice, ("If", &tagged)], "m");
    assert_eq!(r.status, 201, "after a reload");
}

/// Without `--auth-file` a lock has no principal: its token is enough, from anyone (and
/// credentials a client sends anyway change nothing).
#[test]
fn without_auth_a_lock_token_is_enough() {
    let root = basic_root();
    root.file("dav/a.txt", b"old");
    let s = dav_server(&root, &[]);
    let alice = ("Authorization", "Basic YWxpY2U6czNjcmV0");
    let r = call(&s, "LOCK", "/dav/a.txt", &[alice], LOCK_EXCL);
    assert_eq!(r.status, 200);
    let t = token_of(&r);
    let bob = ("Authorization", "Basic Ym9iOmh1bnRlcjI=");
    let r = call(&s, "PUT", "/dav/a.txt", &[bob, ("If", &if_token(&t))], "b");
    assert_eq!(r.status, 204);
    let r = call(&s, "LOCK", "/dav/a.txt", &[("If", &if_token(&t))], "");
    assert_eq!(r.status, 200, "a refresh without credentials");
    let r = unlock_as(&s, "/dav/a.txt", &t, bob);
    assert_eq!(r.status, 204);
}

/// §7.5: a depth-0 lock on a collection protects its membership (adding or removing a
/// member needs the token), not its members' content.
#[test]
fn rfc4918_7_5_a_depth_0_lock_on_a_collection_guards_its_members_list() {
    let root = basic_root();
    root.file("dav/c/old.txt", b"old");
    let s = dav_server(&root, &[]);
    let r = call(&s, "LOCK", "/dav/c/", &[("Depth", "0")], LOCK_EXCL);
    assert_eq!(r.status, 200);
    let t = token_of(&r);
    assert_eq!(
        call(&s, "PUT", "/dav/c/old.txt", &[], "new").status,
        204,
        "content"
    );
    assert_eq!(call(&s, "PUT", "/dav/c/added.txt", &[], "x").status, 423);
    assert_eq!(call(&s, "MKCOL", "/dav/c/sub/", &[], "").status, 423);
    assert_eq!(call(&s, "DELETE", "/dav/c/old.txt", &[], "").status, 423);
    assert!(!root.www.join("dav/c/added.txt").exists() && root.www.join("dav/c/old.txt").exists());
    let tagged = format!("<http://t/dav/c/> (<{t}>)");
    assert_eq!(
        call(&s, "PUT", "/dav/c/added.txt", &[("If", &tagged)], "x").status,
        201
    );
    // Untagged (the list is about the new member): the collection's lock counts for it.
    let r = call(&s, "MKCOL", "/dav/c/sub/", &[("If", &if_token(&t))], "");
    assert_eq!(r.status, 201);
}

/// A lock's timeout runs out: the lock is gone (dropped lazily, when the table is next
/// used), and anyone may write again.
#[test]
fn rfc4918_10_7_an_expired_lock_no_longer_holds() {
    let root = basic_root();
    root.file("dav/x.txt", b"x");
    let s = dav_server(&root, &[]);
    let r = call(
        &s,
        "LOCK",
        "/dav/x.txt",
        &[("Timeout", "Second-1")],
        LOCK_EXCL,
    );
    assert_eq!(r.status, 200);
    assert!(r.body_str().contains("<D:timeout>Second-1</D:timeout>"));
    let locked_at = std::time::Instant::now();
    assert_eq!(call(&s, "PUT", "/dav/x.txt", &[], "y").status, 423);
    let deadline = std::time::Instant::now() + scaled(Duration::from_secs(10));
    loop {
        let r = call(&s, "PUT", "/dav/x.txt", &[], "y");
        if r.status == 204 {
            break;
        }
        assert_eq!(r.status, 423);
        assert!(
            std::time::Instant::now() < deadline,
            "the lock never expired"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        locked_at.elapsed() >= Duration::from_millis(900),
        "a lock lasts at least its timeout"
    );
    let r = call(&s, "PROPFIND", "/dav/x.txt", &[("Depth", "0")], ALLPROP);
    assert!(!r.body_str().contains("activelock"));
}

/// macOS Finder's ways: it LOCKs before it writes, sends the body chunked (with
/// `X-Expected-Entity-Length`), and writes AppleDouble `._NAME` files and `.DS_Store`,
/// which without `--dotfiles` are refused (403) and never land in the folder.
#[test]
fn finder_style_requests() {
    let root = basic_root();
    root.dir("dav/f");
    let s = dav_server(&root, &[]);
    let r = call(
        &s,
        "LOCK",
        "/dav/f/photo.jpg",
        &[("Timeout", "Second-600")],
        LOCK_EXCL,
    );
    assert_eq!(r.status, 201);
    let t = token_of(&r);
    let data = pattern(200_000, 3);
    let mut req = format!(
        "PUT /dav/f/photo.jpg HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nX-Expected-Entity-Length: {}\r\nIf: (<{t}>)\r\n\r\n",
        data.len()
    )
    .into_bytes();
    for piece in data.chunks(65_536) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        s.request(&req).status,
        204,
        "over the empty file the LOCK made"
    );
    assert_eq!(
        std::fs::read(root.www.join("dav/f/photo.jpg")).unwrap(),
        data
    );
    for name in ["._photo.jpg", ".DS_Store"] {
        let r = call(&s, "PUT", &format!("/dav/f/{name}"), &[], "junk");
        assert_eq!(r.status, 403, "{name}");
        assert!(!root.www.join("dav/f").join(name).exists());
    }
}

/// A LOCK granted while a PUT's body is on its way stops that PUT when the body is in
/// (423), and the file stays as it was: the locks are checked again at the commit.
#[test]
fn a_lock_taken_during_a_put_stops_it() {
    let root = basic_root();
    root.file("dav/race.txt", b"before");
    let s = dav_server(&root, &[]);
    let mut c = s.connect();
    c.send(b"PUT /dav/race.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf ");
    let r = call(&s, "LOCK", "/dav/race.txt", &[], LOCK_EXCL);
    assert_eq!(r.status, 200);
    let t = token_of(&r);
    c.send(b"done!");
    let r = c.response();
    assert_eq!(r.status, 423);
    assert_eq!(
        std::fs::read(root.www.join("dav/race.txt")).unwrap(),
        b"before"
    );
    let names: Vec<_> = std::fs::read_dir(root.www.join("dav"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    // A PUT that sent the token (it knew of the lock) goes through.
    let r = call(
        &s,
        "PUT",
        "/dav/race.txt",
        &[("If", &if_token(&t))],
        "after",
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        std::fs::read(root.www.join("dav/race.txt")).unwrap(),
        b"after"
    );
}

/// RFC 4918 §7: a resumable upload's chunk (PATCH, docs/RESUME.md) is a write like a PUT:
/// on a locked file it needs the lock's token (423 without it, nothing staged), and with
/// it the file is published.
#[test]
fn a_resumable_upload_chunk_needs_the_lock_token() {
    let root = basic_root();
    root.file("dav/a.txt", b"old");
    let s = dav_server(&root, &[]);
    let r = call(
        &s,
        "LOCK",
        "/dav/a.txt",
        &[("Timeout", "Second-600"), ("Depth", "0")],
        LOCK_EXCL,
    );
    assert_eq!(r.status, 200, "{}", r.body_str());
    let token = token_of(&r);
    let chunk = |extra: &str| {
        s.request(
            format!(
                "PATCH /dav/a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
                 Upload-Length: 3\r\nUpload-Offset: 0\r\n\
                 Content-Type: application/offset+octet-stream\r\n\
                 Content-Length: 3\r\n{extra}\r\nnew"
            )
            .as_bytes(),
        )
    };
    assert_eq!(chunk("").status, 423);
    let staged = std::fs::read_dir(root.www.join("dav"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".barehttpd"))
        .count();
    assert_eq!(staged, 0, "nothing staged for a refused chunk");
    assert_eq!(std::fs::read(root.www.join("dav/a.txt")).unwrap(), b"old");
    let r = chunk(&format!("If: {}\r\n", if_token(&token)));
    assert!(matches!(r.status, 200 | 204), "{}", r.status);
    assert_eq!(std::fs::read(root.www.join("dav/a.txt")).unwrap(), b"new");
}
