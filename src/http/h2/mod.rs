//! Protocol rules of HTTP/2 (RFC 9113) and its header compression, HPACK (RFC 7541), with no
//! I/O: pure functions and state machines over bytes, as the rest of `http/`. The session
//! that drives them over a transport is `conn/http2/`.

pub mod frame;
pub mod hpack;
mod huffman;
pub mod request;

/// The whole answer to an HTTP/2 connection the server has no room for, as
/// `response::overloaded` is HTTP/1.1's: our (empty) SETTINGS, which must come first
/// (RFC 9113 §3.4), then 503 with Retry-After on the first stream the client opened in
/// `received` (what it sent, preface first), then GOAWAY NO_ERROR naming that stream the last
/// one taken (§6.8: any later one was not processed and may be sent again). Without a
/// request in `received`, the GOAWAY names none.
pub fn overloaded(out: &mut Vec<u8>, received: &[u8], date: &[u8]) {
    frame::write_settings(out, &[]);
    let mut stream = 0;
    let mut at = frame::PREFACE.len();
    while received.len() >= at + frame::HEADER_LEN {
        let h = frame::Head::parse(&received[at..]);
        if h.kind == frame::HEADERS {
            // A client's stream is odd (§5.1.1); another is no request.
            stream = if h.stream % 2 == 1 { h.stream } else { 0 };
            break;
        }
        at += frame::HEADER_LEN + h.len as usize;
    }
    if stream != 0 {
        let mut block = Vec::with_capacity(64);
        let mut enc = hpack::Encoder::new();
        enc.status(503, &mut block);
        enc.field(
            b"server",
            crate::http::response::SERVER.as_bytes(),
            &mut block,
        );
        enc.field(b"date", date, &mut block);
        enc.field(b"retry-after", b"1", &mut block);
        enc.field(b"content-length", b"0", &mut block);
        let max = frame::MIN_MAX_FRAME as usize;
        frame::write_headers(out, stream, &block, true, max);
    }
    frame::write_goaway(out, stream, frame::ErrorCode::NoError);
}
