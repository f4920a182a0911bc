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
//! A lock is tied to the principal who took it (RFC 4918 §6.4): when the server
//! authenticates writes (`--auth-file`), a LOCK records the user name of its verified
//! credentials with the lock, and a write, refresh or UNLOCK that submits the lock's token
//! counts only from that same user (`Lock::allows`); from another user, or from none, the
//! token is as if not submitted for that lock (423 `lock-token-submitted`; an UNLOCK is 403
//! and the lock stays). Without authentication (no `--auth-file`, writes open to anyone
//! with `--write-without-auth`) a lock has no principal and its token alone is enough. The
//! `If` field's conditions are not about principals: a token of a lock on the resource
//! makes its condition true whoever sends it, so another user's write with that token is
//! 423, not 412. The user name is never shown: `lockdiscovery`'s `owner` is what the client
//! sent.
//!
//! It does not parse XML or the `If` field (`http::dav`, `http::if_header`) and answers no
//! request itself; `dav` answers LOCK and UNLOCK with it. It does not verify credentials:
//! the router has (`handler::authorize`, off the event loop when needed) before any write
//! reaches a handler, so the user name of a write's `Authorization` field is its
//! verified principal (`principal`).

use super::ctx::Ctx;
use super::error::Error;
pub use super::place::Scope;
use crate::http::parse::Request;
use std::sync::{Mutex, PoisonError};

/// Most locks held at once, all sites together: each costs its path, token and owner
/// (under 6 KiB at worst, a few hundred bytes as clients send them), and with
/// `--auth-file` its creator's user name (one of the credentials file's, verified, so no
/// longer than the file's longest), so the table stays within about 12 MiB plus that many
/// names whatever a flood of LOCKs asks; past it a LOCK gets 503.
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
    /// The principal who took it (§6.4): the user name of the LOCK's verified credentials
    /// when writes are authenticated; `None` without authentication. Never shown to clients.
    pub user: Option<Box<[u8]>>,
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

/// What a refresh (§9.10.2) found.
#[derive(Debug)]
pub enum Refreshed {
    /// The lock, its timeout started again.
    Done(Lock),
    /// The only locks the tokens name on this path are another principal's: the root of
    /// one of them, left as it was.
    NotYours(Box<[u8]>),
    /// No lock on this path has any of the tokens.
    Unknown,
}

/// What an UNLOCK (§9.11) found.
#[derive(Debug, PartialEq, Eq)]
pub enum Released {
    Done,
    /// The lock with that token covers the path but is another principal's: it stays.
    NotYours,
    /// No lock with that token covers the path.
    Unknown,
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

    /// Whether a request from `principal` that submits this lock's token may use it
    /// (§6.4): a lock taken by a user only by that same user; one taken without
    /// authentication by anyone who has the token.
    pub fn allows(&self, principal: Option<&[u8]>) -> bool {
        self.user.as_deref().is_none_or(|u| principal == Some(u))
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

    /// §9.10.2: a refresh by `principal` of the lock covering `path` whose token is one of
    /// `tokens`: its timeout starts again. Another principal's lock is not refreshed (§6.4).
    pub fn refresh<'t>(
        &self,
        site: &str,
        path: &[u8],
        tokens: impl Iterator<Item = &'t [u8]>,
        principal: Option<&[u8]>,
        timeout: u64,
        now: u64,
    ) -> Refreshed {
        let path = key(path);
        self.with(now, |t| {
            let mut theirs = None;
            for tok in tokens {
                let named = t
                    .iter()
                    .position(|l| l.token.as_bytes() == tok && l.covers(site, path));
                let Some(i) = named else { continue };
                if !t[i].allows(principal) {
                    theirs.get_or_insert_with(|| t[i].path.clone());
                    continue;
                }
                let l = &mut t[i];
                l.timeout = timeout;
                l.expires = now.saturating_add(timeout);
                return Refreshed::Done(l.clone());
            }
            theirs.map_or(Refreshed::Unknown, Refreshed::NotYours)
        })
    }

