//! HTTPS (`--tls-listen`): real TLS clients (rustls here, curl and openssl where they are
//! the client that matters) against the server over loopback sockets.
#![cfg(feature = "tls")]

mod common;

use common::{HELLO, Server, TempRoot, parse_response, pattern, scaled};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, StreamOwned};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A test CA, two leaves (a.test with localhost and 127.0.0.1; b.test) and a client
/// certificate, made once per test binary with openssl.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn get() -> &'static Certs {
        static CERTS: OnceLock<Certs> = OnceLock::new();
        CERTS.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("barehttpd-tls-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let sh = r#"set -e
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $ec -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
leaf() {
  openssl req -new $ec -subj /CN=$1 -keyout $1.key -out $1.csr
  printf "subjectAltName=$2\nextendedKeyUsage=$3\n" > $1.ext
  openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile $1.ext -out $1.leaf
  cat $1.leaf ca.pem > $1.pem
}
leaf a "DNS:a.test,DNS:localhost,IP:127.0.0.1" serverAuth
leaf b "DNS:b.test" serverAuth
leaf client "DNS:client.test" clientAuth
openssl req -x509 $ec -days 2 -subj /CN=other-ca -keyout other.key -out other.pem
"#;
            let ok = Command::new("sh")
                .args(["-c", sh])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("sh")
                .success();
            assert!(ok, "openssl could not make the test certificates");
            Certs { dir }
        })
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    fn roots(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.dir.join("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        Arc::new(roots)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn client_config(versions: &[&'static rustls::SupportedProtocolVersion]) -> ClientConfig {
    let mut c = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(Certs::get().roots())
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    c
}

fn both() -> ClientConfig {
    client_config(rustls::ALL_VERSIONS)
}

/// A server with a TLS listener for the a.test pair (then `extra`), and its HTTPS port.
fn start(root: &Path, extra: &[&str]) -> (Server, u16) {
    let c = Certs::get();
    let mut args = vec![
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        "",
        "--tls-key",
        "",
    ];
    let (cert, key) = (c.path("a.pem"), c.path("a.key"));
    args[3] = &cert;
    args[5] = &key;
    args.extend_from_slice(extra);
    let s = Server::start(root, &args);
    let port = tls_port(&s);
    (s, port)
}

fn tls_port(s: &Server) -> u16 {
    s.https_port()
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn connect_with(port: u16, config: ClientConfig, name: &str) -> Tls {
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn = ClientConnection::new(
        Arc::new(config),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap();
    StreamOwned::new(conn, sock)
}

fn connect(port: u16) -> Tls {
    connect_with(port, both(), "a.test")
}

/// Send `req` and read one response (not to HEAD).
fn exchange(tls: &mut Tls, req: &[u8], pending: &mut Vec<u8>) -> common::Response {
    tls.write_all(req).unwrap();
    read_response(tls, pending, false)
}

fn read_response(tls: &mut Tls, pending: &mut Vec<u8>, head: bool) -> common::Response {
    loop {
        if let Some((r, n)) = parse_response(pending, head).unwrap() {
            pending.drain(..n);
            return r;
        }
        let mut buf = [0u8; 65536];
        let n = tls.read(&mut buf).expect("read over TLS");
        assert!(n > 0, "closed before a whole response");
        pending.extend_from_slice(&buf[..n]);
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: a.test\r\n\r\n").into_bytes()
}

#[test]
fn rfc9110_4_2_2_https_serves_files_on_a_kept_connection_over_tls_1_3_and_1_2() {
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let big = pattern(3 << 20, 7);
    root.file("big.bin", &big);
    let (_s, port) = start(&root.www, &[]);
    for v in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut tls = connect_with(port, client_config(&[v]), "a.test");
        let mut pending = Vec::new();
        for _ in 0..3 {
            let r = exchange(&mut tls, &get("/hello.txt"), &mut pending);
            assert_eq!((r.status, r.body.as_slice()), (200, HELLO));
        }
        let r = exchange(&mut tls, &get("/big.bin"), &mut pending);
        assert_eq!(r.status, 200);
        assert!(r.body == big, "the 3 MiB body arrived damaged over {v:?}");
        let r = exchange(
            &mut tls,
            b"GET /big.bin HTTP/1.1\r\nHost: a.test\r\nRange: bytes=5-9,100-104\r\n\r\n",
            &mut pending,
        );
        assert_eq!(r.status, 206);
        assert!(
            r.body_str().contains("multipart/byteranges")
                || r.body.windows(5).any(|w| w == &big[5..10])
        );
        assert_eq!(tls.conn.protocol_version(), Some(v.version));
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    }
}

#[test]
fn rfc9112_9_3_2_pipelined_requests_over_tls_are_answered_in_order() {
    let root = TempRoot::new();
    root.file("a.txt", b"AAAA");
    root.file("b.txt", b"BB");
    let (_s, port) = start(&root.www, &[]);
    let mut tls = connect(port);
    let mut all = get("/a.txt");
    all.extend_from_slice(&get("/b.txt"));
    all.extend_from_slice(b"GET /a.txt HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    tls.write_all(&all).unwrap();
    let mut pending = Vec::new();
    let bodies: Vec<_> = (0..3)
        .map(|_| read_response(&mut tls, &mut pending, false).body)
        .collect();
    assert_eq!(bodies, [b"AAAA".to_vec(), b"BB".to_vec(), b"AAAA".to_vec()]);
    // RFC 8446 §6.1: the close is announced with close_notify, so the end is a clean EOF.
    let mut rest = Vec::new();
    let end = tls.read_to_end(&mut rest);
    assert!(
        end.is_ok(),
        "the server closed without close_notify: {end:?}"
    );
}

#[test]
fn rfc6066_3_the_certificate_is_chosen_by_the_name_the_client_asks_for() {
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let c = Certs::get();
    let (b_cert, b_key) = (c.path("b.pem"), c.path("b.key"));
    let (_s, port) = start(&root.www, &["--tls-cert", &b_cert, "--tls-key", &b_key]);
    for name in ["a.test", "b.test", "localhost"] {
        let mut tls = connect_with(port, both(), name);
        let mut pending = Vec::new();
        // The client verifies the certificate against the name: a wrong pick fails here.
        let r = exchange(&mut tls, &get("/hello.txt"), &mut pending);
        assert_eq!(r.status, 200, "for {name}");
        let leaf = &tls.conn.peer_certificates().unwrap()[0];
        let want = if name == "b.test" { "b.pem" } else { "a.pem" };
        let expected = CertificateDer::pem_file_iter(c.dir.join(want))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(leaf.as_ref(), expected.as_ref(), "for {name}");
    }
}

#[test]
fn a_certificate_replaced_on_disk_is_served_without_a_restart() {
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let c = Certs::get();
    // The server reads a copy that the test then replaces, as certbot does.
    let live = root.outside(
        "live-cert.pem",
        &std::fs::read(c.dir.join("a.pem")).unwrap(),
    );
    let live_key = root.outside("live-key.pem", &std::fs::read(c.dir.join("a.key")).unwrap());
    let (cert, key) = (live.to_str().unwrap(), live_key.to_str().unwrap());
    let s = Server::start(
        &root.www,
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert,
            "--tls-key",
            key,
        ],
    );
    let port = tls_port(&s);
    let mut kept = connect(port);
    let mut pending = Vec::new();
    assert_eq!(
        exchange(&mut kept, &get("/hello.txt"), &mut pending).status,
        200
    );
    // First a broken replacement: reported, and the old pair stays in use.
    std::fs::write(&live, b"-----BEGIN CERTIFICATE-----\ngarbage\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.stderr_text().contains("still using") {
        assert!(
            Instant::now() < deadline,
            "no report of the broken certificate: {}",
            s.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut tls = connect(port);
    assert_eq!(
        exchange(&mut tls, &get("/hello.txt"), &mut Vec::new()).status,
        200
    );
    // Then the b.test pair, renamed into place.
    let tmp = root.outside("new-cert.pem", &std::fs::read(c.dir.join("b.pem")).unwrap());
    let tmp_key = root.outside("new-key.pem", &std::fs::read(c.dir.join("b.key")).unwrap());
    std::fs::rename(&tmp_key, &live_key).unwrap();
    std::fs::rename(&tmp, &live).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut tls = connect_with(port, both(), "b.test");
        if tls.write_all(&get("/hello.txt")).is_ok() {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            if let Ok(n) = tls.read(&mut chunk) {
                buf.extend_from_slice(&chunk[..n]);
                if buf.starts_with(b"HTTP/1.1 200") {
                    break;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "the replaced certificate was not served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The connection made before the change goes on.
    assert_eq!(
        exchange(&mut kept, &get("/hello.txt"), &mut pending).status,
        200
    );
}

#[test]
fn rfc8446_4_3_2_a_client_certificate_is_required_with_tls_client_ca() {
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let c = Certs::get();
    let ca = c.path("ca.pem");
    let (_s, port) = start(&root.www, &["--tls-client-ca", &ca]);
    // Without a certificate: the handshake fails, nothing is served.
    let mut tls = connect(port);
    let _ = tls.write_all(&get("/hello.txt"));
    let mut buf = [0u8; 64];
    assert!(
        !matches!(tls.read(&mut buf), Ok(n) if n > 0),
        "served without a client certificate"
    );
    // With one from another CA: refused too.
    let with = |cert: &str, key: &str| {
        let chain: Vec<_> = CertificateDer::pem_file_iter(c.dir.join(cert))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(c.dir.join(key)).unwrap();
        let mut cfg = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(c.roots())
            .with_client_auth_cert(chain, key)
            .unwrap();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        connect_with(port, cfg, "a.test")
    };
    let mut tls = with("other.pem", "other.key");
    let _ = tls.write_all(&get("/hello.txt"));
    assert!(
        !matches!(tls.read(&mut buf), Ok(n) if n > 0),
        "served with a foreign certificate"
    );
    let mut tls = with("client.pem", "client.key");
    let r = exchange(&mut tls, &get("/hello.txt"), &mut Vec::new());
    assert_eq!((r.status, r.body.as_slice()), (200, HELLO));
}

#[test]
fn rfc8446_2_2_a_second_connection_resumes_the_session() {
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let (_s, port) = start(&root.www, &[]);
    for v in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let config = client_config(&[v]);
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let mut tls = connect_with(port, config.clone(), "a.test");
            let r = exchange(&mut tls, &get("/hello.txt"), &mut Vec::new());
            assert_eq!(r.status, 200);
            kinds.push(tls.conn.handshake_kind());
        }
        assert_eq!(
            kinds,
            [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)],
            "{v:?}"
        );
    }
}

#[test]
fn rfc6797_hsts_is_sent_over_https_and_never_over_http() {
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let (s, port) = start(&root.www, &["--hsts", "31536000"]);
    let r = exchange(&mut connect(port), &get("/hello.txt"), &mut Vec::new());
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let r = exchange(&mut connect(port), &get("/missing"), &mut Vec::new());
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    // RFC 6797 §7.2: not over plain HTTP.
    let r = s.get("/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("strict-transport-security"), None);
}

#[test]
fn rfc9110_15_4_9_redirect_https_sends_plain_requests_to_https_but_not_acme_challenges() {
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let (s, port) = start(&root.www, &["--redirect-https"]);
    let r =
        s.request(b"GET /hello.txt?x=1 HTTP/1.1\r\nHost: a.test:8080\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://a.test:{port}/hello.txt?x=1").as_str())
    );
    let r = s.request(
        b"PUT /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    assert_eq!(
        r.status, 308,
        "308 keeps the method: every method is sent over"
    );
    let r = s.get("/.well-known/acme-challenge/token");
    assert_ne!(
        r.status, 308,
        "an ACME challenge is answered over plain HTTP"
    );
    let r = exchange(&mut connect(port), &get("/hello.txt"), &mut Vec::new());
    assert_eq!(r.status, 200, "and HTTPS itself is served");
}

#[test]
fn a_plain_http_request_to_a_tls_port_gets_a_plain_400_and_garbage_a_close() {
    let root = TempRoot::new();
    let (_s, port) = start(&root.www, &[]);
    let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(
        text.contains("https://"),
        "the answer says what to do: {text}"
    );
    // Not a TLS record: closed at once, without an answer.
    let mut junk = TcpStream::connect(("127.0.0.1", port)).unwrap();
    junk.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    junk.write_all(&[0x00, 0xff, 0x13, 0x37, 0x00, 0x01])
        .unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let end = junk.read_to_end(&mut got);
    assert!(
        got.is_empty() && (end.is_ok() || end.unwrap_err().kind() == ErrorKind::ConnectionReset)
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "garbage was not closed at once"
    );
    // A TLS record that is not a valid ClientHello: an alert, then the close.
    let mut bad = TcpStream::connect(("127.0.0.1", port)).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    bad.write_all(&[22, 3, 1, 0, 4, 1, 0, 0, 0]).unwrap();
    let mut got = Vec::new();
    let _ = bad.read_to_end(&mut got);
    assert_eq!(got.first(), Some(&21), "a TLS alert record: {got:?}");
}

#[test]
fn a_silent_or_slow_handshake_is_closed_like_a_slow_request_head() {
    let root = TempRoot::new();
    let (_s, port) = start(&root.www, &["--header-timeout", "1"]);
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // The first bytes of a ClientHello, and then nothing.
    slow.write_all(&[22, 3, 1, 1, 0, 1]).unwrap();
    for s in [&mut silent, &mut slow] {
        s.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
        let start = Instant::now();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(5), "still open after {took:?}");
    }
    // And the server still serves.
    let r = exchange(&mut connect(port), &get("/"), &mut Vec::new());
    assert!(r.status == 403 || r.status == 200 || r.status == 404);
}

#[test]
fn rfc9110_10_1_1_a_put_with_100_continue_over_tls() {
    let root = TempRoot::new();
    root.dir("dav");
    let (_s, port) = start(&root.www, &["--write", "/dav/"]);
    let mut tls = connect(port);
    tls.write_all(b"PUT /dav/x.txt HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").unwrap();
    let mut pending = Vec::new();
    let interim = read_response(&mut tls, &mut pending, true);
    assert_eq!(interim.status, 100);
    tls.write_all(b"hello").unwrap();
    let r = read_response(&mut tls, &mut pending, false);
    assert_eq!(r.status, 201);
    assert_eq!(std::fs::read(root.www.join("dav/x.txt")).unwrap(), b"hello");
    // A body bigger than a record and than the read buffer.
    let big = pattern(200_000, 3);
    let mut req = format!(
        "PUT /dav/big.bin HTTP/1.1\r\nHost: a.test\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    let r = exchange(&mut tls, &req, &mut pending);
    assert_eq!(r.status, 201);
    assert!(std::fs::read(root.www.join("dav/big.bin")).unwrap() == big);
}

#[test]
fn curl_and_openssl_speak_to_it_and_old_protocols_are_refused() {
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let (_s, port) = start(&root.www, &[]);
    let c = Certs::get();
    let url = format!("https://a.test:{port}/hello.txt");
    let resolve = format!("a.test:{port}:127.0.0.1");
    let out = Command::new("curl")
        .args([
            "-sS",
            "--cacert",
            &c.path("ca.pem"),
            "--resolve",
            &resolve,
            &url,
            &url,
        ])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, [HELLO, HELLO].concat());
    // TLS 1.1 and older are not offered (RFC 8996).
    let connect = format!("127.0.0.1:{port}");
    for old in ["-tls1", "-tls1_1"] {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &connect, old])
            .stdin(Stdio::null())
            .output()
            .expect("openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("Cipher is ") || text.contains("Cipher is (NONE)"),
            "{old} was accepted: {text}"
        );
    }
}

#[test]
fn rfc3875_a_cgi_program_answering_over_https_is_told_so() {
    use std::os::unix::fs::PermissionsExt;
    let root = TempRoot::new();
    let script = root.file(
        "cgi-bin/scheme.cgi",
        b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"$REQUEST_SCHEME ${HTTPS:-off}\"\n",
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (s, port) = start(&root.www, &["--cgi", "/cgi-bin/"]);
    let mut tls = connect(port);
    tls.write_all(b"GET /cgi-bin/scheme.cgi HTTP/1.0\r\nHost: a.test\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    tls.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n\r\nhttps on\n"),
        "{text}"
    );
    let mut c = s.connect();
    c.send(b"GET /cgi-bin/scheme.cgi HTTP/1.0\r\nHost: a.test\r\n\r\n");
    let text = String::from_utf8_lossy(&c.read_to_end()).into_owned();
    assert!(text.ends_with("\r\n\r\nhttp off\n"), "{text}");
}

#[test]
fn trace_shows_the_tls_layer_beside_the_syscalls() {
    let root = TempRoot::new();
    root.file("hello.txt", HELLO);
    let (s, port) = start(&root.www, &["--trace", "--workers", "1"]);
    let mut tls = connect_with(port, client_config(&[&rustls::version::TLS13]), "a.test");
    let mut pending = Vec::new();
    for _ in 0..2 {
        assert_eq!(
            exchange(&mut tls, &get("/hello.txt"), &mut pending).status,
            200
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = s.stderr_text();
        if text.matches("records: read").count() >= 2 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no TLS lines in the trace: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // The handshake once, with what was negotiated, among the calls of the first request.
    assert_eq!(
        text.matches("tls: handshake full TLSv1_3").count(),
        1,
        "{text}"
    );
    assert!(text.contains("sni a.test, alpn http/1.1"), "{text}");
    // Each request: record bytes against plaintext bytes (the request line and head here
    // are the plaintext read; a record adds at least its 5-byte header and a tag).
    let second = text
        .rsplit("GET /hello.txt HTTP/1.1 -> 200")
        .next()
        .unwrap();
    let line = second
        .lines()
        .find(|l| l.contains("records: read"))
        .unwrap();
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 4, "{line}");
    assert_eq!(nums[1], get("/hello.txt").len() as u64, "{line}");
    assert!(
        nums[0] > nums[1] && nums[2] > nums[3],
        "records cost more than plaintext: {line}"
    );
}

/// `--proxy-protocol-tls-listen`: the PROXY header comes in clear before the ClientHello,
/// and its source is the client a CGI program is told about.
#[cfg(feature = "ops")]
#[test]
fn a_proxy_protocol_header_before_the_handshake_names_the_client() {
    use std::os::unix::fs::PermissionsExt;
    let root = TempRoot::new();
    let script = root.file(
        "cgi-bin/addr",
        b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"$REMOTE_ADDR $REMOTE_PORT\"\n",
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = [
        "--cgi",
        "/cgi-bin/",
        "--proxy-protocol-tls-listen",
        "127.0.0.1:0",
        "--trusted-proxy",
        "127.0.0.1",
    ];
    let (s, _) = start(&root.www, &extra);
    let port: u16 = {
        let lines = s.stderr.lock().unwrap();
        let words: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
        let at = words
            .iter()
            .position(|w| *w == "(PROXY")
            .expect("a PROXY listener");
        words[at - 1]
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.write_all(b"PROXY TCP4 192.0.2.7 10.0.0.1 4711 443\r\n")
        .unwrap();
    let conn = ClientConnection::new(
        Arc::new(both()),
        ServerName::try_from("a.test".to_string()).unwrap(),
    )
    .unwrap();
    let mut tls = StreamOwned::new(conn, sock);
    tls.write_all(b"GET /cgi-bin/addr HTTP/1.0\r\nHost: a.test\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    tls.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.ends_with("\r\n\r\n192.0.2.7 4711\n"), "{text}");
    // Without the header, the handshake is refused: the connection closes unanswered.
    let mut tls = connect(port);
    let refused =
        tls.write_all(&get("/")).is_err() || !matches!(tls.read(&mut [0u8; 64]), Ok(n) if n > 0);
    assert!(refused, "a TLS client without the header got an answer");
}

/// Two sites from a config file on one TLS port: each SNI name gets its site's certificate
/// and root; a request whose Host belongs to the other site gets 421 (RFC 9110 §15.5.20),
/// and the connection stays usable for its own site.
#[test]
#[cfg(feature = "ops")]
fn rfc9110_15_5_20_sites_by_sni_and_a_host_of_another_site_is_misdirected() {
    let root = TempRoot::new();
    root.file("a/index.html", b"site A\n");
    root.file("b/index.html", b"site B\n");
    let c = Certs::get();
    let cfg = root.outside(
        "sites.toml",
        format!(
            r#"
[server]
listen = ["127.0.0.1:0"]
tls_listen = ["127.0.0.1:0"]
access_log = "off"

[[site]]
names = ["a.test", "localhost"]
root = "{www}/a"
tls_cert = "{a}"
tls_key = "{ak}"

[[site]]
names = ["b.test"]
root = "{www}/b"
tls_cert = "{b}"
tls_key = "{bk}"
"#,
            www = root.www.display(),
            a = c.path("a.pem"),
            ak = c.path("a.key"),
            b = c.path("b.pem"),
            bk = c.path("b.key"),
        )
        .as_bytes(),
    );
    let s = Server::start_args(&["--config".into(), cfg.to_str().unwrap().into()]);
    let port = tls_port(&s);
    let host = |h: &str| format!("GET / HTTP/1.1\r\nHost: {h}\r\n\r\n").into_bytes();
    for (name, body) in [("a.test", "site A\n"), ("b.test", "site B\n")] {
        // The client checks the certificate against `name`: a wrong one fails here.
        let mut tls = connect_with(port, both(), name);
        let mut pending = Vec::new();
        let r = exchange(&mut tls, &host(name), &mut pending);
        assert_eq!((r.status, r.body_str().as_str()), (200, body), "{name}");
        let other = if name == "a.test" { "b.test" } else { "a.test" };
        let r = exchange(&mut tls, &host(other), &mut pending);
        assert_eq!(r.status, 421, "Host {other} over a connection for {name}");
        let r = exchange(&mut tls, &host(name), &mut pending);
        assert_eq!(r.status, 200, "the connection is still good for {name}");
    }
    // Plain HTTP on the same server: the Host alone picks.
    assert_eq!(
        s.request(b"GET / HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n")
            .body_str(),
        "site B\n"
    );
}

/// The threads of the server named `name` (their `comm`).
#[cfg(feature = "ops")]
fn threads_named(pid: u32, name: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("read /proc/PID/task")
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .count()
}

/// A reload (SIGHUP) to other certificate files serves the new certificate and leaves one
/// thread watching files, not one more per reload: the old store's watcher ends with it.
#[test]
#[cfg(feature = "ops")]
fn a_reload_to_other_certificate_files_leaves_one_watcher() {
    let root = TempRoot::new();
    root.file("index.html", b"hello\n");
    let c = Certs::get();
    let toml = |cert: &str, key: &str| {
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ntls_listen = [\"127.0.0.1:0\"]\n\
             access_log = \"off\"\n\n[[site]]\nnames = [\"a.test\", \"b.test\"]\n\
             root = \"{www}\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n",
            www = root.www.display(),
            cert = c.path(cert),
            key = c.path(key),
        )
    };
    let cfg = root.outside("tls.toml", toml("a.pem", "a.key").as_bytes());
    let s = Server::start_args(&["--config".into(), cfg.to_str().unwrap().into()]);
    let port = tls_port(&s);
    let watchers = || threads_named(s.pid(), "barehttpd-certs");
    // A thread names itself once it runs, which may come a moment after the banner.
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    while watchers() != 1 {
        assert!(
            Instant::now() < deadline,
            "{} watchers at start",
            watchers()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for (i, (cert, key, name)) in [("b.pem", "b.key", "b.test"), ("a.pem", "a.key", "a.test")]
        .into_iter()
        .cycle()
        .take(4)
        .enumerate()
    {
        std::fs::write(&cfg, toml(cert, key)).unwrap();
        s.signal("HUP");
        let deadline = Instant::now() + scaled(Duration::from_secs(10));
        while s.stderr_text().matches("reload:").count() <= i {
            assert!(Instant::now() < deadline, "{}", s.stderr_text());
            std::thread::sleep(Duration::from_millis(20));
        }
        // The client checks the certificate against `name`: only the new pair has it. A
        // worker takes the new configuration up between two passes of its loop, so a
        // connection in the same pass as the reload's wake-up may still meet the old pair.
        let deadline = Instant::now() + scaled(Duration::from_secs(10));
        let r = loop {
            let mut tls = connect_with(port, both(), name);
            match tls.write_all(&get("/index.html")) {
                Ok(()) => break read_response(&mut tls, &mut Vec::new(), false),
                Err(e) if Instant::now() > deadline => {
                    panic!("{name} after reload {}: {e}\n{}", i + 1, s.stderr_text())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        assert_eq!(r.status, 200, "{name} after reload {}", i + 1);
    }
    // Each old watcher ends within a second of its store's last user (its sleep).
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    while watchers() != 1 {
        assert!(
            Instant::now() < deadline,
            "{} certificate watchers after 4 reloads\n{}",
            watchers(),
            s.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Three sites from a config file on one plain and one TLS port, as `[[site]]` tables:
/// a.test and b.test with their own certificates, and localhost (the default site, under
/// a.pem, which names it too) with no certificate of its own. `server` adds to `[server]`,
/// `a` and `b` to those sites.
#[cfg(feature = "ops")]
fn three_sites(root: &TempRoot, server: &str, a: &str, b: &str) -> String {
    let c = Certs::get();
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
tls_listen = ["127.0.0.1:0"]
access_log = "off"
{server}

[[site]]
names = ["a.test"]
root = "{www}/a"
tls_cert = "{ac}"
tls_key = "{ak}"
{a}

[[site]]
names = ["b.test"]
root = "{www}/b"
tls_cert = "{bc}"
tls_key = "{bk}"
{b}

[[site]]
names = ["localhost"]
root = "{www}/c"
default = true
"#,
        www = root.www.display(),
        ac = c.path("a.pem"),
        ak = c.path("a.key"),
        bc = c.path("b.pem"),
        bk = c.path("b.key"),
    )
}

#[cfg(feature = "ops")]
fn three_roots() -> TempRoot {
    let root = TempRoot::new();
    for (dir, body) in [("a", "site A\n"), ("b", "site B\n"), ("c", "site C\n")] {
        root.file(&format!("{dir}/index.html"), body.as_bytes());
    }
    root
}

/// `GET /` over HTTPS to `name` (the SNI name, checked against the certificate, and the
/// Host).
#[cfg(feature = "ops")]
fn https_get(port: u16, name: &str) -> common::Response {
    let req = format!("GET / HTTP/1.1\r\nHost: {name}\r\n\r\n");
    exchange(
        &mut connect_with(port, both(), name),
        req.as_bytes(),
        &mut Vec::new(),
    )
}

#[cfg(feature = "ops")]
fn plain_get(s: &Server, host: &str) -> common::Response {
    s.request(format!("GET /?q=1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
}

/// RFC 6797 §6.1 and RFC 9110 §15.4.9 per site, as nginx sets them per `server` block: a
/// site's `hsts` and `redirect_https` apply to its names only (by Host over plain HTTP, by
/// SNI and Host over HTTPS), `hsts = false` turns the server's off, and a site that says
/// nothing takes the server's.
#[test]
#[cfg(feature = "ops")]
fn rfc6797_hsts_and_the_https_redirect_are_set_per_site_over_the_server_s() {
    let root = three_roots();
    let toml = three_sites(
        &root,
        "hsts = 600",
        "hsts = 31536000\nredirect_https = true",
        "hsts = false",
    );
    let cfg = root.outside("sites.toml", toml.as_bytes());
    let s = Server::start_args(&["--config".into(), cfg.to_str().unwrap().into()]);
    let port = tls_port(&s);
    let sts = "strict-transport-security";
    for (name, body, want) in [
        ("a.test", "site A\n", Some("max-age=31536000")),
        ("b.test", "site B\n", None),
        ("localhost", "site C\n", Some("max-age=600")),
    ] {
        let r = https_get(port, name);
        assert_eq!((r.status, r.body_str().as_str()), (200, body), "{name}");
        assert_eq!(r.header(sts), want, "HTTPS to {name}");
    }
    // Plain HTTP: a.test is sent to https, the others are served, and none gets the header
    // (RFC 6797 §7.2).
    let r = plain_get(&s, "a.test");
    assert_eq!(r.status, 308, "a.test over plain HTTP");
    assert_eq!(
        r.header("location"),
        Some(format!("https://a.test:{port}/?q=1").as_str())
    );
    assert_eq!(r.header(sts), None);
    for (host, body) in [
        ("b.test", "site B\n"),
        ("localhost", "site C\n"),
        ("unknown.test", "site C\n"),
    ] {
        let r = plain_get(&s, host);
        assert_eq!((r.status, r.body_str().as_str()), (200, body), "{host}");
        assert_eq!(r.header(sts), None, "{host} over plain HTTP");
    }
}

/// The server's `redirect_https` is every site's unless the site says otherwise, and a
/// SIGHUP puts a site's new `hsts` and `redirect_https` in force for new requests.
#[test]
#[cfg(feature = "ops")]
fn a_reload_turns_a_site_s_hsts_on_and_its_redirect_off() {
    let root = three_roots();
    let cfg = root.outside(
        "sites.toml",
        three_sites(&root, "redirect_https = true", "", "redirect_https = false").as_bytes(),
    );
    let s = Server::start_args(&["--config".into(), cfg.to_str().unwrap().into()]);
    let port = tls_port(&s);
    let sts = "strict-transport-security";
    assert_eq!(https_get(port, "b.test").header(sts), None);
    assert_eq!(plain_get(&s, "b.test").status, 200, "b.test opts out");
    assert_eq!(plain_get(&s, "a.test").status, 308, "the server's default");
    assert_eq!(
        plain_get(&s, "localhost").status,
        308,
        "the server's default"
    );
    std::fs::write(
        &cfg,
        three_sites(
            &root,
            "redirect_https = true",
            "redirect_https = false",
            "redirect_https = false\nhsts = 86400",
        ),
    )
    .unwrap();
    s.signal("HUP");
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    while !s.stderr_text().contains("reload:") {
        assert!(Instant::now() < deadline, "{}", s.stderr_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        s.stderr_text().contains("reload: 3 sites"),
        "{}",
        s.stderr_text()
    );
    assert_eq!(https_get(port, "b.test").header(sts), Some("max-age=86400"));
    assert_eq!(https_get(port, "a.test").header(sts), None);
    let r = plain_get(&s, "a.test");
    assert_eq!((r.status, r.body_str().as_str()), (200, "site A\n"));
    assert_eq!(plain_get(&s, "localhost").status, 308, "unchanged");
}

/// RFC 9110 §15.6.4 at `--max-connections` on a TLS listener: no HTTP text can reach a
/// client before a handshake (it used to get "HTTP/1.1 503" as plain bytes, which every TLS
/// client takes for a broken record), so the refused connection gets a TLS alert,
/// internal_error, that the client reports as such.
#[test]
fn a_full_server_refuses_a_tls_client_with_an_alert() {
    let root = TempRoot::new();
    root.file("big.bin", &vec![7u8; 8 << 20]);
    root.file("index.html", b"hello\n");
    let (s, port) = start(&root.www, &["--workers", "1", "--max-connections", "1"]);
    // The one connection there is room for, busy: a download its client does not read.
    let mut busy = TcpStream::connect(s.addr()).unwrap();
    busy.write_all(b"GET /big.bin HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 16];
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    busy.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200"));
    let mut tls = connect(port);
    let err = tls
        .write_all(&get("/index.html"))
        .and_then(|_| tls.flush())
        .and_then(|_| tls.read(&mut [0u8; 64]))
        .expect_err("a refused handshake");
    let text = format!("{err:?}");
    assert!(
        text.contains("InternalError"),
        "the client should report the server's alert: {text}"
    );
    drop(busy);
}
