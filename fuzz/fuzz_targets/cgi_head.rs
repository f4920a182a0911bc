//! `http::cgi::parse_head`: a CGI program's header block never yields anything that could
//! split or smuggle into the client's response: no CR, LF or NUL in any name or value, names
//! are tokens, a status is 100-599, and the body starts inside the input.
#![no_main]
use barehttpd::http::cgi::parse_head;
use libfuzzer_sys::fuzz_target;

fn clean(v: &[u8]) -> bool {
    !v.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((h, n))) = parse_head(data) {
        assert!(n <= data.len());
        assert!(h.status == 0 || (100..600).contains(&h.status));
        assert!(clean(&h.reason));
        for v in [&h.location, &h.content_type].into_iter().flatten() {
            assert!(clean(v), "{v:?}");
        }
        for (name, value) in &h.other {
            assert!(!name.is_empty() && name.iter().all(|&b| barehttpd::http::parse::is_tchar(b)));
            assert!(clean(value), "{value:?}");
        }
    }
});
