//! A differential check of the request-head parser against `httparse`.
//!
//! Every file of the fuzz seed corpus (`fuzz/seeds/parse_request/`, plus
//! `fuzz/corpus/parse_request/` when it exists) and a few hundred generated mutations of valid
//! requests go to both parsers. Where both answer "complete", method, target, version, head
//! length and every field name and value must agree. Where they disagree on acceptance, a
//! third, independent reading of the input (`rfc_violations`, written from RFC 9112 and
//! RFC 9110, not from either parser; only the size limits are barehttpd's own constants, which
//! RFC 9112 §3 and RFC 6585 §5 leave to the server) must name the rule that decides it, and barehttpd's
//! answer must be the one that rule asks for, with the status the rule asks for. An
//! unexplained disagreement fails the test, and so does barehttpd refusing an input in which
//! the independent reading finds nothing wrong, or accepting one in which it finds something.
//!
//! httparse is a syntax-only parser: it knows nothing of Host, Content-Length,
//! Transfer-Encoding or Expect, and it accepts bare LF, any number of leading empty lines and
//! raw non-ASCII target bytes. So most disagreements are barehttpd being stricter on purpose;
//! the one the other way is the HTTP version (httparse knows only 1.0 and 1.1).

use barehttpd::http::parse::{self, Header, MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_LINE};
use std::collections::BTreeMap;
use std::path::Path;

/// Empty lines barehttpd ignores before a request line (RFC 9112 §2.2 asks for at least one).
const LEADING_EMPTY_LINES: usize = 4;

/// A rule of RFC 9112 / RFC 9110 (or a documented barehttpd limit) that an input breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// §2.2: a line ends in CRLF; a bare LF MAY be accepted, barehttpd refuses it.
    BareLf,
    /// §2.2: a bare CR MUST be treated as invalid (or replaced by SP).
    BareCr,
    /// §2.2: at least one leading empty line SHOULD be ignored; barehttpd ignores four.
    LeadingEmptyLines,
    /// §3: `method SP request-target SP HTTP-version`, one SP each.
    RequestLineShape,
    /// §3.1 / RFC 9110 §9.1: the method is a token.
    MethodNotToken,
    /// §3.2 / RFC 3986 §2: the target is visible ASCII; raw obs-text and controls are not.
    TargetNotVchar,
    /// §2.3: `HTTP/DIGIT.DIGIT`, case-sensitive.
    VersionSyntax,
    /// RFC 9110 §6.2, §15.6.6: another major version → 505.
    VersionMajor,
    /// §5.2: obs-fold in a request MUST be refused with 400 (or replaced by SP).
    ObsFold,
    /// §5: a field line is `field-name ":" ...`.
    NoColon,
    /// §5.1: whitespace between field name and colon MUST be refused with 400.
    WsBeforeColon,
    /// RFC 9110 §5.1: the field name is a token.
    FieldNameNotToken,
    /// RFC 9110 §5.5: CTL (other than HTAB) and DEL are not field-value bytes.
    CtlInValue,
    /// §3: a request line over the server's limit → 414.
    RequestLineTooLong,
    /// RFC 6585 §5: a header section over the server's limits → 431.
    HeadersTooLarge,
    /// §3.2: an HTTP/1.1 request without Host MUST get 400.
    MissingHost,
    /// §3.2: more than one Host field line MUST get 400.
    DuplicateHost,
    /// §3.2, RFC 9110 §7.2: an invalid Host value MUST get 400.
    InvalidHost,
    /// §6.3 (5), RFC 9110 §8.6: Content-Length not 1*DIGIT, or one that overflows.
    InvalidContentLength,
    /// §6.3 (5): differing Content-Length values are unrecoverable → 400.
    ConflictingContentLength,
    /// §6.1, §6.3 (3): Transfer-Encoding and Content-Length together; barehttpd takes the
    /// MAY-reject branch (400 and close).
    TeAndCl,
    /// §6.1: Transfer-Encoding in an HTTP/1.0 request means faulty framing.
    TeInHttp10,
    /// §6.3 (4): chunked not final → 400 MUST; §6.1: an unknown coding SHOULD be 501,
    /// barehttpd answers 400.
    TeNotSingleChunked,
    /// RFC 9110 §10.1.1: an unknown expectation MAY get 417.
    UnknownExpectation,
}

