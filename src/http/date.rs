//! Dates: the IMF-fixdate of Date and Last-Modified (RFC 9110 §5.6.7), and the Common Log
//! Format timestamp. The current time is formatted at most once a second per worker.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
pub const IMF_LEN: usize = 29;

/// The last second an IMF-fixdate can show (its year has four digits): 9999-12-31 23:59:59.
const IMF_MAX_SECS: u64 = 253_402_300_799;

/// Format Unix seconds as an IMF-fixdate, on the stack (it runs for every Last-Modified of a
/// file not in the cache, and must not allocate). Times past year 9999 show that last second.
pub fn imf_fixdate(secs: u64) -> [u8; IMF_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
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
/// accept. `None` for anything else (such a header is then ignored).
pub fn parse_http_date(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?;
    let t = httpdate::parse_http_date(s).ok()?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
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
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!("{y}-{m:02}-{d:02} {:02}:{:02}", t / 3600, t / 60 % 60)
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

    #[test]
    fn clf_and_short_dates() {
        assert_eq!(clf(784111777), "06/Nov/1994:08:49:37 +0000");
        assert_eq!(short(1_795_575_600), "2026-11-25 03:00");
    }
}
