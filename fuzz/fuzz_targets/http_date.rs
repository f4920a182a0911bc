//! `http::date::parse_http_date` (the three HTTP date formats of RFC 9110 §5.6.7) against the
//! `httpdate` crate, and `imf_fixdate` against both.
//!
//! - Differential: on the input as it is, both parsers give the same answer, `None` or the
//!   same Unix seconds (`httpdate`'s `SystemTime` converted; `None` for a date before 1970).
//!   `httpdate` takes a `&str`, so input that is not UTF-8 is `None` for it.
//! - Round trip: the first 8 bytes, as a little-endian u64 reduced modulo `IMF_MAX_SECS + 1`,
//!   are a time `secs` that an IMF-fixdate can show. `parse_http_date(&imf_fixdate(secs))` is
//!   `Some(secs)`, and `imf_fixdate(secs)` is what `httpdate::fmt_http_date` writes. The same
//!   time written in the RFC 850 and asctime forms gets the same answer from both parsers
//!   (asctime: `Some(secs)` too).
//!   A u64 past `IMF_MAX_SECS` formats as `IMF_MAX_SECS` does (the formatter's clamp).
#![no_main]
use std::time::{Duration, UNIX_EPOCH};

use barehttpd::http::date::{imf_fixdate, parse_http_date};
use libfuzzer_sys::fuzz_target;

/// The last second an IMF-fixdate can show, 9999-12-31 23:59:59 (`date::IMF_MAX_SECS`, which
/// is private; checked against the formatter below).
const IMF_MAX_SECS: u64 = 253_402_300_799;

const WEEKDAYS_LONG: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// `httpdate`'s answer in the product's terms.
fn theirs(b: &[u8]) -> Option<u64> {
    let t = httpdate::parse_http_date(std::str::from_utf8(b).ok()?).ok()?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

fn agree(b: &[u8]) {
    let ours = parse_http_date(b);
    let theirs = theirs(b);
    assert_eq!(
        ours,
        theirs,
        "parse_http_date (left) and httpdate (right) disagree on {:?} ({b:?})",
        String::from_utf8_lossy(b)
    );
}

fuzz_target!(|data: &[u8]| {
    agree(data);

    let mut raw = [0u8; 8];
    let n = data.len().min(8);
    raw[..n].copy_from_slice(&data[..n]);
    let raw = u64::from_le_bytes(raw);
    if raw > IMF_MAX_SECS {
        assert_eq!(
            imf_fixdate(raw),
            imf_fixdate(IMF_MAX_SECS),
            "{raw} not clamped"
        );
    }
    let secs = raw % (IMF_MAX_SECS + 1);
    let imf = imf_fixdate(secs);
    assert_eq!(
        parse_http_date(&imf),
        Some(secs),
        "round trip of {secs} via {:?}",
        String::from_utf8_lossy(&imf)
    );
    let fmt = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
    assert_eq!(
        fmt.as_bytes(),
        &imf[..],
        "imf_fixdate({secs}) differs from httpdate"
    );

    // The same time in the two obsolete forms (its RFC 850 year may be read as another
    // century, or refused with a weekday that no longer matches: both must agree on that).
    let d = std::str::from_utf8(&imf).unwrap();
    let (wd, dd, mon, yyyy, t) = (&d[..3], &d[5..7], &d[8..11], &d[12..16], &d[17..25]);
    let long = WEEKDAYS_LONG
        .iter()
        .find(|l| l.starts_with(wd))
        .expect("weekday");
    agree(format!("{long}, {dd}-{mon}-{} {t} GMT", &yyyy[2..]).as_bytes());
    let day = format!("{:>2}", dd.trim_start_matches('0'));
    let asctime = format!("{wd} {mon} {day} {t} {yyyy}");
    agree(asctime.as_bytes());
    assert_eq!(
        parse_http_date(asctime.as_bytes()),
        Some(secs),
        "{asctime:?}"
    );
});
