//! Protocol rules of HTTP/2 (RFC 9113) and its header compression, HPACK (RFC 7541), with no
//! I/O: pure functions and state machines over bytes, as the rest of `http/`. The session
//! that drives them over a transport is `conn/http2/`.

pub mod frame;
pub mod hpack;
mod huffman;
pub mod request;
