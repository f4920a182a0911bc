//! A per-worker cache of small files, ready to send: their bytes, their validators and their
//! response header lines, for the plain file, `.br` and `.gz` representations.
//!
//! A hit costs no syscall at all: the request is answered from memory with one writev. An
//! entry is dropped as soon as anything changes in the directory that holds its file (an
//! inotify watch, read by the worker before the requests of the same event batch), and in any
//! case after `TTL_MS`, which bounds staleness where inotify cannot see (a symlink's target
//! in another directory, a lost event queue). Without inotify the TTL is shorter.
//! Size is bounded; when full, the cache starts over.
//!
//! Names that do not exist are remembered too, apart from the files (so that a scan of
//! random names cannot push the files out), and only while inotify watches every directory
//! on their way: a repeated 404 then costs no syscall either, and the name's creation (an
//! upload, a rename into place) drops the entry at once.
//!
//! Directory listings are kept too, rendered (JSON and the page in each of its orders apart,
//! `listing::Format`), by URL path: one body per form and version of a directory, shared by every answer that sends it (`Body::Shared`), so
//! clients that read slowly hold references to one copy, not a copy each. A listing is
//! answered only while the directory is the one it was rendered from and unchanged (its
//! device, inode, mtime and ctime, from the fstat each request makes anyway, see `DirStamp`:
//! this catches names added, removed or renamed even where no watch sees it), while no
//! change was notified in it (a file in it rewritten: sizes and dates), and within the TTL (a
//! symlink's target elsewhere). Their bytes are bounded apart from the files'; when full,
//! the listings no answer is sending are dropped (those being sent are in memory anyway, and
//! dropping them would only make the next request render a second copy).
//!
//! Copies of files compressed on the fly (feature `compress`) are kept apart, by URL path and
//! coding, each with the identity ETag of the version it was made from: one answers only
//! while the file is still that version, and a change in a directory on the way drops it as
//! it drops the file's entry. Within `TTL_MS` of the file last being seen to be that version
//! (by `static_file`'s fstat), a copy answers without a look at the file, as an entry does;
//! after that, the next use checks the version again, and the copy stays while it matches
//! (the copy is what costs to remake, not the check). Their bytes are bounded apart from the
//! files' (`MAX_PACKED_BYTES`).
//!
//! It keeps what `static_file` gives it, under the URL path `static_file` gives as the key: it
//! reads no file and decides nothing about what is worth caching (`static_file` leaves out
//! ranges, large files and the fallback).

use super::listing::Format;
#[cfg(feature = "compress")]
use crate::http::coding::Coding;
use crate::sys::fs::Stat;
use crate::sys::watch::{Change, Watcher};
use std::collections::HashMap;
use std::sync::Arc;

/// Longest an entry lives with change notification working. macOS directory watches do not
/// see a file rewritten in place (only names changing), so entries live shorter there.
#[cfg(not(target_os = "macos"))]
const TTL_MS: u64 = 5_000;
#[cfg(target_os = "macos")]
const TTL_MS: u64 = 1_000;
/// Longest an entry lives when inotify is unavailable.
const TTL_BLIND_MS: u64 = 1_000;
/// Entries per worker.
const MAX_ENTRIES: usize = 4096;
/// Body bytes per worker.
const MAX_BYTES: usize = 16 << 20;
/// Missing names remembered per worker, and the longest such name (longer ones are looked
/// up every time): at most 1024 x 256 bytes of keys.
const MAX_MISSING: usize = 1024;
const MISSING_KEY_MAX: usize = 256;
/// Bytes of listings per worker, as for files: about a dozen listings at their cap
/// (`listing::MAX_LISTING_ENTRIES`). Listings being sent are kept past it (module doc).
const MAX_LISTING_BYTES: usize = 16 << 20;
/// Bytes of compressed copies per worker: at text's usual ratio (1:4), the copies of 64 MiB
/// of files in one coding or of 21 MiB in all three. When full, the copies start over.
#[cfg(feature = "compress")]
const MAX_PACKED_BYTES: usize = 16 << 20;