impl Rule {
    /// The status the rule asks barehttpd for.
    fn status(self) -> u16 {
        match self {
            Rule::VersionMajor => 505,
            Rule::RequestLineTooLong => 414,
            Rule::HeadersTooLarge => 431,
            Rule::UnknownExpectation => 417,
            _ => 400,
        }
    }

    fn section(self) -> &'static str {
        match self {
            Rule::BareLf | Rule::BareCr | Rule::LeadingEmptyLines => "RFC 9112 §2.2",
            Rule::RequestLineShape | Rule::RequestLineTooLong => "RFC 9112 §3",
            Rule::MethodNotToken => "RFC 9112 §3.1",
            Rule::TargetNotVchar => "RFC 9112 §3.2",
            Rule::VersionSyntax => "RFC 9112 §2.3",
            Rule::VersionMajor => "RFC 9110 §6.2",
            Rule::ObsFold => "RFC 9112 §5.2",
            Rule::NoColon => "RFC 9112 §5",
            Rule::WsBeforeColon => "RFC 9112 §5.1",
            Rule::FieldNameNotToken => "RFC 9110 §5.1",
            Rule::CtlInValue => "RFC 9110 §5.5",
            Rule::HeadersTooLarge => "RFC 6585 §5",
            Rule::MissingHost | Rule::DuplicateHost | Rule::InvalidHost => "RFC 9112 §3.2",
            Rule::InvalidContentLength | Rule::ConflictingContentLength => "RFC 9112 §6.3",
            Rule::TeAndCl | Rule::TeInHttp10 => "RFC 9112 §6.1",
            Rule::TeNotSingleChunked => "RFC 9112 §6.3",
            Rule::UnknownExpectation => "RFC 9110 §10.1.1",
        }
    }
}

/// What the independent reading found.
#[derive(Debug, Default)]
struct Reading {
    /// The head is complete (a line that is empty, after the request line).
    complete: bool,
    rules: Vec<Rule>,
    /// The version is HTTP/1.2 to HTTP/1.9 (or a prefix that can only become one): RFC 9110
    /// §6.2 says to serve it as the highest 1.x minor supported; httparse refuses it.
    higher_minor: bool,
}

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', r @ ..] = s {
        s = r;
    }
    while let [r @ .., b' ' | b'\t'] = s {
        s = r;
    }
    s
}

/// RFC 3986 §3.2.2-§3.2.3: `uri-host [ ":" port ]`, port is `*DIGIT` (barehttpd: at most 5).
fn host_ok(v: &[u8]) -> bool {
    let (host, port): (&[u8], &[u8]) = if let Some(r) = v.strip_prefix(b"[") {
        let Some(end) = r.iter().position(|&b| b == b']') else {
            return false;
        };
        let lit = &r[..end];
        if lit.is_empty()
            || !lit
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match &r[end + 1..] {
            [] => (b"", b""),
            [b':', p @ ..] => (b"", p),
            _ => return false,
        }
    } else {
        match v.iter().rposition(|&b| b == b':') {
            Some(i) => (&v[..i], &v[i + 1..]),
            None => (v, b""),
        }
    };
    let reg = |b: &u8| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(b);
    host.iter().all(reg) && port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
}

/// `HTTP/DIGIT.DIGIT` or a prefix of it. Some((major, minor)) when complete.
fn version_prefix(v: &[u8], complete: bool, r: &mut Reading) {
    let shape = *b"HTTP/d.d";
    let ok_prefix = v.len() <= shape.len()
        && v.iter().zip(shape).all(|(&b, s)| {
            if s == b'd' {
                b.is_ascii_digit()
            } else {
                b == s
            }
        });
    if !ok_prefix || (complete && v.len() != shape.len()) {
        r.rules.push(Rule::VersionSyntax);
        return;
    }
    if v.len() >= 6 && v[5] != b'1' {
        if complete {
            r.rules.push(Rule::VersionMajor);
        }
        return;
    }
    if v.len() == 8 && v[7] >= b'2' {
        r.higher_minor = true;
    }
}

