//! `--acme`: the server obtains, keeps and renews its own certificate from an ACME CA
//! (RFC 8555), end to end against the private CA of `../shared/acceptance/acme-ca.sh`
//! (pebble), which really validates HTTP-01 on the plain listener and TLS-ALPN-01 on the
//! TLS one.
//!
//! One test function, because pebble's ports are fixed. Where pebble is missing it says
//! SKIPPED, except under CI=true, where that is a failure (`.ci/run` installs it).
#![cfg(feature = "tls")]

mod common;
#[path = "common/pebble.rs"]
mod pebble;

use common::{Server, TempRoot};
use pebble::Pebble;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the CA may take to validate and issue (seconds with pebble).
const ISSUE_LIMIT: Duration = Duration::from_secs(60);

fn start(root: &Path, ca: &Pebble, state: &Path) -> Server {
    let args: Vec<String> = [
        root.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{}", ca.http01),
        "--tls-listen",
        &format!("127.0.0.1:{}", ca.tlsalpn),
        "--workers",
        "2",
        "--access-log",
        "off",
        "--acme",
        "a.test",
        "--acme-ca",
        pebble::DIRECTORY,
        "--acme-ca-cert",
        ca.ca_https().to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Server::start_args(&args)
}

/// Wait until the server has logged `n` lines containing `needle`.
fn wait_log(s: &Server, needle: &str, n: usize, limit: Duration) {
    let deadline = Instant::now() + common::scaled(limit);
    loop {
        let count = s
            .stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count();
        if count >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {n} x {needle:?} within {limit:?}; stderr:\n{}",
            s.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The page over HTTPS from the server, trusting only the CA's roots.
fn curl(ca: &Pebble) -> String {
    pebble::curl(&ca.roots(), "a.test", ca.tlsalpn, "/hello.txt")
}

#[test]
fn acme_obtains_reuses_and_renews_the_certificate() {
    if let Err(why) = pebble::available() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED: ACME end to end: {why}");
        return;
    }
    let t = TempRoot::new();
    t.file("hello.txt", b"hello over acme\n");
    let ca = Pebble::start(&t.base.join("ca"), pebble::free_port(), pebble::free_port());

    // A fresh state dir: the CA validates a challenge on our listeners and issues; curl,
    // trusting only the CA's roots, gets the page.
    let state = t.base.join("state");
    let s = start(&t.www, &ca, &state);
    wait_log(&s, "acme: certificate for a.test installed", 1, ISSUE_LIMIT);
    assert_eq!(curl(&ca), "hello over acme\n");
    drop(s);

    // A restart reuses the kept certificate: no new order.
    let s = start(&t.www, &ca, &state);
    wait_log(
        &s,
        "acme: certificate for a.test loaded from",
        1,
        Duration::from_secs(5),
    );
    assert_eq!(curl(&ca), "hello over acme\n");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !s.stderr_text().contains("ordering a certificate"),
        "a restart ordered again:\n{}",
        s.stderr_text()
    );
    drop(s);

    // A short lifetime (15 s): the server renews at 2/3 of it, by itself.
    ca.restart_with_validity(15);
    let s = start(&t.www, &ca, &t.base.join("state-short"));
    wait_log(&s, "acme: certificate for a.test installed", 1, ISSUE_LIMIT);
    wait_log(
        &s,
        "acme: renewing a certificate for a.test",
        1,
        ISSUE_LIMIT,
    );
    wait_log(&s, "acme: certificate for a.test installed", 2, ISSUE_LIMIT);
    assert_eq!(curl(&ca), "hello over acme\n");
}
