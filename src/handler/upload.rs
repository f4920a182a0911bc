//! Writes: PUT (RFC 9110 §9.3.4) and DELETE (§9.3.5), allowed only under `--write` prefixes.
//!
//! A PUT body is streamed into a new temporary file in the target's own directory, then
//! fsync'd and renamed over the target, and the directory fsync'd: a reader sees the old file
//! or the whole new one, never a part. The temporary file is removed on every failure path by
//! `Upload`'s Drop (a client that disconnects, a timeout, a full disk), and its name starts
//! with `names::TMP_PREFIX`, which is never served, listed or writable; one a killed server
//! left is removed at the next start (`stale`). Names are resolved below the root by the
//! kernel (`open_dir_beneath`), and the final component is handled with *at calls that never
//! follow a symlink, so a link is replaced or removed as a link.
//!
//! It never creates directories implicitly, and removes them recursively only as a WebDAV
//! server (feature `dav`, RFC 4918 §9.6.1: DELETE of a collection), and it reads
//! no body itself: the connection streams the body into `Upload::write`. It never maps an OS
//! error to a status itself: a failure is an `Error`.

use super::ctx::Ctx;
use super::error::Error;
use super::etag;
use super::lock;
use super::names;
use super::place::{create_temp, open_parent, split_parent};
use super::reply::Reply;
use super::staging;
use crate::http::conditional::{self, Outcome, Preconditions};
use crate::http::parse::{Framing, Method, Request};
use crate::http::target;
use crate::sys::{Errno, OwnedFd, fs};
use std::ffi::{CStr, CString};
use std::sync::{Mutex, PoisonError};

/// A PUT in progress: the body goes to `tmp`, which becomes `name` in `dir` on `finish`.
pub struct Upload {
    dir: OwnedFd,
    tmp: OwnedFd,
    tmp_name: CString,
    name: CString,
    /// The request's preconditions, evaluated again when the body is in.
    conditions: Conditions,
    /// The locks, checked again when the body is in.
    #[cfg(feature = "dav")]
    guard: lock::Guard,
    committed: bool,
    max: u64,
    /// Body bytes received so far.
    pub received: u64,
    location: Vec<u8>,
    /// The request line and User-Agent, for the access-log line written at the end.
    pub line: Vec<u8>,
    pub agent: Option<Vec<u8>>,
    /// A PATCH of a resumable upload: `tmp` is its staging file, kept when the body breaks
    /// off, and renamed only once it holds the whole length.
    part: Option<Part>,
}

/// A resumable upload's chunk (`patch`).
struct Part {
    claim: staging::Claim,
    /// The final length (Upload-Length), and where this chunk starts (Upload-Offset).
    total: u64,
    start: u64,
}

impl Drop for Upload {
    fn drop(&mut self) {
        // A staging file keeps what arrived: the client resumes from there.
        if !self.committed && self.part.is_none() {
            let _ = fs::unlink_in(&self.dir, &self.tmp_name, false);
        }
    }
}

