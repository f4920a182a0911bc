//! WebDAV write locks (RFC 4918 §6, §7) and the one check every write makes against them:
//! `check_write`. PUT, DELETE, MKCOL, COPY, MOVE, PROPPATCH and LOCK call it before they
//! change anything, and so must any new method that writes.
//!
//! The table (`Locks`) is one per process, beside the workers' shared state
//! (`worker::Shared`), not in what a reload rebuilds: a SIGHUP keeps every lock. Every
//! worker thread reaches it through `Ctx::locks`; a mutex guards it, held for a scan of at
//! most `MAX_LOCKS` entries and never across a syscall. A lock is on a URL path within a
//! site (the site's first name is part of its key), never on an inode: a lock follows no
//! rename made outside WebDAV, and a MOVE or DELETE that is allowed drops the locks of what
//! it moved or removed. Expired locks are dropped lazily, whenever the table is used.
//!
//! It does not parse XML or the `If` field (`http::dav`, `http::if_header`) and answers no
//! request itself; `dav` answers LOCK and UNLOCK with it.

use super::ctx::Ctx;
use super::error::Error;
pub use super::place::Scope;
use crate::http::parse::Request;
use std::sync::{Mutex, PoisonError};

/// Most locks held at once, all sites together: each costs its path, token and owner
/// (under 6 KiB at worst, a few hundred bytes as clients send them), so the table stays
/// within about 12 MiB whatever a flood of LOCKs asks; past it a LOCK gets 503.
pub const MAX_LOCKS: usize = 2048;
/// Longest timeout granted, in seconds, whatever the client asks (`Infinite` included):
/// a client that vanishes holds its lock at most this long. Clients refresh well before
/// (davfs2 and Windows every few minutes).
pub const MAX_TIMEOUT: u64 = 3600;
/// Largest `owner` element kept, in bytes of XML (clients send a name or a URL).
pub const MAX_OWNER: usize = 1024;

/// One write lock.
#[derive(Clone, Debug)]
pub struct Lock {
    /// The site's key (its first name, "" for a site without names) and the decoded path,
    /// without a trailing slash ("/" for the root).
    pub site: Box<str>,
    pub path: Box<[u8]>,
    /// The state token: `urn:uuid:` and 122 random bits.
    pub token: Box<str>,
    pub exclusive: bool,
    /// Depth infinity: the members of a collection, present and future, are locked too.
    pub deep: bool,
    /// The `owner` element's content as the client sent it (XML).
    pub owner: Option<Box<str>>,
    /// Seconds granted, and when they run out (Unix seconds).
    pub timeout: u64,
    pub expires: u64,
}

/// Why a lock was not granted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Another lock holds a part of the same resources (423).
    Conflict,
    /// `MAX_LOCKS` are held (503).
    Full,
}

/// The process's locks.
#[derive(Default)]
pub struct Locks {
    table: Mutex<Vec<Lock>>,
}

/// A path as a lock key: no trailing slash, but "/" for the root.
pub fn key(path: &[u8]) -> &[u8] {
    match path.strip_suffix(b"/") {
        Some(b"") | None => path,
        Some(p) => p,
    }
}

/// Whether `path` is strictly below `dir` (both keys).
pub fn is_under(path: &[u8], dir: &[u8]) -> bool {
    if dir == b"/" {
        return path.len() > 1 && path.starts_with(b"/");
    }
    path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
}

impl Lock {
    /// Whether this lock applies to `path` (a key): it is its root, or a member of a deep one.
    pub fn covers(&self, site: &str, path: &[u8]) -> bool {
        &*self.site == site && (&*self.path == path || (self.deep && is_under(path, &self.path)))
    }
}

impl Locks {
    /// The table with the expired locks dropped. The clock counts whole seconds, so a lock
    /// stays through the second it expires in: it lasts at least its timeout.
    fn with<R>(&self, now: u64, f: impl FnOnce(&mut Vec<Lock>) -> R) -> R {
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        t.retain(|l| l.expires >= now);
        f(&mut t)
    }

    /// The locks a write of `path` must hold the tokens of: those covering it; with
    /// `Member` and `Tree` those of its collection too (whatever their depth); with `Tree`
    /// (a collection deleted, moved or overwritten whole) those of its members.
    pub fn affecting(&self, site: &str, path: &[u8], scope: Scope, now: u64) -> Vec<Lock> {
        let path = key(path);
        let parent = match path.iter().rposition(|&b| b == b'/') {
            Some(0) => &b"/"[..],
            Some(i) => &path[..i],
            None => path,
        };
        let member = scope != Scope::Content && path != b"/";
        let deep = scope == Scope::Tree;
        self.with(now, |t| {
            t.iter()
                .filter(|l| {
                    l.covers(site, path)
                        || (&*l.site == site
                            && ((deep && is_under(&l.path, path))
                                || (member && &*l.path == parent)))
                })
                .cloned()
                .collect()
        })
    }

