//! GET and HEAD of files and directories under the document root (RFC 9110 §9.3.1-§9.3.2),
//! with validators and conditional requests (§13), ranges (§14), precompressed siblings
//! (`file.br`, `file.gz`), the worker's cache of small files, and a single-page-app fallback;
//! OPTIONS, and the 405 or 501 for a method no handler takes.
//!
//! It gets the path decoded and normalised (`dispatch`, by `http::target`); dotfiles are
//! hidden unless asked for (`names`), and every open goes through `sys::fs::open_beneath`, so
//! the kernel itself refuses to resolve outside the root even through symlinks. A directory
//! URL without its trailing slash is redirected (so relative links in its index work), a
//! directory is answered by its index file, a listing (rendered by `listing`, kept by
//! `cache` until the directory changes), or 403; or, asked with `?download=zip|tar`, by an
//! archive of it (`archive`).
//!
//! It never writes to the tree, never runs anything, and never maps an OS error to a status
//! itself: a failure is an `Error`, which `dispatch` answers.

#[cfg(feature = "compress")]
use super::compress;
use super::ctx::Ctx;
use super::error::Error;
use super::reply::{Extras, Reply, Segment};
use super::{archive, cache, etag, listing, mime, names, page};
#[cfg(feature = "compress")]
use crate::http::coding::{AcceptEncoding, Coding};
use crate::http::conditional::{self, Outcome, Validators};
use crate::http::parse::{Method, Request};
use crate::http::range::{self, Ranges};
use crate::http::response::{header, push_hex, push_u64};
use crate::http::target;
use crate::sys::{AsFd, BorrowedFd, Errno, OwnedFd, fs};
use std::collections::VecDeque;
use std::ffi::CStr;

/// Answer GET, HEAD or OPTIONS (or refuse another method) for `path`, the decoded request
/// path; `query` is the raw query, for a redirect's Location and a listing's format.
pub fn handle(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    path: &[u8],
    query: Option<&[u8]>,
) -> Result<(), Error> {
    match req.method {
        Method::Get | Method::Head => {}
        Method::Options => {
            let write = ctx.rule.write.is_some();
            r.options(names::allow(write), cfg!(feature = "dav") && write);
            return Ok(());
        }
        // Without the `dav` feature, WebDAV's methods are as unknown as any other.
        Method::Other
        | Method::Propfind
        | Method::Proppatch
        | Method::Mkcol
        | Method::Copy
        | Method::Move
        | Method::Lock
        | Method::Unlock => return Err(Error::NotImplemented),
        _ => {
            return Err(Error::MethodNotAllowed(names::allow(
                ctx.rule.write.is_some(),
            )));
        }
    }
    if names::hidden(path, ctx.site.dotfiles) {
        return Err(Error::NotFound);
    }
    // Ranges are cut from files, not from the cache; a folder's archive is never cached (nor
    // is its index file the answer).
    let wants_archive = archive::wanted(query).is_some() && path.ends_with(b"/");
    let cacheable = req.header("range").is_none() && !wants_archive;
    if cacheable {
        #[cfg(feature = "compress")]
        if let Some(done) = send_cached_compressed(req, ctx, r, path) {
            crate::stats::bump(&ctx.stats.cache_hits, 1);
            return done;
        }
        if let Some(e) = ctx.cache.get(path, ctx.now) {
            crate::stats::bump(&ctx.stats.cache_hits, 1);
            return send_cached(req, r, e);
        }
        crate::stats::bump(&ctx.stats.cache_misses, 1);
    }
    if ctx.cache.is_missing(path, ctx.now) {
        return fallback(req, ctx, r);
    }
    // openat2 wants the path relative ("." for the root) and NUL-terminated: it is built in
    // the worker's name buffer, lent out meanwhile.
    let mut rel = std::mem::take(ctx.name);
    rel.clear();
    match path {
        [b'/'] => rel.push(b'.'),
        _ => rel.extend_from_slice(&path[1..]),
    }
    rel.push(0);
    let served = serve_path(req, ctx, r, path, &rel, query);
    *ctx.name = rel;
    served
}