impl Upload {
    /// Append body bytes.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), Error> {
        self.received += data.len() as u64;
        if self.received > self.max {
            return Err(Error::TooLarge);
        }
        while !data.is_empty() {
            match fs::write(&self.tmp, data) {
                Ok(n) => data = &data[n..],
                Err(Errno::INTR) => {}
                Err(e) => return Err(Error::Os(e)),
            }
        }
        Ok(())
    }

    /// The whole body is in: make it the file, durably, and answer 201 or 204. A resumable
    /// upload's chunk that leaves the file short answers 204 with the new Upload-Offset.
    pub fn finish(mut self, r: &mut Reply) {
        if let Some(p) = &self.part {
            let at = p.start + self.received;
            let whole = match fs::fsync(&self.tmp).and_then(|()| fs::fstat(&self.tmp)) {
                Ok(st) => st.st_size.max(0) as u64,
                Err(e) => return r.fail(Error::Os(e)),
            };
            // The length on disk is what counts (checked, not assumed from the chunks).
            if whole != at || at < p.total {
                let mut n = Vec::with_capacity(20);
                crate::http::response::push_u64(&mut n, whole);
                r.start(204);
                r.header("Upload-Offset", &n);
                return r.no_body();
            }
        }
        let (st, existed) = match self.commit() {
            Ok(done) => done,
            Err(e) => return r.fail(e),
        };
        let mut buf = [0u8; 64];
        let etag = etag::etag_of(&mut buf, &st);
        if existed {
            r.start(204);
            r.header("ETag", etag);
            r.no_body();
        } else {
            r.start(201);
            r.header("ETag", etag);
            r.header("Location", &self.location);
            r.header("Content-Type", b"text/plain; charset=utf-8");
            r.body_bytes(b"Created\n");
        }
    }

    /// fsync the body, check the target and the preconditions again, rename the body over
    /// the target, and fsync the directory (the rename is durable once the directory is):
    /// the file's status as renamed, and whether it replaced one.
    ///
    /// RFC 9110 §13.1: the conditions must hold for the state the write replaces, not only
    /// the state when the upload began. This server commits one upload at a time, so that
    /// for every PUT it takes the check and the rename are one step: of two PUTs with the
    /// same If-Match, or two with `If-None-Match: *`, the second sees the first one's file
    /// and gets 412. A process other than this server writing the directory can still come
    /// between the check and the rename. Against that, a conditional PUT that found no file
    /// renames with RENAME_NOREPLACE, which fails if one appeared; a conditional replace
    /// (If-Match, If-Unmodified-Since) has no such guard, and that window remains.
    fn commit(&mut self) -> Result<(fs::Stat, bool), Error> {
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        fs::fsync(&self.tmp)?;
        let st = fs::fstat(&self.tmp)?;
        let existed = {
            let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
            let pre = self.conditions.borrow();
            let existed = check_target(&self.dir, &self.name, &pre)?;
            #[cfg(feature = "dav")]
            if !self.guard.still_allowed() {
                return Err(Error::Locked);
            }
            if existed || !pre.any() {
                fs::rename_in(&self.dir, &self.tmp_name, &self.name)?;
            } else {
                match fs::rename_noreplace_in(&self.dir, &self.tmp_name, &self.name) {
                    Ok(()) => {}
                    // A file appeared since the check: the condition held for a state gone.
                    Err(Errno::EXIST) => return Err(Error::PreconditionFailed),
                    // The file system or kernel cannot: the check above, under the lock,
                    // stands alone.
                    Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
                        fs::rename_in(&self.dir, &self.tmp_name, &self.name)?;
                    }
                    Err(e) => return Err(Error::Os(e)),
                }
            }
            existed
        };
        self.committed = true;
        if let Some(p) = self.part.take() {
            p.claim.done();
        }
        let _ = fs::fsync(&self.dir);
        Ok((st, existed))
    }
}

/// A request's precondition fields (RFC 9110 §13.1), copied to outlive the request head.
#[derive(Default)]
struct Conditions {
    if_match: Option<Box<[u8]>>,
    if_none_match: Option<Box<[u8]>>,
    if_unmodified_since: Option<Box<[u8]>>,
}

impl Conditions {
    fn of(pre: &Preconditions) -> Conditions {
        Conditions {
            if_match: pre.if_match.map(Box::from),
            if_none_match: pre.if_none_match.map(Box::from),
            // If-Modified-Since is for GET and HEAD only (§13.1.3).
            if_unmodified_since: pre.if_unmodified_since.map(Box::from),
        }
    }

    fn borrow(&self) -> Preconditions<'_> {
        Preconditions {
            if_match: self.if_match.as_deref(),
            if_none_match: self.if_none_match.as_deref(),
            if_modified_since: None,
            if_unmodified_since: self.if_unmodified_since.as_deref(),
        }
    }
}

/// Whether `name` exists in `dir`, once it is checked that it is not a directory and that the
/// preconditions hold for it as it is now (RFC 9110 §13.2.2).
fn check_target(dir: &OwnedFd, name: &CStr, pre: &Preconditions) -> Result<bool, Error> {
    match fs::lstat_in(dir, name) {
        Ok(st) => {
            if fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory {
                return Err(Error::Conflict);
            }
            let mut buf = [0u8; 64];
            let v = etag::validators_of(&mut buf, &st);
            if pre.evaluate(v, false) != Outcome::Proceed {
                return Err(Error::PreconditionFailed);
            }
            Ok(true)
        }
        Err(Errno::NOENT) => {
            if pre.evaluate_absent() != Outcome::Proceed {
                return Err(Error::PreconditionFailed);
            }
            Ok(false)
        }
        Err(e) => Err(Error::Os(e)),
    }
}

/// Start a PUT, PATCH or DELETE (the method is one of them) of `path`, the decoded request
/// path: an upload whose body is to come, or `None` when answered already (a DELETE, a
/// PATCH that asks where to resume or starts at the wrong offset).
pub fn begin(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    path: &[u8],
) -> Result<Option<Box<Upload>>, Error> {
    if ctx.rule.write.is_none() {
        return Err(Error::MethodNotAllowed(names::ALLOW));
    }
    match req.method {
        Method::Put => put(req, ctx, r, path).map(Some),
        Method::Patch => patch(req, ctx, r, path),
        _ => delete(req, ctx, r, path).map(|()| None),
    }
}

