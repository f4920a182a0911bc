//! Dates: the IMF-fixdate of Date and Last-Modified (RFC 9110 §5.6.7), and the Common Log
//! Format timestamp. The current time is formatted at most once a second per worker.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
pub const IMF_LEN: usize = 29;

/// Format Unix seconds as an IMF-fixdate.
pub fn imf_fixdate(secs: u64) -> [u8; IMF_LEN] {
    let s = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
    let mut out = [b' '; IMF_LEN];
    out.copy_from_slice(&s.as_bytes()[..IMF_LEN]);
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
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        t / 3600,
        t / 60 % 60,
        t % 60
    )
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

    pub fn update(&mut self, secs: u64) {
        if secs != self.secs {
            self.secs = secs;
            self.imf = imf_fixdate(secs);
            self.clf = clf(secs);
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
    fn clf_and_short_dates() {
        assert_eq!(clf(784111777), "06/Nov/1994:08:49:37 +0000");
        assert_eq!(short(1_795_575_600), "2026-11-25 03:00");
    }
}
