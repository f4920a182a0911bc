//! The per-worker cache of small files must never serve what is no longer on disk: RFC 9110
//! §9.3.1 ("transfer a current selected representation") and §8.8.3 (a strong ETag changes
//! whenever the representation data does). Files are changed the ways people change them
//! (rewritten in place, replaced by rename, deleted, a sibling added, a folder swapped) and
//! asked for again at once, on connections that already used the cached copy and on new ones.
//!
//! The cache is per worker, so a test that only talked to one worker would prove little. The
//! tests find out which worker answers a connection by the epoll instance the connection is
//! registered with (`/proc/PID/fdinfo`, Linux, like the server), and keep one connection on
//! each worker.

mod common;

use common::*;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Connection attempts (bursts of `BURST` at once) before giving up on reaching every worker.
const BURSTS: usize = 50;
const BURST: usize = 8;

/// The socket inode of the server's end of `c`, from the kernel's TCP table (the server's
/// port as local port, the client's as remote).
fn server_socket_inode(pid: u32, c: &Client) -> Option<String> {
    let local = c.stream.local_addr().ok()?;
    let peer = c.stream.peer_addr().ok()?;
    let table = if local.is_ipv4() { "tcp" } else { "tcp6" };
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok()?;
    let port_of = |field: &str| {
        let hex = field.rsplit(':').next()?;
        u16::from_str_radix(hex, 16).ok()
    };
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && port_of(f[1]) == Some(peer.port()) && port_of(f[2]) == Some(local.port()))
            .then(|| f[9].to_string())
    })
}

/// Which event loop owns the connection `c`: the epoll descriptor it is registered with (each
/// worker has one; `/proc/PID/fdinfo` lists what each watches). A connection is registered
/// just after its first response, so this waits a little for it.
fn owner(s: &Server, c: &Client) -> String {
    let pid = s.pid();
    let deadline = Instant::now() + scaled(Duration::from_secs(2));
    loop {
        if let Some(found) = owner_now(pid, c) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no epoll instance of the server watches this connection"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn owner_now(pid: u32, c: &Client) -> Option<String> {
    let inode = server_socket_inode(pid, c)?;
    let fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            Some((
                e.file_name().to_string_lossy().to_string(),
                target.to_string_lossy().to_string(),
            ))
        })
        .collect();
    let sock = &fds
        .iter()
        .find(|(_, t)| *t == format!("socket:[{inode}]"))?
        .0;
    fds.iter()
        .filter(|(_, t)| t.contains("eventpoll"))
        .find(|(epfd, _)| {
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}")).is_ok_and(|info| {
                info.lines().any(|l| {
                    l.strip_prefix("tfd:")
                        .and_then(|rest| rest.split_whitespace().next())
                        == Some(sock.as_str())
                })
            })
        })
        .map(|(epfd, _)| format!("epoll fd {epfd}"))
}

/// Send `raw` on `c`, read the response, and name the event loop that owns the connection.
fn served_by(s: &Server, c: &mut Client, raw: &[u8]) -> (Response, String) {
    c.send(raw);
    let r = c.response();
    let w = owner(s, c);
    (r, w)
}

/// One open connection on each of the server's `workers` workers, each having fetched `path`
/// (so each worker has it cached). Connections are opened in bursts until every worker has
/// accepted one: the listening socket wakes whichever worker is idle. Each sends an empty line
/// at once (RFC 9112 §2.2 lets a server ignore it before a request): the kernel hands a
/// connection to accept() only when its first bytes come (TCP_DEFER_ACCEPT), so a burst of
/// silent connections would reach the workers one by one, as their requests are sent.
fn client_per_worker(s: &Server, workers: usize, path: &str) -> Vec<(String, Client)> {
    let mut found: Vec<(String, Client)> = Vec::new();
    for _ in 0..BURSTS {
        let addr = s.addr();
        let burst: Vec<_> = (0..BURST)
            .map(|_| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    let mut c = Client::connect(&addr);
                    c.send(b"\r\n");
                    c
                })
            })
            .collect();
        for t in burst {
            let mut c = t.join().expect("connect thread");
            let (r, w) = served_by(s, &mut c, &get_req(path));
            assert_eq!(r.status, 200, "{path} from {w}");
            if !found.iter().any(|(f, _)| *f == w) {
                found.push((w, c));
            }
        }
        if found.len() == workers {
            found.sort_by(|a, b| a.0.cmp(&b.0));
            return found;
        }
    }
    let names: Vec<&String> = found.iter().map(|(w, _)| w).collect();
    panic!("{} bursts of connections reached only {names:?}", BURSTS);
}

