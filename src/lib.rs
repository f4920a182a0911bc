//! barehttpd: an HTTP/1.1 origin server for static files with nothing between its code and
//! the kernel but system calls.
//!
//! Follow a request from `server` (accept, event loop) to `conn` (the connection's state
//! machine) to `http` (the protocol rules, no I/O) and `handler` (what to answer), with every
//! syscall in `sys`.

#[cfg(feature = "count-alloc")]
pub mod alloc_count;
pub mod config;
pub mod conn;
pub mod handler;
pub mod http;
pub mod log;
pub mod server;
pub mod sys;
pub mod worker;
