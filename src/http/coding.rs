//! Content negotiation by Accept-Encoding (RFC 9110 §12.5.3): which content coding, if any,
//! to send a client, among those a server has for a resource.
//!
//! Pure functions of the header's value: no I/O, no allocation. It knows the codings the
//! server can send (`br`, `zstd`, `gzip` and its alias `x-gzip`), `identity` and `*`, and
//! reads each one's qvalue (§12.4.2). What a representation is made from (a precompressed
//! sibling, a copy compressed on the fly) is the handler's business.

use super::parse::trim_ows;

/// A content coding the server can send, in its order of preference among codings the
/// client weighs alike: brotli makes the smallest text, zstd is close to it and decodes
/// fastest, gzip is what every client has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Br,
    Zstd,
    Gzip,
}

/// Every coding: for a resource that is compressed on the fly, in whichever the client asks.
pub const ALL: [bool; 3] = [true; 3];

impl Coding {
    /// The token in Content-Encoding (§8.4.1).
    pub fn token(self) -> &'static [u8] {
        match self {
            Coding::Br => b"br",
            Coding::Zstd => b"zstd",
            Coding::Gzip => b"gzip",
        }
    }
}

/// The qvalues, in thousandths, that an Accept-Encoding field gives the codings the server
/// knows, `identity` and `*`: `None` where it names none of them.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptEncoding {
    present: bool,
    br: Option<u16>,
    zstd: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

impl AcceptEncoding {
    /// Read the field's value (`None`: the request has no Accept-Encoding). Members this
    /// server has no coding for are passed over; a malformed qvalue counts as 1, the weight
    /// a member without one has.
    pub fn parse(value: Option<&[u8]>) -> AcceptEncoding {
        let mut a = AcceptEncoding::default();
        let Some(v) = value else { return a };
        a.present = true;
        for member in v.split(|&b| b == b',') {
            let mut parts = member.split(|&b| b == b';');
            let name = trim_ows(parts.next().unwrap_or(b""));
            let q = parts
                .map(trim_ows)
                .find(|p| p.len() >= 2 && p[..2].eq_ignore_ascii_case(b"q="))
                .map_or(1000, |p| qvalue(&p[2..]).unwrap_or(1000));
            let slot = match name {
                n if n.eq_ignore_ascii_case(b"br") => &mut a.br,
                n if n.eq_ignore_ascii_case(b"zstd") => &mut a.zstd,
                n if n.eq_ignore_ascii_case(b"gzip") || n.eq_ignore_ascii_case(b"x-gzip") => {
                    &mut a.gzip
                }
                n if n.eq_ignore_ascii_case(b"identity") => &mut a.identity,
                b"*" => &mut a.any,
                _ => continue,
            };
            // A coding named twice keeps its first weight.
            slot.get_or_insert(q);
        }
        a
    }

    /// The weight of `c`: its own, else that of `*`, else 0 (not acceptable).
    pub fn q(&self, c: Coding) -> u16 {
        let own = match c {
            Coding::Br => self.br,
            Coding::Zstd => self.zstd,
            Coding::Gzip => self.gzip,
        };
        own.or(self.any).unwrap_or(0)
    }

    /// The weight of sending no coding: its own, else that of `*`, else acceptable (§12.5.3:
    /// "identity" is acceptable unless excluded, by itself or by `*;q=0`).
    pub fn identity_q(&self) -> u16 {
        self.identity.or(self.any).unwrap_or(1000)
    }

    /// The coding to send among those a resource has (`has`, by `Coding` as index), or
    /// `None` for the resource as it is: the one the client weighs highest (ties go to the
    /// server's order of preference, `Coding`'s), if it weighs more than 0 and no less than
    /// the weight the client gave identity, if it gave one. Without the field, no coding: a client that says nothing gets what every
    /// client can read.
    pub fn choose(&self, has: [bool; 3]) -> Option<Coding> {
        if !self.present {
            return None;
        }
        let mut best: Option<(Coding, u16)> = None;
        for c in [Coding::Br, Coding::Zstd, Coding::Gzip] {
            let q = self.q(c);
            if q > 0 && has[c as usize] && best.is_none_or(|(_, bq)| q > bq) {
                best = Some((c, q));
            }
        }
        // Identity competes only with a weight the client gave it (its own or `*`'s):
        // unnamed, it is merely acceptable, not preferred to a coding the client asked for.
        let identity = self.identity.or(self.any).unwrap_or(0);
        best.filter(|&(_, q)| q >= identity).map(|(c, _)| c)
    }
}

