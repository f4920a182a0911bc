//! Fuzz `http::parse::parse` and `find_head_end` with arbitrary bytes.
//!
//! Besides "no panic", it checks what the rest of the server relies on:
//! - a complete head (`Ok(Some((req, n)))`): `n <= len`, the head ends with an empty line,
//!   every slice in the request borrows from `buf[..n]`, every field name is a non-empty token,
//!   every value is free of CR, LF and NUL and of leading or trailing SP/HTAB, the request line
//!   is `method SP target SP version`, the host is the authority of an absolute-form target
//!   when that is a valid host (RFC 9112 §3.2.2) and otherwise the Host field, the framing
//!   agrees with the fields, and
//!   `find_head_end(buf, 0) == Some(n)` (the connection uses it to decide when to parse);
//! - the answer depends on `buf[..n]` only: parsing the head alone gives the same request;
//! - prefixes (the network splits a request anywhere): a prefix that is already complete or
//!   already refused must decide the whole buffer the same way, so no proper prefix of a
//!   complete head is complete, and (stronger) none is refused either;
//! - `Ok(None)` is never answered for more than `MAX_HEAD` bytes (the connection's buffer);
//! - `find_head_end` can resume: searching from `k - 3` after `buf[..k]` had no end finds the
//!   same end as searching from 0 (that is how `conn.rs` calls it).
#![no_main]

use barehttpd::http::parse::{self, Framing, Header, MAX_HEAD, MAX_HEADERS, Request, Version};
use libfuzzer_sys::fuzz_target;

/// Bound on the prefixes tried per input, so one input costs O(64 * len), not O(len²).
const MAX_PREFIXES: usize = 64;
/// Inputs up to this length have every prefix tried.
const ALL_PREFIXES_UP_TO: usize = 64;

fuzz_target!(|buf: &[u8]| {
    let mut headers = [Header::default(); MAX_HEADERS];
    let full = parse::parse(buf, &mut headers);
    match &full {
        Ok(None) => assert!(buf.len() <= MAX_HEAD, "Ok(None) for {} bytes", buf.len()),
        Err(_) => {}
        Ok(Some((req, n))) => check_complete(buf, req, *n),
    }
    let full = Outcome::of(&full);
    for k in prefix_points(buf, &full) {
        check_prefix(buf, k, &full);
    }
    check_find_head_end_resumes(buf);
});

/// What `parse` answered, reduced to what can be compared across calls.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Partial,
    Refused(u16),
    /// The head's length and the request's debug form (every field, every header).
    Complete(usize, String),
}

impl Outcome {
    fn of(r: &Result<Option<(Request, usize)>, parse::ParseError>) -> Outcome {
        match r {
            Ok(None) => Outcome::Partial,
            Err(e) => Outcome::Refused(e.status()),
            Ok(Some((req, n))) => Outcome::Complete(*n, format!("{req:?}")),
        }
    }
}

fn check_complete(buf: &[u8], req: &Request, n: usize) {
    assert!(
        n <= buf.len(),
        "head length {n} past the buffer ({})",
        buf.len()
    );
    assert!(n <= MAX_HEAD, "head of {n} bytes over MAX_HEAD");
    let head = &buf[..n];
    assert!(
        head.ends_with(b"\r\n\r\n"),
        "head does not end with an empty line: {head:?}"
    );

    for s in [req.method_raw, req.target, req.line] {
        assert!(borrows_from(head, s), "slice {s:?} not inside the head");
    }
    assert!(!req.method_raw.is_empty() && req.method_raw.iter().all(|&b| parse::is_tchar(b)));
    assert!(!req.target.is_empty() && req.target.iter().all(|&b| (0x21..0x7f).contains(&b)));
    let version: &[u8] = match req.version {
        Version::Http10 => b"HTTP/1.0",
        Version::Http11 => b"HTTP/1.",
        Version::Http2 => panic!("a request line never says HTTP/2"),
    };
    let mut line = [req.method_raw, b" ", req.target, b" "].concat();
    assert!(req.line.starts_with(&line), "request line {:?}", req.line);
    line.extend_from_slice(version);
    assert!(
        req.line.starts_with(&line),
        "request line {:?} vs {:?}",
        req.line,
        req.version
    );

    for h in req.headers {
        assert!(borrows_from(head, h.name) && borrows_from(head, h.value));
        assert!(!h.name.is_empty(), "empty field name");
        assert!(
            h.name.iter().all(|&b| parse::is_tchar(b)),
            "field name {:?}",
            h.name
        );
        assert!(
            !h.value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)),
            "CR, LF or NUL in field value {:?}",
            h.value
        );
        assert!(
            !matches!(h.value.first(), Some(b' ' | b'\t'))
                && !matches!(h.value.last(), Some(b' ' | b'\t')),
            "untrimmed field value {:?}",
            h.value
        );
    }

    // RFC 9112 §3.2.2: an absolute-form target's authority, when it is a valid host, is the
    // request's host whatever the Host field says; otherwise the (only) Host field is.
    let authority =
        absolute_authority(req.target).filter(|a| !a.is_empty() && parse::valid_host(a));
    assert_eq!(
        req.host,
        authority.or(req.header("host")),
        "host is neither the target's authority nor the Host field"
    );
    if let Some(h) = req.host {
        assert!(borrows_from(head, h), "host {h:?} not inside the head");
    }
    if req.version == Version::Http11 {
        // §3.2: the field is required on HTTP/1.1 even when the target names the host.
        assert!(
            req.header("host").is_some(),
            "HTTP/1.1 request without Host accepted"
        );
    }
    let has_te = req.header("transfer-encoding").is_some();
    let has_cl = req.header("content-length").is_some();
    match req.framing {
        Framing::Chunked => {
            assert!(
                has_te && !has_cl && req.version == Version::Http11,
                "{req:?}"
            );
        }
        Framing::Length(len) => assert!(len > 0 && has_cl && !has_te, "{req:?}"),
        Framing::None => assert!(!has_te, "Transfer-Encoding ignored: {req:?}"),
    }

    // The head alone parses to the same request: nothing after it was looked at.
    let mut headers = [Header::default(); MAX_HEADERS];
    let alone = parse::parse(head, &mut headers);
    assert_eq!(
        Outcome::of(&alone),
        Outcome::Complete(n, format!("{req:?}")),
        "the head alone parses differently"
    );

    // Also stated on its own: one byte short of the head is never complete.
    let mut headers = [Header::default(); MAX_HEADERS];
    let short = parse::parse(&head[..n - 1], &mut headers);
    assert!(
        !matches!(short, Ok(Some(_))),
        "head minus its last byte is complete"
    );

    // The connection only parses once find_head_end says a head is there.
    let line_start = offset(buf, req.line);
    assert_eq!(
        parse::find_head_end(buf, line_start),
        Some(n),
        "find_head_end from the request line"
    );
    assert_eq!(
        parse::find_head_end(buf, 0),
        Some(n),
        "find_head_end(buf, 0) disagrees"
    );
}

