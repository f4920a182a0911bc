//! Writes: PUT (RFC 9110 §9.3.4) and DELETE (§9.3.5), allowed only under `--write` prefixes.
//!
//! A PUT body is streamed into a new temporary file in the target's own directory, then
//! fsync'd and renamed over the target, and the directory fsync'd: a reader sees the old file
//! or the whole new one, never a part. The temporary file is removed on every failure path by
//! `Upload`'s Drop (a client that disconnects, a timeout, a full disk), and its name starts
//! with `TMP_PREFIX`, which is never served, listed or writable. Directories are never created
//! implicitly and never removed recursively. Names are resolved below the root by the kernel
//! (`open_dir_beneath`), and the final component is handled with *at calls that never follow
//! a symlink, so a link is replaced or removed as a link.

use super::{Ctx, Reply};
use crate::http::conditional::{self, Outcome};
use crate::http::parse::{Framing, Method, Request};
use crate::http::target::{self, PathError};
use crate::sys::{Errno, OwnedFd, fs};
use std::ffi::CString;

/// Temporary upload names start with this; such names are refused for every method.
pub const TMP_PREFIX: &[u8] = b".barehttpd-upload-";

/// The methods allowed where writes are enabled.
pub const ALLOW_WRITE: &[u8] = b"GET, HEAD, OPTIONS, PUT, DELETE";

/// Whether a decoded path names something never served: a segment starting with `.` unless
/// `--dotfiles`, and an unfinished upload always.
pub fn hidden(path: &[u8], dotfiles: bool) -> bool {
    path.split(|&b| b == b'/')
        .any(|s| s.first() == Some(&b'.') && (!dotfiles || s.starts_with(TMP_PREFIX)))
}

/// Whether `path` (decoded) is under one of the `--write` prefixes.
pub fn writable(ctx: &Ctx, path: &[u8]) -> bool {
    super::under(&ctx.cfg.write, path).is_some()
}

/// A PUT in progress: the body goes to `tmp`, which becomes `name` in `dir` on `finish`.
pub struct Upload {
    dir: OwnedFd,
    tmp: OwnedFd,
    tmp_name: CString,
    name: CString,
    existed: bool,
    committed: bool,
    max: u64,
    /// Body bytes received so far.
    pub received: u64,
    location: Vec<u8>,
    /// The request line and User-Agent, for the access-log line written at the end.
    pub line: Vec<u8>,
    pub agent: Option<Vec<u8>>,
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::unlink_in(&self.dir, &self.tmp_name, false);
        }
    }
}

