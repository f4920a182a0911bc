//! Protocol rules of HTTP/1.1 (RFC 9110, RFC 9112), with no I/O.
//!
//! Everything here is a pure function over bytes: the request parser, the chunked-body
//! decoder, the request-target and path rules, the response-head writer, and the PROXY
//! protocol header and `Forwarded` lists a load balancer adds. The connection
//! (`conn/`) feeds these bytes from sockets; the handlers decide what to answer. Keeping the
//! protocol apart means one RFC section maps to one place in the code and every rule can be
//! tested and fuzzed without a socket.

pub mod cgi;
pub mod chunked;
#[cfg(feature = "compress")]
pub mod coding;
pub mod conditional;
pub mod date;
#[cfg(feature = "dav")]
pub mod dav;
pub mod forwarded;
#[cfg(feature = "h2")]
pub mod h2;
pub mod host;
#[cfg(feature = "dav")]
pub mod if_header;
pub mod parse;
pub mod proxy;
pub mod range;
pub mod response;
pub mod target;

pub use parse::{Framing, Header, Method, ParseError, Request, Version};
