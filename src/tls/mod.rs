//! HTTPS: what every worker shares to speak TLS, and one connection's TLS session.
//!
//! The record layer of each connection is a `Session` (`session.rs`): a rustls
//! `ServerConnection` that never touches a socket. The transport (`conn/transport.rs`) reads
//! ciphertext from the socket into it and writes what it produces, on the worker's own event
//! loop: no async runtime, no thread per connection, no blocking call.
//!
//! This module holds what is the same for all connections (`Tls`): the rustls
//! configuration with the server's safe defaults, the certificates and how one is chosen for
//! each handshake (by SNI, `Store`), their reload when the files are replaced on disk, and
//! the ACME client that obtains and renews certificates (`acme/`).
//!
//! Built without the `tls` feature this module is left out, and so is every line elsewhere
//! marked `#[cfg(feature = "tls")]`: the plain server is what it was before HTTPS.

pub mod acme;
pub mod certs;
mod session;
pub mod x509;

pub use session::{Plain, Session};

use crate::config::Config;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use std::sync::Arc;

/// Sessions kept for TLS 1.2 clients that resume by session id rather than by ticket
/// (TLS 1.3 and most TLS 1.2 clients resume from a ticket, which costs the server no
/// memory). About 200 bytes each: 10,000 hold a busy minute of new clients in ~2 MB.
const SESSION_CACHE: usize = 10_000;

/// Session tickets sent after a TLS 1.3 handshake. A client resumes with one ticket per
/// connection it opens; each costs the server an encryption (rustls's default is 2).
const TLS13_TICKETS: usize = 1;

/// What every connection on a TLS listener shares.
pub struct Tls {
    pub config: Arc<ServerConfig>,
    pub store: Arc<certs::Store>,
    /// ACME's open challenges (`--acme`): HTTP-01 answers for the handlers, TLS-ALPN-01
    /// certificates for the store.
    pub acme: Option<Arc<acme::Challenges>>,
}

impl Tls {
    /// Read the certificates, keys and client CA the configuration names, and make the
    /// rustls configuration. None when the server has no TLS listener.
    pub fn load(config: &Config) -> Result<Option<Arc<Tls>>, String> {
        if !config.serves_tls() {
            return Ok(None);
        }
        let provider = Arc::new(provider());
        let acme = (!config.acme.is_empty()).then(|| Arc::new(acme::Challenges::new()));
        let hook = acme.as_ref().map(|ch| {
            let ch = Arc::clone(ch);
            Arc::new(move |name: &str| ch.alpn_cert(name)) as certs::ChallengeCerts
        });
        let store = Arc::new(certs::Store::load(
            Arc::clone(&provider),
            &config.tls_pairs,
            hook,
        )?);
        let config = Arc::new(server_config(config, provider, Arc::clone(&store))?);
        store.watch();
        Ok(Some(Arc::new(Tls {
            config,
            store,
            acme,
        })))
    }

    /// With `--acme`: install the certificate kept in the state dir, then start the ACME
    /// client's thread, which obtains one if there is none and renews it. Called once the
    /// listeners are bound, so that the CA's validation finds them.
    /// Whether `a` and `b` ask for the same TLS (certificate files, client CA, ACME names):
    /// then a reload keeps the running TLS, whose certificates it reads again.
    pub fn same_settings(a: &Config, b: &Config) -> bool {
        a.serves_tls() == b.serves_tls()
            && a.tls_pairs == b.tls_pairs
            && a.tls_client_ca == b.tls_client_ca
            && a.acme == b.acme
    }

    pub fn start_acme(&self, config: &Config) -> Result<(), String> {
        let Some(challenges) = &self.acme else {
            return Ok(());
        };
        let store = Arc::clone(&self.store);
        let settings = acme::AcmeConfig {
            domains: config.acme.clone(),
            directory: config.acme_ca.clone(),
            ca_cert: config.acme_ca_cert.clone(),
            email: config.acme_email.clone(),
            state_dir: config.state_dir.clone().ok_or("--acme needs --state-dir")?,
        };
        let install = Box::new(move |chain: &[u8], key: &[u8]| {
            if let Err(e) = store.install(chain, key) {
                crate::sys::log_error(format_args!(
                    "barehttpd: acme: the certificate obtained cannot be used: {e}"
                ));
            }
        });
        acme::start(settings, Arc::clone(challenges), install)
    }

    /// A session for a connection just accepted on a TLS listener.
    pub fn session(&self) -> Option<Session> {
        Session::new(Arc::clone(&self.config))
    }
}

/// aws-lc-rs with its key-exchange groups in the order of what they cost: the post-quantum
/// hybrid first (browsers send its share first), then X25519 and P-256, P-384 last (the
/// provider's default puts P-384 second, which a TLS 1.2 client offering both would get).
fn provider() -> CryptoProvider {
    use rustls::crypto::aws_lc_rs::kx_group;
    CryptoProvider {
        kx_groups: vec![
            kx_group::X25519MLKEM768,
            kx_group::X25519,
            kx_group::SECP256R1,
            kx_group::SECP384R1,
        ],
        ..rustls::crypto::aws_lc_rs::default_provider()
    }
}

/// The rustls configuration: TLS 1.2 and 1.3 only; the provider's suites, which are all
/// AEAD with ECDHE (forward secrecy); no renegotiation and no compression (rustls has
/// neither); 0-RTT off; resumption by rotating-key tickets and a session cache; client
/// certificates required when `--tls-client-ca` names a CA.
fn server_config(
    config: &Config,
    provider: Arc<CryptoProvider>,
    store: Arc<certs::Store>,
) -> Result<ServerConfig, String> {
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("tls: {e}"))?;
    let builder = match &config.tls_client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let what = |e: String| format!("--tls-client-ca {}: {e}", path.display());
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| what(format!("{e:?}")))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| what(format!("not a PEM certificate ({e:?})")))?;
            for cert in certs {
                roots.add(cert).map_err(|e| what(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(what("no certificate in it".into()));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| what(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut tls = builder.with_cert_resolver(store);
    // HTTP/2 first where the build has it (RFC 9113 §3.2), HTTP/1.1 for the others.
    tls.alpn_protocols = if cfg!(feature = "h2") {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    if !config.acme.is_empty() {
        // RFC 8737 §3: the CA's validation handshake offers only this protocol.
        tls.alpn_protocols.push(certs::ALPN_ACME.to_vec());
    }
    tls.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    tls.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| format!("tls: {e}"))?;
    tls.send_tls13_tickets = TLS13_TICKETS;
    tls.max_early_data_size = 0;
    Ok(tls)
}

#[cfg(test)]
pub(crate) mod tests {
    /// The DER bytes of the first PEM block in `pem`.
    pub fn pem_to_der(pem: &str) -> Vec<u8> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pem.as_bytes())
            .expect("a PEM certificate")
            .to_vec()
    }
}
