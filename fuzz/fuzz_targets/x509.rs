//! `tls::x509`: the DER walk over certificates (the server's own, and ACME's downloads)
//! never panics, and what it reads stays inside the input: names are no longer than the
//! input, a serial or key id is a slice of it, a time is a real date.
#![no_main]
use barehttpd::tls::x509;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for n in x509::dns_names(data) {
        assert!(n.len() <= data.len());
    }
    for part in [x509::serial(data), x509::authority_key_id(data)].into_iter().flatten() {
        assert!(part.len() <= data.len());
    }
    for t in [x509::not_before(data), x509::not_after(data)].into_iter().flatten() {
        // 9999-12-31T23:59:60Z at most.
        assert!(t <= 253_402_300_800);
    }
});
