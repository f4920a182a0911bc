//! The request target (RFC 9112 §3.2) and the path it names (RFC 3986 §2.1, §5.2.4).
//!
//! `split` separates path and query and accepts the origin, absolute and asterisk forms.
//! `decode_path` percent-decodes the path once and removes dot segments, refusing anything
//! that could name a file outside the document root or a file other than the one a plain
//! reading of the URL names: `%00`, an encoded `/`, bad escapes, invalid UTF-8, and `..`
//! above the root. The result is a clean absolute path, safe to hand to `open_beneath` (which
//! guards the same boundary a second time, in the kernel).

#[derive(Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// The raw (still encoded) path, starting with `/`; empty for `*`.
    pub path: &'a [u8],
    /// The raw query, without its `?`.
    pub query: Option<&'a [u8]>,
    /// The asterisk form (`OPTIONS *`).
    pub asterisk: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// 400: not a valid path (bad escape, NUL, invalid UTF-8, `..` above the root).
    BadRequest,
    /// 404: well-formed but cannot name a file here (an encoded `/`).
    NotFound,
}

/// The https URL of a request that came over plain HTTP (`--redirect-https`): the host of
/// its Host field without the port, the HTTPS listener's `port` (left out when 443), and
/// the target's path and query as the client sent them. None without a host to name.
pub fn https_location(host: &[u8], port: u16, t: &Target<'_>) -> Option<Vec<u8>> {
    let name = if host.first() == Some(&b'[') {
        &host[..host.iter().position(|&b| b == b']')? + 1]
    } else {
        host.split(|&b| b == b':').next().unwrap_or(host)
    };
    if name.is_empty() {
        return None;
    }
    let mut loc = Vec::with_capacity(16 + name.len() + t.path.len());
    loc.extend_from_slice(b"https://");
    loc.extend_from_slice(name);
    if port != 443 {
        loc.extend_from_slice(format!(":{port}").as_bytes());
    }
    loc.extend_from_slice(t.path);
    if let Some(q) = t.query {
        loc.push(b'?');
        loc.extend_from_slice(q);
    }
    Some(loc)
}

pub fn split(t: &[u8]) -> Result<Target<'_>, PathError> {
    if t == b"*" {
        return Ok(Target {
            path: b"",
            query: None,
            asterisk: true,
        });
    }
    // A fragment is never sent (RFC 9112 §3.2); one anywhere means a malformed target.
    if t.contains(&b'#') {
        return Err(PathError::BadRequest);
    }
    let rest = if t.first() == Some(&b'/') {
        t
    } else {
        // absolute-form: scheme "://" authority [path-abempty] ["?" query]
        let (authority, p) = crate::http::parse::absolute_form(t).ok_or(PathError::BadRequest)?;
        if !crate::http::parse::valid_host(authority) || authority.is_empty() {
            return Err(PathError::BadRequest);
        }
        if p.is_empty() || p[0] == b'?' {
            // An empty path means "/" (RFC 9112 §3.2.2); the query, if any, follows.
            return Ok(Target {
                path: b"/",
                query: p.get(1..),
                asterisk: false,
            });
        }
        p
    };
    Ok(match rest.iter().position(|&b| b == b'?') {
        Some(q) => Target {
            path: &rest[..q],
            query: Some(&rest[q + 1..]),
            asterisk: false,
        },
        None => Target {
            path: rest,
            query: None,
            asterisk: false,
        },
    })
}

/// Decode `raw` (starting with `/`) into `out` as a normalised absolute path: one `/`
/// between segments, no `.` or `..` segments, and a trailing `/` kept when the URL had one.
pub fn decode_path(raw: &[u8], out: &mut Vec<u8>) -> Result<(), PathError> {
    out.clear();
    out.push(b'/');
    let mut segment_start = 1;
    let mut i = usize::from(raw.first() == Some(&b'/'));
    while i <= raw.len() {
        let b = if i < raw.len() { raw[i] } else { b'/' };
        if b == b'/' {
            // End of a segment: resolve `.` and `..`, drop empty segments.
            let seg = &out[segment_start..];
            if seg.is_empty() || seg == b"." {
                out.truncate(segment_start);
            } else if seg == b".." {
                if segment_start == 1 {
                    return Err(PathError::BadRequest);
                }
                let parent = out[..segment_start - 1]
                    .iter()
                    .rposition(|&c| c == b'/')
                    .unwrap_or(0);
                out.truncate(parent + 1);
            } else if i < raw.len() {
                out.push(b'/');
            }
            segment_start = out.len();
            i += 1;
            continue;
        }
        let c = if b == b'%' {
            let h = raw.get(i + 1).and_then(|&c| hex(c));
            let l = raw.get(i + 2).and_then(|&c| hex(c));
            let (Some(h), Some(l)) = (h, l) else {
                return Err(PathError::BadRequest);
            };
            i += 3;
            match (h << 4) | l {
                0 => return Err(PathError::BadRequest),
                b'/' => return Err(PathError::NotFound),
                c => c,
            }
        } else if b == 0 {
            return Err(PathError::BadRequest);
        } else {
            i += 1;
            b
        };
        out.push(c);
    }
    // A trailing `/` in the URL survives normalisation; "/a/." and "/a/.." end in one too.
    let wants_slash = raw.ends_with(b"/") || raw.ends_with(b"/.") || raw.ends_with(b"/..");
    if wants_slash && !out.ends_with(b"/") {
        out.push(b'/');
    }
    if std::str::from_utf8(out).is_err() {
        return Err(PathError::BadRequest);
    }
    Ok(())
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Whether any segment of a decoded path starts with `.` (a dotfile or dot-directory).
pub fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|s| s.first() == Some(&b'.'))
}

