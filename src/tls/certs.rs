//! The server's certificates: loaded from PEM files, chosen for each handshake by the name
//! the client asked for (SNI), and replaced while the server runs.
//!
//! Each `--tls-cert`/`--tls-key` pair is one entry, answering for the DNS names in its
//! certificate (`*.example.com` for one label); the first entry answers a client that sends
//! no name or one no certificate has. A certificate obtained by ACME is one more entry.
//!
//! A watcher thread looks at the files once a second (one `stat` each) and reads a pair again
//! when either file changed, as certbot's renewals replace them; new handshakes get the new
//! certificate at once and connections already open keep theirs. A replacement that does
//! not load (a half-written file, a key that does not match) is reported on stderr and the
//! pair in use stays; it is read again when the files change once more.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often the watcher looks at the certificate files: a renewed certificate is in use
/// within this, for one `stat` per file per interval.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The ALPN protocol of the ACME TLS-ALPN-01 challenge (RFC 8737 §6.2).
pub const ALPN_ACME: &[u8] = b"acme-tls/1";

/// ACME's TLS-ALPN-01 certificate for a name, while its challenge is open.
pub type ChallengeCerts = Arc<dyn Fn(&str) -> Option<Arc<CertifiedKey>> + Send + Sync>;

/// One certificate and the names it answers for.
struct Entry {
    names: Vec<String>,
    key: Arc<CertifiedKey>,
}

/// Where an entry came from, to see it change.
struct Source {
    cert: PathBuf,
    key: PathBuf,
    stamp: Option<[Stamp; 2]>,
}

/// What changes when a file is replaced or rewritten.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, u64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    let st = crate::sys::fs::stat_path(path).ok()?;
    Some(Stamp {
        dev: st.st_dev,
        ino: st.st_ino,
        size: st.st_size,
        mtime: (st.st_mtime, st.st_mtime_nsec),
    })
}

/// Every certificate the server has, in the order given (ACME's last).
pub struct Store {
    provider: Arc<CryptoProvider>,
    entries: RwLock<Vec<Entry>>,
    /// The files of the first `sources.len()` entries.
    sources: std::sync::Mutex<Vec<Source>>,
    /// Certificates for ACME's TLS-ALPN-01 challenges, by name.
    challenge: Option<ChallengeCerts>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// A chain and key read from PEM bytes, checked to belong together.
pub fn load_pem(
    provider: &CryptoProvider,
    chain: &[u8],
    key: &[u8],
) -> Result<(Vec<String>, Arc<CertifiedKey>), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate chain ({e:?})"))?;
    let Some(leaf) = certs.first() else {
        return Err("no certificate in it".into());
    };
    let names = super::x509::dns_names(leaf);
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| format!("no PKCS#8, SEC1 or PKCS#1 private key in it ({e:?})"))?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("the key cannot be used: {e}"))?;
    let certified = CertifiedKey::new(certs, signer);
    certified
        .keys_match()
        .map_err(|_| "the key does not belong to the certificate".to_string())?;
    Ok((names, Arc::new(certified)))
}

fn load_files(provider: &CryptoProvider, cert: &Path, key: &Path) -> Result<Entry, String> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| format!("{}: {}", p.display(), crate::config::io_reason(&e)))
    };
    let (chain, key_pem) = (read(cert)?, read(key)?);
    let (names, key) = load_pem(provider, &chain, &key_pem)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))?;
    Ok(Entry { names, key })
}

impl Store {
    /// Load every pair (an error names the file and the problem, for a one-line start-up
    /// error). `challenge` gives ACME's TLS-ALPN-01 certificate for a name.
    pub fn load(
        provider: Arc<CryptoProvider>,
        pairs: &[(PathBuf, PathBuf)],
        challenge: Option<ChallengeCerts>,
    ) -> Result<Store, String> {
        let mut entries = Vec::new();
        let mut sources = Vec::new();
        for (cert, key) in pairs {
            let stamps = stamp(cert).zip(stamp(key)).map(|(a, b)| [a, b]);
            entries.push(load_files(&provider, cert, key)?);
            sources.push(Source {
                cert: cert.clone(),
                key: key.clone(),
                stamp: stamps,
            });
        }
        Ok(Store {
            provider,
            entries: RwLock::new(entries),
            sources: std::sync::Mutex::new(sources),
            challenge,
        })
    }

