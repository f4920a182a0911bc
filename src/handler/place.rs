//! Where a write lands: a decoded path under a write prefix split into the prefix's folder,
//! the folders below it and the last name (`Place`), the parent folder opened beneath the
//! prefix, and a new temporary file there. Shared by `upload` (PUT, DELETE) and `dav` (MKCOL,
//! COPY, MOVE, PROPPATCH), so that every write refuses the same names and resolves the same
//! way, and the 207 that names the members a DELETE, COPY or MOVE of a collection could not
//! write (`multistatus_failed`).

use super::ctx::Ctx;
use super::error::Error;
use super::names::{self, TMP_PREFIX};
use crate::http::target;
use crate::sys::{Errno, OwnedFd, fs};
use std::ffi::CString;

/// What a write changes, for the locks it must hold the tokens of (`lock::check_write`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The resource's content or properties only: a PUT over a file, a PROPPATCH.
    Content,
    /// A name added to or removed from its collection: a new file, MKCOL, the DELETE or
    /// MOVE of a file. Its collection's own locks (depth 0 included) apply too (RFC 4918
    /// §7.5: a collection's members are part of its state).
    Member,
    /// A collection with its members, and its name: the DELETE or MOVE of a collection, a
    /// COPY or MOVE over a destination.
    Tree,
}

/// Where a write lands: the directory of the `--write` prefix it falls under (relative to the
/// root, "." for the root itself), the path of the target's directory below that (`None`
/// for the prefix's own directory), and the target's last name.
pub struct Place {
    prefix: CString,
    below: Option<CString>,
    pub name: CString,
}

/// Split a decoded path (under a `--write` prefix) into its `Place`; refuse names the server
/// will not write.
pub fn split_parent(ctx: &Ctx, path: &[u8]) -> Result<Place, Error> {
    split_parent_at(ctx, ctx.rule.write.ok_or(Error::Forbidden)?, path)
}

/// `split_parent` for a path under the write prefix of length `prefix_len` (a COPY's or
/// MOVE's destination is under another rule than the request's path).
pub fn split_parent_at(ctx: &Ctx, prefix_len: usize, path: &[u8]) -> Result<Place, Error> {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    let slash = trimmed.iter().rposition(|&b| b == b'/').unwrap_or(0);
    let (parent, name) = (&trimmed[..slash], &trimmed[slash + 1..]);
    if name.is_empty() {
        return Err(Error::Forbidden); // the root itself
    }
    if name.starts_with(TMP_PREFIX) || name.contains(&b'\\') {
        return Err(Error::Forbidden);
    }
    if !ctx.site.dotfiles && target::has_dot_segment(path) {
        return Err(Error::Forbidden);
    }
    // Prefixes start and end with '/' (config::url_prefix), and `begin` checked that `path`
    // has one: "/dav/" gives "dav/", "/" gives ".". The parent is the prefix's directory
    // itself or below it.
    let prefix = match &path[1..prefix_len] {
        b"" => &b"."[..],
        p => p,
    };
    let below = parent.get(prefix_len..).filter(|b| !b.is_empty());
    let cstring = |b: &[u8]| CString::new(b).map_err(|_| Error::BadRequest);
    Ok(Place {
        prefix: cstring(prefix)?,
        below: below.map(cstring).transpose()?,
        name: cstring(name)?,
    })
}

/// The directory the target's name is in, resolved beneath the write prefix's directory and
/// not merely beneath the root: with `--follow-symlinks` a symlink inside the prefix that
/// leads elsewhere in the root (`dav/docs -> ../docs`) must not make that elsewhere writable.
/// The prefix's directory is opened beneath the root (as any path is), then the rest beneath
/// its descriptor (RESOLVE_BENEATH from there: EXDEV for a way out).
pub fn open_parent(ctx: &Ctx, place: &Place) -> Result<OwnedFd, Errno> {
    let top = fs::open_dir_beneath(ctx.root, &place.prefix)?;
    match &place.below {
        None => Ok(top),
        Some(below) => fs::open_dir_beneath(&top, below),
    }
}

/// A temporary name not used before by this process (`names::TMP_PREFIX`: never served,
/// listed or writable).
pub fn temp_name(pid: u32) -> CString {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    CString::new(names::temp_name(pid, n)).expect("no NUL in a generated name")
}

/// A new, uniquely named temporary file in `dir`, named with `pid`, this server's process
/// id (so that the next start can tell whether its writer is gone: `stale`).
pub fn create_temp(dir: &OwnedFd, pid: u32) -> Result<(OwnedFd, CString), Error> {
    for _ in 0..8 {
        let name = temp_name(pid);
        match fs::create_new_in(dir, &name) {
            Ok(fd) => return Ok((fd, name)),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(Error::Os(e)),
        }
    }
    Err(Error::Internal)
}

/// RFC 4918 §9.6.1, §9.8.8: the 207 of a DELETE, COPY or MOVE of a collection that failed
/// for some members: one response per member that failed (`failed`: its path below `base`,
/// the decoded path of the collection, and its status), none for their ancestors.
#[cfg(feature = "dav")]
pub fn multistatus_failed(r: &mut super::reply::Reply, base: &[u8], failed: &[(Vec<u8>, u16)]) {
    use crate::http::dav;
    let mut out = Vec::with_capacity(256 + failed.len() * 128);
    dav::multistatus_start(&mut out);
    for (p, status) in failed {
        let mut full = base.to_vec();
        full.extend_from_slice(p);
        let mut href = Vec::with_capacity(full.len() + 8);
        target::encode_path(&full, &mut href);
        dav::response_status(&mut out, &href, *status);
    }
    dav::multistatus_end(&mut out);
    r.start(207);
    r.header("Content-Type", b"application/xml; charset=utf-8");
    r.body_shared(&std::sync::Arc::from(out));
}