/// Truncate and rewrite the file, keeping its inode (an editor saving in place, `cp` over it).
fn rewrite_in_place(p: &Path, data: &[u8]) {
    let mut f = std::fs::File::options()
        .write(true)
        .truncate(true)
        .open(p)
        .expect("open for rewrite");
    f.write_all(data).expect("rewrite");
}

/// Write a temporary file beside it and rename it over the file (rsync, deploy tools).
fn replace_by_rename(p: &Path, data: &[u8]) {
    let name = p.file_name().unwrap().to_str().unwrap();
    let tmp = p.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, data).expect("write the temporary file");
    std::fs::rename(&tmp, p).expect("rename over the file");
}

/// Content number `i`: the same length for every `i`, so that only the bytes change.
fn version(i: usize) -> Vec<u8> {
    format!("<p>version {i:04} of this page</p>\n").into_bytes()
}

/// A two-worker server with one kept connection on each worker, and the ETags seen so far.
struct Probe {
    s: Server,
    clients: Vec<(String, Client)>,
    /// Every ETag answered so far, one per version of the content.
    seen: HashSet<String>,
    /// The last ETag answered.
    tag: String,
}

impl Probe {
    /// Start the server on `root` and open a connection on each worker, each having fetched
    /// `warm` (so each worker has it cached).
    fn start(root: &TempRoot, warm: &str) -> Probe {
        Probe::start_with(root, warm, &[])
    }

    /// `start`, with more flags for the server.
    fn start_with(root: &TempRoot, warm: &str, extra: &[&str]) -> Probe {
        // The probes' connections stay open for the whole test: on a loaded machine a test
        // can take longer than the default 5 s keep-alive, which would close them between
        // two checks (a close the test would take for a failure).
        let mut args = vec!["--workers", "2", "--keepalive-timeout", "120"];
        args.extend_from_slice(extra);
        let s = Server::start(&root.www, &args);
        let clients = client_per_worker(&s, 2, warm);
        Probe {
            s,
            clients,
            seen: HashSet::new(),
            tag: "\"none\"".to_string(),
        }
    }

    /// Ask for `path` on every kept connection and on a new one: each answer must be `want`
    /// with an ETag never seen before, and the previous ETag must no longer validate (an
    /// If-None-Match with it is answered 200, not 304).
    fn expect(&mut self, path: &str, want: &[u8], what: &str) {
        let old = &self.tag;
        let conditional =
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nIf-None-Match: {old}\r\n\r\n").into_bytes();
        let mut tags = Vec::new();
        for (worker, c) in self.clients.iter_mut() {
            let (r, w) = served_by(&self.s, c, &get_req(path));
            assert_eq!(&w, worker, "the connection moved worker");
            assert_eq!(r.status, 200, "{what}: {worker}");
            assert!(
                r.body == want,
                "{what}: {worker} (kept connection) served {:?}, the file holds {:?}",
                r.body_str(),
                String::from_utf8_lossy(want)
            );
            tags.push(r.header("etag").expect("ETag").to_string());
            c.send(&conditional);
            let r = c.response();
            assert_eq!(
                r.status, 200,
                "{what}: {worker} says the old ETag {old} is still current"
            );
            assert!(r.body == want, "{what}: {worker} after If-None-Match");
        }
        let r = self.s.get(path);
        assert_eq!(r.status, 200, "{what}: new connection");
        assert!(
            r.body == want,
            "{what}: a new connection got {:?}, the file holds {:?}",
            r.body_str(),
            String::from_utf8_lossy(want)
        );
        tags.push(r.header("etag").expect("ETag").to_string());
        let tag = tags[0].clone();
        assert!(
            tags.iter().all(|t| *t == tag),
            "{what}: workers disagree on the ETag: {tags:?}"
        );
        assert!(
            self.seen.insert(tag.clone()),
            "{what}: ETag {tag} was already used for other content (RFC 9110 §8.8.3)"
        );
        self.tag = tag;
    }
}

