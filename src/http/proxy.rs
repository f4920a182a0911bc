//! The PROXY protocol header (HAProxy, "The PROXY protocol", versions 1 and 2): what a load
//! balancer sends before the client's bytes to say whom it is relaying.
//!
//! `parse` is a pure function over the first bytes of a connection, in the shape of the
//! request parser: `Complete(header, len)` with the header's length, `Partial` while more
//! bytes could still make a valid header, `Invalid` as soon as none can. It allocates
//! nothing and needs no socket, so it is unit-tested from the spec's examples and fuzzed
//! (`fuzz/fuzz_targets/proxy_header.rs`).
//!
//! It does not decide whom to believe (the transport only reads a header on a listener that
//! requires one, from a `--trusted-proxy` peer) and keeps only the source address: that is
//! the one thing the server uses. A header that carries no usable source (v1 `UNKNOWN`, v2
//! `LOCAL`, or a v2 family other than IPv4 and IPv6) leaves the real peer in place, as the
//! spec says a receiver must. v2 TLVs are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest v1 header, CRLF included (spec §2.1: "PROXY UNKNOWN" with two IPv6 addresses
/// and ports is 107 bytes).
pub const MAX_V1: usize = 107;
/// The v2 signature (spec §2.2).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Bytes of a v2 header before its addresses: signature, version and command, family,
/// length.
const V2_FIXED: usize = 16;
/// Largest v2 address block (addresses and TLVs) accepted. Addresses take at most 216
/// bytes (AF_UNIX); the rest is TLVs we skip (ALPN, authority, TLS details, a unique id of
/// at most 128 bytes). 1 KiB in all leaves room for those without letting a peer make the
/// server hold or peek at more.
pub const MAX_V2_LEN: usize = 1024 - V2_FIXED;
/// The most bytes `parse` ever needs to see to decide.
pub const MAX_HEADER: usize = V2_FIXED + MAX_V2_LEN;

/// What the header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The client's address; None: keep the connection's real peer (LOCAL, UNKNOWN, or an
    /// address family that is not IP).
    pub source: Option<SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header of this many bytes; the client's bytes follow it.
    Complete(Header, usize),
    /// Every byte so far could begin a valid header: read more.
    Partial,
    /// Not a PROXY header (or one this server refuses).
    Invalid,
}

/// Parse a PROXY header, v1 or v2, at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    if buf.len() < V2_SIGNATURE.len() && V2_SIGNATURE.starts_with(buf) && !buf.is_empty() {
        // Also a prefix of "PROXY "? No: the signature begins with CR, v1 with 'P'.
        return Parsed::Partial;
    }
    if buf.starts_with(&V2_SIGNATURE) {
        return parse_v2(buf);
    }
    parse_v1(buf)
}

/// v1: `PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n` (spec §2.1).
fn parse_v1(buf: &[u8]) -> Parsed {
    const PREFIX: &[u8] = b"PROXY ";
    let head = &buf[..buf.len().min(PREFIX.len())];
    if head.is_empty() {
        return Parsed::Partial;
    }
    if !PREFIX.starts_with(head) {
        return Parsed::Invalid;
    }
    let window = &buf[..buf.len().min(MAX_V1)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_V1 {
            Parsed::Invalid
        } else {
            Parsed::Partial
        };
    };
    let len = lf + 1;
    let Some(line) = window[..lf].strip_suffix(b"\r") else {
        return Parsed::Invalid;
    };
    let Ok(line) = std::str::from_utf8(&line[PREFIX.len().min(line.len())..]) else {
        return Parsed::Invalid;
    };
    let mut fields = line.split(' ');
    let family = fields.next().unwrap_or("");
    if family == "UNKNOWN" {
        // §2.1: the rest of the line is to be ignored, and the real addresses used.
        return Parsed::Complete(Header { source: None }, len);
    }
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Parsed::Invalid;
    };
    let (src, dst): (IpAddr, IpAddr) = match family {
        "TCP4" => match (src.parse::<Ipv4Addr>(), dst.parse::<Ipv4Addr>()) {
            (Ok(s), Ok(d)) => (s.into(), d.into()),
            _ => return Parsed::Invalid,
        },
        "TCP6" => match (src.parse::<Ipv6Addr>(), dst.parse::<Ipv6Addr>()) {
            (Ok(s), Ok(d)) => (s.into(), d.into()),
            _ => return Parsed::Invalid,
        },
        _ => return Parsed::Invalid,
    };
    let _ = dst;
    match (v1_port(sport), v1_port(dport)) {
        (Some(p), Some(_)) => Parsed::Complete(
            Header {
                source: Some(SocketAddr::new(src, p)),
            },
            len,
        ),
        _ => Parsed::Invalid,
    }
}

