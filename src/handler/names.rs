//! Which names a decoded URL path may hold, for every handler alike: the names never served
//! (dotfiles unless `--dotfiles`, unfinished uploads always), the `--write` and `--cgi`
//! prefixes a path falls under, and the methods a path allows.
//!
//! It owns these rules so that a GET, a listing, a PUT and a CGI lookup cannot disagree about
//! a name. It does no I/O and knows nothing of requests or replies: it takes paths (as
//! `http::target::decode_path` leaves them) and configuration values, and answers yes or no.

/// Temporary upload names start with this; such names are refused for every method, and
/// never listed, even with `--dotfiles`.
pub const TMP_PREFIX: &[u8] = b".barehttpd-upload-";

/// The methods a static resource allows.
pub const ALLOW: &[u8] = b"GET, HEAD, OPTIONS";

/// The methods allowed where writes are enabled.
pub const ALLOW_WRITE: &[u8] = b"GET, HEAD, OPTIONS, PUT, DELETE";

/// Whether one name (a path segment, a directory entry) is never served: a name starting
/// with `.` unless `--dotfiles`, and an unfinished upload always.
pub fn hidden_name(name: &[u8], dotfiles: bool) -> bool {
    name.first() == Some(&b'.') && (!dotfiles || name.starts_with(TMP_PREFIX))
}

/// Whether a decoded path names something never served: any of its segments is hidden.
pub fn hidden(path: &[u8], dotfiles: bool) -> bool {
    path.split(|&b| b == b'/').any(|s| hidden_name(s, dotfiles))
}

/// The length of the longest of `prefixes` (`--write`, `--cgi`) that `path` (decoded)
/// starts with, if any.
pub fn under(prefixes: &[String], path: &[u8]) -> Option<usize> {
    prefixes
        .iter()
        .filter(|p| path.starts_with(p.as_bytes()))
        .map(String::len)
        .max()
}

/// The Allow value for `path` (RFC 9110 §10.2.1): with writes under one of the `--write`
/// prefixes, or without.
pub fn allow(write: &[String], path: &[u8]) -> &'static [u8] {
    if under(write, path).is_some() {
        ALLOW_WRITE
    } else {
        ALLOW
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_names() {
        assert!(hidden(b"/a/.git/config", false));
        assert!(!hidden(b"/a/.git/config", true));
        assert!(hidden(b"/dav/.barehttpd-upload-1-2", true));
        assert!(!hidden(b"/a/b.txt", false));
        assert!(hidden_name(b".x", false) && !hidden_name(b".x", true));
        assert!(hidden_name(b".barehttpd-upload-x", true));
    }

    #[test]
    fn prefixes() {
        let w = vec!["/dav/".to_string(), "/dav/deep/".to_string()];
        assert_eq!(under(&w, b"/dav/deep/x"), Some(10));
        assert_eq!(under(&w, b"/dav/x"), Some(5));
        assert_eq!(under(&w, b"/davx"), None);
        assert_eq!(allow(&w, b"/dav/x"), ALLOW_WRITE);
        assert_eq!(allow(&w, b"/x"), ALLOW);
    }
}