/// A root with `/page.html` at version 0, and a probe that has seen it on both workers.
fn setup() -> (TempRoot, Probe) {
    let root = TempRoot::new();
    root.file("page.html", &version(0));
    let mut p = Probe::start(&root, "/page.html");
    p.expect("/page.html", &version(0), "before any change");
    (root, p)
}

/// RFC 9110 §9.3.1: a file rewritten in place (same inode, same length) is served with its
/// new bytes and a new ETag on the very next request, on every worker.
#[test]
fn rfc9110_9_3_1_rewrite_in_place_is_served_at_once() {
    let (root, mut p) = setup();
    rewrite_in_place(&root.www.join("page.html"), &version(1));
    p.expect("/page.html", &version(1), "in place");
}

/// RFC 9110 §9.3.1: a file replaced by renaming a new one over it is served at once.
#[test]
fn rfc9110_9_3_1_replace_by_rename_is_served_at_once() {
    let (root, mut p) = setup();
    replace_by_rename(&root.www.join("page.html"), &version(1));
    p.expect("/page.html", &version(1), "rename");
}

/// RFC 9110 §15.5.5: a deleted file is 404 on the next request, on every worker.
#[test]
fn rfc9110_15_5_5_deleted_file_is_404_at_once() {
    let (root, mut p) = setup();
    std::fs::remove_file(root.www.join("page.html")).unwrap();
    for (worker, c) in p.clients.iter_mut() {
        c.send(&get_req("/page.html"));
        let r = c.response();
        assert_eq!(
            r.status,
            404,
            "{worker} still serves a deleted file: {:?}",
            r.body_str()
        );
    }
    assert_eq!(p.s.get("/page.html").status, 404, "new connection");
    // And it comes back when the file does.
    root.file("page.html", &version(2));
    p.expect("/page.html", &version(2), "re-created");
}

/// Twenty changes in a row, alternating in place and by rename, each checked at once on both
/// workers and on a new connection: every answer is the current content and every version
/// has its own ETag (RFC 9110 §8.8.3).
#[test]
fn rfc9110_8_8_3_twenty_changes_on_both_workers() {
    let (root, mut p) = setup();
    let path = root.www.join("page.html");
    for i in 1..=20 {
        let how = if i % 2 == 0 {
            rewrite_in_place(&path, &version(i));
            "in place"
        } else {
            replace_by_rename(&path, &version(i));
            "rename"
        };
        p.expect("/page.html", &version(i), &format!("change {i} ({how})"));
    }
}

/// Files below the root and a directory's index are cached too, and invalidated the same way.
#[test]
fn rfc9110_9_3_1_changes_in_subdirectories_and_index_files() {
    let root = TempRoot::new();
    root.file("docs/guide/page.txt", &version(0));
    root.file("docs/index.html", &version(100));
    let mut p = Probe::start(&root, "/docs/guide/page.txt");
    p.expect("/docs/", &version(100), "index before");
    rewrite_in_place(&root.www.join("docs/index.html"), &version(101));
    p.expect("/docs/", &version(101), "index");
    replace_by_rename(&root.www.join("docs/guide/page.txt"), &version(1));
    p.expect("/docs/guide/page.txt", &version(1), "subdirectory file");
}

