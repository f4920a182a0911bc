//! `http::if_header::parse` and `If::holds`: any field is lists or a 400, never a panic; what
//! is read stays within the limits, every condition borrows bytes of the field, and the
//! evaluation against resources that hold nothing (and against ones that hold everything)
//! terminates and agrees with the lists' own logic.
#![no_main]
use barehttpd::http::if_header::{MAX_CONDITIONS, MAX_LISTS, Resources, Test, parse};
use libfuzzer_sys::fuzz_target;

/// Every token is a lock, every tag current (`all`), or none is.
struct Uniform {
    all: bool,
}

impl Resources for Uniform {
    fn locked_with(&mut self, _: Option<&[u8]>, _: &[u8]) -> bool {
        self.all
    }
    fn etag_is(&mut self, _: Option<&[u8]>, _: &[u8]) -> bool {
        self.all
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(f) = parse(data) else {
        return;
    };
    assert!(!f.lists.is_empty() && f.lists.len() <= MAX_LISTS);
    let total: usize = f.lists.iter().map(|l| l.conditions.len()).sum();
    assert!(total <= MAX_CONDITIONS);
    let range = data.as_ptr_range();
    for l in &f.lists {
        assert!(!l.conditions.is_empty());
        for c in &l.conditions {
            let (Test::Token(b) | Test::ETag(b)) = c.test;
            assert!(!b.is_empty() && range.contains(&b.as_ptr()));
        }
    }
    // With every test true, a list holds iff it has no Not; with every test false, iff
    // all its conditions are negated.
    let expect_all = f.lists.iter().any(|l| l.conditions.iter().all(|c| !c.not));
    let expect_none = f.lists.iter().any(|l| l.conditions.iter().all(|c| c.not));
    assert_eq!(f.holds(&mut Uniform { all: true }), expect_all);
    assert_eq!(f.holds(&mut Uniform { all: false }), expect_none);
    assert!(f.tokens().count() <= total);
});