impl Upload {
    /// Append body bytes. An error is the status to answer with.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), u16> {
        self.received += data.len() as u64;
        if self.received > self.max {
            return Err(413);
        }
        while !data.is_empty() {
            match fs::write(&self.tmp, data) {
                Ok(n) => data = &data[n..],
                Err(Errno::INTR) => {}
                Err(e) => return Err(write_status(e)),
            }
        }
        Ok(())
    }

    /// The whole body is in: make it the file, durably, and answer 201 or 204.
    pub fn finish(mut self, r: &mut Reply) {
        let done = fs::fsync(&self.tmp)
            .and_then(|()| fs::fstat(&self.tmp))
            .and_then(|st| fs::rename_in(&self.dir, &self.tmp_name, &self.name).map(|()| st));
        let st = match done {
            Ok(st) => st,
            Err(e) => return r.error(write_status(e)),
        };
        self.committed = true;
        // The rename is durable once the directory is.
        let _ = fs::fsync(&self.dir);
        let mut buf = [0u8; 64];
        let etag = super::etag_of(&mut buf, &st);
        if self.existed {
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
}

fn write_status(e: Errno) -> u16 {
    match e {
        Errno::NOSPC | Errno::DQUOT => 507,
        Errno::ACCESS | Errno::PERM | Errno::ROFS => 403,
        Errno::ISDIR => 409,
        _ => 500,
    }
}

/// What a write request turned into.
pub enum Begun {
    /// Answered already (an error, or a DELETE).
    Answered,
    /// A PUT whose body must now be streamed into the upload.
    Upload(Box<Upload>),
    /// A CGI program started; the request body (if any) streams to its stdin.
    Cgi(Box<super::cgi::Run>),
    /// A CGI request with a chunked body: buffer the body, then start the program.
    CgiBuffer,
}

/// Start a PUT or DELETE for `req` (the method is one of them), or answer it at once.
pub fn begin(req: &Request, ctx: &mut Ctx, r: &mut Reply) -> Begun {
    let Ok(t) = target::split(req.target) else {
        r.error(400);
        return Begun::Answered;
    };
    match target::decode_path(t.path, ctx.scratch) {
        Ok(()) => {}
        Err(PathError::BadRequest) => {
            r.error(400);
            return Begun::Answered;
        }
        Err(PathError::NotFound) => {
            r.error(404);
            return Begun::Answered;
        }
    }
    let path = ctx.scratch.clone();
    if !writable(ctx, &path) {
        r.error_with(405, &[("Allow", super::static_file::ALLOW)]);
        return Begun::Answered;
    }
    if let Some(auth) = ctx.auth
        && !auth.check(req.header("authorization"), ctx.auth_cache)
    {
        r.error_with(
            401,
            &[(
                "WWW-Authenticate",
                b"Basic realm=\"barehttpd\", charset=\"UTF-8\"",
            )],
        );
        return Begun::Answered;
    }
    let status = match req.method {
        Method::Put => match put(req, ctx, r, &path) {
            Ok(up) => return Begun::Upload(up),
            Err(status) => status,
        },
        _ => delete(req, ctx, r, &path),
    };
    if status != 0 {
        r.error(status);
    }
    Begun::Answered
}

/// Split a decoded path into its parent directory (relative, NUL-terminated, "." for the
/// root) and its last name; refuse names the server will not write.
fn split_parent(ctx: &Ctx, path: &[u8]) -> Result<(CString, CString), u16> {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    let slash = trimmed.iter().rposition(|&b| b == b'/').unwrap_or(0);
    let (parent, name) = (&trimmed[..slash], &trimmed[slash + 1..]);
    if name.is_empty() {
        return Err(403); // the root itself
    }
    if name.starts_with(TMP_PREFIX) || name.contains(&b'\\') {
        return Err(403);
    }
    if !ctx.cfg.dotfiles && target::has_dot_segment(path) {
        return Err(403);
    }
    let parent = if parent.is_empty() {
        b".".to_vec()
    } else {
        parent[1..].to_vec()
    };
    let parent = CString::new(parent).map_err(|_| 400u16)?;
    let name = CString::new(name.to_vec()).map_err(|_| 400u16)?;
    Ok((parent, name))
}

fn open_parent(ctx: &Ctx, parent: &CString) -> Result<OwnedFd, u16> {
    fs::open_dir_beneath(ctx.root, parent).map_err(|e| match e {
        // RFC 9110 §9.3.4: no intermediate directories are created; the client must.
        Errno::NOENT | Errno::NOTDIR => 409,
        Errno::ACCESS | Errno::PERM => 403,
        Errno::XDEV | Errno::LOOP => 403,
        _ => 500,
    })
}

/// Check everything that can be checked before the body arrives, then create the temporary
/// file. Err is the status to answer with at once.
fn put(req: &Request, ctx: &mut Ctx, r: &mut Reply, path: &[u8]) -> Result<Box<Upload>, u16> {
    if path.ends_with(b"/") {
        return Err(409);
    }
    // RFC 9110 §14.5: a partial PUT is refused rather than taken as the whole file.
    if req.header("content-range").is_some() {
        return Err(400);
    }
    if let Framing::Length(n) = req.framing
        && n > ctx.cfg.max_body
    {
        r.close = true;
        return Err(413);
    }
    let (parent, name) = split_parent(ctx, path)?;
    let dir = open_parent(ctx, &parent)?;
    let existed = match fs::lstat_in(&dir, &name) {
        Ok(st) => {
            if fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory {
                return Err(409);
            }
            let mut buf = [0u8; 64];
            let v = super::validators_of(&mut buf, &st);
            if conditional::evaluate(req, v, false) != Outcome::Proceed {
                return Err(412);
            }
            true
        }
        Err(Errno::NOENT) => {
            if conditional::evaluate_absent(req) != Outcome::Proceed {
                return Err(412);
            }
            false
        }
        Err(_) => return Err(500),
    };
    let (tmp, tmp_name) = create_temp(&dir)?;
    let mut location = Vec::with_capacity(path.len() + 8);
    target::encode_path(path, &mut location);
    Ok(Box::new(Upload {
        dir,
        tmp,
        tmp_name,
        name,
        existed,
        committed: false,
        max: ctx.cfg.max_body,
        received: 0,
        location,
        line: req.line.to_vec(),
        agent: req.header("user-agent").map(<[u8]>::to_vec),
    }))
}

/// A new, uniquely named temporary file in `dir`.
fn create_temp(dir: &OwnedFd) -> Result<(OwnedFd, CString), u16> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    for _ in 0..8 {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let mut name = TMP_PREFIX.to_vec();
        crate::http::response::push_u64(&mut name, u64::from(std::process::id()));
        name.push(b'-');
        crate::http::response::push_u64(&mut name, n);
        let name = CString::new(name).expect("no NUL in a generated name");
        match fs::create_new_in(dir, &name) {
            Ok(fd) => return Ok((fd, name)),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(write_status(e)),
        }
    }
    Err(500)
}

/// DELETE: a file or symlink (as a link), or an empty directory. Returns 0 when answered.
fn delete(req: &Request, ctx: &mut Ctx, r: &mut Reply, path: &[u8]) -> u16 {
    let is_prefix_root = ctx.cfg.write.iter().any(|p| {
        let p = p.as_bytes();
        path == p || (path.len() + 1 == p.len() && p.starts_with(path))
    });
    if path == b"/" || is_prefix_root {
        return 403;
    }
    let (parent, name) = match split_parent(ctx, path) {
        Ok(v) => v,
        Err(s) => return s,
    };
    let dir = match open_parent(ctx, &parent) {
        Ok(d) => d,
        Err(409) => return 404,
        Err(s) => return s,
    };
    let st = match fs::lstat_in(&dir, &name) {
        Ok(st) => st,
        Err(Errno::NOENT) => return 404,
        Err(_) => return 500,
    };
    let is_dir = fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Directory;
    let mut buf = [0u8; 64];
    let v = super::validators_of(&mut buf, &st);
    if conditional::evaluate(req, v, false) != Outcome::Proceed {
        return 412;
    }
    match fs::unlink_in(&dir, &name, is_dir) {
        Ok(()) => {
            let _ = fs::fsync(&dir);
            r.start(204);
            r.no_body();
            0
        }
        Err(Errno::NOTEMPTY | Errno::EXIST) => 409,
        Err(Errno::NOENT) => 404,
        Err(Errno::ACCESS | Errno::PERM | Errno::ROFS | Errno::BUSY) => 403,
        Err(_) => 500,
    }
}