/// Prefix consistency: `parse(buf[..k])` is `Ok(None)`, or it already decided the whole
/// buffer: the same complete request, or a refusal of the whole buffer too.
fn check_prefix(buf: &[u8], k: usize, full: &Outcome) {
    let prefix = &buf[..k];
    let mut headers = [Header::default(); MAX_HEADERS];
    let got = Outcome::of(&parse::parse(prefix, &mut headers));
    match (&got, full) {
        (Outcome::Partial, _) => {}
        (Outcome::Refused(_), Outcome::Refused(_)) => {}
        (Outcome::Complete(..), _) => assert_eq!(&got, full, "prefix of {k} bytes"),
        (Outcome::Refused(_), _) => {
            panic!("prefix of {k} bytes refused ({got:?}) but the whole buffer is {full:?}")
        }
    }
}

/// Prefix lengths worth trying: all of them for short inputs, otherwise the edges of every
/// line (where a network split is most likely to confuse a parser), one byte short of the
/// head, and a spread of other points.
fn prefix_points(buf: &[u8], full: &Outcome) -> Vec<usize> {
    let len = buf.len();
    if len <= ALL_PREFIXES_UP_TO {
        return (0..len).collect();
    }
    let mut ks: Vec<usize> = Vec::with_capacity(MAX_PREFIXES);
    if let Outcome::Complete(n, _) = full {
        ks.extend([n - 1, *n]);
    }
    ks.extend((1..8).map(|i| len * i / 8));
    for (i, &b) in buf.iter().enumerate() {
        if ks.len() + 2 > MAX_PREFIXES {
            break;
        }
        if b == b'\r' || b == b'\n' {
            ks.extend([i, i + 1]);
        }
    }
    ks.retain(|&k| k < len);
    ks.sort_unstable();
    ks.dedup();
    ks
}

/// `conn.rs` searches only new bytes, from `scanned - 3`, after an earlier search of
/// `buf[..scanned]` found nothing. That must find the same end as one search from 0.
fn check_find_head_end_resumes(buf: &[u8]) {
    let whole = parse::find_head_end(buf, 0);
    let step = (buf.len() / 16).max(1);
    for k in (0..=buf.len()).step_by(step) {
        if parse::find_head_end(&buf[..k], 0).is_none() {
            assert_eq!(
                parse::find_head_end(buf, k.saturating_sub(3)),
                whole,
                "resumed at {k}"
            );
        }
    }
}

/// The authority of an `http://` or `https://` target (scheme in any case): what follows
/// `//` up to the first `/` or `?`, possibly empty. `None` for any other target.
fn absolute_authority(target: &[u8]) -> Option<&[u8]> {
    let colon = target.iter().position(|&b| b == b':')?;
    let scheme = &target[..colon];
    if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
        return None;
    }
    let rest = target[colon + 1..].strip_prefix(b"//")?;
    Some(
        rest.split(|&b| b == b'/' || b == b'?')
            .next()
            .unwrap_or(rest),
    )
}

fn borrows_from(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    o.start <= i.start && i.end <= o.end
}

fn offset(outer: &[u8], inner: &[u8]) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}
