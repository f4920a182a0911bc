//! A folder downloaded as one archive: `?download=zip` or `?download=tar` on a directory's URL,
//! where the directory may be listed (the path rule's `listing`; 403 otherwise, as for its
//! listing). The answer is made while it is sent (`reply::Produce`, chunked; for an HTTP/1.0
//! client, delimited by the connection's close), so its memory is the same whatever the
//! tree holds: a stack of open directories (`MAX_DEPTH`), one open file read `STEP` bytes at
//! a time, one deflate state, and for ZIP the central directory, which must come last and so
//! grows with the number of entries (about 50 bytes plus the name each; bounded by
//! `zip::MAX_ENTRIES` and `zip::MAX_CENTRAL_BYTES`: past either, the archive ends there, whole
//! and valid, and the server logs what was left out). At most `MAX_ARCHIVES` are made at once.
//!
//! What goes in: what GET would serve. Names never served (`names::hidden_name`) are left out;
//! every open is beneath a directory descriptor (`sys::fs`), a symlink is resolved from the
//! document root as a GET of its path would (`--follow-symlinks`, never out of the root), and
//! a symlink to a folder is left out, so the walk meets no folder twice and no cycle. FIFOs,
//! sockets and devices are left out. A folder deeper than `MAX_DEPTH` below the one
//! downloaded is left out. Every folder has its own entry (so empty ones are kept).
//!
//! ZIP: types that are compressed already (images, audio, video, archives, WOFF fonts, PDF)
//! are stored, the others deflated (level `DEFLATE_LEVEL`; stored too in a build without the
//! `compress` feature); see `zip` for the framing and zip64. TAR: pax; see `tar`.
//!
//! Errors while it is sent: a file that cannot be opened is left out (its header is not
//! written yet); a read that fails in the middle of a file ends the answer there, with the
//! chunked framing unterminated and the connection closed, so the client sees a broken
//! download rather than a short archive it would take as whole. A file that changed size
//! while read: TAR writes the size its header states (zeros after a shrink, cut after a
//! growth), ZIP what was read up to the size at opening (its descriptor says what).

mod tar;
mod zip;

use super::ctx::Ctx;
use super::error::Error;
use super::names;
use super::reply::{Produce, Reply};
use crate::http::parse::{Request, Version};
use crate::sys::{Errno, OwnedFd, fs};
use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Folder levels walked below the one downloaded, at most: each holds a descriptor and a
/// getdents64 buffer while the walk is below it.
pub const MAX_DEPTH: usize = 32;
/// File bytes read per step (and the size of the pieces sent), as `compress::FileStream`.
pub const STEP: usize = 64 * 1024;
/// Names read per step once something is ready to send: a folder of hidden names costs one
/// step this many getdents entries, never the whole folder at once.
const NAMES_PER_STEP: usize = 256;
/// Archives made at once in the server: each holds up to 35 descriptors, ~400 KB of
/// buffers and deflate state, and its central directory; more get 503 and retry.
pub const MAX_ARCHIVES: usize = 16;
/// Deflate level 1: about 3 times as fast as level 6 for a few percent of size; a worker
/// that other connections wait on makes the archive.
#[cfg(feature = "compress")]
const DEFLATE_LEVEL: u32 = 1;

static ARCHIVES: AtomicUsize = AtomicUsize::new(0);

/// The archive formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Tar,
}

/// The format the query asks for: `download=zip` or `download=tar` among its parameters.
pub fn wanted(query: Option<&[u8]>) -> Option<Kind> {
    query?.split(|&b| b == b'&').find_map(|kv| match kv {
        b"download=zip" => Some(Kind::Zip),
        b"download=tar" => Some(Kind::Tar),
        _ => None,
    })
}

