//! Handlers decide *what* to answer: a status, headers, and a body source (bytes in the
//! response buffer, shared bytes, or a range of an open file). The connection decides
//! *how* to send it (writev, sendfile, backpressure). `Reply` is the boundary between them.
//!
//! This module is the router: `dispatch` decodes the request path once and hands it, with the
//! request, to exactly one handler, and writes the reply for the handler's error, if any, from
//! `Error::status`. It answers nothing itself but `OPTIONS *`, a CONNECT, and a target that
//! does not decode; `--health` and `--metrics` go to `probe` before anything else.
//!
//! Imports go one way, down this list; no handler imports another handler or this module:
//! - the handlers: `probe` (`--health`, `--metrics`), `static_file` (GET, HEAD, OPTIONS; it
//!   calls `listing` to render a directory), `upload` (PUT, DELETE), `dav` (WebDAV's other
//!   methods, feature `dav`) and `cgi` (programs under `--cgi`); and `stale`, not a handler
//!   but the uploads' start-up sweep, which removes what a killed server's uploads left
//!   behind;
//! - what they share, below them: `listing` (a renderer), `names` (which names are served,
//!   writable, CGI), `place` (where a write lands: `upload`'s and `dav`'s), `etag`
//!   (validators of a file on disk), `error` (the one error type and its statuses), `reply`
//!   (`Reply`, `Body`, `Extras`), `ctx` (`Ctx`), `cache`, `mime` (Content-Type), `auth`,
//!   `compress` (compression on the fly, feature `compress`), `site` (sites as served).

pub mod archive;
pub mod auth;
pub mod cache;
pub mod cgi;
#[cfg(feature = "compress")]
pub mod compress;
pub mod ctx;
#[cfg(feature = "dav")]
pub mod dav;
pub mod error;
pub mod etag;
pub mod listing;
#[cfg(feature = "dav")]
pub mod lock;
/// Without WebDAV there are no locks, and no `If` field to evaluate.
#[cfg(not(feature = "dav"))]
pub mod lock {
    pub use super::place::Scope;
    use super::{Ctx, Error};
    use crate::http::parse::Request;

    /// Every write calls it; without locks there is nothing to check.
    pub fn check_write(_: &Request, _: &Ctx, _: &[u8], _: Scope) -> Result<(), Error> {
        Ok(())
    }
}
pub mod mime;
pub mod names;
pub mod page;
pub mod place;
#[cfg(feature = "ops")]
pub mod probe;
pub mod readme;
pub mod reply;
pub mod site;
pub mod staging;
pub mod stale;
pub mod static_file;
pub mod upload;

pub use ctx::Ctx;
pub use error::Error;
pub use reply::{Body, Extras, INLINE_BODY_MAX, Reply, Segment};

use crate::http::parse::{Framing, Method, Request};
use crate::http::target::{self, PathError};

/// Where ACME's HTTP-01 challenges are asked (RFC 8555 §8.3).
pub const ACME_CHALLENGE_PREFIX: &[u8] = b"/.well-known/acme-challenge/";

/// What a request turned into, for the connection.
pub enum Answer {
    /// Answered already: the reply is written (a file, an error, a DELETE).
    Done,
    /// A PUT whose body must now be streamed into the upload.
    Upload(Box<upload::Upload>),
    /// A CGI program started; the request body (if any) streams to its stdin.
    Cgi(Box<cgi::Run>),
    /// A CGI request with a chunked body: spool the body, then start this program (found,
    /// opened, and its `--cgi-max` slot taken before any of the body is read).
    CgiBuffer(Box<cgi::Program>),
    /// A WebDAV request whose XML body must be read whole first (at most `MAX_DAV_BODY`
    /// bytes), then the request dispatched again with it (`Held::Body`).
    DavBody,
    /// A write with credentials not verified yet: verify them off the event loop
    /// (`auth::Auth::submit`), then dispatch the request again.
    Verify(Box<auth::Pending>),
}