/// One representation of a file, ready to send.
pub struct Rep {
    pub etag: Box<[u8]>,
    pub mtime: u64,
    pub last_modified: [u8; 29],
    /// Header lines of a 200 answer after Date/Server: Content-Type through Content-Length.
    pub headers: Box<[u8]>,
    pub body: Box<[u8]>,
}

pub struct Entry {
    born: u64,
    /// The file's Content-Type, when it is compressed on the fly for clients that ask (it has
    /// no precompressed sibling and its type is worth compressing).
    #[cfg(feature = "compress")]
    pub compress: Option<(&'static str, bool)>,
    /// Watches of every directory on the way to the file, root included: a change to any
    /// of them (a symlinked release directory switched, a directory renamed) drops the entry.
    wds: Vec<i32>,
    /// The plain file, then `br`, then `gzip`.
    pub reps: [Option<Rep>; 3],
}

/// A file compressed on the fly in one coding, ready to send (feature `compress`).
#[cfg(feature = "compress")]
pub struct Packed {
    pub etag: Box<[u8]>,
    pub mtime: u64,
    pub last_modified: [u8; 29],
    /// Header lines of a 200 answer after Date/Server, Content-Type through
    /// Content-Encoding: Content-Length comes with the body (`Reply::body_shared`).
    pub headers: Box<[u8]>,
    /// Shared with the answers sending it, so that a slow client holds no copy of its own.
    pub body: Arc<[u8]>,
}

/// A file's compressed copies, by coding (`Coding` as index), made from one version of it.
#[cfg(feature = "compress")]
struct PackedEntry {
    /// The identity ETag of that version.
    source: Box<[u8]>,
    /// When the file was last seen to be that version (ms).
    seen: u64,
    wds: Vec<i32>,
    copies: [Option<Packed>; 3],
}

/// A URL path that named nothing, and the watches of the directories on its way.
struct Missing {
    born: u64,
    wds: Vec<i32>,
}

/// A directory listing as rendered, shared by every answer that sends it.
pub struct Listing {
    pub body: Arc<[u8]>,
    /// Its weak validator, `W/"..."`.
    pub etag: Box<[u8]>,
}

/// Which version of a directory a listing shows: the directory (device and inode), and its
/// times, which change whenever a name in it is added, removed or renamed (the ctime also
/// when its owner or mode changes, and when the mtime is set back by hand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirStamp([i64; 6]);

impl DirStamp {
    // The fields are u64 or i64 by platform; only equality matters.
    #[allow(clippy::unnecessary_cast)]
    pub fn of(st: &Stat) -> DirStamp {
        DirStamp([
            st.st_dev as i64,
            st.st_ino as i64,
            st.st_mtime as i64,
            st.st_mtime_nsec as i64,
            st.st_ctime as i64,
            st.st_ctime_nsec as i64,
        ])
    }
}

struct ListingEntry {
    born: u64,
    /// The watch of the directory itself, if one was set before it was read.
    wd: Option<i32>,
    stamp: DirStamp,
    listing: Listing,
}

impl Entry {
    /// The file has a precompressed sibling, or is compressed on the fly: answers vary by
    /// Accept-Encoding.
    pub fn vary(&self) -> bool {
        #[cfg(feature = "compress")]
        if self.compress.is_some() {
            return true;
        }
        self.reps[1].is_some() || self.reps[2].is_some()
    }
}

pub struct FileCache {
    map: HashMap<Box<[u8]>, Entry>,
    missing: HashMap<Box<[u8]>, Missing>,
    bytes: usize,
    /// Listings by URL path, one map per form (`Format::index`: JSON, then the page in each
    /// of its orders).
    listings: [HashMap<Box<[u8]>, ListingEntry>; Format::COUNT],
    listing_bytes: usize,
    #[cfg(feature = "compress")]
    packed: HashMap<Box<[u8]>, PackedEntry>,
    #[cfg(feature = "compress")]
    packed_bytes: usize,
    watcher: Option<Watcher>,
    /// Watched directories (URL path, ending in '/') and their watch descriptors.
    dirs: HashMap<Box<[u8]>, i32>,
    root: std::path::PathBuf,
}

impl FileCache {
    pub fn new(root: &std::path::Path) -> FileCache {
        FileCache {
            map: HashMap::new(),
            missing: HashMap::new(),
            bytes: 0,
            listings: std::array::from_fn(|_| HashMap::new()),
            listing_bytes: 0,
            #[cfg(feature = "compress")]
            packed: HashMap::new(),
            #[cfg(feature = "compress")]
            packed_bytes: 0,
            watcher: Watcher::new().ok(),
            dirs: HashMap::new(),
            root: root.to_path_buf(),
        }
    }

