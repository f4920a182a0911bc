//! Credentials for writes: `--auth-file` with HTTP Basic (RFC 7617, RFC 9110 §11), and the
//! start-up refusal to accept anonymous writes on a non-loopback address.
//!
//! The auth file is made here with `bcrypt::hash` at the lowest cost, so each check is fast.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `alice:s3cret` and `bob:hunter2`, base64 (RFC 7617 §2: user-id ":" password).
const ALICE: &str = "YWxpY2U6czNjcmV0";
const ALICE_WRONG: &str = "YWxpY2U6d3Jvbmc="; // alice:wrong
const MALLORY: &str = "bWFsbG9yeTpzM2NyZXQ="; // mallory:s3cret (no such user)
const BOB: &str = "Ym9iOmh1bnRlcjI=";

fn auth_file(root: &TempRoot) -> PathBuf {
    let text = format!(
        "# users\nalice:{}\n\nbob:{}\n",
        bcrypt::hash("s3cret", 4).unwrap(),
        bcrypt::hash("hunter2", 4).unwrap()
    );
    root.outside("users.htpasswd", text.as_bytes())
}

/// A PUT with `Authorization: {auth}` when there is one.
fn authed_put(path: &str, auth: Option<&str>, body: &[u8]) -> Vec<u8> {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    put_req(path, &auth, body)
}

fn setup() -> (TempRoot, Server) {
    let root = basic_root();
    root.file("dav/existing.txt", b"existing\n");
    let users = auth_file(&root);
    let s = Server::start(
        &root.www,
        &["--write", "/dav/", "--auth-file", users.to_str().unwrap()],
    );
    (root, s)
}

fn assert_challenge(r: &Response, what: &str) {
    assert_eq!(r.status, 401, "{what}");
    let ch = r
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: 401 without WWW-Authenticate"));
    assert!(
        ch.len() > 6 && ch[..6].eq_ignore_ascii_case("basic ") && ch.contains("realm="),
        "{what}: WWW-Authenticate {ch:?}"
    );
}

/// RFC 9110 §11.6.1 and §15.5.2: a write without valid credentials is 401 with a
/// WWW-Authenticate challenge for Basic (RFC 7617 §2: with a realm); missing credentials, a
/// wrong password, an unknown user and another scheme are all refused, and nothing is
/// written. The right password writes.
#[test]
fn rfc7617_2_writes_need_valid_basic_credentials() {
    let (root, s) = setup();
    let before = std::fs::read_dir(root.www.join("dav")).unwrap().count();
    for (auth, what) in [
        (None, "no credentials"),
        (Some(format!("Basic {ALICE_WRONG}")), "wrong password"),
        (Some(format!("Basic {MALLORY}")), "unknown user"),
        (Some("Bearer abc".to_string()), "another scheme"),
        (Some("Basic !!!!".to_string()), "not base64"),
        (Some("Basic ".to_string()), "empty credentials"),
    ] {
        let r = s.request(&authed_put("/dav/new.txt", auth.as_deref(), b"new\n"));
        assert_challenge(&r, &format!("PUT with {what}"));
        let r = s.request(&authed_put(
            "/dav/existing.txt",
            auth.as_deref(),
            b"changed\n",
        ));
        assert_challenge(&r, &format!("PUT replacing, with {what}"));
        let r = s.request(
            format!(
                "DELETE /dav/existing.txt HTTP/1.1\r\nHost: t\r\n{}\r\n",
                auth.as_deref()
                    .map_or(String::new(), |a| format!("Authorization: {a}\r\n"))
            )
            .as_bytes(),
        );
        assert_challenge(&r, &format!("DELETE with {what}"));
    }
    assert!(!root.www.join("dav/new.txt").exists());
    assert_eq!(
        std::fs::read(root.www.join("dav/existing.txt")).unwrap(),
        b"existing\n"
    );
    assert_eq!(
        std::fs::read_dir(root.www.join("dav")).unwrap().count(),
        before
    );

    let r = s.request(&authed_put(
        "/dav/new.txt",
        Some(&format!("Basic {ALICE}")),
        b"new\n",
    ));
    assert_eq!(r.status, 201, "the right password");
    assert_eq!(
        std::fs::read(root.www.join("dav/new.txt")).unwrap(),
        b"new\n"
    );
    // The scheme name is case-insensitive (RFC 9110 §11.1); a second user works too.
    let r = s.request(&authed_put(
        "/dav/bob.txt",
        Some(&format!("basic {BOB}")),
        b"bob\n",
    ));
    assert_eq!(r.status, 201, "bob, lower-case scheme");
    let r = s.request(
        format!(
            "DELETE /dav/existing.txt HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {ALICE}\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 204);
    assert!(!root.www.join("dav/existing.txt").exists());
}

/// Reads need no credentials: `--auth-file` guards writes only (RFC 9110 §11.6.1 applies to
/// the resources the server chooses to protect).
#[test]
fn rfc9110_11_6_1_reads_need_no_credentials() {
    let (_root, s) = setup();
    let r = s.get("/dav/existing.txt");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"existing\n"[..]));
    assert_eq!(s.get("/hello.txt").body, HELLO);
}

