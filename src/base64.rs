//! Base64 (RFC 4648 §4, and §5's URL-safe alphabet), encoding only: for the listing page's
//! CSP hash sources (`handler::page`) and, with `tls`, ACME's JWS and PEM
//! (`tls::acme::codec`). Kept here, below both, so that the build without TLS has it too.
//! Decoding, which only Basic credentials need, is `handler::auth`'s.

/// The standard alphabet (§4).
pub const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// The URL- and filename-safe alphabet (§5).
pub const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `data` in base64 with `table`, padded with `=` to a multiple of 4 when `pad`.
pub fn encode(data: &[u8], table: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(table[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10's vectors, padded and not.
    #[test]
    fn rfc4648_10_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(i.as_bytes(), STD, true), o, "{i:?}");
            assert_eq!(encode(i.as_bytes(), URL, false), o.trim_end_matches('='));
        }
        assert_eq!(encode(&[0xfb, 0xff], STD, true), "+/8=");
        assert_eq!(encode(&[0xfb, 0xff], URL, false), "-_8");
    }
}
