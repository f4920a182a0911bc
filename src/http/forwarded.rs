//! Who the client is behind trusted proxies: `--trusted-proxy` ranges (`Cidr`), and the
//! client address taken from `Forwarded` (RFC 7239 `for=`) or `X-Forwarded-For`.
//!
//! Each proxy appends the address it received the request from, so the list grows to the
//! right and only its right end can be believed: `client` walks it from the right, past the
//! addresses of proxies we trust, and stops at the first one we do not: that is the client
//! (anything left of it was written by the client itself). When every address is trusted,
//! the leftmost is the client. An entry that is not an address (`unknown`, an obfuscated
//! `_name`, garbage) stops the walk without an answer, and the caller keeps the address it
//! has: the last trusted hop, which is at least true. `Forwarded` wins over
//! `X-Forwarded-For` when a request has both, being the standard one.
//!
//! Pure functions over the header values, allocating nothing; the session calls them only
//! when `--trusted-proxy` is given and the connection's peer is in it.

use std::net::{IpAddr, SocketAddr};

/// An address range: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) if !b.is_empty() && b.len() <= 3 && b.bytes().all(|c| c.is_ascii_digit()) => {
                b.parse().ok().filter(|&n| n <= max)?
            }
            Some(_) => return None,
        };
        Some(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client on an IPv6 socket shows as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[whole] & mask == b[whole] & mask
}

/// `ip` is in one of the ranges.
pub fn trusted(ranges: &[Cidr], ip: IpAddr) -> bool {
    ranges.iter().any(|c| c.contains(ip))
}

/// Which header the values come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// RFC 7239: `for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"`.
    Forwarded,
    /// `X-Forwarded-For: 203.0.113.7, 10.0.0.2`.
    XForwardedFor,
}

/// The client's address, from the values of every field of one `kind` in the order they
/// came (several fields form one list, RFC 9110 §5.3). Port 0: not known.
pub fn client<'a, I>(values: I, kind: Kind, ranges: &[Cidr]) -> Option<SocketAddr>
where
    I: DoubleEndedIterator<Item = &'a [u8]>,
{
    let mut last = None;
    for value in values.rev() {
        for entry in value.rsplit(|&b| b == b',') {
            let entry = std::str::from_utf8(entry).ok()?.trim_matches([' ', '\t']);
            let addr = match kind {
                Kind::Forwarded => forwarded_for(entry)?,
                Kind::XForwardedFor => node(entry)?,
            };
            if !trusted(ranges, addr.ip()) {
                return Some(addr);
            }
            last = Some(addr);
        }
    }
    last
}

/// The client a trusted proxy names in a request's `Forwarded` fields, else in its
/// `X-Forwarded-For` fields (both sessions ask, HTTP/2 per stream).
#[cfg(feature = "ops")]
pub fn request_client(req: &crate::http::parse::Request, ranges: &[Cidr]) -> Option<SocketAddr> {
    let values = |name: &'static str| {
        req.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value)
    };
    if values("forwarded").next().is_some() {
        return client(values("forwarded"), Kind::Forwarded, ranges);
    }
    client(values("x-forwarded-for"), Kind::XForwardedFor, ranges)
}

/// The `for=` node of one `Forwarded` element (RFC 7239 §4, §6).
fn forwarded_for(element: &str) -> Option<SocketAddr> {
    let pair = element.split(';').find_map(|p| {
        let (k, v) = p.trim_matches([' ', '\t']).split_once('=')?;
        k.eq_ignore_ascii_case("for").then_some(v)
    })?;
    let v = match pair.strip_prefix('"') {
        Some(q) => q.strip_suffix('"')?,
        None => pair,
    };
    node(v)
}

/// An address with or without a port: `192.0.2.7`, `192.0.2.7:80`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:80`.
fn node(v: &str) -> Option<SocketAddr> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    if let Ok(a) = v.parse::<SocketAddr>() {
        return Some(a);
    }
    let ip = v
        .strip_prefix('[')?
        .strip_suffix(']')?
        .parse::<IpAddr>()
        .ok()?;
    Some(SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| Cidr::parse(s).unwrap()).collect()
    }

    fn xff(values: &[&str], trusted: &[&str]) -> Option<SocketAddr> {
        let r = ranges(trusted);
        client(values.iter().map(|v| v.as_bytes()), Kind::XForwardedFor, &r)
    }

    #[test]
    fn cidr_forms() {
        let r = ranges(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.1", "::1"]);
        let ok = |s: &str| trusted(&r, s.parse().unwrap());
        assert!(ok("10.255.0.1") && ok("2001:db8:ffff::1") && ok("192.0.2.1") && ok("::1"));
        assert!(!ok("11.0.0.1") && !ok("2001:db9::1") && !ok("192.0.2.2"));
        assert!(
            ok("::ffff:10.1.2.3"),
            "an IPv4-mapped peer is its IPv4 address"
        );
        assert!(ranges(&["0.0.0.0/0"])[0].contains("8.8.8.8".parse().unwrap()));
        assert!(
            Cidr::parse("10.0.0.0/12")
                .unwrap()
                .contains("10.15.0.1".parse().unwrap())
        );
        assert!(
            !Cidr::parse("10.0.0.0/12")
                .unwrap()
                .contains("10.16.0.1".parse().unwrap())
        );
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10/8",
            "x",
            "10.0.0.0/+8",
            "",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn x_forwarded_for_is_walked_from_the_right_past_trusted_proxies() {
        let t = &["10.0.0.0/8"];
        let want = Some("203.0.113.7:0".parse().unwrap());
        assert_eq!(xff(&["203.0.113.7"], t), want);
        assert_eq!(xff(&["198.51.100.1, 203.0.113.7, 10.0.0.2"], t), want);
        // Several fields are one list, in order.
        assert_eq!(xff(&["198.51.100.1, 203.0.113.7", "10.0.0.2"], t), want);
        // A client that forges the left end changes nothing.
        assert_eq!(xff(&["10.9.9.9, 203.0.113.7,10.0.0.2"], t), want);
        // All trusted: the leftmost.
        assert_eq!(
            xff(&["10.0.0.5, 10.0.0.2"], t),
            Some("10.0.0.5:0".parse().unwrap())
        );
        // Not an address where the walk stops: nothing is believed.
        assert_eq!(xff(&["203.0.113.7, unknown"], t), None);
        assert_eq!(xff(&[], t), None);
        assert_eq!(
            xff(&["[2001:db8::9]:4711"], t),
            Some("[2001:db8::9]:4711".parse().unwrap())
        );
    }

    #[test]
    fn rfc_7239_section_7_4_examples() {
        let r = ranges(&["10.0.0.0/8"]);
        let f = |v: &str| client([v.as_bytes()].into_iter(), Kind::Forwarded, &r);
        assert_eq!(
            f("for=192.0.2.43, for=198.51.100.17"),
            Some("198.51.100.17:0".parse().unwrap())
        );
        assert_eq!(
            f("for=\"[2001:db8:cafe::17]:4711\""),
            Some("[2001:db8:cafe::17]:4711".parse().unwrap())
        );
        assert_eq!(
            f("for=192.0.2.60;proto=http;by=203.0.113.43"),
            Some("192.0.2.60:0".parse().unwrap())
        );
        assert_eq!(
            f("For=192.0.2.60, for=10.1.1.1;proto=https"),
            Some("192.0.2.60:0".parse().unwrap())
        );
        assert_eq!(f("for=unknown"), None, "§6.2");
        assert_eq!(f("for=_hidden, for=_SEVKISEK"), None, "§6.3");
        assert_eq!(f("proto=https"), None);
    }
}
