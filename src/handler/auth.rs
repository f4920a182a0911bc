//! HTTP Basic authentication for writes (RFC 7617) against an htpasswd-style file of
//! `user:hash` lines, with bcrypt (`$2a$`, `$2b$`, `$2y$`) or Argon2 (`$argon2id$`...) hashes
//! verified by maintained crates.
//!
//! Every user is checked the same way whatever the name, so that timing does not tell which
//! names exist, and the hash comparison itself is constant-time in both crates. Hashes are slow
//! on purpose (tens of milliseconds), so a worker remembers the credentials it has verified;
//! what it does not do yet is verify off the event loop, so a flood of wrong passwords slows
//! the worker that receives it.

use std::collections::HashSet;

pub struct Auth {
    users: Vec<(Vec<u8>, String)>,
}

/// Verified credentials a worker remembers.
const CACHE_MAX: usize = 64;

impl Auth {
    /// Load `user:hash` lines; blank lines and `#` comments are skipped.
    pub fn load(path: &std::path::Path) -> Result<Auth, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "--auth-file {}: {}",
                path.display(),
                crate::config::io_reason(&e)
            )
        })?;
        let mut users = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("--auth-file {} line {}: {why}", path.display(), i + 1);
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| bad("expected user:hash"))?;
            if user.is_empty() {
                return Err(bad("empty user name"));
            }
            let known = hash.starts_with("$2a$")
                || hash.starts_with("$2b$")
                || hash.starts_with("$2y$")
                || hash.starts_with("$argon2");
            if !known {
                return Err(bad(
                    "only bcrypt ($2b$...) and argon2 ($argon2id$...) hashes are accepted",
                ));
            }
            users.push((user.as_bytes().to_vec(), hash.to_string()));
        }
        if users.is_empty() {
            return Err(format!("--auth-file {}: no users", path.display()));
        }
        Ok(Auth { users })
    }

    /// Whether an Authorization header value carries valid credentials.
    pub fn check(&self, authorization: Option<&[u8]>, cache: &mut HashSet<Vec<u8>>) -> bool {
        let Some(v) = authorization else { return false };
        let v = crate::http::parse::trim_ows(v);
        if v.len() < 6 || !v[..6].eq_ignore_ascii_case(b"basic ") {
            return false;
        }
        let token = crate::http::parse::trim_ows(&v[6..]);
        if cache.contains(token) {
            return true;
        }
        let Some(decoded) = base64_decode(token) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
        let hash = self
            .users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, h)| h.as_str());
        // An unknown user is verified against the first user's hash (and refused), so that
        // the answer takes as long as for a known one.
        let ok = verify(pass, hash.unwrap_or(&self.users[0].1)) && hash.is_some();
        if ok {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(token.to_vec());
        }
        ok
    }
}

fn verify(pass: &[u8], hash: &str) -> bool {
    if hash.starts_with("$argon2") {
        use argon2::{Argon2, PasswordHash, PasswordVerifier};
        return PasswordHash::new(hash)
            .is_ok_and(|h| Argon2::default().verify_password(pass, &h).is_ok());
    }
    bcrypt::verify(pass, hash).unwrap_or(false)
}

/// Standard base64 with padding (RFC 4648 §4), as Basic credentials use.
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (i, q) in s.chunks(4).enumerate() {
        let last = i == s.len() / 4 - 1;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode(b"dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode(b"YQ==").unwrap(), b"a");
        assert_eq!(base64_decode(b"YWI=").unwrap(), b"ab");
        assert!(base64_decode(b"YQ=").is_none());
        assert!(base64_decode(b"Y===").is_none());
        assert!(base64_decode(b"Y!==").is_none());
    }

    #[test]
    fn rfc7617_basic_credentials() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = Auth {
            users: vec![(b"alice".to_vec(), hash)],
        };
        let mut cache = HashSet::new();
        let good = b"Basic YWxpY2U6czNjcmV0"; // alice:s3cret
        assert!(auth.check(Some(good), &mut cache));
        assert!(auth.check(Some(good), &mut cache), "cached");
        assert!(!auth.check(Some(b"Basic YWxpY2U6d3Jvbmc="), &mut cache)); // alice:wrong
        assert!(!auth.check(Some(b"Basic Ym9iOnMzY3JldA=="), &mut cache)); // bob:s3cret
        assert!(!auth.check(Some(b"Bearer x"), &mut cache));
        assert!(!auth.check(None, &mut cache));
    }
}