/// Check the (possibly partial) request line `line`.
fn request_line(line: &[u8], complete: bool, r: &mut Reading) {
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    if parts[0].iter().any(|&b| !tchar(b)) || (parts.len() > 1 && parts[0].is_empty()) {
        r.rules.push(Rule::MethodNotToken);
    }
    if let Some(t) = parts.get(1)
        && t.iter().any(|&b| !(0x21..0x7f).contains(&b))
    {
        r.rules.push(Rule::TargetNotVchar);
    }
    if parts.len() > 3
        || (complete && parts.len() < 3)
        || parts
            .get(1)
            .is_some_and(|t| t.is_empty() && parts.len() > 2)
    {
        r.rules.push(Rule::RequestLineShape);
    }
    if let Some(v) = parts.get(2) {
        version_prefix(v, complete && parts.len() == 3, r);
    }
}

/// Check one (possibly partial) field line; a complete one is returned as (name, value).
fn field_line<'a>(line: &'a [u8], complete: bool, r: &mut Reading) -> Option<(&'a [u8], &'a [u8])> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        r.rules.push(Rule::ObsFold);
        return None;
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        if complete {
            r.rules.push(Rule::NoColon);
        } else if line.iter().any(|&b| !tchar(b)) {
            // httparse refuses a partial name at its first non-token byte.
            r.rules.push(Rule::FieldNameNotToken);
        }
        return None;
    };
    let name = &line[..colon];
    let value = &line[colon + 1..];
    if !name.is_empty() && matches!(name.last(), Some(b' ' | b'\t')) {
        r.rules.push(Rule::WsBeforeColon);
    } else if name.is_empty() || name.iter().any(|&b| !tchar(b)) {
        r.rules.push(Rule::FieldNameNotToken);
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        r.rules.push(Rule::CtlInValue);
    }
    complete.then_some((name, trim(value)))
}

/// Read `buf` by the RFC's rules, independently of both parsers.
fn rfc_violations(buf: &[u8]) -> Reading {
    let mut r = Reading::default();
    let mut pos = 0;
    let mut empties = 0;
    loop {
        if buf[pos..].starts_with(b"\r\n") {
            pos += 2;
        } else if buf[pos..].starts_with(b"\n") {
            r.rules.push(Rule::BareLf);
            pos += 1;
        } else {
            break;
        }
        empties += 1;
    }
    if empties > LEADING_EMPTY_LINES {
        r.rules.push(Rule::LeadingEmptyLines);
    }
    let mut fields: Vec<(&[u8], &[u8])> = Vec::new();
    let mut first = true;
    let mut fields_start = 0;
    let mut request_line_text: &[u8] = b"";
    loop {
        let rest = &buf[pos..];
        let lf = rest.iter().position(|&b| b == b'\n');
        let (raw, complete) = match lf {
            Some(i) => (&rest[..i], true),
            None => (rest, false),
        };
        let mut content = raw;
        if complete {
            match content.split_last() {
                Some((b'\r', c)) => content = c,
                _ => r.rules.push(Rule::BareLf),
            }
        }
        // A CR inside a line is bare (a trailing CR of a partial line may still get its LF).
        let inner = if complete {
            content
        } else {
            content.strip_suffix(b"\r").unwrap_or(content)
        };
        if inner.contains(&b'\r') {
            r.rules.push(Rule::BareCr);
        }
        if first {
            let len = if complete { raw.len() } else { rest.len() };
            if len > MAX_REQUEST_LINE {
                r.rules.push(Rule::RequestLineTooLong);
            }
            // A partial line ending in CR either gets its LF next (and is then `inner`) or
            // holds a bare CR, so it is read as complete.
            request_line(inner, complete || content.ends_with(b"\r"), &mut r);
            request_line_text = inner;
            first = false;
            fields_start = pos + raw.len() + 1;
        } else {
            let used = (pos + raw.len() + usize::from(complete)).saturating_sub(fields_start);
            if used > MAX_HEADER_BYTES {
                r.rules.push(Rule::HeadersTooLarge);
            }
            if complete && content.is_empty() {
                r.complete = true;
                break;
            }
            if complete && fields.len() == MAX_HEADERS {
                r.rules.push(Rule::HeadersTooLarge);
            }
            if let Some(f) = field_line(inner, complete, &mut r) {
                fields.push(f);
            }
        }
        if !complete {
            break;
        }
        pos += raw.len() + 1;
    }
    if r.complete {
        message_rules(request_line_text, &fields, &mut r);
    }
    r.rules.sort();
    r.rules.dedup();
    r
}