/// Answer GET or HEAD for the folder `dir` (URL `path`, ending in '/') with an archive of it.
pub fn answer(
    req: &Request,
    ctx: &mut Ctx,
    r: &mut Reply,
    path: &[u8],
    dir: OwnedFd,
    kind: Kind,
) -> Result<(), Error> {
    if !ctx.rule.listing {
        return Err(Error::Forbidden);
    }
    // The folder's name, for the archive's file name and the top of its entries.
    let inner = path
        .strip_prefix(b"/")
        .and_then(|p| p.strip_suffix(b"/"))
        .unwrap_or(b"");
    let folder = match inner.iter().rposition(|&b| b == b'/') {
        Some(i) => &inner[i + 1..],
        None if inner.is_empty() => b"files",
        None => inner,
    };
    let mut filename = folder.to_vec();
    let (ext, ct): (&[u8], &[u8]) = match kind {
        Kind::Zip => (b".zip", b"application/zip"),
        Kind::Tar => (b".tar", b"application/x-tar"),
    };
    filename.extend_from_slice(ext);
    let chunked = req.version != Version::Http10;
    let head_only = req.method == crate::http::parse::Method::Head;
    let stream = if head_only {
        None
    } else {
        // Its own descriptor of the root: symlinks are resolved from it while the answer is
        // sent, after this request's borrow of the root has ended.
        let root = fs::open_dir_beneath_nofollow(ctx.root, c".")?;
        let mut rel = inner.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        let mut prefix = String::from_utf8_lossy(folder).into_owned().into_bytes();
        prefix.push(b'/');
        Some(Archive::start(
            root,
            dir,
            rel,
            prefix,
            kind,
            ctx.site.dotfiles,
        )?)
    };
    r.start(200);
    r.header("Content-Type", ct);
    crate::http::response::attachment(r.head_buf(), &filename);
    r.header("Cache-Control", b"no-store");
    match stream {
        Some(s) if chunked => r.body_stream(Box::new(s)),
        Some(s) => r.body_stream_until_close(Box::new(s)),
        None if chunked => {
            r.header("Transfer-Encoding", b"chunked");
            r.no_body();
        }
        None => {
            r.close = true;
            r.no_body();
        }
    }
    Ok(())
}

/// One folder being walked.
struct Level {
    dir: fs::DirReader,
    /// The length of `Archive::rel` above this folder (what to cut back to when it is done).
    rel_len: usize,
}

/// The file being written into the archive.
struct Current {
    file: OwnedFd,
    /// Its size when opened: what TAR's header states, and where ZIP stops reading.
    size: u64,
    read: u64,
    method: u16,
    crc: zip::Crc,
    compressed: u64,
}

enum Format {
    Zip(zip::Writer),
    Tar,
}

/// The archive of a folder, made as it is sent.
pub struct Archive {
    root: OwnedFd,
    stack: Vec<Level>,
    /// The current folder's path from the root, ending in '/' (empty for the root).
    rel: Vec<u8>,
    /// Where the downloaded folder starts in `rel`.
    base: usize,
    /// The top of every entry's name: the folder's name and '/'.
    prefix: Vec<u8>,
    dotfiles: bool,
    format: Format,
    file: Option<Current>,
    /// This step's archive bytes, before framing.
    buf: Vec<u8>,
    input: Vec<u8>,
    name: Vec<u8>,
    #[cfg(feature = "compress")]
    deflate: Option<flate2::write::DeflateEncoder<Vec<u8>>>,
    /// Something was left out because of `MAX_DEPTH` (logged once).
    too_deep: bool,
    done: bool,
}