/// Serve `path`, whose relative, NUL-terminated form is `rel`.
fn serve_path(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    path: &[u8],
    rel: &[u8],
    query: Option<&[u8]>,
) -> Result<(), Error> {
    let c = CStr::from_bytes_with_nul(rel).map_err(|_| Error::BadRequest)?;
    let file = match fs::open_beneath(ctx.root, c) {
        Ok(f) => f,
        Err(Errno::NOENT) => {
            ctx.cache.insert_missing(path, ctx.now);
            return fallback(req, ctx, r);
        }
        Err(Errno::NOTDIR) => return fallback(req, ctx, r),
        Err(e) => return Err(Error::Os(e)),
    };
    let st = fs::fstat(&file)?;
    let wants_dir = path.ends_with(b"/");
    match fs::FileType::from_raw_mode(st.st_mode) {
        fs::FileType::RegularFile if !wants_dir => {
            let name = &rel[..rel.len() - 1];
            send_file(req, ctx, r, ctx.root, name, Some(path), file, st)
        }
        fs::FileType::RegularFile => Err(Error::NotFound),
        fs::FileType::Directory if !wants_dir => {
            // RFC 9110 §15.4.2: the directory's URL ends in '/'.
            let mut loc = Vec::with_capacity(path.len() * 3 + 8);
            target::encode_path(path, &mut loc);
            loc.push(b'/');
            if let Some(q) = query {
                loc.push(b'?');
                loc.extend_from_slice(q);
            }
            r.error_with(301, &[("Location", &loc)]);
            Ok(())
        }
        fs::FileType::Directory => directory(req, ctx, r, path, file, &st, query),
        // FIFOs, sockets and devices are never served.
        _ => Err(Error::Forbidden),
    }
}

/// Answer for the directory `dir` (URL `path`, ending in '/', status `st`): its index file,
/// a listing, or 403.
fn directory(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    path: &[u8],
    dir: OwnedFd,
    st: &fs::Stat,
    query: Option<&[u8]>,
) -> Result<(), Error> {
    if let Some(kind) = archive::wanted(query) {
        return archive::answer(req, ctx, r, path, dir, kind);
    }
    let index = ctx.index;
    match fs::open_beneath(&dir, index) {
        Ok(file) => {
            if let Ok(st) = fs::fstat(&file)
                && fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::RegularFile
            {
                let name = index.to_bytes();
                return send_file(req, ctx, r, dir.as_fd(), name, Some(path), file, st);
            }
        }
        Err(Errno::NOENT) => {}
        Err(e) => return Err(Error::Os(e)),
    }
    if !ctx.rule.listing {
        return Err(Error::Forbidden);
    }
    let format = if wants_json(req, query) {
        listing::Format::Json
    } else {
        listing::Format::Html(listing::Sort::from_query(query))
    };
    let stamp = cache::DirStamp::of(st);
    if let Some(l) = ctx.cache.listing(path, format, stamp, ctx.now) {
        send_listing(req, r, l, format);
        return Ok(());
    }
    let wd = ctx.cache.watch_listing(path);
    // What the page may offer (the rule is the folder's, the same for every request of it,
    // so the cached page stays right): uploads, resumes and deletes where the folder is under
    // `--write`, and new folders and renames too where WebDAV's MKCOL and MOVE are built in.
    let writes = match ctx.rule.write {
        None => listing::Writes::None,
        Some(_) if cfg!(feature = "dav") => listing::Writes::Dav,
        Some(_) => listing::Writes::Files,
    };
    let body = listing::render(ctx.root, &dir, path, ctx.site.dotfiles, format, writes)?;
    // A weak validator from the listing's own bytes (RFC 9110 §8.8.3): clients revalidate
    // (no-cache) and get 304 while nothing changed.
    let mut etag = b"W/\"".to_vec();
    push_hex(&mut etag, fnv1a_words(&body));
    etag.push(b'"');
    let l = cache::Listing {
        body: body.into(),
        etag: etag.into(),
    };
    let l = ctx
        .cache
        .insert_listing(path, format, stamp, wd, l, ctx.now);
    send_listing(req, r, l, format);
    Ok(())
}

/// Answer GET/HEAD with a rendered listing, or 304 when the client has it. The page has its
/// Content-Security-Policy (`page::csp`: its own style and script only, no framing), is
/// never sniffed as anything else, and sends no Referer to the sites a README links to. No
/// Access-Control-Allow-Origin: other sites' scripts cannot read a listing.
fn send_listing(req: &Request, r: &mut Reply, l: &cache::Listing, format: listing::Format) {
    let unchanged = req
        .header("if-none-match")
        .is_some_and(|v| v.split(|&b| b == b',').any(|t| weak_eq(t, &l.etag)));
    if unchanged {
        r.start(304);
        r.header("ETag", &l.etag);
        r.header("Cache-Control", b"no-cache");
        r.header("Vary", b"Accept");
        r.no_body();
        return;
    }
    r.start(200);
    r.header("ETag", &l.etag);
    if format == listing::Format::Json {
        r.header("Content-Type", b"application/json");
    } else {
        r.header("Content-Type", b"text/html; charset=utf-8");
        r.header("Content-Security-Policy", page::csp());
        r.header("X-Content-Type-Options", b"nosniff");
        r.header("Referrer-Policy", b"no-referrer");
    }
    r.header("Cache-Control", b"no-cache");
    r.header("Vary", b"Accept");
    r.body_shared(&l.body);
}

