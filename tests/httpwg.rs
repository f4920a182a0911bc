//! HTTP/2 conformance by httpwg (crates.io `httpwg-cli`, an h2spec replacement: RFC 9113's
//! rules as 107 tests), run against an `--h2c` listener. Every test must pass except those
//! in `KNOWN_TOOL_BUGS`, each a bug of the tool with the reason.
//!
//! httpwg prints `Test passed: <name>` for each test that passes and a summary `Passed N/M
//! tests`; a test that fails panics inside the tool without printing its name. So the check
//! is: the summary is there, every failure is one of the known ones (the number failed equals
//! the number of known ones, and none of those passed), and a known one that starts to pass
//! fails the test until it is taken off the list.
#![cfg(feature = "h2")]

mod common;

use common::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Tests that a correct server fails, by the name httpwg prints, and why.
const KNOWN_TOOL_BUGS: &[(&str, &str)] = &[(
    "RFC 9113 :: 8. expressing http semantics in http2 :: sends headers frame with te trailers",
    "wants 200 for POST / with TE: trailers; a static server's 405 equally shows the field was \
     accepted (the request was not reset as malformed, which is what §8.2.2 is about)",
)];

/// The httpwg binary: on the PATH, or where `cargo install` puts it.
fn httpwg() -> Option<PathBuf> {
    if have("httpwg") {
        return Some("httpwg".into());
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(home.join("bin/httpwg")).filter(|p| p.is_file())
}

/// Drop ANSI colour sequences (the tool colours its output whatever the terminal).
fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn httpwg_passes_every_test_but_known_tool_bugs() {
    let Some(bin) = httpwg() else {
        let why = "httpwg is not installed (cargo install --locked httpwg-cli)";
        // .ci/run installs it: in CI its absence is a failure, not a skip.
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED: {why}");
        return;
    };
    let root = basic_root();
    root.file("index.html", b"<!doctype html><title>h2</title>\n");
    let server = Server::start(&root.www, &["--h2c", "--workers", "1"]);
    let out_path = root.base.join("httpwg.out");
    let out = std::fs::File::create(&out_path).unwrap();
    // How long the tool waits for a frame or a connection (its default, 250 ms, is short
    // for a loaded machine or a server under an emulator). A test that expects nothing to
    // come waits this long, so it is kept to a second here.
    let wait_ms = scaled(Duration::from_millis(250))
        .max(Duration::from_secs(1))
        .as_millis()
        .to_string();
    let mut child = Command::new(&bin)
        .args(["-a", &server.addr()])
        .args(["--frame-timeout", &wait_ms, "--connect-timeout", &wait_ms])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    let limit = scaled(Duration::from_secs(120));
    if wait_child(&mut child, limit).is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("httpwg did not finish within {limit:?}");
    }
    let text = plain(&std::fs::read_to_string(&out_path).unwrap());
    let passed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once("Test passed: ").map(|(_, name)| name.trim()))
        .collect();
    let summary = text
        .lines()
        .find_map(|l| l.split_once("Passed ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no summary from httpwg:\n{text}"));
    let (n, m) = summary
        .split_whitespace()
        .next()
        .and_then(|nm| nm.split_once('/'))
        .and_then(|(n, m)| Some((n.parse::<usize>().ok()?, m.parse::<usize>().ok()?)))
        .unwrap_or_else(|| panic!("unreadable httpwg summary: {summary}"));
    eprintln!("httpwg: passed {n}/{m}");
    assert_eq!(n, passed.len(), "httpwg's count and its lines disagree");
    for (name, why) in KNOWN_TOOL_BUGS {
        assert!(
            !passed.contains(name),
            "httpwg now passes {name:?}; take it off KNOWN_TOOL_BUGS ({why})"
        );
    }
    assert_eq!(
        m - n,
        KNOWN_TOOL_BUGS.len(),
        "httpwg: {} failed, {} of them known tool bugs; the output:\n{text}",
        m - n,
        KNOWN_TOOL_BUGS.len()
    );
}
