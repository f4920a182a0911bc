//! Chromium loads a folder over HTTPS and speaks HTTP/2 to it (RFC 9113 §3.2: `h2` chosen by
//! ALPN): the page, a file it fetches and a PUT it sends all report `h2` as their protocol,
//! and the PUT's file is on disk. `tests/browser/h2.py` drives the browser through Selenium
//! and Debian's `chromium-driver`.
//!
//! Skipped (with "SKIPPED: reason") when chromium, chromedriver, selenium or openssl is
//! absent, except in CI (`CI=true`), where .ci/run installs them.
#![cfg(all(feature = "h2", feature = "tls"))]

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn missing() -> Option<String> {
    for (prog, arg) in [
        ("chromium", "--version"),
        ("chromedriver", "--version"),
        ("openssl", "version"),
    ] {
        let ok = Command::new(prog)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Some(format!("{prog} is not installed"));
        }
    }
    let ok = Command::new("python3")
        .args(["-c", "import selenium"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!ok).then(|| "python3 with selenium (pip install selenium) is not installed".into())
}

#[test]
fn chromium_speaks_http2_to_the_folder_over_https() {
    if let Some(why) = missing() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED: browser over HTTP/2: {why}");
        return;
    }
    let root = TempRoot::new();
    root.file("dav/hello.txt", b"hello over h2\n");
    let certs = root.base.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
        ])
        .current_dir(&certs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(made, "openssl could not make a certificate");
    let s = Server::start(
        &root.www,
        &[
            "--listing",
            "--write",
            "/dav/",
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            certs.join("c.pem").to_str().unwrap(),
            "--tls-key",
            certs.join("k.pem").to_str().unwrap(),
        ],
    );
    let url = {
        let lines = s.stderr.lock().unwrap();
        lines
            .iter()
            .flat_map(|l| l.split_whitespace())
            .find(|w| w.starts_with("https://"))
            .expect("an https:// URL in the banner")
            .to_string()
    };
    let work = TempRoot::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/h2.py");
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(format!("{url}dav/"))
        .arg(&work.www)
        .stdout(std::fs::File::create(work.www.join("log.txt")).unwrap())
        .stderr(std::fs::File::create(work.www.join("err.txt")).unwrap())
        // Its own process group, so that a stuck browser can be ended with it.
        .process_group(0)
        .spawn()
        .expect("python3");
    let status = wait_child(&mut child, scaled(Duration::from_secs(120)));
    if status.is_none() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
    }
    let read = |n: &str| std::fs::read_to_string(work.www.join(n)).unwrap_or_default();
    let text = format!("{}{}", read("log.txt"), read("err.txt"));
    assert!(
        status.is_some_and(|s| s.success()),
        "the browser script failed ({status:?}):\n{text}"
    );
    eprintln!("{text}");
    assert_eq!(
        std::fs::read(root.www.join("dav/made-over-h2.txt")).unwrap(),
        b"sent by chromium\n"
    );
}
