//! The two DER documents the ACME client writes: the certificate signing request sent to
//! finalize an order (RFC 2986, with the names in a subjectAltName extension request) and
//! the self-signed certificate that answers a TLS-ALPN-01 challenge (RFC 8737 §3).
//!
//! Both are built from a handful of fixed shapes, so a writer of tag-length-value triples is
//! all they need; a certificate-generation crate would cost more binary than it saves code.
//! Reading certificates is `tls::x509`'s job, not this module's.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const BOOLEAN: u8 = 0x01;

/// Object identifiers, content bytes only.
/// id-ecPublicKey 1.2.840.10045.2.1 and prime256v1 1.2.840.10045.3.1.7.
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// ecdsa-with-SHA256 1.2.840.10045.4.3.2.
const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// commonName 2.5.4.3.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// subjectAltName 2.5.29.17.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// PKCS#9 extensionRequest 1.2.840.113549.1.9.14.
const EXTENSION_REQUEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e];
/// id-pe-acmeIdentifier 1.3.6.1.5.5.7.1.31 (RFC 8737 §6.1).
pub const ACME_IDENTIFIER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];

/// A common name longer than this (RFC 5280's ub-common-name) is left out of the subject.
const MAX_COMMON_NAME: usize = 64;

/// How long a TLS-ALPN-01 certificate claims to be valid: the CA looks at its extension,
/// not its dates, but a window around now keeps a strict validator from refusing it.
const ALPN_CERT_VALIDITY_SECS: u64 = 7 * 86_400;

/// One tag-length-value triple.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A constructed value made of `parts`, in order.
fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// AlgorithmIdentifier for ecdsa-with-SHA256 (no parameters, RFC 5758 §3.2).
fn ecdsa_sha256() -> Vec<u8> {
    cons(SEQUENCE, &[&tlv(OID, ECDSA_SHA256)])
}

/// SubjectPublicKeyInfo of a P-256 key from its uncompressed point.
fn spki(point: &[u8]) -> Vec<u8> {
    let alg = cons(SEQUENCE, &[&tlv(OID, EC_PUBLIC_KEY), &tlv(OID, P256)]);
    cons(
        SEQUENCE,
        &[&alg, &tlv(BIT_STRING, &[&[0][..], point].concat())],
    )
}

/// A Name holding one commonName, or none.
fn name(cn: Option<&str>) -> Vec<u8> {
    match cn {
        Some(cn) => {
            let atv = cons(
                SEQUENCE,
                &[&tlv(OID, COMMON_NAME), &tlv(UTF8_STRING, cn.as_bytes())],
            );
            cons(SEQUENCE, &[&cons(SET, &[&atv])])
        }
        None => tlv(SEQUENCE, &[]),
    }
}

/// The subjectAltName extension naming `domains` as dNSName entries.
fn san_extension(domains: &[String]) -> Vec<u8> {
    let names: Vec<u8> = domains
        .iter()
        .flat_map(|d| tlv(0x82, d.as_bytes()))
        .collect();
    cons(
        SEQUENCE,
        &[
            &tlv(OID, SUBJECT_ALT_NAME),
            &tlv(OCTET_STRING, &tlv(SEQUENCE, &names)),
        ],
    )
}

/// `tbs`, signed with `key`, as a SEQUENCE { tbs, algorithm, BIT STRING signature }: the
/// outer shape of both a certificate and a signing request.
fn signed(tbs: &[u8], key: &EcdsaKeyPair) -> Option<Vec<u8>> {
    let sig = key.sign(&SystemRandom::new(), tbs).ok()?;
    let bits = [&[0][..], sig.as_ref()].concat();
    Some(cons(
        SEQUENCE,
        &[tbs, &ecdsa_sha256(), &tlv(BIT_STRING, &bits)],
    ))
}

/// A fresh P-256 key for a certificate, as PKCS#8 DER.
pub fn new_key() -> Option<Vec<u8>> {
    let doc =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new()).ok()?;
    Some(doc.as_ref().to_vec())
}

fn load(pkcs8: &[u8]) -> Option<EcdsaKeyPair> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8).ok()
}

/// A PKCS#10 request for `domains` (all in the subjectAltName, the first also as the common
/// name when short enough), signed by the PKCS#8 P-256 key `pkcs8`.
pub fn csr(domains: &[String], pkcs8: &[u8]) -> Option<Vec<u8>> {
    let key = load(pkcs8)?;
    let cn = domains.first().filter(|d| d.len() <= MAX_COMMON_NAME);
    let extensions = cons(SEQUENCE, &[&san_extension(domains)]);
    let attribute = cons(
        SEQUENCE,
        &[&tlv(OID, EXTENSION_REQUEST), &cons(SET, &[&extensions])],
    );
    let info = cons(
        SEQUENCE,
        &[
            &tlv(INTEGER, &[0]),
            &name(cn.map(String::as_str)),
            &spki(key.public_key().as_ref()),
            // attributes [0] IMPLICIT SET OF Attribute
            &cons(0xa0, &[&attribute]),
        ],
    );
    signed(&info, &key)
}

/// A DER time for `secs`: UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
fn time(secs: u64) -> Vec<u8> {
    let digits: String = crate::http::date::iso8601(secs)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if ("1950".."2050").contains(&&digits[..4]) {
        tlv(0x17, format!("{}Z", &digits[2..]).as_bytes())
    } else {
        tlv(0x18, format!("{digits}Z").as_bytes())
    }
}

