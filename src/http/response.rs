//! Writing a response head (RFC 9112 §4, RFC 9110 §15) into a byte buffer.
//!
//! Plain appends to a `Vec<u8>` whose capacity the connection reserved up front, so that
//! writing a head allocates nothing. The connection owns the buffer and sends it.

/// Value of the Server header.
pub const SERVER: &str = concat!("barehttpd/", env!("CARGO_PKG_VERSION"));

/// Fields the server writes itself (framing, connection management, Date, Server): neither
/// `--header` nor a CGI program may set them.
const SERVER_SET: [&str; 5] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "date",
    "server",
];

/// Whether `name` is one of `SERVER_SET`.
pub fn server_sets(name: &[u8]) -> bool {
    SERVER_SET
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        429 => "Too Many Requests",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        301 => "Moved Permanently",
        302 => "Found",
        308 => "Permanent Redirect",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        423 => "Locked",
        424 => "Failed Dependency",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

/// Append a decimal number.
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Append a lowercase hexadecimal number.
pub fn push_hex(out: &mut Vec<u8>, n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for k in (0..digits).rev() {
        out.push(HEX[((n >> (4 * k)) & 15) as usize]);
    }
}

/// Status line plus the headers every response carries (Date, Server).
pub fn start(out: &mut Vec<u8>, status: u16, date: &[u8]) {
    start_with_reason(out, status, reason(status).as_bytes(), date);
}

/// `start` with a given reason phrase (already checked to hold no CR or LF).
pub fn start_with_reason(out: &mut Vec<u8>, status: u16, reason: &[u8], date: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(SERVER.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");
}

pub fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

pub fn header_u64(out: &mut Vec<u8>, name: &str, value: u64) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    push_u64(out, value);
    out.extend_from_slice(b"\r\n");
}

/// `Content-Disposition: attachment` naming the file `name` (RFC 6266 §4.1): `filename*` in
/// UTF-8, percent-encoded (RFC 8187 §3.2), and `filename` for older clients, the same name
/// with any byte that a quoted-string could not carry plainly (and any non-ASCII) as `_`.
pub fn attachment(out: &mut Vec<u8>, name: &[u8]) {
    out.extend_from_slice(b"Content-Disposition: attachment; filename=\"");
    for &b in name {
        let plain = (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' && b != b'%';
        out.push(if plain { b } else { b'_' });
    }
    out.extend_from_slice(b"\"; filename*=UTF-8''");
    for &b in name {
        // RFC 8187 §3.2.1: attr-char is ALPHA / DIGIT / "!#$&+-.^_`|~"; the rest is %XX.
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b);
        } else {
            out.push(b'%');
            out.push(b"0123456789ABCDEF"[usize::from(b >> 4)]);
            out.push(b"0123456789ABCDEF"[usize::from(b & 15)]);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Close the head: the Connection header when it is needed, then the empty line.
/// `keep_alive_10` marks an HTTP/1.0 client that asked to keep the connection.
pub fn finish(out: &mut Vec<u8>, close: bool, keep_alive_10: bool) {
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if keep_alive_10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The interim response that asks a client waiting under `Expect: 100-continue` to send its
/// body (RFC 9110 §10.1.1, §15.2.1).
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Whether a response with this status carries no body whatever its headers say: 1xx, 204
/// and 304 (RFC 9110 §6.4.1). Such a response has no framing (no chunked coding either).
pub fn bodiless(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// The whole answer to a connection the server has no room for (RFC 9110 §15.6.4): 503 with
/// Retry-After, no body, and the close that follows.
pub fn overloaded(out: &mut Vec<u8>, date: &[u8]) {
    start(out, 503, date);
    out.extend_from_slice(b"Retry-After: 1\r\nContent-Length: 0\r\n");
    finish(out, true, false);
}

const PAGE_A: &str = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>";
const PAGE_B: &str = "</title></head>\n<body><h1>";
const PAGE_C: &str = "</h1><hr><p>barehttpd</p></body></html>\n";

/// Length of the small HTML page of an error response (see `push_error_page`).
pub fn error_page_len(status: u16) -> u64 {
    (PAGE_A.len() + PAGE_B.len() + PAGE_C.len() + 2 * (4 + reason(status).len())) as u64
}

/// Append the small HTML page of an error response, without allocating.
pub fn push_error_page(out: &mut Vec<u8>, status: u16) {
    for part in [PAGE_A, "", PAGE_B, "", PAGE_C] {
        if part.is_empty() {
            push_u64(out, u64::from(status));
            out.push(b' ');
            out.extend_from_slice(reason(status).as_bytes());
        } else {
            out.extend_from_slice(part.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_page_length_matches() {
        for status in [400u16, 404, 505] {
            let mut v = Vec::new();
            push_error_page(&mut v, status);
            assert_eq!(v.len() as u64, error_page_len(status));
        }
    }

    #[test]
    fn numbers() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut v = Vec::new();
            push_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
            v.clear();
            push_hex(&mut v, n);
            assert_eq!(v, format!("{n:x}").as_bytes());
        }
    }
}