    /// The locks covering `path` (what `lockdiscovery` shows).
    pub fn covering(&self, site: &str, path: &[u8], now: u64) -> Vec<Lock> {
        self.affecting(site, path, Scope::Content, now)
    }

    /// The locks covering `path` or any member of it (for a PROPFIND of a folder).
    pub fn around(&self, site: &str, path: &[u8], now: u64) -> Vec<Lock> {
        let path = key(path);
        self.with(now, |t| {
            t.iter()
                .filter(|l| l.covers(site, path) || (&*l.site == site && is_under(&l.path, path)))
                .cloned()
                .collect()
        })
    }

    /// Grant `new` unless it conflicts (§6.1: an exclusive lock shares its resources with
    /// no other lock; shared locks share with shared ones) or the table is full.
    pub fn grant(&self, new: Lock, now: u64) -> Result<(), Refused> {
        self.with(now, |t| {
            let overlap = |l: &Lock| {
                l.site == new.site
                    && (l.path == new.path
                        || (l.deep && is_under(&new.path, &l.path))
                        || (new.deep && is_under(&l.path, &new.path)))
            };
            if t.iter()
                .any(|l| overlap(l) && (l.exclusive || new.exclusive))
            {
                return Err(Refused::Conflict);
            }
            if t.len() >= MAX_LOCKS {
                return Err(Refused::Full);
            }
            t.push(new);
            Ok(())
        })
    }

    /// §9.10.2: a refresh of the lock covering `path` whose token is one of `tokens`: its
    /// timeout starts again. The lock as refreshed, or `None` when none matches.
    pub fn refresh<'t>(
        &self,
        site: &str,
        path: &[u8],
        mut tokens: impl Iterator<Item = &'t [u8]>,
        timeout: u64,
        now: u64,
    ) -> Option<Lock> {
        let path = key(path);
        self.with(now, |t| {
            let l = tokens.find_map(|tok| {
                t.iter()
                    .position(|l| l.token.as_bytes() == tok && l.covers(site, path))
            })?;
            let l = &mut t[l];
            l.timeout = timeout;
            l.expires = now.saturating_add(timeout);
            Some(l.clone())
        })
    }

    /// §9.11: remove the lock with `token` if it covers `path`; whether there was one.
    pub fn release(&self, site: &str, path: &[u8], token: &[u8], now: u64) -> bool {
        let path = key(path);
        self.with(now, |t| {
            let before = t.len();
            t.retain(|l| !(l.token.as_bytes() == token && l.covers(site, path)));
            t.len() != before
        })
    }

    /// Drop the locks rooted at `path` or below it: what they locked was deleted or moved.
    pub fn drop_under(&self, site: &str, path: &[u8], now: u64) {
        let path = key(path);
        self.with(now, |t| {
            t.retain(|l| !(&*l.site == site && (&*l.path == path || is_under(&l.path, path))))
        });
    }

    /// Locks held now.
    pub fn len(&self, now: u64) -> usize {
        self.with(now, |t| t.len())
    }

    pub fn is_empty(&self, now: u64) -> bool {
        self.len(now) == 0
    }
}

/// A new state token: `urn:uuid:` and a version 4 UUID (RFC 9562 §5.4) of 122 bits from
/// the kernel's random source, so that no client can guess another's lock.
pub fn new_token() -> Result<String, Error> {
    let mut b = [0u8; 16];
    crate::sys::random(&mut b).map_err(|_| Error::Internal)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(45);
    s.push_str("urn:uuid:");
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{x:02x}"));
    }
    Ok(s)
}

/// The key of the request's site in the lock table.
pub fn site_key<'c>(ctx: &'c Ctx) -> &'c str {
    ctx.site.names.first().map_or("", String::as_str)
}

