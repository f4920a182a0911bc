//! Automatic certificates: an ACME client (RFC 8555) that obtains one certificate for all
//! `--acme` names, keeps it in `--state-dir`, and renews it before it expires (when the CA
//! suggests, RFC 9773, else at two thirds of its lifetime).
//!
//! It owns one thread ("barehttpd-acme") with blocking I/O; the serving threads never wait
//! for it. They only read `Challenges` (to answer the CA's HTTP-01 and TLS-ALPN-01 checks)
//! and receive each new certificate through the `Install` callback. It does not choose
//! which certificate a handshake uses, nor serve anything: that is `tls`'s and the
//! handlers' work.
//!
//! The pieces, from the wire up: `codec` (base64, JSON), `der` (the CSR and the TLS-ALPN-01
//! certificate), `https` (a one-request-per-connection HTTPS client), `protocol` (the ACME
//! exchanges). This file decides when to order, what to retry, and keeps the state dir:
//! `account.key` (the account's P-256 key, PKCS#8 PEM) and `NAME.pem` (NAME: the first
//! domain), which holds the chain followed by its key, so that one rename replaces both at
//! once and a crash can never pair a new key with an old certificate. Files are written
//! with std::fs (this thread is not the event loop's, and needs nothing `sys` wraps).
//!
//! What it costs: 352,256 bytes of the static musl release binary (4,236,296 -> 4,588,552
//! at 082d0e3, `start` called from main): about 155 KB is rustls's client side (the
//! handshake and server-certificate checks the server never needed), about 100 KB this
//! module, the rest std's threads, name resolution and formatting. No crate is added but
//! aws-lc-rs, which rustls links already; JSON, base64 and DER are written here because
//! each is a few hundred lines, and the public roots are the system's bundle rather than
//! webpki-roots (a copy of ~150 roots frozen into the binary: not measured, not needed).

mod codec;
mod der;
mod https;
mod protocol;

use protocol::{Account, Directory, Failure, Kind, Session};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What `--acme*` and `--state-dir` configure.
pub struct AcmeConfig {
    /// `--acme DOMAIN` (repeatable): one certificate for all of them.
    pub domains: Vec<String>,
    /// `--acme-ca URL` (default `config::ACME_DEFAULT_CA`).
    pub directory: String,
    /// `--acme-ca-cert FILE`: an extra root to trust for the CA's own HTTPS endpoint.
    pub ca_cert: Option<PathBuf>,
    /// `--acme-email`.
    pub email: Option<String>,
    /// `--state-dir DIR`: the account key and the certificate, reused across restarts.
    pub state_dir: PathBuf,
}

/// The answers to the CA's challenges while they are pending, for the serving threads:
/// HTTP-01 key authorizations by token (RFC 8555 §8.3) and TLS-ALPN-01 certificates by
/// domain (RFC 8737).
#[derive(Default)]
pub struct Challenges {
    http01: Mutex<HashMap<String, String>>,
    alpn: Mutex<HashMap<String, Arc<rustls::sign::CertifiedKey>>>,
}

/// A lock that a panic elsewhere did not leave unusable: the maps stay consistent at every
/// step, so their content is sound.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Challenges {
    pub fn new() -> Challenges {
        Challenges::default()
    }

    /// The body of the 200 answer to `GET /.well-known/acme-challenge/TOKEN`.
    pub fn http01(&self, token: &str) -> Option<String> {
        lock(&self.http01).get(token).cloned()
    }

    /// The certificate for a handshake whose ClientHello offers ALPN "acme-tls/1" for
    /// `server_name`.
    pub fn alpn_cert(&self, server_name: &str) -> Option<Arc<rustls::sign::CertifiedKey>> {
        lock(&self.alpn)
            .get(&server_name.to_ascii_lowercase())
            .cloned()
    }

    fn set_http01(&self, token: &str, key_authorization: &str) {
        lock(&self.http01).insert(token.to_string(), key_authorization.to_string());
    }

    fn remove_http01(&self, token: &str) {
        lock(&self.http01).remove(token);
    }

    fn set_alpn(&self, domain: &str, cert: Vec<u8>, pkcs8: Vec<u8>) -> Result<(), String> {
        let key =
            rustls::crypto::aws_lc_rs::sign::any_ecdsa_type(&PrivateKeyDer::Pkcs8(pkcs8.into()))
                .map_err(|e| format!("the TLS-ALPN-01 key: {e}"))?;
        let ck = rustls::sign::CertifiedKey::new(vec![CertificateDer::from(cert)], key);
        lock(&self.alpn).insert(domain.to_string(), Arc::new(ck));
        Ok(())
    }

    fn remove_alpn(&self, domain: &str) {
        lock(&self.alpn).remove(domain);
    }
}

