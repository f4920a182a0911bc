//! Compression on the fly (cargo feature `compress`): which files are worth compressing, and
//! the compressing itself, in gzip, brotli or zstd.
//!
//! A file is compressed whole, once per worker and coding, when a client first asks for that
//! coding; `static_file` keeps the result in the worker's `cache`, so later answers only copy
//! it. The CPU of that first compression is spent inline, on the worker that got the request:
//! a few milliseconds for a typical script or stylesheet, at most about 50 ms (`MAX_LEN`),
//! once per worker, version of the file and coding. Larger files are sent as they are, not
//! streamed through a compressor.
//!
//! Which coding to send is the protocol's business (`http::coding`); this module never reads
//! a request.

use crate::http::coding::Coding;
use std::io::Write;

/// Smaller files are sent as they are: the saving would be a few hundred bytes at most,
/// within the same TCP segment, and a coding's own framing (gzip's 18 bytes) eats into it.
pub const MIN_LEN: u64 = 1024;
/// Larger files are sent as they are (uncompressed): compressing one whole holds its worker
/// (brotli at `BROTLI_QUALITY` does about 11 MB/s here, so up to about 50 ms once per worker,
/// version and coding), and their copies would crowd the small files out of the cache
/// (`cache::MAX_PACKED_BYTES`).
pub const MAX_LEN: u64 = 512 << 10;

/// zlib's default level (jquery.min.js, 89,037 bytes: 30,960 bytes in 3.4 ms here); GNU
/// gzip -9 made the GPL's text 6 bytes smaller than -6 (12,132 against 12,138).
const GZIP_LEVEL: u32 = 6;
/// Brotli quality 6: smaller than gzip -6 (30,165 bytes) at about 2.5 times its time
/// (8.2 ms); the qualities above 9 are meant for build steps (`.br` siblings), not for a
/// worker that other connections wait on.
const BROTLI_QUALITY: u32 = 6;
/// Brotli's window: 1 MiB, larger than any file compressed here (`MAX_LEN`); a larger one
/// would only cost memory while compressing.
const BROTLI_WINDOW_BITS: u32 = 20;
/// zstd level 9: smaller than gzip -6 (30,436 bytes) and faster (2.7 ms).
const ZSTD_LEVEL: i32 = 9;

/// Whether a type is worth compressing: text, scripts, data, SVG and WebAssembly (the types
/// that precompressed siblings are looked for). Images, audio, video, fonts in WOFF and
/// archives are compressed already.
pub fn compressible(mime: &str) -> bool {
    super::mime::is_text(mime)
        || matches!(
            mime,
            "application/wasm"
                | "application/ld+json"
                | "application/atom+xml"
                | "application/rss+xml"
                | "application/yaml"
                | "application/toml"
                | "application/x-sh"
                | "application/postscript"
                | "application/rtf"
                | "application/vnd.google-earth.kml+xml"
                | "application/vnd.apple.mpegurl"
                | "image/bmp"
                | "image/vnd.microsoft.icon"
                | "font/ttf"
                | "font/otf"
                | "application/vnd.ms-fontobject"
        )
}

/// `data` in the content coding `c`.
pub fn compress(c: Coding, data: &[u8]) -> Vec<u8> {
    // Text shrinks to about a quarter: start there and let the vector grow if it must.
    let out = Vec::with_capacity(data.len() / 4 + 64);
    match c {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
            // Writing into a vector cannot fail.
            let _ = e.write_all(data);
            e.finish().unwrap_or_default()
        }
        Coding::Br => {
            let mut w = brotli::CompressorWriter::new(
                out,
                data.len().clamp(4096, 1 << 16),
                BROTLI_QUALITY,
                BROTLI_WINDOW_BITS,
            );
            let _ = w.write_all(data);
            let _ = w.flush();
            w.into_inner()
        }
        Coding::Zstd => {
            let mut out = out;
            match zstd::stream::copy_encode(data, &mut out, ZSTD_LEVEL) {
                Ok(()) => out,
                Err(_) => Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn each_coding_decodes_to_the_original() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("line {} of some text\n", i % 97).into_bytes())
            .collect();
        for c in [Coding::Gzip, Coding::Br, Coding::Zstd] {
            let packed = compress(c, &text);
            assert!(packed.len() < text.len() / 4, "{c:?}: {}", packed.len());
            let mut back = Vec::new();
            match c {
                Coding::Gzip => {
                    flate2::read::GzDecoder::new(&packed[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Coding::Br => {
                    brotli::Decompressor::new(&packed[..], 4096)
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Coding::Zstd => back = zstd::stream::decode_all(&packed[..]).unwrap(),
            }
            assert!(back == text, "{c:?} round trip");
        }
    }

    #[test]
    fn text_is_compressible_and_images_are_not() {
        assert!(compressible("text/css"));
        assert!(compressible("image/svg+xml"));
        assert!(compressible("application/wasm"));
        assert!(!compressible("image/png"));
        assert!(!compressible("font/woff2"));
        assert!(!compressible("application/gzip"));
    }
}