/// The check every write makes before it changes anything (RFC 4918 §7, §10.4): a method
/// that writes `path` calls it first, saying what the write changes (`Scope`).
///
/// 1. An `If` field that does not parse: 400.
/// 2. An `If` field whose lists all fail, tested against the lock table and the
///    resources' current entity tags: 412.
/// 3. A lock that covers what is written (with `Member`, or a lock of its collection; with
///    `Tree`, or of one of its members) whose token the `If` field does not submit: 423
///    with `lock-token-submitted`.
///
/// The field is evaluated before the locks, as mod_dav does and litmus expects: a field
/// that fails is 412 even on a locked resource; one that holds without the lock's token
/// (`(Not <DAV:no-lock>)`) still gets 423.
pub fn check_write(req: &Request, ctx: &Ctx, path: &[u8], scope: Scope) -> Result<(), Error> {
    imp::check(req, ctx, path, scope, true, true)
}

/// What a PUT checked its locks against when its head came, kept with the upload so that
/// the check is made again when the body is in and the file is about to replace the old
/// one (`still_allowed`): a LOCK granted meanwhile stops the PUT (423).
pub struct Guard {
    locks: std::sync::Arc<Locks>,
    site: Box<str>,
    path: Box<[u8]>,
    scope: Scope,
    /// The state tokens the request's `If` field submitted.
    tokens: Vec<Box<[u8]>>,
}

impl Guard {
    /// A request's guard for a write of `path` (after `check_write` allowed it).
    pub fn of(req: &Request, ctx: &Ctx, path: &[u8], scope: Scope) -> Guard {
        let tokens = req
            .header("if")
            .and_then(|v| crate::http::if_header::parse(v).ok())
            .map_or_else(Vec::new, |f| f.tokens().map(Box::from).collect());
        Guard {
            locks: ctx.locks.clone(),
            site: site_key(ctx).into(),
            path: path.into(),
            scope,
            tokens,
        }
    }

    /// Whether every lock on the path now has its token among those submitted.
    pub fn still_allowed(&self) -> bool {
        let now = crate::sys::time::unix_secs();
        self.locks
            .affecting(&self.site, &self.path, self.scope, now)
            .iter()
            .all(|l| self.tokens.iter().any(|t| **t == *l.token.as_bytes()))
    }
}

/// Steps 1 and 3 of `check_write` only, for what a request writes besides its own target
/// (a COPY's or MOVE's destination), which the untagged lists of `If` are not about.
pub fn check_locks(req: &Request, ctx: &Ctx, path: &[u8], scope: Scope) -> Result<(), Error> {
    imp::check(req, ctx, path, scope, true, false)
}

/// Steps 1 and 2 of `check_write` only, for a LOCK of an existing resource (whose conflicts
/// are the lock table's to judge) and for an UNLOCK.
pub fn check_if(req: &Request, ctx: &Ctx, path: &[u8]) -> Result<(), Error> {
    imp::check(req, ctx, path, Scope::Content, false, true)
}

mod imp {
    use super::super::ctx::Ctx;
    use super::super::error::Error;
    use super::super::etag;
    use super::{Scope, key, site_key};
    use crate::http::dav;
    use crate::http::if_header::{self, Resources};
    use crate::http::parse::Request;
    use crate::http::target;
    use crate::sys::fs;
    use std::ffi::CString;

    pub(super) fn check(
        req: &Request,
        ctx: &Ctx,
        path: &[u8],
        scope: Scope,
        locks: bool,
        evaluate: bool,
    ) -> Result<(), Error> {
        let field = req.header("if");
        let parsed = match field {
            Some(v) => Some(if_header::parse(v).map_err(|_| Error::BadRequest)?),
            None => None,
        };
        if let Some(f) = parsed.as_ref().filter(|_| evaluate) {
            let mut state = State { req, ctx, path };
            if !f.holds(&mut state) {
                return Err(Error::PreconditionFailed);
            }
        }
        if locks {
            let site = site_key(ctx);
            let held = ctx.locks.affecting(site, path, scope, ctx.unix);
            for l in &held {
                let submitted = parsed
                    .as_ref()
                    .is_some_and(|f| f.tokens().any(|t| t == l.token.as_bytes()));
                if !submitted {
                    let mut root = ctx.locked.borrow_mut();
                    root.clear();
                    target::encode_path(&l.path, &mut root);
                    return Err(Error::Locked);
                }
            }
        }
        Ok(())
    }

