//! Several sites and path rules from a config file (`--config`), `--check-config`, and
//! SIGHUP reloads: real sockets, real files, the real binary.
#![cfg(feature = "ops")]

mod common;

use common::{Client, Server, TempRoot, req, run_cli, scaled};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A folder with two site roots (`a/`, `b/`, each with an index naming its site) and a
/// config file written from `toml` (its `{A}` and `{B}` replaced by the roots).
struct Setup {
    dir: TempRoot,
}

impl Setup {
    fn new() -> Setup {
        let dir = TempRoot::new();
        dir.file("a/index.html", b"site A\n");
        dir.file("b/index.html", b"site B\n");
        dir.file("b/pub/x.txt", b"x\n");
        Setup { dir }
    }

    fn write(&self, toml: &str) -> String {
        let p = self.dir.www.join("barehttpd.toml");
        std::fs::write(&p, toml).unwrap();
        p.to_str().unwrap().to_string()
    }

    fn start(&self, toml: &str) -> Server {
        let cfg = self.write(toml);
        Server::start_args(&["--config".into(), cfg])
    }
}

const TWO_SITES: &str = r#"
[server]
listen = ["127.0.0.1:0"]
workers = 2
access_log = "off"

[[site]]
names = ["a.test", "localhost"]
root = "a"
default = true

[[site]]
names = ["b.test", "*.b.test"]
root = "b"
listing = true
"#;

