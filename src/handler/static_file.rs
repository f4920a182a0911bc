//! GET and HEAD of files and directories under the document root (RFC 9110 §9.3.1-§9.3.2).
//!
//! The path is decoded and normalised by `http::target`, dotfiles are hidden unless asked
//! for, and every open goes through `sys::fs::open_beneath`, so the kernel itself refuses to
//! resolve outside the root even through symlinks. A directory URL without its trailing slash
//! is redirected (so relative links in its index work), a directory is answered by its index
//! file, a listing, or 403.

use super::{Ctx, Reply};
use crate::http::parse::{Method, Request};
use crate::http::response::push_hex;
use crate::http::target::{self, PathError};
use crate::sys::{Errno, fs};
use std::ffi::CStr;

/// The methods a static resource allows.
pub const ALLOW: &[u8] = b"GET, HEAD, OPTIONS";

pub fn handle(req: &Request, ctx: &mut Ctx, r: &mut Reply) {
    let Ok(t) = target::split(req.target) else {
        return r.error(400);
    };
    match req.method {
        Method::Get | Method::Head if !t.asterisk => {}
        Method::Options => {
            // RFC 9110 §9.3.7: say which methods are allowed; no body.
            r.start(200);
            r.header("Allow", ALLOW);
            return r.body_bytes(b"");
        }
        Method::Other => return r.error(501),
        _ if t.asterisk => return r.error(400),
        _ => return r.error_with(405, &[("Allow", ALLOW)]),
    }
    match target::decode_path(t.path, ctx.scratch) {
        Ok(()) => {}
        Err(PathError::BadRequest) => return r.error(400),
        Err(PathError::NotFound) => return r.error(404),
    }
    if !ctx.cfg.dotfiles && target::has_dot_segment(ctx.scratch) {
        return r.error(404);
    }
    serve_path(ctx, r, t.query);
}

/// Serve the decoded path in `ctx.scratch`.
fn serve_path(ctx: &mut Ctx, r: &mut Reply, query: Option<&[u8]>) {
    let path_len = ctx.scratch.len();
    let wants_dir = ctx.scratch.ends_with(b"/");
    // Relative path for openat2: drop the leading '/', "." for the root, NUL-terminate.
    ctx.scratch.push(0);
    let rel: &CStr = if path_len == 1 {
        c"."
    } else {
        match CStr::from_bytes_with_nul(&ctx.scratch[1..]) {
            Ok(c) => c,
            Err(_) => return r.error(400),
        }
    };
    let file = match fs::open_beneath(ctx.root, rel) {
        Ok(f) => f,
        Err(e) => return r.error(status_of_errno(e)),
    };
    let Ok(st) = fs::fstat(&file) else {
        return r.error(500);
    };
    match fs::FileType::from_raw_mode(st.st_mode) {
        fs::FileType::RegularFile if !wants_dir => send_file(r, file, &st, &ctx.scratch[..path_len]),
        fs::FileType::RegularFile => r.error(404),
        fs::FileType::Directory if !wants_dir => {
            // RFC 9110 §15.4.2: the directory's URL ends in '/'.
            let mut loc = Vec::with_capacity(path_len * 3 + 8);
            target::encode_path(&ctx.scratch[..path_len], &mut loc);
            loc.push(b'/');
            if let Some(q) = query {
                loc.push(b'?');
                loc.extend_from_slice(q);
            }
            r.error_with(301, &[("Location", &loc)]);
        }
        fs::FileType::Directory => {
            match fs::open_beneath(&file, ctx.index) {
                Ok(index) => {
                    if let Ok(ist) = fs::fstat(&index) {
                        if fs::FileType::from_raw_mode(ist.st_mode) == fs::FileType::RegularFile {
                            let name = ctx.index.to_bytes();
                            return send_file(r, index, &ist, name);
                        }
                    }
                }
                Err(Errno::NOENT) => {}
                Err(e) => return r.error(status_of_errno(e)),
            }
            if ctx.cfg.listing {
                match super::listing::render(&file, &ctx.scratch[..path_len], ctx.cfg.dotfiles) {
                    Ok(html) => {
                        r.start(200);
                        r.header("Content-Type", b"text/html; charset=utf-8");
                        r.header("Cache-Control", b"no-cache");
                        r.body_vec(html);
                    }
                    Err(e) => r.error(status_of_errno(e)),
                }
            } else {
                r.error(403)
            }
        }
        // FIFOs, sockets and devices are never served.
        _ => r.error(403),
    }
}

/// The status for a failed open.
fn status_of_errno(e: Errno) -> u16 {
    match e {
        Errno::NOENT | Errno::NOTDIR => 404,
        // Resolution tried to leave the root (a symlink pointing out): as if absent.
        Errno::XDEV | Errno::LOOP => 404,
        Errno::ACCESS | Errno::PERM => 403,
        Errno::NAMETOOLONG => 414,
        _ => 500,
    }
}

fn send_file(r: &mut Reply, file: crate::sys::OwnedFd, st: &fs::Stat, name: &[u8]) {
    r.start(200);
    let (mime, charset) = content_type(name);
    let out = r.head_buf();
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(mime.as_bytes());
    if charset {
        out.extend_from_slice(b"; charset=utf-8");
    }
    out.extend_from_slice(b"\r\n");
    let mtime = st.st_mtime.max(0) as u64;
    r.header("Last-Modified", &crate::http::date::imf_fixdate(mtime));
    // A strong validator (RFC 9110 §8.8.3): inode, size and modification time in nanoseconds
    // change whenever the file is replaced or rewritten.
    let out = r.head_buf();
    out.extend_from_slice(b"ETag: \"");
    push_hex(out, st.st_ino);
    out.push(b'-');
    push_hex(out, st.st_size as u64);
    out.push(b'-');
    push_hex(out, mtime.wrapping_mul(1_000_000_000).wrapping_add(st.st_mtime_nsec as u64));
    out.extend_from_slice(b"\"\r\n");
    r.body_file(file, 0, st.st_size as u64);
}

/// Content-Type from the file name's extension (the shared MIME database), and whether it is
/// a text type that gets `charset=utf-8`, so that browsers do not guess.
pub fn content_type(name: &[u8]) -> (&'static str, bool) {
    let name = std::str::from_utf8(name).unwrap_or("");
    let base = name.rsplit('/').next().unwrap_or(name);
    let mime = match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() || !ext.is_empty() => {
            mime_guess::from_ext(ext).first_raw().unwrap_or("application/octet-stream")
        }
        _ => "application/octet-stream",
    };
    let texty = mime.starts_with("text/")
        || matches!(mime, "application/javascript" | "application/json" | "application/xml" | "image/svg+xml");
    (mime, texty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type(b"/a/index.html"), ("text/html", true));
        assert_eq!(content_type(b"style.css"), ("text/css", true));
        assert_eq!(content_type(b"x.png"), ("image/png", false));
        assert_eq!(content_type(b"Makefile"), ("application/octet-stream", false));
        assert!(content_type(b"app.js").0.contains("javascript"));
    }
}