/// A qvalue (§12.4.2: `0` or `1` with up to three decimals) in thousandths.
fn qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match (int, thousandths) {
        (b"0", t) => Some(t),
        (b"1", 0) => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(v: &str) -> Option<Coding> {
        AcceptEncoding::parse(Some(v.as_bytes())).choose(ALL)
    }

    #[test]
    fn rfc9110_12_4_2_qvalues() {
        assert_eq!(qvalue(b"0"), Some(0));
        assert_eq!(qvalue(b"0.000"), Some(0));
        assert_eq!(qvalue(b"0.5"), Some(500));
        assert_eq!(qvalue(b"0.125"), Some(125));
        assert_eq!(qvalue(b"1"), Some(1000));
        assert_eq!(qvalue(b"1.000"), Some(1000));
        assert_eq!(qvalue(b"1.5"), None);
        assert_eq!(qvalue(b"0.1234"), None);
        assert_eq!(qvalue(b"2"), None);
        assert_eq!(qvalue(b""), None);
    }

    #[test]
    fn rfc9110_12_5_3_the_highest_weight_wins_and_ties_go_to_the_server() {
        assert_eq!(pick("gzip, deflate, br"), Some(Coding::Br));
        assert_eq!(pick("gzip, zstd"), Some(Coding::Zstd));
        assert_eq!(pick("br;q=0.5, gzip"), Some(Coding::Gzip));
        assert_eq!(pick("br;q=0.5, zstd;q=0.6, gzip;q=0.4"), Some(Coding::Zstd));
        assert_eq!(pick("gzip;q=0.1"), Some(Coding::Gzip), "identity unnamed");
        assert_eq!(pick("gzip;q=0.5, identity;q=0.4"), Some(Coding::Gzip));
        assert_eq!(pick("gzip;q=0.5, *;q=0.6"), Some(Coding::Br));
        assert_eq!(pick("*"), Some(Coding::Br));
        assert_eq!(pick("x-gzip"), Some(Coding::Gzip));
        assert_eq!(pick("GZIP ; Q=0.9"), Some(Coding::Gzip));
        assert_eq!(pick("deflate"), None);
        assert_eq!(pick(""), None);
        assert_eq!(AcceptEncoding::parse(None).choose(ALL), None, "no field");
    }

    #[test]
    fn rfc9110_12_5_3_q_zero_refuses_and_identity_is_respected() {
        assert_eq!(pick("gzip;q=0"), None);
        assert_eq!(pick("gzip;q=0.000, br;q=0"), None);
        assert_eq!(pick("*;q=0"), None);
        assert_eq!(pick("gzip;q=0, *"), Some(Coding::Br));
        assert_eq!(pick("br;q=0, *"), Some(Coding::Zstd));
        assert_eq!(pick("gzip;q=0.5, identity"), None, "identity weighs more");
        assert_eq!(pick("gzip, identity;q=0"), Some(Coding::Gzip));
        assert_eq!(pick("identity"), None);
        let refused = AcceptEncoding::parse(Some(b"identity;q=0"));
        assert_eq!(refused.identity_q(), 0);
        assert_eq!(AcceptEncoding::parse(Some(b"*;q=0")).identity_q(), 0);
        assert_eq!(AcceptEncoding::parse(Some(b"gzip")).identity_q(), 1000);
    }

    #[test]
    fn only_codings_the_resource_has_are_chosen() {
        let a = AcceptEncoding::parse(Some(b"br, gzip;q=0.8"));
        assert_eq!(a.choose([false, false, true]), Some(Coding::Gzip));
        assert_eq!(a.choose([false; 3]), None);
        // A coding named twice keeps its first weight.
        assert_eq!(pick("gzip;q=0, gzip"), None);
    }
}
