//! Dates: the IMF-fixdate of Date and Last-Modified (RFC 9110 §5.6.7), and the Common Log
//! Format timestamp. The current time is formatted at most once a second per worker.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
pub const IMF_LEN: usize = 29;

/// The last second an IMF-fixdate can show (its year has four digits): 9999-12-31 23:59:59.
const IMF_MAX_SECS: u64 = 253_402_300_799;

/// Day names by days since 1970-01-01 (a Thursday) modulo 7, as dates write them.
const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
/// The obsolete RFC 850 form's whole names; each begins with its short name.
const DAYS_LONG: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Format Unix seconds as an IMF-fixdate, on the stack (it runs for every Last-Modified of a
/// file not in the cache, and must not allocate). Times past year 9999 show that last second.
pub fn imf_fixdate(secs: u64) -> [u8; IMF_LEN] {
    let secs = secs.min(IMF_MAX_SECS);
    let days = secs / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    let t = secs % 86_400;
    let two = |out: &mut [u8], v: u64| {
        out[0] = b'0' + (v / 10) as u8;
        out[1] = b'0' + (v % 10) as u8;
    };
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    two(&mut out[5..7], u64::from(d));
    out[8..11].copy_from_slice(MONTHS[(m - 1) as usize].as_bytes());
    let y = y as u64;
    two(&mut out[12..14], y / 100);
    two(&mut out[14..16], y % 100);
    two(&mut out[17..19], t / 3600);
    two(&mut out[20..22], t / 60 % 60);
    two(&mut out[23..25], t % 60);
    out
}

/// Parse an HTTP date in any of the three formats RFC 9110 §5.6.7 requires recipients to
/// accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`, a two-digit year below 70 taken as 20xx) and
/// asctime (`Sun Nov  6 08:49:37 1994`). The day of the week must match the date. `None`
/// for anything else (such a header is then ignored), and for dates before 1970.
pub fn parse_http_date(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    let num = |b: &[u8]| -> Option<u64> {
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(b.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
    };
    let month = |b: &[u8]| {
        MONTHS
            .iter()
            .position(|m| m.as_bytes() == b)
            .map(|i| i as u64 + 1)
    };
    let time = |b: &[u8]| -> Option<u64> {
        let [h1, h2, b':', m1, m2, b':', s1, s2] = *b else {
            return None;
        };
        let (h, m, s) = (num(&[h1, h2])?, num(&[m1, m2])?, num(&[s1, s2])?);
        (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
    };
    let (wday, day, mon, year, secs) = if v.len() == 29 && v[3] == b',' {
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
        if &v[4..5] != b" " || v[7] != b' ' || v[11] != b' ' || v[16] != b' ' || &v[25..] != b" GMT"
        {
            return None;
        }
        (
            &v[..3],
            num(&v[5..7])?,
            month(&v[8..11])?,
            num(&v[12..16])?,
            time(&v[17..25])?,
        )
    } else if v.len() == 24 && v[3] == b' ' {
        // asctime: "Sun Nov  6 08:49:37 1994"
        if v[7] != b' ' || v[10] != b' ' || v[19] != b' ' {
            return None;
        }
        let day = if v[8] == b' ' {
            num(&v[9..10])?
        } else {
            num(&v[8..10])?
        };
        (
            &v[..3],
            day,
            month(&v[4..7])?,
            num(&v[20..24])?,
            time(&v[11..19])?,
        )
    } else {
        // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        let comma = v.iter().position(|&b| b == b',')?;
        let rest = &v[comma..];
        if rest.len() != 24 || &rest[..2] != b", " || rest[4] != b'-' || rest[8] != b'-' {
            return None;
        }
        if rest[11] != b' ' || &rest[20..] != b" GMT" {
            return None;
        }
        let long = &v[..comma];
        if !DAYS_LONG.iter().any(|d| d.as_bytes() == long) {
            return None;
        }
        let short = &long[..3];
        let yy = num(&rest[9..11])?;
        let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
        (
            short,
            num(&rest[2..4])?,
            month(&rest[5..8])?,
            year,
            time(&rest[12..20])?,
        )
    };
    if !(1970..=9999).contains(&year) || day == 0 || day > days_in_month(year, mon) {
        return None;
    }
    let days = days_from_civil(year as i64, mon as u32, day as u32);
    if DAYS[days.rem_euclid(7) as usize] != wday {
        return None;
    }
    Some(days as u64 * 86_400 + secs)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month 1-12, day 1-31) to days since 1970-01-01, proleptic Gregorian.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The Common Log Format time, in UTC: "25/Nov/2026:03:00:00 +0000".
pub fn clf(secs: u64) -> String {
    let mut out = String::with_capacity(26);
    clf_into(&mut out, secs);
    out
}

/// `clf`, written over `out` (whose capacity is kept: the clock reuses one string).
fn clf_into(out: &mut String, secs: u64) {
    use std::fmt::Write;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    out.clear();
    let _ = write!(
        out,
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        t / 3600,
        t / 60 % 60,
        t % 60
    );
}

/// "2026-11-25 03:00" (UTC), for directory listings.
pub fn short(secs: u64) -> String {
    let mut out = Vec::with_capacity(16);
    push_short(&mut out, secs);
    String::from_utf8(out).unwrap_or_default()
}

/// `short`, written at the end of `out`: no allocation of its own (a listing writes one a row).
pub fn push_short(out: &mut Vec<u8>, secs: u64) {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    // Digit by digit rather than `write!`: a third of a 10,000-row listing's rendering went
    // to formatting machinery. Years past 9999 (secs is a u64) take as many digits as needed.
    crate::http::response::push_u64(out, y.max(0) as u64);
    let two = |out: &mut Vec<u8>, sep: u8, n: u64| {
        out.extend_from_slice(&[sep, b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]);
    };
    two(out, b'-', u64::from(m));
    two(out, b'-', u64::from(d));
    two(out, b' ', t / 3600);
    two(out, b':', t / 60 % 60);
}

/// "2026-11-25T03:00:00Z" (RFC 3339, UTC), for JSON listings.
pub fn iso8601(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!(
        "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// The current second's Date header value and access-log time, refreshed when the second
/// changes.
pub struct Clock {
    secs: u64,
    pub imf: [u8; IMF_LEN],
    pub clf: String,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Clock {
        let mut c = Clock {
            secs: u64::MAX,
            imf: [b' '; IMF_LEN],
            clf: String::new(),
        };
        c.update(crate::sys::time::unix_secs());
        c
    }

    /// The time `imf` shows, Unix seconds.
    pub fn secs(&self) -> u64 {
        self.secs
    }

    pub fn update(&mut self, secs: u64) {
        if secs != self.secs {
            self.secs = secs;
            self.imf = imf_fixdate(secs);
            clf_into(&mut self.clf, secs);
        }
    }
}

/// Seconds since the epoch of a SystemTime (0 before it).
pub fn secs_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9110_5_6_7_formats() {
        assert_eq!(&imf_fixdate(784111777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(
            parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(
            parse_http_date(b"Sun Nov  6 08:49:37 1994"),
            Some(784111777)
        );
        assert_eq!(parse_http_date(b"yesterday"), None);
    }

    #[test]
    fn imf_fixdate_weekdays_leap_days_and_limits() {
        assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&imf_fixdate(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(
            &imf_fixdate(1_795_575_600),
            b"Wed, 25 Nov 2026 03:00:00 GMT"
        );
        assert_eq!(&imf_fixdate(IMF_MAX_SECS), b"Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(&imf_fixdate(u64::MAX), b"Fri, 31 Dec 9999 23:59:59 GMT");
        // Every day of a few years agrees with the parser's reading of it.
        for day in (0..3 * 366).map(|d| 10_957 + d) {
            let secs = day * 86_400 + 45_296;
            assert_eq!(parse_http_date(&imf_fixdate(secs)), Some(secs));
        }
    }

    /// The parser agrees with the `httpdate` crate (which it replaced, a dependency of 6 KB
    /// for three fixed formats) on every day of the range in all three forms, and on wrong
    /// weekdays, impossible days, times and stray bytes.
    #[test]
    fn agrees_with_httpdate() {
        let theirs = |b: &[u8]| {
            let t = httpdate::parse_http_date(std::str::from_utf8(b).ok()?).ok()?;
            t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
        };
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for day in (0..60_000u64).step_by(7) {
            let secs = day * 86_400 + (day * 7919) % 86_400;
            let imf = imf_fixdate(secs).to_vec();
            let d = String::from_utf8(imf.clone()).unwrap();
            let (wd, dd, mon, yyyy, t) = (&d[..3], &d[5..7], &d[8..11], &d[12..16], &d[17..25]);
            let long = DAYS_LONG.iter().find(|l| l.starts_with(wd)).unwrap();
            cases.push(imf);
            cases.push(format!("{long}, {dd}-{mon}-{} {t} GMT", &yyyy[2..]).into_bytes());
            let day_sp = format!("{:>2}", dd.trim_start_matches('0'));
            cases.push(format!("{wd} {mon} {day_sp} {t} {yyyy}").into_bytes());
        }
        for bad in [
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 06 Nov 1994 08:60:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun,  06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 06 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Thu, 29 Feb 2001 00:00:00 GMT",
            "Tue, 29 Feb 2000 00:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Sun, 0+ Nov 1994 08:49:37 GMT",
            "",
        ] {
            cases.push(bad.as_bytes().to_vec());
        }
        for c in &cases {
            assert_eq!(
                parse_http_date(c),
                theirs(c),
                "{}",
                String::from_utf8_lossy(c)
            );
        }
    }

    #[test]
    fn clf_and_short_dates() {
        assert_eq!(clf(784111777), "06/Nov/1994:08:49:37 +0000");
        assert_eq!(short(1_795_575_600), "2026-11-25 03:00");
    }
}