/// RFC 9110 §10.1.1: a PUT with `Expect: 100-continue` and no credentials gets its 401 at
/// once, without a 100 that would make the client send the body for nothing.
#[test]
fn rfc9110_10_1_1_unauthenticated_put_gets_401_without_100() {
    let (root, s) = setup();
    let mut c = s.connect();
    let t0 = Instant::now();
    c.send(b"PUT /dav/e.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n");
    let r = c.response();
    assert_challenge(&r, "first answer to an unauthenticated Expect PUT");
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(!root.www.join("dav/e.txt").exists());
}

/// Writes without credentials on a public address would let anyone change the files: the
/// server refuses to start (exit 2, one line on stderr saying what to add), unless told
/// explicitly with --write-without-auth, or given --auth-file.
#[test]
fn write_on_a_public_address_needs_auth_or_an_explicit_flag() {
    let root = basic_root();
    root.dir("dav");
    let www = root.www.to_str().unwrap();
    let (code, _out, err) = run_cli(&[www, "--write", "/dav/", "--listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(2), "exit status; stderr {err:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "stderr: {err:?}");
    assert!(
        err.contains("--auth-file") && err.contains("--write-without-auth"),
        "the error does not say what to do: {err:?}"
    );

    let args = |extra: &[&str]| -> Vec<String> {
        [
            www,
            "--listen",
            "0.0.0.0:0",
            "--workers",
            "1",
            "--access-log",
            "off",
            "--write",
            "/dav/",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    let s = Server::start_args(&args(&["--write-without-auth"]));
    let r = s.request(&authed_put("/dav/anon.txt", None, b"anon\n"));
    assert_eq!(
        r.status, 201,
        "--write-without-auth allows anonymous writes"
    );
    assert_eq!(
        std::fs::read(root.www.join("dav/anon.txt")).unwrap(),
        b"anon\n"
    );
    drop(s);

    let users = auth_file(&root);
    let s = Server::start_args(&args(&["--auth-file", users.to_str().unwrap()]));
    let r = s.request(&authed_put("/dav/anon2.txt", None, b"anon\n"));
    assert_challenge(&r, "public address with --auth-file");
    assert!(!root.www.join("dav/anon2.txt").exists());
}

/// A malformed auth file stops the start with exit 2 and names the file and line.
#[test]
fn a_bad_auth_file_is_refused_at_start() {
    let root = basic_root();
    let bad = root.outside("bad.htpasswd", b"alice:plaintext-password\n");
    let (code, _out, err) = run_cli(&[
        root.www.to_str().unwrap(),
        "--write",
        "/dav/",
        "--auth-file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "stderr {err:?}");
    assert!(
        err.contains("bad.htpasswd") && err.contains("line 1"),
        "{err:?}"
    );
}

/// A password flood does not stall other clients: hashes are verified off the event loop,
/// a wrong password closes its connection (so one connection cannot pipeline guesses), and
/// an address that keeps failing is refused with 429 without hashing at all. With one
/// worker and a cost-10 bcrypt hash (about 60 ms each; 240 ms at cost 12), two connections
/// pipelining 25 wrong DELETEs each used to make a GET wait for seconds.
#[test]
fn rfc6585_4_a_password_flood_stalls_no_one_and_is_limited() {
    let root = basic_root();
    root.file("dav/keep.txt", b"keep\n");
    let text = format!("alice:{}\n", bcrypt::hash("s3cret", 10).unwrap());
    let users = root.outside("slow.htpasswd", text.as_bytes());
    let s = Server::start(
        &root.www,
        &[
            "--workers",
            "1",
            "--write",
            "/dav/",
            "--auth-file",
            users.to_str().unwrap(),
        ],
    );
    let guess = |i: usize| {
        let cred = format!("alice:wrong{i}");
        format!(
            "DELETE /dav/keep.txt HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {}\r\n\r\n",
            b64(cred.as_bytes())
        )
    };
    let mut floods = Vec::new();
    for k in 0..2 {
        let mut c = s.connect();
        let many: String = (0..25).map(|i| guess(k * 100 + i)).collect();
        c.send(many.as_bytes());
        floods.push(c);
    }
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..5 {
        let t = Instant::now();
        let r = s.get("/hello.txt");
        assert_eq!(r.status, 200);
        assert!(
            t.elapsed() < scaled(Duration::from_millis(500)),
            "a GET waited {:?} behind a password flood",
            t.elapsed()
        );
    }
    // Each flood connection gets one answer to its first guess (401 or, once its address
    // has failed too often, 429), which says the connection closes; nothing more.
    for mut c in floods {
        let r = c.response();
        assert!(matches!(r.status, 401 | 429), "status {}", r.status);
        assert!(r.connection_has("close"), "a failed attempt must close");
        c.assert_closed(scaled(Duration::from_secs(5)), "after a wrong password");
    }
    // Keep guessing from this address: within a dozen attempts the server stops hashing
    // and answers 429 with Retry-After.
    let mut limited = None;
    for i in 0..12 {
        let r = s.request(
            guess(1000 + i)
                .replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 401);
    }
    let r = limited.expect("an address guessing again and again is limited");
    assert!(r.header("retry-after").is_some());
    assert!(
        root.www.join("dav/keep.txt").exists(),
        "nothing was deleted"
    );
}

/// The credentials file is read again when it changes: a user removed from it loses write
/// access at once (within the second the server waits between looks), without a restart,
/// though this worker had verified that user's password before.
#[test]
fn a_user_removed_from_the_auth_file_can_no_longer_write() {
    let root = basic_root();
    root.dir("dav");
    let users = auth_file(&root);
    let s = Server::start(
        &root.www,
        &[
            "--workers",
            "1",
            "--write",
            "/dav/",
            "--auth-file",
            users.to_str().unwrap(),
        ],
    );
    let r = s.request(&authed_put(
        "/dav/a.txt",
        Some(&format!("Basic {ALICE}")),
        b"one\n",
    ));
    assert_eq!(r.status, 201);
    std::fs::write(
        &users,
        format!("bob:{}\n", bcrypt::hash("hunter2", 4).unwrap()),
    )
    .unwrap();
    let deadline = Instant::now() + scaled(Duration::from_secs(3));
    loop {
        let r = s.request(&authed_put(
            "/dav/a.txt",
            Some(&format!("Basic {ALICE}")),
            b"two\n",
        ));
        if r.status == 401 {
            break;
        }
        assert_eq!(r.status, 204);
        assert!(
            Instant::now() < deadline,
            "alice can still write after her removal"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = s.request(&authed_put(
        "/dav/b.txt",
        Some(&format!("Basic {BOB}")),
        b"bob\n",
    ));
    assert_eq!(r.status, 201, "bob, added, can write");
}

fn b64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
