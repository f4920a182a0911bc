//! `http::h2::frame`: any byte sequence is split into frames and each is parsed without a
//! panic; a frame that parses keeps its slices inside its payload, DATA's flow length is its
//! whole payload, and re-parsing the header of a written frame gives the same header.
#![no_main]
use barehttpd::http::h2::frame::{self, Frame, HEADER_LEN, Head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    while data.len() - at >= HEADER_LEN {
        let h = Head::parse(&data[at..]);
        let end = at + HEADER_LEN + h.len as usize;
        if end > data.len() {
            break;
        }
        let payload = &data[at + HEADER_LEN..end];
        if let Ok(f) = frame::parse(&h, payload, frame::MAX_MAX_FRAME) {
            match f {
                Frame::Data { data, flow_len, .. } => {
                    assert!(data.len() <= payload.len());
                    assert_eq!(flow_len, h.len);
                }
                Frame::Headers { fragment, .. } | Frame::Continuation { fragment, .. } => {
                    assert!(fragment.len() <= payload.len())
                }
                Frame::Settings { payload: s, .. } => {
                    assert_eq!(frame::settings(s).count() * 6, s.len())
                }
                Frame::WindowUpdate { increment, .. } => {
                    assert!(increment > 0 && increment <= frame::MAX_WINDOW)
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        frame::write_head(&mut out, h.len as usize, h.kind, h.flags, h.stream);
        assert_eq!(Head::parse(&out), h);
        at = end;
    }
});