impl Archive {
    fn start(
        root: OwnedFd,
        dir: OwnedFd,
        rel: Vec<u8>,
        prefix: Vec<u8>,
        kind: Kind,
        dotfiles: bool,
    ) -> Result<Archive, Error> {
        if ARCHIVES.fetch_add(1, Ordering::Relaxed) >= MAX_ARCHIVES {
            ARCHIVES.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::Busy);
        }
        // From here on, dropping the archive gives the slot back.
        let st = fs::fstat(&dir);
        let mut a = Archive {
            root,
            stack: Vec::new(),
            base: rel.len(),
            rel,
            prefix,
            dotfiles,
            format: match kind {
                Kind::Zip => Format::Zip(zip::Writer::new()),
                Kind::Tar => Format::Tar,
            },
            file: None,
            buf: Vec::with_capacity(2 * STEP),
            input: vec![0; STEP],
            name: Vec::new(),
            #[cfg(feature = "compress")]
            deflate: None,
            too_deep: false,
            done: false,
        };
        let st = st?;
        a.stack.push(Level {
            dir: fs::DirReader::new(dir)?,
            rel_len: a.rel.len(),
        });
        a.name.clone_from(&a.prefix);
        let name = std::mem::take(&mut a.name);
        a.dir_entry(&name, &st);
        a.name = name;
        Ok(a)
    }

    /// The entry name of `leaf` in the current folder (a folder's with '/'), in `self.name`:
    /// the prefix, the path below the downloaded folder, the leaf, as UTF-8.
    fn entry_name(&mut self, leaf: &[u8], dir: bool) {
        self.name.clear();
        self.name.extend_from_slice(&self.prefix);
        let below = &self.rel[self.base..];
        match (std::str::from_utf8(below), std::str::from_utf8(leaf)) {
            (Ok(_), Ok(_)) => {
                self.name.extend_from_slice(below);
                self.name.extend_from_slice(leaf);
            }
            _ => {
                let mut whole = below.to_vec();
                whole.extend_from_slice(leaf);
                self.name
                    .extend_from_slice(String::from_utf8_lossy(&whole).as_bytes());
            }
        }
        if dir {
            self.name.push(b'/');
        }
    }

    fn dir_entry(&mut self, name: &[u8], st: &fs::Stat) {
        let mtime = st.st_mtime.max(0) as u64;
        // st_mode is u16 on macOS, u32 on Linux.
        #[allow(clippy::useless_conversion)]
        let mode = u32::from(st.st_mode) & 0o7777;
        match &mut self.format {
            Format::Zip(w) => {
                w.start(&mut self.buf, name, 0, mtime, mode, zip::STORED);
                w.finish(&mut self.buf, 0, 0, 0);
            }
            Format::Tar => tar::header(&mut self.buf, name, 0, mtime, mode),
        }
    }

    /// Read the next name of the folder being walked and write what it holds; or leave a
    /// folder that is done; or end the archive.
    fn next_name(&mut self) -> Result<(), Errno> {
        if let Format::Zip(w) = &self.format
            && w.full()
        {
            eprintln!(
                "barehttpd: archive of /{}: ended at {} entries or {} bytes of ZIP central \
                 directory; the rest is left out",
                String::from_utf8_lossy(&self.rel[..self.base]),
                zip::MAX_ENTRIES,
                zip::MAX_CENTRAL_BYTES
            );
            self.stack.clear();
        }
        let depth = self.stack.len();
        let Some(level) = self.stack.last_mut() else {
            self.end();
            return Ok(());
        };
        let (cname, is_dir) = match level.dir.next_name() {
            Some(Ok(e)) => e,
            // Done, or unreadable from here on: the folder ends here.
            None | Some(Err(_)) => {
                let rel_len = level.rel_len;
                self.stack.pop();
                self.rel.truncate(rel_len);
                return Ok(());
            }
        };
        let leaf = cname.to_bytes();
        if names::hidden_name(leaf, self.dotfiles) {
            return Ok(());
        }
        let found = open_entry(level.dir.fd()?, &cname, is_dir, depth > MAX_DEPTH);
        match found {
            Found::Skip => {}
            Found::Link => self.symlink(leaf),
            Found::File(file) => self.file_entry(leaf, file),
            Found::TooDeep => {
                if !self.too_deep {
                    self.too_deep = true;
                    eprintln!(
                        "barehttpd: archive of /{}: folders deeper than {MAX_DEPTH} levels are \
                         left out",
                        String::from_utf8_lossy(&self.rel[..self.base])
                    );
                }
            }
            Found::Dir(reader, st) => {
                self.entry_name(leaf, true);
                self.stack.push(Level {
                    dir: reader,
                    rel_len: self.rel.len(),
                });
                self.rel.extend_from_slice(leaf);
                self.rel.push(b'/');
                let name = std::mem::take(&mut self.name);
                self.dir_entry(&name, &st);
                self.name = name;
            }
        }
        Ok(())
    }

    /// A symlink: what GET of its path would open, if that is a file (resolved from the root,
    /// with `--follow-symlinks` only, and never out of the root).
    fn symlink(&mut self, leaf: &[u8]) {
        let mut path = self.rel.clone();
        path.extend_from_slice(leaf);
        let Ok(path) = CString::new(path) else {
            return;
        };
        if let Ok(file) = fs::open_beneath(&self.root, &path) {
            self.file_entry(leaf, file);
        }
    }

    /// Start the entry of `file` (named `leaf` in the current folder), if it is a regular file.
    fn file_entry(&mut self, leaf: &[u8], file: OwnedFd) {
        let Ok(st) = fs::fstat(&file) else {
            return;
        };
        if fs::FileType::from_raw_mode(st.st_mode) != fs::FileType::RegularFile {
            return;
        }
        self.entry_name(leaf, false);
        let size = st.st_size.max(0) as u64;
        let mtime = st.st_mtime.max(0) as u64;
        #[allow(clippy::useless_conversion)]
        let mode = u32::from(st.st_mode) & 0o7777;
        let method = method_for(leaf, size);
        match &mut self.format {
            Format::Zip(w) => w.start(&mut self.buf, &self.name, size, mtime, mode, method),
            Format::Tar => tar::header(&mut self.buf, &self.name, size, mtime, mode),
        }
        self.file = Some(Current {
            file,
            size,
            read: 0,
            method,
            crc: zip::Crc::new(),
            compressed: 0,
        });
    }

    /// Write the next piece of the current file, or end its entry.
    fn file_step(&mut self) -> Result<(), Errno> {
        let Some(cur) = self.file.as_mut() else {
            return Ok(());
        };
        if cur.read < cur.size {
            let want = ((cur.size - cur.read) as usize).min(STEP);
            let got = fs::pread(&cur.file, &mut self.input[..want], cur.read)?;
            match (&mut self.format, got) {
                // It shrank: TAR's header promised the size, so zeros; ZIP ends it here.
                (Format::Tar, 0) => {
                    self.buf.resize(self.buf.len() + want, 0);
                    cur.read += want as u64;
                }
                (Format::Zip(_), 0) => cur.size = cur.read,
                (Format::Tar, n) => {
                    self.buf.extend_from_slice(&self.input[..n]);
                    cur.read += n as u64;
                }
                (Format::Zip(w), n) => {
                    let data = &self.input[..n];
                    cur.crc.update(data);
                    cur.read += n as u64;
                    let before = self.buf.len();
                    if cur.method == zip::STORED {
                        self.buf.extend_from_slice(data);
                    } else {
                        #[cfg(feature = "compress")]
                        deflate(&mut self.deflate, data, &mut self.buf)?;
                    }
                    let made = self.buf.len() - before;
                    cur.compressed += made as u64;
                    w.data(made);
                }
            }
            if cur.read < cur.size {
                return Ok(());
            }
        }
        let Some(cur) = self.file.take() else {
            return Ok(());
        };
        match &mut self.format {
            Format::Tar => tar::pad(&mut self.buf, cur.size),
            Format::Zip(w) => {
                // What the deflate stream still held.
                #[cfg(feature = "compress")]
                let tail = if cur.method == zip::DEFLATED {
                    let before = self.buf.len();
                    finish_deflate(&mut self.deflate, &mut self.buf)?;
                    self.buf.len() - before
                } else {
                    0
                };
                #[cfg(not(feature = "compress"))]
                let tail = 0;
                w.data(tail);
                let compressed = cur.compressed + tail as u64;
                w.finish(&mut self.buf, cur.crc.finish(), compressed, cur.read);
            }
        }
        Ok(())
    }

    fn end(&mut self) {
        match &mut self.format {
            Format::Zip(w) => w.end(&mut self.buf),
            Format::Tar => tar::end(&mut self.buf),
        }
        self.done = true;
    }
}