/// Called with each certificate obtained or loaded from the state dir: the chain and its
/// key, as PEM.
pub type Install = Box<dyn Fn(&[u8], &[u8]) + Send + Sync>;

/// The first retry after a failure comes this soon (a local CA in tests answers at once;
/// a public one is asked again within minutes), and each next one twice as late, up to
/// `BACKOFF_MAX`.
const BACKOFF_FIRST: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// The thread wakes at least this often to look again (the CA's renewal window may move;
/// RFC 9773 §4.3 asks clients to poll it), even when renewal is weeks away.
const RECHECK_MAX: Duration = Duration::from_secs(6 * 3600);
/// When the CA sends no Retry-After with its renewal information, ask again after this.
const ARI_RECHECK: Duration = Duration::from_secs(6 * 3600);
/// A certificate is not renewed sooner than this after it was obtained, whatever its
/// lifetime or the CA's window say: a guard against ordering in a loop.
const MIN_RENEW_GAP: u64 = 10;
/// The longest wait a CA's Retry-After can impose on a retry (seconds): beyond it the
/// value is more likely a mistake than a rate limit's real window.
const RETRY_AFTER_MAX: u64 = 86_400;
const ACCOUNT_KEY: &str = "account.key";

fn log(line: std::fmt::Arguments<'_>) {
    crate::sys::log_error(format_args!("barehttpd: acme: {line}"));
}

/// "2027-03-05T10:00:00Z".
fn when(secs: u64) -> String {
    crate::http::date::iso8601(secs)
}