    /// The inotify descriptor to poll, if change notification works here.
    pub fn watch_fd(&self) -> Option<&crate::sys::OwnedFd> {
        self.watcher.as_ref().map(Watcher::fd)
    }

    /// Apply pending change notifications.
    pub fn on_changes(&mut self) {
        let Some(w) = &self.watcher else { return };
        let mut changed: Vec<i32> = Vec::new();
        let mut overflow = false;
        w.drain(|c| match c {
            Change::Dir(wd) => {
                if !changed.contains(&wd) {
                    changed.push(wd);
                }
            }
            Change::Overflow => overflow = true,
        });
        if overflow {
            self.clear();
            for l in &mut self.listings {
                l.clear();
            }
            self.listing_bytes = 0;
            #[cfg(feature = "compress")]
            self.clear_packed();
            return;
        }
        if !changed.is_empty() {
            // Watches are set again, by path, when files are next cached: a path may now lead
            // to another directory (a symlink or a directory replaced), and asking for an
            // existing watch again just returns it.
            self.dirs.clear();
            let bytes = &mut self.bytes;
            self.map.retain(|_, e| {
                let keep = !e.wds.iter().any(|wd| changed.contains(wd));
                if !keep {
                    *bytes -= size_of(e);
                }
                keep
            });
            self.missing
                .retain(|_, m| !m.wds.iter().any(|wd| changed.contains(wd)));
            #[cfg(feature = "compress")]
            {
                let bytes = &mut self.packed_bytes;
                self.packed.retain(|k, p| {
                    let keep = !p.wds.iter().any(|wd| changed.contains(wd));
                    if !keep {
                        *bytes -= packed_size(k, p);
                    }
                    keep
                });
            }
            let bytes = &mut self.listing_bytes;
            for l in &mut self.listings {
                l.retain(|k, e| {
                    let keep = e.wd.is_none_or(|wd| !changed.contains(&wd));
                    if !keep {
                        *bytes -= listing_size(k, e);
                    }
                    keep
                });
            }
        }
    }

