//! A per-worker cache of small files, ready to send: their bytes, their validators and their
//! response header lines, for the plain file, `.br` and `.gz` representations.
//!
//! A hit costs no syscall at all: the request is answered from memory with one writev. An
//! entry is dropped as soon as anything changes in the directory that holds its file (an
//! inotify watch, read by the worker before the requests of the same event batch), and in any
//! case after `TTL_MS`, which bounds staleness where inotify cannot see (a symlink's target
//! in another directory, a lost event queue). Without inotify the TTL is shorter.
//! Size is bounded; when full, the cache starts over.

use crate::sys::watch::{Change, Watcher};
use std::collections::HashMap;

/// Longest an entry lives with change notification working.
const TTL_MS: u64 = 5_000;
/// Longest an entry lives when inotify is unavailable.
const TTL_BLIND_MS: u64 = 1_000;
/// Entries per worker.
const MAX_ENTRIES: usize = 4096;
/// Body bytes per worker.
const MAX_BYTES: usize = 16 << 20;

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
    wd: i32,
    /// The plain file, then `br`, then `gzip`.
    pub reps: [Option<Rep>; 3],
    /// The file has a precompressed sibling (answers vary by Accept-Encoding).
    pub vary: bool,
}

pub struct FileCache {
    map: HashMap<Box<[u8]>, Entry>,
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
            // The watch is set again when the directory is next cached (a removed
            // directory's watch is gone; adding an existing one is harmless).
            self.dirs.retain(|_, wd| !changed.contains(wd));
            let bytes = &mut self.bytes;
            self.map.retain(|_, e| {
                let keep = !changed.contains(&e.wd);
                if !keep {
                    *bytes -= size_of(e);
                }
                keep
            });
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    /// The fresh entry for a URL path, if there is one.
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&Entry> {
        let ttl = if self.watcher.is_some() {
            TTL_MS
        } else {
            TTL_BLIND_MS
        };
        let fresh = self
            .map
            .get(key)
            .is_some_and(|e| now.saturating_sub(e.born) < ttl);
        if !fresh {
            if let Some(e) = self.map.remove(key) {
                self.bytes -= size_of(&e);
            }
            return None;
        }
        self.map.get(key)
    }

    /// Remember `reps` for a URL path whose file lives in directory `dir` (URL path ending
    /// in '/'). Nothing is cached if the directory cannot be watched (when inotify works).
    pub fn insert(&mut self, key: &[u8], dir: &[u8], reps: [Option<Rep>; 3], vary: bool, now: u64) {
        let wd = match (&self.watcher, self.dirs.get(dir)) {
            (None, _) => -1,
            (Some(_), Some(&wd)) => wd,
            (Some(w), None) => {
                let path = self.root.join(std::ffi::OsStr::new(
                    std::str::from_utf8(&dir[1..]).unwrap_or(""),
                ));
                match w.watch_dir(&path) {
                    Ok(wd) => {
                        self.dirs.insert(dir.into(), wd);
                        wd
                    }
                    Err(_) => return,
                }
            }
        };
        let e = Entry {
            born: now,
            wd,
            reps,
            vary,
        };
        let size = size_of(&e);
        if self.map.len() >= MAX_ENTRIES || self.bytes + size > MAX_BYTES {
            self.clear();
        }
        self.bytes += size;
        if let Some(old) = self.map.insert(key.into(), e) {
            self.bytes -= size_of(&old);
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