/// RFC 9110 §12.5.3, §12.5.5: a precompressed sibling added, changed or removed after the file
/// was cached changes what gzip clients get, and whether the answer varies, at once.
#[test]
fn rfc9110_12_5_5_sibling_added_changed_removed_at_once() {
    let root = TempRoot::new();
    root.file("app.js", b"plain();\n");
    let mut p = Probe::start(&root, "/app.js");
    let gzip_req = b"GET /app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n";
    let mut expect = |stage: &str, body: &[u8], coded: bool| {
        for (worker, c) in p.clients.iter_mut() {
            c.send(gzip_req);
            let r = c.response();
            assert_eq!(r.body, body, "{stage}: {worker}");
            // Without a sibling the file varies too where it is compressed on the fly (it is
            // too small to be, but its type is one that is: tests/compression.rs).
            let (ce, vary) = if coded {
                (Some("gzip"), Some("Accept-Encoding"))
            } else if cfg!(feature = "compress") {
                (None, Some("Accept-Encoding"))
            } else {
                (None, None)
            };
            assert_eq!(r.header("content-encoding"), ce, "{stage}: {worker}");
            assert_eq!(r.header("vary"), vary, "{stage}: {worker}");
        }
    };
    expect("no sibling", b"plain();\n", false);
    root.file("app.js.gz", b"gzip bytes, first\n");
    expect("sibling added", b"gzip bytes, first\n", true);
    rewrite_in_place(&root.www.join("app.js.gz"), b"gzip bytes, again\n");
    expect("sibling rewritten", b"gzip bytes, again\n", true);
    std::fs::remove_file(root.www.join("app.js.gz")).unwrap();
    expect("sibling removed", b"plain();\n", false);
}

/// A folder moved away and replaced by a new one of the same name (a deploy that swaps the
/// directory): the files under the name are the new folder's, at once.
#[test]
fn rfc9110_9_3_1_swapped_directory_is_served_at_once() {
    let root = TempRoot::new();
    root.file("site/page.html", &version(0));
    let mut p = Probe::start(&root, "/site/page.html");
    p.expect("/site/page.html", &version(0), "before");
    root.file("site.new/page.html", &version(1));
    std::fs::rename(root.www.join("site"), root.base.join("site.old")).unwrap();
    std::fs::rename(root.www.join("site.new"), root.www.join("site")).unwrap();
    p.expect("/site/page.html", &version(1), "swap");
}

/// A release switched by renaming a new symlink over `current` (the usual atomic deploy,
/// served with `--follow-symlinks`): `/current/...` must be the new release's files at once,
/// not the cached old ones.
#[test]
fn rfc9110_9_3_1_symlink_switched_release_is_served_at_once() {
    let root = TempRoot::new();
    root.file("releases/v1/page.html", &version(1));
    root.file("releases/v2/page.html", &version(2));
    std::os::unix::fs::symlink("releases/v1", root.www.join("current")).unwrap();
    let mut p = Probe::start_with(&root, "/current/page.html", &["--follow-symlinks"]);
    p.expect("/current/page.html", &version(1), "release v1");
    std::os::unix::fs::symlink("releases/v2", root.www.join("current.new")).unwrap();
    std::fs::rename(root.www.join("current.new"), root.www.join("current")).unwrap();
    p.expect("/current/page.html", &version(2), "switched to v2");
}

/// RFC 9110 §9.3.1: a name asked for while it does not exist, often enough that every worker
/// remembers it as missing, is served as soon as it is created, however it is created: written
/// directly, renamed into place, written into a folder that existed, or into a folder that did
/// not exist yet.
#[test]
fn rfc9110_9_3_1_missing_names_are_served_once_created() {
    let (root, mut p) = setup();
    std::fs::create_dir(root.www.join("sub")).unwrap();
    let cases: [(&str, &str); 4] = [
        ("/new.html", "written"),
        ("/renamed.html", "renamed into place"),
        ("/sub/deep.html", "written in a subfolder"),
        ("/later/x.html", "written in a new folder"),
    ];
    for (i, (path, how)) in cases.iter().enumerate() {
        for round in 0..3 {
            for (worker, c) in p.clients.iter_mut() {
                c.send(&get_req(path));
                let r = c.response();
                assert_eq!(
                    r.status, 404,
                    "{path} before it exists, {worker}, round {round}"
                );
            }
            assert_eq!(p.s.get(path).status, 404, "{path} before it exists");
        }
        let file = root.www.join(&path[1..]);
        let content = version(100 + i);
        match i {
            1 => replace_by_rename(&file, &content),
            3 => {
                std::fs::create_dir(file.parent().unwrap()).unwrap();
                std::fs::write(&file, &content).unwrap();
            }
            _ => std::fs::write(&file, &content).unwrap(),
        }
        p.expect(path, &content, how);
    }
}
