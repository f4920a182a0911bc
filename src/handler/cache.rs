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
//! It keeps what `static_file` gives it, under the URL path `static_file` gives as the key: it
//! reads no file and decides nothing about what is worth caching (`static_file` leaves out
//! ranges, large files and the fallback).

use crate::sys::watch::{Change, Watcher};
use std::collections::HashMap;

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
    /// Watches of every directory on the way to the file, root included: a change to any
    /// of them (a symlinked release directory switched, a directory renamed) drops the entry.
    wds: Vec<i32>,
    /// The plain file, then `br`, then `gzip`.
    pub reps: [Option<Rep>; 3],
}

/// A URL path that named nothing, and the watches of the directories on its way.
struct Missing {
    born: u64,
    wds: Vec<i32>,
}

impl Entry {
    /// The file has a precompressed sibling: answers vary by Accept-Encoding.
    pub fn vary(&self) -> bool {
        self.reps[1].is_some() || self.reps[2].is_some()
    }
}

pub struct FileCache {
    map: HashMap<Box<[u8]>, Entry>,
    missing: HashMap<Box<[u8]>, Missing>,
    bytes: usize,
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
        }
    }

    /// Apply pending change notifications now, outside the event loop's own pass, if an
    /// answer could come from the cache: for a request read at once after accept, whose
    /// client may have changed a file just before connecting.
    pub fn catch_up(&mut self) {
        if !self.map.is_empty() || !self.missing.is_empty() {
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
        let w = self.watcher.as_ref()?;
        let mut wds = Vec::new();
        let mut fresh = false;
        // "/", "/a/", "/a/b/" ... down to the directory itself.
        let ends = dir
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .map(|(i, _)| i + 1);
        for end in ends {
            let d = &dir[..end];
            let wd = match self.dirs.get(d) {
                Some(&wd) => wd,
                None => {
                    let rel = std::str::from_utf8(&d[1..]).unwrap_or("");
                    let wd = w.watch_dir(&self.root.join(rel)).ok()?;
                    self.dirs.insert(d.into(), wd);
                    fresh = true;
                    wd
                }
            };
            wds.push(wd);
        }
        Some((wds, fresh))
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

    /// Remember `reps` for a URL path (`key`, starting with '/'), and give the entry back.
    /// Nothing is cached if the directories on the way cannot be watched (when inotify
    /// works).
    pub fn insert(&mut self, key: &[u8], reps: [Option<Rep>; 3], now: u64) -> Option<&Entry> {
        let mut wds = Vec::new();
        if self.watcher.is_some() {
            let dir = &key[..=key.iter().rposition(|&b| b == b'/')?];
            wds = self.watches(dir)?.0;
        }
        let e = Entry {
            born: now,
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

fn size_of(e: &Entry) -> usize {
    e.reps
        .iter()
        .flatten()
        .map(|r| r.body.len() + r.headers.len() + 64)
        .sum()
}
