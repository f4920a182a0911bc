//! WebDAV class 1 and 2 (RFC 4918) under the write prefixes: PROPFIND, PROPPATCH, MKCOL,
//! COPY, MOVE, LOCK and UNLOCK. PUT and DELETE stay `upload`'s (a DELETE of a collection
//! removes its tree there). The lock table and the check every write makes against it are
//! `lock`'s; this module grants and releases locks and shows them (`lockdiscovery`).
//!
//! Dead properties live in the resource's own extended attributes (`user.dav.NS LOCAL`),
//! not in a sidecar: the kernel sets each value whole (no torn write, no temporary file),
//! they follow a rename (MOVE) and vanish with their file (DELETE) with no code of ours,
//! and nothing a client can name ever serves them. COPY copies them. A file system without
//! user xattrs answers PROPPATCH with 403 per property; ext4 keeps about 4 KiB per file,
//! hence `MAX_VALUE` and `MAX_DEAD`.
//!
//! A PROPFIND answer of Depth 1 is streamed (`Members`, a `Body::Stream`): the folder is
//! read and its members described while the answer is sent, a 16 KiB piece at a time, so a
//! folder of 100,000 files costs no more memory than one of ten. Only an HTTP/1.0 client
//! (no chunks) gets it built whole, at most `MAX_MEMBERS` members (507 past them).
//! Depth: infinity is refused with 403 `propfind-finite-depth` (§9.1 allows it). Names are resolved beneath the write prefix
//! (`place::open_parent`), the last name never followed if a symlink.

use super::ctx::Ctx;
use super::error::Error;
use super::etag;
use super::lock::{self, Lock, Refused};
use super::names::{self, TMP_PREFIX};
use super::place;
use super::reply::{Produce, Reply};
use crate::http::dav::{self, Depth, Find, Name, Patch};
use crate::http::if_header;
use crate::http::parse::{Method, Request, Version};
use crate::http::target;
use crate::sys::fs::{self, tree};
use crate::sys::{Errno, OwnedFd};
use std::ffi::{CStr, CString};
use std::sync::Arc;

/// Most members one PROPFIND answer lists: about 1 KB each in memory, so 20 MB at most.
pub const MAX_MEMBERS: usize = 20_000;
/// Largest dead property value kept (ext4 keeps one block of xattrs per file).
pub const MAX_VALUE: usize = 4096;
/// Most dead properties per resource.
pub const MAX_DEAD: usize = 64;
/// The xattr namespace of dead properties.
const XATTR_PREFIX: &str = "user.dav.";

/// The live properties (§15), in the order allprop shows them.
const LIVE: &[&str] = &[
    "resourcetype",
    "getcontentlength",
    "getlastmodified",
    "getetag",
    "creationdate",
    "displayname",
    "getcontenttype",
    "supportedlock",
    "lockdiscovery",
];

/// Handle a WebDAV method (`body`: the request body, read whole for PROPFIND and PROPPATCH).
pub fn handle(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    path: &[u8],
    body: &[u8],
) -> Result<(), Error> {
    match req.method {
        Method::Propfind => propfind(req, ctx, r, path, body),
        Method::Proppatch => proppatch(req, ctx, r, path, body),
        Method::Mkcol => mkcol(req, ctx, r, path),
        Method::Copy | Method::Move => copy_move(req, ctx, r, path),
        Method::Lock => lock_method(req, ctx, r, path, body),
        Method::Unlock => unlock(req, ctx, r, path),
        _ => Err(Error::NotImplemented),
    }
}

/// A resource under a write prefix: its directory, and its name there.
struct Place {
    dir: OwnedFd,
    name: CString,
}

/// Where `path` is, under the write prefix of length `write`.
fn place(ctx: &Ctx, write: usize, path: &[u8]) -> Result<Place, Error> {
    let p = place::split_parent_at(ctx, write, path)?;
    let dir = place::open_parent(ctx, &p).map_err(Error::Parent)?;
    Ok(Place { dir, name: p.name })
}

fn mkcol(req: &Request, ctx: &Ctx, r: &mut Reply, path: &[u8]) -> Result<(), Error> {
    let write = ctx.rule.write.ok_or(Error::Forbidden)?;
    if path.len() <= write {
        // The prefix's own folder exists already: §9.3.1, 405.
        return Err(Error::MethodNotAllowed(names::ALLOW_WRITE));
    }
    let p = place(ctx, write, path)?;
    lock::check_write(req, ctx, path, lock::Scope::Member)?;
    match tree::mkdir_in(&p.dir, &p.name) {
        Ok(()) => {}
        Err(Errno::EXIST) => return Err(Error::MethodNotAllowed(names::ALLOW_WRITE)),
        Err(e) => return Err(Error::Os(e)),
    }
    let _ = fs::fsync(&p.dir);
    r.start(201);
    r.header("Content-Type", b"text/plain; charset=utf-8");
    r.body_bytes(b"Created\n");
    Ok(())
}