    /// What the `If` field's conditions are tested against.
    struct State<'r, 'c, 'a> {
        req: &'r Request<'r, 'r>,
        ctx: &'r Ctx<'c>,
        path: &'a [u8],
    }

    impl State<'_, '_, '_> {
        /// The decoded path a list is about: the request's, or its tag's (an absolute URI
        /// on this server, or a path); `None` for a tag naming another server.
        fn resolve(&self, resource: Option<&[u8]>) -> Option<Vec<u8>> {
            let Some(tag) = resource else {
                return Some(self.path.to_vec());
            };
            let (authority, raw) = dav::destination(tag)?;
            if let Some(a) = authority
                && !dav::same_authority(a, self.req.host.unwrap_or(b""), self.ctx.secure)
            {
                return None;
            }
            let mut p = Vec::with_capacity(raw.len());
            target::decode_path(raw, &mut p).ok()?;
            Some(p)
        }
    }

    impl Resources for State<'_, '_, '_> {
        fn locked_with(&mut self, resource: Option<&[u8]>, token: &[u8]) -> bool {
            let Some(p) = self.resolve(resource) else {
                return false;
            };
            // The locks covering the resource, and those of its collection: a client adding
            // a member to a collection locked at depth 0 names that lock in an untagged list.
            let site = site_key(self.ctx);
            self.ctx
                .locks
                .affecting(site, &p, Scope::Member, self.ctx.unix)
                .iter()
                .any(|l| l.token.as_bytes() == token)
        }

        fn etag_is(&mut self, resource: Option<&[u8]>, etag: &[u8]) -> bool {
            let Some(p) = self.resolve(resource) else {
                return false;
            };
            let rel = key(&p).strip_prefix(b"/").unwrap_or(&p);
            let rel = if rel.is_empty() { &b"."[..] } else { rel };
            let Ok(rel) = CString::new(rel) else {
                return false;
            };
            let Ok(st) = fs::open_beneath(self.ctx.root, &rel).and_then(fs::fstat) else {
                return false;
            };
            let mut buf = [0u8; 64];
            if_header::strong_eq(etag::etag_of(&mut buf, &st), etag)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(path: &str, exclusive: bool, deep: bool, token: &str) -> Lock {
        Lock {
            site: "".into(),
            path: path.as_bytes().into(),
            token: token.into(),
            exclusive,
            deep,
            owner: None,
            timeout: 10,
            expires: 110,
        }
    }

    #[test]
    fn rfc4918_6_1_exclusive_and_shared_conflicts() {
        let t = Locks::default();
        assert_eq!(t.grant(lock("/d", false, true, "a"), 100), Ok(()));
        assert_eq!(t.grant(lock("/d", false, false, "b"), 100), Ok(()));
        assert_eq!(
            t.grant(lock("/d/x", true, false, "c"), 100),
            Err(Refused::Conflict),
            "a member of a deep shared lock cannot be locked exclusively"
        );
        assert_eq!(t.grant(lock("/e", true, false, "d"), 100), Ok(()));
        assert_eq!(
            t.grant(lock("/", false, true, "e"), 100),
            Err(Refused::Conflict),
            "a deep lock over an exclusive one"
        );
        assert_eq!(t.grant(lock("/", false, false, "f"), 100), Ok(()));
        assert_eq!(t.covering("", b"/d/x/y", 100).len(), 1);
        assert_eq!(t.affecting("", b"/", Scope::Tree, 100).len(), 4);
        // §7.5: adding or removing a member of /e (locked at depth 0) needs its token.
        assert_eq!(t.affecting("", b"/e/new", Scope::Content, 100).len(), 0);
        assert_eq!(t.affecting("", b"/e/new", Scope::Member, 100).len(), 1);
        assert!(t.release("", b"/d/x", b"a", 100), "released from a member");
        assert!(
            !t.release("", b"/e", b"b", 100),
            "not this resource's token"
        );
        // Expired locks are gone.
        assert_eq!(t.len(110), 3, "a lock lasts at least its timeout");
        assert_eq!(t.len(111), 0);
    }

    #[test]
    fn the_table_is_bounded() {
        let t = Locks::default();
        for i in 0..MAX_LOCKS {
            assert_eq!(
                t.grant(lock(&format!("/f{i}"), true, false, "t"), 0),
                Ok(())
            );
        }
        assert_eq!(t.grant(lock("/x", true, false, "t"), 0), Err(Refused::Full));
    }

    #[test]
    fn keys_and_tokens() {
        assert_eq!(key(b"/a/"), b"/a");
        assert_eq!(key(b"/"), b"/");
        assert!(is_under(b"/a/b", b"/a") && !is_under(b"/ab", b"/a") && is_under(b"/a", b"/"));
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), "urn:uuid:".len() + 36);
        assert_eq!(&a[23..24], "4", "version 4: {a}");
    }
}
