//! Host names (RFC 9110 §7.2, §4.3.3): the name in a Host field or an absolute target's
//! authority, without its port, and whether it is a name a site lists. Names compare
//! without regard to case (DNS names are case-insensitive) and without a trailing dot.
//!
//! A wildcard `*.example.com` matches every name that ends in `.example.com`, at any depth,
//! as nginx's `server_name` does (not `example.com` itself); certificates' wildcards match
//! one label only, which `tls::certs` decides apart.

/// The host of a `Host` value: `[v6]` without brackets, a name or v4 address without its
/// `:port`.
pub fn name(host: &[u8]) -> &[u8] {
    let h = if let Some(rest) = host.strip_prefix(b"[") {
        rest.split(|&b| b == b']').next().unwrap_or(rest)
    } else {
        host.split(|&b| b == b':').next().unwrap_or(host)
    };
    h.strip_suffix(b".").unwrap_or(h)
}

/// Whether `name` (as `name` leaves it) is `pattern`, a lower-case name or `*.` wildcard.
pub fn matches(pattern: &str, name: &[u8]) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            name.len() > suffix.len() + 1
                && name[name.len() - suffix.len() - 1] == b'.'
                && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
        }
        None => name.eq_ignore_ascii_case(pattern.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9110_7_2_the_host_without_its_port() {
        assert_eq!(name(b"example.com:8080"), b"example.com");
        assert_eq!(name(b"Example.COM."), b"Example.COM");
        assert_eq!(name(b"[::1]:443"), b"::1");
        assert_eq!(name(b"127.0.0.1"), b"127.0.0.1");
        assert_eq!(name(b""), b"");
    }

    #[test]
    fn names_and_wildcards() {
        assert!(matches("example.com", b"EXAMPLE.com"));
        assert!(!matches("example.com", b"www.example.com"));
        assert!(matches("*.example.com", b"www.example.com"));
        assert!(matches("*.example.com", b"a.b.example.com"));
        assert!(!matches("*.example.com", b"example.com"));
        assert!(!matches("*.example.com", b"wwwexample.com"));
        assert!(!matches("*.example.com", b".example.com"));
    }
}
