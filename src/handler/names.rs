//! Which names a decoded URL path may hold, for every handler alike: the names never served
//! (dotfiles unless `--dotfiles`, unfinished uploads always), the `--write` and `--cgi`
//! prefixes a path falls under, and the methods a path allows; and the form of a temporary
//! upload's name, which the upload makes and the start-up sweep (`stale`) reads.
//!
//! It owns these rules so that a GET, a listing, a PUT and a CGI lookup cannot disagree about
//! a name. It does no I/O and knows nothing of requests or replies: it takes paths (as
//! `http::target::decode_path` leaves them) and configuration values, and answers yes or no.

/// Temporary upload names start with this; such names are refused for every method, and
/// never listed, even with `--dotfiles`.
pub const TMP_PREFIX: &[u8] = b".barehttpd-upload-";

/// Staging files of resumable uploads (PATCH, `staging`) start with this: under
/// `TMP_PREFIX`, so never served, listed or writable by name either.
pub const PART_PREFIX: &[u8] = b".barehttpd-upload-part-";

/// Whether `name` is a resumable upload's staging file (`staging::part_name`).
pub fn is_part(name: &[u8]) -> bool {
    name.strip_prefix(PART_PREFIX)
        .is_some_and(|h| h.len() == 32 && h.iter().all(u8::is_ascii_hexdigit))
}

/// The name of a server's temporary upload file: `.barehttpd-upload-PID-SEQ`, with the
/// writing process's id, so that the next start can tell a crashed server's files from a
/// running one's (`handler::stale`), and a number unique within that process.
pub fn temp_name(pid: u32, seq: u64) -> Vec<u8> {
    let mut name = Vec::with_capacity(TMP_PREFIX.len() + 32);
    name.extend_from_slice(TMP_PREFIX);
    crate::http::response::push_u64(&mut name, u64::from(pid));
    name.push(b'-');
    crate::http::response::push_u64(&mut name, seq);
    name
}

/// The process id in a name `temp_name` makes; `None` for any other name, and for an id no
/// process can have (0, or above `i32::MAX`), so that no caller asks the kernel about one.
pub fn temp_pid(name: &[u8]) -> Option<u32> {
    let rest = name.strip_prefix(TMP_PREFIX)?;
    let dash = rest.iter().position(|&b| b == b'-')?;
    let (pid, seq) = (&rest[..dash], &rest[dash + 1..]);
    let digits = |s: &[u8]| !s.is_empty() && s.len() <= 20 && s.iter().all(u8::is_ascii_digit);
    if !digits(pid) || !digits(seq) {
        return None;
    }
    let pid: u32 = std::str::from_utf8(pid).ok()?.parse().ok()?;
    (pid > 0 && pid <= i32::MAX as u32).then_some(pid)
}

/// The methods a static resource allows.
pub const ALLOW: &[u8] = b"GET, HEAD, OPTIONS";

/// The methods allowed where writes are enabled.
#[cfg(not(feature = "dav"))]
pub const ALLOW_WRITE: &[u8] = b"GET, HEAD, OPTIONS, PUT, DELETE, PATCH";
/// The methods allowed where writes are enabled: a WebDAV server's (class 1, no locks yet).
#[cfg(feature = "dav")]
pub const ALLOW_WRITE: &[u8] =
    b"GET, HEAD, OPTIONS, PUT, DELETE, PATCH, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE";

/// Whether one name (a path segment, a directory entry) is never served: a name starting
/// with `.` unless `--dotfiles`, and an unfinished upload always.
pub fn hidden_name(name: &[u8], dotfiles: bool) -> bool {
    name.first() == Some(&b'.') && (!dotfiles || name.starts_with(TMP_PREFIX))
}

/// Whether a decoded path names something never served: any of its segments is hidden.
pub fn hidden(path: &[u8], dotfiles: bool) -> bool {
    path.split(|&b| b == b'/').any(|s| hidden_name(s, dotfiles))
}

/// The Allow value (RFC 9110 §10.2.1) where writes are allowed (`write`), or not.
pub fn allow(write: bool) -> &'static [u8] {
    if write { ALLOW_WRITE } else { ALLOW }
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
    fn temporary_names_carry_the_process_id() {
        assert_eq!(temp_name(17537, 0), b".barehttpd-upload-17537-0");
        assert_eq!(temp_pid(&temp_name(17537, 42)), Some(17537));
        assert_eq!(temp_pid(&temp_name(1, u64::MAX)), Some(1));
        let max = i32::MAX as u32;
        assert_eq!(temp_pid(&temp_name(max, 1)), Some(max));
        // Not made by `temp_name`, or no process's id: left for no one to judge.
        for name in [
            &b".barehttpd-upload-x"[..],
            b".barehttpd-upload-",
            b".barehttpd-upload-12",
            b".barehttpd-upload-12-",
            b".barehttpd-upload--3",
            b".barehttpd-upload-12-3x",
            b".barehttpd-upload-+12-3",
            b".barehttpd-upload-0-3",
            b".barehttpd-upload-2147483648-3",
            b".barehttpd-upload-99999999999999999999-3",
            b"barehttpd-upload-12-3",
            b"note.txt",
        ] {
            assert_eq!(temp_pid(name), None, "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(allow(true), ALLOW_WRITE);
        assert_eq!(allow(false), ALLOW);
    }
}
