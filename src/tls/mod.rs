//! HTTPS: what every worker shares to speak TLS (feature `tls`).
//!
//! The record layer of each connection lives in the transport (`conn/transport/tls.rs`);
//! this module holds what is the same for all connections: the rustls configuration, the
//! certificates and how one is chosen per handshake (SNI), their reload from disk, and the
//! ACME client that obtains and renews them.

pub mod acme;
pub mod x509;

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
