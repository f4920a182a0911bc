//! A folder downloaded as one archive (`?download=zip`, `?download=tar`; issue 20): the
//! archives are read back by other tools than the server (Python's zipfile and tarfile,
//! `unzip -t`), every file's bytes compared with the tree's; what a listing hides is not in
//! them (dotfiles, a symlink out of the root); where a listing is refused, so is the archive
//! (403, as RFC 9110 §15.5.4 has it for what the server will not show); HEAD has the same
//! head (§9.3.2); and the response is chunked (RFC 9112 §7.1), its length unknown. Each
//! limit is hit: `MAX_DEPTH`, `MAX_ARCHIVES`, and ZIP's entry cap (lowered in debug builds
//! through `BAREHTTPD_TEST_ZIP_MAX_ENTRIES`).
//!
//! zip64: an archive of more than 65,535 entries needs the zip64 end records, the cheapest
//! way past a ZIP limit (empty files), always on. The sizes and offsets past 4 GiB take a few
//! GiB of sparse files and about a minute in a debug build: run by hand with
//! `BAREHTTPD_TEST_LARGE_ARCHIVE=1 cargo test --test archive -- large`, which also checks
//! that the server's memory stays flat meanwhile.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// GET `path` on a connection of its own: the head's lines and the dechunked body.
fn download(server: &Server, path: &str) -> (String, Vec<u8>) {
    let mut c = server.connect();
    c.send(&get_close(path));
    let raw = c.read_to_end();
    let end = find(&raw, b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    (head, dechunk(&raw[end..]))
}

/// Python checks the archive at `archive` against the folder `dir`: every member is a
/// file or folder of `dir` (under the top name `top`) with the same bytes, and it prints
/// the members' names, one a line, and for ZIP their methods.
fn python_check(archive: &Path, dir: &Path, top: &str, zip: bool) -> String {
    let script = r#"
import sys, os, zipfile, tarfile
path, root, top, kind = sys.argv[1:5]
out = []
def same(name, data):
    assert name.startswith(top + "/"), name
    rel = name[len(top) + 1:]
    with open(os.path.join(root, rel), "rb") as f:
        assert f.read() == data, name
if kind == "zip":
    z = zipfile.ZipFile(path)
    assert z.testzip() is None
    for i in z.infolist():
        assert i.flag_bits & 0x800, i.filename
        if not i.is_dir():
            same(i.filename, z.read(i))
        out.append("%s %d" % (i.filename, i.compress_type))
else:
    t = tarfile.open(path)
    for m in t:
        if m.isfile():
            same(m.name, t.extractfile(m).read())
            out.append(m.name)
        else:
            out.append(m.name + "/")
print("\n".join(sorted(out)))
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(archive)
        .arg(dir)
        .arg(top)
        .arg(if zip { "zip" } else { "tar" })
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "python3 refused the archive: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A tree with nested folders, UTF-8 names, an empty folder, a dotfile, a symlink out of the
/// root, an image (stored in ZIP) and text (deflated).
fn tree() -> (TempRoot, Server) {
    let root = TempRoot::new();
    root.file("pub/readme.txt", &b"the same line again\n".repeat(500));
    root.file("pub/photo.jpg", &pattern(70_000, 7));
    root.file("pub/docs/été/ünïcødé ✓.md", "façade\n".as_bytes());
    root.file(
        &format!("pub/docs/{}.txt", "long".repeat(40)),
        b"long name\n",
    );
    root.file("pub/.secret", b"hidden\n");
    root.dir("pub/empty");
    let out = root.outside("outside.txt", b"not served\n");
    std::os::unix::fs::symlink(&out, root.www.join("pub/escape.txt")).unwrap();
    let server = Server::start(&root.www, &["--listing"]);
    (root, server)
}

const EXPECTED: &[&str] = &[
    "pub/",
    "pub/docs/",
    "pub/docs/été/",
    "pub/docs/été/ünïcødé ✓.md",
    "pub/empty/",
    "pub/photo.jpg",
    "pub/readme.txt",
];

/// `EXPECTED` and the long name, each as `show` writes it, sorted.
fn expected_members(show: impl Fn(&str) -> String) -> Vec<String> {
    let long = format!("pub/docs/{}.txt", "long".repeat(40));
    let mut all: Vec<String> = EXPECTED.iter().map(|n| show(n)).collect();
    all.push(show(&long));
    all.sort();
    all
}

/// `program args... file` exits with success (skipped where the program is missing); its
/// output.
fn tool_accepts(program: &str, args: &[&str], file: &Path) -> String {
    if !have(program) {
        return String::new();
    }
    let o = Command::new(program).args(args).arg(file).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{program} refused {file:?}: {text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    text
}

#[test]
fn zip_of_a_folder_holds_its_files_and_nothing_hidden() {
    if !have("python3") {
        return;
    }
    let (root, server) = tree();
    let (head, body) = download(&server, "/pub/?download=zip");
    assert!(
        head.contains("\r\nContent-Type: application/zip\r\n"),
        "{head}"
    );
    assert!(
        head.contains(
            "\r\nContent-Disposition: attachment; filename=\"pub.zip\"; filename*=UTF-8''pub.zip\r\n"
        ),
        "{head}"
    );
    let file = root.base.join("pub.zip");
    std::fs::write(&file, &body).unwrap();
    let listed = python_check(&file, &root.www.join("pub"), "pub", true);
    let expected = expected_members(|n| {
        let stored = n.ends_with(".jpg") || n.ends_with('/');
        format!("{n} {}", if stored { 0 } else { 8 })
    });
    let got: Vec<&str> = listed.lines().collect();
    assert_eq!(got, expected, "members and methods (0 stored, 8 deflated)");
    tool_accepts("unzip", &["-t"], &file);
}

#[test]
fn tar_of_a_folder_holds_its_files_and_nothing_hidden() {
    if !have("python3") {
        return;
    }
    let (root, server) = tree();
    let (head, body) = download(&server, "/pub/?download=tar");
    assert!(
        head.contains("\r\nContent-Type: application/x-tar\r\n"),
        "{head}"
    );
    assert!(head.contains("filename=\"pub.tar\""), "{head}");
    let file = root.base.join("pub.tar");
    std::fs::write(&file, &body).unwrap();
    let listed = python_check(&file, &root.www.join("pub"), "pub", false);
    let expected = expected_members(|n| n.to_string());
    let got: Vec<&str> = listed.lines().collect();
    assert_eq!(got, expected);
    let names = tool_accepts("tar", &["tf"], &file);
    assert!(
        names.is_empty() || names.contains("ünïcødé ✓.md"),
        "{names}"
    );
}

#[test]
fn rfc9110_15_5_4_no_archive_where_no_listing() {
    let (root, listing) = tree();
    let server = Server::start(&root.www, &[]);
    assert_eq!(server.get("/pub/?download=zip").status, 403);
    assert_eq!(server.get("/pub/?download=tar").status, 403);
    let server = listing;
    assert_eq!(server.get("/nothing/?download=zip").status, 404);
    // A hidden folder is not there at all.
    assert_eq!(server.get("/pub/.secret/?download=zip").status, 404);
}

#[test]
fn rfc9110_9_3_2_head_has_the_archive_head_and_no_body() {
    let (_root, server) = tree();
    let mut c = server.connect();
    c.send(&req("HEAD", "/pub/?download=zip", &[]));
    let r = c.head_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/zip"));
    assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    // The connection is still usable: no body followed.
    c.send(&get_close("/pub/readme.txt"));
    assert_eq!(c.response().status, 200);
}

#[test]
fn rfc9112_6_3_http10_archive_ends_with_the_connection() {
    if !have("python3") {
        return;
    }
    let (root, server) = tree();
    let mut c = server.connect();
    c.send(b"GET /pub/?download=zip HTTP/1.0\r\nHost: t\r\n\r\n");
    let raw = c.read_to_end();
    let end = find(&raw, b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&raw[..end]);
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    let file = root.base.join("pub10.zip");
    std::fs::write(&file, &raw[end..]).unwrap();
    python_check(&file, &root.www.join("pub"), "pub", true);
}

/// More than 65,535 entries: only the zip64 end records can count them (APPNOTE §4.4.21).
#[test]
fn zip64_end_records_for_more_than_65535_entries() {
    if !have("python3") {
        return;
    }
    let root = TempRoot::new();
    let dir = root.dir("many");
    for i in 0..65_540 {
        std::fs::File::create(dir.join(format!("{i}"))).unwrap();
    }
    let server = Server::start(&root.www, &["--listing"]);
    let (_, body) = download(&server, "/many/?download=zip");
    // The zip64 end of central directory record and its locator are there.
    assert!(find(&body, b"PK\x06\x06").is_some());
    assert!(find(&body, b"PK\x06\x07").is_some());
    let file = root.base.join("many.zip");
    std::fs::write(&file, &body).unwrap();
    let listed = python_check(&file, &dir, "many", true);
    assert_eq!(listed.lines().count(), 65_541);
    tool_accepts("unzip", &["-tq"], &file);
}

/// Sparse files of several GiB: sizes and offsets past 4 GiB (zip64), memory flat. By hand:
/// `BAREHTTPD_TEST_LARGE_ARCHIVE=1 cargo test --test archive -- large --nocapture`.
#[test]
fn large_sparse_folder_streams_in_flat_memory() {
    if std::env::var_os("BAREHTTPD_TEST_LARGE_ARCHIVE").is_none() || !have("curl") {
        return;
    }
    const GIB: u64 = 1 << 30;
    let root = TempRoot::new();
    let dir = root.dir("big");
    // One file past 4 GiB (zip64 sizes), and others, so that some entry starts past 4 GiB.
    for (name, len) in [("a.mp4", 4 * GIB + GIB / 2), ("b.mp4", GIB), ("c.mp4", GIB)] {
        let f = std::fs::File::create(dir.join(name)).unwrap();
        f.set_len(len).unwrap();
    }
    root.file("big/notes.txt", &b"notes\n".repeat(10_000));
    let server = Server::start(&root.www, &["--listing", "--workers", "1"]);
    let before = vm_rss(server.pid());
    for (kind, check) in [("zip", &["unzip", "-tq"][..]), ("tar", &["tar", "tf"][..])] {
        let file = root.base.join(format!("big.{kind}"));
        let url = format!("http://{}/big/?download={kind}", server.addr());
        let mut curl = Command::new("curl")
            .args(["-sS", "-o"])
            .arg(&file)
            .arg(&url)
            .spawn()
            .unwrap();
        let mut peak = 0;
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(s) = curl.try_wait().unwrap() {
                break s;
            }
            peak = peak.max(vm_rss(server.pid()));
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "download too slow"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(status.success());
        let size = std::fs::metadata(&file).unwrap().len();
        println!(
            "{kind}: {size} bytes in {:.1} s; server RSS {before} before, {peak} at most",
            started.elapsed().as_secs_f64()
        );
        assert!(size > 6 * GIB, "{size} bytes");
        assert!(
            peak < before + 16 * 1024 * 1024,
            "memory grew: {before} -> {peak}"
        );
        tool_accepts(check[0], &check[1..], &file);
        std::fs::remove_file(&file).unwrap();
    }
}

/// `archive::MAX_DEPTH`: folders deeper than that below the one downloaded are left out, the
/// rest of the archive whole.
#[test]
fn folders_deeper_than_max_depth_are_left_out() {
    use barehttpd::handler::archive::MAX_DEPTH;
    let root = TempRoot::new();
    let mut rel = String::from("deep");
    for i in 1..=MAX_DEPTH + 2 {
        rel.push_str(&format!("/{i}"));
        root.file(&format!("{rel}/f.txt"), b"f\n");
    }
    let server = Server::start(&root.www, &["--listing"]);
    let (_, body) = download(&server, "/deep/?download=tar");
    let file = root.base.join("deep.tar");
    std::fs::write(&file, &body).unwrap();
    let names = tool_accepts("tar", &["tf"], &file);
    if names.is_empty() {
        return;
    }
    let path = |depth: usize| {
        let segs: Vec<String> = (1..=depth).map(|i| i.to_string()).collect();
        format!("deep/{}/f.txt", segs.join("/"))
    };
    assert!(names.lines().any(|l| l == path(MAX_DEPTH)), "{names}");
    assert!(!names.lines().any(|l| l == path(MAX_DEPTH + 1)), "{names}");
    assert_eq!(
        names.lines().filter(|l| l.ends_with("f.txt")).count(),
        MAX_DEPTH
    );
}

/// `archive::MAX_ARCHIVES`: that many archives being made at once, the next is 503 with
/// Retry-After (RFC 9110 §15.6.4), and once one ends a slot is free again.
#[test]
fn rfc9110_15_6_4_more_archives_at_once_than_max_get_503() {
    use barehttpd::handler::archive::MAX_ARCHIVES;
    let root = TempRoot::new();
    let f = std::fs::File::create(root.dir("big").join("a.mp4")).unwrap();
    // Sparse: far more than the socket buffers hold, so each answer waits for its reader.
    f.set_len(1 << 30).unwrap();
    let server = Server::start(&root.www, &["--listing"]);
    let mut held: Vec<Client> = (0..MAX_ARCHIVES)
        .map(|_| {
            let mut c = server.connect();
            c.send(&get_close("/big/?download=tar"));
            // Its head has come: the archive is being made.
            assert!(find(c.prefetch(64), b"HTTP/1.1 200").is_some());
            c
        })
        .collect();
    let r = server.get("/big/?download=tar");
    assert_eq!(r.status, 503);
    assert!(r.header("Retry-After").is_some());
    drop(held.pop());
    let deadline = std::time::Instant::now() + scaled(Duration::from_secs(10));
    loop {
        let mut c = server.connect();
        c.send(&get_close("/big/?download=tar"));
        if find(c.prefetch(16), b" 200").is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no slot came free");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With `--follow-symlinks`, a symlink to a file inside the root is archived as that file;
/// one that leads out of the root, and one to a folder, are still left out.
#[test]
fn follow_symlinks_takes_links_inside_the_root_only() {
    if !have("python3") {
        return;
    }
    let root = TempRoot::new();
    root.file("pub/a.txt", b"a\n");
    root.file("other/b.txt", b"b\n");
    let out = root.outside("outside.txt", b"not served\n");
    let link = |target: &Path, name: &str| {
        std::os::unix::fs::symlink(target, root.www.join("pub").join(name)).unwrap()
    };
    link(Path::new("../other/b.txt"), "b.txt");
    link(&out, "escape.txt");
    link(Path::new("../other"), "folder");
    let server = Server::start(&root.www, &["--listing", "--follow-symlinks"]);
    let (_, body) = download(&server, "/pub/?download=tar");
    let file = root.base.join("pub.tar");
    std::fs::write(&file, &body).unwrap();
    // The check reads through the links as a client would see them: the same bytes.
    let listed = python_check(&file, &root.www.join("pub"), "pub", false);
    assert_eq!(listed, "pub/\npub/a.txt\npub/b.txt\n");
}

/// `zip::MAX_ENTRIES` (lowered to 5 through `BAREHTTPD_TEST_ZIP_MAX_ENTRIES`, a hook only
/// debug builds honour): the archive ends there, whole and valid, and the server says so.
#[test]
fn zip_ends_whole_at_its_entry_cap_and_logs_it() {
    if !have("python3") {
        return;
    }
    let root = TempRoot::new();
    for i in 0..10 {
        root.file(&format!("many/{i}.txt"), b"x\n");
    }
    let mut cmd = server_command();
    cmd.env("BAREHTTPD_TEST_ZIP_MAX_ENTRIES", "5")
        .arg(&root.www)
        .args(["--listen", "127.0.0.1:0", "--workers", "1"])
        .args(["--access-log", "off", "--listing"]);
    let server = Server::start_command(cmd);
    let (_, body) = download(&server, "/many/?download=zip");
    let file = root.base.join("many.zip");
    std::fs::write(&file, &body).unwrap();
    let listed = python_check(&file, &root.www.join("many"), "many", true);
    // The folder's own entry and four files.
    assert_eq!(listed.lines().count(), 5, "{listed}");
    let deadline = std::time::Instant::now() + scaled(Duration::from_secs(5));
    while !server.stderr_text().contains("the rest is left out") {
        assert!(std::time::Instant::now() < deadline, "no log line");
        std::thread::sleep(Duration::from_millis(20));
    }
}
