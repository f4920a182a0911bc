//! WebDAV class 1 (RFC 4918) under the write prefixes: PROPFIND, PROPPATCH, MKCOL, COPY and
//! MOVE. PUT and DELETE stay `upload`'s (a DELETE of a collection removes its tree there);
//! LOCK and UNLOCK are not implemented yet (501), so OPTIONS says `DAV: 1`.
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
use super::names::{self, TMP_PREFIX};
use super::place;
use super::reply::{Produce, Reply};
use crate::http::dav::{self, Depth, Find, Name, Patch};
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
        Method::Proppatch => proppatch(ctx, r, path, body),
        Method::Mkcol => mkcol(ctx, r, path),
        Method::Copy | Method::Move => copy_move(req, ctx, r, path),
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

fn mkcol(ctx: &Ctx, r: &mut Reply, path: &[u8]) -> Result<(), Error> {
    let write = ctx.rule.write.ok_or(Error::Forbidden)?;
    if path.len() <= write {
        // The prefix's own folder exists already: §9.3.1, 405.
        return Err(Error::MethodNotAllowed(names::ALLOW_WRITE));
    }
    let p = place(ctx, write, path)?;
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
    let dst = place(ctx, dest_write, &dest)?;
    let existed = match fs::lstat_in(&dst.dir, &dst.name) {
        Ok(_) if !overwrite => return Err(Error::PreconditionFailed),
        Ok(_) => {
            tree::remove_tree_in(&dst.dir, &dst.name, 0)?;
            true
        }
        Err(Errno::NOENT) => false,
        Err(e) => return Err(Error::Os(e)),
    };
    if is_move {
        match tree::rename_between(&src.dir, &src.name, &dst.dir, &dst.name, true) {
            Ok(()) => {}
            // Another file system under the root: copy, then remove the source.
            Err(Errno::XDEV) => {
                copy_tree(ctx, &src.dir, &src.name, &dst.dir, &dst.name, true, 0)?;
                tree::remove_tree_in(&src.dir, &src.name, 0)?;
            }
            Err(e) => return Err(Error::Os(e)),
        }
        let _ = fs::fsync(&src.dir);
    } else {
        copy_tree(
            ctx,
            &src.dir,
            &src.name,
            &dst.dir,
            &dst.name,
            depth == Depth::Infinity,
            0,
        )?;
    }
    let _ = fs::fsync(&dst.dir);
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

/// Copy `name` in `from` to the new name `to` in `into`: a file through a temporary file
/// renamed into place, a directory with its members when `deep`; dead properties along.
/// Symlinks and special files inside a tree are left out.
fn copy_tree(
    ctx: &Ctx,
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
            let (tmp, tmp_name) = place::create_temp(into, ctx.pid)?;
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
                copy_tree(ctx, &src, m, &dst, m, true, level + 1)?;
            }
            Ok(())
        }
        _ => Ok(()),
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

fn proppatch(ctx: &Ctx, r: &mut Reply, path: &[u8], body: &[u8]) -> Result<(), Error> {
    let write = ctx.rule.write.ok_or(Error::Forbidden)?;
    let patches = dav::parse_proppatch(body).map_err(|_| Error::BadRequest)?;
    let fd = open_resource(ctx, write, path)?;
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
    describe(&mut out, &fd, &st, &href, display, &find);
    // HTTP/1.1: the members are described while they are sent, a piece at a time.
    if is_dir && depth == Depth::One && req.version == Version::Http11 {
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
            describe_member(&mut out, &fd, &href, &m, &find);
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
                        describe_member(out, &self.dir, &self.href, &name, &self.find);
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
fn describe_member(out: &mut Vec<u8>, dir: &OwnedFd, href: &[u8], name: &[u8], find: &Find) {
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
    describe(out, &child, &st, &h, name, find);
}

/// One `<D:response>` of a PROPFIND: what `find` asks of the resource open as `fd`.
fn describe(
    out: &mut Vec<u8>,
    fd: &OwnedFd,
    st: &fs::Stat,
    href: &[u8],
    display: &[u8],
    find: &Find,
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
                if let Some(v) = live(&n, st, is_dir, display) {
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
                    live(n, st, is_dir, display)
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
fn live(n: &Name, st: &fs::Stat, is_dir: bool, display: &[u8]) -> Option<Vec<u8>> {
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
        "supportedlock" | "lockdiscovery" => {}
        _ => return None,
    }
    Some(v)
}
