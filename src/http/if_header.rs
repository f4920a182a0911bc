//! WebDAV's `If` request field (RFC 4918 §10.4): its lists read into conditions, and the
//! rule that says whether the field as a whole holds. No I/O: what a condition is tested
//! against (the locks a resource has, its current entity tag) comes from the caller through
//! `Resources`, so the evaluation is a pure function that a unit test drives with a table.
//!
//! Grammar (§10.4.2), white space allowed between the parts:
//! ```text
//! If = ( 1*No-tag-list | 1*Tagged-list )
//! No-tag-list = List
//! Tagged-list = Resource-Tag 1*List
//! List = "(" 1*Condition ")"
//! Condition = ["Not"] (State-token | "[" entity-tag "]")
//! State-token = Coded-URL        ; "<" absolute-URI ">"
//! Resource-Tag = "<" Simple-ref ">"
//! ```
//! The field holds when any one list holds (§10.4.3), and a list holds when all its
//! conditions do. A state token is true when the resource is locked with that token; an
//! entity tag when it is the resource's current strong tag. Nothing is allocated beyond the
//! lists (bounded by `MAX_LISTS` and `MAX_CONDITIONS`); names borrow the field's bytes.

/// Most lists one field may hold: clients send one or two; the bound keeps a hostile field
/// from costing more than a few KiB of conditions to evaluate.
pub const MAX_LISTS: usize = 64;
/// Most conditions in one list (all of them, over all lists, at most `MAX_CONDITIONS`).
pub const MAX_CONDITIONS: usize = 256;

/// A field that does not follow the grammar (400).
#[derive(Debug, PartialEq, Eq)]
pub struct BadIf;

/// What a condition tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test<'a> {
    /// A state token (a lock token such as `urn:uuid:…`, or `DAV:no-lock`), without `<>`.
    Token(&'a [u8]),
    /// An entity tag, as written between `[` and `]` (quotes and any `W/` kept).
    ETag(&'a [u8]),
}

/// One condition: a test, perhaps negated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition<'a> {
    pub not: bool,
    pub test: Test<'a>,
}

/// A list of conditions, all of which must hold, about `resource` (a tagged list: the tag
/// as written, an absolute URI or path) or the request's own target (`None`).
#[derive(Debug, PartialEq, Eq)]
pub struct List<'a> {
    pub resource: Option<&'a [u8]>,
    pub conditions: Vec<Condition<'a>>,
}

/// The state of the resources a field names, as the server knows it.
pub trait Resources {
    /// Whether `resource` (`None`: the request's target) is locked with `token`.
    fn locked_with(&mut self, resource: Option<&[u8]>, token: &[u8]) -> bool;
    /// Whether `etag` is the current entity tag of `resource`.
    fn etag_is(&mut self, resource: Option<&[u8]>, etag: &[u8]) -> bool;
}

/// A whole field's lists.
#[derive(Debug, PartialEq, Eq)]
pub struct If<'a> {
    pub lists: Vec<List<'a>>,
}

impl<'a> If<'a> {
    /// Every state token the field submits (§10.4.1: naming a lock's token in the field
    /// is how a client shows that it holds the lock), negated or not.
    pub fn tokens(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.lists.iter().flat_map(|l| {
            l.conditions.iter().filter_map(|c| match c.test {
                Test::Token(t) => Some(t),
                Test::ETag(_) => None,
            })
        })
    }

    /// §10.4.3: the field holds when at least one of its lists does.
    pub fn holds(&self, r: &mut impl Resources) -> bool {
        self.lists.iter().any(|l| {
            l.conditions.iter().all(|c| {
                let v = match c.test {
                    Test::Token(t) => r.locked_with(l.resource, t),
                    Test::ETag(e) => r.etag_is(l.resource, e),
                };
                v != c.not
            })
        })
    }
}