    /// Apply pending change notifications now, outside the event loop's own pass, if an
    /// answer could come from the cache: for a request read at once after accept, whose
    /// client may have changed a file just before connecting.
    pub fn catch_up(&mut self) {
        let listings = self.listings.iter().any(|l| !l.is_empty());
        #[cfg(feature = "compress")]
        let listings = listings || !self.packed.is_empty();
        if !self.map.is_empty() || !self.missing.is_empty() || listings {
            self.on_changes();
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.missing.clear();
        self.bytes = 0;
    }

    /// Whether `key` is known, freshly, to name nothing.
    pub fn is_missing(&mut self, key: &[u8], now: u64) -> bool {
        let Some(m) = self.missing.get(key) else {
            return false;
        };
        if now.saturating_sub(m.born) < TTL_MS {
            return true;
        }
        self.missing.remove(key);
        false
    }

    /// Remember that `key` names nothing. Only when change notification works, and only
    /// when every directory on the way was watched already before the failed lookup: a
    /// watch set now could miss the name being created in the meantime.
    pub fn insert_missing(&mut self, key: &[u8], now: u64) {
        if self.watcher.is_none() || key.len() > MISSING_KEY_MAX {
            return;
        }
        let dir = match key.iter().rposition(|&b| b == b'/') {
            Some(i) => &key[..=i],
            None => return,
        };
        let Some((wds, fresh)) = self.watches(dir) else {
            return;
        };
        if fresh {
            return;
        }
        if self.missing.len() >= MAX_MISSING {
            self.missing.clear();
        }
        self.missing.insert(key.into(), Missing { born: now, wds });
    }

    /// The watches of every directory from the root down to `dir` (a URL path ending in
    /// '/'), set where missing, and whether any had to be set now. `None` if a directory
    /// cannot be watched (it does not exist, or inotify is out of watches).
    fn watches(&mut self, dir: &[u8]) -> Option<(Vec<i32>, bool)> {
        self.watcher.as_ref()?;
        let mut wds = Vec::new();
        let mut fresh = false;
        // "/", "/a/", "/a/b/" ... down to the directory itself.
        let ends = dir
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .map(|(i, _)| i + 1);
        for end in ends {
            let (wd, new) = self.watch(&dir[..end])?;
            fresh |= new;
            wds.push(wd);
        }
        Some((wds, fresh))
    }

    /// The watch of the directory `d` (a URL path ending in '/'), set if missing, and
    /// whether it had to be set now.
    fn watch(&mut self, d: &[u8]) -> Option<(i32, bool)> {
        if let Some(&wd) = self.dirs.get(d) {
            return Some((wd, false));
        }
        let w = self.watcher.as_ref()?;
        let rel = std::str::from_utf8(&d[1..]).unwrap_or("");
        let wd = w.watch_dir(&self.root.join(rel)).ok()?;
        self.dirs.insert(d.into(), wd);
        Some((wd, true))
    }

    /// The listing of the directory at the URL path `key` (ending in '/') in `format`,
    /// if one was rendered from the directory `stamp` describes, as it is now.
    pub fn listing(
        &mut self,
        key: &[u8],
        format: Format,
        stamp: DirStamp,
        now: u64,
    ) -> Option<&Listing> {
        let map = &mut self.listings[format.index()];
        let e = map.get(key)?;
        let ttl = if e.wd.is_some() { TTL_MS } else { TTL_BLIND_MS };
        if e.stamp != stamp || now.saturating_sub(e.born) >= ttl {
            if let Some((k, e)) = map.remove_entry(key) {
                self.listing_bytes -= listing_size(&k, &e);
            }
            return None;
        }
        self.listings[format.index()].get(key).map(|e| &e.listing)
    }

    /// Watch the directory at the URL path `key` before it is read for a listing, so that
    /// a change while it is read is seen too. `None` without a watch: the listing then
    /// lives no longer than without change notification.
    pub fn watch_listing(&mut self, key: &[u8]) -> Option<i32> {
        self.watch(key).map(|(wd, _)| wd)
    }

    /// Keep `listing` of the directory at the URL path `key`, rendered from the directory
    /// `stamp` describes with `wd` (from `watch_listing`) watching it, and give it back.
    pub fn insert_listing(
        &mut self,
        key: &[u8],
        format: Format,
        stamp: DirStamp,
        wd: Option<i32>,
        listing: Listing,
        now: u64,
    ) -> &Listing {
        let e = ListingEntry {
            born: now,
            wd,
            stamp,
            listing,
        };
        let size = listing_size(key, &e);
        if self.listing_bytes + size > MAX_LISTING_BYTES {
            // Only what no answer is sending is freed by dropping it.
            let bytes = &mut self.listing_bytes;
            for l in &mut self.listings {
                l.retain(|k, e| {
                    let sending = Arc::strong_count(&e.listing.body) > 1;
                    if !sending {
                        *bytes -= listing_size(k, e);
                    }
                    sending
                });
            }
        }
        self.listing_bytes += size;
        let map = &mut self.listings[format.index()];
        match map.entry(key.into()) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                self.listing_bytes -= listing_size(key, o.get());
                o.insert(e);
                &o.into_mut().listing
            }
            std::collections::hash_map::Entry::Vacant(v) => &v.insert(e).listing,
        }
    }

    /// The fresh entry for a URL path, if there is one.
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&Entry> {
        let ttl = if self.watcher.is_some() {
            TTL_MS
        } else {
            TTL_BLIND_MS
        };
        let born = self.map.get(key)?.born;
        if now.saturating_sub(born) >= ttl {
            if let Some(e) = self.map.remove(key) {
                self.bytes -= size_of(&e);
            }
            return None;
        }
        self.map.get(key)
    }