/// COPY and MOVE (§9.8, §9.9).
fn copy_move(req: &Request, ctx: &mut Ctx, r: &mut Reply, path: &[u8]) -> Result<(), Error> {
    let is_move = req.method == Method::Move;
    let write = ctx.rule.write.ok_or(Error::Forbidden)?;
    if path == b"/" || (is_move && path.len() <= write) {
        return Err(Error::Forbidden);
    }
    let raw = req.header("destination").ok_or(Error::BadRequest)?;
    let (authority, dest_raw) = dav::destination(raw).ok_or(Error::BadRequest)?;
    // §9.8.4: a destination on another server is the 502 of a gateway that cannot go there.
    if let Some(a) = authority {
        // The authority the request was sent to: an absolute-form target's, else Host.
        let host = req.host.unwrap_or(b"");
        if !dav::same_authority(a, host, ctx.secure) {
            return Err(Error::BadGateway);
        }
    }
    let mut dest = Vec::with_capacity(dest_raw.len());
    target::decode_path(dest_raw, &mut dest).map_err(|_| Error::BadRequest)?;
    let dest_rule = &ctx.site.rules[ctx.site.rule_at(&dest)];
    let dest_write = dest_rule.write.ok_or(Error::Forbidden)?;
    if dest.len() <= dest_write || names::hidden(&dest, ctx.site.dotfiles) {
        return Err(Error::Forbidden);
    }
    // The destination's writers must include this user too.
    if let Some(list) = &dest_rule.writers
        && ctx.auth.is_some()
    {
        let user = super::auth::user(req.header("authorization"));
        if !user
            .as_deref()
            .is_some_and(|u| list.iter().any(|n| n.as_bytes() == u))
        {
            return Err(Error::Forbidden);
        }
    }
    let trim = |p: &[u8]| p.strip_suffix(b"/").unwrap_or(p).to_vec();
    let (s, d) = (trim(path), trim(&dest));
    // Onto itself, into itself, or over its own ancestor: §9.8.5, 403.
    let under = |a: &[u8], b: &[u8]| a.len() > b.len() && a.starts_with(b) && a[b.len()] == b'/';
    if s == d || under(&d, &s) || under(&s, &d) {
        return Err(Error::Forbidden);
    }
    let overwrite = dav::overwrite(req.header("overwrite")).map_err(|_| Error::BadRequest)?;
    let depth = dav::depth(req.header("depth"), Depth::Infinity).map_err(|_| Error::BadRequest)?;
    if depth == Depth::One || (is_move && depth != Depth::Infinity) {
        return Err(Error::BadRequest);
    }
    let src = place(ctx, write, path)?;
    let st = fs::lstat_in(&src.dir, &src.name)?;
    let ty = fs::FileType::from_raw_mode(st.st_mode);
    if !matches!(ty, fs::FileType::Directory | fs::FileType::RegularFile) {
        return Err(Error::Forbidden);
    }
    // The locks: a MOVE takes its source away, members and all (§9.9.4); both methods
    // write the destination, a tree when it is one. Only the source is the request's own
    // target, which the untagged lists of `If` are about (§10.4.1).
    let is_dir = ty == fs::FileType::Directory;
    if is_move {
        let scope = if is_dir {
            lock::Scope::Tree
        } else {
            lock::Scope::Member
        };
        lock::check_write(req, ctx, path, scope)?;
    } else {
        lock::check_if(req, ctx, path)?;
    }
    lock::check_locks(req, ctx, &dest, lock::Scope::Tree)?;
    let dst = place(ctx, dest_write, &dest)?;
    let existed = match fs::lstat_in(&dst.dir, &dst.name) {
        Ok(_) if !overwrite => return Err(Error::PreconditionFailed),
        Ok(_) => true,
        Err(Errno::NOENT) => false,
        Err(e) => return Err(Error::Os(e)),
    };
    // §9.9.3: what a MOVE overwrites is deleted. The source and the destination are swapped
    // in one step where the file system can (a reader of the destination sees the old one
    // or the new one, a whole tree included), and the old one, now at the source's name,
    // is hidden under a temporary name and removed.
    let mut swapped = false;
    if is_move && existed {
        match tree::exchange(&src.dir, &src.name, &dst.dir, &dst.name) {
            Ok(()) => {
                swapped = true;
                let hidden = place::temp_name(ctx.pid);
                match fs::rename_in(&src.dir, &src.name, &hidden) {
                    Ok(()) => {
                        let _ = tree::remove_tree_in(&src.dir, &hidden, 0);
                    }
                    Err(_) => tree::remove_tree_in(&src.dir, &src.name, 0)?,
                }
            }
            // Not on this file system (or kernel): removed first, then renamed; between
            // the two the name is absent.
            Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP | Errno::XDEV) => {}
            Err(e) => return Err(Error::Os(e)),
        }
    }
    if existed && !swapped {
        // A COPY's destination, or a MOVE's that could not be swapped, is removed first.
        tree::remove_tree_in(&dst.dir, &dst.name, 0)?;
    }
    let mut failed: Vec<(Vec<u8>, u16)> = Vec::new();
    let mut at = Vec::new();
    if swapped {
        let _ = fs::fsync(&src.dir);
        ctx.locks.drop_under(lock::site_key(ctx), path, ctx.unix);
    } else if is_move {
        match tree::rename_between(&src.dir, &src.name, &dst.dir, &dst.name, true) {
            Ok(()) => {}
            // Another file system under the root: copy, then remove the source, unless a
            // member could not be copied (then both stay, and the 207 says which).
            Err(Errno::XDEV) => {
                let mut copy = Copy {
                    ctx,
                    at: &mut at,
                    failed: &mut failed,
                };
                copy.tree(&src.dir, &src.name, &dst.dir, &dst.name, true, 0)?;
                if failed.is_empty() {
                    tree::remove_tree_in(&src.dir, &src.name, 0)?;
                }
            }
            Err(e) => return Err(Error::Os(e)),
        }
        let _ = fs::fsync(&src.dir);
        if failed.is_empty() {
            ctx.locks.drop_under(lock::site_key(ctx), path, ctx.unix);
        }
    } else {
        let mut copy = Copy {
            ctx,
            at: &mut at,
            failed: &mut failed,
        };
        copy.tree(
            &src.dir,
            &src.name,
            &dst.dir,
            &dst.name,
            depth == Depth::Infinity,
            0,
        )?;
    }
    let _ = fs::fsync(&dst.dir);
    if !failed.is_empty() {
        // §9.8.8: named by their destination.
        place::multistatus_failed(r, dest.strip_suffix(b"/").unwrap_or(&dest), &failed);
        return Ok(());
    }
    if existed {
        r.start(204);
        r.no_body();
    } else {
        let mut location = Vec::with_capacity(dest.len() + 8);
        target::encode_path(&dest, &mut location);
        r.start(201);
        r.header("Location", &location);
        r.header("Content-Type", b"text/plain; charset=utf-8");
        r.body_bytes(b"Created\n");
    }
    Ok(())
}

