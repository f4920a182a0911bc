//! The request-head parser (RFC 9112 §2-§3, §5-§7; RFC 9110 §5, §7.2, §10.1.1).
//!
//! `parse` is a pure function over a byte slice: it allocates nothing, borrows the method,
//! target and every field from the input, and answers `Ok(Some((request, n)))` when the head
//! is complete (n bytes long), `Ok(None)` when more bytes are needed, or an error that names
//! the HTTP status the server must answer with.
//!
//! It is deliberately strict, because the threats it faces are request smuggling and resource
//! exhaustion: lines must end in CRLF (a bare CR or a bare LF is refused), no whitespace may
//! stand before a field's colon, obsolete line folding is refused, control bytes are refused,
//! and the message framing (Content-Length, Transfer-Encoding) must be unambiguous or the
//! request is answered with 400 and the connection closed. What it does not do: decode the
//! request target (see `target.rs`) or read a body (see `chunked.rs`).
//!
//! Its length (about 850 lines) is a third unit tests, kept beside the rules they check.

/// Longest request line accepted (RFC 9112 §3: servers ought to accept at least 8000 octets).
/// A longer one is answered with 414.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Largest header section (all field lines after the request line). Larger → 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most field lines in one request. More → 431.
pub const MAX_HEADERS: usize = 100;
/// Empty lines tolerated before a request line (RFC 9112 §2.2: ignore at least one).
const MAX_LEADING_EMPTY_LINES: usize = 4;
/// The largest head a connection must be able to buffer.
pub const MAX_HEAD: usize = MAX_REQUEST_LINE + MAX_HEADER_BYTES + 2 * MAX_LEADING_EMPTY_LINES + 2;

/// One field line, borrowed from the input. The value has no leading or trailing whitespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

/// Request methods the server knows by name (RFC 9110 §9 plus PATCH).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    /// WebDAV (RFC 4918 §9), answered under write prefixes (`handler::dav`).
    Propfind,
    Proppatch,
    Mkcol,
    Copy,
    Move,
    Lock,
    Unlock,
    /// A syntactically valid method the server does not implement (→ 501).
    Other,
}

impl Method {
    pub fn from_token(t: &[u8]) -> Method {
        // Methods are case-sensitive (RFC 9110 §9.1).
        match t {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            b"PROPFIND" => Method::Propfind,
            b"PROPPATCH" => Method::Proppatch,
            b"MKCOL" => Method::Mkcol,
            b"COPY" => Method::Copy,
            b"MOVE" => Method::Move,
            b"LOCK" => Method::Lock,
            b"UNLOCK" => Method::Unlock,
            _ => Method::Other,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
    /// A request that came as an HTTP/2 stream (`conn/http2/`): never parsed from a request
    /// line, and answered as HTTP/1.1 would be (bodies of unknown length are framed by the
    /// session, as chunks are over HTTP/1.1).
    Http2,
}

/// How the request's body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head. Every slice borrows from the buffer given to `parse`.
#[derive(Debug)]
pub struct Request<'b, 'h> {
    pub method: Method,
    pub method_raw: &'b [u8],
    pub target: &'b [u8],
    pub version: Version,
    /// The request line without its CRLF (for the access log).
    pub line: &'b [u8],
    pub headers: &'h [Header<'b>],
    /// The host the request is for (RFC 9112 §3.2.2): the authority of an absolute-form
    /// target, whatever the Host field says; else the Host field's value. `None` only on
    /// HTTP/1.0 requests with neither.
    pub host: Option<&'b [u8]>,
    pub framing: Framing,
    /// Whether the client allows the connection to stay open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

impl<'b> Request<'b, '_> {
    /// The value of the first field named `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value)
    }
}

/// Why a request head was refused, and so which status answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// 400: malformed syntax or ambiguous framing. The string says what, for the error log.
    BadRequest(&'static str),
    /// 414: request line longer than `MAX_REQUEST_LINE`.
    UriTooLong,
    /// 431: header section over `MAX_HEADER_BYTES` or `MAX_HEADERS`.
    HeadersTooLarge,
    /// 505: an HTTP major version other than 1.
    VersionNotSupported,
    /// 417: an Expect value other than 100-continue (RFC 9110 §10.1.1).
    ExpectationFailed,
}

impl ParseError {
    pub fn status(self) -> u16 {
        match self {
            ParseError::BadRequest(_) => 400,
            ParseError::UriTooLong => 414,
            ParseError::HeadersTooLarge => 431,
            ParseError::VersionNotSupported => 505,
            ParseError::ExpectationFailed => 417,
        }
    }
}