/// Read an `If` field's value.
pub fn parse(value: &[u8]) -> Result<If<'_>, BadIf> {
    let mut p = Cursor { s: value, i: 0 };
    let mut lists: Vec<List> = Vec::new();
    let mut tagged: Option<bool> = None;
    let mut resource: Option<&[u8]> = None;
    let mut total = 0usize;
    loop {
        p.skip_ws();
        match p.peek() {
            None => break,
            Some(b'<') => {
                // A resource tag: the field is tagged throughout, or not at all (§10.4.2).
                if tagged == Some(false) {
                    return Err(BadIf);
                }
                tagged = Some(true);
                // A tag must be followed by a list before another tag.
                if resource.is_some() && lists.last().is_none_or(|l| l.resource != resource) {
                    return Err(BadIf);
                }
                resource = Some(p.angle()?);
                p.skip_ws();
                if p.peek() != Some(b'(') {
                    return Err(BadIf);
                }
            }
            Some(b'(') => {
                if tagged.is_none() {
                    tagged = Some(false);
                }
                p.i += 1;
                let mut conditions = Vec::new();
                loop {
                    p.skip_ws();
                    match p.peek() {
                        Some(b')') => {
                            p.i += 1;
                            break;
                        }
                        None => return Err(BadIf),
                        _ => {}
                    }
                    let not = p.keyword(b"Not");
                    if not {
                        p.skip_ws();
                    }
                    let test = match p.peek() {
                        Some(b'<') => Test::Token(p.angle()?),
                        Some(b'[') => Test::ETag(p.bracket()?),
                        _ => return Err(BadIf),
                    };
                    total += 1;
                    if total > MAX_CONDITIONS {
                        return Err(BadIf);
                    }
                    conditions.push(Condition { not, test });
                }
                if conditions.is_empty() || lists.len() >= MAX_LISTS {
                    return Err(BadIf);
                }
                lists.push(List {
                    resource,
                    conditions,
                });
            }
            Some(_) => return Err(BadIf),
        }
    }
    // A tag with no list after it, or no list at all.
    if lists.is_empty()
        || (resource.is_some() && lists.last().is_none_or(|l| l.resource != resource))
    {
        return Err(BadIf);
    }
    Ok(If { lists })
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// `Not`, case-insensitively, followed by a delimiter.
    fn keyword(&mut self, word: &[u8]) -> bool {
        let end = self.i + word.len();
        if self
            .s
            .get(self.i..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
            && matches!(self.s.get(end), Some(b' ' | b'\t' | b'<' | b'['))
        {
            self.i = end;
            return true;
        }
        false
    }

    /// `<...>`: the URI inside, not empty, with no white space or `<>` in it.
    fn angle(&mut self) -> Result<&'a [u8], BadIf> {
        self.delimited(b'<', b'>', |b| b > b' ' && b != b'<' && b < 0x7f)
    }

    /// `[...]`: an entity tag (RFC 9110 §8.8.3: `[W/]"etagc*"`; a space inside the quotes
    /// is taken too, as RFC 4918's own examples have it).
    fn bracket(&mut self) -> Result<&'a [u8], BadIf> {
        let tag = self.delimited(b'[', b']', |b| b >= b' ' && b != 0x7f)?;
        let opaque = tag.strip_prefix(b"W/").unwrap_or(tag);
        if opaque.len() < 2
            || opaque[0] != b'"'
            || opaque[opaque.len() - 1] != b'"'
            || opaque[1..opaque.len() - 1].contains(&b'"')
        {
            return Err(BadIf);
        }
        Ok(tag)
    }

    fn delimited(
        &mut self,
        open: u8,
        close: u8,
        ok: impl Fn(u8) -> bool,
    ) -> Result<&'a [u8], BadIf> {
        if self.peek() != Some(open) {
            return Err(BadIf);
        }
        let start = self.i + 1;
        let len = self.s[start..]
            .iter()
            .position(|&b| b == close)
            .ok_or(BadIf)?;
        let inner = &self.s[start..start + len];
        if inner.is_empty() || !inner.iter().all(|&b| ok(b)) {
            return Err(BadIf);
        }
        self.i = start + len + 1;
        Ok(inner)
    }
}

