//! The folder page in a real browser: Selenium (pip `selenium`) driving Chromium through
//! Debian's `chromium-driver`, as a user would. `tests/browser/page.py` does the clicking
//! and asserts; this test starts the servers, runs it (bounded in time), and checks the
//! files it left. Uploads of files and a folder (file inputs, and a drop simulated with a
//! DataTransfer), their progress to the end, new folder, rename, delete with confirmation,
//! sort, filter, a folder archive downloaded and read, a resumable upload that continues a
//! broken one byte-identically, a name made to inject markup shown as text, credentials
//! given through Basic authentication, and screenshots of the light and dark page kept under
//! `target/browser-screens/`.
//!
//! Skipped (with "SKIPPED: reason") only when chromium, chromedriver or selenium is absent.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

/// A name that is markup if a page ever inserts it as HTML.
const XSS: &str = "<img src=x onerror=alert(1)>.txt";

#[test]
fn the_folder_page_in_chromium() {
    if let Some(why) = browser_missing() {
        eprintln!("SKIPPED: browser test: {why}");
        return;
    }
    let root = TempRoot::new();
    root.file("dav/readme.txt", b"hello\n");
    root.file(&format!("dav/{XSS}"), b"x\n");
    root.file("dav/sub/file10.txt", b"ten\n");
    root.file("dav/file2.txt", &pattern(2000, 1));
    root.file("dav/file10.txt", &pattern(10, 2));
    let s = Server::start(&root.www, &["--listing", "--write", "/dav/"]);

    // A second server whose folder needs credentials to read and write (a config file's
    // readers and writers, feature `ops`), for the Basic authentication's part.
    let conf = TempRoot::new();
    conf.dir("site/priv");
    let users = format!("alice:{}\n", bcrypt::hash("wonder", 4).unwrap());
    conf.file("users.txt", users.as_bytes());
    let toml = conf.file(
        "barehttpd.toml",
        br#"
[server]
listen = ["127.0.0.1:0"]
access_log = "off"
auth_file = "users.txt"

[[site]]
root = "site"
default = true

[[site.path]]
prefix = "/priv/"
listing = true
write = true
readers = ["alice"]
writers = ["alice"]
"#,
    );
    let a = cfg!(feature = "ops")
        .then(|| Server::start_args(&["--config".into(), toml.to_str().unwrap().into()]));
    let auth_url = a.as_ref().map_or("-".to_string(), |a| {
        format!("http://alice:wonder@{}/priv/", a.addr())
    });

    // A third whose folder anyone may read and only writers may write (`--auth-file`): the
    // page loads without credentials, and the first upload meets the Basic challenge, which
    // the browser answers (its prompt, answered through WebDriver BiDi's auth handler).
    let w = TempRoot::new();
    w.dir("w");
    let wusers = w.outside("users", users.as_bytes());
    let ws = Server::start(
        &w.www,
        &[
            "--listing",
            "--write",
            "/w/",
            "--auth-file",
            wusers.to_str().unwrap(),
        ],
    );

    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screens");
    std::fs::create_dir_all(&out).unwrap();
    let work = TempRoot::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/page.py");
    let args: Vec<std::ffi::OsString> = vec![
        format!("http://{}/dav/", s.addr()).into(),
        root.www.join("dav").into(),
        auth_url.into(),
        conf.www.join("site/priv").into(),
        out.clone().into(),
        work.www.clone().into(),
        if cfg!(feature = "dav") {
            "dav"
        } else {
            "files"
        }
        .into(),
        format!("http://{}/w/", ws.addr()).into(),
        w.www.join("w").into(),
    ];
    // Bounded: the script's own waits are shorter; past this the browser is stuck.
    let (ok, text) = run_browser_script(&script, &args, &work.www, Duration::from_secs(240));
    assert!(ok, "the browser script failed {text}");
    eprintln!("{text}");
    // What the page did, seen on disk.
    let dav = root.www.join("dav");
    assert_eq!(
        std::fs::read(dav.join("picked.txt")).unwrap(),
        b"picked by the file input\n"
    );
    assert_eq!(
        std::fs::read(dav.join("dropped.txt")).unwrap(),
        b"dropped on the page\n"
    );
    if cfg!(feature = "dav") {
        let deep = std::fs::read(dav.join("tree/a/deep.txt")).unwrap();
        assert_eq!(deep, b"deep\n");
        assert_eq!(std::fs::read(dav.join("tree/top.txt")).unwrap(), b"top\n");
        assert!(dav.join("made/renamed.txt").is_file());
        assert!(!dav.join("readme.txt").exists());
    }
    assert!(!dav.join("file10.txt").exists(), "deleted");
    assert!(dav.join(XSS).is_file(), "kept");
    let big = std::fs::read(dav.join("big.bin")).unwrap();
    assert_eq!(big, std::fs::read(work.www.join("big.bin")).unwrap());
    if a.is_some() {
        assert_eq!(
            std::fs::read(conf.www.join("site/priv/authed.txt")).unwrap(),
            b"with credentials\n"
        );
    }
    assert_eq!(
        std::fs::read(w.www.join("w/prompted.txt")).unwrap(),
        b"after the prompt\n"
    );
    for n in std::fs::read_dir(&dav).unwrap().flatten() {
        let n = n.file_name();
        assert!(
            !n.to_string_lossy().starts_with(".barehttpd-upload"),
            "left behind: {n:?}"
        );
    }
    for png in ["page-light.png", "page-dark.png"] {
        let len = std::fs::metadata(out.join(png)).map_or(0, |m| m.len());
        assert!(len > 5000, "{png}: {len} bytes");
    }
}