/// Largest WebDAV request body the connection buffers for a handler (413 past it).
#[cfg(feature = "dav")]
pub const MAX_DAV_BODY: usize = crate::http::dav::MAX_BODY;
#[cfg(not(feature = "dav"))]
pub const MAX_DAV_BODY: usize = 0;

/// What the connection holds for a request dispatched a second time.
pub enum Held {
    None,
    /// A chunked CGI request whose body is now spooled; its program, found before the body
    /// was read, starts without the request being routed again.
    Spooled(cgi::Spooled),
    /// A WebDAV request's whole body (`Answer::DavBody`).
    Body(Vec<u8>),
}

/// Route a request to its handler. Writes (PUT, DELETE) where enabled may turn into an
/// upload whose body the connection then streams; a request under `--cgi` into a program.
/// `held`: what the connection read for this request before dispatching it again.
pub fn dispatch<'a>(
    req: &Request,
    ctx: &mut Ctx<'a>,
    r: &mut Reply<'a>,
    peers: cgi::Peers<'_>,
    held: Held,
) -> Answer {
    #[cfg(debug_assertions)]
    test_panic_hook(req.target);
    let body = match held {
        Held::Body(b) => Some(b),
        Held::None => None,
        Held::Spooled(sp) => {
            return match cgi::start(req, ctx, peers, *sp.program, Some(sp.body)) {
                Ok(run) => Answer::Cgi(run),
                Err(e) => {
                    r.fail(e);
                    Answer::Done
                }
            };
        }
    };
    // The decoded path lives in the worker's scratch buffer, lent out while the handler runs:
    // the Vec moves with its capacity, so nothing is allocated.
    let mut path = std::mem::take(ctx.scratch);
    let routed = route(req, ctx, r, peers, &mut path, body.as_deref());
    *ctx.scratch = path;
    routed.unwrap_or_else(|e| {
        // RFC 4918 §16: a 423 names the locked resource in its precondition.
        #[cfg(feature = "dav")]
        if e == Error::Locked && !ctx.locked.borrow().is_empty() {
            let body =
                crate::http::dav::error_body_href("lock-token-submitted", &ctx.locked.borrow());
            r.start(e.status());
            r.header("Content-Type", b"application/xml; charset=utf-8");
            r.body_bytes(&body);
            return Answer::Done;
        }
        r.fail(e);
        Answer::Done
    })
}