fn get_host(s: &Server, host: &str, path: &str) -> common::Response {
    s.request(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

#[test]
fn rfc9110_7_2_the_host_picks_the_site_and_unknown_names_get_the_default() {
    let setup = Setup::new();
    let s = setup.start(TWO_SITES);
    assert_eq!(get_host(&s, "a.test", "/").body_str(), "site A\n");
    assert_eq!(get_host(&s, "B.TEST:8080", "/").body_str(), "site B\n");
    assert_eq!(
        get_host(&s, "www.b.test", "/").body_str(),
        "site B\n",
        "wildcard"
    );
    assert_eq!(get_host(&s, "b.test", "/pub/x.txt").body_str(), "x\n");
    assert_eq!(
        get_host(&s, "a.test", "/pub/x.txt").status,
        404,
        "roots apart"
    );
    assert_eq!(get_host(&s, "other.test", "/").body_str(), "site A\n");
    let old = s.request(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(old.body_str(), "site A\n", "no Host: the default site");
    // Listing is b's setting only.
    assert_eq!(get_host(&s, "b.test", "/pub/").status, 200);
    setup.dir.file("a/pub/y.txt", b"y");
    assert_eq!(get_host(&s, "a.test", "/pub/").status, 403);
}

#[test]
fn path_rules_the_longest_prefix_wins_and_inherits_the_rest() {
    let setup = Setup::new();
    setup.dir.file("a/assets/app.js", b"js");
    setup.dir.file("a/files/f.txt", b"f");
    setup.dir.dir("a/up/ro");
    let s = setup.start(
        r#"
[server]
listen = ["127.0.0.1:0"]
access_log = "off"

[[site]]
root = "a"
default = true
headers = { "X-Site" = "a", "X-Frame-Options" = "DENY" }

[[site.path]]
prefix = "/assets/"
cache_control = "public, max-age=31536000, immutable"
headers = { "X-Site" = "a-assets" }

[[site.path]]
prefix = "/files"
listing = true

[[site.path]]
prefix = "/up/"
write = true

[[site.path]]
prefix = "/up/ro/"
write = false
"#,
    );
    let js = s.get("/assets/app.js");
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        js.header("x-site"),
        Some("a-assets"),
        "a rule's header replaces"
    );
    assert_eq!(
        js.header("x-frame-options"),
        Some("DENY"),
        "and inherits the others"
    );
    let index = s.get("/");
    assert_eq!(index.header("x-site"), Some("a"));
    assert_eq!(index.header("cache-control"), None);
    assert_eq!(s.get("/files/").status, 200, "listing under /files/");
    assert_eq!(s.get("/assets/").status, 403, "and not elsewhere");
    let put = |path: &str| {
        s.request(&common::put_req(path, "Connection: close\r\n", b"hello"))
            .status
    };
    assert_eq!(put("/up/new.txt"), 201);
    assert_eq!(s.get("/up/new.txt").body_str(), "hello");
    assert_eq!(put("/up/ro/new.txt"), 405, "write = false below /up/");
    assert_eq!(put("/files/new.txt"), 405);
    assert!(!setup.dir.www.join("a/up/ro/new.txt").exists());
    let opts = s.request(&req("OPTIONS", "/up/x", &[("Connection", "close")]));
    assert!(opts.header("allow").unwrap().contains("PUT"));
    let opts = s.request(&req("OPTIONS", "/up/ro/x", &[("Connection", "close")]));
    assert!(!opts.header("allow").unwrap().contains("PUT"));
}

fn basic(user: &str, pass: &str) -> String {
    let raw = format!("{user}:{pass}");
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

#[test]
fn rfc9110_11_readers_may_read_writers_may_write_and_others_neither() {
    let setup = Setup::new();
    setup.dir.file("a/priv/doc.txt", b"secret");
    let script = setup.dir.file(
        "a/cgi/hi.sh",
        b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhi'\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hash = |p: &str| bcrypt::hash(p, 4).unwrap();
    let users = format!(
        "alice:{}\nbob:{}\ncarol:{}\n",
        hash("wonder"),
        hash("builder"),
        hash("singer")
    );
    setup.dir.file("users.txt", users.as_bytes());
    let s = setup.start(
        r#"
[server]
listen = ["127.0.0.1:0"]
access_log = "off"
auth_file = "users.txt"

[[site]]
root = "a"
default = true

[[site.path]]
prefix = "/priv/"
write = true
readers = ["bob"]
writers = ["alice"]

[[site.path]]
prefix = "/cgi/"
cgi = true
readers = ["bob"]
"#,
    );
    let with = |method: &str, who: Option<(&str, &str)>, body: &[u8]| {
        let mut fields = vec![("Connection".to_string(), "close".to_string())];
        if let Some((u, p)) = who {
            fields.push(("Authorization".into(), basic(u, p)));
        }
        fields.push(("Content-Length".into(), body.len().to_string()));
        let mut raw = format!("{method} /priv/doc.txt HTTP/1.1\r\nHost: a\r\n");
        for (k, v) in &fields {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(body);
        s.request(&bytes)
    };
    assert_eq!(
        with("GET", None, b"").status,
        401,
        "reading needs credentials"
    );
    assert_eq!(
        with("GET", Some(("bob", "builder")), b"").body_str(),
        "secret"
    );
    assert_eq!(with("GET", Some(("bob", "wrong")), b"").status, 401);
    assert_eq!(
        with("GET", Some(("carol", "singer")), b"").status,
        403,
        "not a reader"
    );
    assert_eq!(
        with("GET", Some(("alice", "wonder")), b"").status,
        200,
        "writers read"
    );
    assert_eq!(
        with("PUT", Some(("bob", "builder")), b"new").status,
        403,
        "readers only read"
    );
    assert_eq!(
        std::fs::read(setup.dir.www.join("a/priv/doc.txt")).unwrap(),
        b"secret"
    );
    assert_eq!(with("PUT", Some(("alice", "wonder")), b"new").status, 204);
    assert_eq!(
        std::fs::read(setup.dir.www.join("a/priv/doc.txt")).unwrap(),
        b"new"
    );
    assert_eq!(
        s.get("/index.html").status,
        200,
        "outside /priv/ no credentials"
    );
    // OPTIONS says what is allowed without asking (clients ask it before authenticating).
    let opts = s.request(&req("OPTIONS", "/priv/doc.txt", &[("Connection", "close")]));
    assert!(opts.status < 300, "{opts:?}");
    // A program under `readers` is asked for credentials before it runs.
    assert_eq!(s.get("/cgi/hi.sh").status, 401);
    let auth = basic("bob", "builder");
    let mut c = s.connect();
    c.send(&req(
        "GET",
        "/cgi/hi.sh",
        &[("Authorization", &auth), ("Connection", "close")],
    ));
    let ran = String::from_utf8_lossy(&c.read_to_end()).to_string();
    assert!(
        ran.starts_with("HTTP/1.1 200") && ran.contains("hi"),
        "{ran}"
    );
}

#[test]
fn config_errors_name_the_file_the_line_and_the_key_and_change_nothing() {
    let setup = Setup::new();
    let cases = [
        (
            "[server]\nlisten = [\"127.0.0.1:0\"]\nmax_body = \"lots\"\n[[site]]\nroot = \"a\"\ndefault = true\n",
            ":3: server.max_body",
        ),
        (
            "[[site]]\nroot = \"a\"\ndefault = true\nlistin = true\n",
            ":4: site.listin: unknown key",
        ),
        (
            "[[site]]\nroot = \"nowhere\"\ndefault = true\n",
            ":2: site.root",
        ),
        (
            "[server]\nlisting = true\n[[site]]\nroot = \"a\"\ndefault = true\n",
            ":2: server.listing",
        ),
        (
            "[[site]]\nroot = \"a\"\nnames = [\"a b\"]\n",
            ":3: site.names",
        ),
        (
            "[[site]]\nroot = \"a\"\ndefault = true\n[[site.path]]\nprefix = \"x\"\n",
            ":5: site.path.prefix",
        ),
        (
            "[[site]]\nroot = \"a\"\ndefault = true\nheaders = { \"Bad Name\" = \"v\" }\n",
            ":4: site.headers",
        ),
        (
            "[[site]]\nroot = \"a\"\nnames = [\"a.test\"]\n[[site]]\nroot = \"b\"\nnames = [\"A.test\"]\n",
            "a.test is a name of the site",
        ),
        ("[server\n", ":1:"),
        // The values of `--hsts`, and what it needs (a build without HTTPS refuses the
        // keys themselves, at the same place).
        (
            "[[site]]\nroot = \"a\"\ndefault = true\nhsts = \"a year\"\n",
            ":4: site.hsts",
        ),
        (
            "[[site]]\nroot = \"a\"\ndefault = true\nredirect_https = 1\n",
            ":4: site.redirect_https",
        ),
        (
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[[site]]\nroot = \"a\"\ndefault = true\nredirect_https = true\n",
            "site.redirect_https",
        ),
    ];
    for (toml, want) in cases {
        let cfg = setup.write(toml);
        for flag in ["--check-config", "--config"] {
            let (code, _, err) = run_cli(&[flag, &cfg]);
            assert_eq!(code, Some(2), "{flag} {toml:?}: {err}");
            assert!(err.contains(&cfg) && err.contains(want), "{toml:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        }
    }
    let cfg = setup.write(TWO_SITES);
    let (code, out, err) = run_cli(&["--check-config", &cfg]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("ok: 2 sites"), "{out}");
    // Sites come from the file only.
    let (code, _, err) = run_cli(&["--config", &cfg, "--listing"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--listing"), "{err}");
}

#[test]
fn the_shipped_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/barehttpd.toml");
    let (code, out, err) = run_cli(&["--check-config", example.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn sighup_puts_a_new_config_in_force_and_a_broken_one_changes_nothing() {
    let setup = Setup::new();
    let s = setup.start(TWO_SITES);
    let mut kept = Client::connect(&s.addr());
    kept.send(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(kept.response().body_str(), "site A\n");
    // a.test moves to b's root, and a second listener is added.
    setup.write(&TWO_SITES.replace("root = \"a\"", "root = \"b\"").replace(
        "listen = [\"127.0.0.1:0\"]",
        "listen = [\"127.0.0.1:0\", \"127.0.0.1:0\"]",
    ));
    s.signal("HUP");
    wait_for(&s, "reload: 2 sites, 2 listeners (1 opened, 0 closed)");
    assert_eq!(
        get_host(&s, "a.test", "/").body_str(),
        "site B\n",
        "same port"
    );
    kept.send(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(
        kept.response().body_str(),
        "site B\n",
        "a kept-alive connection too"
    );
    let second = s
        .stderr_text()
        .lines()
        .rev()
        .find(|l| l.contains("reload"))
        .map(|l| l.to_string());
    assert!(second.is_some());
    // A broken file: reported, and the configuration in force stays.
    setup.write("[[site]]\nroot = \"nowhere\"\ndefault = true\n");
    s.signal("HUP");
    wait_for(&s, "the configuration in force stays");
    assert_eq!(get_host(&s, "a.test", "/").body_str(), "site B\n");
    // Back to one listener: the one asked for first stays (same port), the other closes.
    setup.write(TWO_SITES);
    s.signal("HUP");
    wait_for(&s, "(0 opened, 1 closed)");
    assert_eq!(get_host(&s, "a.test", "/").body_str(), "site A\n");
}

fn wait_for(s: &Server, text: &str) {
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    while !s.stderr_text().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in:\n{}",
            s.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// RFC 9110 §9.2.2-style availability through reloads: clients on new and kept-alive
/// connections while ten SIGHUPs go by. Not one connection refused or reset, not one
/// answer other than 200.
#[test]
fn ten_reloads_under_load_refuse_no_connection_and_fail_no_request() {
    let setup = Setup::new();
    let s = setup.start(TWO_SITES);
    let addr = s.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut threads = Vec::new();
    for t in 0..4 {
        let (addr, stop, done, failed) = (addr.clone(), stop.clone(), done.clone(), failed.clone());
        threads.push(std::thread::spawn(move || {
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                // Half the threads keep one connection for many requests, half connect anew.
                let r = if t % 2 == 0 {
                    burst(&addr, 20)
                } else {
                    burst(&addr, 1)
                };
                match r {
                    Ok(n) => {
                        done.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        errors.push(e);
                    }
                }
            }
            errors
        }));
    }
    for i in 0..10 {
        std::thread::sleep(Duration::from_millis(150));
        let root = if i % 2 == 0 { "b" } else { "a" };
        setup.write(&TWO_SITES.replace("root = \"a\"", &format!("root = \"{root}\"")));
        s.signal("HUP");
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let errors: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let reloads = s.stderr_text().matches("reload: 2 sites").count();
    assert_eq!(reloads, 10, "{}", s.stderr_text());
    assert!(
        errors.is_empty(),
        "{} failures: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(
        done.load(Ordering::Relaxed) > 100,
        "too few requests to prove anything"
    );
}

/// `n` requests on one connection; Ok(n) if every one got a 200 with a site's index.
fn burst(addr: &str, n: usize) -> Result<usize, String> {
    let mut c = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut pending = Vec::new();
    for i in 0..n {
        let close = if i + 1 == n {
            "Connection: close\r\n"
        } else {
            ""
        };
        let raw = format!("GET / HTTP/1.1\r\nHost: a.test\r\n{close}\r\n");
        c.write_all(raw.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        loop {
            if let Some((r, used)) = common::parse_response(&pending, false)? {
                pending.drain(..used);
                if r.status != 200 || !r.body_str().starts_with("site ") {
                    return Err(format!("status {}", r.status));
                }
                break;
            }
            let mut buf = [0u8; 4096];
            let got = c.read(&mut buf).map_err(|e| format!("read: {e}"))?;
            if got == 0 {
                return Err("closed early".into());
            }
            pending.extend_from_slice(&buf[..got]);
        }
    }
    Ok(n)
}

/// An upload begun before a reload is not lost (its temporary file was swept as an earlier
/// process's), and when the reload moved its rule it is answered with the headers of a rule
/// of the new reading (the default site's "/"), never with those of the rule that now sits
/// at the old one's index.
#[test]
fn an_upload_across_a_reload_that_moved_its_rule_gets_no_other_rule_s_headers() {
    let setup = Setup::new();
    setup.dir.dir("a/up");
    let conf = |first: &str, second: &str| {
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\naccess_log = \"off\"\n\n[[site]]\nroot = \"a\"\n\
             default = true\nheaders = {{ \"X-Rule\" = \"site\" }}\n\n{first}\n{second}"
        )
    };
    let up = "[[site.path]]\nprefix = \"/up/\"\nwrite = true\nheaders = { \"X-Rule\" = \"up\" }\n";
    let other = "[[site.path]]\nprefix = \"/other/\"\nheaders = { \"X-Rule\" = \"other\" }\n";
    let s = setup.start(&conf(up, other));
    let mut c = Client::connect(&s.addr());
    c.send(b"PUT /up/f.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc");
    // The upload is under way (its first bytes are in) when the rules swap places.
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !s.stderr_text().contains("reload: ") {
        if std::time::Instant::now() > end {
            break;
        }
        // Rules go longest prefix first: this one takes index 0, and /other/ the index
        // /up/ had.
        let longer = "[[site.path]]\nprefix = \"/a-longer-one/\"\n";
        setup.write(&conf(up, &format!("{other}\n{longer}")));
        s.signal("HUP");
        std::thread::sleep(Duration::from_millis(100));
    }
    c.send(b"def");
    let r = c.response();
    assert_eq!(r.status, 201, "{}", s.stderr_text());
    assert_ne!(r.header("x-rule"), Some("other"));
    assert_eq!(
        std::fs::read(setup.dir.www.join("a/up/f.txt")).unwrap(),
        b"abcdef"
    );
}