/// Append `s` percent-encoded for use as a URL path (RFC 3986 pchar plus `/`).
pub fn encode_path(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'_' | b'~' | b'/' | b'!' | b'$' | b'&' | b'\''
            )
            || matches!(
                b,
                b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@'
            );
        if keep {
            out.push(b);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9110_15_4_9_the_https_location_keeps_path_and_query_and_changes_the_port() {
        let loc = |host: &[u8], port, target: &[u8]| {
            https_location(host, port, &split(target).unwrap())
                .map(|l| String::from_utf8(l).unwrap())
        };
        assert_eq!(
            loc(b"a.test:8080", 8443, b"/x%20y?q=1").unwrap(),
            "https://a.test:8443/x%20y?q=1"
        );
        assert_eq!(loc(b"a.test", 443, b"/").unwrap(), "https://a.test/");
        assert_eq!(loc(b"[::1]:80", 443, b"/a").unwrap(), "https://[::1]/a");
        assert_eq!(
            loc(b"a.test", 443, b"http://b.test/p?x").unwrap(),
            "https://a.test/p?x"
        );
        assert_eq!(loc(b"", 443, b"/"), None);
    }

    fn d(raw: &str) -> Result<String, PathError> {
        let mut out = Vec::new();
        decode_path(raw.as_bytes(), &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn rfc9112_3_2_forms() {
        assert_eq!(split(b"/a?b=c").unwrap().query, Some(&b"b=c"[..]));
        assert_eq!(
            split(b"http://h:8/x?y").unwrap(),
            Target {
                path: b"/x",
                query: Some(b"y"),
                asterisk: false
            }
        );
        assert_eq!(split(b"HTTP://h").unwrap().path, b"/");
        assert!(split(b"*").unwrap().asterisk);
        assert!(split(b"h:80").is_err());
        assert!(split(b"/a#frag").is_err());
        assert!(split(b"http://h?q#frag").is_err());
        assert!(split(b"ftp://h/").is_err());
    }

    #[test]
    fn rfc3986_5_2_4_dot_segments() {
        assert_eq!(d("/a/./b/../c"), Ok("/a/c".into()));
        assert_eq!(d("/a//b"), Ok("/a/b".into()));
        assert_eq!(d("/a/b/"), Ok("/a/b/".into()));
        assert_eq!(d("/a/b/.."), Ok("/a/".into()));
        assert_eq!(d("/"), Ok("/".into()));
        assert_eq!(d("/.."), Err(PathError::BadRequest));
        assert_eq!(d("/a/../../etc/passwd"), Err(PathError::BadRequest));
        assert_eq!(d("/%2e%2e/etc/passwd"), Err(PathError::BadRequest));
        assert_eq!(d("/a/%2E%2e/b"), Ok("/b".into()));
    }

    #[test]
    fn percent_decoding_refuses_escapes() {
        assert_eq!(d("/with%20space.txt"), Ok("/with space.txt".into()));
        assert_eq!(d("/caf%C3%A9.txt"), Ok("/café.txt".into()));
        assert_eq!(d("/..%2fetc"), Err(PathError::NotFound));
        assert_eq!(d("/a%2Fb"), Err(PathError::NotFound));
        assert_eq!(d("/a%00b"), Err(PathError::BadRequest));
        assert_eq!(d("/a%zz"), Err(PathError::BadRequest));
        assert_eq!(d("/a%2"), Err(PathError::BadRequest));
        assert_eq!(
            d("/%c0%ae%c0%ae/x"),
            Err(PathError::BadRequest),
            "overlong UTF-8"
        );
        assert_eq!(
            d("/%252e%252e/x"),
            Ok("/%2e%2e/x".into()),
            "decoded once only"
        );
    }

    #[test]
    fn dot_segments_detected() {
        assert!(has_dot_segment(b"/.hidden"));
        assert!(has_dot_segment(b"/.git/config"));
        assert!(!has_dot_segment(b"/a.b/c."));
    }

    #[test]
    fn encode_round_trips() {
        let mut out = Vec::new();
        encode_path("/a b/café?#%".as_bytes(), &mut out);
        assert_eq!(out, b"/a%20b/caf%C3%A9%3F%23%25");
        assert_eq!(
            d(std::str::from_utf8(&out).unwrap()),
            Ok("/a b/café?#%".into())
        );
    }
}