/// `dispatch`, with the decoded path going to `buf`.
fn route<'a>(
    req: &Request,
    ctx: &mut Ctx<'a>,
    r: &mut Reply<'a>,
    peers: cgi::Peers<'_>,
    buf: &mut Vec<u8>,
    #[cfg_attr(not(feature = "dav"), allow(unused_variables))] body: Option<&[u8]>,
) -> Result<Answer, Error> {
    let split = target::split(req.target);
    let decoded = match &split {
        Ok(t) => target::decode_path(t.path, buf),
        Err(e) => Err(*e),
    };
    let path: &[u8] = buf;
    if decoded.is_ok() {
        ctx.rule_at = ctx.site.rule_at(path);
        ctx.rule = &ctx.site.rules[ctx.rule_at];
        ctx.extras = &ctx.rule.extras[usize::from(ctx.secure)];
        r.extras = ctx.extras;
    }
    // A probe is answered whatever else is configured, --redirect-https included: a
    // balancer asks over plain HTTP.
    #[cfg(feature = "ops")]
    if let Ok(t) = &split
        && let Some(done) = probe::answer(req, ctx, r, t.path, cgi::running)
    {
        return done.map(|()| Answer::Done);
    }
    // RFC 8555 §8.3: the key authorization of an open HTTP-01 challenge, on any listener
    // (a CA may follow a redirect to https). Other paths under the prefix are files.
    #[cfg(feature = "tls")]
    if let Some(challenges) = ctx.acme
        && let Ok(t) = &split
        && let Some(token) = t.path.strip_prefix(ACME_CHALLENGE_PREFIX)
        && let Some(answer) = std::str::from_utf8(token)
            .ok()
            .and_then(|t| challenges.http01(t))
    {
        r.start(200);
        r.header("Content-Type", b"application/octet-stream");
        r.body_bytes(answer.as_bytes());
        return Ok(Answer::Done);
    }
    if ctx.misdirected {
        return Err(Error::Misdirected);
    }
    // --redirect-https, or the site's redirect_https: a plain request is sent to its https
    // URL, whatever it asks (RFC 9110 §15.4.9: 308 keeps the method and body), except
    // ACME's HTTP-01 challenges, which must be answered over plain HTTP (RFC 8555 §8.3).
    if ctx.site.redirect_https
        && !ctx.secure
        && let Ok(t) = &split
        && !t.asterisk
        && !t.path.starts_with(ACME_CHALLENGE_PREFIX)
    {
        let port = ctx.cfg.tls_listen.first().map_or(443, |a| a.port());
        let host = req.header("host").unwrap_or(b"");
        let loc = target::https_location(host, port, t).ok_or(Error::BadRequest)?;
        r.error_with(308, &[("Location", &loc)]);
        return Ok(Answer::Done);
    }
    let site_writes = ctx.site.writes;
    let writes = is_write(req.method) && site_writes;
    if decoded.is_ok()
        && let Some(verify) = authorize(req, ctx, writes)?
    {
        return Ok(verify);
    }
    // Programs get every method, CONNECT included, when the path is theirs.
    if ctx.rule.cgi.is_some()
        && let Ok(t) = &split
        && !t.asterisk
        && decoded.is_ok()
        && cgi::is_cgi(ctx, path)
    {
        if names::hidden(path, ctx.site.dotfiles) {
            return Err(Error::NotFound);
        }
        // Everything that can refuse the request is checked before its body is read.
        let program = cgi::prepare(ctx, path)?;
        if req.framing == Framing::Chunked {
            return Ok(Answer::CgiBuffer(Box::new(program)));
        }
        return cgi::start(req, ctx, peers, program, None).map(Answer::Cgi);
    }
    if req.method == Method::Connect {
        // No tunnels here; the client may already be sending tunnel bytes, so close.
        r.close = true;
        return Err(Error::MethodNotAllowed(names::ALLOW));
    }
    let t = split.map_err(|_| Error::BadRequest)?;
    if t.asterisk && !writes {
        // RFC 9110 §9.3.7: OPTIONS * asks about the server as a whole.
        if req.method != Method::Options {
            return Err(Error::BadRequest);
        }
        r.options(
            if site_writes {
                names::ALLOW_WRITE
            } else {
                names::ALLOW
            },
            cfg!(feature = "dav") && site_writes,
        );
        return Ok(Answer::Done);
    }
    match decoded {
        Ok(()) => {}
        Err(PathError::BadRequest) => return Err(Error::BadRequest),
        Err(PathError::NotFound) => return Err(Error::NotFound),
    }
    #[cfg(feature = "dav")]
    if is_dav(req.method) {
        let takes_body = matches!(
            req.method,
            Method::Propfind | Method::Proppatch | Method::Lock
        );
        if req.framing != Framing::None {
            if !takes_body {
                // RFC 4918 §9.3.1: MKCOL with a body it does not understand; COPY and MOVE
                // have none either.
                return Err(Error::UnsupportedMediaType);
            }
            if body.is_none() {
                if let Framing::Length(n) = req.framing
                    && n > MAX_DAV_BODY as u64
                {
                    r.close = true;
                    return Err(Error::TooLarge);
                }
                return Ok(Answer::DavBody);
            }
        }
        if req.method != Method::Propfind && ctx.rule.write.is_none() {
            return Err(Error::MethodNotAllowed(names::ALLOW));
        }
        dav::handle(req, ctx, r, path, body.unwrap_or(b""))?;
        return Ok(Answer::Done);
    }
    if writes {
        let upload = upload::begin(req, ctx, r, path)?;
        return Ok(upload.map_or(Answer::Done, Answer::Upload));
    }
    static_file::handle(req, ctx, r, path, t.query)?;
    Ok(Answer::Done)
}