/// What a name in a folder being walked turned out to be.
enum Found {
    Skip,
    Link,
    TooDeep,
    File(OwnedFd),
    Dir(fs::DirReader, fs::Stat),
}

/// Open the name `cname` of the folder `dir` (a directory if its entry says `is_dir`; a
/// directory deeper than allowed if `too_deep`), never through a symlink: a symlink is
/// `Found::Link`, for `Archive::symlink` to resolve from the root.
fn open_entry(
    dir: crate::sys::BorrowedFd,
    cname: &std::ffi::CStr,
    is_dir: Option<bool>,
    too_deep: bool,
) -> Found {
    let is_dir = match is_dir {
        Some(d) => d,
        None => {
            let Ok(st) = fs::lstat_in(dir, cname) else {
                return Found::Skip;
            };
            match fs::FileType::from_raw_mode(st.st_mode) {
                fs::FileType::Directory => true,
                fs::FileType::Symlink => return Found::Link,
                _ => false,
            }
        }
    };
    if !is_dir {
        return match fs::open_beneath(dir, cname) {
            Ok(f) => Found::File(f),
            Err(_) => Found::Skip,
        };
    }
    if too_deep {
        return Found::TooDeep;
    }
    let Ok(sub) = fs::open_dir_beneath_nofollow(dir, cname) else {
        return Found::Skip;
    };
    let Ok(st) = fs::fstat(&sub) else {
        return Found::Skip;
    };
    match fs::DirReader::new(sub) {
        Ok(reader) => Found::Dir(reader, st),
        Err(_) => Found::Skip,
    }
}