type Result<T> = core::result::Result<T, ParseError>;

/// tchar (RFC 9110 §5.6.2).
#[inline]
pub fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`'
        | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// field-vchar, SP or HTAB (RFC 9110 §5.5); obs-text (0x80-0xFF) is allowed as opaque data.
#[inline]
pub fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// Bytes of the CRLF empty lines (at most `MAX_LEADING_EMPTY_LINES`) at the start of `buf`.
fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut lead = 0;
    while lead < 2 * MAX_LEADING_EMPTY_LINES && buf[lead..].starts_with(b"\r\n") {
        lead += 2;
    }
    lead
}

/// Where the head ends, if the buffer holds a whole one: the index just past the blank line.
/// Looks for LF [CR] LF so that a head with bare LFs is still found (and then refused by
/// `parse`) rather than left waiting for a terminator that will never come. `from` lets the
/// caller skip bytes it has already searched.
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    // Empty lines before the request line (RFC 9112 §2.2) do not end a head.
    let mut i = from.max(leading_empty_lines(buf));
    while i < buf.len() {
        if buf[i] == b'\n' {
            match buf.get(i + 1) {
                Some(b'\n') => return Some(i + 2),
                Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Parse one request head from the start of `buf`.
///
/// `Ok(None)` means the head is incomplete and still within limits. When it is complete,
/// the answer is the request and the number of bytes the head occupies (the body, if any,
/// starts there).
pub fn parse<'b, 'h>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>; MAX_HEADERS],
) -> Result<Option<(Request<'b, 'h>, usize)>> {
    // RFC 9112 §2.2: ignore empty lines before the request line.
    let mut pos = leading_empty_lines(buf);
    if buf.len() - pos <= 1 && buf[pos..].iter().all(|&b| b == b'\r') {
        return Ok(None); // nothing yet, or half of another empty line
    }
    let line_start = pos;
    let line_end = match memchr_lf(&buf[pos..]) {
        Some(i) => pos + i,
        None => {
            if buf.len() - pos > MAX_REQUEST_LINE {
                return Err(ParseError::UriTooLong);
            }
            // Refuse early what can never become a request line, so that garbage does not
            // sit in the buffer until the header deadline.
            check_request_line_prefix(&buf[pos..])?;
            return Ok(None);
        }
    };
    if line_end - line_start > MAX_REQUEST_LINE {
        return Err(ParseError::UriTooLong);
    }
    if line_end == line_start || buf[line_end - 1] != b'\r' {
        return Err(ParseError::BadRequest(
            "request line not terminated by CRLF",
        ));
    }
    let line = &buf[line_start..line_end - 1];
    let (method_raw, target, version) = parse_request_line(line)?;

    // Field lines (RFC 9112 §5).
    let fields_start = line_end + 1;
    pos = fields_start;
    let mut n = 0;
    loop {
        let rest = &buf[pos..];
        let Some(i) = memchr_lf(rest) else {
            if buf.len() - fields_start > MAX_HEADER_BYTES {
                return Err(ParseError::HeadersTooLarge);
            }
            return Ok(None);
        };
        let end = pos + i + 1;
        if end - fields_start > MAX_HEADER_BYTES {
            return Err(ParseError::HeadersTooLarge);
        }
        if i == 0 || rest[i - 1] != b'\r' {
            return Err(ParseError::BadRequest("field line not terminated by CRLF"));
        }
        let content = &rest[..i - 1];
        pos = end;
        if content.is_empty() {
            break;
        }
        if n == MAX_HEADERS {
            return Err(ParseError::HeadersTooLarge);
        }
        headers[n] = parse_field_line(content)?;
        n += 1;
    }
    let headers = &headers[..n];
    let request = interpret(method_raw, target, version, line, headers)?;
    Ok(Some((request, pos)))
}

#[inline]
fn memchr_lf(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == b'\n')
}

/// `method SP request-target SP HTTP-version` (RFC 9112 §3), exactly one SP each.
fn parse_request_line(line: &[u8]) -> Result<(&[u8], &[u8], Version)> {
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::BadRequest("request line has no spaces"))?;
    let method = &line[..sp1];
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::BadRequest("method is not a token"));
    }
    let rest = &line[sp1 + 1..];
    let sp2 = rest
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(ParseError::BadRequest("request line has one space"))?;
    let target = &rest[..sp2];
    let version = &rest[sp2 + 1..];
    if target.is_empty() {
        return Err(ParseError::BadRequest("empty request target"));
    }
    // The target is visible US-ASCII only: no whitespace, controls, or raw non-ASCII bytes.
    if !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Err(ParseError::BadRequest(
            "request target has a byte outside VCHAR",
        ));
    }
    let version = parse_version(version)?;
    Ok((method, target, version))
}

/// `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3). A higher 1.x minor is served as 1.1 (RFC 9110 §6.2);
/// any other major version gets 505.
fn parse_version(v: &[u8]) -> Result<Version> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => Err(ParseError::VersionNotSupported),
            }
        }
        _ => Err(ParseError::BadRequest("malformed HTTP version")),
    }
}

