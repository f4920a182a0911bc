//! `http::dav::parse_propfind` and `parse_proppatch`: any body is an answer or a 400, never a
//! panic; what is read stays within the limits (`MAX_PROPS`), and every value a PROPPATCH
//! sets is itself well-formed content that reads back the same when set again.
#![no_main]
use barehttpd::http::dav::{MAX_PROPS, Find, Patch, parse_propfind, parse_proppatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Find::Props(names)) = parse_propfind(data) {
        assert!(names.len() <= MAX_PROPS);
    }
    if let Ok(patches) = parse_proppatch(data) {
        assert!(!patches.is_empty() && patches.len() <= MAX_PROPS);
        for p in patches {
            if let Patch::Set(_, value) = p {
                let again = format!(
                    "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><v xmlns=\"urn:f\">{value}</v></D:prop></D:set></D:propertyupdate>"
                );
                match parse_proppatch(again.as_bytes()).as_deref() {
                    Ok([Patch::Set(_, v)]) => assert_eq!(v, &value),
                    other => panic!("{value:?} did not read back: {other:?}"),
                }
            }
        }
    }
});
