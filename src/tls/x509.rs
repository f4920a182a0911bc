//! The few facts the server reads from its own certificates: the DNS names they are for
//! (to choose one by SNI), when they expire, and the serial number and authority key id
//! (the ACME renewal-information id, RFC 9773 §4.1).
//!
//! A DER walk over the fields it needs and nothing else; it validates nothing (rustls and
//! webpki do that when the certificate is used) and answers None on anything unexpected.
//! A full X.509 parser would cost more code than the whole of this module.

/// One DER element: its tag, its contents, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The elements of a constructed value, in order.
fn children(mut input: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (tag, body, rest) = element(input)?;
        input = rest;
        Some((tag, body))
    })
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
/// `[0] EXPLICIT` version, and `[3] EXPLICIT` extensions, in a TBSCertificate.
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
/// Object identifiers, DER-encoded: subjectAltName (2.5.29.17) and authorityKeyIdentifier
/// (2.5.29.35).
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];

/// The fields of the TBSCertificate, the version skipped: serial, signature algorithm,
/// issuer, validity, subject, key, then the optional ones.
fn tbs(cert: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let (tag, body, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = element(body)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut fields: Vec<_> = children(tbs).collect();
    if fields.first().is_some_and(|&(t, _)| t == VERSION) {
        fields.remove(0);
    }
    (fields.len() >= 6 && fields[0].0 == INTEGER).then_some(fields)
}

/// The value of the extension `oid`, if the certificate has it.
fn extension<'a>(cert: &'a [u8], oid: &[u8]) -> Option<&'a [u8]> {
    let fields = tbs(cert)?;
    let (_, wrapped) = fields.iter().find(|&&(t, _)| t == EXTENSIONS)?;
    let (_, list, _) = element(wrapped)?;
    children(list).find_map(|(_, ext)| {
        let mut parts = children(ext);
        let (_, id) = parts.next()?;
        if id != oid {
            return None;
        }
        // `critical` may come between the id and the value.
        parts.find(|&(t, _)| t == 0x04).map(|(_, v)| v)
    })
}

/// The DNS names in the subjectAltName extension, lower-cased (`*.example.com` included as
/// written). Certificates without one name no host.
pub fn dns_names(cert: &[u8]) -> Vec<String> {
    let Some(value) = extension(cert, SUBJECT_ALT_NAME) else {
        return Vec::new();
    };
    let Some((SEQUENCE, names, _)) = element(value) else {
        return Vec::new();
    };
    children(names)
        // dNSName is `[2] IMPLICIT IA5String`.
        .filter(|&(t, _)| t == 0x82)
        .filter_map(|(_, n)| std::str::from_utf8(n).ok())
        .map(|n| n.to_ascii_lowercase())
        .collect()
}

/// The serial number's content bytes, as encoded (leading zero included).
pub fn serial(cert: &[u8]) -> Option<&[u8]> {
    Some(tbs(cert)?[0].1)
}

/// The keyIdentifier of the authorityKeyIdentifier extension.
pub fn authority_key_id(cert: &[u8]) -> Option<&[u8]> {
    let value = extension(cert, AUTHORITY_KEY_ID)?;
    let (SEQUENCE, body, _) = element(value)? else {
        return None;
    };
    // keyIdentifier is `[0] IMPLICIT OCTET STRING`.
    children(body).find(|&(t, _)| t == 0x80).map(|(_, v)| v)
}

/// The end of the validity period, in seconds since the Unix epoch.
pub fn not_after(cert: &[u8]) -> Option<u64> {
    let validity = tbs(cert)?[3];
    let (tag, after) = children(validity.1).nth(1)?;
    parse_time(tag, after)
}

/// The start of the validity period, in seconds since the Unix epoch.
pub fn not_before(cert: &[u8]) -> Option<u64> {
    let validity = tbs(cert)?[3];
    let (tag, before) = children(validity.1).next()?;
    parse_time(tag, before)
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn parse_time(tag: u8, text: &[u8]) -> Option<u64> {
    let digits = |s: &[u8]| -> Option<u64> {
        s.iter().try_fold(0u64, |a, &b| {
            b.is_ascii_digit().then(|| a * 10 + (b - b'0') as u64)
        })
    };
    let (year, rest) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = digits(&text[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (0x18, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let (h, m, s) = (
        digits(&rest[4..6])?,
        digits(&rest[6..8])?,
        digits(&rest[8..10])?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day)? * 86_400 + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leaf made with `openssl x509 -req` for the tests below (names A.test, *.b.test and
    /// the address 127.0.0.1; valid 2026-12-05 00:06:57 to 2036-12-02 00:06:57; serial
    /// 0x1234; an authority key id).
    fn cert() -> Vec<u8> {
        crate::tls::tests::pem_to_der(include_str!("testdata/x509.pem"))
    }

    #[test]
    fn the_dns_names_come_from_the_subject_alt_name() {
        assert_eq!(dns_names(&cert()), vec!["a.test", "*.b.test"]);
    }

    #[test]
    fn validity_serial_and_authority_key_id_are_read() {
        let c = cert();
        assert_eq!(not_before(&c), Some(1_796_429_217));
        assert_eq!(not_after(&c), Some(2_111_789_217));
        assert_eq!(serial(&c), Some(&[0x12, 0x34][..]));
        assert_eq!(authority_key_id(&c).map(|k| k.len()), Some(20));
    }

    #[test]
    fn garbage_gives_nothing_and_no_panic() {
        for bytes in [
            &[][..],
            &[0x30],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x02, 0x30, 0x05],
        ] {
            assert!(dns_names(bytes).is_empty());
            assert_eq!(not_after(bytes), None);
            assert_eq!(serial(bytes), None);
        }
        let c = cert();
        for cut in 0..c.len() {
            let _ = (
                dns_names(&c[..cut]),
                not_after(&c[..cut]),
                authority_key_id(&c[..cut]),
            );
        }
    }

    #[test]
    fn times_in_both_encodings() {
        assert_eq!(parse_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(parse_time(0x18, b"20000301000000Z"), Some(951_868_800));
        assert_eq!(parse_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(parse_time(0x17, b"491231235959+"), None);
        assert_eq!(parse_time(0x18, b"2000130100000Z"), None);
    }
}
