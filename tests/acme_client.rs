//! The ACME client (`tls::acme`) end to end against a real ACME CA (pebble, from
//! `../shared/acceptance/acme-ca.sh`), without the server: this test answers the CA's
//! HTTP-01 and TLS-ALPN-01 checks itself from `Challenges`, as the server's listeners do.
//! `tests/acme.rs` runs the same against the server binary.
//!
//! One test function, because pebble's ports are fixed. Where pebble is missing it says
//! SKIPPED, except under CI=true, where that is a failure.
#![cfg(feature = "tls")]

#[path = "common/pebble.rs"]
mod pebble;

use barehttpd::tls::acme::{AcmeConfig, Challenges, start};
use pebble::Pebble;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every `Challenges` started in this process, for the responders to consult.
type AllChallenges = Arc<Mutex<Vec<Arc<Challenges>>>>;
/// Set: the HTTP-01 responder answers 404, so the CA's check fails.
static REFUSE_HTTP01: AtomicBool = AtomicBool::new(false);

fn http01_responder(port: u16, all: AllChallenges) {
    let l = TcpListener::bind(("127.0.0.1", port)).expect("bind the HTTP-01 port");
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head.split(' ').nth(1).unwrap_or_default();
            let token = path
                .strip_prefix("/.well-known/acme-challenge/")
                .unwrap_or("");
            let body = all
                .lock()
                .unwrap()
                .iter()
                .find_map(|c| c.http01(token))
                .filter(|_| !REFUSE_HTTP01.load(Ordering::SeqCst));
            let answer = match body {
                Some(b) => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{b}", b.len()),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into(),
            };
            let _ = s.write_all(answer.as_bytes());
        }
    });
}

#[derive(Debug)]
struct AlpnResolver(#[allow(dead_code)] &'static str, AllChallengesDebug);
struct AllChallengesDebug(AllChallenges);
impl std::fmt::Debug for AllChallengesDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("challenges")
    }
}

impl rustls::server::ResolvesServerCert for AlpnResolver {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        // RFC 8737 §3: only a ClientHello offering "acme-tls/1" gets the challenge cert.
        let acme = hello.alpn()?.any(|p| p == b"acme-tls/1");
        let name = hello.server_name()?;
        if !acme {
            return None;
        }
        let all = self.1.0.lock().unwrap();
        all.iter().find_map(|c| c.alpn_cert(name))
    }
}

fn tls_alpn01_responder(port: u16, all: AllChallenges) {
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(AlpnResolver(
            "acme-tls/1",
            AllChallengesDebug(all),
        )));
    cfg.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    let cfg = Arc::new(cfg);
    let l = TcpListener::bind(("127.0.0.1", port)).expect("bind the TLS-ALPN-01 port");
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let conn = rustls::ServerConnection::new(cfg.clone()).expect("server connection");
            let mut tls = rustls::StreamOwned::new(conn, s);
            let _ = tls.read(&mut [0u8; 1]);
        }
    });
}

/// A started client: each certificate installed arrives on `installed` as (chain, key).
struct Started {
    installed: Receiver<(Vec<u8>, Vec<u8>)>,
}

fn start_client(pebble: &Pebble, all: &AllChallenges, state: &Path, domains: &[&str]) -> Started {
    let challenges = Arc::new(Challenges::new());
    all.lock().unwrap().push(challenges.clone());
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    start(
        AcmeConfig {
            domains: domains.iter().map(|d| d.to_string()).collect(),
            directory: pebble::DIRECTORY.into(),
            ca_cert: Some(pebble.ca_https()),
            email: Some("ops@a.test".into()),
            state_dir: state.to_path_buf(),
        },
        challenges,
        Box::new(move |chain, key| {
            let _ = tx.lock().unwrap().send((chain.to_vec(), key.to_vec()));
        }),
    )
    .expect("start the ACME client");
    Started { installed: rx }
}

/// Serve `chain`/`key` over TLS on a fresh port and fetch a page from it with curl, trusting
/// only the CA's roots: the certificate is one the CA issued, for `name`.
fn curl_through(chain: &[u8], key: &[u8], name: &str, roots: &Path) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<_> = CertificateDer::pem_slice_iter(chain)
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key).expect("the key parses");
    let cfg = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("chain and key match"),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Some(s) = l.incoming().flatten().next() {
            let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(cfg).unwrap(), s);
            let mut buf = [0u8; 2048];
            let _ = tls.read(&mut buf);
            let _ = tls.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nissued",
            );
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    pebble::curl(roots, name, port, "/")
}

fn serial_of(chain: &[u8]) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let leaf = CertificateDer::pem_slice_iter(chain)
        .next()
        .unwrap()
        .unwrap();
    barehttpd::tls::x509::serial(&leaf).unwrap().to_vec()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

const ISSUE_LIMIT: Duration = Duration::from_secs(60);

#[test]
fn rfc8555_certificates_are_obtained_kept_and_renewed() {
    if let Err(why) = pebble::available() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED: ACME client end to end: {why}");
        return;
    }
    let base: PathBuf =
        std::env::temp_dir().join(format!("barehttpd-acme-client-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (http01, tlsalpn) = (pebble::free_port(), pebble::free_port());
    let ca = Pebble::start(&base.join("ca"), http01, tlsalpn);
    let all: AllChallenges = Arc::default();
    http01_responder(http01, all.clone());
    tls_alpn01_responder(tlsalpn, all.clone());

    // A fresh state dir: an account, an order for both names, a certificate the CA issued.
    let state = base.join("state");
    let c = start_client(&ca, &all, &state, &["a.test", "www.a.test"]);
    let (chain, key) = c
        .installed
        .recv_timeout(ISSUE_LIMIT)
        .expect("a certificate within 60 s");
    assert_eq!(
        curl_through(&chain, &key, "www.a.test", &ca.roots()),
        "issued"
    );
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("account.key")), 0o600);
    assert_eq!(mode(&state.join("a.test.pem")), 0o600);
    let account = std::fs::read(state.join("account.key")).unwrap();

    // A restart: the kept certificate is installed before start returns, and no new one
    // is ordered; the account key is the same.
    let again = start_client(&ca, &all, &state, &["a.test", "www.a.test"]);
    let (chain2, _) = again
        .installed
        .try_recv()
        .expect("installed synchronously at start");
    assert_eq!(serial_of(&chain2), serial_of(&chain));
    assert!(
        again
            .installed
            .recv_timeout(Duration::from_secs(3))
            .is_err(),
        "no new order"
    );
    assert_eq!(std::fs::read(state.join("account.key")).unwrap(), account);

    // Short-lived certificates renew themselves (at 2/3 of their lifetime), and an HTTP-01
    // check that fails makes the next order answer TLS-ALPN-01 instead.
    ca.restart_with_validity(15);
    REFUSE_HTTP01.store(true, Ordering::SeqCst);
    let short = start_client(&ca, &all, &base.join("state-short"), &["b.test"]);
    let (first, key) = short
        .installed
        .recv_timeout(ISSUE_LIMIT)
        .expect("a short-lived certificate");
    assert_eq!(curl_through(&first, &key, "b.test", &ca.roots()), "issued");
    let (renewed, _) = short
        .installed
        .recv_timeout(ISSUE_LIMIT)
        .expect("a renewal");
    assert_ne!(serial_of(&renewed), serial_of(&first));
    drop(ca);
    let _ = std::fs::remove_dir_all(&base);
}