/// Deflate `data` into `out` with the archive's encoder (made on first use, reused).
#[cfg(feature = "compress")]
fn deflate(
    enc: &mut Option<flate2::write::DeflateEncoder<Vec<u8>>>,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Errno> {
    use std::io::Write;
    let e = enc.get_or_insert_with(|| {
        flate2::write::DeflateEncoder::new(
            Vec::with_capacity(STEP),
            flate2::Compression::new(DEFLATE_LEVEL),
        )
    });
    e.write_all(data).map_err(|_| Errno::IO)?;
    out.extend_from_slice(e.get_ref());
    e.get_mut().clear();
    Ok(())
}

/// End the current deflate stream into `out`; the encoder is ready for the next file.
#[cfg(feature = "compress")]
fn finish_deflate(
    enc: &mut Option<flate2::write::DeflateEncoder<Vec<u8>>>,
    out: &mut Vec<u8>,
) -> Result<(), Errno> {
    let Some(e) = enc.as_mut() else {
        // No data was given: an empty deflate stream (one final empty fixed block).
        out.extend_from_slice(&[0x03, 0x00]);
        return Ok(());
    };
    let spare = Vec::with_capacity(STEP);
    let tail = e.reset(spare).map_err(|_| Errno::IO)?;
    out.extend_from_slice(&tail);
    Ok(())
}

/// Stored for what is compressed already (by its extension) and for empty files; deflated
/// otherwise, where the build has deflate.
fn method_for(name: &[u8], size: u64) -> u16 {
    if cfg!(not(feature = "compress")) || size == 0 || compressed_already(name) {
        zip::STORED
    } else {
        zip::DEFLATED
    }
}

/// Images (but SVG, BMP and TIFF), audio (but WAV and MIDI), video, archives, WOFF fonts,
/// PDF and office documents (ZIP inside) gain nothing from deflate.
fn compressed_already(name: &[u8]) -> bool {
    let ext = match name.iter().rposition(|&b| b == b'.') {
        Some(i) => &name[i + 1..],
        None => return false,
    };
    let Some(ty) = std::str::from_utf8(ext)
        .ok()
        .and_then(super::mime::by_extension)
    else {
        return false;
    };
    match ty.split_once('/') {
        Some(("image", sub)) => !matches!(sub, "svg+xml" | "bmp" | "tiff"),
        Some(("audio", sub)) => !matches!(sub, "wav" | "midi"),
        Some(("video", _)) => true,
        Some(("font", sub)) => sub.starts_with("woff"),
        Some(("application", sub)) => {
            matches!(
                sub,
                "pdf"
                    | "zip"
                    | "gzip"
                    | "x-brotli"
                    | "zstd"
                    | "x-bzip2"
                    | "x-xz"
                    | "x-7z-compressed"
                    | "vnd.rar"
                    | "java-archive"
                    | "epub+zip"
                    | "vnd.android.package-archive"
                    | "vnd.debian.binary-package"
                    | "x-rpm"
                    | "x-apple-diskimage"
                    | "vnd.google-earth.kmz"
            ) || sub.starts_with("vnd.openxmlformats")
                || sub.starts_with("vnd.oasis")
        }
        _ => false,
    }
}

impl Drop for Archive {
    fn drop(&mut self) {
        ARCHIVES.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Produce for Archive {
    fn fill(&mut self, out: &mut Vec<u8>) -> Result<bool, Errno> {
        // `buf` may hold the top folder's entry, written when the archive started.
        let mut names = 0;
        while self.buf.len() < STEP && !self.done {
            if self.file.is_some() {
                self.file_step()?;
                continue;
            }
            if !self.buf.is_empty() && names >= NAMES_PER_STEP {
                break;
            }
            names += 1;
            self.next_name()?;
        }
        // The transport frames the pieces (chunks, or nothing for HTTP/1.0).
        out.extend_from_slice(&self.buf);
        self.buf.clear();
        Ok(!self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_the_format() {
        assert_eq!(wanted(Some(b"download=zip")), Some(Kind::Zip));
        assert_eq!(wanted(Some(b"a=1&download=tar")), Some(Kind::Tar));
        assert_eq!(wanted(Some(b"download=rar")), None);
        assert_eq!(wanted(None), None);
    }

    #[test]
    fn compressed_types_are_stored() {
        assert!(compressed_already(b"a.JPG"));
        assert!(compressed_already(b"b.woff2"));
        assert!(compressed_already(b"c.tar.gz"));
        assert!(!compressed_already(b"d.txt"));
        assert!(!compressed_already(b"e.svg"));
        assert!(!compressed_already(b"Makefile"));
    }
}