/// Load a certificate kept in the state dir (installed at once if it is still valid and
/// names every domain), then start the thread that obtains one if there is none and renews
/// it. Err (one line) for a state dir that cannot be created or written, an unreadable
/// account key, a bad `--acme-ca-cert` or domain: the server should not start.
pub fn start(cfg: AcmeConfig, challenges: Arc<Challenges>, install: Install) -> Result<(), String> {
    let mut domains = Vec::new();
    for d in &cfg.domains {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        check_domain(&d)?;
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    if domains.is_empty() {
        return Err("--acme: no domain".into());
    }
    let dir = &cfg.state_dir;
    let bad_dir = |e: &dyn std::fmt::Display| format!("--state-dir {}: {e}", dir.display());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| bad_dir(&e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| bad_dir(&format_args!("cannot make it private (mode 0700): {e}")))?;
    write_atomic(dir, ".probe", b"").map_err(|e| bad_dir(&format_args!("not writable: {e}")))?;
    let _ = std::fs::remove_file(dir.join(".probe"));

    let account = load_or_create_account(dir)?;
    let client = https::Client::new(cfg.ca_cert.as_deref())?;
    let cert_file = dir.join(format!("{}.pem", domains[0]));
    let current = match load_cert(&cert_file, &domains) {
        Ok(Some((leaf, chain_pem, key_pem))) => {
            let c = Current::of(leaf, 0);
            log(format_args!(
                "certificate for {} loaded from {}, expires {}",
                domains.join(", "),
                cert_file.display(),
                when(c.not_after)
            ));
            install(&chain_pem, &key_pem);
            Some(c)
        }
        Ok(None) => None,
        Err(why) => {
            log(format_args!(
                "{}: {why}; ordering a new one",
                cert_file.display()
            ));
            None
        }
    };
    let state = State {
        domains,
        directory: cfg.directory,
        email: cfg.email,
        cert_file,
        client,
        account,
        challenges,
        install,
        current,
        ari_choice: None,
        planned: None,
    };
    std::thread::Builder::new()
        .name("barehttpd-acme".into())
        .spawn(move || run(state))
        .map_err(|e| format!("cannot start the ACME thread: {e}"))?;
    Ok(())
}

/// Names the CA can validate by HTTP-01 or TLS-ALPN-01: letters, digits, hyphens and dots,
/// no wildcard (that needs DNS-01, which we do not answer).
fn check_domain(d: &str) -> Result<(), String> {
    match crate::config::acme_name_problem(d) {
        None => Ok(()),
        Some(why) => Err(format!("--acme {d}: {why}")),
    }
}

fn load_or_create_account(dir: &Path) -> Result<Account, String> {
    let path = dir.join(ACCOUNT_KEY);
    match std::fs::read(&path) {
        Ok(pem) => {
            let der = PrivateKeyDer::from_pem_slice(&pem).ok();
            der.and_then(|k| Account::from_pkcs8(k.secret_der()))
                .ok_or_else(|| {
                    format!(
                        "{}: not a P-256 PKCS#8 PEM key (remove it to register a new account)",
                        path.display()
                    )
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let der = Account::generate().ok_or("generating the account key failed")?;
            write_atomic(dir, ACCOUNT_KEY, codec::pem("PRIVATE KEY", &der).as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            log(format_args!("new account key in {}", path.display()));
            Account::from_pkcs8(&der).ok_or_else(|| "the new account key does not load".into())
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// `data` at `dir/name`, mode 0600, by a temporary file renamed over it: readers see the
/// old content or the new, never a part.
fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// The kept certificate, if it exists, parses, has not expired and names every domain:
/// its leaf (DER), chain and key (PEM).
type Loaded = (Vec<u8>, Vec<u8>, Vec<u8>);

fn load_cert(path: &Path, domains: &[String]) -> Result<Option<Loaded>, String> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let (chain, key) = split_pem(&data).ok_or("not a PEM chain followed by its key")?;
    let leaf = CertificateDer::pem_slice_iter(&chain)
        .next()
        .and_then(Result::ok)
        .ok_or("no certificate")?
        .to_vec();
    let not_after = crate::tls::x509::not_after(&leaf).ok_or("no validity")?;
    if not_after <= crate::sys::time::unix_secs() {
        return Err(format!("expired on {}", when(not_after)));
    }
    let names = crate::tls::x509::dns_names(&leaf);
    if let Some(missing) = domains.iter().find(|d| !names.contains(d)) {
        return Err(format!("does not name {missing}"));
    }
    Ok(Some((leaf, chain, key)))
}

/// A PEM file's certificates and its private key, each as PEM of its own.
fn split_pem(data: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(data)
        .collect::<Result<_, _>>()
        .ok()?;
    let key = PrivateKeyDer::from_pem_slice(data).ok()?;
    let label = match key {
        PrivateKeyDer::Pkcs8(_) => "PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        _ => return None,
    };
    if certs.is_empty() {
        return None;
    }
    let chain: String = certs.iter().map(|c| codec::pem("CERTIFICATE", c)).collect();
    Some((
        chain.into_bytes(),
        codec::pem(label, key.secret_der()).into_bytes(),
    ))
}

/// The certificate in use.
struct Current {
    leaf: Vec<u8>,
    not_before: u64,
    not_after: u64,
    /// When we obtained it (0: loaded from the state dir).
    obtained: u64,
}

impl Current {
    fn of(leaf: Vec<u8>, obtained: u64) -> Current {
        let not_after = crate::tls::x509::not_after(&leaf).unwrap_or(0);
        let not_before = crate::tls::x509::not_before(&leaf).unwrap_or(not_after);
        Current {
            leaf,
            not_before,
            not_after,
            obtained,
        }
    }

    /// Two thirds into the lifetime: Let's Encrypt's 90 days renew at day 60, leaving a
    /// month for retries.
    fn two_thirds(&self) -> u64 {
        self.not_before + self.not_after.saturating_sub(self.not_before) * 2 / 3
    }
}

struct State {
    domains: Vec<String>,
    directory: String,
    email: Option<String>,
    cert_file: PathBuf,
    client: https::Client,
    account: Account,
    challenges: Arc<Challenges>,
    install: Install,
    current: Option<Current>,
    /// The renewal time picked in the CA's window, kept while the window holds it.
    ari_choice: Option<u64>,
    /// The renewal time last logged.
    planned: Option<u64>,
}

fn run(mut st: State) {
    let mut failures = 0u32;
    let mut prefer = Kind::Http01;
    loop {
        match step(&mut st, prefer) {
            Ok(wait) => {
                failures = 0;
                std::thread::sleep(wait);
            }
            Err(f) => {
                let backoff = BACKOFF_FIRST
                    .saturating_mul(1 << failures.min(16))
                    .min(BACKOFF_MAX);
                // The CA's Retry-After (a rate limit) is obeyed, up to a day.
                let asked = f.retry_after.unwrap_or(0).min(RETRY_AFTER_MAX);
                let wait = backoff.max(Duration::from_secs(asked));
                failures += 1;
                if f.validation_failed {
                    prefer = prefer.other();
                }
                log(format_args!(
                    "{}; next attempt in {}s{}",
                    f.msg,
                    wait.as_secs(),
                    if f.validation_failed {
                        format!(" with {}", prefer.name())
                    } else {
                        String::new()
                    }
                ));
                std::thread::sleep(wait);
            }
        }
    }
}

/// Obtain a certificate if there is none or it is due, then say when to look again.
fn step(st: &mut State, prefer: Kind) -> Result<Duration, Failure> {
    let dir = Directory::fetch(&st.client, &st.directory)?;
    let now = crate::sys::time::unix_secs();
    let (due, recheck, reason) = plan(st, &dir);
    if let Some(due) = due.filter(|&d| d > now) {
        if st.planned != Some(due) {
            st.planned = Some(due);
            log(format_args!("renewal at {} ({reason})", when(due)));
        }
        return Ok(Duration::from_secs((due - now).min(recheck)).min(RECHECK_MAX));
    }
    // RFC 9773 §5: a renewal names the certificate it replaces, when the CA reads ARI.
    let replaces = match (&st.current, &dir.renewal_info) {
        (Some(c), Some(_)) => protocol::ari_cert_id(&c.leaf),
        _ => None,
    };
    let names = st.domains.join(", ");
    log(format_args!(
        "{} a certificate for {names}",
        if st.current.is_some() {
            "renewing"
        } else {
            "ordering"
        }
    ));
    let mut session = Session::new(&st.client, &dir, &st.account);
    session.account(st.email.as_deref())?;
    let issued = session.order(&st.domains, replaces.as_deref(), &st.challenges, prefer)?;

    let mut file = issued.chain_pem.clone();
    if !file.ends_with(b"\n") {
        file.push(b'\n');
    }
    file.extend_from_slice(&issued.key_pem);
    let (leaf, chain_pem, key_pem) = check_issued(&file, &st.domains)?;
    let dir_path = st.cert_file.parent().unwrap_or(Path::new("."));
    let name = st
        .cert_file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("cert.pem");
    write_atomic(dir_path, name, &file)
        .map_err(|e| format!("writing {}: {e}", st.cert_file.display()))?;
    (st.install)(&chain_pem, &key_pem);
    st.current = Some(Current::of(leaf, now));
    st.ari_choice = None;
    let (due, _, reason) = plan(st, &dir);
    log(format_args!(
        "certificate for {names} installed, expires {}, renewal at {} ({reason})",
        st.current
            .as_ref()
            .map_or(String::new(), |c| when(c.not_after)),
        due.map_or("?".into(), when)
    ));
    st.planned = due;
    Ok(Duration::ZERO)
}

/// What the CA sent, checked as a certificate we can use before it replaces ours.
fn check_issued(file: &[u8], domains: &[String]) -> Result<Loaded, Failure> {
    let (chain, key) = split_pem(file).ok_or("the CA's answer is not a PEM chain".to_string())?;
    let leaf = CertificateDer::pem_slice_iter(&chain)
        .next()
        .and_then(Result::ok)
        .ok_or("the CA's chain is empty".to_string())?
        .to_vec();
    let names = crate::tls::x509::dns_names(&leaf);
    if let Some(missing) = domains.iter().find(|d| !names.contains(d)) {
        return Err(format!("the issued certificate does not name {missing}").into());
    }
    Ok((leaf, chain, key))
}

/// When the current certificate is due for renewal (None: there is none, order now), the
/// most seconds to sleep before looking again, and why then.
fn plan(st: &mut State, dir: &Directory) -> (Option<u64>, u64, &'static str) {
    let Some(cur) = &st.current else {
        return (None, 0, "");
    };
    let mut recheck = RECHECK_MAX.as_secs();
    let mut reason = "2/3 of its lifetime";
    let mut due = cur.two_thirds();
    if dir.renewal_info.is_some() {
        match protocol::renewal_info(&st.client, dir, &cur.leaf) {
            Ok(ri) => {
                // RFC 9773 §4.2: a uniformly random time in the window, kept while the
                // window still holds it so that polling does not move it every time.
                let pick = match st.ari_choice {
                    Some(t) if (ri.start..ri.end).contains(&t) => t,
                    _ => ri.start + random_below(ri.end - ri.start),
                };
                st.ari_choice = Some(pick);
                due = pick;
                reason = "in the CA's renewal window";
                recheck = ri.retry_after.unwrap_or(ARI_RECHECK.as_secs()).max(60);
            }
            Err(f) => log(format_args!(
                "renewal information: {}; renewing at 2/3 of the lifetime instead",
                f.msg
            )),
        }
    }
    (Some(due.max(cur.obtained + MIN_RENEW_GAP)), recheck, reason)
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    if n == 0 || aws_lc_rs::rand::fill(&mut b).is_err() {
        return 0;
    }
    u64::from_le_bytes(b) % n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_that_http01_and_tls_alpn01_can_validate() {
        assert!(check_domain("a.test").is_ok());
        assert!(check_domain("xn--caf-dma.example").is_ok());
        for bad in [
            "*.a.test",
            "a..test",
            "-a.test",
            "localhost",
            "a_b.test",
            "",
        ] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_state_file_holds_the_chain_then_the_key() {
        let leaf = include_str!("../testdata/x509.pem");
        let key = codec::pem("PRIVATE KEY", &der::new_key().unwrap());
        let (chain, k) = split_pem(format!("{leaf}{key}").as_bytes()).unwrap();
        assert!(
            String::from_utf8(chain)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert_eq!(String::from_utf8(k).unwrap(), key);
        assert!(split_pem(leaf.as_bytes()).is_none(), "a key is required");
        assert!(
            split_pem(key.as_bytes()).is_none(),
            "a certificate is required"
        );
    }

    #[test]
    fn state_files_are_private_and_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("barehttpd-acme-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_atomic(&dir, "f", b"one").unwrap();
        write_atomic(&dir, "f", b"two").unwrap();
        assert_eq!(std::fs::read(dir.join("f")).unwrap(), b"two");
        let mode = std::fs::metadata(dir.join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.join(".f.tmp").exists());
        // The account key is made once and then read back, the same key.
        let a = load_or_create_account(&dir).unwrap();
        let b = load_or_create_account(&dir).unwrap();
        assert_eq!(a.key_authorization("t"), b.key_authorization("t"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn renewal_comes_at_two_thirds_of_the_lifetime() {
        let c = Current {
            leaf: Vec::new(),
            not_before: 1000,
            not_after: 1000 + 90 * 86_400,
            obtained: 0,
        };
        assert_eq!(c.two_thirds(), 1000 + 60 * 86_400);
    }

    #[test]
    fn challenge_answers_are_published_and_withdrawn() {
        let ch = Challenges::new();
        ch.set_http01("tok", "tok.thumb");
        assert_eq!(ch.http01("tok").as_deref(), Some("tok.thumb"));
        assert_eq!(ch.http01("other"), None);
        ch.remove_http01("tok");
        assert_eq!(ch.http01("tok"), None);
        let key = der::new_key().unwrap();
        let cert = der::alpn_cert("a.test", "tok.thumb", &key, 1_800_000_000).unwrap();
        ch.set_alpn("a.test", cert, key).unwrap();
        assert!(ch.alpn_cert("A.test").is_some());
        assert!(ch.alpn_cert("b.test").is_none());
        ch.remove_alpn("a.test");
        assert!(ch.alpn_cert("a.test").is_none());
    }
}
