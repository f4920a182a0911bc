//! What the server says about itself: `--health` (200 while serving, 503 once draining, so
//! that a load balancer stops sending before the server stops) and `--metrics` (the
//! Prometheus text of `crate::stats`, to loopback clients unless `--metrics-from-anywhere`).
//!
//! The router asks these before any file is looked up; the answers are logged like any
//! other. Neither touches the file system.

use super::{Ctx, Error, Reply};
use crate::http::parse::{Method, Request};

/// Allowed on both paths.
const ALLOW: &[u8] = b"GET, HEAD";
/// How long a draining server asks probes to wait (its grace period is 10 s).
const RETRY_AFTER: &[u8] = b"10";

/// Whether `path` (the raw request path) is one of ours; if so, answer it.
pub fn answer(
    req: &Request,
    ctx: &Ctx,
    r: &mut Reply,
    path: &[u8],
    cgi_running: impl FnOnce() -> usize,
) -> Option<Result<(), Error>> {
    let health = ctx
        .cfg
        .health
        .as_deref()
        .is_some_and(|p| p.as_bytes() == path);
    let metrics = ctx
        .cfg
        .metrics
        .as_deref()
        .is_some_and(|p| p.as_bytes() == path);
    if !health && !metrics {
        return None;
    }
    if !matches!(req.method, Method::Get | Method::Head) {
        return Some(Err(Error::MethodNotAllowed(ALLOW)));
    }
    if health {
        if ctx.draining {
            r.start(503);
            r.header("Retry-After", RETRY_AFTER);
            text(r, b"text/plain; charset=utf-8", b"draining\n");
        } else {
            r.start(200);
            text(r, b"text/plain; charset=utf-8", b"ok\n");
        }
        return Some(Ok(()));
    }
    if !ctx.cfg.metrics_anywhere && !ctx.client.is_some_and(|a| a.to_canonical().is_loopback()) {
        return Some(Err(Error::Forbidden));
    }
    let conns = ctx.conns.load(std::sync::atomic::Ordering::Relaxed);
    let page = crate::stats::render(ctx.all_stats, conns, cgi_running());
    r.start(200);
    text(r, b"text/plain; version=0.0.4; charset=utf-8", &page);
    Some(Ok(()))
}

/// A body that no cache may keep.
fn text(r: &mut Reply, content_type: &[u8], body: &[u8]) {
    r.header("Content-Type", content_type);
    r.header("Cache-Control", b"no-store");
    r.body_bytes(body);
}
