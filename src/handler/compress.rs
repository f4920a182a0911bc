//! Compression on the fly (cargo feature `compress`): which files are worth compressing, and
//! the compressing itself, in gzip, brotli or zstd.
//!
//! A file is compressed whole, once per worker and coding, when a client first asks for that
//! coding; `static_file` keeps the result in the worker's `cache`, so later answers only copy
//! it. The CPU of that first compression is spent inline, on the worker that got the request:
//! a few milliseconds for a typical script or stylesheet, at most about 50 ms (`MAX_LEN`),
//! once per worker, version of the file and coding. Larger files are compressed as they are
//! sent (`FileStream`, a `Body::Stream` in chunked framing), for every answer, at faster
//! levels, by at most `MAX_STREAMS` answers at a time (the others are sent as they are).
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

/// Larger files compressed while they are sent, at once in the whole server: each holds an
/// encoder's state (brotli at `STREAM_BROTLI_QUALITY` about 2 MiB, zstd level 3 about
/// 1.3 MiB, gzip 256 KiB) and spends CPU on every answer, not once; past this the file is
/// sent as it is, as a server that does not compress would.
pub const MAX_STREAMS: usize = 32;
/// File bytes read and compressed per piece of a streamed answer: a piece is made only when
/// the previous one has left, so this bounds the work one connection does before the
/// others get their turn (64 KiB is 1-3 ms at the streaming levels).
const STREAM_STEP: usize = 64 << 10;
/// Levels for streamed answers, made anew for every request (nginx's `gzip on` does the
/// same, at level 1 by default): about three times faster than the levels of the cached
/// copies, for a few percent more bytes.
const STREAM_GZIP_LEVEL: u32 = 4;
const STREAM_BROTLI_QUALITY: u32 = 4;
const STREAM_ZSTD_LEVEL: i32 = 3;

static STREAMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A file compressed as it is sent: each `fill` reads the next `STREAM_STEP` bytes (more
/// while the encoder holds small inputs back) and appends what the encoder made of them;
/// the transport sends each piece as a chunk. Counts in `MAX_STREAMS` while it lives.
pub struct FileStream {
    file: crate::sys::OwnedFd,
    offset: u64,
    end: u64,
    encoder: Encoder,
    input: Vec<u8>,
}

enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Br(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    Done,
}

impl FileStream {
    /// Compress `len` bytes of `file` in `c` as they are sent; the file back when
    /// `MAX_STREAMS` answers are being compressed already (or the encoder cannot start).
    pub fn start(
        c: Coding,
        file: crate::sys::OwnedFd,
        len: u64,
    ) -> Result<FileStream, crate::sys::OwnedFd> {
        use std::sync::atomic::Ordering;
        let taken = STREAMS.fetch_add(1, Ordering::Relaxed);
        if taken >= MAX_STREAMS {
            STREAMS.fetch_sub(1, Ordering::Relaxed);
            return Err(file);
        }
        let out = Vec::with_capacity(STREAM_STEP / 2);
        let encoder = match c {
            Coding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(STREAM_GZIP_LEVEL),
            )),
            Coding::Br => Encoder::Br(Box::new(brotli::CompressorWriter::new(
                out,
                STREAM_STEP,
                STREAM_BROTLI_QUALITY,
                BROTLI_WINDOW_BITS,
            ))),
            Coding::Zstd => match zstd::stream::write::Encoder::new(out, STREAM_ZSTD_LEVEL) {
                Ok(e) => Encoder::Zstd(e),
                Err(_) => {
                    STREAMS.fetch_sub(1, Ordering::Relaxed);
                    return Err(file);
                }
            },
        };
        Ok(FileStream {
            file,
            offset: 0,
            end: len,
            encoder,
            input: vec![0; STREAM_STEP],
        })
    }
}

impl Drop for FileStream {
    fn drop(&mut self) {
        STREAMS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl super::reply::Produce for FileStream {
    fn fill(&mut self, out: &mut Vec<u8>) -> Result<bool, crate::sys::Errno> {
        // Until the encoder gives something (it holds back small inputs) or the file ends.
        loop {
            if self.offset < self.end {
                let want = ((self.end - self.offset) as usize).min(self.input.len());
                let got =
                    crate::sys::fs::pread_full(&self.file, &mut self.input[..want], self.offset);
                if got == 0 {
                    // The file shrank since its size was taken: end the answer here, whole.
                    self.end = self.offset;
                } else {
                    self.offset += got as u64;
                    let data = &self.input[..got];
                    let ok = match &mut self.encoder {
                        Encoder::Gzip(e) => e.write_all(data).is_ok(),
                        Encoder::Br(w) => w.write_all(data).is_ok(),
                        Encoder::Zstd(e) => e.write_all(data).is_ok(),
                        Encoder::Done => false,
                    };
                    if !ok {
                        return Err(crate::sys::Errno::IO);
                    }
                }
            }
            if self.offset >= self.end {
                let last = match std::mem::replace(&mut self.encoder, Encoder::Done) {
                    Encoder::Gzip(e) => e.finish().ok(),
                    Encoder::Br(mut w) => w.flush().ok().map(|()| w.into_inner()),
                    Encoder::Zstd(e) => e.finish().ok(),
                    Encoder::Done => Some(Vec::new()),
                };
                let Some(last) = last else {
                    return Err(crate::sys::Errno::IO);
                };
                out.extend_from_slice(&last);
                return Ok(false);
            }
            let buf = match &mut self.encoder {
                Encoder::Gzip(e) => e.get_mut(),
                Encoder::Br(w) => w.get_mut(),
                Encoder::Zstd(e) => e.get_mut(),
                Encoder::Done => return Ok(false),
            };
            if !buf.is_empty() {
                out.extend_from_slice(buf);
                buf.clear();
                return Ok(true);
            }
        }
    }
}

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