/// Refuse a partial first line whose bytes so far cannot start a valid request line.
fn check_request_line_prefix(p: &[u8]) -> Result<()> {
    let method_len = p.iter().position(|&b| b == b' ').unwrap_or(p.len());
    if !p[..method_len].iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::BadRequest("method is not a token"));
    }
    if method_len < p.len() {
        let rest = &p[method_len + 1..];
        if rest
            .iter()
            .any(|&b| b != b' ' && b != b'\r' && !(0x21..0x7f).contains(&b))
        {
            return Err(ParseError::BadRequest(
                "request target has a byte outside VCHAR",
            ));
        }
    }
    Ok(())
}

/// `field-name ":" OWS field-value OWS` (RFC 9112 §5.1-§5.2).
fn parse_field_line(line: &[u8]) -> Result<Header<'_>> {
    if line[0] == b' ' || line[0] == b'\t' {
        // RFC 9112 §5.2: obs-fold is refused in requests.
        return Err(ParseError::BadRequest("obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::BadRequest("field line without a colon"))?;
    let name = &line[..colon];
    // RFC 9112 §5.1: no whitespace between name and colon (400, never stripped).
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::BadRequest("invalid field name"));
    }
    let mut value = &line[colon + 1..];
    if !value.iter().all(|&b| is_field_byte(b)) {
        return Err(ParseError::BadRequest("control byte in a field value"));
    }
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    Ok(Header { name, value })
}

