//! The response a CGI program writes (RFC 3875 §6): its header block, parsed and checked,
//! and what it asks of the server (a status, a redirect to follow locally, header fields
//! for the client). Pure functions over bytes; the program's pipes are `handler::cgi`'s.
//!
//! What a program may not say is decided here: a 1xx status (an interim response cannot be
//! a program's whole answer, and a 101 would put the connection or a proxy into another
//! protocol), and the framing and hop-by-hop fields (RFC 9110 §7.6.1), which are the
//! server's to set.

/// Largest CGI response header block.
pub const MAX_CGI_HEAD: usize = 16 * 1024;

/// Hop-by-hop fields (RFC 9110 §7.6.1) a program's answer may not carry to the client,
/// beside those the server writes itself (`response::server_sets`). `Proxy-` names too.
const HOP_BY_HOP: [&str; 4] = ["keep-alive", "upgrade", "trailer", "te"];

fn hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        || name
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"proxy-"))
}

/// A parsed CGI response header block (RFC 3875 §6.2-§6.3).
#[derive(Debug, PartialEq, Eq)]
pub struct CgiHead {
    pub status: u16,
    /// The reason phrase given with Status, if any.
    pub reason: Vec<u8>,
    pub location: Option<Vec<u8>>,
    pub content_type: Option<Vec<u8>>,
    /// Other header fields, passed to the client.
    pub other: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Find the end of the header block (a blank line, LF or CRLF) and parse it. `Ok(None)`:
/// more bytes needed. Err: malformed (502).
pub fn parse_head(buf: &[u8]) -> Result<Option<(CgiHead, usize)>, &'static str> {
    let mut pos = 0;
    let mut head = CgiHead {
        status: 0,
        reason: Vec::new(),
        location: None,
        content_type: None,
        other: Vec::new(),
    };
    loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            return if buf.len() > MAX_CGI_HEAD {
                Err("header block too large")
            } else {
                Ok(None)
            };
        };
        let mut line = &buf[pos..pos + nl];
        pos += nl + 1;
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.is_empty() {
            break;
        }
        if pos > MAX_CGI_HEAD {
            return Err("header block too large");
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or("header line without a colon")?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| super::parse::is_tchar(b)) {
            return Err("invalid header name");
        }
        let value = super::parse::trim_ows(&line[colon + 1..]);
        if !value.iter().all(|&b| super::parse::is_field_byte(b)) {
            return Err("control byte in a header value");
        }
        if name.eq_ignore_ascii_case(b"status") {
            let code = value
                .get(..3)
                .and_then(|c| std::str::from_utf8(c).ok())
                .and_then(|c| c.parse::<u16>().ok());
            match code {
                Some(c) if c < 200 => return Err("1xx Status: an interim response is no answer"),
                Some(c) if (200..600).contains(&c) && value.get(3).is_none_or(|&b| b == b' ') => {
                    head.status = c;
                    head.reason = super::parse::trim_ows(value.get(4..).unwrap_or(b"")).to_vec();
                }
                _ => return Err("invalid Status"),
            }
        } else if name.eq_ignore_ascii_case(b"location") {
            head.location = Some(value.to_vec());
        } else if name.eq_ignore_ascii_case(b"content-type") {
            head.content_type = Some(value.to_vec());
        } else if super::response::server_sets(name) || hop_by_hop(name) {
            // Framing and hop-by-hop fields are the server's to set.
        } else {
            head.other.push((name.to_vec(), value.to_vec()));
        }
    }
    if head.location.is_none() && head.content_type.is_none() && head.status == 0 {
        return Err("no Content-Type, Location or Status");
    }
    Ok(Some((head, pos)))
}

/// Whether the response is a local redirect (RFC 3875 §6.2.2): a Location path and nothing else.
pub fn local_redirect(h: &CgiHead) -> Option<&[u8]> {
    let loc = h.location.as_deref()?;
    (loc.first() == Some(&b'/') && h.status == 0 && h.content_type.is_none() && h.other.is_empty())
        .then_some(loc)
}

/// The status the client gets: the program's, else 302 for a client redirect (a Location
/// with no Status, RFC 3875 §6.2.3), else 200 (§6.2.1).
pub fn status_of(h: &CgiHead) -> u16 {
    match (h.status, &h.location) {
        (0, Some(_)) => 302,
        (0, None) => 200,
        (s, _) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3875_6_header_blocks() {
        let (h, n) = parse_head(b"Content-Type: text/plain\nX-A: 1\n\nbody")
            .unwrap()
            .unwrap();
        assert_eq!(&b"Content-Type: text/plain\nX-A: 1\n\nbody"[n..], b"body");
        assert_eq!(h.status, 0);
        assert_eq!(h.other, vec![(b"X-A".to_vec(), b"1".to_vec())]);
        let (h, _) = parse_head(b"Status: 418 I'm a teapot\r\nContent-Type: text/plain\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.status, 418);
        assert_eq!(parse_head(b"Content-Type: text/plain\r\n"), Ok(None));
        assert!(parse_head(b"this is not a header line\n\n").is_err());
        assert!(parse_head(b"Status: abc\n\n").is_err());
        assert!(parse_head(b"X-Only: 1\n\n").is_err());
        let (h, _) = parse_head(b"Location: /hello.txt\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(local_redirect(&h), Some(&b"/hello.txt"[..]));
        let (h, _) = parse_head(b"Location: http://x/\r\n\r\n").unwrap().unwrap();
        assert_eq!(local_redirect(&h), None);
        assert_eq!(status_of(&h), 302);
    }

    #[test]
    fn rfc3875_6_3_3_no_interim_status_and_no_hop_by_hop_fields() {
        assert!(parse_head(b"Status: 101 Switching Protocols\nUpgrade: h2c\n\n").is_err());
        assert!(parse_head(b"Status: 100 Continue\nContent-Type: text/plain\n\n").is_err());
        let (h, _) = parse_head(
            b"Content-Type: text/plain\nUpgrade: websocket\nTE: trailers\nTrailer: X\n\
              Proxy-Authenticate: Basic\nKeep-Alive: 5\nX-Kept: 1\n\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.other, vec![(b"X-Kept".to_vec(), b"1".to_vec())]);
        assert_eq!(status_of(&h), 200);
    }
}