    /// Watch the files for replacements, on a thread of its own. The thread holds the store
    /// weakly: when a reload (SIGHUP) replaced it with one for other files and the last
    /// handshake configuration using it is gone, the thread ends instead of watching files
    /// nobody serves any more.
    pub fn watch(self: &Arc<Store>) {
        if self.sources.lock().map(|s| s.is_empty()).unwrap_or(true) {
            return;
        }
        let store = Arc::downgrade(self);
        let _ = std::thread::Builder::new()
            .name("barehttpd-certs".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(WATCH_EVERY);
                    match store.upgrade() {
                        Some(store) => store.reload_changed(),
                        None => return,
                    }
                }
            });
    }

    /// Read again the pairs whose files changed since they were last read.
    pub fn reload_changed(&self) {
        let Ok(mut sources) = self.sources.lock() else {
            return;
        };
        for (i, src) in sources.iter_mut().enumerate() {
            let now = stamp(&src.cert).zip(stamp(&src.key)).map(|(a, b)| [a, b]);
            if now.is_none() || now == src.stamp {
                // A file missing for a moment (a rename in progress) is looked at again.
                continue;
            }
            src.stamp = now;
            match load_files(&self.provider, &src.cert, &src.key) {
                Ok(entry) => {
                    crate::sys::log_error(format_args!(
                        "barehttpd: tls: {} reloaded ({})",
                        src.cert.display(),
                        entry.names.join(", ")
                    ));
                    if let Ok(mut e) = self.entries.write() {
                        e[i] = entry;
                    }
                }
                Err(e) => crate::sys::log_error(format_args!(
                    "barehttpd: tls: {e}; still using the certificate loaded before"
                )),
            }
        }
    }

    /// Add or replace the certificate obtained by ACME (the entry after the files' ones).
    pub fn install(&self, chain: &[u8], key: &[u8]) -> Result<Vec<String>, String> {
        let (names, key) = load_pem(&self.provider, chain, key)?;
        let files = self.sources.lock().map(|s| s.len()).unwrap_or(0);
        let mut entries = self.entries.write().map_err(|_| "poisoned".to_string())?;
        entries.truncate(files);
        entries.push(Entry {
            names: names.clone(),
            key,
        });
        Ok(names)
    }

    /// The certificate for `name`: the first entry with exactly that name, else the first
    /// with a wildcard matching it, else the first entry.
    fn choose(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let entries = self.entries.read().ok()?;
        if let Some(name) = name {
            let name = name.trim_end_matches('.');
            let exact = entries
                .iter()
                .find(|e| e.names.iter().any(|n| n.eq_ignore_ascii_case(name)));
            let wild = || {
                let (_, parent) = name.split_once('.')?;
                entries.iter().find(|e| {
                    e.names.iter().any(|n| {
                        n.strip_prefix("*.")
                            .is_some_and(|p| p.eq_ignore_ascii_case(parent))
                    })
                })
            };
            if let Some(e) = exact.or_else(wild) {
                return Some(Arc::clone(&e.key));
            }
        }
        entries.first().map(|e| Arc::clone(&e.key))
    }
}