/// The message-level rules (Host, framing, Expect) of a complete head.
fn message_rules(line: &[u8], fields: &[(&[u8], &[u8])], r: &mut Reading) {
    let http10 = line.ends_with(b" HTTP/1.0");
    let is = |n: &[u8], want: &str| n.eq_ignore_ascii_case(want.as_bytes());
    let hosts: Vec<&[u8]> = fields
        .iter()
        .filter(|(n, _)| is(n, "host"))
        .map(|f| f.1)
        .collect();
    if hosts.is_empty() && !http10 {
        r.rules.push(Rule::MissingHost);
    }
    if hosts.len() > 1 {
        r.rules.push(Rule::DuplicateHost);
    }
    if hosts.iter().any(|h| !host_ok(h)) {
        r.rules.push(Rule::InvalidHost);
    }
    let mut lengths = Vec::new();
    for (_, v) in fields.iter().filter(|(n, _)| is(n, "content-length")) {
        for item in v.split(|&b| b == b',').map(trim) {
            // 1*DIGIT; more than 19 digits can overflow u64 (RFC 9110 §8.6).
            if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
                r.rules.push(Rule::InvalidContentLength);
            } else {
                lengths.push(item);
            }
        }
    }
    let strip = |s: &&[u8]| -> Vec<u8> {
        let z = s.iter().take_while(|&&b| b == b'0').count();
        s[z..].to_vec()
    };
    if lengths.windows(2).any(|w| strip(&w[0]) != strip(&w[1])) {
        r.rules.push(Rule::ConflictingContentLength);
    }
    let te: Vec<&[u8]> = fields
        .iter()
        .filter(|(n, _)| is(n, "transfer-encoding"))
        .flat_map(|(_, v)| v.split(|&b| b == b',').map(trim))
        .filter(|c| !c.is_empty())
        .collect();
    let has_te = fields.iter().any(|(n, _)| is(n, "transfer-encoding"));
    if has_te {
        let has_cl = fields.iter().any(|(n, _)| is(n, "content-length"));
        if http10 {
            r.rules.push(Rule::TeInHttp10);
        }
        if has_cl {
            r.rules.push(Rule::TeAndCl);
        }
        if te.len() != 1 || !te[0].eq_ignore_ascii_case(b"chunked") {
            r.rules.push(Rule::TeNotSingleChunked);
        }
    }
    if !http10
        && fields
            .iter()
            .any(|(n, v)| is(n, "expect") && !v.eq_ignore_ascii_case(b"100-continue"))
    {
        r.rules.push(Rule::UnknownExpectation);
    }
}

// ---------------------------------------------------------------------------------------
// The two parsers, reduced to a comparable outcome
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    method: Vec<u8>,
    target: Vec<u8>,
    minor: u8,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    len: usize,
}

#[derive(Debug)]
enum Outcome {
    Complete(Parsed),
    Partial,
    Error(u16, String),
}

fn barehttpd(buf: &[u8]) -> Outcome {
    let mut h = [Header::default(); MAX_HEADERS];
    match parse::parse(buf, &mut h) {
        Ok(Some((r, n))) => Outcome::Complete(Parsed {
            method: r.method_raw.to_vec(),
            target: r.target.to_vec(),
            minor: match r.version {
                parse::Version::Http10 => 0,
                parse::Version::Http11 => 1,
                parse::Version::Http2 => unreachable!("no request line says HTTP/2"),
            },
            headers: r
                .headers
                .iter()
                .map(|h| (h.name.to_vec(), h.value.to_vec()))
                .collect(),
            len: n,
        }),
        Ok(None) => Outcome::Partial,
        Err(e) => Outcome::Error(e.status(), format!("{e:?}")),
    }
}

fn httparse(buf: &[u8]) -> Outcome {
    // More slots than barehttpd allows, so that the count limit shows up as a disagreement.
    let mut h = [httparse::EMPTY_HEADER; 2 * MAX_HEADERS];
    let mut req = httparse::Request::new(&mut h);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Outcome::Complete(Parsed {
            method: req.method.unwrap_or("").as_bytes().to_vec(),
            target: req.path.unwrap_or("").as_bytes().to_vec(),
            minor: req.version.unwrap_or(9),
            headers: req
                .headers
                .iter()
                .map(|h| (h.name.as_bytes().to_vec(), trim(h.value).to_vec()))
                .collect(),
            len: n,
        }),
        Ok(httparse::Status::Partial) => Outcome::Partial,
        Err(e) => Outcome::Error(0, format!("{e:?}")),
    }
}

