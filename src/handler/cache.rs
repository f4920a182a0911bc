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
        let mut wds = Vec::new();
        if let Some(w) = &self.watcher {
            // "/", "/a/", "/a/b/" ... down to the file's directory.
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
                        match w.watch_dir(&self.root.join(rel)) {
                            Ok(wd) => {
                                self.dirs.insert(d.into(), wd);
                                wd
                            }
                            Err(_) => return,
                        }
                    }
                };
                wds.push(wd);
            }
        }
        let e = Entry {
            born: now,
            wds,
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
