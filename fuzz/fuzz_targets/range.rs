//! `http::range::resolve`: for any Range value and any length, the answer is well formed:
//! satisfiable ranges are non-empty, inside the representation, at most MAX_PARTS, and
//! never overlapping or adjacent once coalesced (when the client's order was not kept, the
//! ranges are ascending).
#![no_main]
use barehttpd::http::range::{MAX_PARTS, Ranges, resolve};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    // The first 8 bytes choose the length, small lengths more often.
    let raw = u64::from_le_bytes(data[..8].try_into().unwrap());
    let len = if raw & 1 == 0 { raw % 5000 } else { raw >> 1 };
    let value = &data[8..];
    match resolve(value, len) {
        Ranges::Ignore | Ranges::Unsatisfiable => {}
        Ranges::Satisfiable(parts) => {
            assert!(
                !parts.is_empty() && parts.len() <= MAX_PARTS,
                "{} parts",
                parts.len()
            );
            for r in &parts {
                assert!(r.start < r.end && r.end <= len, "range {r:?} of {len}");
            }
            let mut sorted = parts.clone();
            sorted.sort_by_key(|r| r.start);
            for w in sorted.windows(2) {
                // Either kept apart in the client's order, or merged: never overlapping.
                assert!(w[0].end <= w[1].start, "overlap {:?} {:?}", w[0], w[1]);
            }
        }
    }
});