/// A COPY (or a MOVE across file systems) under way: the members that could not be
/// copied, by their path below the destination, with their status.
struct Copy<'c, 'x> {
    ctx: &'c Ctx<'x>,
    at: &'c mut Vec<u8>,
    failed: &'c mut Vec<(Vec<u8>, u16)>,
}

impl Copy<'_, '_> {
    /// Copy `name` in `from` to the new name `to` in `into`: a file through a temporary
    /// file renamed into place, a directory with its members when `deep`; dead properties
    /// along. A member that cannot be copied (a symlink or special file, 403, or an error)
    /// is noted and the others still copied; an error of the top resource is returned.
    fn tree(
        &mut self,
        from: &OwnedFd,
        name: &CStr,
        into: &OwnedFd,
        to: &CStr,
        deep: bool,
        level: usize,
    ) -> Result<(), Error> {
        if level >= tree::MAX_TREE_DEPTH {
            return Err(Error::Forbidden);
        }
        let st = fs::lstat_in(from, name)?;
        match fs::FileType::from_raw_mode(st.st_mode) {
            fs::FileType::RegularFile => {
                let src = tree::open_in(from, name, false)?;
                let (tmp, tmp_name) = place::create_temp(into, self.ctx.pid)?;
                let done = tree::copy_bytes(&src, &tmp)
                    .and_then(|()| copy_props(&src, &tmp))
                    .and_then(|()| fs::fsync(&tmp))
                    .and_then(|()| fs::rename_in(into, &tmp_name, to));
                if let Err(e) = done {
                    let _ = fs::unlink_in(into, &tmp_name, false);
                    return Err(Error::Os(e));
                }
                Ok(())
            }
            fs::FileType::Directory => {
                tree::mkdir_in(into, to)?;
                let src = tree::open_in(from, name, true)?;
                let dst = tree::open_in(into, to, true)?;
                copy_props(&src, &dst)?;
                if !deep {
                    return Ok(());
                }
                let mut members: Vec<CString> = Vec::new();
                fs::read_dir(&src, |n, _| {
                    if !n.starts_with(TMP_PREFIX) {
                        members.push(CString::new(n).expect("no NUL in a directory entry"));
                    }
                    true
                })?;
                for m in &members {
                    let len = self.at.len();
                    self.at.push(b'/');
                    self.at.extend_from_slice(m.as_bytes());
                    if let Err(e) = self.tree(&src, m, &dst, m, true, level + 1) {
                        self.failed.push((self.at.clone(), e.status()));
                    }
                    self.at.truncate(len);
                }
                Ok(())
            }
            // A symlink or special file inside a tree is not copied: said, not hidden.
            _ => Err(Error::Forbidden),
        }
    }
}

