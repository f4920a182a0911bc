//! What a handler needs from the server for one request: the configuration, the document
//! root, the clock, the credentials, the worker's file cache, and the worker's reusable
//! buffers. The worker builds it field by field (`Worker::ctx`) for each request; handlers
//! only borrow it.
//!
//! It holds no state of its own and imports no handler. The buffers are the worker's, kept
//! across requests, so that a request answered from the cache allocates nothing.

use super::reply::Extras;
use super::{auth, cache};
use crate::config::Config;
use crate::sys::BorrowedFd;
use std::ffi::CString;

/// What a handler needs from the server: configuration, the document root, the clock.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    /// The site the request is for, and the rule of its path (the site's "/" rule until
    /// `dispatch` has decoded the path).
    pub site: &'a super::site::Site,
    pub rule: &'a super::site::Rule,
    /// `rule`'s index in the site's rules.
    pub rule_at: usize,
    /// What answers under `rule` carry, over this scheme.
    pub extras: &'a Extras,
    /// The Host names another site than the connection's SNI name: 421.
    pub misdirected: bool,
    /// The request came over HTTPS.
    pub secure: bool,
    /// ACME's HTTP-01 answers (`--acme`).
    #[cfg(feature = "tls")]
    pub acme: Option<&'a crate::tls::acme::Challenges>,
    pub root: BorrowedFd<'a>,
    pub index: &'a CString,
    pub date: &'a [u8],
    /// The same time, Unix seconds.
    pub unix: u64,
    /// Reusable space for the decoded request path: `dispatch` decodes into it once and
    /// lends it to the handler as `path` (it is empty while lent).
    pub scratch: &'a mut Vec<u8>,
    /// Reusable space for the names of precompressed siblings.
    pub sibling: &'a mut Vec<u8>,
    /// Reusable space for the relative, NUL-terminated name of the file being opened.
    pub name: &'a mut Vec<u8>,
    /// Credentials for writes (`--auth-file`), and those this worker has verified.
    pub auth: Option<&'a auth::Auth>,
    pub auth_cache: &'a mut auth::Verified,
    /// The client's address, for limiting failed attempts per client.
    pub client: Option<std::net::IpAddr>,
    /// Small files ready to send, and the monotonic time in ms.
    pub cache: &'a mut cache::FileCache,
    pub now: u64,
    /// This server's process id, read once at start-up: it names temporary upload files.
    pub pid: u32,
    /// The server is shutting down (`--health` answers 503).
    pub draining: bool,
    /// This worker's `--metrics` counters, and every worker's (for the page).
    pub stats: &'a crate::stats::WorkerStats,
    pub all_stats: &'a [crate::stats::WorkerStats],
    /// Open connections, all workers together.
    pub conns: &'a std::sync::atomic::AtomicUsize,
    /// WebDAV's locks, one table for the process (kept across reloads).
    #[cfg(feature = "dav")]
    pub locks: &'a std::sync::Arc<super::lock::Locks>,
    /// The root of the lock a write was refused for (423), percent-encoded, for the body
    /// that names it; empty until then (no allocation unless a write is refused).
    #[cfg(feature = "dav")]
    pub locked: std::cell::RefCell<Vec<u8>>,
}