/// Apply the message-level rules: Host, framing, connection persistence and expectations.
fn interpret<'b, 'h>(
    method_raw: &'b [u8],
    target: &'b [u8],
    version: Version,
    line: &'b [u8],
    headers: &'h [Header<'b>],
) -> Result<Request<'b, 'h>> {
    let mut host = None;
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;

    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case(b"host") {
            // RFC 9112 §3.2: more than one Host field line → 400.
            if host.is_some() {
                return Err(ParseError::BadRequest("more than one Host field"));
            }
            if !valid_host(h.value) {
                return Err(ParseError::BadRequest("invalid Host field"));
            }
            host = Some(h.value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            // RFC 9112 §6.3: a list of identical values may be taken as one; differing → 400.
            for item in h.value.split(|&b| b == b',') {
                let n = parse_content_length(trim_ows(item))?;
                if content_length.is_some_and(|c| c != n) {
                    return Err(ParseError::BadRequest("conflicting Content-Length values"));
                }
                content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only a single `chunked`, possibly split over several field lines as one list.
            for item in h.value.split(|&b| b == b',') {
                let coding = trim_ows(item);
                if coding.is_empty() {
                    continue;
                }
                if chunked || !coding.eq_ignore_ascii_case(b"chunked") {
                    return Err(ParseError::BadRequest(
                        "Transfer-Encoding other than a single final chunked",
                    ));
                }
                chunked = true;
            }
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for item in h.value.split(|&b| b == b',') {
                let opt = trim_ows(item);
                if opt.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if opt.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive_token = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") && version == Version::Http11 {
            // RFC 9110 §10.1.1: a server MUST ignore a 100-continue expectation in an
            // HTTP/1.0 request (and may send it no 1xx, §15.2), so 1.0 expectations are
            // not looked at.
            if h.value.eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return Err(ParseError::ExpectationFailed);
            }
        }
    }

    if version == Version::Http11 && host.is_none() {
        return Err(ParseError::BadRequest("HTTP/1.1 request without Host"));
    }
    // RFC 9112 §3.2.2: with an absolute-form target, the Host field (still required above,
    // §3.2) is ignored and the target's authority names the host. One that is not a valid
    // host leaves the field in place; the target itself is refused when it is routed.
    if let Some(authority) = absolute_form(target)
        .map(|(a, _)| a)
        .filter(|a| !a.is_empty() && valid_host(a))
    {
        host = Some(authority);
    }
    let framing = if transfer_encoding {
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing; §6.3: with
        // Content-Length too, the message is a smuggling attempt. Both → 400 and close.
        if version == Version::Http10 {
            return Err(ParseError::BadRequest(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        if content_length.is_some() {
            return Err(ParseError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if !chunked {
            return Err(ParseError::BadRequest("empty Transfer-Encoding"));
        }
        Framing::Chunked
    } else {
        match content_length {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };
    let keep_alive = match version {
        // (A request line never says HTTP/2: the parser's versions are the two above.)
        Version::Http11 | Version::Http2 => !close,
        Version::Http10 => keep_alive_token && !close,
    };
    Ok(Request {
        method: Method::from_token(method_raw),
        method_raw,
        target,
        version,
        line,
        headers,
        host,
        framing,
        keep_alive,
        expect_continue,
    })
}

pub fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6), refusing values that overflow u64.
fn parse_content_length(s: &[u8]) -> Result<u64> {
    decimal(s).ok_or(ParseError::BadRequest("invalid Content-Length"))
}

/// 1*DIGIT as a u64: digits only, at most 19 of them (so it cannot overflow).
pub fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// An absolute-form request target (RFC 9112 §3.2.2), `http://` or `https://` (any case),
/// split into its authority and the rest (path and query, possibly empty). Nothing is
/// checked but the scheme.
pub fn absolute_form(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let after = [&b"http://"[..], b"https://"].iter().find_map(|scheme| {
        (target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme))
            .then(|| &target[scheme.len()..])
    })?;
    let end = after
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(after.len());
    Some(after.split_at(end))
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2). An empty value is allowed.
pub fn valid_host(v: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = v.strip_prefix(b"[") {
        // IP-literal: hex digits, colons, dots (IPv6 and IPv4-mapped); IPvFuture is refused.
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let lit = &rest[..close];
        if lit.is_empty()
            || !lit
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        let after = &rest[close + 1..];
        match after {
            [] => return true,
            [b':', port @ ..] => (&b""[..], Some(port)),
            _ => return false,
        }
    } else {
        match v.iter().rposition(|&b| b == b':') {
            Some(i) => (&v[..i], Some(&v[i + 1..])),
            None => (v, None),
        }
    };
    let host_ok = host.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'_' | b'~' | b'%' | b'!' | b'$' | b'&' | b'\''
            )
            || matches!(b, b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
    });
    let port_ok = port.is_none_or(|p| p.len() <= 5 && p.iter().all(u8::is_ascii_digit));
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// method, framing, keep-alive, header count, head length
    type Summary = (Method, Framing, bool, usize, usize);

    fn p(s: &[u8]) -> Result<Option<Summary>> {
        let mut h = [Header::default(); MAX_HEADERS];
        parse(s, &mut h)
            .map(|o| o.map(|(r, n)| (r.method, r.framing, r.keep_alive, r.headers.len(), n)))
    }

    fn status(s: &[u8]) -> u16 {
        match p(s) {
            Ok(Some(_)) => 200,
            Ok(None) => 0,
            Err(e) => e.status(),
        }
    }

    #[test]
    fn simple_get_is_complete() {
        let req = b"GET /a?b HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\nNEXT";
        let (m, f, ka, n, len) = p(req).unwrap().unwrap();
        assert_eq!((m, f, ka, n), (Method::Get, Framing::None, true, 2));
        assert_eq!(&req[len..], b"NEXT");
    }

    #[test]
    fn partial_heads_ask_for_more() {
        let full = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for i in 0..full.len() {
            assert_eq!(p(&full[..i]), Ok(None), "prefix {i}");
        }
    }

    #[test]
    fn rfc9112_2_2_leading_empty_line_ignored() {
        assert_eq!(status(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    }

    #[test]
    fn rfc9112_2_2_bare_cr_and_bare_lf_refused() {
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\nHost: x\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\n\r\n"), 400);
    }

    #[test]
    fn rfc9112_3_request_line_shape() {
        assert_eq!(status(b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status(b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(
            status(b"\x16\x03\x01"),
            400,
            "a TLS hello is refused at once"
        );
    }

    #[test]
    fn rfc9112_2_3_versions() {
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/0.9\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/1.10\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status(b"GET / http/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.0\r\n\r\n"), 200);
        assert_eq!(status(b"GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 200);
    }

    #[test]
    fn rfc9112_3_request_line_limit_is_414() {
        let mut long = b"GET /".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_REQUEST_LINE));
        assert_eq!(status(&long), 414, "partial");
        long.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status(&long), 414, "complete");
    }

    #[test]
    fn rfc6585_5_header_limits_are_431() {
        let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(status(&many), 431);
        let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEADER_BYTES));
        assert_eq!(status(&big), 431, "partial");
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(status(&big), 431, "complete");
    }

    #[test]
    fn rfc9112_5_field_syntax() {
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n"),
            400
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9\r\n\r\n"),
            200
        );
    }

    #[test]
    fn field_values_are_trimmed() {
        let mut h = [Header::default(); MAX_HEADERS];
        let (r, _) = parse(b"GET / HTTP/1.1\r\nHost:  x \t\r\nA:\r\n\r\n", &mut h)
            .unwrap()
            .unwrap();
        assert_eq!(r.host, Some(&b"x"[..]));
        assert_eq!(r.header("a"), Some(&b""[..]));
    }

    #[test]
    fn rfc9112_3_2_host_rules() {
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 200);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"),
            200
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), 200);
        assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    }

    /// RFC 9112 §3.2.2: "When an origin server receives a request with an absolute-form of
    /// request-target, the origin server MUST ignore the received Host header field (if
    /// any) and instead use the host information of the request-target."
    #[test]
    fn rfc9112_3_2_2_absolute_form_authority_is_the_host() {
        let host = |s: &[u8]| {
            let mut h = [Header::default(); MAX_HEADERS];
            let (r, _) = parse(s, &mut h).unwrap().unwrap();
            r.host.map(<[u8]>::to_vec)
        };
        let h = |v: &[u8]| Some(v.to_vec());
        assert_eq!(
            host(b"GET http://example.test/a HTTP/1.1\r\nHost: other\r\n\r\n"),
            h(b"example.test")
        );
        assert_eq!(
            host(b"GET HTTPS://example.test:8443?q HTTP/1.1\r\nHost: other\r\n\r\n"),
            h(b"example.test:8443")
        );
        assert_eq!(
            host(b"GET http://[::1]:81/ HTTP/1.0\r\n\r\n"),
            h(b"[::1]:81"),
            "HTTP/1.0 needs no Host field"
        );
        // Origin form: the field. A target whose authority is no host leaves the field
        // (the target is refused when routed).
        assert_eq!(host(b"GET /a HTTP/1.1\r\nHost: other\r\n\r\n"), h(b"other"));
        assert_eq!(
            host(b"GET http://u@h/ HTTP/1.1\r\nHost: other\r\n\r\n"),
            h(b"other")
        );
        assert_eq!(
            host(b"GET http:///a HTTP/1.1\r\nHost: other\r\n\r\n"),
            h(b"other")
        );
        // §3.2: the field is still required in HTTP/1.1.
        assert_eq!(status(b"GET http://example.test/ HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(
            absolute_form(b"http://a:1/b?c"),
            Some((&b"a:1"[..], &b"/b?c"[..]))
        );
        assert_eq!(absolute_form(b"http://a?c"), Some((&b"a"[..], &b"?c"[..])));
        assert_eq!(absolute_form(b"/http://a"), None);
        assert_eq!(absolute_form(b"ftp://a/"), None);
    }

    #[test]
    fn rfc9112_6_3_framing() {
        let te_cl = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(te_cl), 400);
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3 3\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        let ok = p(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n").unwrap();
        assert_eq!(ok.unwrap().1, Framing::Length(3));
        let ok = p(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n").unwrap();
        assert_eq!(ok.unwrap().1, Framing::Chunked);
    }

    #[test]
    fn rfc9112_9_3_persistence() {
        let ka = |s: &[u8]| p(s).unwrap().unwrap().2;
        assert!(ka(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n"
        ));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn rfc9110_10_1_1_expect() {
        assert_eq!(
            status(b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"),
            200
        );
        assert_eq!(
            status(b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: fly\r\n\r\n"),
            417
        );
    }

    #[test]
    fn rfc9112_2_2_leading_empty_lines_split_anywhere() {
        let full = b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for i in 0..full.len() {
            assert_eq!(p(&full[..i]), Ok(None), "prefix {i}");
        }
        assert_eq!(find_head_end(full, 0), Some(full.len()));
    }

    #[test]
    fn head_end_is_found_with_bare_lf_too() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nX", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nX", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
    }
}
