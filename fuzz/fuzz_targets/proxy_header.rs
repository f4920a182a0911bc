//! `http::proxy::parse`: for any first bytes of a connection, the answer is consistent with
//! reading them in any number of pieces, and a complete header lies within its limits.
#![no_main]
use barehttpd::http::proxy::{MAX_HEADER, MAX_V1, Parsed, V2_SIGNATURE, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    if let Parsed::Complete(_, n) = whole {
        assert!(n > 0 && n <= data.len() && n <= MAX_HEADER, "length {n}");
        if data.starts_with(&V2_SIGNATURE) {
            assert!(n >= 16);
        } else {
            assert!(n <= MAX_V1 && data[..n].ends_with(b"\r\n"), "v1 of {n}");
        }
        // Nothing after the header was looked at.
        assert_eq!(parse(&data[..n]), whole);
    }
    if whole == Parsed::Partial {
        assert!(data.len() < MAX_HEADER, "partial at {} bytes", data.len());
    }
    // A read can end anywhere: every prefix is Partial, or has decided as the whole did.
    for k in 0..data.len().min(MAX_HEADER) {
        match parse(&data[..k]) {
            Parsed::Partial => {}
            p => assert_eq!(p, whole, "prefix of {k} bytes decided otherwise"),
        }
    }
});