impl ResolvesServerCert for Store {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name();
        if let Some(challenge) = &self.challenge
            && hello
                .alpn()
                .is_some_and(|mut protos| protos.any(|p| p == ALPN_ACME))
        {
            // RFC 8737 §3: the validation handshake gets the challenge certificate, and
            // nothing else does.
            return challenge(name?);
        }
        self.choose(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    /// A self-signed certificate for `names` and its key, made with openssl.
    pub fn make_pair(dir: &Path, stem: &str, names: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=test", "-addext"])
            .arg(format!("subjectAltName={names}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl")
            .success();
        assert!(ok, "openssl made no certificate");
        (cert, key)
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("barehttpd-certs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn leaf(k: &CertifiedKey) -> Vec<String> {
        super::super::x509::dns_names(&k.cert[0])
    }

    #[test]
    fn rfc6066_3_the_certificate_is_chosen_by_server_name() {
        let d = dir("sni");
        let a = make_pair(&d, "a", "DNS:a.test,DNS:www.a.test");
        let b = make_pair(&d, "b", "DNS:b.test,DNS:*.w.test");
        let store = Store::load(provider(), &[a, b], None).unwrap();
        let pick = |n: Option<&str>| leaf(&store.choose(n).unwrap());
        assert_eq!(pick(Some("b.test"))[0], "b.test");
        assert_eq!(
            pick(Some("B.TEST."))[0],
            "b.test",
            "names compare without case"
        );
        assert_eq!(
            pick(Some("x.w.test"))[0],
            "b.test",
            "a wildcard covers one label"
        );
        assert_eq!(pick(Some("y.x.w.test"))[0], "a.test", "and only one");
        assert_eq!(pick(Some("www.a.test"))[0], "a.test");
        assert_eq!(
            pick(Some("other.test"))[0],
            "a.test",
            "unknown: the first pair"
        );
        assert_eq!(pick(None)[0], "a.test", "no name: the first pair");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_replaced_pair_is_used_and_a_broken_replacement_is_not() {
        let d = dir("reload");
        let (cert, key) = make_pair(&d, "a", "DNS:old.test");
        let store = Store::load(provider(), &[(cert.clone(), key.clone())], None).unwrap();
        // Replaced as certbot does: new files renamed over the old.
        let (c2, k2) = make_pair(&d, "new", "DNS:new.test");
        std::fs::rename(&c2, &cert).unwrap();
        std::fs::rename(&k2, &key).unwrap();
        store.reload_changed();
        assert_eq!(leaf(&store.choose(None).unwrap()), ["new.test"]);
        // A key that does not match its certificate: the pair in use stays.
        let (_, k3) = make_pair(&d, "other", "DNS:other.test");
        std::fs::rename(&k3, &key).unwrap();
        store.reload_changed();
        assert_eq!(leaf(&store.choose(None).unwrap()), ["new.test"]);
        std::fs::write(&cert, b"-----BEGIN CERTIFICATE-----\nhalf").unwrap();
        store.reload_changed();
        assert_eq!(leaf(&store.choose(None).unwrap()), ["new.test"]);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn keys_in_pkcs8_sec1_and_pkcs1_load_and_mismatches_are_refused() {
        let d = dir("keys");
        let (cert, key) = make_pair(&d, "a", "DNS:a.test");
        let chain = std::fs::read(&cert).unwrap();
        let pkcs8 = std::fs::read(&key).unwrap();
        assert!(load_pem(&provider(), &chain, &pkcs8).is_ok());
        let sec1 = std::process::Command::new("openssl")
            .args(["ec", "-in"])
            .arg(&key)
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap()
            .stdout;
        assert!(String::from_utf8_lossy(&sec1).contains("BEGIN EC PRIVATE KEY"));
        assert!(load_pem(&provider(), &chain, &sec1).is_ok());
        let rsa_key = d.join("rsa.key");
        let rsa_cert = d.join("rsa.pem");
        assert!(
            std::process::Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"
                ])
                .args(["-subj", "/CN=r", "-keyout"])
                .arg(&rsa_key)
                .arg("-out")
                .arg(&rsa_cert)
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
                .success()
        );
        let pkcs1 = std::process::Command::new("openssl")
            .args(["rsa", "-traditional", "-in"])
            .arg(&rsa_key)
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap()
            .stdout;
        assert!(String::from_utf8_lossy(&pkcs1).contains("BEGIN RSA PRIVATE KEY"));
        let rsa_chain = std::fs::read(&rsa_cert).unwrap();
        assert!(load_pem(&provider(), &rsa_chain, &pkcs1).is_ok());
        let err = load_pem(&provider(), &chain, &pkcs1).unwrap_err();
        assert!(err.contains("does not belong"), "{err}");
        assert!(load_pem(&provider(), b"", &pkcs8).is_err());
        let _ = std::fs::remove_dir_all(d);
    }
}
