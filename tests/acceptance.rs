//! The outside checks in `../shared/acceptance/` against the real binary on the standard
//! docroot (PUT/DELETE under /dav/, CGI under /cgi-bin/): h11 (a strict client parser) must accept every response, REDbot must report no
//! BAD note, and headless Chromium must load the page, run its script and decode its video.
//!
//! The tools are installed by `.ci/run`. Where one is missing the check says SKIPPED on
//! stderr, except under CI=true, where a missing tool is a failure: CI never passes a check
//! it did not run.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn acceptance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/acceptance")
}

struct Server {
    child: Child,
    url: String,
    _root: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._root);
    }
}

fn start(name: &str) -> Server {
    let root = std::env::temp_dir().join(format!("barehttpd-acc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let ok = Command::new("sh")
        .arg(acceptance_dir().join("make-docroot.sh"))
        .arg(&root)
        .stdout(Stdio::null())
        .status()
        .expect("run make-docroot.sh");
    assert!(ok.success(), "make-docroot.sh failed");
    let mut child = common::server_command()
        .arg(&root)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--access-log",
            "off",
            "--workers",
            "2",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start barehttpd");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in banner {line:?}"))
        .to_string();
    Server {
        child,
        url,
        _root: root,
    }
}

/// Whether a tool is present; when it is not, skip (or fail under CI=true).
fn have(tool: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is not installed (CI=true requires it; .ci/run installs it)"
        );
        eprintln!("SKIPPED: {tool} is not installed; run .ci/run to install it");
    }
    ok
}

fn run_check(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run check");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn h11_parses_every_response() {
    if !have(
        "python3 h11",
        Command::new("python3").args(["-c", "import h11"]),
    ) {
        return;
    }
    let s = start("h11");
    let (ok, text) = run_check(
        Command::new("python3")
            .arg(acceptance_dir().join("h11_check.py"))
            .arg(&s.url),
    );
    assert!(ok, "h11_check failed:\n{text}");
    assert!(text.contains("0 rejected by h11"), "{text}");
}

#[test]
fn redbot_reports_nothing_bad() {
    if !have("redbot", Command::new("redbot").arg("--help")) {
        return;
    }
    let s = start("redbot");
    let (ok, text) = run_check(
        Command::new("python3")
            .arg(acceptance_dir().join("redbot_check.py"))
            .arg(&s.url),
    );
    assert!(ok, "REDbot reported BAD notes:\n{text}");
    assert!(
        text.contains("summary:") && !text.contains("BAD="),
        "{text}"
    );
}

#[test]
fn chromium_renders_the_page() {
    if !have("chromium", Command::new("chromium").arg("--version")) {
        return;
    }
    let s = start("browser");
    let out = std::env::temp_dir().join(format!("barehttpd-browser-{}", std::process::id()));
    let (ok, text) = run_check(
        Command::new("timeout")
            .arg("150")
            .arg("sh")
            .arg(acceptance_dir().join("browser_check.sh"))
            .arg(&s.url)
            .arg(&out),
    );
    let _ = std::fs::remove_dir_all(&out);
    assert!(ok, "browser check failed:\n{text}");
    assert!(
        text.contains("PASS js") && text.contains("PASS video"),
        "{text}"
    );
    std::thread::sleep(Duration::from_millis(10));
}
