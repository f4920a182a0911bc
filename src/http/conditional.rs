//! Conditional requests (RFC 9110 §13): If-Match, If-Unmodified-Since, If-None-Match,
//! If-Modified-Since and If-Range, evaluated in the order of §13.2.2. Pure functions over
//! header values and the selected representation's validators.

use crate::http::date::parse_http_date;
use crate::http::parse::Request;

/// The validators of the representation a request selected.
#[derive(Clone, Copy, Debug)]
pub struct Validators<'a> {
    /// The strong entity tag, with its quotes: `"abc"`.
    pub etag: &'a [u8],
    /// Last modification, Unix seconds.
    pub mtime: u64,
}

/// What the preconditions say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Go on with the method.
    Proceed,
    /// 304 Not Modified (GET/HEAD only).
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// The precondition fields of a request (RFC 9110 §13.1), apart from the request: so that a
/// PUT can evaluate them again when its body is in, against the file as it is then.
#[derive(Clone, Copy, Debug, Default)]
pub struct Preconditions<'a> {
    pub if_match: Option<&'a [u8]>,
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub if_unmodified_since: Option<&'a [u8]>,
}

impl<'a> Preconditions<'a> {
    pub fn of(req: &Request<'a, '_>) -> Preconditions<'a> {
        Preconditions {
            if_match: req.header("if-match"),
            if_none_match: req.header("if-none-match"),
            if_modified_since: req.header("if-modified-since"),
            if_unmodified_since: req.header("if-unmodified-since"),
        }
    }

    /// Whether the request has any precondition.
    pub fn any(&self) -> bool {
        self.if_match.is_some()
            || self.if_none_match.is_some()
            || self.if_modified_since.is_some()
            || self.if_unmodified_since.is_some()
    }

    /// Evaluate against an existing representation (RFC 9110 §13.2.2). `safe` is true for
    /// GET and HEAD.
    pub fn evaluate(&self, v: Validators, safe: bool) -> Outcome {
        // Step 1-2: If-Match, else If-Unmodified-Since.
        if let Some(im) = self.if_match {
            if !matches_list(im, v.etag, Comparison::Strong) {
                return Outcome::Failed;
            }
        } else if let Some(d) = self.if_unmodified_since.and_then(parse_http_date)
            && v.mtime > d
        {
            return Outcome::Failed;
        }
        // Step 3-4: If-None-Match, else If-Modified-Since (GET/HEAD only).
        if let Some(inm) = self.if_none_match {
            if matches_list(inm, v.etag, Comparison::Weak) {
                return if safe {
                    Outcome::NotModified
                } else {
                    Outcome::Failed
                };
            }
        } else if safe
            && let Some(d) = self.if_modified_since.and_then(parse_http_date)
            && v.mtime <= d
        {
            return Outcome::NotModified;
        }
        Outcome::Proceed
    }

    /// Evaluate when the target has no current representation (a PUT creating a file):
    /// If-Match cannot match anything (§13.1.1); If-None-Match and the date conditions hold.
    pub fn evaluate_absent(&self) -> Outcome {
        if self.if_match.is_some() {
            Outcome::Failed
        } else {
            Outcome::Proceed
        }
    }
}

/// Evaluate the preconditions of `req` against an existing representation (RFC 9110 §13.2.2).
/// `safe` is true for GET and HEAD.
pub fn evaluate(req: &Request, v: Validators, safe: bool) -> Outcome {
    Preconditions::of(req).evaluate(v, safe)
}

/// Preconditions when the target has no current representation (a PUT creating a file).
pub fn evaluate_absent(req: &Request) -> Outcome {
    Preconditions::of(req).evaluate_absent()
}

