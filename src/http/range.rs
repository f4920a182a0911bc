//! Range requests (RFC 9110 §14): parsing `Range: bytes=...` and resolving it against a
//! representation's length. Pure; the handler turns the result into 206, 416 or 200.
//!
//! Abuse is bounded: at most `MAX_SPECS` range specs are looked at (more → the header is
//! ignored and the whole file is sent), overlapping or nearly adjacent ranges are coalesced,
//! and more than `MAX_PARTS` parts after coalescing is answered with the whole file too.

use core::ops::Range;

/// Range specs parsed in one header; past this the header is ignored.
pub const MAX_SPECS: usize = 100;
/// Parts in one multipart/byteranges answer; past this the whole file is sent.
pub const MAX_PARTS: usize = 16;
/// Ranges closer than this are merged. Zero: only overlapping or adjacent ranges are, so a
/// client asking for two separate ranges gets two parts even in a small file.
const COALESCE_GAP: u64 = 0;

#[derive(Debug, PartialEq, Eq)]
pub enum Ranges {
    /// No usable Range header (absent, other unit, or invalid syntax): send everything.
    Ignore,
    /// None of the ranges overlaps the representation: 416.
    Unsatisfiable,
    /// Byte ranges to send, in order, non-empty, within the length.
    Satisfiable(Vec<Range<u64>>),
}

/// Parse and resolve a Range header value for a representation of `len` bytes.
pub fn resolve(value: &[u8], len: u64) -> Ranges {
    let Some(set) = strip_bytes_unit(value) else {
        return Ranges::Ignore;
    };
    if len == 0 {
        // No byte range can be cut from nothing; the (empty) whole answers (RFC 9110 §14.2
        // lets a server ignore Range).
        return Ranges::Ignore;
    }
    let mut out: Vec<Range<u64>> = Vec::new();
    let mut specs = 0;
    for spec in set.split(|&b| b == b',') {
        let spec = crate::http::parse::trim_ows(spec);
        if spec.is_empty() {
            continue; // RFC 9110 §5.6.1: empty list elements are ignored
        }
        specs += 1;
        if specs > MAX_SPECS {
            return Ranges::Ignore;
        }
        let Some(dash) = spec.iter().position(|&b| b == b'-') else {
            return Ranges::Ignore;
        };
        let (first, last) = (&spec[..dash], &spec[dash + 1..]);
        let r = if first.is_empty() {
            // suffix-range: the last N bytes.
            let Some(n) = super::parse::decimal(last) else {
                return Ranges::Ignore;
            };
            if n == 0 {
                continue;
            }
            len.saturating_sub(n)..len
        } else {
            let Some(a) = super::parse::decimal(first) else {
                return Ranges::Ignore;
            };
            let b = if last.is_empty() {
                u64::MAX
            } else {
                match super::parse::decimal(last) {
                    Some(b) if b >= a => b,
                    _ => return Ranges::Ignore,
                }
            };
            if a >= len {
                continue; // unsatisfiable on its own
            }
            a..b.min(len - 1) + 1
        };
        if !r.is_empty() {
            out.push(r);
        }
    }
    if specs == 0 {
        return Ranges::Ignore;
    }
    if out.is_empty() {
        return Ranges::Unsatisfiable;
    }
    coalesce(&mut out);
    if out.len() > MAX_PARTS {
        return Ranges::Ignore;
    }
    Ranges::Satisfiable(out)
}

/// Merge overlapping or nearly adjacent ranges. When none touch, the client's order is kept
/// (RFC 9110 §14.6 asks for it); otherwise the result is in ascending order.
fn coalesce(v: &mut Vec<Range<u64>>) {
    if v.len() < 2 {
        return;
    }
    let mut sorted = v.clone();
    sorted.sort_by_key(|r| r.start);
    let touching = sorted
        .windows(2)
        .any(|w| w[1].start <= w[0].end.saturating_add(COALESCE_GAP));
    if !touching {
        return;
    }
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match merged.last_mut() {
            Some(m) if r.start <= m.end.saturating_add(COALESCE_GAP) => m.end = m.end.max(r.end),
            _ => merged.push(r),
        }
    }
    *v = merged;
}