/// Methods that change what is stored: they need a write prefix, and its writers.
#[cfg(not(feature = "dav"))]
fn is_write(m: Method) -> bool {
    matches!(m, Method::Put | Method::Delete | Method::Patch)
}

/// Methods that change what is stored: they need a write prefix, and its writers.
#[cfg(feature = "dav")]
fn is_write(m: Method) -> bool {
    matches!(
        m,
        Method::Put
            | Method::Delete
            | Method::Patch
            | Method::Mkcol
            | Method::Copy
            | Method::Move
            | Method::Proppatch
            | Method::Lock
            | Method::Unlock
    )
}

/// WebDAV's own methods (RFC 4918 §9), PUT and DELETE aside.
#[cfg(feature = "dav")]
fn is_dav(m: Method) -> bool {
    matches!(
        m,
        Method::Propfind
            | Method::Proppatch
            | Method::Mkcol
            | Method::Copy
            | Method::Move
            | Method::Lock
            | Method::Unlock
    )
}

/// Who may write or read is the router's to ask, before any handler (a CGI program
/// included) runs: `Ok(None)` to go on, `Ok(Some(Verify))` to verify credentials off the
/// event loop first. A write outside the write prefixes is refused (405) by the upload
/// without asking for credentials. Where a rule names `readers`, reading needs the
/// credentials of one of them or of its `writers` (OPTIONS excepted: it says only what is
/// allowed, and clients ask it before they authenticate); its writers may write.
fn authorize(req: &Request, ctx: &mut Ctx, writes: bool) -> Result<Option<Answer>, Error> {
    let rule = ctx.rule;
    let users = if writes && rule.write.is_some() {
        Some(rule.writers.as_deref())
    } else if !writes && rule.readers.is_some() && req.method != Method::Options {
        Some(rule.readers.as_deref())
    } else {
        None
    };
    let (Some(allowed), Some(auth)) = (users, ctx.auth) else {
        return Ok(None);
    };
    let given = req.header("authorization");
    match auth.check(given, ctx.client, ctx.auth_cache, ctx.now) {
        auth::Check::Allowed => {}
        auth::Check::Missing => return Err(Error::Unauthorized),
        auth::Check::Denied => return Err(Error::WrongCredentials),
        auth::Check::Limited => return Err(Error::TooManyAttempts),
        auth::Check::Verify(p) => return Ok(Some(Answer::Verify(p))),
    }
    let user = auth::user(given);
    let listed = |list: &[String]| {
        user.as_deref()
            .is_some_and(|u| list.iter().any(|n| n.as_bytes() == u))
    };
    let writers_read = !writes && rule.writers.as_deref().is_some_and(listed);
    match allowed {
        Some(list) if !listed(list) && !writers_read => Err(Error::Forbidden),
        _ => Ok(None),
    }
}

/// Test hook, in debug builds only (release builds have no trace of it): when the
/// environment variable `BAREHTTPD_TEST_PANIC` holds a request target, a request for exactly
/// that target panics here, so that `tests/faults.rs` can check that a panic in a handler
/// costs its own connection and nothing else. The variable is read once.
#[cfg(debug_assertions)]
fn test_panic_hook(target: &[u8]) {
    static TARGET: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    let armed = TARGET.get_or_init(|| {
        std::env::var_os("BAREHTTPD_TEST_PANIC").map(std::ffi::OsString::into_encoded_bytes)
    });
    if armed.as_deref() == Some(target) {
        panic!("BAREHTTPD_TEST_PANIC: {}", String::from_utf8_lossy(target));
    }
}