    /// The copy of the file at `key` in the coding `c`, if one was made from the version whose
    /// identity ETag is `source`, which the file was seen to be at `now`.
    #[cfg(feature = "compress")]
    pub fn packed(&mut self, key: &[u8], source: &[u8], c: Coding, now: u64) -> Option<&Packed> {
        let p = self.packed.get_mut(key)?;
        if *p.source != *source {
            return None;
        }
        p.seen = now;
        p.copies[c as usize].as_ref()
    }

    /// Whether the file at `key` has copies that may answer without a look at it: it was seen
    /// to be their version within the TTL.
    #[cfg(feature = "compress")]
    pub fn has_fresh_packed(&self, key: &[u8], now: u64) -> bool {
        self.fresh_packed_entry(key, now).is_some()
    }

    /// The copy of the file at `key` in the coding `c`, if it may answer without a look at
    /// the file.
    #[cfg(feature = "compress")]
    pub fn fresh_packed(&self, key: &[u8], c: Coding, now: u64) -> Option<&Packed> {
        self.fresh_packed_entry(key, now)?.copies[c as usize].as_ref()
    }

    #[cfg(feature = "compress")]
    fn fresh_packed_entry(&self, key: &[u8], now: u64) -> Option<&PackedEntry> {
        let p = self.packed.get(key)?;
        // As for entries: the TTL with change notification only if every directory on the
        // way is watched.
        let ttl = if self.watcher.is_some() && !p.wds.is_empty() {
            TTL_MS
        } else {
            TTL_BLIND_MS
        };
        (now.saturating_sub(p.seen) < ttl).then_some(p)
    }

    /// Keep `copy`, the file at `key` (a URL path, or for the `--fallback` file its name)
    /// in the coding `c`, made from the version whose identity ETag is `source`, and give it
    /// back. Copies of an older version go.
    #[cfg(feature = "compress")]
    pub fn insert_packed(
        &mut self,
        key: &[u8],
        source: &[u8],
        c: Coding,
        copy: Packed,
        now: u64,
    ) -> Option<&Packed> {
        let size = copy_size(&copy);
        if self.packed_bytes + size > MAX_PACKED_BYTES {
            self.clear_packed();
        }
        if let Some(old) = self.packed.get(key)
            && *old.source != *source
            && let Some((k, old)) = self.packed.remove_entry(key)
        {
            self.packed_bytes -= packed_size(&k, &old);
        }
        if !self.packed.contains_key(key) {
            // Without watches the copy is still right: every use checks the version.
            let dir = key
                .iter()
                .rposition(|&b| b == b'/')
                .filter(|_| key.starts_with(b"/"))
                .map(|i| &key[..=i]);
            let wds = dir
                .and_then(|d| self.watches(d))
                .map(|(wds, _)| wds)
                .unwrap_or_default();
            let e = PackedEntry {
                source: source.into(),
                seen: now,
                wds,
                copies: [None, None, None],
            };
            self.packed_bytes += packed_size(key, &e);
            self.packed.insert(key.into(), e);
        }
        let e = self.packed.get_mut(key)?;
        e.seen = now;
        let slot = &mut e.copies[c as usize];
        if let Some(old) = slot.take() {
            self.packed_bytes -= copy_size(&old);
        }
        self.packed_bytes += size;
        Some(slot.insert(copy))
    }

    #[cfg(feature = "compress")]
    fn clear_packed(&mut self) {
        self.packed.clear();
        self.packed_bytes = 0;
    }

    /// Remember `reps` for a URL path (`key`, starting with '/'), and give the entry back;
    /// `compress`: the file's type, if it is compressed on the fly. Nothing is cached if the
    /// directories on the way cannot be watched (when inotify works).
    pub fn insert(
        &mut self,
        key: &[u8],
        reps: [Option<Rep>; 3],
        #[cfg(feature = "compress")] compress: Option<(&'static str, bool)>,
        now: u64,
    ) -> Option<&Entry> {
        let mut wds = Vec::new();
        if self.watcher.is_some() {
            let dir = &key[..=key.iter().rposition(|&b| b == b'/')?];
            wds = self.watches(dir)?.0;
        }
        let e = Entry {
            born: now,
            #[cfg(feature = "compress")]
            compress,
            wds,
            reps,
        };
        let size = size_of(&e);
        if self.map.len() >= MAX_ENTRIES || self.bytes + size > MAX_BYTES {
            self.clear();
        }
        self.bytes += size;
        match self.map.entry(key.into()) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                self.bytes -= size_of(o.get());
                o.insert(e);
                Some(o.into_mut())
            }
            std::collections::hash_map::Entry::Vacant(v) => Some(v.insert(e)),
        }
    }
}