/// Copy the dead properties of `src` to `dst`.
fn copy_props(src: &OwnedFd, dst: &OwnedFd) -> Result<(), Errno> {
    for xname in dead_names(src)? {
        let v = tree::xattr_get(src, &xname)?;
        tree::xattr_set(dst, &xname, &v)?;
    }
    Ok(())
}

/// The xattr names of a resource's dead properties.
fn dead_names(fd: &OwnedFd) -> Result<Vec<CString>, Errno> {
    let list = tree::xattr_names(fd)?;
    Ok(list
        .split(|&b| b == 0)
        .filter(|n| n.starts_with(XATTR_PREFIX.as_bytes()))
        .filter_map(|n| CString::new(n).ok())
        .collect())
}

/// The xattr name of a dead property: `user.dav.NS LOCAL` (a local name has no space).
fn xattr_name(n: &Name) -> Option<CString> {
    let s = format!("{XATTR_PREFIX}{} {}", n.ns, n.local);
    // XATTR_NAME_MAX.
    if s.len() > 255 {
        return None;
    }
    CString::new(s).ok()
}

/// A dead property's name from its xattr name.
fn name_of(x: &CStr) -> Option<Name> {
    let s = x.to_str().ok()?.strip_prefix(XATTR_PREFIX)?;
    let sp = s.rfind(' ')?;
    Some(Name {
        ns: s[..sp].to_string(),
        local: s[sp + 1..].to_string(),
    })
}

fn is_live(n: &Name) -> bool {
    n.ns == dav::DAV && LIVE.contains(&n.local.as_str())
}

fn proppatch(
    req: &Request,
    ctx: &Ctx,
    r: &mut Reply,
    path: &[u8],
    body: &[u8],
) -> Result<(), Error> {
    let write = ctx.rule.write.ok_or(Error::Forbidden)?;
    let patches = dav::parse_proppatch(body).map_err(|_| Error::BadRequest)?;
    let fd = open_resource(ctx, write, path)?;
    lock::check_write(req, ctx, path, lock::Scope::Content)?;
    // Checked first, applied after: §9.2 wants all or nothing.
    let mut statuses = vec![200u16; patches.len()];
    let mut count = dead_names(&fd).map_or(0, |v| v.len());
    for (i, p) in patches.iter().enumerate() {
        let (n, value) = match p {
            Patch::Set(n, v) => (n, Some(v)),
            Patch::Remove(n) => (n, None),
        };
        // Live properties are protected (§9.2); a name too long for an xattr cannot be kept.
        statuses[i] = if is_live(n) || xattr_name(n).is_none() {
            403
        } else if value.is_some_and(|v| v.len() > MAX_VALUE) {
            507
        } else {
            if value.is_some() {
                count += 1;
            }
            if count > MAX_DEAD { 507 } else { 200 }
        };
    }
    if statuses.iter().all(|&s| s == 200) {
        let mut undo: Vec<(CString, Option<Vec<u8>>)> = Vec::new();
        for (i, p) in patches.iter().enumerate() {
            let (n, value) = match p {
                Patch::Set(n, v) => (n, Some(v)),
                Patch::Remove(n) => (n, None),
            };
            let x = xattr_name(n).expect("checked above");
            undo.push((x.clone(), tree::xattr_get(&fd, &x).ok()));
            let done = match value {
                Some(v) => tree::xattr_set(&fd, &x, v.as_bytes()),
                None => tree::xattr_remove(&fd, &x),
            };
            if let Err(e) = done {
                for (x, old) in undo.iter().rev() {
                    let _ = match old {
                        Some(v) => tree::xattr_set(&fd, x, v),
                        None => tree::xattr_remove(&fd, x),
                    };
                }
                statuses = vec![424; patches.len()];
                statuses[i] = match e {
                    Errno::NOTSUP => 403,
                    e => Error::Os(e).status(),
                };
                break;
            }
        }
    } else {
        for s in &mut statuses {
            if *s == 200 {
                *s = 424;
            }
        }
    }
    let mut out = Vec::with_capacity(1024);
    dav::multistatus_start(&mut out);
    let mut href = Vec::with_capacity(path.len() + 8);
    target::encode_path(path, &mut href);
    dav::response_start(&mut out, &href);
    let mut done: Vec<u16> = Vec::new();
    for &s in &statuses {
        if done.contains(&s) {
            continue;
        }
        done.push(s);
        dav::propstat_start(&mut out);
        for (p, _) in patches.iter().zip(&statuses).filter(|(_, t)| **t == s) {
            let (Patch::Set(n, _) | Patch::Remove(n)) = p;
            dav::prop(&mut out, n, None);
        }
        dav::propstat_end(&mut out, s);
    }
    dav::response_end(&mut out);
    dav::multistatus_end(&mut out);
    send_multistatus(r, out);
    Ok(())
}