/// Whether a Range request may be honoured given its If-Range (RFC 9110 §13.1.5): with no
/// If-Range, yes; with an entity tag, only if it matches strongly; with a date, only if it is
/// exactly the Last-Modified date and that date is a strong validator (§8.8.2.2): the file
/// has not been modified within the current second (`now`, Unix seconds), so it cannot have
/// changed twice in the second the date names, with the client holding the first version.
pub fn if_range_allows(req: &Request, v: Validators, now: u64) -> bool {
    let Some(ir) = req.header("if-range") else {
        return true;
    };
    if ir.first() == Some(&b'"') || ir.starts_with(b"W/") {
        return strong_eq(ir, v.etag);
    }
    parse_http_date(ir) == Some(v.mtime) && v.mtime < now
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

/// Strong comparison (§8.8.3.2): both strong and identical.
fn strong_eq(tag: &[u8], ours: &[u8]) -> bool {
    !tag.starts_with(b"W/") && tag == ours
}

/// Whether `field` (`*` or a list of entity tags) matches `ours` (a strong tag).
fn matches_list(field: &[u8], ours: &[u8], cmp: Comparison) -> bool {
    let f = crate::http::parse::trim_ows(field);
    if f == b"*" {
        return true;
    }
    let mut rest = f;
    loop {
        while let [b' ' | b'\t' | b',', r @ ..] = rest {
            rest = r;
        }
        if rest.is_empty() {
            return false;
        }
        let weak = rest.starts_with(b"W/");
        let tag_start = if weak { 2 } else { 0 };
        if rest.get(tag_start) != Some(&b'"') {
            return false; // malformed list: nothing further can be trusted to match
        }
        let Some(close) = rest[tag_start + 1..].iter().position(|&b| b == b'"') else {
            return false;
        };
        let end = tag_start + 1 + close + 1;
        let opaque = &rest[tag_start..end];
        let hit = match cmp {
            Comparison::Strong => !weak && opaque == ours,
            Comparison::Weak => opaque == ours,
        };
        if hit {
            return true;
        }
        rest = &rest[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse::{Header, MAX_HEADERS, parse};

    fn eval(headers: &str, safe: bool) -> Outcome {
        let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        let mut h = [Header::default(); MAX_HEADERS];
        let (req, _) = parse(raw.as_bytes(), &mut h).unwrap().unwrap();
        let v = Validators {
            etag: b"\"v1\"",
            mtime: 784111777,
        };
        evaluate(&req, v, safe)
    }

    #[test]
    fn rfc9110_13_1_1_if_match() {
        assert_eq!(eval("If-Match: \"v1\"\r\n", true), Outcome::Proceed);
        assert_eq!(eval("If-Match: \"x\", \"v1\"\r\n", true), Outcome::Proceed);
        assert_eq!(eval("If-Match: W/\"v1\"\r\n", true), Outcome::Failed);
        assert_eq!(eval("If-Match: *\r\n", true), Outcome::Proceed);
        assert_eq!(eval("If-Match: \"v2\"\r\n", true), Outcome::Failed);
    }

    #[test]
    fn rfc9110_13_1_2_if_none_match() {
        assert_eq!(
            eval("If-None-Match: W/\"v1\"\r\n", true),
            Outcome::NotModified
        );
        assert_eq!(
            eval("If-None-Match: \"a,b\", \"v1\"\r\n", true),
            Outcome::NotModified
        );
        assert_eq!(eval("If-None-Match: *\r\n", true), Outcome::NotModified);
        assert_eq!(eval("If-None-Match: \"v2\"\r\n", true), Outcome::Proceed);
        assert_eq!(eval("If-None-Match: \"v1\"\r\n", false), Outcome::Failed);
    }

    #[test]
    fn rfc9110_13_2_2_precedence() {
        // If-None-Match wins over If-Modified-Since.
        let h = "If-None-Match: \"v2\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
        assert_eq!(eval(h, true), Outcome::Proceed);
        // If-Match failing wins over everything.
        let h = "If-Match: \"v2\"\r\nIf-None-Match: \"v1\"\r\n";
        assert_eq!(eval(h, true), Outcome::Failed);
    }

    #[test]
    fn rfc9110_13_1_3_and_13_1_4_dates() {
        assert_eq!(
            eval("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", true),
            Outcome::NotModified
        );
        assert_eq!(
            eval("If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n", true),
            Outcome::Proceed
        );
        assert_eq!(
            eval("If-Modified-Since: not a date\r\n", true),
            Outcome::Proceed
        );
        assert_eq!(
            eval(
                "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n",
                true
            ),
            Outcome::Failed
        );
        assert_eq!(
            eval(
                "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
                true
            ),
            Outcome::Proceed
        );
        assert_eq!(
            eval("If-Unmodified-Since: garbage\r\n", true),
            Outcome::Proceed
        );
    }
}