/// A v1 port: decimal, 0 to 65535, without leading zeros (§2.1).
fn v1_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// v2: the signature, then version and command, family and transport, length, addresses
/// and TLVs (spec §2.2).
fn parse_v2(buf: &[u8]) -> Parsed {
    if buf.len() < V2_FIXED {
        return Parsed::Partial;
    }
    let (ver_cmd, fam) = (buf[12], buf[13]);
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if ver_cmd >> 4 != 2 || len > MAX_V2_LEN {
        return Parsed::Invalid;
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        _ => return Parsed::Invalid,
    };
    // Family: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX; transport: 0 UNSPEC, 1 STREAM, 2 DGRAM.
    let (family, transport) = (fam >> 4, fam & 0x0f);
    if family > 3 || transport > 2 {
        return Parsed::Invalid;
    }
    let total = V2_FIXED + len;
    let Some(addrs) = buf.get(V2_FIXED..total) else {
        return Parsed::Partial;
    };
    if local {
        // §2.2: the proxy's own connection (a health check); the real peer stays.
        return Parsed::Complete(Header { source: None }, total);
    }
    let source = match family {
        1 => {
            let Some(a) = addrs.get(..12) else {
                return Parsed::Invalid;
            };
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Some(SocketAddr::new(ip.into(), u16::from_be_bytes([a[8], a[9]])))
        }
        2 => {
            let Some(a) = addrs.get(..36) else {
                return Parsed::Invalid;
            };
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&a[..16]);
            let port = u16::from_be_bytes([a[32], a[33]]);
            Some(SocketAddr::new(Ipv6Addr::from(ip).into(), port))
        }
        // UNSPEC or UNIX: no IP address to use; the real peer stays.
        _ => None,
    };
    if source.is_some() && transport != 1 {
        // A datagram flow relayed onto a stream listener: not something to serve.
        return Parsed::Invalid;
    }
    Parsed::Complete(Header { source }, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn v1_examples_of_spec_section_2_1() {
        let h = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(h),
            Parsed::Complete(
                Header {
                    source: src("192.168.0.1:56324")
                },
                47
            )
        );
        let h = b"PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n";
        assert_eq!(
            parse(h),
            Parsed::Complete(
                Header {
                    source: src("[2001:db8::1]:1234")
                },
                h.len()
            )
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Complete(Header { source: None }, 15)
        );
        let worst = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
        assert!(matches!(parse(worst), Parsed::Complete(_, _)));
    }

    #[test]
    fn v1_is_partial_until_its_crlf_and_never_past_107_bytes() {
        let h = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
        for i in 0..h.len() {
            assert_eq!(parse(&h[..i]), Parsed::Partial, "{i}");
        }
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(MAX_V1, b'x');
        assert_eq!(parse(&long), Parsed::Invalid, "no CRLF within 107 bytes");
        long.truncate(MAX_V1 - 2);
        long.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&long), Parsed::Complete(_, 107)));
    }

    #[test]
    fn v1_refuses_what_the_spec_does_not_allow() {
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        ] {
            assert_eq!(
                parse(bad),
                Parsed::Invalid,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn v2(cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(cmd);
        h.push(fam);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn v2_inet_and_inet6_give_the_source_and_skip_tlvs() {
        let mut body = vec![192, 0, 2, 7, 10, 0, 0, 1];
        body.extend_from_slice(&4711u16.to_be_bytes());
        body.extend_from_slice(&443u16.to_be_bytes());
        // A PP2_TYPE_ALPN TLV (§2.2.1), skipped.
        body.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2']);
        let h = v2(0x21, 0x11, &body);
        let mut wire = h.clone();
        wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&wire),
            Parsed::Complete(
                Header {
                    source: src("192.0.2.7:4711")
                },
                h.len()
            )
        );
        let mut body = Vec::new();
        body.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        body.extend_from_slice(&[0x12, 0x67, 0x01, 0xbb]);
        assert_eq!(
            parse(&v2(0x21, 0x21, &body)),
            Parsed::Complete(
                Header {
                    source: src("[2001:db8::7]:4711")
                },
                52
            )
        );
    }

    #[test]
    fn v2_local_unspec_and_unix_keep_the_real_peer() {
        let local = v2(0x20, 0x00, &[]);
        assert_eq!(parse(&local), Parsed::Complete(Header { source: None }, 16));
        // LOCAL with addresses: they are ignored (§2.2).
        let local = v2(0x20, 0x11, &[0; 12]);
        assert_eq!(parse(&local), Parsed::Complete(Header { source: None }, 28));
        let unix = v2(0x21, 0x31, &[0; 216]);
        assert_eq!(parse(&unix), Parsed::Complete(Header { source: None }, 232));
        let unspec = v2(0x21, 0x00, &[]);
        assert_eq!(
            parse(&unspec),
            Parsed::Complete(Header { source: None }, 16)
        );
    }

    #[test]
    fn v2_is_partial_until_its_length_is_in() {
        let h = v2(0x21, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
        for i in 1..h.len() {
            assert_eq!(parse(&h[..i]), Parsed::Partial, "{i}");
        }
        assert!(matches!(parse(&h), Parsed::Complete(_, 28)));
    }

    #[test]
    fn v2_refuses_bad_version_command_family_length_and_datagrams() {
        assert_eq!(
            parse(&v2(0x11, 0x11, &[0; 12])),
            Parsed::Invalid,
            "version 1"
        );
        assert_eq!(
            parse(&v2(0x22, 0x11, &[0; 12])),
            Parsed::Invalid,
            "command 2"
        );
        assert_eq!(
            parse(&v2(0x21, 0x41, &[0; 12])),
            Parsed::Invalid,
            "family 4"
        );
        assert_eq!(
            parse(&v2(0x21, 0x13, &[0; 12])),
            Parsed::Invalid,
            "transport 3"
        );
        assert_eq!(
            parse(&v2(0x21, 0x11, &[0; 11])),
            Parsed::Invalid,
            "short INET"
        );
        assert_eq!(
            parse(&v2(0x21, 0x21, &[0; 35])),
            Parsed::Invalid,
            "short INET6"
        );
        assert_eq!(parse(&v2(0x21, 0x12, &[0; 12])), Parsed::Invalid, "DGRAM");
        let mut big = v2(0x21, 0x11, &[]);
        big[14..16].copy_from_slice(&((MAX_V2_LEN + 1) as u16).to_be_bytes());
        assert_eq!(parse(&big), Parsed::Invalid, "over MAX_V2_LEN");
        let mut sig = v2(0x21, 0x11, &[0; 12]);
        sig[11] = b'X';
        assert_eq!(parse(&sig), Parsed::Invalid, "bad signature");
    }
}