/// Open the resource `path` names under the write prefix, for its properties.
fn open_resource(ctx: &Ctx, write: usize, path: &[u8]) -> Result<OwnedFd, Error> {
    if path.len() <= write {
        let rel = prefix_rel(&path[..write]);
        return Ok(fs::open_dir_beneath(ctx.root, &rel)?);
    }
    let p = place(ctx, write, path)?;
    let st = fs::lstat_in(&p.dir, &p.name)?;
    let is_dir = fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory;
    if path.ends_with(b"/") && !is_dir {
        return Err(Error::Os(Errno::NOTDIR));
    }
    Ok(tree::open_in(&p.dir, &p.name, is_dir)?)
}

/// A decoded path as a name relative to the root ("." for the root).
fn prefix_rel(path: &[u8]) -> CString {
    let p = path.strip_prefix(b"/").unwrap_or(path);
    let p = p.strip_suffix(b"/").unwrap_or(p);
    CString::new(if p.is_empty() { &b"."[..] } else { p }).unwrap_or_else(|_| c".".into())
}

fn send_multistatus(r: &mut Reply, out: Vec<u8>) {
    r.start(207);
    r.header("Content-Type", b"application/xml; charset=utf-8");
    r.body_shared(&Arc::from(out));
}

fn propfind(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    path: &[u8],
    body: &[u8],
) -> Result<(), Error> {
    if !ctx.rule.listing && ctx.rule.write.is_none() {
        return Err(Error::MethodNotAllowed(names::allow(false)));
    }
    if names::hidden(path, ctx.site.dotfiles) {
        return Err(Error::NotFound);
    }
    let depth = dav::depth(req.header("depth"), Depth::Infinity).map_err(|_| Error::BadRequest)?;
    let find = dav::parse_propfind(body).map_err(|_| Error::BadRequest)?;
    if depth == Depth::Infinity {
        r.start(403);
        r.header("Content-Type", b"application/xml; charset=utf-8");
        r.body_bytes(&dav::error_body("propfind-finite-depth"));
        return Ok(());
    }
    let fd = match ctx.rule.write {
        Some(w) => open_resource(ctx, w, path)?,
        None => fs::open_beneath(ctx.root, &prefix_rel(path))?,
    };
    let st = fs::fstat(&fd)?;
    let is_dir = fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory;
    if path.ends_with(b"/") && !is_dir {
        return Err(Error::NotFound);
    }
    let mut href = Vec::with_capacity(path.len() + 8);
    target::encode_path(path, &mut href);
    if is_dir && !href.ends_with(b"/") {
        href.push(b'/');
    }
    let mut out = Vec::with_capacity(4096);
    dav::multistatus_start(&mut out);
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    let display = trimmed.rsplit(|&b| b == b'/').next().unwrap_or(b"");
    let site = lock::site_key(ctx);
    let locks = Locking {
        lockable: ctx.rule.write.is_some(),
        site: site.into(),
        held: if is_dir && depth == Depth::One {
            ctx.locks.around(site, path, ctx.unix)
        } else {
            ctx.locks.covering(site, path, ctx.unix)
        },
    };
    let lk = LockState {
        locks: &locks,
        path,
    };
    describe(&mut out, &fd, &st, &href, display, &find, &lk);
    // HTTP/1.1: the members are described while they are sent, a piece at a time.
    if is_dir && depth == Depth::One && req.version != Version::Http10 {
        let entries = tree::Entries::open(&fd)?;
        r.start(207);
        r.header("Content-Type", b"application/xml; charset=utf-8");
        r.body_stream(Box::new(Members {
            dir: fd,
            entries,
            href,
            find,
            dotfiles: ctx.site.dotfiles,
            first: Some(out),
            locks,
            path: path.to_vec(),
        }));
        return Ok(());
    }
    // HTTP/1.0 has no chunks: the answer is made whole, up to `MAX_MEMBERS` members.
    if is_dir && depth == Depth::One {
        let mut members: Vec<Vec<u8>> = Vec::new();
        let mut too_many = false;
        fs::read_dir(&fd, |n, _| {
            if names::hidden_name(n, ctx.site.dotfiles) {
                return true;
            }
            if members.len() >= MAX_MEMBERS {
                too_many = true;
                return false;
            }
            members.push(n.to_vec());
            true
        })?;
        if too_many {
            r.start(507);
            r.header("Content-Type", b"application/xml; charset=utf-8");
            r.body_bytes(&dav::error_body("number-of-matches-within-limits"));
            return Ok(());
        }
        for m in members {
            describe_member(&mut out, &fd, &href, &m, &find, &locks, path);
        }
    }
    dav::multistatus_end(&mut out);
    send_multistatus(r, out);
    Ok(())
}

