//! A throw-away ACME client run without the server: answers HTTP-01 on one port and
//! TLS-ALPN-01 on another from `Challenges`, and prints each certificate installed.
//! `cargo run --example acme_harness -- HTTP_PORT TLS_PORT DIRECTORY CA_PEM STATE_DIR DOMAIN...`
use barehttpd::tls::acme::{AcmeConfig, Challenges, start};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

#[derive(Debug)]
struct Alpn(Arc<ChallengesDbg>);
struct ChallengesDbg(Arc<Challenges>);
impl std::fmt::Debug for ChallengesDbg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Challenges")
    }
}
impl rustls::server::ResolvesServerCert for Alpn {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut p| p.any(|p| p == b"acme-tls/1"));
        eprintln!(
            "harness: TLS hello sni={:?} acme-tls/1={acme}",
            hello.server_name()
        );
        if acme {
            self.0.0.alpn_cert(hello.server_name()?)
        } else {
            None
        }
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let challenges = Arc::new(Challenges::new());
    let http = TcpListener::bind(format!("127.0.0.1:{}", a[1])).unwrap();
    let ch = challenges.clone();
    std::thread::spawn(move || {
        for s in http.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split(' ').nth(1).unwrap_or("");
            let token = path
                .strip_prefix("/.well-known/acme-challenge/")
                .unwrap_or("");
            let ans = ch
                .http01(token)
                .filter(|_| std::env::var_os("NO_HTTP01").is_none());
            eprintln!("harness: HTTP {path} -> {}", ans.is_some());
            let resp = match ans {
                Some(b) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                    b.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .into(),
            };
            let _ = s.write_all(resp.as_bytes());
        }
    });
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Alpn(Arc::new(ChallengesDbg(challenges.clone())))));
    cfg.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    let cfg = Arc::new(cfg);
    let tls = TcpListener::bind(format!("127.0.0.1:{}", a[2])).unwrap();
    std::thread::spawn(move || {
        for s in tls.incoming().flatten() {
            let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
            let mut st = rustls::StreamOwned::new(conn, s);
            let mut b = [0u8; 1];
            let r = st.read(&mut b);
            eprintln!("harness: TLS done {r:?}");
        }
    });
    start(
        AcmeConfig {
            domains: a[6..].to_vec(),
            directory: a[3].clone(),
            ca_cert: Some(a[4].clone().into()),
            email: Some("admin@a.test".into()),
            state_dir: a[5].clone().into(),
        },
        challenges,
        Box::new(|chain, key| {
            eprintln!(
                "harness: INSTALLED chain {} bytes, key {} bytes",
                chain.len(),
                key.len()
            );
        }),
    )
    .unwrap_or_else(|e| {
        eprintln!("harness: start failed: {e}");
        std::process::exit(2)
    });
    std::thread::sleep(std::time::Duration::from_secs(
        a.get(0).map_or(120, |_| 120),
    ));
}