/// What a listing entry costs: its body, its key and the rest, roughly.
fn listing_size(key: &[u8], e: &ListingEntry) -> usize {
    e.listing.body.len() + e.listing.etag.len() + key.len() + 128
}

/// What a file's compressed copies cost: their bodies, heads and tags, its key and the rest.
#[cfg(feature = "compress")]
fn packed_size(key: &[u8], e: &PackedEntry) -> usize {
    let copies: usize = e.copies.iter().flatten().map(copy_size).sum();
    copies + key.len() + e.source.len() + 64
}

/// What one compressed copy costs: its body, head and tag, and the rest, roughly.
#[cfg(feature = "compress")]
fn copy_size(p: &Packed) -> usize {
    p.body.len() + p.headers.len() + p.etag.len() + 64
}

fn size_of(e: &Entry) -> usize {
    e.reps
        .iter()
        .flatten()
        .map(|r| r.body.len() + r.headers.len() + 64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::listing::Sort;

    const JSON: Format = Format::Json;
    const HTML: Format = Format::Html(Sort {
        key: crate::handler::listing::SortKey::Name,
        desc: false,
    });

    fn listing(len: usize) -> Listing {
        Listing {
            body: vec![b'x'; len].into(),
            etag: b"W/\"1\""[..].into(),
        }
    }

    fn cache() -> FileCache {
        FileCache::new(&std::env::temp_dir())
    }

    const A: DirStamp = DirStamp([1, 2, 3, 4, 5, 6]);

    #[cfg(feature = "compress")]
    #[test]
    fn a_compressed_copy_answers_only_for_its_version_within_its_budget() {
        let mut c = cache();
        let copy = |n: usize| Packed {
            etag: b"\"1-x\""[..].into(),
            mtime: 0,
            last_modified: [b' '; 29],
            headers: Box::new([]),
            body: vec![0u8; n].into(),
        };
        let counted = |c: &FileCache| {
            let sum: usize = c.packed.iter().map(|(k, e)| packed_size(k, e)).sum();
            assert_eq!(c.packed_bytes, sum);
        };
        let (v1, v2) = (&b"\"1\""[..], &b"\"2\""[..]);
        c.insert_packed(b"/a.js", v1, Coding::Gzip, copy(10), 0);
        c.insert_packed(b"/a.js", v1, Coding::Br, copy(20), 0);
        assert!(c.packed(b"/a.js", v1, Coding::Gzip, 1).is_some());
        assert!(c.packed(b"/a.js", v1, Coding::Br, 1).is_some());
        assert!(c.packed(b"/a.js", v1, Coding::Zstd, 1).is_none());
        assert!(
            c.packed(b"/a.js", v2, Coding::Gzip, 1).is_none(),
            "another version"
        );
        assert!(c.packed(b"/b.js", v1, Coding::Gzip, 1).is_none());
        counted(&c);
        // Seen at 1: it answers without a look at the file within the TTL after that (the
        // shorter one where the directory is not watched).
        assert!(
            c.fresh_packed(b"/a.js", Coding::Gzip, 1 + TTL_BLIND_MS - 1)
                .is_some()
        );
        assert!(c.fresh_packed(b"/a.js", Coding::Gzip, 1 + TTL_MS).is_none());
        assert!(c.fresh_packed(b"/a.js", Coding::Zstd, 1).is_none());
        assert!(!c.has_fresh_packed(b"/a.js", 1 + TTL_MS));
        // A copy of a new version drops the old version's.
        c.insert_packed(b"/a.js", v2, Coding::Gzip, copy(30), 0);
        assert!(c.packed(b"/a.js", v2, Coding::Gzip, 1).is_some());
        assert!(c.packed(b"/a.js", v2, Coding::Br, 1).is_none());
        assert!(c.packed(b"/a.js", v1, Coding::Br, 1).is_none());
        counted(&c);
        // Past the budget, the copies start over.
        c.insert_packed(
            b"/big.js",
            v1,
            Coding::Gzip,
            copy(MAX_PACKED_BYTES - 100),
            0,
        );
        assert!(c.packed(b"/a.js", v2, Coding::Gzip, 1).is_none());
        assert!(c.packed(b"/big.js", v1, Coding::Gzip, 1).is_some());
        counted(&c);
    }

    #[test]
    fn a_listing_answers_only_for_the_directory_version_it_was_rendered_from() {
        let mut c = cache();
        c.insert_listing(b"/d/", HTML, A, None, listing(10), 0);
        assert!(c.listing(b"/d/", HTML, A, 1).is_some());
        assert!(c.listing(b"/d/", JSON, A, 1).is_none(), "HTML is not JSON");
        let by_size = Format::Html(Sort {
            key: crate::handler::listing::SortKey::Size,
            desc: true,
        });
        assert!(
            c.listing(b"/d/", by_size, A, 1).is_none(),
            "one order is not another"
        );
        assert!(c.listing(b"/e/", HTML, A, 1).is_none());
        // A name added (mtime), the directory replaced (inode), chmod (ctime).
        for changed in [
            DirStamp([1, 2, 9, 4, 5, 6]),
            DirStamp([1, 9, 3, 4, 5, 6]),
            DirStamp([1, 2, 3, 4, 5, 9]),
        ] {
            c.insert_listing(b"/d/", HTML, A, None, listing(10), 0);
            assert!(c.listing(b"/d/", HTML, changed, 1).is_none());
            assert!(c.listing(b"/d/", HTML, A, 1).is_none(), "not dropped");
        }
        assert_eq!(c.listing_bytes, 0);
        // Without a watch, no longer than without change notification.
        c.insert_listing(b"/d/", HTML, A, None, listing(10), 0);
        assert!(c.listing(b"/d/", HTML, A, TTL_BLIND_MS - 1).is_some());
        assert!(c.listing(b"/d/", HTML, A, TTL_BLIND_MS).is_none());
        c.insert_listing(b"/d/", HTML, A, Some(1), listing(10), 0);
        assert!(c.listing(b"/d/", HTML, A, TTL_BLIND_MS).is_some());
        assert!(c.listing(b"/d/", HTML, A, TTL_MS).is_none());
    }

    #[test]
    fn past_its_budget_the_cache_drops_the_listings_no_answer_is_sending() {
        let mut c = cache();
        let quarter = MAX_LISTING_BYTES / 4;
        let sending = Arc::clone(
            &c.insert_listing(b"/1/", HTML, A, None, listing(quarter), 0)
                .body,
        );
        c.insert_listing(b"/2/", HTML, A, None, listing(quarter), 0);
        c.insert_listing(b"/3/", JSON, A, None, listing(quarter), 0);
        assert!(c.listing(b"/2/", HTML, A, 1).is_some());
        c.insert_listing(b"/4/", HTML, A, None, listing(quarter), 0);
        // The one being sent stays (and is shared, not rendered again); the others went.
        let kept = c.listing(b"/1/", HTML, A, 1).map(|l| Arc::clone(&l.body));
        assert!(kept.is_some_and(|k| Arc::ptr_eq(&k, &sending)));
        assert!(c.listing(b"/2/", HTML, A, 1).is_none());
        assert!(c.listing(b"/3/", JSON, A, 1).is_none());
        assert!(c.listing(b"/4/", HTML, A, 1).is_some());
        let sizes: usize = c
            .listings
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, e)| listing_size(k, e))
            .sum();
        assert_eq!(c.listing_bytes, sizes);
        // Once sent, it goes too when room is needed.
        drop(sending);
        c.insert_listing(b"/5/", HTML, A, None, listing(MAX_LISTING_BYTES), 0);
        assert!(c.listing(b"/1/", HTML, A, 1).is_none());
        assert!(
            c.listing(b"/5/", HTML, A, 1).is_some(),
            "kept alone, however large"
        );
    }
}