/// The members of a collection described while they are sent (`Body::Stream`): the
/// answer holds one directory buffer and one piece, whatever the folder's size.
struct Members {
    dir: OwnedFd,
    entries: tree::Entries,
    href: Vec<u8>,
    find: Find,
    dotfiles: bool,
    /// The multistatus's start and the collection's own response, sent first.
    first: Option<Vec<u8>>,
    /// The locks on the folder and below it, as they were when the answer began.
    locks: Locking,
    /// The folder's decoded path.
    path: Vec<u8>,
}

/// What `supportedlock` and `lockdiscovery` show: whether the resources can be locked
/// (under a write prefix), and the locks that may cover them.
struct Locking {
    lockable: bool,
    site: Box<str>,
    held: Vec<Lock>,
}

/// Bytes of members described per piece of a streamed PROPFIND answer.
const PIECE: usize = 16 * 1024;

impl Produce for Members {
    fn fill(&mut self, out: &mut Vec<u8>) -> Result<bool, crate::sys::Errno> {
        if let Some(first) = self.first.take() {
            out.extend_from_slice(&first);
            return Ok(true);
        }
        while out.len() < PIECE {
            match self.entries.next_name() {
                Some(Ok(name)) => {
                    if !names::hidden_name(&name, self.dotfiles) {
                        describe_member(
                            out,
                            &self.dir,
                            &self.href,
                            &name,
                            &self.find,
                            &self.locks,
                            &self.path,
                        );
                    }
                }
                // An error while reading ends the list where it is: the head is sent.
                Some(Err(_)) | None => {
                    dav::multistatus_end(out);
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

/// The response of the member `name` of the collection open as `dir` (at `href`); nothing
/// for a member that cannot be opened (a symlink, a name gone since it was read).
fn describe_member(
    out: &mut Vec<u8>,
    dir: &OwnedFd,
    href: &[u8],
    name: &[u8],
    find: &Find,
    locks: &Locking,
    folder: &[u8],
) {
    let Ok(cname) = CString::new(name) else {
        return;
    };
    let Ok(child) = tree::open_in(dir, &cname, false) else {
        return;
    };
    let Ok(st) = fs::fstat(&child) else {
        return;
    };
    let is_dir = fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory;
    let mut h = Vec::with_capacity(href.len() + name.len() + 8);
    h.extend_from_slice(href);
    target::encode_path(name, &mut h);
    if is_dir {
        h.push(b'/');
    }
    let mut path = lock::key(folder).to_vec();
    if path != b"/" {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    let lk = LockState { locks, path: &path };
    describe(out, &child, &st, &h, name, find, &lk);
}

/// One `<D:response>` of a PROPFIND: what `find` asks of the resource open as `fd`.
fn describe(
    out: &mut Vec<u8>,
    fd: &OwnedFd,
    st: &fs::Stat,
    href: &[u8],
    display: &[u8],
    find: &Find,
    lk: &LockState,
) {
    let is_dir = fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory;
    dav::response_start(out, href);
    let dead = dead_names(fd).unwrap_or_default();
    match find {
        Find::PropName | Find::AllProp => {
            let values = matches!(find, Find::AllProp);
            dav::propstat_start(out);
            for l in LIVE {
                let n = Name::dav(l);
                if let Some(v) = live(&n, st, is_dir, display, lk) {
                    dav::prop(out, &n, values.then_some(v.as_slice()));
                }
            }
            for x in &dead {
                let Some(n) = name_of(x) else { continue };
                let v = if values {
                    tree::xattr_get(fd, x).ok()
                } else {
                    None
                };
                dav::prop(out, &n, v.as_deref());
            }
            dav::propstat_end(out, 200);
        }
        Find::Props(names) => {
            let mut missing: Vec<&Name> = Vec::new();
            let mut found = false;
            for n in names {
                let v = if is_live(n) {
                    live(n, st, is_dir, display, lk)
                } else {
                    xattr_name(n).and_then(|x| tree::xattr_get(fd, &x).ok())
                };
                match v {
                    Some(v) => {
                        if !found {
                            dav::propstat_start(out);
                            found = true;
                        }
                        dav::prop(out, n, Some(&v));
                    }
                    None => missing.push(n),
                }
            }
            if found {
                dav::propstat_end(out, 200);
            }
            if !missing.is_empty() {
                dav::propstat_start(out);
                for n in missing {
                    dav::prop(out, n, None);
                }
                dav::propstat_end(out, 404);
            }
        }
    }
    dav::response_end(out);
}

/// A live property's value as XML, if the resource has it.
fn live(n: &Name, st: &fs::Stat, is_dir: bool, display: &[u8], lk: &LockState) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    match n.local.as_str() {
        "resourcetype" => {
            if is_dir {
                v.extend_from_slice(b"<D:collection/>");
            }
        }
        "getcontentlength" if !is_dir => {
            crate::http::response::push_u64(&mut v, st.st_size.max(0) as u64)
        }
        "getlastmodified" => {
            v.extend_from_slice(&crate::http::date::imf_fixdate(st.st_mtime.max(0) as u64))
        }
        "getetag" => {
            let mut buf = [0u8; 64];
            dav::push_escaped(&mut v, etag::etag_of(&mut buf, st));
        }
        "creationdate" => {
            v.extend_from_slice(crate::http::date::iso8601(st.st_ctime.max(0) as u64).as_bytes())
        }
        "displayname" => dav::push_escaped(&mut v, display),
        "getcontenttype" if !is_dir => {
            let (ty, texty) = super::mime::content_type(display);
            v.extend_from_slice(ty.as_bytes());
            if texty {
                v.extend_from_slice(b"; charset=utf-8");
            }
        }
        "supportedlock" => {
            if lk.locks.lockable {
                v.extend_from_slice(dav::SUPPORTED_LOCK);
            }
        }
        "lockdiscovery" => {
            let path = lock::key(lk.path);
            for l in lk
                .locks
                .held
                .iter()
                .filter(|l| l.covers(&lk.locks.site, path))
            {
                let mut root = Vec::with_capacity(l.path.len() + 8);
                target::encode_path(&l.path, &mut root);
                dav::activelock(&mut v, &active(l, &root));
            }
        }
        _ => return None,
    }
    Some(v)
}

/// The locks that cover one resource of a PROPFIND: from `Locking`, those over `path`.
struct LockState<'a> {
    locks: &'a Locking,
    path: &'a [u8],
}

/// A lock as `lockdiscovery` shows it, its root percent-encoded in `root`.
fn active<'a>(l: &'a Lock, root: &'a [u8]) -> dav::ActiveLock<'a> {
    dav::ActiveLock {
        exclusive: l.exclusive,
        deep: l.deep,
        owner: l.owner.as_deref(),
        timeout: l.timeout,
        token: &l.token,
        root,
    }
}

/// LOCK (§9.10): a new lock, or with no body a refresh of one named in `If`.
fn lock_method(
    req: &Request,
    ctx: &Ctx,
    r: &mut Reply,
    path: &[u8],
    body: &[u8],
) -> Result<(), Error> {
    let write = ctx.rule.write.ok_or(Error::Forbidden)?;
    let depth = dav::depth(req.header("depth"), Depth::Infinity).map_err(|_| Error::BadRequest)?;
    if depth == Depth::One {
        return Err(Error::BadRequest); // §9.10.3: 0 or infinity
    }
    let timeout = dav::timeout(req.header("timeout"))
        .unwrap_or(lock::MAX_TIMEOUT)
        .clamp(1, lock::MAX_TIMEOUT);
    let site = lock::site_key(ctx);
    if body.iter().all(u8::is_ascii_whitespace) {
        // §9.10.2: a refresh names its lock in the If field.
        let field = req.header("if").ok_or(Error::BadRequest)?;
        let f = if_header::parse(field).map_err(|_| Error::BadRequest)?;
        let who = lock::principal(req, ctx);
        return match ctx
            .locks
            .refresh(site, path, f.tokens(), who.as_deref(), timeout, ctx.unix)
        {
            lock::Refreshed::Done(l) => lock_answer(r, 200, &l),
            // §6.4: another principal's token is as if not submitted. A refresh changes the
            // locked resource's lock state, so it gets what any write of a locked resource
            // without its token gets: 423 with `lock-token-submitted` naming the lock's
            // root (§16), one answer for every write made with another principal's token.
            // UNLOCK's 403 is §9.11.1's, for UNLOCK alone; a 412 would say the token
            // matched no lock, which is false. The lock is left as it was.
            lock::Refreshed::NotYours(root) => Err(lock::refused(ctx, &root)),
            lock::Refreshed::Unknown => Err(Error::PreconditionFailed),
        };
    }
    let info = dav::parse_lockinfo(body).map_err(|_| Error::BadRequest)?;
    if info
        .owner
        .as_ref()
        .is_some_and(|o| o.len() > lock::MAX_OWNER)
    {
        return Err(Error::BadRequest);
    }
    // §7.3: a LOCK of an unmapped URL makes an empty resource there.
    let mut create = None;
    if path.len() > write {
        let p = place(ctx, write, path)?;
        match fs::lstat_in(&p.dir, &p.name) {
            Ok(_) => {}
            Err(Errno::NOENT) if path.ends_with(b"/") => return Err(Error::Conflict),
            Err(Errno::NOENT) => create = Some(p),
            Err(e) => return Err(Error::Os(e)),
        }
    }
    if create.is_some() {
        // A new member of a collection: that collection's locks must allow it.
        lock::check_write(req, ctx, path, lock::Scope::Member)?;
    } else {
        lock::check_if(req, ctx, path)?;
    }
    let l = Lock {
        site: site.into(),
        path: lock::key(path).into(),
        token: lock::new_token()?.into(),
        exclusive: info.exclusive,
        deep: depth == Depth::Infinity,
        owner: info.owner.map(String::into_boxed_str),
        // §6.4: the lock is this principal's (nobody's without authentication).
        user: lock::principal(req, ctx),
        timeout,
        expires: ctx.unix.saturating_add(timeout),
    };
    ctx.locks.grant(l.clone(), ctx.unix).map_err(|e| match e {
        Refused::Conflict => Error::LockConflict,
        Refused::Full => Error::TooManyLocks,
    })?;
    let mut status = 200;
    if let Some(p) = create {
        match fs::create_new_in(&p.dir, &p.name) {
            Ok(_) => {
                let _ = fs::fsync(&p.dir);
                status = 201;
            }
            Err(Errno::EXIST) => {}
            Err(e) => {
                let who = l.user.as_deref();
                ctx.locks
                    .release(site, path, l.token.as_bytes(), who, ctx.unix);
                return Err(Error::Os(e));
            }
        }
    }
    lock_answer(r, status, &l)
}

/// The answer to a LOCK: its token in Lock-Token (§10.5) and its `lockdiscovery`.
fn lock_answer(r: &mut Reply, status: u16, l: &Lock) -> Result<(), Error> {
    let mut root = Vec::with_capacity(l.path.len() + 8);
    target::encode_path(&l.path, &mut root);
    let body = dav::lock_answer(&active(l, &root));
    let mut field = Vec::with_capacity(l.token.len() + 2);
    field.push(b'<');
    field.extend_from_slice(l.token.as_bytes());
    field.push(b'>');
    r.start(status);
    r.header("Lock-Token", &field);
    r.header("Content-Type", b"application/xml; charset=utf-8");
    r.body_shared(&Arc::from(body));
    Ok(())
}

/// UNLOCK (§9.11): the lock named in Lock-Token goes, if it covers the target (else 409,
/// `lock-token-matches-request-uri`) and it is the requester's (§6.4; else 403, which
/// §9.11.1 gives for a principal without permission to remove the lock, and it stays).
fn unlock(req: &Request, ctx: &Ctx, r: &mut Reply, path: &[u8]) -> Result<(), Error> {
    let token = req
        .header("lock-token")
        .and_then(dav::lock_token)
        .ok_or(Error::BadRequest)?;
    let who = lock::principal(req, ctx);
    match ctx
        .locks
        .release(lock::site_key(ctx), path, token, who.as_deref(), ctx.unix)
    {
        lock::Released::Done => {}
        lock::Released::NotYours => return Err(Error::Forbidden),
        lock::Released::Unknown => return Err(Error::Conflict),
    }
    r.start(204);
    r.no_body();
    Ok(())
}
