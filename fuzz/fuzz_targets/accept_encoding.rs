//! `http::coding::AcceptEncoding`: any Accept-Encoding value is read without a panic, and the
//! coding chosen is one the resource has, that the client weighs above 0, and that it weighs
//! no less than any other the resource has.
#![no_main]
use barehttpd::http::coding::{AcceptEncoding, Coding};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte says which codings the resource has; the rest is the field's value.
    let Some((&mask, value)) = data.split_first() else {
        return;
    };
    let has = [mask & 1 != 0, mask & 2 != 0, mask & 4 != 0];
    let a = AcceptEncoding::parse(Some(value));
    assert!(a.identity_q() <= 1000);
    if let Some(c) = a.choose(has) {
        assert!(has[c as usize]);
        assert!(a.q(c) > 0 && a.q(c) <= 1000);
        for other in [Coding::Br, Coding::Zstd, Coding::Gzip] {
            assert!(!has[other as usize] || a.q(other) <= a.q(c), "{other:?} over {c:?}");
        }
    }
});
