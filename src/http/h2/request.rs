//! The HTTP semantics of an HTTP/2 request's header list (RFC 9113 §8.1-8.3): pseudo-header
//! fields first and each once, only the request ones; names lowercase and valid; no
//! connection-specific field; `te` only "trailers"; values without NUL, CR, LF or edge
//! whitespace; `content-length` one number. A list that breaks a rule is malformed: the
//! session resets the stream with PROTOCOL_ERROR (§8.1.1). Pure: the fields are ranges of a
//! buffer the HPACK decoder filled.

use super::hpack::Field;
use std::ops::Range;

/// The request's pseudo-header fields and what the session needs of its regular ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pseudo {
    pub method: Option<Range<usize>>,
    pub scheme: Option<Range<usize>>,
    pub path: Option<Range<usize>>,
    pub authority: Option<Range<usize>>,
    /// The value of `content-length`, if sent.
    pub content_length: Option<u64>,
    /// How many `cookie` fields (crumbs to join, §8.2.3).
    pub cookies: usize,
    /// `expect: 100-continue` came (RFC 9110 §10.1.1), and whether another expectation
    /// did, which the server cannot meet (417, as over HTTP/1.1).
    pub expect_continue: bool,
    pub expect_other: bool,
}

/// Fields that mean something only to one HTTP/1.1 connection (§8.2.2).
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

/// Check a request's header list; `Err` says which rule it breaks (for the error log).
pub fn check(buf: &[u8], fields: &[Field]) -> Result<Pseudo, &'static str> {
    let mut p = Pseudo::default();
    let mut regular = false;
    for f in fields {
        let name = &buf[f.name.clone()];
        let value = &buf[f.value.clone()];
        check_value(value)?;
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular {
                return Err("pseudo-header after a regular field");
            }
            let slot = match pseudo {
                b"method" => &mut p.method,
                b"scheme" => &mut p.scheme,
                b"path" => &mut p.path,
                b"authority" => &mut p.authority,
                _ => return Err("unknown or response pseudo-header"),
            };
            if slot.is_some() {
                return Err("pseudo-header twice");
            }
            *slot = Some(f.value.clone());
            continue;
        }
        regular = true;
        check_name(name)?;
        if CONNECTION_SPECIFIC.contains(&name) {
            return Err("connection-specific field");
        }
        match name {
            b"te" if value != b"trailers" => return Err("te other than trailers"),
            b"content-length" => {
                let n = crate::http::parse::decimal(value).ok_or("bad content-length")?;
                if p.content_length.is_some_and(|m| m != n) {
                    return Err("content-length twice");
                }
                p.content_length = Some(n);
            }
            b"cookie" => p.cookies += 1,
            b"expect" if value.eq_ignore_ascii_case(b"100-continue") => p.expect_continue = true,
            b"expect" => p.expect_other = true,
            _ => {}
        }
    }
    let method = p.method.clone().ok_or("no :method")?;
    if &buf[method] == b"CONNECT" {
        // §8.5: only :method and :authority.
        if p.scheme.is_some() || p.path.is_some() || p.authority.is_none() {
            return Err("CONNECT with :scheme or :path, or without :authority");
        }
        return Ok(p);
    }
    if p.scheme.is_none() {
        return Err("no :scheme");
    }
    match &p.path {
        Some(r) if !r.is_empty() => {}
        _ => return Err("no :path or an empty one"),
    }
    Ok(p)
}

/// A trailer section (§8.1): regular fields only, by the same rules.
pub fn check_trailers(buf: &[u8], fields: &[Field]) -> Result<(), &'static str> {
    for f in fields {
        let name = &buf[f.name.clone()];
        if name.starts_with(b":") {
            return Err("pseudo-header in trailers");
        }
        check_name(name)?;
        check_value(&buf[f.value.clone()])?;
        if CONNECTION_SPECIFIC.contains(&name) {
            return Err("connection-specific field");
        }
    }
    Ok(())
}

/// §8.2.1: a name is a token with no uppercase letter.
fn check_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty field name");
    }
    if name
        .iter()
        .any(|&b| !crate::http::parse::is_tchar(b) || b.is_ascii_uppercase())
    {
        return Err("field name not a lowercase token");
    }
    Ok(())
}

/// §8.2.1: no NUL, CR or LF, and no whitespace at either end.
fn check_value(v: &[u8]) -> Result<(), &'static str> {
    if v.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err("NUL, CR or LF in a field value");
    }
    if v.first().is_some_and(|&b| b == b' ' || b == b'\t')
        || v.last().is_some_and(|&b| b == b' ' || b == b'\t')
    {
        return Err("whitespace at the edge of a field value");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> (Vec<u8>, Vec<Field>) {
        let mut buf = Vec::new();
        let mut fields = Vec::new();
        for (n, v) in pairs {
            let a = buf.len();
            buf.extend_from_slice(n.as_bytes());
            let b = buf.len();
            buf.extend_from_slice(v.as_bytes());
            fields.push(Field {
                name: a..b,
                value: b..buf.len(),
                never_indexed: false,
            });
        }
        (buf, fields)
    }

    fn ok(pairs: &[(&str, &str)]) -> Result<Pseudo, &'static str> {
        let (b, f) = list(pairs);
        check(&b, &f)
    }

    const BASE: [(&str, &str); 3] = [(":method", "GET"), (":scheme", "http"), (":path", "/")];

    #[test]
    fn a_plain_request_passes_and_reports_its_fields() {
        let mut l = BASE.to_vec();
        l.extend([
            (":authority", "x"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("content-length", "5"),
            ("te", "trailers"),
        ]);
        let p = ok(&l).unwrap();
        assert_eq!(p.cookies, 2);
        assert_eq!(p.content_length, Some(5));
        assert!(p.authority.is_some());
    }

    #[test]
    fn every_rule_refuses() {
        let bad: [&[(&str, &str)]; 13] = [
            &[(":method", "GET"), (":path", "/")],
            &[(":method", "GET"), (":scheme", "http"), (":path", "")],
            &[(":method", "GET"), (":scheme", "http")],
            &[(":scheme", "http"), (":path", "/")],
            &[
                (":method", "GET"),
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":status", "200"),
            ],
            &[
                (":method", "GET"),
                ("a", "b"),
                (":scheme", "http"),
                (":path", "/"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("Up", "x"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("connection", "x"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("te", "gzip"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("a", " x"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("a", "x\ny"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("content-length", "x"),
            ],
        ];
        for l in bad {
            assert!(ok(l).is_err(), "{l:?}");
        }
        let (b, f) = list(&[(":path", "/")]);
        assert!(check_trailers(&b, &f).is_err());
        let (b, f) = list(&[("x-sum", "1")]);
        assert!(check_trailers(&b, &f).is_ok());
    }
}