    /// §9.11: remove the lock with `token` if it covers `path` and `principal` may use it
    /// (§6.4); another principal's lock stays.
    pub fn release(
        &self,
        site: &str,
        path: &[u8],
        token: &[u8],
        principal: Option<&[u8]>,
        now: u64,
    ) -> Released {
        let path = key(path);
        self.with(now, |t| {
            // Tokens are unique (122 random bits), so at most one lock has this one.
            let Some(i) = t
                .iter()
                .position(|l| l.token.as_bytes() == token && l.covers(site, path))
            else {
                return Released::Unknown;
            };
            if !t[i].allows(principal) {
                return Released::NotYours;
            }
            t.remove(i);
            Released::Done
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

/// The principal a write comes from (§6.4): with `--auth-file`, the user name of its Basic
/// credentials, which the router verified before the request reached a handler (every
/// method that calls into this module is a write under a write prefix, and there the
/// router asks for credentials whenever a credentials file is in force); without one,
/// nobody: writes are open and a lock's token is enough.
pub fn principal(req: &Request, ctx: &Ctx) -> Option<Box<[u8]>> {
    ctx.auth?;
    super::auth::user(req.header("authorization")).map(Vec::into_boxed_slice)
}

/// The 423 of a write that did not submit a token it may use for the lock rooted at
/// `root`: the body names that root (`lock-token-submitted`, RFC 4918 §16).
pub fn refused(ctx: &Ctx, root: &[u8]) -> Error {
    let mut r = ctx.locked.borrow_mut();
    r.clear();
    crate::http::target::encode_path(root, &mut r);
    Error::Locked
}

/// The check every write makes before it changes anything (RFC 4918 §7, §10.4): a method
/// that writes `path` calls it first, saying what the write changes (`Scope`).
///
/// 1. An `If` field that does not parse: 400.
/// 2. An `If` field whose lists all fail, tested against the lock table and the
///    resources' current entity tags: 412.
/// 3. A lock that covers what is written (with `Member`, or a lock of its collection; with
///    `Tree`, or of one of its members) whose token the `If` field does not submit, or
///    submits from another principal than the lock's (§6.4, `Lock::allows`): 423 with
///    `lock-token-submitted`.
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
    /// Who submitted them (`principal`).
    principal: Option<Box<[u8]>>,
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
            principal: principal(req, ctx),
        }
    }

    /// Whether every lock on the path now has its token among those submitted, by a
    /// principal who may use it.
    pub fn still_allowed(&self) -> bool {
        let now = crate::sys::time::unix_secs();
        self.locks
            .affecting(&self.site, &self.path, self.scope, now)
            .iter()
            .all(|l| {
                l.allows(self.principal.as_deref())
                    && self.tokens.iter().any(|t| **t == *l.token.as_bytes())
            })
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
    use super::{Scope, key, principal, refused, site_key};
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
            // Looked up only when a lock is in the way (it decodes the credentials).
            let who = if held.is_empty() {
                None
            } else {
                principal(req, ctx)
            };
            for l in &held {
                let submitted = parsed
                    .as_ref()
                    .is_some_and(|f| f.tokens().any(|t| t == l.token.as_bytes()));
                if !submitted || !l.allows(who.as_deref()) {
                    return Err(refused(ctx, &l.path));
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
            user: None,
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
        assert_eq!(
            t.release("", b"/d/x", b"a", None, 100),
            Released::Done,
            "released from a member"
        );
        assert_eq!(
            t.release("", b"/e", b"b", None, 100),
            Released::Unknown,
            "not this resource's token"
        );
        // Expired locks are gone.
        assert_eq!(t.len(110), 3, "a lock lasts at least its timeout");
        assert_eq!(t.len(111), 0);
    }

    /// §6.4: a lock taken by a user is that user's to refresh and release; one taken
    /// without authentication is anyone's who has its token.
    #[test]
    fn rfc4918_6_4_a_lock_is_its_principals() {
        let t = Locks::default();
        let mut a = lock("/a", true, false, "ta");
        a.user = Some(b"alice"[..].into());
        assert_eq!(t.grant(a, 100), Ok(()));
        assert_eq!(t.grant(lock("/n", true, false, "tn"), 100), Ok(()));
        let a = t.covering("", b"/a", 100).remove(0);
        assert!(a.allows(Some(b"alice")));
        assert!(!a.allows(Some(b"bob")) && !a.allows(Some(b"alicex")) && !a.allows(None));
        let n = t.covering("", b"/n", 100).remove(0);
        assert!(n.allows(None) && n.allows(Some(b"bob")));

        let tokens = || [&b"ta"[..]].into_iter();
        let r = t.refresh("", b"/a", tokens(), Some(b"bob"), 50, 101);
        assert!(
            matches!(&r, Refreshed::NotYours(root) if &**root == b"/a"),
            "{r:?}"
        );
        assert_eq!(t.covering("", b"/a", 101)[0].expires, 110, "not refreshed");
        let r = t.refresh("", b"/a", tokens(), None, 50, 101);
        assert!(matches!(r, Refreshed::NotYours(_)), "{r:?}");
        let r = t.refresh("", b"/a", tokens(), Some(b"alice"), 50, 101);
        assert!(
            matches!(&r, Refreshed::Done(l) if l.expires == 151),
            "{r:?}"
        );
        let r = t.refresh("", b"/a", [&b"zz"[..]].into_iter(), Some(b"alice"), 50, 101);
        assert!(matches!(r, Refreshed::Unknown), "{r:?}");

        assert_eq!(
            t.release("", b"/a", b"ta", Some(b"bob"), 101),
            Released::NotYours
        );
        assert_eq!(t.release("", b"/a", b"ta", None, 101), Released::NotYours);
        assert_eq!(t.len(101), 2, "the lock stays");
        assert_eq!(
            t.release("", b"/a", b"ta", Some(b"alice"), 101),
            Released::Done
        );
        assert_eq!(
            t.release("", b"/n", b"tn", Some(b"bob"), 101),
            Released::Done,
            "a lock without a principal goes with its token"
        );
        assert!(t.is_empty(101));
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
