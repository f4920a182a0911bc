//! `--health PATH` (200 while serving, 503 while draining after SIGTERM) and `--metrics PATH`
//! (Prometheus text exposition format 0.0.4, loopback clients only unless
//! `--metrics-from-anywhere`). A refusal of a non-loopback client cannot be shown over
//! loopback; the flag that lifts it is checked to parse and to serve.

#![cfg(feature = "ops")]

mod common;

use common::*;
use std::collections::HashMap;
use std::time::Duration;

/// A health probe answers 200 `ok` while serving, HEAD included, never cached.
#[test]
fn health_answers_ok_while_serving() {
    let root = basic_root();
    let s = Server::start(&root.www, &["--health", "/healthz"]);
    let mut c = s.connect();
    c.send(&get_req("/healthz"));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok\n");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    c.send(&req("HEAD", "/healthz", &[]));
    let r = c.head_response();
    assert_eq!((r.status, r.body.len()), (200, 0));
    c.send(&req("POST", "/healthz", &[("Content-Length", "0")]));
    assert_eq!(c.response().status, 405);
    // Exactly PATH: anything else is a file (or not).
    assert_eq!(s.get("/healthz/x").status, 404);
}

/// After SIGTERM the server drains: a connection that had begun a request finishes it, and
/// a health probe answered meanwhile says 503 with Retry-After, so a balancer stops sending.
#[test]
fn health_answers_503_while_draining_after_sigterm() {
    let root = basic_root();
    let mut s = Server::start(&root.www, &["--health", "/healthz"]);
    let mut c = s.connect();
    c.send(&get_req("/healthz"));
    assert_eq!(c.response().status, 200);
    // Half a head on the kept connection: a request begun, which the drain waits for.
    c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n");
    std::thread::sleep(scaled(Duration::from_millis(200)));
    s.signal("TERM");
    std::thread::sleep(scaled(Duration::from_millis(300)));
    c.send(b"\r\n");
    let r = c.response();
    assert_eq!(r.status, 503, "{}", r.body_str());
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.connection_has("close"));
    let status = s
        .wait_exit(scaled(Duration::from_secs(5)))
        .expect("the server did not exit after the drain");
    assert!(status.success(), "{status:?}: {}", s.stderr_text());
}

/// The samples of a Prometheus text page, by `name{labels}`; every line is a comment or a
/// `name{labels} value` sample, and every sample's name has `# HELP` and `# TYPE`.
fn scrape(s: &Server) -> HashMap<String, u64> {
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.body_str();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').expect(line);
        let name = key.split('{').next().unwrap();
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line}"
        );
        assert!(key == name || key.ends_with('}'), "{line}");
        for comment in ["# HELP ", "# TYPE "] {
            assert!(
                text.contains(&format!("{comment}{name} ")),
                "{comment}{name}"
            );
        }
        samples.insert(key.to_string(), value.parse().expect(line));
    }
    samples
}

/// The counts grow by exactly the requests made, by status class.
#[test]
fn metrics_count_each_response_by_class() {
    let root = basic_root();
    // One worker: each response is counted before the next request is read.
    let s = Server::start(&root.www, &["--metrics", "/metrics", "--workers", "1"]);
    let before = scrape(&s);
    for _ in 0..3 {
        assert_eq!(s.get("/hello.txt").status, 200);
    }
    for _ in 0..2 {
        assert_eq!(s.get("/missing").status, 404);
    }
    let after = scrape(&s);
    let delta = |k: &str| after[k] - before[k];
    // The first scrape is a 2xx too.
    assert_eq!(delta("barehttpd_requests_total{class=\"2xx\"}"), 4);
    assert_eq!(delta("barehttpd_requests_total{class=\"4xx\"}"), 2);
    assert_eq!(delta("barehttpd_requests_total{class=\"5xx\"}"), 0);
    assert!(delta("barehttpd_response_bytes_total") >= 3 * 13);
    assert_eq!(
        delta("barehttpd_file_cache_hits_total") + delta("barehttpd_file_cache_misses_total"),
        5
    );
    assert!(after["barehttpd_connections_open"] >= 1);
    assert_eq!(after["barehttpd_cgi_running"], 0);
}

/// `--metrics-from-anywhere` parses, and loopback clients are served either way.
#[test]
fn metrics_from_anywhere_parses() {
    let root = basic_root();
    let s = Server::start(
        &root.www,
        &["--metrics", "/metrics", "--metrics-from-anywhere"],
    );
    assert!(scrape(&s).contains_key("barehttpd_tls_handshakes_total"));
}

/// A PATH that is not an absolute URL path is a one-line start-up error, exit code 2.
#[test]
fn a_path_not_starting_with_a_slash_is_one_line_exit_2() {
    for args in [&["--health", "healthz"][..], &["--metrics", "metrics"]] {
        let (code, _, err) = run_cli(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(args[0]), "{err}");
    }
    let (_, help, _) = run_cli(&["--help"]);
    assert!(help.contains("--metrics-from-anywhere") && help.contains("--health PATH"));
}