/// FNV-1a taken 8 bytes at a time, then the tail byte by byte: a listing's validator. Byte
/// by byte, the multiply chain made it 2-3 ms of a 1.9 MB listing's 17 ms render; a weak
/// validator needs only that a change of the body changes it, which this keeps.
fn fnv1a_words(data: &[u8]) -> u64 {
    let words = data.chunks_exact(8);
    let tail = words.remainder();
    let h = words.fold(0xcbf2_9ce4_8422_2325_u64, |h, w| {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        (h ^ w).wrapping_mul(0x0100_0000_01b3)
    });
    tail.iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// 64-bit FNV-1a, for validators of generated bodies.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Weak comparison of two entity tags (RFC 9110 §8.8.3.2): equal once `W/` is set aside.
fn weak_eq(a: &[u8], b: &[u8]) -> bool {
    let strip = |t: &[u8]| {
        let t = crate::http::parse::trim_ows(t);
        t.strip_prefix(b"W/").unwrap_or(t).to_vec()
    };
    let a = crate::http::parse::trim_ows(a);
    a == b"*" || strip(a) == strip(b)
}

/// A path that does not exist: the `--fallback` file with 200 (single-page apps), or 404.
fn fallback(req: &Request, ctx: &mut Ctx, r: &mut Reply) -> Result<(), Error> {
    let site = ctx.extras;
    let Some(name) = &site.fallback else {
        return Err(Error::NotFound);
    };
    let opened = fs::open_beneath(ctx.root, name).and_then(|f| fs::fstat(&f).map(|st| (f, st)));
    match opened {
        Ok((f, st)) if fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::RegularFile => {
            // It stands for many paths: it is not cached under any of them.
            send_file(req, ctx, r, ctx.root, name.to_bytes(), None, f, st)
        }
        _ => Err(Error::NotFound),
    }
}

/// Listings are JSON for `?format=json` or a client that asks for JSON and not HTML.
fn wants_json(req: &Request, query: Option<&[u8]>) -> bool {
    if let Some(q) = query
        && q.split(|&b| b == b'&').any(|kv| kv == b"format=json")
    {
        return true;
    }
    req.header("accept")
        .is_some_and(|a| contains(a, b"application/json") && !contains(a, b"text/html"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Which content codings the client accepts (RFC 9110 §12.5.3), of those we may have. The
/// build without `compress` keeps this first rule (a coding is taken unless its qvalue is 0,
/// br before gzip), which weighs no qvalue against another: `http::coding`, which does, would
/// grow that build by a page, and it must not grow.
#[cfg(not(feature = "compress"))]
#[derive(Clone, Copy)]
struct Accepts {
    br: bool,
    gzip: bool,
}

#[cfg(not(feature = "compress"))]
fn accepts(req: &Request) -> Accepts {
    let Some(v) = req.header("accept-encoding") else {
        return Accepts {
            br: false,
            gzip: false,
        };
    };
    let q_of = |coding: &[u8]| -> Option<bool> {
        v.split(|&b| b == b',').find_map(|item| {
            let mut parts = item.split(|&b| b == b';');
            let name = crate::http::parse::trim_ows(parts.next()?);
            if !name.eq_ignore_ascii_case(coding) {
                return None;
            }
            // q=0 (with any number of zero decimals) refuses the coding.
            let zero = parts.any(|p| {
                let p = crate::http::parse::trim_ows(p);
                p.len() >= 3
                    && p[..2].eq_ignore_ascii_case(b"q=")
                    && p[2..].iter().all(|&c| c == b'0' || c == b'.')
            });
            Some(!zero)
        })
    };
    let star = || q_of(b"*").unwrap_or(false);
    Accepts {
        br: q_of(b"br").unwrap_or_else(star),
        gzip: q_of(b"gzip")
            .or_else(|| q_of(b"x-gzip"))
            .unwrap_or_else(star),
    }
}

/// Open `name` + `ext` beside a file, if it is a regular file.
fn open_sibling(
    ctx: &mut Ctx,
    dir: BorrowedFd,
    name: &[u8],
    ext: &[u8],
) -> Option<(OwnedFd, fs::Stat)> {
    ctx.sibling.clear();
    ctx.sibling.extend_from_slice(name);
    ctx.sibling.extend_from_slice(ext);
    ctx.sibling.push(0);
    let c = CStr::from_bytes_with_nul(ctx.sibling).ok()?;
    let f = fs::open_beneath(dir, c).ok()?;
    let st = fs::fstat(&f).ok()?;
    (fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::RegularFile).then_some((f, st))
}

/// Answer GET/HEAD from a cache entry: choose the representation, apply the conditions,
/// and copy the rendered head and body.
fn send_cached(req: &Request, r: &mut Reply, e: &cache::Entry) -> Result<(), Error> {
    // Only a file with a precompressed sibling (or compressed on the fly) depends on
    // Accept-Encoding.
    #[cfg(feature = "compress")]
    let chosen = if e.vary() {
        AcceptEncoding::parse(req.header("accept-encoding")).choose([
            e.reps[1].is_some(),
            false,
            e.reps[2].is_some(),
        ])
    } else {
        None
    };
    #[cfg(feature = "compress")]
    let rep = match chosen {
        Some(Coding::Br) => &e.reps[1],
        Some(Coding::Gzip) => &e.reps[2],
        _ => &e.reps[0],
    };
    #[cfg(feature = "compress")]
    let Some(rep) = rep else {
        return Err(Error::Internal);
    };
    #[cfg(not(feature = "compress"))]
    let acc = if e.vary() {
        accepts(req)
    } else {
        Accepts {
            br: false,
            gzip: false,
        }
    };
    #[cfg(not(feature = "compress"))]
    let rep = match (&e.reps[1], &e.reps[2]) {
        (Some(br), _) if acc.br => br,
        (_, Some(gz)) if acc.gzip => gz,
        _ => match &e.reps[0] {
            Some(plain) => plain,
            None => return Err(Error::Internal),
        },
    };
    let v = Validators {
        etag: &rep.etag,
        mtime: rep.mtime,
    };
    match conditional::evaluate(req, v, true) {
        Outcome::Proceed => {
            r.start(200);
            r.prerendered(&rep.headers, &rep.body);
        }
        Outcome::NotModified => not_modified(r, &rep.etag, &rep.last_modified, e.vary()),
        Outcome::Failed => return Err(Error::PreconditionFailed),
    }
    Ok(())
}

/// Answer GET/HEAD for a cached file that is compressed on the fly, when the client asks for a
/// coding: with the copy in that coding, made now from the cached bytes if there is none yet;
/// for a file too large to be cached whole, with a copy made earlier, if the file was seen to
/// be its version within the cache's TTL. `None` when this is not such a file or such a
/// request (and for a larger file, when the file must be looked at first).
#[cfg(feature = "compress")]
fn send_cached_compressed(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    path: &[u8],
) -> Option<Result<(), Error>> {
    let mut source = [0u8; 64];
    let cached = match ctx.cache.get(path, ctx.now) {
        Some(e) => {
            let plain = e.reps[0].as_ref()?;
            if e.compress.is_none() || (plain.body.len() as u64) < compress::MIN_LEN {
                return None;
            }
            let n = plain.etag.len().min(source.len());
            source[..n].copy_from_slice(&plain.etag[..n]);
            Some((n, plain.mtime))
        }
        None => None,
    };
    if cached.is_none() && !ctx.cache.has_fresh_packed(path, ctx.now) {
        return None;
    }
    let c =
        AcceptEncoding::parse(req.header("accept-encoding")).choose(crate::http::coding::ALL)?;
    let Some((len, mtime)) = cached else {
        let p = ctx.cache.fresh_packed(path, c, ctx.now)?;
        return Some(send_packed(req, r, p));
    };
    let source = &source[..len];
    if ctx.cache.packed(path, source, c, ctx.now).is_none() {
        // The first time per version and coding: copied out of the entry, which the cache
        // holds borrowed meanwhile.
        let e = ctx.cache.get(path, ctx.now)?;
        let ty = e.compress?;
        let data = e.reps[0].as_ref()?.body.to_vec();
        let v = Validators {
            etag: source,
            mtime,
        };
        pack(ctx, path, c, &data, v, ty)?;
    }
    let p = ctx.cache.packed(path, source, c, ctx.now)?;
    Some(send_packed(req, r, p))
}

/// Answer GET/HEAD for a file (`file`, status `st`) that is compressed on the fly, when the
/// client asks for a coding: with its copy in that coding, kept under `key`, made now if
/// there is none for this version yet. `None` when the file is not to be compressed (too
/// small or too large, a read error) or the client asks for no coding.
#[cfg(feature = "compress")]
fn send_compressed(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    key: &[u8],
    file: &OwnedFd,
    st: &fs::Stat,
    ty: (&'static str, bool),
) -> Option<Result<(), Error>> {
    let len = st.st_size.max(0) as u64;
    if !(compress::MIN_LEN..=compress::MAX_LEN).contains(&len) {
        return None;
    }
    let c =
        AcceptEncoding::parse(req.header("accept-encoding")).choose(crate::http::coding::ALL)?;
    let mut etag_buf = [0u8; 64];
    let v = etag::validators_of(&mut etag_buf, st);
    if ctx.cache.packed(key, v.etag, c, ctx.now).is_none() {
        let mut data = vec![0u8; len as usize];
        if fs::pread_full(file, &mut data, 0) < data.len() {
            return None;
        }
        pack(ctx, key, c, &data, v, ty)?;
    }
    let p = ctx.cache.packed(key, v.etag, c, ctx.now)?;
    Some(send_packed(req, r, p))
}

/// Answer GET/HEAD for a file larger than `compress::MAX_LEN` compressed while it is sent
/// (`compress::FileStream`), in chunked framing, when the client asks for a coding and can
/// take chunked framing (HTTP/1.1), and fewer than `compress::MAX_STREAMS` answers are
/// being compressed. Its validator is the file's with the coding, as for the cached copies
/// (RFC 9110 §8.8.3). Otherwise the file is given back, to be sent as it is.
#[cfg(feature = "compress")]
fn send_streamed(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    file: OwnedFd,
    st: &fs::Stat,
    (mime, charset): (&'static str, bool),
) -> Result<Result<(), Error>, OwnedFd> {
    let len = st.st_size.max(0) as u64;
    if len <= compress::MAX_LEN || req.version == crate::http::parse::Version::Http10 {
        return Err(file);
    }
    let Some(c) =
        AcceptEncoding::parse(req.header("accept-encoding")).choose(crate::http::coding::ALL)
    else {
        return Err(file);
    };
    let mut etag_buf = [0u8; 64];
    let v = etag::validators_of(&mut etag_buf, st);
    let mut etag = v.etag.strip_suffix(b"\"").unwrap_or(v.etag).to_vec();
    etag.push(b'-');
    etag.extend_from_slice(c.token());
    etag.push(b'"');
    let coded = Validators {
        etag: &etag,
        mtime: v.mtime,
    };
    let lm = crate::http::date::imf_fixdate(v.mtime);
    match conditional::evaluate(req, coded, true) {
        Outcome::Proceed => {}
        Outcome::NotModified => {
            not_modified(r, &etag, &lm, true);
            return Ok(Ok(()));
        }
        Outcome::Failed => return Ok(Err(Error::PreconditionFailed)),
    }
    let stream = compress::FileStream::start(c, file, len)?;
    if crate::sys::trace::enabled() {
        crate::sys::trace::note(
            "compress",
            format!(
                "streaming {} bytes with {}",
                len,
                String::from_utf8_lossy(c.token())
            ),
        );
    }
    r.start(200);
    FileHead {
        mime,
        charset,
        last_modified: &lm,
        etag: &etag,
        vary: true,
        encoding: Some(c.token()),
    }
    .push(r.head_buf(), ctx.extras);
    r.body_stream(Box::new(stream));
    Ok(Ok(()))
}

/// Compress `data`, the version of a file that `v` describes, in the coding `c`, render its
/// header lines, and keep the copy under `key`.
#[cfg(feature = "compress")]
fn pack(
    ctx: &mut Ctx,
    key: &[u8],
    c: Coding,
    data: &[u8],
    v: Validators,
    (mime, charset): (&'static str, bool),
) -> Option<()> {
    let started = std::time::Instant::now();
    let body = compress::compress(c, data);
    if body.is_empty() {
        return None;
    }
    if crate::sys::trace::enabled() {
        crate::sys::trace::note(
            "compress",
            format!(
                "compressed {} with {}: {} to {} bytes in {} us",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(c.token()),
                data.len(),
                body.len(),
                started.elapsed().as_micros()
            ),
        );
    }
    // The identity tag with the coding before its closing quote: another representation,
    // another strong validator (RFC 9110 §8.8.3), and the same for every worker.
    let mut etag = v.etag.strip_suffix(b"\"").unwrap_or(v.etag).to_vec();
    etag.push(b'-');
    etag.extend_from_slice(c.token());
    etag.push(b'"');
    let last_modified = crate::http::date::imf_fixdate(v.mtime);
    let mut headers = Vec::with_capacity(256);
    FileHead {
        mime,
        charset,
        last_modified: &last_modified,
        etag: &etag,
        vary: true,
        encoding: Some(c.token()),
    }
    .push(&mut headers, ctx.extras);
    let copy = cache::Packed {
        etag: etag.into(),
        mtime: v.mtime,
        last_modified,
        headers: headers.into(),
        body: body.into(),
    };
    ctx.cache
        .insert_packed(key, v.etag, c, copy, ctx.now)
        .map(|_| ())
}

/// Answer GET/HEAD with a compressed copy, or 304 when the client has it.
#[cfg(feature = "compress")]
fn send_packed(req: &Request, r: &mut Reply, p: &cache::Packed) -> Result<(), Error> {
    let v = Validators {
        etag: &p.etag,
        mtime: p.mtime,
    };
    match conditional::evaluate(req, v, true) {
        Outcome::Proceed => {
            r.start(200);
            r.head_buf().extend_from_slice(&p.headers);
            r.body_shared(&p.body);
        }
        Outcome::NotModified => not_modified(r, &p.etag, &p.last_modified, true),
        Outcome::Failed => return Err(Error::PreconditionFailed),
    }
    Ok(())
}

/// Read a small file (and its small `.br`/`.gz` siblings) into the cache under `key`, its
/// URL path, with their headers rendered. `None` when it cannot be cached (a sibling too
/// large, a read error).
#[allow(clippy::too_many_arguments)]
fn fill_cache<'c>(
    ctx: &'c mut Ctx,
    dir: BorrowedFd,
    name: &[u8],
    key: &[u8],
    file: &OwnedFd,
    st: &fs::Stat,
    ty: (&'static str, bool),
) -> Option<&'c cache::Entry> {
    if name.ends_with(b".gz") || name.ends_with(b".br") {
        return None;
    }
    let looks_for_siblings = precompressible(ty.0);
    let mut reps: [Option<cache::Rep>; 3] = [None, None, None];
    let mut vary = false;
    for (i, ext, coding) in [(1, &b".br"[..], &b"br"[..]), (2, b".gz", b"gzip")] {
        if !looks_for_siblings {
            break;
        }
        if let Some((f, s)) = open_sibling(ctx, dir, name, ext) {
            vary = true;
            reps[i] = Some(render_rep(ctx.extras, &f, &s, ty, Some(coding), true)?);
        }
    }
    #[cfg(feature = "compress")]
    let compress = (!vary && ctx.cfg.compress && compress::compressible(ty.0)).then_some(ty);
    #[cfg(feature = "compress")]
    let vary = vary || compress.is_some();
    reps[0] = Some(render_rep(ctx.extras, file, st, ty, None, vary)?);
    ctx.cache.insert(
        key,
        reps,
        #[cfg(feature = "compress")]
        compress,
        ctx.now,
    )
}

/// A representation of a small file, with its 200 header lines rendered.
fn render_rep(
    site: &Extras,
    file: &OwnedFd,
    st: &fs::Stat,
    (mime, charset): (&str, bool),
    encoding: Option<&[u8]>,
    vary: bool,
) -> Option<cache::Rep> {
    let len = st.st_size.max(0) as usize;
    if len > super::reply::INLINE_BODY_MAX {
        return None;
    }
    let mut body = vec![0u8; len];
    if fs::pread_full(file, &mut body, 0) < len {
        return None;
    }
    let mut etag_buf = [0u8; 64];
    let etag: Box<[u8]> = etag::etag_of(&mut etag_buf, st).into();
    let mtime = st.st_mtime.max(0) as u64;
    let last_modified = crate::http::date::imf_fixdate(mtime);
    let mut h = Vec::with_capacity(256);
    FileHead {
        mime,
        charset,
        last_modified: &last_modified,
        etag: &etag,
        vary,
        encoding,
    }
    .push(&mut h, site);
    crate::http::response::header_u64(&mut h, "Content-Length", len as u64);
    Some(cache::Rep {
        etag,
        mtime,
        last_modified,
        headers: h.into(),
        body: body.into(),
    })
}

/// Answer GET/HEAD for the regular file `name` (relative to `dir`), open as `file`; a small
/// one is cached under `key`, the URL path it answers, if it has one of its own.
#[allow(clippy::too_many_arguments)]
fn send_file(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    dir: BorrowedFd,
    name: &[u8],
    key: Option<&[u8]>,
    file: OwnedFd,
    st: fs::Stat,
) -> Result<(), Error> {
    let (mime, charset) = mime::content_type(name);
    let range = req.header("range");
    let small = range.is_none()
        && st.st_size >= 0
        && (st.st_size as usize) <= super::reply::INLINE_BODY_MAX;
    #[cfg(not(feature = "compress"))]
    if small
        && let Some(key) = key
        && let Some(e) = fill_cache(ctx, dir, name, key, &file, &st, (mime, charset))
    {
        return send_cached(req, r, e);
    }
    // The entry is looked up again once made: the compressed copy is made from it.
    #[cfg(feature = "compress")]
    if small
        && let Some(key) = key
        && fill_cache(ctx, dir, name, key, &file, &st, (mime, charset)).is_some()
    {
        if let Some(done) = send_cached_compressed(req, ctx, r, key) {
            return done;
        }
        if let Some(e) = ctx.cache.get(key, ctx.now) {
            return send_cached(req, r, e);
        }
    }
    // Precompressed siblings: the representation is chosen by Accept-Encoding, and any file
    // that has one varies by it.
    let mut file = file;
    let mut st = st;
    let mut encoding: Option<&'static [u8]> = None;
    let mut vary = false;
    #[cfg(feature = "compress")]
    if precompressible(mime) && !name.ends_with(b".gz") && !name.ends_with(b".br") {
        let br = open_sibling(ctx, dir, name, b".br");
        let gz = open_sibling(ctx, dir, name, b".gz");
        vary = br.is_some() || gz.is_some();
        let chosen = AcceptEncoding::parse(req.header("accept-encoding")).choose([
            br.is_some(),
            false,
            gz.is_some(),
        ]);
        let sibling = match chosen {
            Some(Coding::Br) => br,
            Some(Coding::Gzip) => gz,
            _ => None,
        };
        if let (Some(c), Some((f, s))) = (chosen, sibling) {
            (file, st, encoding) = (f, s, Some(c.token()));
        }
    }
    #[cfg(not(feature = "compress"))]
    if precompressible(mime) && !name.ends_with(b".gz") && !name.ends_with(b".br") {
        let acc = accepts(req);
        for (ext, coding, ok) in [
            (&b".br"[..], &b"br"[..], acc.br),
            (b".gz", b"gzip", acc.gzip),
        ] {
            if let Some((f, s)) = open_sibling(ctx, dir, name, ext) {
                vary = true;
                if ok {
                    (file, st, encoding) = (f, s, Some(coding));
                    break;
                }
            }
        }
    }
    #[cfg(feature = "compress")]
    let mut file = file;
    #[cfg(feature = "compress")]
    if !vary && ctx.cfg.compress && compress::compressible(mime) {
        // No sibling: compressed here, once, for clients that ask.
        vary = true;
        if range.is_none()
            && let Some(done) = send_compressed(
                req,
                ctx,
                r,
                key.unwrap_or(name),
                &file,
                &st,
                (mime, charset),
            )
        {
            return done;
        }
        // Too large to keep a copy of: compressed while it is sent.
        if range.is_none() {
            match send_streamed(req, ctx, r, file, &st, (mime, charset)) {
                Ok(done) => return done,
                Err(back) => file = back,
            }
        }
    }
    let len = st.st_size.max(0) as u64;
    // A strong validator (RFC 9110 §8.8.3): inode, size and modification time in nanoseconds
    // change whenever the file is replaced or rewritten.
    let mut etag_buf = [0u8; 64];
    let v = etag::validators_of(&mut etag_buf, &st);
    let (etag, mtime) = (v.etag, v.mtime);
    let lm = crate::http::date::imf_fixdate(mtime);

    match conditional::evaluate(req, v, true) {
        Outcome::Proceed => {}
        Outcome::NotModified => {
            not_modified(r, etag, &lm, vary);
            return Ok(());
        }
        Outcome::Failed => return Err(Error::PreconditionFailed),
    }

    let ranges = match range {
        Some(h) if req.method == Method::Get && conditional::if_range_allows(req, v, ctx.unix) => {
            range::resolve(h, len)
        }
        _ => Ranges::Ignore,
    };
    let head = FileHead {
        mime,
        charset,
        last_modified: &lm,
        etag,
        vary,
        encoding,
    };
    match ranges {
        Ranges::Ignore => {
            r.start(200);
            head.push(r.head_buf(), ctx.extras);
            r.body_file(file, 0, len);
        }
        Ranges::Unsatisfiable => {
            // RFC 9110 §15.5.17.
            let mut cr = b"bytes */".to_vec();
            push_u64(&mut cr, len);
            r.error_with(416, &[("Content-Range", &cr)]);
        }
        Ranges::Satisfiable(parts) if parts.len() == 1 => {
            let p = &parts[0];
            r.start(206);
            let out = r.head_buf();
            head.push(out, ctx.extras);
            out.extend_from_slice(b"Content-Range: bytes ");
            push_content_range(out, p.start, p.end, len);
            out.extend_from_slice(b"\r\n");
            r.body_file(file, p.start, p.end - p.start);
        }
        Ranges::Satisfiable(parts) => {
            // RFC 9110 §14.6: multipart/byteranges, each part with its own headers.
            let boundary = boundary_for(etag);
            let mut segments = VecDeque::with_capacity(parts.len() * 2 + 1);
            let mut total = 0u64;
            for p in &parts {
                let mut h = Vec::with_capacity(128);
                h.extend_from_slice(b"\r\n--");
                h.extend_from_slice(&boundary);
                h.extend_from_slice(b"\r\n");
                push_content_type(&mut h, mime, charset);
                h.extend_from_slice(b"Content-Range: bytes ");
                push_content_range(&mut h, p.start, p.end, len);
                h.extend_from_slice(b"\r\n\r\n");
                total += h.len() as u64 + (p.end - p.start);
                segments.push_back(Segment::Mem { data: h, pos: 0 });
                segments.push_back(Segment::File {
                    offset: p.start,
                    end: p.end,
                });
            }
            let mut tail = b"\r\n--".to_vec();
            tail.extend_from_slice(&boundary);
            tail.extend_from_slice(b"--\r\n");
            total += tail.len() as u64;
            segments.push_back(Segment::Mem { data: tail, pos: 0 });
            r.start(206);
            let mut ct = b"multipart/byteranges; boundary=".to_vec();
            ct.extend_from_slice(&boundary);
            r.header("Content-Type", &ct);
            head.push_after_type(r.head_buf(), ctx.extras);
            r.body_parts(file, segments, total);
        }
    }
    Ok(())
}

/// The header lines of an answer carrying a file's content, after the status line, Date and
/// Server and before Content-Length or Content-Range: the same, in the same order, whether
/// rendered into the cache or sent from disk.
struct FileHead<'a> {
    mime: &'a str,
    charset: bool,
    last_modified: &'a [u8],
    etag: &'a [u8],
    vary: bool,
    encoding: Option<&'a [u8]>,
}

impl FileHead<'_> {
    fn push(&self, out: &mut Vec<u8>, site: &Extras) {
        push_content_type(out, self.mime, self.charset);
        self.push_after_type(out, site);
    }

    /// All but Content-Type (a multipart answer has its own).
    fn push_after_type(&self, out: &mut Vec<u8>, site: &Extras) {
        header(out, "Last-Modified", self.last_modified);
        header(out, "ETag", self.etag);
        out.extend_from_slice(b"Accept-Ranges: bytes\r\n");
        if let Some(line) = &site.cache_control {
            out.extend_from_slice(line);
        }
        if self.vary {
            out.extend_from_slice(b"Vary: Accept-Encoding\r\n");
        }
        if let Some(c) = self.encoding {
            header(out, "Content-Encoding", c);
        }
    }
}

fn push_content_type(out: &mut Vec<u8>, mime: &str, charset: bool) {
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(mime.as_bytes());
    if charset {
        out.extend_from_slice(b"; charset=utf-8");
    }
    out.extend_from_slice(b"\r\n");
}

/// RFC 9110 §15.4.5: a 304 carries the validators and the headers that would matter to a
/// cache.
fn not_modified(r: &mut Reply, etag: &[u8], last_modified: &[u8], vary: bool) {
    r.start(304);
    r.header("ETag", etag);
    r.header("Last-Modified", last_modified);
    r.cache_control();
    if vary {
        r.header("Vary", b"Accept-Encoding");
    }
    r.no_body();
}

fn push_content_range(out: &mut Vec<u8>, start: u64, end: u64, len: u64) {
    push_u64(out, start);
    out.push(b'-');
    push_u64(out, end - 1);
    out.push(b'/');
    push_u64(out, len);
}

/// A boundary that cannot occur in the parts' headers and is unlikely in the file: derived
/// from the ETag, so it is stable for one version of the file.
fn boundary_for(etag: &[u8]) -> Vec<u8> {
    let mut out = b"barehttpd-".to_vec();
    push_hex(&mut out, fnv1a(etag));
    out
}

/// Whether `.br`/`.gz` siblings are looked for: text, scripts, data, SVG and WebAssembly.
/// Images, audio, video and archives are compressed already; not looking saves two opens
/// per request for them.
fn precompressible(ty: &str) -> bool {
    mime::is_text(ty) || ty == "application/wasm"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(mime::content_type(b"/a/index.html"), ("text/html", true));
        assert_eq!(mime::content_type(b"style.css"), ("text/css", true));
        assert_eq!(mime::content_type(b"x.png"), ("image/png", false));
        assert_eq!(
            mime::content_type(b"Makefile"),
            ("application/octet-stream", false)
        );
        assert!(mime::content_type(b"app.js").0.contains("javascript"));
    }
}