// ---------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------

fn corpus() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["seeds/parse_request", "corpus/parse_request"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            assert!(
                dir.starts_with("corpus"),
                "the seed corpus {dir} is missing"
            );
            continue;
        };
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for p in files {
            if let Ok(data) = std::fs::read(&p) {
                out.push((
                    format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()),
                    data,
                ));
            }
        }
    }
    out
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const BASES: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /a/b?c=d HTTP/1.1\r\nHost: x:8080\r\nAccept: */*\r\nUser-Agent: t/1.0\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    b"PUT /dav/f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HEAD /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
    b"GET http://h/p HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n",
];

fn replace_nth(v: &[u8], from: &[u8], to: &[u8], n: usize) -> Vec<u8> {
    let hits: Vec<usize> = (0..v.len().saturating_sub(from.len() - 1))
        .filter(|&i| v[i..].starts_with(from))
        .collect();
    if hits.is_empty() {
        return v.to_vec();
    }
    let at = hits[n % hits.len()];
    [&v[..at], to, &v[at + from.len()..]].concat()
}

/// Insert `line` (without CRLF) as a field line after the request line.
fn with_field(v: &[u8], line: &[u8]) -> Vec<u8> {
    let at = v.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    [&v[..at], line, b"\r\n", &v[at..]].concat()
}

fn generated() -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let versions: &[&[u8]] = &[
        b"HTTP/1.0",
        b"HTTP/1.2",
        b"HTTP/1.9",
        b"HTTP/2.0",
        b"HTTP/0.9",
        b"HTTP/1.10",
        b"http/1.1",
        b"HTTP/1",
        b"HTTP/1.1 ",
        b"HTTP/11",
        b"HTTP/3.0",
        b" HTTP/1.1",
    ];
    let ctl: &[u8] = &[
        0, 1, 8, 0x0b, 0x0c, 0x1b, 0x7f, 0x80, 0xff, b'\r', b'\t', b'\n', b' ',
    ];
    let fields: &[&[u8]] = &[
        b"Content-Length: 5",
        b"Content-Length: 05",
        b"Content-Length: 6",
        b"Content-Length: 5, 5",
        b"Content-Length: 5,",
        b"Content-Length: +5",
        b"Content-Length: -5",
        b"Content-Length: 5 ",
        b"Content-Length: 0x5",
        b"Content-Length: 18446744073709551616",
        b"Content-Length: 99999999999999999999",
        b"Content-Length:",
        b"Transfer-Encoding: chunked",
        b"Transfer-Encoding : chunked",
        b"Transfer-Encoding: chunked ",
        b"Transfer-Encoding:\tchunked",
        b"Transfer-Encoding: chunked, identity",
        b"Transfer-Encoding: identity, chunked",
        b"Transfer-Encoding: gzip, chunked",
        b"Transfer-Encoding: CHUNKED",
        b"Transfer-Encoding: xchunked",
        b"Transfer-Encoding:",
        b"Transfer-Encoding: ,chunked,",
        b"Transfer-Encoding\t: chunked",
        b" Transfer-Encoding: chunked",
        b"\tX: folded",
        b"Host: other",
        b"Host:",
        b"Host: a b",
        b"Host: u@a",
        b"Host: a/b",
        b"Host: [::1",
        b"Host: a:123456",
        b"Expect: 100-continue",
        b"Expect: 100-Continue",
        b"Expect: fly",
        b"X-\x80: obs-text name",
        b"X: caf\xc3\xa9",
        b"X\"Y: z",
        b": no name",
        b"NoColon",
        b"X: a\x00b",
        b"X: a\rb",
        b"X: a\x7fb",
    ];
    for (bi, base) in BASES.iter().enumerate() {
        // Bare LF in place of each CRLF in turn, and everywhere.
        for n in 0..4 {
            out.push((
                format!("b{bi} bare-lf {n}"),
                replace_nth(base, b"\r\n", b"\n", n),
            ));
        }
        let all_lf: Vec<u8> = replace_nth(base, b"\r\n\r\n", b"\n\n", 0);
        out.push((format!("b{bi} all-lf"), all_lf));
        // Bare CR.
        out.push((
            format!("b{bi} bare-cr"),
            replace_nth(base, b"\r\n", b"\r", 1),
        ));
        // obs-fold: a continuation line after the first field.
        let fold = replace_nth(base, b"\r\n", b"\r\n folded\r\n", 1);
        out.push((format!("b{bi} obs-fold"), fold));
        // Whitespace before a colon.
        for (n, ws) in [(0, &b" :"[..]), (1, b"\t:"), (0, b"  :")] {
            out.push((format!("b{bi} ws-colon"), replace_nth(base, b":", ws, n)));
        }
        // Versions.
        for v in versions {
            let m = replace_nth(base, b"HTTP/1.1", v, 0);
            let m = if bi == 4 {
                replace_nth(base, b"HTTP/1.0", v, 0)
            } else {
                m
            };
            out.push((format!("b{bi} version {}", String::from_utf8_lossy(v)), m));
        }
        // Control and odd bytes at random places in the head.
        let head_len = base.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
        for _ in 0..12 {
            let at = rng.below(head_len);
            let b = ctl[rng.below(ctl.len())];
            let m = [&base[..at], &[b][..], &base[at..]].concat();
            out.push((format!("b{bi} byte {b:#04x} at {at}"), m));
        }
        // Extra fields: framing, Host, Expect, odd names and values.
        for f in fields {
            out.push((
                format!("b{bi} field {:?}", String::from_utf8_lossy(f)),
                with_field(base, f),
            ));
        }
        // TE and CL together, both orders.
        let te_cl = with_field(
            &with_field(base, b"Transfer-Encoding: chunked"),
            b"Content-Length: 5",
        );
        out.push((format!("b{bi} te+cl"), te_cl));
        let cl_te = with_field(
            &with_field(base, b"Content-Length: 5"),
            b"Transfer-Encoding: chunked",
        );
        out.push((format!("b{bi} cl+te"), cl_te));
        // Leading empty lines.
        for n in [1, 4, 5, 8] {
            let m = [b"\r\n".repeat(n).as_slice(), base].concat();
            out.push((format!("b{bi} {n} leading CRLF"), m));
        }
        out.push((format!("b{bi} leading LF"), [&b"\n"[..], base].concat()));
        // Long lines: target, a field value, the field count.
        for len in [MAX_REQUEST_LINE - 20, MAX_REQUEST_LINE + 10] {
            let long = format!("/{}", "a".repeat(len));
            let m = replace_nth(base, b" /", format!(" {long}").as_bytes(), 0);
            out.push((format!("b{bi} target of {len}"), m));
        }
        for len in [MAX_HEADER_BYTES - 100, MAX_HEADER_BYTES + 10] {
            let f = format!("X-Long: {}", "v".repeat(len));
            out.push((
                format!("b{bi} field of {len}"),
                with_field(base, f.as_bytes()),
            ));
        }
        for count in [MAX_HEADERS - 10, MAX_HEADERS + 1] {
            let mut m = base.to_vec();
            for i in 0..count {
                m = with_field(&m, format!("X-{i}: y").as_bytes());
            }
            out.push((format!("b{bi} {count} extra fields"), m));
        }
        // Truncations (partial heads).
        for _ in 0..4 {
            let at = rng.below(head_len);
            out.push((format!("b{bi} cut at {at}"), base[..at].to_vec()));
        }
    }
    // Spaces in the request line.
    for m in [
        &b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /\r\nHost: x\r\n\r\n",
        b"GET\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /#frag HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\x16\x03\x01\x02\x00",
    ] {
        out.push((format!("line {:?}", String::from_utf8_lossy(m)), m.to_vec()));
    }
    out
}

// ---------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Summary {
    inputs: usize,
    agree_complete: usize,
    agree_partial: usize,
    agree_refused: usize,
    /// Heads both refuse, by the rule barehttpd's status comes from.
    refused_by: BTreeMap<String, usize>,
    /// Disagreements on acceptance, by the rule that decides them.
    explained: BTreeMap<String, usize>,
    failures: Vec<String>,
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(160)]).into_owned();
    format!("{s:?}{}", if b.len() > 160 { "..." } else { "" })
}

fn compare(name: &str, input: &[u8], sum: &mut Summary) {
    sum.inputs += 1;
    let ours = barehttpd(input);
    let theirs = httparse(input);
    let rfc = rfc_violations(input);
    let mut fail = |why: String| {
        sum.failures.push(format!(
            "{name}: {why}\n    input {}\n    barehttpd {ours:?}\n    httparse  {theirs:?}\n    rules {:?}",
            show(input),
            rfc.rules
        ))
    };
    // barehttpd alone, against the independent reading.
    match &ours {
        Outcome::Complete(_) if !rfc.rules.is_empty() => {
            return fail(format!(
                "barehttpd accepted a head that breaks {:?}",
                rfc.rules
            ));
        }
        Outcome::Error(status, _) if rfc.rules.is_empty() => {
            return fail(format!(
                "barehttpd refused ({status}) a head that breaks no rule"
            ));
        }
        Outcome::Error(status, _) if !rfc.rules.iter().any(|r| r.status() == *status) => {
            return fail(format!(
                "status {status} is not the one {:?} asks for",
                rfc.rules
            ));
        }
        _ => {}
    }
    let class = |rfc: &Reading, status: u16| -> String {
        let r = rfc
            .rules
            .iter()
            .find(|r| r.status() == status)
            .expect("checked above");
        format!("{r:?} ({})", r.section())
    };
    match (&ours, &theirs) {
        (Outcome::Complete(a), Outcome::Complete(b)) => {
            if a == b {
                sum.agree_complete += 1;
            } else {
                fail("both complete but they read it differently".into());
            }
        }
        (Outcome::Partial, Outcome::Partial) => sum.agree_partial += 1,
        (Outcome::Error(status, _), Outcome::Error(..)) => {
            sum.agree_refused += 1;
            *sum.refused_by.entry(class(&rfc, *status)).or_default() += 1;
        }
        // barehttpd stricter: refused (at once, or on a partial head httparse still waits on).
        (Outcome::Error(status, _), Outcome::Complete(_) | Outcome::Partial) => {
            *sum.explained.entry(class(&rfc, *status)).or_default() += 1;
        }
        // httparse stricter: only the 1.x minor versions above 1 are explained (RFC 9110 §6.2:
        // a 1.x request with a higher minor is served as the highest supported 1.x).
        (Outcome::Complete(_) | Outcome::Partial, Outcome::Error(_, e))
            if rfc.higher_minor && e == "Version" =>
        {
            *sum.explained
                .entry("httparse refuses HTTP/1.2-1.9 (RFC 9110 §6.2, RFC 9112 §2.3)".into())
                .or_default() += 1;
        }
        // httparse refuses at the first bad byte of a line barehttpd is still waiting for; the
        // independent reading must see the same bad byte.
        (Outcome::Partial, Outcome::Error(..)) if !rfc.rules.is_empty() => {
            let r = rfc.rules[0];
            *sum.explained
                .entry(format!(
                    "httparse refuses a partial head early: {r:?} ({})",
                    r.section()
                ))
                .or_default() += 1;
        }
        _ => fail("unexplained disagreement".into()),
    }
}

/// RFC 9112 §2-§7 and RFC 9110 §5-§10: where barehttpd and httparse differ on a head, the
/// RFC decides, and barehttpd's answer is the RFC's.
#[test]
fn rfc9112_barehttpd_agrees_with_httparse_or_with_the_rfc() {
    let mut sum = Summary::default();
    let seeds = corpus();
    let generated_inputs = generated();
    assert!(
        generated_inputs.len() >= 300,
        "only {} generated inputs",
        generated_inputs.len()
    );
    for (name, input) in seeds.iter().chain(&generated_inputs) {
        compare(name, input, &mut sum);
    }
    println!(
        "parser differential: {} inputs ({} corpus files, {} generated)",
        sum.inputs,
        seeds.len(),
        generated_inputs.len()
    );
    println!(
        "  agreements: {} complete and identical, {} partial, {} refused by both",
        sum.agree_complete, sum.agree_partial, sum.agree_refused
    );
    for (class, n) in &sum.refused_by {
        println!("    {n:5}  both refuse: {class}");
    }
    println!(
        "  explained disagreements: {}",
        sum.explained.values().sum::<usize>()
    );
    for (class, n) in &sum.explained {
        println!("    {n:5}  {class}");
    }
    println!("  unexplained: {}", sum.failures.len());
    let shown: Vec<&String> = sum.failures.iter().take(25).collect();
    assert!(
        sum.failures.is_empty(),
        "{} unexplained differences, first ones:\n{}",
        sum.failures.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(sum.agree_complete > 0, "no input was accepted by both");
}
