//! A blocking HTTPS/1.1 client for the ACME thread: one TLS connection per request
//! (`Connection: close`), rustls over a `std::net::TcpStream` with timeouts.
//!
//! ACME needs some twenty requests per certificate, every few weeks, so a new connection
//! each time costs nothing that matters and saves a connection pool. The trusted roots are
//! the system's bundle (read once at start, and updated by the system; webpki-roots would
//! freeze a copy into the binary that goes stale with it) plus the operator's
//! `--acme-ca-cert`.
//! Responses are framed by Content-Length, chunked coding or the end of the connection, and
//! are refused past `MAX_RESPONSE`: nothing the CA sends legitimately comes close.

use super::codec::Json;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A certificate chain is a few KB and a directory or order less; 1 MiB is far above any
/// of them and bounds what a broken or hostile endpoint can make us hold.
const MAX_RESPONSE: usize = 1 << 20;
/// How long connecting, and then each read or write, may block.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Where Linux distributions (Debian, Fedora, Alpine) and macOS keep the system's trusted
/// roots as one PEM bundle; the first one present is read.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

pub struct Client {
    config: Arc<rustls::ClientConfig>,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Option<Json> {
        Json::parse(&self.body)
    }
}

impl Client {
    /// A client trusting the system's roots and, if given, the PEM certificates in `extra`.
    pub fn new(extra: Option<&Path>) -> Result<Client, String> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(path) = SYSTEM_BUNDLES.iter().find(|p| Path::new(p).exists()) {
            add_pem_file(&mut roots, Path::new(path))?;
        }
        if let Some(path) = extra {
            let before = roots.len();
            add_pem_file(&mut roots, path)?;
            if roots.len() == before {
                return Err(format!(
                    "--acme-ca-cert {}: no PEM certificate in it",
                    path.display()
                ));
            }
        }
        if roots.is_empty() {
            return Err(format!(
                "no trusted roots to check the ACME CA with: none of {} exists; give one with --acme-ca-cert",
                SYSTEM_BUNDLES.join(", ")
            ));
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            config: Arc::new(config),
        })
    }

    pub fn get(&self, url: &str) -> Result<Response, String> {
        self.request("GET", url, None)
    }

    pub fn head(&self, url: &str) -> Result<Response, String> {
        self.request("HEAD", url, None)
    }

    /// A POST of a JWS (RFC 8555 §6.2: application/jose+json).
    pub fn post_jose(&self, url: &str, body: &[u8]) -> Result<Response, String> {
        self.request("POST", url, Some(body))
    }

    fn request(&self, method: &str, url: &str, body: Option<&[u8]>) -> Result<Response, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("{method} {url}: {what}: {e}");
        let (host, port, path) =
            split_url(url).ok_or_else(|| fail("bad URL", &"not https://HOST[:PORT]/PATH"))?;
        let name = ServerName::try_from(host.to_string()).map_err(|e| fail("bad host", &e))?;
        let tcp = connect(host, port).map_err(|e| fail("connect", &e))?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| fail("TLS", &e))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);

        let authority = if port == 443 {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: barehttpd/{}\r\nAccept: */*\r\nConnection: close\r\n",
            env!("CARGO_PKG_VERSION")
        );
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/jose+json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body.unwrap_or_default());
        tls.write_all(&out)
            .and_then(|()| tls.flush())
            .map_err(|e| fail("send", &e))?;

        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = match tls.read(&mut chunk) {
                Ok(n) => n,
                // A peer that closes without close_notify: the framing below decides
                // whether the answer is whole.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(fail("receive", &e)),
            };
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_RESPONSE {
                return Err(fail(
                    "receive",
                    &format!("answer larger than {MAX_RESPONSE} bytes"),
                ));
            }
            match parse(&buf, method == "HEAD", n == 0) {
                Parsed::Done(r) => return Ok(r),
                Parsed::Bad(why) => return Err(fail("bad answer", &why)),
                Parsed::More if n == 0 => {
                    return Err(fail("receive", &"connection closed mid-answer"));
                }
                Parsed::More => {}
            }
        }
    }
}

fn add_pem_file(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // Bundles carry the odd certificate webpki cannot use; skip those rather than fail.
    for cert in CertificateDer::pem_slice_iter(&data).flatten() {
        let _ = roots.add(cert);
    }
    Ok(())
}

fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(ErrorKind::NotFound, "the name resolves to no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `https://HOST[:PORT]/PATH` split into host (brackets of an IPv6 literal removed), port
/// and path (with its query; "/" if absent).
pub fn split_url(url: &str) -> Option<(&str, u16, &str)> {
    let rest = url.strip_prefix("https://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 443,
    };
    (!host.is_empty() && !authority.contains('@')).then_some((host, port, path))
}

enum Parsed {
    More,
    Done(Response),
    Bad(&'static str),
}

/// The answer in `buf`, if whole: `eof` says the connection has ended (so a body framed by
/// the close is complete).
fn parse(buf: &[u8], head_only: bool, eof: bool) -> Parsed {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Parsed::More;
    };
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Parsed::Bad("head not UTF-8");
    };
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line.split(' ').collect::<Vec<_>>()[..] {
        [v, code, ..] if v.starts_with("HTTP/1.") && code.len() == 3 => code.parse().ok(),
        _ => None,
    };
    let Some(status) = status else {
        return Parsed::Bad("no HTTP/1.x status line");
    };
    let mut headers = Vec::new();
    for line in lines {
        let Some((n, v)) = line.split_once(':') else {
            return Parsed::Bad("header line without a colon");
        };
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let mut r = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let body = &buf[end + 4..];
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Parsed::Done(r);
    }
    if r.header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        return match dechunk(body) {
            Ok(Some(b)) => {
                r.body = b;
                Parsed::Done(r)
            }
            Ok(None) => Parsed::More,
            Err(why) => Parsed::Bad(why),
        };
    }
    if let Some(len) = r.header("content-length") {
        let Ok(len) = len.parse::<usize>() else {
            return Parsed::Bad("bad Content-Length");
        };
        if body.len() < len {
            return Parsed::More;
        }
        r.body = body[..len].to_vec();
        return Parsed::Done(r);
    }
    if eof {
        r.body = body.to_vec();
        return Parsed::Done(r);
    }
    Parsed::More
}

/// A chunked body decoded (RFC 9112 §7.1) by the server's own decoder; None if not all of
/// it is here yet.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    use crate::http::chunked::{ChunkError, ChunkedDecoder};
    let mut decoder = ChunkedDecoder::new();
    let mut out = Vec::new();
    while !decoder.is_done() {
        let (used, body) = decoder
            .decode(data)
            .map_err(|ChunkError::Malformed(why)| why)?;
        if let Some(range) = body {
            out.extend_from_slice(&data[range]);
        }
        if used == 0 {
            return Ok(None);
        }
        data = &data[used..];
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_path() {
        assert_eq!(
            split_url("https://127.0.0.1:14000/dir"),
            Some(("127.0.0.1", 14000, "/dir"))
        );
        assert_eq!(
            split_url("https://acme-v02.api.letsencrypt.org/directory"),
            Some(("acme-v02.api.letsencrypt.org", 443, "/directory"))
        );
        assert_eq!(split_url("https://[::1]:8443"), Some(("::1", 8443, "/")));
        assert_eq!(split_url("http://a/"), None);
        assert_eq!(split_url("https://a:x/"), None);
        assert_eq!(split_url("https://u@a/"), None);
    }

    #[test]
    fn rfc9112_6_3_bodies_are_framed_by_length_chunks_or_close() {
        let done = |b: &[u8], eof| match parse(b, false, eof) {
            Parsed::Done(r) => Some((r.status, r.body)),
            _ => None,
        };
        let cl = b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\nLocation: x\r\n\r\nabcdef";
        assert_eq!(done(cl, false), Some((201, b"abc".to_vec())));
        assert_eq!(done(&cl[..cl.len() - 4], false), None);
        let ch = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n";
        assert_eq!(done(ch, false), Some((200, b"abcde".to_vec())));
        assert_eq!(done(&ch[..ch.len() - 2], false), None);
        let close = b"HTTP/1.1 200 OK\r\n\r\nall";
        assert_eq!(done(close, false), None);
        assert_eq!(done(close, true), Some((200, b"all".to_vec())));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true, false),
            Parsed::Done(_)
        ));
        assert!(matches!(
            parse(b"SSH-2.0\r\n\r\n", false, false),
            Parsed::Bad(_)
        ));
        assert!(matches!(
            parse(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                false,
                false
            ),
            Parsed::Bad(_)
        ));
    }
}