/// Check everything that can be checked before the body arrives, then create the temporary
/// file.
/// Where a PUT or a resumable upload's chunk writes, checked: the target's folder (opened
/// beneath the write prefix; RFC 9110 §9.3.4: no intermediate folders are made), its name,
/// the request's preconditions (evaluated against the file there now) and the scope of the
/// locks that guard it (the file's, or its folder's for a new one), already checked.
struct Target<'r> {
    dir: OwnedFd,
    name: CString,
    pre: Preconditions<'r>,
    scope: lock::Scope,
}

fn target_of<'r>(req: &Request<'r, '_>, ctx: &mut Ctx, path: &[u8]) -> Result<Target<'r>, Error> {
    let place = split_parent(ctx, path)?;
    let dir = open_parent(ctx, &place).map_err(Error::Parent)?;
    let name = place.name;
    let pre = Preconditions::of(req);
    let scope = if check_target(&dir, &name, &pre)? {
        lock::Scope::Content
    } else {
        lock::Scope::Member
    };
    lock::check_write(req, ctx, path, scope)?;
    Ok(Target {
        dir,
        name,
        pre,
        scope,
    })
}

fn put(req: &Request, ctx: &mut Ctx, r: &mut Reply, path: &[u8]) -> Result<Box<Upload>, Error> {
    if path.ends_with(b"/") {
        return Err(Error::Conflict);
    }
    // RFC 9110 §14.5: a partial PUT is refused rather than taken as the whole file.
    if req.header("content-range").is_some() {
        return Err(Error::BadRequest);
    }
    if let Framing::Length(n) = req.framing
        && n > ctx.cfg.max_body
    {
        r.close = true;
        return Err(Error::TooLarge);
    }
    // Checked now, so that a PUT bound to fail is refused before its body is sent (and
    // before 100 Continue), and again at commit.
    let Target {
        dir,
        name,
        pre,
        scope,
    } = target_of(req, ctx, path)?;
    // Kept for the commit's second look at the locks (`lock::Guard`, feature `dav`).
    #[cfg(not(feature = "dav"))]
    let _ = scope;
    let (tmp, tmp_name) = create_temp(&dir, ctx.pid)?;
    let mut location = Vec::with_capacity(path.len() + 8);
    target::encode_path(path, &mut location);
    Ok(Box::new(Upload {
        dir,
        tmp,
        tmp_name,
        name,
        conditions: Conditions::of(&pre),
        #[cfg(feature = "dav")]
        guard: lock::Guard::of(req, ctx, path, scope),
        committed: false,
        max: ctx.cfg.max_body,
        received: 0,
        location,
        line: req.line.to_vec(),
        agent: req.header("user-agent").map(<[u8]>::to_vec),
        part: None,
    }))
}

/// The media type of a resumable upload's chunk (as tus names it): no form can send it, and
/// a request that carries it is one that knows this protocol.
const PART_TYPE: &[u8] = b"application/offset+octet-stream";