fn strip_bytes_unit(v: &[u8]) -> Option<&[u8]> {
    let v = crate::http::parse::trim_ows(v);
    let eq = v.iter().position(|&b| b == b'=')?;
    v[..eq].eq_ignore_ascii_case(b"bytes").then(|| &v[eq + 1..])
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn r(v: &str, len: u64) -> Ranges {
        resolve(v.as_bytes(), len)
    }

    #[test]
    fn rfc9110_14_1_2_forms() {
        assert_eq!(r("bytes=0-4", 13), Ranges::Satisfiable(vec![0..5]));
        assert_eq!(r("bytes=5-", 13), Ranges::Satisfiable(vec![5..13]));
        assert_eq!(r("bytes=-3", 13), Ranges::Satisfiable(vec![10..13]));
        assert_eq!(r("bytes=-100", 13), Ranges::Satisfiable(vec![0..13]));
        assert_eq!(r("bytes=0-100", 13), Ranges::Satisfiable(vec![0..13]));
        assert_eq!(r("BYTES = 1-1", 13), Ranges::Ignore);
        assert_eq!(r("Bytes=1-1", 13), Ranges::Satisfiable(vec![1..2]));
    }

    #[test]
    fn rfc9110_14_2_invalid_or_other_units_ignored() {
        assert_eq!(r("items=0-1", 13), Ranges::Ignore);
        assert_eq!(r("bytes=5-1", 13), Ranges::Ignore);
        assert_eq!(r("bytes=a-b", 13), Ranges::Ignore);
        assert_eq!(r("bytes=", 13), Ranges::Ignore);
        assert_eq!(r("bytes=1", 13), Ranges::Ignore);
    }

    #[test]
    fn rfc9110_15_5_17_unsatisfiable() {
        assert_eq!(r("bytes=100-", 13), Ranges::Unsatisfiable);
        assert_eq!(r("bytes=13-20", 13), Ranges::Unsatisfiable);
        assert_eq!(r("bytes=-0", 13), Ranges::Unsatisfiable);
        assert_eq!(r("bytes=0-0", 0), Ranges::Ignore);
        assert_eq!(r("bytes=-5", 0), Ranges::Ignore);
        assert_eq!(r("bytes=100-,0-0", 13), Ranges::Satisfiable(vec![0..1]));
    }

    #[test]
    fn multiple_ranges_keep_order_or_coalesce() {
        assert_eq!(
            r("bytes=0-0,-1", 1000),
            Ranges::Satisfiable(vec![0..1, 999..1000])
        );
        assert_eq!(
            r("bytes=500-600,0-10", 1000),
            Ranges::Satisfiable(vec![500..601, 0..11])
        );
        assert_eq!(r("bytes=0-10,5-20", 1000), Ranges::Satisfiable(vec![0..21]));
        assert_eq!(r("bytes=0-0,1-1", 1000), Ranges::Satisfiable(vec![0..2]));
        assert_eq!(
            r("bytes=0-0,-1", 13),
            Ranges::Satisfiable(vec![0..1, 12..13])
        );
        assert_eq!(
            r("bytes=0-0,0-0,0-0", 1000),
            Ranges::Satisfiable(vec![0..1])
        );
    }

    #[test]
    fn range_abuse_is_bounded() {
        let many: Vec<String> = (0..200)
            .map(|i| format!("{}-{}", i * 1000, i * 1000))
            .collect();
        assert_eq!(
            r(&format!("bytes={}", many.join(",")), 1 << 30),
            Ranges::Ignore
        );
        let parts: Vec<String> = (0..20)
            .map(|i| format!("{}-{}", i * 1000, i * 1000))
            .collect();
        assert_eq!(
            r(&format!("bytes={}", parts.join(",")), 1 << 30),
            Ranges::Ignore
        );
        let overlapping: Vec<String> = (0..50)
            .map(|i| format!("{}-{}", i * 10, i * 10 + 10))
            .collect();
        assert_eq!(
            r(&format!("bytes={}", overlapping.join(",")), 1 << 30),
            Ranges::Satisfiable(vec![0..501])
        );
    }
}
