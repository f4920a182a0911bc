//! barehttpd: an HTTP/1.1 origin server for static files with nothing between its code and
//! the kernel but system calls.
//!
//! Follow a request from `server` (accept, event loop) to `conn` (the connection's state
//! machine) to `http` (the protocol rules, no I/O) and `handler` (what to answer), with every
//! syscall in `sys`.
//!
//! `unsafe` is refused everywhere but in `sys` (and the benchmark-only allocation counter,
//! which says why), so that a new `unsafe` elsewhere fails to compile instead of waiting for
//! a reviewer to spot it. Every `unsafe` block says why it is sound in a `// SAFETY:`
//! comment (clippy's `undocumented_unsafe_blocks`, set in Cargo.toml for every target).

#![deny(unsafe_code)]

#[cfg(feature = "count-alloc")]
#[allow(unsafe_code)]
pub mod alloc_count;
pub mod base64;
pub mod config;
pub mod conn;
pub mod handler;
pub mod http;
pub mod log;
pub mod server;
pub mod stats;
#[allow(unsafe_code)]
pub mod sys;
#[cfg(feature = "tls")]
pub mod tls;

/// The static build's allocator keeps large blocks per thread (`sys::alloc` says why: TLS
/// records; a plain build allocates nothing per request and keeps musl's as it is).
#[cfg(all(target_env = "musl", feature = "tls", not(feature = "count-alloc")))]
#[global_allocator]
static ALLOCATOR: sys::alloc::Caching = sys::alloc::Caching;
pub mod worker;