/// The TLS-ALPN-01 certificate for `domain` (RFC 8737 §3): self-signed by the PKCS#8 P-256
/// key `pkcs8`, naming `domain` alone in its subjectAltName, and carrying the critical
/// acmeIdentifier extension whose value is the SHA-256 digest of the key authorization.
pub fn alpn_cert(domain: &str, key_authorization: &str, pkcs8: &[u8], now: u64) -> Option<Vec<u8>> {
    let key = load(pkcs8)?;
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_authorization.as_bytes());
    let acme_id = cons(
        SEQUENCE,
        &[
            &tlv(OID, ACME_IDENTIFIER),
            &tlv(BOOLEAN, &[0xff]),
            // extnValue wraps the DER of Authorization ::= OCTET STRING (SIZE (32)).
            &tlv(OCTET_STRING, &tlv(OCTET_STRING, digest.as_ref())),
        ],
    );
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).ok()?;
    serial[0] &= 0x7f; // positive
    serial[0] |= 0x01; // and minimal: no leading zero byte to strip
    let subject = name(Some("barehttpd ACME TLS-ALPN-01"));
    let tbs = cons(
        SEQUENCE,
        &[
            &cons(0xa0, &[&tlv(INTEGER, &[2])]), // version v3
            &tlv(INTEGER, &serial),
            &ecdsa_sha256(),
            &subject,
            &cons(
                SEQUENCE,
                &[
                    &time(now.saturating_sub(86_400)),
                    &time(now + ALPN_CERT_VALIDITY_SECS),
                ],
            ),
            &subject,
            &spki(key.public_key().as_ref()),
            &cons(
                0xa3,
                &[&cons(
                    SEQUENCE,
                    &[&san_extension(&[domain.to_string()]), &acme_id],
                )],
            ),
        ],
    );
    signed(&tbs, &key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::x509;

    #[test]
    fn lengths_use_the_short_and_long_forms() {
        assert_eq!(tlv(4, &[1; 3])[..2], [4, 3]);
        assert_eq!(tlv(4, &[1; 0x80])[..3], [4, 0x81, 0x80]);
        assert_eq!(tlv(4, &[1; 0x1234])[..4], [4, 0x82, 0x12, 0x34]);
    }

    #[test]
    fn times_switch_to_generalized_in_2050() {
        assert_eq!(time(0), tlv(0x17, b"700101000000Z"));
        // 2050-01-01T00:00:00Z
        assert_eq!(time(2_524_608_000), tlv(0x18, b"20500101000000Z"));
    }

    /// RFC 8737 §3: a self-signed certificate with the one dNSName and the critical
    /// id-pe-acmeIdentifier extension holding SHA-256(key authorization); rustls's own
    /// verifier (webpki) parses it, and the extension is where x509 finds it.
    #[test]
    fn rfc8737_3_the_alpn_certificate_names_the_domain_and_holds_the_digest() {
        let key = new_key().unwrap();
        let now = 1_800_000_000;
        let cert = alpn_cert("a.test", "token.thumb", &key, now).unwrap();
        assert_eq!(x509::dns_names(&cert), vec!["a.test"]);
        assert_eq!(x509::not_before(&cert), Some(now - 86_400));
        let needle = [
            &tlv(OID, ACME_IDENTIFIER)[..],
            &[BOOLEAN, 1, 0xff, OCTET_STRING, 34, OCTET_STRING, 32],
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"token.thumb").as_ref(),
        ]
        .concat();
        assert!(cert.windows(needle.len()).any(|w| w == needle));
        // The signature verifies with the key's public half.
        let (tbs, sig) = split_signed(&cert);
        verify(&key, tbs, sig);
    }

    /// RFC 2986 §4: version 0, the subject, the key, and the names in an extensionRequest;
    /// signed by the key it carries.
    #[test]
    fn rfc2986_4_the_signing_request_carries_the_names_and_verifies() {
        let key = new_key().unwrap();
        let names = vec!["a.test".to_string(), "www.a.test".to_string()];
        let csr = csr(&names, &key).unwrap();
        let want_san = san_extension(&names);
        assert!(csr.windows(want_san.len()).any(|w| w == want_san));
        assert!(csr.windows(6).any(|w| w == b"a.test"));
        let (info, sig) = split_signed(&csr);
        verify(&key, info, sig);
        // A name too long for a common name still goes in the subjectAltName.
        let long = vec![format!("{}.test", "x".repeat(70))];
        let csr = super::csr(&long, &key).unwrap();
        assert!(
            csr.windows(long[0].len())
                .filter(|w| *w == long[0].as_bytes())
                .count()
                == 1
        );
    }

    /// The to-be-signed part (with its header) and the signature's bytes of a signed DER
    /// object, by a walk of our own fixed shape.
    fn split_signed(der: &[u8]) -> (&[u8], &[u8]) {
        fn len_at(d: &[u8]) -> (usize, usize) {
            // (header length, content length)
            if d[1] < 0x80 {
                (2, d[1] as usize)
            } else {
                let n = (d[1] & 0x7f) as usize;
                (
                    2 + n,
                    d[2..2 + n].iter().fold(0, |a, &b| (a << 8) | b as usize),
                )
            }
        }
        let (h, _) = len_at(der);
        let body = &der[h..];
        let (th, tl) = len_at(body);
        let tbs = &body[..th + tl];
        let rest = &body[th + tl..];
        let (ah, al) = len_at(rest);
        let bits = &rest[ah + al..];
        let (bh, _) = len_at(bits);
        (tbs, &bits[bh + 1..])
    }

    fn verify(pkcs8: &[u8], msg: &[u8], sig: &[u8]) {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
        let key = load(pkcs8).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key.public_key().as_ref())
            .verify(msg, sig)
            .expect("the signature verifies");
    }
}