/// A decimal header field's value (at most 19 digits, so it fits), `BadRequest` otherwise.
fn header_u64(req: &Request, name: &str) -> Result<Option<u64>, Error> {
    let Some(v) = req.header(name) else {
        return Ok(None);
    };
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Error::BadRequest);
    }
    Ok(Some(v.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'))))
}

/// Answer where a resumable upload stands: `status` with its Upload-Offset.
fn offset_reply(r: &mut Reply, status: u16, offset: u64) {
    let mut n = Vec::with_capacity(20);
    crate::http::response::push_u64(&mut n, offset);
    if status == 204 {
        r.start(204);
        r.header("Upload-Offset", &n);
        r.no_body();
    } else {
        r.error_with(status, &[("Upload-Offset", &n)]);
    }
}

/// PATCH: one chunk of a resumable upload (docs/RESUME.md). `Upload-Length` is the final
/// length, `Upload-Offset` where the body starts; without `Upload-Offset` (and a body) it
/// asks how much the server has. The bytes go to the staging file, which becomes the target
/// by rename once it holds `Upload-Length` bytes; the same checks as a PUT's come first.
fn patch(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    path: &[u8],
) -> Result<Option<Box<Upload>>, Error> {
    if path.ends_with(b"/") {
        return Err(Error::Conflict);
    }
    let total = header_u64(req, "upload-length")?.ok_or(Error::BadRequest)?;
    let offset = header_u64(req, "upload-offset")?;
    let body = match req.framing {
        Framing::None => Some(0),
        Framing::Length(n) => Some(n),
        Framing::Chunked => None,
    };
    if total > ctx.cfg.max_body {
        r.close = body != Some(0);
        return Err(Error::TooLarge);
    }
    if offset.is_some() && req.header("content-type") != Some(PART_TYPE) {
        return Err(Error::UnsupportedMediaType);
    }
    // Checks and locks as for a PUT: each chunk, and the question of how much is staged,
    // needs the token of a lock on the target (or on its folder, for a new file).
    let Target {
        dir,
        name,
        pre,
        scope,
    } = target_of(req, ctx, path)?;
    // Kept for the commit's second look at the locks (`lock::Guard`, feature `dav`).
    #[cfg(not(feature = "dav"))]
    let _ = scope;
    let part_name = staging::part_name(name.as_bytes(), total);
    let have = staging::staged_len(&dir, &part_name)?;
    let Some(offset) = offset else {
        if body != Some(0) {
            return Err(Error::BadRequest);
        }
        offset_reply(r, 204, have.unwrap_or(0));
        return Ok(None);
    };
    if offset != have.unwrap_or(0) {
        offset_reply(r, 409, have.unwrap_or(0));
        return Ok(None);
    }
    if body.is_some_and(|n| n > total - offset) {
        r.close = true;
        return Err(Error::TooLarge);
    }
    let claim = staging::Claim::take(&dir, &part_name, total)?;
    let tmp = match have {
        None => match fs::create_new_in(&dir, &part_name) {
            Err(Errno::EXIST) => fs::open_append_in(&dir, &part_name)?,
            made => made?,
        },
        Some(_) => fs::open_append_in(&dir, &part_name)?,
    };
    // Again, now that it is ours: another request may have added to it since the lstat.
    let st = fs::fstat(&tmp)?;
    let now = st.st_size.max(0) as u64;
    if fs::FileType::from_raw_mode(st.st_mode) != fs::FileType::RegularFile {
        return Err(Error::Conflict);
    }
    if now != offset {
        offset_reply(r, 409, now);
        return Ok(None);
    }
    let mut location = Vec::with_capacity(path.len() + 8);
    target::encode_path(path, &mut location);
    Ok(Some(Box::new(Upload {
        dir,
        tmp,
        tmp_name: part_name,
        name,
        conditions: Conditions::of(&pre),
        #[cfg(feature = "dav")]
        guard: lock::Guard::of(req, ctx, path, scope),
        committed: false,
        max: total - offset,
        received: 0,
        location,
        line: req.line.to_vec(),
        agent: req.header("user-agent").map(<[u8]>::to_vec),
        part: Some(Part {
            claim,
            total,
            start: offset,
        }),
    })))
}

/// DELETE: a file or symlink (as a link), or a directory: an empty one, or (feature `dav`)
/// one with all it holds.
fn delete(req: &Request, ctx: &mut Ctx, r: &mut Reply, path: &[u8]) -> Result<(), Error> {
    let is_prefix_root = ctx.rule.write.is_some_and(|n| path.len() <= n);
    if path == b"/" || is_prefix_root {
        return Err(Error::Forbidden);
    }
    let place = split_parent(ctx, path)?;
    // A missing parent means a missing target: 404, as for the name itself.
    let dir = open_parent(ctx, &place)?;
    let name = place.name;
    let st = fs::lstat_in(&dir, &name)?;
    let is_dir = fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory;
    // A trailing slash names a directory (split_parent trimmed it off the name): a file or a
    // link is not one, as path resolution and GET (404 for `/a.txt/`) say.
    if path.ends_with(b"/") && !is_dir {
        return Err(Error::Os(Errno::NOTDIR));
    }
    let mut buf = [0u8; 64];
    let v = etag::validators_of(&mut buf, &st);
    if conditional::evaluate(req, v, false) != Outcome::Proceed {
        return Err(Error::PreconditionFailed);
    }
    let scope = if is_dir {
        lock::Scope::Tree
    } else {
        lock::Scope::Member
    };
    lock::check_write(req, ctx, path, scope)?;
    // RFC 4918 §9.6.1: a WebDAV server deletes a collection with all its members; what it
    // could not remove is named in a 207 (and what holds it stays).
    #[cfg(feature = "dav")]
    {
        let mut failed: Vec<(Vec<u8>, u16)> = Vec::new();
        let gone = if is_dir {
            let mut at = Vec::new();
            fs::tree::remove_tree_each(&dir, &name, 0, &mut at, &mut |p, e| {
                failed.push((p.to_vec(), Error::Os(e).status()))
            })?
        } else {
            fs::unlink_in(&dir, &name, false)?;
            true
        };
        let _ = fs::fsync(&dir);
        let site = super::lock::site_key(ctx);
        if gone {
            ctx.locks.drop_under(site, path, ctx.unix);
        } else {
            let base = path.strip_suffix(b"/").unwrap_or(path);
            super::place::multistatus_failed(r, base, &failed);
            return Ok(());
        }
    }
    #[cfg(not(feature = "dav"))]
    {
        fs::unlink_in(&dir, &name, is_dir)?;
        let _ = fs::fsync(&dir);
    }
    r.start(204);
    r.no_body();
    Ok(())
}
