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
use std::time::Duration;

#[test]
fn chromium_speaks_http2_to_the_folder_over_https() {
    if let Some(why) =
        browser_missing().or_else(|| (!have("openssl")).then(|| "openssl is not installed".into()))
    {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED: browser over HTTP/2: {why}");
        return;
    }
    let root = TempRoot::new();
    root.file("dav/hello.txt", b"hello over h2\n");
    let (cert, key) = self_signed(&root.base.join("certs"));
    let s = Server::start(
        &root.www,
        &[
            "--listing",
            "--write",
            "/dav/",
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let url = s.https_url();
    let work = TempRoot::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/h2.py");
    let args: Vec<std::ffi::OsString> = vec![format!("{url}dav/").into(), work.www.clone().into()];
    let (ok, text) = run_browser_script(&script, &args, &work.www, Duration::from_secs(120));
    assert!(ok, "the browser script failed {text}");
    eprintln!("{text}");
    assert_eq!(
        std::fs::read(root.www.join("dav/made-over-h2.txt")).unwrap(),
        b"sent by chromium\n"
    );
}