/// Whether two entity tags are the same by RFC 9110 §8.8.3.2's strong comparison: both
/// strong, and alike byte for byte.
pub fn strong_eq(a: &[u8], b: &[u8]) -> bool {
    !a.starts_with(b"W/") && !b.starts_with(b"W/") && a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resources for a test: (resource, token) locks and (resource, etag) tags.
    struct Table<'t> {
        locks: &'t [(Option<&'t [u8]>, &'t [u8])],
        tags: &'t [(Option<&'t [u8]>, &'t [u8])],
    }

    impl Resources for Table<'_> {
        fn locked_with(&mut self, resource: Option<&[u8]>, token: &[u8]) -> bool {
            self.locks.iter().any(|&(r, t)| r == resource && t == token)
        }
        fn etag_is(&mut self, resource: Option<&[u8]>, etag: &[u8]) -> bool {
            self.tags
                .iter()
                .any(|&(r, e)| r == resource && strong_eq(e, etag))
        }
    }

    const TOKEN: &[u8] = b"urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2";

    #[test]
    fn rfc4918_10_4_6_no_tag_lists() {
        let f = parse(b"(<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> [\"I am an ETag\"]) ([\"I am another ETag\"])").unwrap();
        assert_eq!(f.lists.len(), 2);
        assert_eq!(
            f.lists[0].conditions,
            vec![
                Condition {
                    not: false,
                    test: Test::Token(TOKEN)
                },
                Condition {
                    not: false,
                    test: Test::ETag(b"\"I am an ETag\"")
                }
            ]
        );
        assert_eq!(f.tokens().collect::<Vec<_>>(), vec![TOKEN]);
        // The first list holds when the lock and the tag both do; the second on its tag.
        let mut t = Table {
            locks: &[(None, TOKEN)],
            tags: &[(None, b"\"I am an ETag\"")],
        };
        assert!(f.holds(&mut t));
        let mut t = Table {
            locks: &[],
            tags: &[(None, b"\"I am another ETag\"")],
        };
        assert!(f.holds(&mut t));
        let mut t = Table {
            locks: &[],
            tags: &[(None, b"\"I am an ETag\"")],
        };
        assert!(!f.holds(&mut t), "the token is not the resource's lock");
    }

    #[test]
    fn rfc4918_10_4_7_not_and_no_lock() {
        // "(Not <DAV:no-lock>)" is true for any resource: no lock has that token.
        let f =
            parse(b"(Not <urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> <DAV:no-lock>)").unwrap();
        let mut t = Table {
            locks: &[],
            tags: &[],
        };
        assert!(!f.holds(&mut t), "<DAV:no-lock> itself never holds");
        let f = parse(b"(<urn:uuid:x>) (Not <DAV:no-lock>)").unwrap();
        assert!(f.holds(&mut t));
        assert!(f.lists[1].conditions[0].not);
        let f = parse(b"(NOT<DAV:no-lock>)").unwrap();
        assert!(f.holds(&mut t), "Not is case-insensitive");
    }

    #[test]
    fn rfc4918_10_4_8_tagged_lists() {
        let f = parse(b"<http://www.example.com/specs/> (<urn:uuid:a>) <http://www.example.com/other> ([\"t\"]) (Not <DAV:no-lock>)").unwrap();
        assert_eq!(f.lists.len(), 3);
        assert_eq!(
            f.lists[0].resource,
            Some(&b"http://www.example.com/specs/"[..])
        );
        assert_eq!(
            f.lists[2].resource,
            Some(&b"http://www.example.com/other"[..])
        );
        let mut t = Table {
            locks: &[(Some(b"http://www.example.com/specs/"), b"urn:uuid:a")],
            tags: &[],
        };
        assert!(f.holds(&mut t));
        // A token of another resource does not make a list about this one hold.
        let f = parse(b"<http://h/a> (<urn:uuid:a>)").unwrap();
        let mut t = Table {
            locks: &[(None, b"urn:uuid:a")],
            tags: &[],
        };
        assert!(!f.holds(&mut t));
    }

    #[test]
    fn weak_tags_never_match_strongly() {
        let f = parse(b"([W/\"a\"])").unwrap();
        let mut t = Table {
            locks: &[],
            tags: &[(None, b"W/\"a\"")],
        };
        assert!(!f.holds(&mut t));
        assert!(strong_eq(b"\"a\"", b"\"a\""));
    }

    #[test]
    fn malformed_fields_are_refused() {
        for bad in [
            &b""[..],
            b"   ",
            b"()",
            b"(<a>",
            b"<a>",
            b"<a> <b> (<c>)",
            b"(<a>) <b> (<c>)",
            b"<a> (<c>) (Not)",
            b"(Not [a])",
            b"([\"a\" ])",
            b"(<>)",
            b"(<a b>)",
            b"(Notx <a>)",
            b"x",
            b"(<a>) x",
            b"([\"a\"b\"])",
        ] {
            assert_eq!(parse(bad), Err(BadIf), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn limits() {
        let many = "(<a>)".repeat(MAX_LISTS + 1);
        assert_eq!(parse(many.as_bytes()), Err(BadIf));
        let ok = "(<a>)".repeat(MAX_LISTS);
        assert_eq!(parse(ok.as_bytes()).unwrap().lists.len(), MAX_LISTS);
        let long = format!("({})", "<a> ".repeat(MAX_CONDITIONS + 1));
        assert_eq!(parse(long.as_bytes()), Err(BadIf));
    }
}
