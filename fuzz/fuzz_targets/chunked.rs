//! Fuzz `http::chunked::ChunkedDecoder::decode`.
//!
//! The first input byte is the piece size (0 is read as 1); the rest is the chunked body,
//! fed to a fresh decoder three ways: in one piece, in pieces of that size, and one byte at a
//! time. The network may split a body anywhere, so all three must agree exactly: the same
//! decoded body, the same error (or none), the same `is_done`, and when no error, the same
//! number of bytes consumed (where the next request starts). Within each run, every call must make progress
//! while not done, report a data range inside what it consumed and ending where it stopped,
//! and `total` must equal the length of the body handed out.
#![no_main]

use barehttpd::http::chunked::{ChunkError, ChunkedDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let whole = decode_in_pieces(input, input.len().max(1));
    let split = decode_in_pieces(input, step);
    let bytewise = decode_in_pieces(input, 1);
    assert_eq!(
        split, whole,
        "pieces of {step} bytes decode differently from one piece"
    );
    assert_eq!(
        bytewise, whole,
        "single bytes decode differently from one piece"
    );
});

/// What a decoder made of the input.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    body: Vec<u8>,
    /// Input bytes consumed (all of it unless the decoder finished first); `None` after an
    /// error, since a failing call does not say how far it got.
    consumed: Option<usize>,
    done: bool,
    error: Option<ChunkError>,
}

fn decode_in_pieces(input: &[u8], step: usize) -> Decoded {
    let mut dec = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut pos = 0;
    let mut error = None;
    'feed: while pos < input.len() && !dec.is_done() {
        let end = (pos + step).min(input.len());
        let mut piece = &input[pos..end];
        while !piece.is_empty() && !dec.is_done() {
            match dec.decode(piece) {
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
                Ok((n, data)) => {
                    assert!(
                        n <= piece.len(),
                        "consumed {n} of a {}-byte piece",
                        piece.len()
                    );
                    assert!(n > 0 || dec.is_done(), "no progress on {piece:?}");
                    if let Some(r) = data {
                        assert!(
                            r.start < r.end && r.end == n,
                            "data range {r:?}, consumed {n}"
                        );
                        body.extend_from_slice(&piece[r]);
                    }
                    piece = &piece[n..];
                    pos += n;
                }
            }
        }
        assert_eq!(
            dec.total,
            body.len() as u64,
            "total disagrees with the body handed out"
        );
    }
    assert_eq!(
        dec.total,
        body.len() as u64,
        "total disagrees with the body handed out"
    );
    if dec.is_done() {
        // A finished decoder consumes nothing more: what follows is the next request.
        assert_eq!(
            dec.decode(&input[pos..]),
            Ok((0, None)),
            "decoder went on after done"
        );
    }
    Decoded {
        body,
        consumed: error.is_none().then_some(pos),
        done: dec.is_done(),
        error,
    }
}
